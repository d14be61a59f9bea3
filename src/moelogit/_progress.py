"""Progress bars for restarts and size sweeps, shown only when asked for.

The estimator and the selection share these two helpers, so that the
command line (which asks for bars) and library calls (quiet unless
``verbose``) behave the same way everywhere.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def progress(iterable, *, total: int, desc: str, enabled: bool):
    """``iterable`` behind a tqdm bar on stderr when ``enabled``, else ``iterable`` itself.

    Bars disappear when done (``leave=False``): nested bars (restarts inside
    a size sweep) would otherwise pile up, and what lasts is the summary the
    caller prints.
    """
    if not enabled:
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, file=sys.stderr)


def say(message: str) -> None:
    """Print ``message`` to stdout above any open progress bar."""
    tqdm.write(message, file=sys.stdout)
