"""The HTML report: contents, embedded figures, metrics, and a browser's view of it."""

import base64
import re
import struct

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss

from moelogit import MoEClassifier
from moelogit._tabular import prepare, summarize
from moelogit.datasets import make_moe_classification
from moelogit.report import brier_score, build_report, evaluate, write_report

from .browser import chromium, render

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data():
    X, y, _ = make_moe_classification(500, n_features=2, n_experts=2, n_classes=3, random_state=4)
    frame = pd.DataFrame(X, columns=["dose", "<b>age</b>"])
    return frame[:350], y[:350], frame[350:], y[350:]


@pytest.fixture(scope="module")
def selected(data):
    X, y, _, _ = data
    return MoEClassifier("dsc", max_experts=3, n_init=2, random_state=0).fit(X, y)


def images(page: str) -> list[bytes]:
    return [
        base64.b64decode(encoded)
        for encoded in re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([^"]+)">', page)
    ]


def png_size(image: bytes) -> tuple[int, int]:
    assert image[:8] == PNG_SIGNATURE
    return struct.unpack(">II", image[16:24])  # IHDR width and height


def test_full_report_embeds_every_figure(selected, data):
    _, _, X_test, y_test = data
    X, y, X_test, y_test = data
    with_gaps = X.assign(label=y)
    with_gaps.iloc[[3, 7], 0] = np.nan
    table = prepare(with_gaps, label="label", drop_missing=True)
    summary = summarize(table, source="train.csv", label="label")
    page = build_report(selected, metadata={"data_summary": summary}, X_test=X_test, y_test=y_test)
    figures = images(page)
    # trace, criterion, dendrogram, reliability diagram
    assert len(figures) == 4
    for image in figures:
        width, height = png_size(image)
        assert width > 200 and height > 150 and len(image) > 5_000
    for heading in ("Training data", "Objective trace", "Number of experts", "Coefficients"):
        assert f"<h2>{heading}</h2>" in page
    assert "348 rows from train.csv (2 rows with missing values dropped)" in page
    counts = np.bincount(np.delete(y, [3, 7]))
    assert [summary["class_counts"][str(m)] for m in range(3)] == counts.tolist()
    for count in counts:
        assert f"<td>{count}</td>" in page
    # Feature names label the coefficient tables, escaped like every user string.
    assert "&lt;b&gt;age&lt;/b&gt;" in page and "<b>age</b>" not in page
    assert "<script" not in page and "http" not in page.split("</head>")[1]


def test_metrics_agree_with_scikit_learn(selected, data):
    _, _, X_test, y_test = data
    proba = selected.predict_proba(X_test)
    scores = evaluate(selected, X_test, y_test)
    assert scores["accuracy"] == accuracy_score(y_test, selected.predict(X_test))
    assert scores["log_loss"] == pytest.approx(log_loss(y_test, proba))
    onehot = np.eye(3)[y_test]
    assert scores["brier"] == pytest.approx(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    page = build_report(selected, X_test=X_test, y_test=y_test)
    assert f"{scores['accuracy']:.4f}" in page and f"{scores['brier']:.4f}" in page


def test_brier_score_definition():
    # Two classes: twice scikit-learn's binary Brier score.
    y = np.array([0, 1, 1, 0, 1])
    p1 = np.array([0.1, 0.8, 0.4, 0.3, 0.9])
    proba = np.column_stack([1 - p1, p1])
    assert brier_score(y, proba, [0, 1]) == pytest.approx(2 * brier_score_loss(y, p1))
    assert brier_score(["c"], np.array([[0.0, 0.0, 1.0]]), ["a", "b", "c"]) == 0.0
    assert brier_score(["a"], np.array([[0.0, 1.0, 0.0]]), ["a", "b", "c"]) == 2.0


def test_report_without_selection_or_test_data(data):
    X, y, _, _ = data
    model = MoEClassifier(2, n_init=2, random_state=0).fit(X.to_numpy(), y)
    page = build_report(model)
    assert len(images(page)) == 1  # the objective trace only
    assert "No summary of these data was recorded" in page
    assert "Held-out evaluation" not in page and "Number of experts" not in page
    assert "<th>x1</th>" in page  # default names for a model fitted on arrays
    with pytest.raises(ValueError, match="both"):
        build_report(model, X_test=X)


def test_report_opens_in_a_browser_without_console_errors(selected, data, tmp_path):
    browser = chromium()
    # The check itself can fail: a page with a script error is caught.
    broken = tmp_path / "broken.html"
    broken.write_text(
        "<!DOCTYPE html><html><body><script>no_such_function();</script></body></html>"
    )
    _, errors = render(browser, broken)
    assert "no_such_function" in errors

    _, _, X_test, y_test = data
    path = tmp_path / "report.html"
    write_report(path, selected, X_test=X_test, y_test=y_test)
    dom, errors = render(browser, path)
    assert errors == ""
    assert "Held-out evaluation" in dom and dom.count("<img") == 4


def test_standard_errors_section_or_why_not(data):
    X, y, _, _ = data
    model = MoEClassifier(2, n_init=2, random_state=0).fit(X, y)
    page = build_report(model, X_train=X, y_train=y)
    assert "Standard errors" in page and "std err" in page
    assert "&lt;b&gt;age&lt;/b&gt;" in page and "<b>age</b>" not in page  # names escaped
    other = X.copy()
    other["dose"] = 1.0  # not the training data: refused, and the report says why
    page = build_report(model, X_train=other, y_train=y)
    assert "Not available: X has 1 non-constant features" in page
    with pytest.raises(ValueError, match="both"):
        build_report(model, X_train=X)
