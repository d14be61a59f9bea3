"""Markdown tables for the studies' reports."""

from __future__ import annotations

import pandas as pd

__all__ = ["markdown_table"]


def markdown_table(frame: pd.DataFrame, float_format="{:.3f}".format) -> str:
    """A DataFrame as a Markdown table (no tabulate needed); floats through ``float_format``."""

    def cell(value):
        return float_format(value) if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)
