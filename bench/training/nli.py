"""NLI training data: (premise, entailment, contradiction) triplets and ranked response lists.

Layout under the data directory (as in shared/data/nli): ``snli_devtest_triplets.csv`` (SentEval-
tokenized text, detokenized here), ``mnli_devmatched_triplets.csv``, and the raw labelled pairs
``snli_senteval/{s1,s2,labels}.{dev,test}`` and ``mnli/dev_matched.jsonl`` for ranked lists.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from bench.core.errors import DataError

TRIPLET_FILES = {"snli_devtest_triplets.csv": True, "mnli_devmatched_triplets.csv": False}  # -> tokenized
SNLI_SPLITS = ("dev", "test")
MNLI_PAIRS = "mnli/dev_matched.jsonl"
RANKING = ("entailment", "neutral", "contradiction")  # best first


@dataclass(frozen=True)
class Ranked:
    """A premise and its responses, best first (a triplet is a list of two: entailment > contradiction)."""

    premise: str
    responses: tuple[str, ...]


@dataclass
class NLIData:
    """Training examples, the held-out triplets never trained on, and what was read and dropped."""

    train: list[Ranked]
    heldout: list[Ranked]
    files: list[Path] = field(default_factory=list)
    dropped_empty: int = 0
    available: int = 0


@cache
def _detokenizer():
    from nltk.tokenize.treebank import TreebankWordDetokenizer

    return TreebankWordDetokenizer()


def detokenize(text: str) -> str:
    """Undo PTB/SentEval tokenization (``isn 't ,`` -> ``isn't,``; ``` `` ``` quotes -> ``"``)."""
    return _detokenizer().detokenize(text.split())


def _nli_dir(data_dir: Path) -> Path:
    folder = Path(data_dir) / "nli"
    if not folder.is_dir():
        raise DataError(f"no NLI training data: {folder} does not exist (see shared/data/nli)")
    return folder


def read_triplets(data_dir: Path) -> tuple[list[Ranked], list[Path], int]:
    """All triplets of the two CSVs (premise, entailment > contradiction), empty rows dropped."""
    folder = _nli_dir(data_dir)
    triplets: list[Ranked] = []
    files: list[Path] = []
    dropped = 0
    for name, tokenized in TRIPLET_FILES.items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"missing data file {path}")
        files.append(path)
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"sent0", "sent1", "hard_neg"} - set(reader.fieldnames or [])
            if missing:
                raise DataError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            for row in reader:
                cells = [(row[c] or "").strip() for c in ("sent0", "sent1", "hard_neg")]
                if not all(cells):
                    dropped += 1
                    continue
                if tokenized:
                    cells = [detokenize(c) for c in cells]
                triplets.append(Ranked(cells[0], (cells[1], cells[2])))
    return triplets, files, dropped


def _snli_pairs(folder: Path, split: str) -> Iterable[tuple[str, str, str]]:
    paths = [folder / "snli_senteval" / f"{part}.{split}" for part in ("s1", "s2", "labels")]
    for path in paths:
        if not path.is_file():
            raise DataError(f"missing data file {path}")
    columns = [p.read_text(encoding="utf-8").rstrip("\n").split("\n") for p in paths]
    if len({len(c) for c in columns}) != 1:
        raise DataError(f"{paths[0].parent}: s1/s2/labels .{split} have different line counts")
    for lineno, (premise, hypothesis, label) in enumerate(zip(*columns, strict=True), start=1):
        if label.strip() not in RANKING:
            raise DataError(f"{paths[2]}:{lineno}: unknown label {label.strip()!r}")
        yield detokenize(premise), detokenize(hypothesis), label.strip()


def _mnli_pairs(folder: Path) -> Iterable[tuple[str, str, str]]:
    path = folder / MNLI_PAIRS
    if not path.is_file():
        raise DataError(f"missing data file {path}")
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            yield row["premise"].strip(), row["hypothesis"].strip(), row["label"]
        except (json.JSONDecodeError, KeyError, AttributeError) as exc:
            raise DataError(f"{path}:{lineno}: not a premise/hypothesis/label record ({exc})") from None


def ranked_from_pairs(pairs: Iterable[tuple[str, str, str]]) -> tuple[list[Ranked], int]:
    """Per premise, the k-th entailment > k-th neutral > k-th contradiction (zip, in file order)."""
    grouped: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    dropped = 0
    for premise, hypothesis, label in pairs:
        if not premise or not hypothesis:
            dropped += 1
            continue
        grouped[premise][label].append(hypothesis)
    lists = []
    for premise, by_label in grouped.items():
        for responses in zip(*(by_label[label] for label in RANKING), strict=False):
            lists.append(Ranked(premise, tuple(responses)))
    return lists, dropped


def read_ranked_lists(data_dir: Path) -> tuple[list[Ranked], list[Path], int]:
    """Ranked lists entailment > neutral > contradiction from SNLI dev/test and MultiNLI dev-matched."""
    folder = _nli_dir(data_dir)
    pairs: list[tuple[str, str, str]] = []
    for split in SNLI_SPLITS:
        pairs.extend(_snli_pairs(folder, split))
    pairs.extend(_mnli_pairs(folder))
    lists, dropped = ranked_from_pairs(pairs)
    files = [folder / "snli_senteval" / f"{p}.{s}" for s in SNLI_SPLITS for p in ("s1", "s2", "labels")]
    return lists, files + [folder / MNLI_PAIRS], dropped


def _premise_rank(premise: str) -> str:
    return hashlib.sha1(premise.encode()).hexdigest()


def heldout_premises(triplets: list[Ranked], n: int) -> set[str]:
    """A fixed set of premises (independent of the seed): the ``n`` triplet premises of lowest hash."""
    return set(sorted({t.premise for t in triplets}, key=_premise_rank)[:n])


def load_nli(data_dir: Path, kind: str, seed: int, train_samples: int | None, heldout: int = 200) -> NLIData:
    """Training data of ``kind`` ("triplets" or "lists"), shuffled with ``seed`` and capped.

    The held-out triplets (``heldout`` premises chosen by hash) are excluded from training in both
    kinds, so preference accuracy is always measured on unseen premises.
    """
    triplets, files, dropped = read_triplets(data_dir)
    held = heldout_premises(triplets, heldout)
    if kind == "triplets":
        examples = triplets
    elif kind == "lists":
        examples, list_files, dropped_lists = read_ranked_lists(data_dir)
        files, dropped = files + list_files, dropped + dropped_lists
    else:
        raise DataError(f"unknown NLI data kind {kind!r} (triplets or lists)")
    train = [e for e in examples if e.premise not in held]
    random.Random(seed).shuffle(train)
    available = len(train)
    if train_samples is not None:
        train = train[:train_samples]
    return NLIData(
        train, [t for t in triplets if t.premise in held], files, dropped_empty=dropped, available=available
    )


def with_preference(examples: list[Ranked], preference: str, seed: int) -> list[Ranked]:
    """The training examples under a preference control: ``nli`` (as labelled), ``reversed`` (every list
    worst first: chosen and rejected swapped) or ``shuffled`` (each list in a random order, seeded: random
    labels)."""
    if preference == "nli":
        return list(examples)
    if preference == "reversed":
        return [Ranked(e.premise, tuple(reversed(e.responses))) for e in examples]
    if preference == "shuffled":
        rng = random.Random(seed)
        return [Ranked(e.premise, tuple(rng.sample(e.responses, len(e.responses)))) for e in examples]
    raise ValueError(f"unknown preference control {preference!r}")
