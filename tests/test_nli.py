"""NLI training data: detokenization, triplets, ranked lists, held-out split, errors."""

from __future__ import annotations

import pytest

from bench.core.errors import DataError
from bench.training.nli import detokenize, load_nli, ranked_from_pairs, read_ranked_lists, read_triplets
from tests.conftest import SHARED_DATA, write_tiny_nli


def test_detokenize_undoes_senteval_tokenization():
    assert detokenize("A man 's dog , `` Rex '' , is n't happy .") == "A man's dog, \"Rex\", isn't happy."


def test_ranked_lists_zip_labels_per_premise():
    pairs = [("p", "e1", "entailment"), ("p", "c1", "contradiction"), ("p", "n1", "neutral"),
             ("p", "e2", "entailment"), ("q", "e", "entailment"), ("q", "c", "contradiction")]  # fmt: skip
    lists, dropped = ranked_from_pairs(pairs)
    assert [(r.premise, r.responses) for r in lists] == [("p", ("e1", "n1", "c1"))]
    assert dropped == 0


def test_triplets_drop_empty_rows_and_detokenize(tmp_path):
    root = write_tiny_nli(tmp_path)
    path = root / "nli" / "snli_devtest_triplets.csv"
    path.write_text(path.read_text() + ",only hypothesis .,neg .,dev\n")
    triplets, files, dropped = read_triplets(root)
    assert dropped == 1 and len(files) == 2 and len(triplets) == 24
    assert all(" ." not in s for t in triplets for s in (t.premise, *t.responses))


def test_missing_column_is_a_data_error(tmp_path):
    root = write_tiny_nli(tmp_path)
    (root / "nli" / "mnli_devmatched_triplets.csv").write_text("sent0,sent1\na,b\n")
    with pytest.raises(DataError, match="missing column"):
        read_triplets(root)


def test_heldout_is_fixed_and_never_trained_on(tmp_path):
    root = write_tiny_nli(tmp_path)
    a = load_nli(root, "triplets", seed=0, train_samples=None, heldout=4)
    b = load_nli(root, "triplets", seed=1, train_samples=5, heldout=4)
    assert {t.premise for t in a.heldout} == {t.premise for t in b.heldout}
    assert not {t.premise for t in a.heldout} & {t.premise for t in a.train}
    assert len(b.train) == 5 and a.available == len(a.train)
    assert load_nli(root, "triplets", 0, None, 4).train == a.train  # same seed, same order
    lists = load_nli(root, "lists", seed=0, train_samples=None, heldout=4)
    assert not {t.premise for t in a.heldout} & {r.premise for r in lists.train}
    assert all(len(r.responses) == 3 for r in lists.train)


@pytest.mark.skipif(not (SHARED_DATA / "nli").is_dir(), reason="shared NLI data not available")
def test_real_nli_counts():
    triplets, _, dropped = read_triplets(SHARED_DATA)
    assert len(triplets) == 8816 and dropped == 0
    lists, _, _ = read_ranked_lists(SHARED_DATA)
    assert len(lists) == 7678 and all(len(r.responses) == 3 for r in lists)
