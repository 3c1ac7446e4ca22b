"""Alignment, uniformity and anisotropy: known answers on synthetic vectors, and the suite end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.core.errors import BenchError
from bench.core.suite import Evaluand
from suites.geometry import GEOMETRY_SUITE, alignment, anisotropy, uniformity
from tests.test_cli import bench


def test_alignment_is_the_mean_squared_distance_of_unit_positive_pairs():
    x = np.array([[1.0, 0.0], [0.0, 3.0]])
    assert alignment(x, 5 * x) == pytest.approx(0.0)
    assert alignment(x, np.array([[0.0, 2.0], [-1.0, 0.0]])) == pytest.approx(2.0)  # orthogonal: |a-b|^2 = 2
    assert alignment(x, -x) == pytest.approx(4.0)


def test_uniformity_and_anisotropy_on_spaces_with_a_known_answer():
    same = np.ones((4, 3))
    assert uniformity(same) == pytest.approx(0.0) and anisotropy(same) == pytest.approx(1.0)
    basis = np.eye(3)
    assert anisotropy(basis) == pytest.approx(0.0)
    assert uniformity(basis) == pytest.approx(-4.0)  # every distinct pair at squared distance 2
    antipodal = np.array([[1.0, 0.0], [-1.0, 0.0]])
    assert uniformity(antipodal) == pytest.approx(-8.0) and anisotropy(antipodal) == pytest.approx(-1.0)
    rng = np.random.default_rng(0)
    spread = rng.normal(size=(400, 64))
    assert abs(anisotropy(spread)) < 0.01 and uniformity(spread) < uniformity(spread + 3.0)


def test_the_suite_reads_stsb_dev_positives_and_all_sentences(tiny_data):
    seen = []

    def encode(sentences):
        seen.append(list(sentences))
        return np.array([[len(s), s.count("a") + 1.0, 1.0] for s in sentences])

    evaluand = Evaluand("fake", encode, lambda: None)
    outcome = GEOMETRY_SUITE.evaluate(evaluand, "uniformity", tiny_data, None)
    pairs = GEOMETRY_SUITE.load(tiny_data, None)
    assert outcome.main_metric == "uniformity" and outcome.split == "dev"
    assert set(seen[0]) == set(pairs.sentences1 + pairs.sentences2)
    positives = sum(score >= 4 for score in pairs.scores)
    assert outcome.stats["positive_pairs"] == positives > 0
    vectors = encode(seen[0])
    assert outcome.scores["anisotropy"] == pytest.approx(anisotropy(vectors))
    assert math.isfinite(outcome.scores["alignment"]) and GEOMETRY_SUITE.average_label() is None
    with pytest.raises(BenchError, match="no task"):
        GEOMETRY_SUITE.check_task("spearman", tiny_data, None)


def test_bench_runs_the_geometry_suite_with_a_baseline_and_no_paired_statistics(
    tiny_model_dir, tiny_data, tmp_path, cache_env
):
    result = bench(
        "run", "--methods", "mean,prompteol", "--suite", "geometry", "--model", str(tiny_model_dir),
        "--data-dir", str(tiny_data), "--out", str(tmp_path), "--baseline", "prompteol",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "alignment" in result.stdout and "anisotropy" in result.stdout
    csv = next((tmp_path / "tables").glob("*geometry*.csv")).read_text()
    assert "uniformity" in csv and "mean" in csv
