"""Validation of the number-of-experts selectors on random truths (``python -m studies selection``).

The experiment is :mod:`studies.selection.experiment`; the path-precision
study behind ``select_n_experts``' path defaults is
:mod:`studies.selection.path_precision_study`.
"""
