"""The documentation site renders in a browser: the home page and a gallery page.

The site is built by ``python -m sphinx -W --keep-going -b html docs
docs/_build/html`` (CI builds it before the tests, see ``.ci/run``). This
test opens the built pages in headless Chromium and checks their title, the
navigation bar and that the gallery page's figure loads. It skips, saying
why, when Chromium or the built site is missing.
"""

import re
from pathlib import Path

import pytest

from .browser import chromium, render

SITE = Path(__file__).resolve().parents[1] / "docs" / "_build" / "html"
GALLERY_PAGE = "auto_examples/plot_choose_k.html"

# Appended to a copy of a page: after every image has loaded or failed, the
# page records each image's natural width, which is 0 for an image that did
# not load.
_IMAGE_PROBE = """
<script>
window.addEventListener("load", function () {
  var widths = Array.prototype.map.call(document.images, function (img) {
    return img.getAttribute("src") + "=" + img.naturalWidth;
  });
  document.body.setAttribute("data-image-widths", widths.join(" "));
});
</script>
"""


def _site():
    if not (SITE / "index.html").is_file() or not (SITE / GALLERY_PAGE).is_file():
        pytest.skip(
            f"the documentation site is not built in {SITE} "
            "(python -m sphinx -W --keep-going -b html docs docs/_build/html)"
        )
    return SITE


def _failures(errors: str) -> list[str]:
    """Uncaught exceptions and resources that failed to load (the theme logs informational lines)."""
    return [
        line
        for line in errors.splitlines()
        if "Uncaught" in line or "Failed to load resource" in line
    ]


def _probed_copy(page: Path) -> Path:
    """A copy of ``page`` beside it (so relative links hold) with the image probe."""
    probe = page.with_name(f"_probe_{page.name}")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _IMAGE_PROBE + "</body>"))
    return probe


def _image_widths(dom: str) -> dict[str, int]:
    found = re.search(r'data-image-widths="([^"]*)"', dom)
    assert found, "the image probe did not run"
    pairs = (item.rsplit("=", 1) for item in found.group(1).split())
    return {src: int(width) for src, width in pairs}


def test_home_page_renders_with_navigation():
    browser, site = chromium(), _site()
    dom, errors = render(browser, site / "index.html", "--virtual-time-budget=10000")
    assert _failures(errors) == []
    assert re.search(r"<title>[^<]*moelogit[^<]*</title>", dom)
    nav = re.search(r'<ul class="[^"]*navbar-nav[^"]*">(.*?)</ul>', dom, re.DOTALL)
    assert nav, "no navigation bar"
    for section in ("Getting started", "User guide", "Examples", "API reference", "Results"):
        assert section in nav.group(1), section


def test_gallery_page_shows_its_figure():
    browser, site = chromium(), _site()
    probe = _probed_copy(site / GALLERY_PAGE)
    try:
        dom, errors = render(browser, probe, "--virtual-time-budget=10000")
    finally:
        probe.unlink()
    assert _failures(errors) == []
    assert "Choose the number of experts with the dendrogram" in dom
    assert re.search(r'<ul class="[^"]*navbar-nav[^"]*">', dom), "no navigation bar"
    widths = _image_widths(dom)
    figures = {src: w for src, w in widths.items() if "sphx_glr_plot_choose_k" in src}
    assert figures, f"no gallery figure among the page's images: {sorted(widths)}"
    assert all(w > 0 for w in figures.values()), f"a figure did not load: {figures}"
