"""The PPI benchmark loader."""

import logging

import numpy as np
import pytest

from moelogit.datasets.ppi import PPIFormatError, load_ppi, read_sequences


def write(folder, pairs, sequences, name="sequences.tsv"):
    (folder / "pairs.tsv").write_text(pairs)
    (folder / name).write_text(sequences)
    return folder


def test_guo_benchmark_as_documented(ppi_data, caplog):
    with caplog.at_level(logging.WARNING):
        data = load_ppi(ppi_data / "guo2008-yeast")
    report = data.report
    assert report["pairs_read"] == 11_188 and report["duplicates_removed"] == 24
    assert len(data.labels) == report["pairs"] == 11_188 - 24
    assert report["proteins"] == 2497 and report["ambiguous_residues"] == {}
    assert "removed 24 pairs" in caplog.text
    ordered = np.sort(data.pairs, axis=1)
    assert len({tuple(p) for p in ordered}) == len(ordered)  # no unordered repeats remain


def test_martin_benchmark_as_documented(ppi_data):
    data = load_ppi(ppi_data / "martin2005-hpylori")  # CRLF line endings
    assert data.report["self_pairs"] == data.report["self_pairs_removed"] == 62
    assert data.report["self_pairs_interacting"] == 0  # all negatives: a shortcut
    assert data.report["pairs"] == 2878 - 62 and len(data.labels) == 2816
    assert not (data.pairs[:, 0] == data.pairs[:, 1]).any()
    kept = load_ppi(ppi_data / "martin2005-hpylori", keep_self_pairs=True)
    assert kept.report["pairs"] == 2878 and kept.report["self_pairs_removed"] == 0
    assert (kept.pairs[:, 0] == kept.pairs[:, 1]).sum() == 62
    assert kept.report["proteins"] >= data.report["proteins"]
    assert 0 < data.report["ambiguous_residues"]["X"] <= 16
    assert set(data.labels) == {0, 1}


def test_header_float_labels_and_fasta(tmp_path):
    write(
        tmp_path,
        "a\tb\tlabel\nP1\tP2\t1.0\nP2\tP3\t0.0\nP3\tP2\t0\n",
        ">P1 first protein\nMKVB\nZL\n\n>P2\nmgu\n>P3\nACD\n",
        name="sequences.fasta",
    )
    data = load_ppi(tmp_path)
    assert data.pairs.tolist() == [["P1", "P2"], ["P2", "P3"]]
    assert data.labels.tolist() == [1, 0]
    assert data.sequences == {"P1": "MKVBZL", "P2": "MGU", "P3": "ACD"}
    assert data.report["ambiguous_residues"] == {"B": 1, "Z": 1, "U": 1}
    assert data.report["duplicates_removed"] == 1 and data.report["conflicting_duplicates"] == 0


def test_conflicting_duplicates_are_counted(tmp_path):
    write(tmp_path, "P1\tP2\t1\nP2\tP1\t0\n", "P1\tMK\nP2\tKM\n")
    data = load_ppi(tmp_path)
    assert data.labels.tolist() == [1]  # the first is kept
    assert data.report["conflicting_duplicates"] == 1


@pytest.mark.parametrize(
    "pairs, sequences, message, line",
    [
        ("P1\tP2\t1\nP1\tP9\t0\n", "P1\tMK\nP2\tKM\n", "'P9' has no sequence", 2),
        ("P1\tP2\t2\n", "P1\tMK\nP2\tKM\n", "label must be 0 or 1", 1),
        ("P1\tP2\t0.5\n", "P1\tMK\nP2\tKM\n", "label must be 0 or 1", 1),
        ("P1 P2 1\n", "P1\tMK\nP2\tKM\n", "expected 'protein_a<TAB>", 1),
    ],
)
def test_bad_pairs_name_file_and_line(tmp_path, pairs, sequences, message, line):
    write(tmp_path, pairs, sequences)
    with pytest.raises(PPIFormatError, match=message) as info:
        load_ppi(tmp_path)
    assert info.value.line == line and info.value.path.name == "pairs.tsv"
    assert f"pairs.tsv, line {line}" in str(info.value)


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("P1\tMK\nP2\tMK1L\n", "not amino acids: '1'", 2),
        ("P1\tMK\nP2\t \n", "expected 'id<TAB>sequence'", 2),  # strip leaves one field
        (">P1\n>P2\nMK\n", "'P1' has an empty sequence", 1),
        ("just some text\n", "expected 'id<TAB>sequence' \\(TSV\\) or a '>' header", 1),
        ("P1\tMK\nP1\tMK\n", "second sequence", 2),
        (">\nMK\n", "header without an id", 1),
    ],
)
def test_bad_sequences_name_file_and_line(tmp_path, text, message, line):
    path = tmp_path / "s.txt"
    path.write_text(text)
    with pytest.raises(PPIFormatError, match=message) as info:
        read_sequences(path)
    assert info.value.line == line and isinstance(info.value, ValueError)


def test_empty_files_are_errors(tmp_path):
    write(tmp_path, "\n", "P1\tMK\n")
    with pytest.raises(PPIFormatError, match="no pairs"):
        load_ppi(tmp_path)
    with pytest.raises(PPIFormatError, match="no sequences"):
        read_sequences(tmp_path / "pairs.tsv")


def test_self_pairs_removed_by_default(tmp_path, caplog):
    write(tmp_path, "P1\tP1\t0\nP1\tP2\t1\nP2\tP2\t1\n", "P1\tMK\nP2\tKM\n")
    with caplog.at_level(logging.WARNING):
        data = load_ppi(tmp_path)
    assert data.pairs.tolist() == [["P1", "P2"]] and data.labels.tolist() == [1]
    assert data.report["self_pairs_removed"] == 2 and data.report["self_pairs_interacting"] == 1
    assert "removed 2 self-pairs" in caplog.text
    kept = load_ppi(tmp_path, keep_self_pairs=True)
    assert kept.labels.tolist() == [0, 1, 1] and kept.report["self_pairs_removed"] == 0
