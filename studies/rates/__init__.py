"""Finite-sample rates of the maximum-likelihood fit (``python -m studies rates``).

The experiment is :mod:`studies.rates.experiment`; the losses it scores fits
by, which need the truth and so serve simulations only, are
:mod:`studies.rates.losses`.
"""
