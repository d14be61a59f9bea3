"""Headless Chromium for the tests that check what a person would see in a browser."""

import shutil
import subprocess
from pathlib import Path

import pytest


def chromium() -> str:
    """Chromium's path, or a skip saying how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless Chromium on PATH (apt-get install chromium): browser check skipped")


def render(browser: str, page: Path, *options: str) -> tuple[str, str]:
    """The DOM Chromium renders from ``page`` and its console error lines.

    Error lines are console messages, uncaught exceptions and resources
    (scripts, images, styles) that failed to load.
    """
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--enable-logging=stderr",
            "--v=0",
            *options,
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    errors = [
        line
        for line in result.stderr.splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line
    ]
    return result.stdout, "\n".join(errors)
