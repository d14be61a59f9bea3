"""The code version a study's rows record."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["code_version"]

HERE = Path(__file__).parent


def code_version(*paths: str) -> str:
    """The short commit hash, with "+changes" when the files under ``paths`` differ from it.

    ``paths`` are git pathspecs (``":/src"``: the library, from the
    repository's root; ``":/studies/*.py"``: the studies' code, not the
    results a running study writes beside it); "unknown" outside a git
    checkout.
    """
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", *paths],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+changes" if changed else "")
