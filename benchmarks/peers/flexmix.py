"""R's flexmix, the established EM fitter of gated mixtures, driven through ``Rscript``.

The model: multinomial-logit experts ``FLXMRmultinom()`` with a
multinomial-logit gate ``concomitant = FLXPmultinom(~ x)``; every component
kept (``minprior = 0``). Each M-step fits weighted multinomial logits with
``nnet::multinom`` (BFGS), so flexmix is an EM with approximate M-steps.
Install with ``apt-get install r-base-core r-cran-flexmix``; where R or
flexmix is missing, :func:`flexmix_available` says why and the benchmark
skips it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

SCRIPT = Path(__file__).with_name("flexmix_fit.R")
REFIT_SCRIPT = Path(__file__).with_name("flexmix_refit.R")


def flexmix_available() -> tuple[bool, str]:
    """Whether ``Rscript`` and the flexmix package can be used, and why not."""
    if shutil.which("Rscript") is None:
        return False, "Rscript not found (apt-get install r-base-core r-cran-flexmix)"
    probe = subprocess.run(
        ["Rscript", "-e", "suppressPackageStartupMessages(library(flexmix))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return False, "the R package flexmix is not installed (apt-get install r-cran-flexmix)"
    return True, ""


def fit_flexmix(X, y, n_experts, *, start_resp=None, tol=1e-8, max_iter=10_000) -> dict:
    """Fit with flexmix; ``start_resp (n, K)`` are initial posterior probabilities.

    Returns
    -------
    dict
        ``loglik`` (mean per row), ``n_iter``, ``seconds`` (the flexmix call
        alone, timed inside R) and ``converged``.
    """
    with tempfile.TemporaryDirectory() as folder:
        data_path = Path(folder, "data.csv")
        table = pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(X.shape[1])])
        table["y"] = np.asarray(y)
        table.to_csv(data_path, index=False)
        command = ["Rscript", str(SCRIPT), str(data_path), str(n_experts), str(tol), str(max_iter)]
        if start_resp is not None:
            start_path = Path(folder, "start.csv")
            np.savetxt(start_path, start_resp, delimiter=",")
            command.append(str(start_path))
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"flexmix failed: {done.stderr.strip()[-500:]}")
    loglik, n_iter, seconds, converged = done.stdout.split()
    return {
        "loglik": float(loglik) / len(y),
        "n_iter": int(n_iter),
        "seconds": float(seconds),
        "converged": converged == "TRUE",
    }


def flexmix_standard_errors(
    X, y, n_experts, *, start_resp, tol=1e-10, gate_features=None, expert_features=None
) -> dict:
    """Fit with flexmix from ``start_resp`` and take standard errors by ``summary(refit(fit))``.

    flexmix's references are the first class and the first component (ours
    are the last). ``gate_features`` and ``expert_features`` are column
    indices (default all; an empty list: an intercept only, for the gate a
    constant one without concomitant model, whose weights have no
    standard errors). Returns ``loglik`` (the total), ``experts`` (per
    component ``"Comp.j"``) and ``gate`` (components 2 .. K): dictionaries
    from ``"(Intercept)"``, ``"x1"``, ... to ``{"estimate", "se"}``.
    """
    all_features = list(range(X.shape[1]))
    names = {
        block: [f"x{j + 1}" for j in (all_features if chosen is None else chosen)]
        for block, chosen in (("gate", gate_features), ("experts", expert_features))
    }
    with tempfile.TemporaryDirectory() as folder:
        data_path, start_path = Path(folder, "data.csv"), Path(folder, "start.csv")
        table = pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(X.shape[1])])
        table["y"] = np.asarray(y)
        table.to_csv(data_path, index=False)
        np.savetxt(start_path, start_resp, delimiter=",")
        command = ["Rscript", str(REFIT_SCRIPT), str(data_path), str(n_experts), str(tol),
                   str(start_path), *(",".join(names[b]) or "-" for b in ("gate", "experts"))]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"flexmix failed: {done.stderr.strip()[-500:]}")
    first, *rows = done.stdout.strip().splitlines()
    result = {"loglik": float(first), "experts": {}, "gate": {}}
    for row in rows:
        block, index, estimate, se = row.split()
        entry = {"estimate": float(estimate), "se": float(se)}
        kind, block = ("gate", block[5:]) if block.startswith("gate.") else ("experts", block)
        term = ["(Intercept)", *names[kind]][int(index) - 1]
        result[kind].setdefault(block, {})[term] = entry
    return result
