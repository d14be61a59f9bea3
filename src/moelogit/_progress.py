"""Progress bars for restarts, size sweeps and long runs, shown only when asked for.

The estimator and the selection share these helpers, so that the
command line (which asks for bars) and library calls (quiet unless
``verbose``) behave the same way everywhere.
"""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm


def progress(iterable, *, total: int, desc: str, enabled: bool):
    """``iterable`` with its progress on stderr when ``enabled``, else ``iterable`` itself.

    On a terminal, a tqdm bar that disappears when done (``leave=False``):
    nested bars (restarts inside a size sweep) would otherwise pile up, and
    what lasts is the summary the caller prints. Elsewhere (stderr sent to a
    file or a pipe) plain lines instead, since a bar's cursor movements would
    be left in the file as escape sequences.
    """
    if not enabled:
        return iterable
    if not sys.stderr.isatty():
        return _progress_lines(iterable, total, desc)
    return tqdm(iterable, total=total, desc=desc, leave=False, file=sys.stderr)


#: Seconds between two progress lines of one loop (the last is always shown).
LINE_INTERVAL = 10.0


def _progress_lines(iterable, total: int, desc: str):
    """Yield from ``iterable``, printing ``desc: i/total (t s)`` at most every LINE_INTERVAL."""
    started = shown = time.monotonic()
    for done, item in enumerate(iterable, start=1):
        yield item
        now = time.monotonic()
        if done == total or now - shown >= LINE_INTERVAL:
            print(f"{desc}: {done}/{total} ({now - started:.1f} s)", file=sys.stderr, flush=True)
            shown = now


def say(message: str) -> None:
    """Print ``message`` to stdout above any open progress bar."""
    tqdm.write(message, file=sys.stdout)


class Counter:
    """A count of steps of unknown total (a run's iterations) shown on stderr.

    On a terminal, a tqdm counter that disappears when closed; elsewhere a
    line every LINE_INTERVAL seconds, and none for runs shorter than that.
    """

    def __init__(self, desc: str):
        self.desc, self.done = desc, 0
        self.started = self.shown = time.monotonic()
        on_terminal = sys.stderr.isatty()
        self.bar = tqdm(desc=desc, unit="it", leave=False, file=sys.stderr) if on_terminal else None

    def update(self, note: str = "") -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            return
        now = time.monotonic()
        if now - self.shown >= LINE_INTERVAL:
            elapsed = now - self.started
            print(f"{self.desc}: {self.done} iterations ({elapsed:.1f} s){note}", file=sys.stderr,
                  flush=True)  # fmt: skip
            self.shown = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
