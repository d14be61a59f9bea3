"""The package's layers import only downward, and no module uses another's private names.

The studies beside the package use it as a user would: the package never
imports them, and they import only its public names.
"""

import ast
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "moelogit"
STUDIES = REPO / "studies"

# Lower numbers are lower layers: the model's mathematics and small helpers,
# the fit engine, the estimator, selection, then applications.
LAYERS = {
    "model": 0, "params": 0, "metrics": 0, "acceleration": 0, "_progress": 0, "_tabular": 0,
    "prior": 0, "_entry_points": 0,
    "datasets._simulate": 0, "datasets": 0,
    "solver": 1, "mm": 1, "newton": 1, "init": 1, "reduction": 1, "quasi_newton": 1,
    "engine": 1, "inference": 1, "chunked": 1,
    "estimator": 2, "design": 2, "dask_data": 2,
    "selection": 3, "selection._dendrogram": 3, "selection._select": 3, "bootstrap": 3,
    "plotting": 4, "io": 4, "cluster": 4, "report": 4, "ppi": 4, "cli": 4,
    "datasets.ppi": 4, "features": 4, "features.descriptors": 4, "features.pairs": 4,
    "features.unirep": 4,
}  # fmt: skip


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports():
    """``(importer, imported module, names)`` for every relative import, lazy ones included."""
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module_name(path)
        package = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.level > 0):
                continue
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                yield importer, ".".join([*base, node.module]), [a.name for a in node.names]
                continue
            for alias in node.names:  # "from . import model": a module, or a name of base
                module = ".".join([*base, alias.name])
                yield (importer, module, []) if module in LAYERS else (
                    importer, ".".join(base), [alias.name]
                )


def _layer(name: str) -> int:
    return LAYERS[name]


def test_every_module_has_a_layer():
    modules = {_module_name(path) for path in PACKAGE.rglob("*.py")} - {""}
    assert modules == set(LAYERS)


def test_no_private_name_is_imported_from_another_module():
    private = [
        f"{importer} imports {name} from {target}"
        for importer, target, names in _imports()
        for name in names
        if name.startswith("_") and name != "__version__"
    ]
    assert not private


def _upward():
    return {
        (importer, target)
        for importer, target, _ in _imports()
        if importer and target and _layer(target) > _layer(importer)
    }


def test_no_upward_import():
    # MoEClassifier(n_experts="dsc") reaches selection through the function
    # selection provides (moelogit._entry_points), not an import.
    assert not _upward()


def test_no_import_circle_between_modules():
    graph: dict[str, set[str]] = {}
    for importer, target, _ in _imports():
        # The root package (the public facade) and a subpackage's __init__
        # re-exporting its own modules make no circle.
        if importer and target and not target.startswith(importer + "."):
            graph.setdefault(importer, set()).add(target)

    def reaches(start, goal, seen):
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert not [module for module in graph if reaches(module, module, {module})]


def _absolute_imports(folder: Path):
    """``(file, imported module, names)`` for every absolute import under ``folder``."""
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name, []
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                yield path, node.module, [alias.name for alias in node.names]


def test_the_package_holds_no_studies_and_never_imports_them():
    assert not (PACKAGE / "experiments").exists()
    assert not (PACKAGE / "losses.py").exists()  # scores simulations only: studies.rates.losses
    importing = [
        f"{path.relative_to(REPO)} imports {module}"
        for path, module, _ in _absolute_imports(PACKAGE)
        if module.split(".")[0] in ("studies", "benchmarks")
    ]
    assert not importing


def test_studies_use_only_moelogits_public_names():
    private = [
        f"{path.relative_to(REPO)} imports {module} {names}"
        for path, module, names in _absolute_imports(STUDIES)
        if module.split(".")[0] == "moelogit"
        and (
            any(part.startswith("_") for part in module.split("."))
            or any(name.startswith("_") for name in names)
        )
    ]
    assert not private
    assert any(module.startswith("moelogit") for _, module, _ in _absolute_imports(STUDIES))


def test_no_study_module_imports_another_ones_private_names():
    private = [
        f"{path.relative_to(REPO)} imports {name} from {'.' * node.level}{node.module or ''}"
        for path in sorted(STUDIES.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom)
        and (node.level > 0 or (node.module or "").split(".")[0] == "studies")
        for name in (alias.name for alias in node.names)
        if name.startswith("_")
    ]
    assert not private


def test_selection_by_method_works_importing_the_estimator_module_alone():
    # The entry point is registered by the package's __init__, which Python runs first.
    import subprocess
    import sys

    code = (
        "from moelogit.estimator import MoEClassifier\n"
        "from moelogit.datasets import make_moe_classification\n"
        "X, y, _ = make_moe_classification(300, 2, 2, 2, random_state=0)\n"
        "model = MoEClassifier(n_experts='bic', max_experts=2, n_init=2, random_state=0)\n"
        "print(model.fit(X, y).selection_.method)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "bic"
