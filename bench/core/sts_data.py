"""Parsers for the STS evaluation files (SemEval STS12-16, STS Benchmark, SICK-R) in their raw layout.

Layout expected under the data directory (as in shared/data):
``sts/raw/STS1{2..6}-en-test/``, ``sts/raw/STSBenchmark/sts-{dev,test}.csv``,
``sick/SICK_test_annotated.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.core.errors import DataError


@dataclass
class STSPairs:
    """Scored sentence pairs of one evaluation set (subsets concatenated, unscored pairs dropped)."""

    sentences1: list[str] = field(default_factory=list)
    sentences2: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.scores)

    def extend(self, other: STSPairs) -> None:
        self.sentences1 += other.sentences1
        self.sentences2 += other.sentences2
        self.scores += other.scores
        self.files += other.files

    def head(self, n: int) -> STSPairs:
        return STSPairs(self.sentences1[:n], self.sentences2[:n], self.scores[:n], list(self.files))


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"missing data file {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    return text.replace("\r\n", "\n").split("\n")


def _columns(line: str, path: Path, lineno: int, minimum: int) -> list[str]:
    columns = line.split("\t")
    if len(columns) < minimum:
        raise DataError(
            f"{path}:{lineno}: expected at least {minimum} tab-separated columns, got {len(columns)}"
        )
    return columns


def _sentences(columns: list[str], indices: tuple[int, int], path: Path, lineno: int) -> tuple[str, str]:
    """The two sentences of a pair; an empty one is an error naming the file, line and column."""
    pair = []
    for index in indices:
        if not columns[index].strip():
            raise DataError(f"{path}:{lineno}: empty sentence in column {index + 1}")
        pair.append(columns[index])
    return pair[0], pair[1]


def _score(value: str, path: Path, lineno: int, low: float = 0.0, high: float = 5.0) -> float:
    try:
        score = float(value)
    except ValueError:
        raise DataError(f"{path}:{lineno}: gold score {value!r} is not a number") from None
    if not low <= score <= high:
        raise DataError(f"{path}:{lineno}: gold score {score} outside [{low}, {high}]")
    return score


def read_semeval_subset(input_path: Path, gold_path: Path) -> STSPairs:
    """One SemEval subset: ``input`` has ``s1<TAB>s2[<TAB>source...]``; an empty gold line = unscored."""
    inputs = _read_lines(input_path)
    golds = _read_lines(gold_path)
    # a final newline gives one empty last element; any other empty gold line is an unscored pair
    for lines in (inputs, golds):
        if lines and lines[-1] == "":
            lines.pop()
    if len(inputs) != len(golds):
        raise DataError(f"{gold_path}: {len(golds)} gold lines but {input_path.name} has {len(inputs)} pairs")
    pairs = STSPairs(files=[input_path, gold_path])
    for lineno, (line, gold) in enumerate(zip(inputs, golds, strict=True), start=1):
        if gold.strip() == "":
            continue
        first, second = _sentences(_columns(line, input_path, lineno, 2), (0, 1), input_path, lineno)
        pairs.sentences1.append(first)
        pairs.sentences2.append(second)
        pairs.scores.append(_score(gold.strip(), gold_path, lineno))
    return pairs


@dataclass(frozen=True)
class SemEvalSet:
    """A SemEval STS year: folder name, file-name prefix and the subsets SentEval evaluates."""

    folder: str
    prefix: str
    subsets: tuple[str, ...]


SEMEVAL_SETS: dict[str, SemEvalSet] = {
    "STS12": SemEvalSet(
        "STS12-en-test", "STS", ("MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews")
    ),
    # SMT is left out as in SentEval: its sentences may not be redistributed
    "STS13": SemEvalSet("STS13-en-test", "STS", ("FNWN", "headlines", "OnWN")),
    "STS14": SemEvalSet(
        "STS14-en-test", "STS", ("deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news")
    ),
    "STS15": SemEvalSet(
        "STS15-en-test", "STS", ("answers-forums", "answers-students", "belief", "headlines", "images")
    ),
    "STS16": SemEvalSet(
        "STS16-en-test",
        "STS2016",
        ("answer-answer", "headlines", "plagiarism", "postediting", "question-question"),
    ),
}


def read_semeval(data_dir: Path, name: str) -> STSPairs:
    """All subsets of one SemEval year, concatenated in SentEval's order."""
    spec = SEMEVAL_SETS[name]
    folder = data_dir / "sts" / "raw" / spec.folder
    pairs = STSPairs()
    for subset in spec.subsets:
        pairs.extend(
            read_semeval_subset(
                folder / f"{spec.prefix}.input.{subset}.txt", folder / f"{spec.prefix}.gs.{subset}.txt"
            )
        )
    return pairs


def read_stsb(data_dir: Path, split: str) -> STSPairs:
    """STS Benchmark split: tab-separated, no quoting; columns genre, file, year, id, score, s1, s2[, ...]."""
    path = data_dir / "sts" / "raw" / "STSBenchmark" / f"sts-{split}.csv"
    pairs = STSPairs(files=[path])
    for lineno, line in enumerate(_read_lines(path), start=1):
        if line == "":
            continue
        columns = _columns(line, path, lineno, 7)
        pairs.scores.append(_score(columns[4], path, lineno))
        first, second = _sentences(columns, (5, 6), path, lineno)
        pairs.sentences1.append(first)
        pairs.sentences2.append(second)
    return pairs


def read_sick(data_dir: Path, split: str = "test") -> STSPairs:
    """SICK relatedness: header row, then pair_ID, sentence_A, sentence_B, relatedness_score, label."""
    filename = {"test": "SICK_test_annotated.txt", "train": "SICK_train.txt", "trial": "SICK_trial.txt"}[
        split
    ]
    path = data_dir / "sick" / filename
    lines = _read_lines(path)
    header = lines[0].split("\t") if lines else []
    if header[:4] != ["pair_ID", "sentence_A", "sentence_B", "relatedness_score"]:
        raise DataError(f"{path}:1: unexpected header {header[:4]}")
    pairs = STSPairs(files=[path])
    for lineno, line in enumerate(lines[1:], start=2):
        if line == "":
            continue
        columns = _columns(line, path, lineno, 4)
        first, second = _sentences(columns, (1, 2), path, lineno)
        pairs.sentences1.append(first)
        pairs.sentences2.append(second)
        pairs.scores.append(_score(columns[3], path, lineno, low=1.0, high=5.0))
    return pairs
