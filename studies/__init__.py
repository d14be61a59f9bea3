"""Studies of moelogit's claims, with their results: not part of the installed package.

Run from the repository root (``studies`` is found there, not installed):
``python -m studies selection``, ``python -m studies rates`` and
``python -m studies ppi`` regenerate the experiments (:mod:`studies.cli`);
``python -m studies.ppi.<script>`` and
``python -m studies.selection.path_precision_study`` the follow-up studies.
Each folder holds its code, its results and a README.md with the command,
code version, machine and date of the results. Studies import only
moelogit's public names.
"""
