"""PPI prediction end to end: the MoE against baselines under two evaluation protocols.

``python -m studies ppi --data FOLDER`` runs the experiment
(:func:`run_ppi_experiment`) and writes its report (:func:`write_report`).
The modules, in the order the data flows: :mod:`~studies.ppi.config` (the
settings), :mod:`~studies.ppi.folds` (the protocols),
:mod:`~studies.ppi.models` (the models and their grids),
:mod:`~studies.ppi.evaluation` (one outer fold), :mod:`~studies.ppi.runner`
(all folds, in parallel, resumable), :mod:`~studies.ppi.prevalence` (the
test folds at a screen's 1:10 prevalence, corrected or not) and
:mod:`~studies.ppi.report`. The
scripts beside them (``python -m studies.ppi.<script>``) are the follow-up
studies, each beside its results.
"""

from .config import PPIConfig
from .evaluation import evaluate_fold, tuned_fit
from .folds import PROTOCOLS, inner_protein_folds, make_folds
from .models import MODELS, SVM_CACHE_MB, ModelSpec, build_model, classifier_step
from .report import compare, explain_final_model, paired_folds, summarize, write_report
from .runner import PreparedData, prepare_data, run_ppi_experiment

__all__ = [
    "MODELS",
    "PROTOCOLS",
    "SVM_CACHE_MB",
    "ModelSpec",
    "PPIConfig",
    "PreparedData",
    "build_model",
    "classifier_step",
    "compare",
    "evaluate_fold",
    "explain_final_model",
    "inner_protein_folds",
    "make_folds",
    "paired_folds",
    "prepare_data",
    "run_ppi_experiment",
    "summarize",
    "tuned_fit",
    "write_report",
]
