"""STS parsers: exact row counts on the real files, and errors that name the file and line."""

from __future__ import annotations

import pytest

from bench.core.errors import DataError
from bench.core.sts_data import read_semeval_subset, read_sick, read_stsb
from suites.sts import STS_TASKS
from tests.conftest import SHARED_DATA

EXPECTED = {
    "STS12": 3108,
    "STS13": 1500,
    "STS14": 3750,
    "STS15": 3000,
    "STS16": 1186,
    "STSBenchmark": 1379,
    "SICK-R": 4927,
    "STSBenchmark-dev": 1500,
}

needs_shared = pytest.mark.skipif(not (SHARED_DATA / "sts").is_dir(), reason="shared/data not present")


@needs_shared
@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_real_files_have_the_published_row_counts(task):
    pairs = STS_TASKS[task].read(SHARED_DATA)
    assert len(pairs) == EXPECTED[task]
    assert len(pairs.sentences1) == len(pairs.sentences2) == len(pairs.scores)
    assert all(0.0 <= s <= 5.0 for s in pairs.scores)
    assert all(p.is_file() for p in pairs.files)


@needs_shared
def test_real_stsb_first_row_is_parsed_by_columns():
    pairs = read_stsb(SHARED_DATA, "test")
    assert pairs.sentences1[0] == "A girl is styling her hair."
    assert pairs.sentences2[0] == "A girl is brushing her hair."
    assert pairs.scores[0] == 2.5


def test_unscored_pairs_are_dropped(tmp_path):
    inp, gold = tmp_path / "in.txt", tmp_path / "gs.txt"
    inp.write_text("a\tb\nc\td\te\tsource\nf\tg\n")
    gold.write_text("1.0\n\n4.5\n")
    pairs = read_semeval_subset(inp, gold)
    assert pairs.sentences1 == ["a", "f"] and pairs.scores == [1.0, 4.5]


@pytest.mark.parametrize(
    "inputs,golds,message",
    [
        ("a\tb\nc\td\n", "1.0\nhigh\n", r"gs\.txt:2: gold score 'high'"),
        ("a\tb\nonly-one-sentence\n", "1.0\n2.0\n", r"in\.txt:2: expected at least 2 tab-separated"),
        ("a\tb\nc\td\n", "1.0\n", "1 gold lines but in.txt has 2 pairs"),
    ],
    ids=["bad-score", "missing-column", "line-count"],
)
def test_malformed_semeval_files_name_file_and_line(tmp_path, inputs, golds, message):
    inp, gold = tmp_path / "in.txt", tmp_path / "gs.txt"
    inp.write_text(inputs)
    gold.write_text(golds)
    with pytest.raises(DataError, match=message):
        read_semeval_subset(inp, gold)


def test_stsb_short_row_and_out_of_range_score(tmp_path):
    folder = tmp_path / "sts" / "raw" / "STSBenchmark"
    folder.mkdir(parents=True)
    (folder / "sts-test.csv").write_text("g\tf\ty\t1\t2.0\ta\tb\ng\tf\ty\t2\t2.0\ta\n")
    with pytest.raises(DataError, match=r"sts-test\.csv:2: expected at least 7"):
        read_stsb(tmp_path, "test")
    (folder / "sts-test.csv").write_text("g\tf\ty\t1\t7.5\ta\tb\n")
    with pytest.raises(DataError, match=r"sts-test\.csv:1: gold score 7.5 outside"):
        read_stsb(tmp_path, "test")


def test_sick_header_is_checked(tmp_path):
    (tmp_path / "sick").mkdir()
    (tmp_path / "sick" / "SICK_test_annotated.txt").write_text("id\ta\tb\n")
    with pytest.raises(DataError, match=r"SICK_test_annotated\.txt:1: unexpected header"):
        read_sick(tmp_path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="missing data file .*sts-dev.csv"):
        read_stsb(tmp_path, "dev")
