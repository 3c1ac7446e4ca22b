"""The STS suite scores through mteb; the score equals a direct scipy Spearman on the same embeddings."""

from __future__ import annotations

import pytest

from bench.core.dev_score import spearman_of_cosines as direct_spearman
from bench.core.memo import EmbeddingMemo
from bench.core.method import METHODS, RunContext
from bench.core.options import RuntimeOptions
from bench.core.suite import SUITES, Evaluand
from suites.sts import STS_TASKS


@pytest.fixture()
def evaluand(tiny_loaded):
    method = METHODS.get("prompteol").from_overrides(
        {}, RunContext(options=RuntimeOptions(show_progress=False), load_model=lambda: tiny_loaded)
    )
    return Evaluand.of(method, EmbeddingMemo(method.encode))


def test_mteb_score_equals_direct_spearman(evaluand, tiny_data):
    suite = SUITES.get("sts")
    outcome = suite.evaluate(evaluand, "STSBenchmark", tiny_data, limit=None)
    pairs = STS_TASKS["STSBenchmark"].read(tiny_data)
    direct = direct_spearman(
        evaluand.encode(pairs.sentences1), evaluand.encode(pairs.sentences2), pairs.scores
    )
    assert outcome.main_score == pytest.approx(direct, abs=1e-6)
    assert outcome.n_examples == 12 and outcome.split == "test"


def test_semeval_year_is_one_spearman_over_concatenated_subsets(evaluand, tiny_data):
    outcome = SUITES.get("sts").evaluate(evaluand, "STS12", tiny_data, limit=None)
    pairs = STS_TASKS["STS12"].read(tiny_data)
    assert outcome.n_examples == 5 * 12
    direct = direct_spearman(
        evaluand.encode(pairs.sentences1), evaluand.encode(pairs.sentences2), pairs.scores
    )
    assert outcome.main_score == pytest.approx(direct, abs=1e-6)


def test_limit_keeps_the_first_pairs(evaluand, tiny_data):
    outcome = SUITES.get("sts-dev").evaluate(evaluand, "STSBenchmark-dev", tiny_data, limit=5)
    assert outcome.n_examples == 5 and outcome.split == "dev"


def test_memo_encodes_each_sentence_once(evaluand, tiny_data):
    SUITES.get("sts").evaluate(evaluand, "STSBenchmark", tiny_data, limit=None)
    first = evaluand.encode.encoded
    SUITES.get("sts").evaluate(evaluand, "STSBenchmark", tiny_data, limit=None)
    assert evaluand.encode.encoded == first <= 6
