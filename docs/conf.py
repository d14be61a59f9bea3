"""Sphinx configuration of moelogit's documentation site.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(the ``docs`` extra installs what it needs).
"""

import os
from importlib.metadata import version as _version

os.environ.setdefault("MPLBACKEND", "Agg")

project = "moelogit"
author = "moelogit developers"
copyright = "moelogit developers"
release = _version("moelogit")
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "sg_execution_times.rst",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
]
suppress_warnings = []

# -- MyST ---------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# Links to study files (CSV, scripts, run folders) that are not pages.
myst_url_schemes = ["http", "https", "mailto"]

# -- autodoc / autosummary / numpydoc ----------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autosummary_ignore_module_all = False
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False


# -- sphinx-gallery ----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("moelogit",),
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "show_signature": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "moelogit"
html_theme_options = {
    "navbar_align": "left",
    "show_prev_next": True,
    "secondary_sidebar_items": ["page-toc"],
    "navigation_with_keys": False,
}
html_static_path = []
templates_path = ["_templates"]
html_show_sourcelink = False


# -- hooks -------------------------------------------------------------------
def _skip_metadata_requests(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_*_request`` methods."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


# The result pages link to the study folders (data, scripts, run reports)
# at ../studies, as in the repository: copy them beside the built site so
# that those links work there too.
STUDY_FOLDERS = ("ppi", "rates", "selection")


def _copy_study_folders(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    import shutil
    from pathlib import Path

    studies = Path(app.srcdir).parent / "studies"
    for name in STUDY_FOLDERS:
        shutil.copytree(studies / name, Path(app.outdir).parent / "studies" / name,
                        dirs_exist_ok=True)  # fmt: skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
    app.connect("build-finished", _copy_study_folders)
