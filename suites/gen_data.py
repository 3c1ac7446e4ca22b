"""Local lm-eval task data: the files in the data directory, converted once into the format the stock
lm-eval task expects (its Hugging Face dataset's fields), so the stock prompts and metrics apply unchanged.

Each converter reads the raw files (layout as in shared/data, see each folder's PROVENANCE.md) and returns
``{split: [doc, ...]}``. Conversions are cached as JSON Lines keyed by the source files' checksums.
Differences from the Hugging Face datasets that lm-eval would download are listed in ``DIFFERENCES``.
"""

from __future__ import annotations

import bz2
import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core.atomic import atomic_write_text
from bench.core.errors import DataError
from bench.core.hashing import json_digest
from bench.core.provenance import file_checksums

Docs = dict[str, list[dict[str, Any]]]

DIFFERENCES = {
    "hellaswag": (
        "the local file (llama.cpp's preprocessed copy) has the joined context ctx = ctx_a + ' ' + ctx_b, "
        "so lm-eval's capitalisation of ctx_b's first letter cannot be applied, and it removed only the "
        "[header]/[step]/[substeps]/[title] tags (18 tasks keep a '[...]'); scores are close to, not "
        "identical with, published hellaswag numbers"
    ),
}


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DataError(f"missing data file {path}")
    return path


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(_require(path), encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
    return rows


def _field(row: dict[str, Any], name: str, path: Path, index: int) -> Any:
    if name not in row:
        raise DataError(f"{path}: record {index + 1} has no field {name!r}")
    return row[name]


def _labels(path: Path, allowed: set[str]) -> list[str]:
    labels = [
        line.strip() for line in _require(path).read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    for lineno, label in enumerate(labels, start=1):
        if label not in allowed:
            raise DataError(f"{path}:{lineno}: label {label!r} not in {sorted(allowed)}")
    return labels


def arc(folder: Path) -> Docs:
    """AI2 JSONL -> allenai/ai2_arc fields; labels kept as they are (A-E or 1-5)."""
    name = folder.name  # ARC-Easy or ARC-Challenge
    docs: Docs = {}
    for split, stem in (("train", "Train"), ("validation", "Dev"), ("test", "Test")):
        path = folder / f"{name}-{stem}.jsonl"
        out = []
        for i, row in enumerate(_jsonl(path)):
            question = _field(row, "question", path, i)
            choices = question.get("choices") or []
            labels = [c["label"] for c in choices]
            if row.get("answerKey") not in labels:
                raise DataError(f"{path}: record {i + 1}: answerKey {row.get('answerKey')!r} not in {labels}")
            out.append(
                {
                    "id": row["id"],
                    "question": question["stem"],
                    "choices": {"text": [c["text"] for c in choices], "label": labels},
                    "answerKey": row["answerKey"],
                }
            )
        docs[split] = out
    return docs


def boolq(folder: Path) -> Docs:
    """SuperGLUE BoolQ with string labels "true"/"false" -> super_glue/boolq's 0/1."""
    path = folder / "val.jsonl"
    out = []
    for i, row in enumerate(_jsonl(path)):
        label = str(_field(row, "label", path, i)).lower()
        if label not in {"true", "false"}:
            raise DataError(f"{path}: record {i + 1}: label {row['label']!r} is not true/false")
        out.append(
            {
                "question": row["question"],
                "passage": row["passage"],
                "idx": row.get("idx", i),
                "label": int(label == "true"),
            }
        )
    return {"validation": out}


def hellaswag(folder: Path) -> Docs:
    """llama.cpp's 6-lines-per-task text -> Rowan/hellaswag fields (see ``DIFFERENCES``)."""
    path = _require(folder / "hellaswag_val_full.txt.bz2")
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) % 6:
        raise DataError(f"{path}: {len(lines)} lines is not a multiple of 6 (context, label, 4 endings)")
    out = []
    for start in range(0, len(lines), 6):
        context, label, *endings = lines[start : start + 6]
        if label not in {"0", "1", "2", "3"}:
            raise DataError(f"{path}:{start + 2}: label {label!r} is not 0-3")
        activity, sep, ctx = context.partition(": ")
        if not sep:
            raise DataError(f"{path}:{start + 1}: expected 'activity label: context'")
        # lm-eval builds activity_label + ": " + ctx_a + " " + ctx_b.capitalize(); with ctx_b empty and
        # its trailing space stripped by lm-eval's preprocess, the joined context comes back unchanged.
        out.append(
            {"activity_label": activity, "ctx_a": ctx, "ctx_b": "", "endings": endings, "label": label}
        )
    return {"validation": out}


def mmlu(folder: Path) -> Docs:
    """Per-subject header-less CSVs (question, A, B, C, D, letter) -> cais/mmlu fields; split names
    are '<subject>/<split>' (test, and dev for the few-shot examples)."""
    docs: Docs = {}
    for split, sub in (("test", "test"), ("dev", "dev")):
        files = sorted((folder / sub).glob(f"*_{sub}.csv"))
        if not files:
            raise DataError(f"no MMLU files {folder / sub}/*_{sub}.csv")
        for path in files:
            subject = path.name[: -len(f"_{sub}.csv")]
            out = []
            with open(path, newline="", encoding="utf-8") as fh:
                for lineno, row in enumerate(csv.reader(fh), start=1):
                    if len(row) != 6 or row[5] not in {"A", "B", "C", "D"}:
                        raise DataError(f"{path}:{lineno}: expected question,A,B,C,D,answer-letter")
                    out.append(
                        {
                            "question": row[0],
                            "subject": subject,
                            "choices": row[1:5],
                            "answer": "ABCD".index(row[5]),
                        }
                    )
            docs[f"{subject}/{split}"] = out
    return docs


def piqa(folder: Path) -> Docs:
    """valid.jsonl + valid-labels.lst -> baber/piqa fields."""
    path = folder / "valid.jsonl"
    rows = _jsonl(path)
    labels = _labels(folder / "valid-labels.lst", {"0", "1"})
    if len(labels) != len(rows):
        raise DataError(f"{folder}: {len(rows)} questions but {len(labels)} labels")
    return {
        "validation": [
            {"goal": r["goal"], "sol1": r["sol1"], "sol2": r["sol2"], "label": int(label)}
            for r, label in zip(rows, labels, strict=True)
        ]
    }


def truthfulqa(folder: Path) -> Docs:
    """v0/mc_task.json (the version lm-eval's HF dataset holds) -> truthful_qa 'multiple_choice' fields."""
    path = _require(folder / "v0" / "mc_task.json")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg})") from None

    def targets(mapping: dict[str, int]) -> dict[str, list]:
        return {"choices": list(mapping), "labels": [int(v) for v in mapping.values()]}

    return {
        "validation": [
            {
                "question": r["question"],
                "mc1_targets": targets(r["mc1_targets"]),
                "mc2_targets": targets(r["mc2_targets"]),
            }
            for r in rows
        ]
    }


def wikitext(folder: Path) -> Docs:
    """wiki.test.raw -> EleutherAI/wikitext_document_level pages (split at top-level ' = Title = ' lines,
    as that dataset's loading script does)."""
    lines = _require(folder / "wiki.test.raw").read_text(encoding="utf-8").split("\n")
    pages, current = [], []
    for line in lines:
        heading = line.replace("= = =", "===").replace("= =", "==").strip()
        if heading.startswith("= ") and heading.endswith(" ="):
            page = "\n".join(current)
            if page.strip():
                pages.append({"page": page})
            current = []
        current.append(line)
    pages.append({"page": "\n".join(current)})
    return {"test": pages}


def winogrande(folder: Path) -> Docs:
    """dev.jsonl is already in the official fields (sentence, option1, option2, answer '1'/'2')."""
    path = folder / "dev.jsonl"
    rows = _jsonl(path)
    for i, row in enumerate(rows):
        if str(_field(row, "answer", path, i)) not in {"1", "2"} or "_" not in row.get("sentence", ""):
            raise DataError(f"{path}: record {i + 1}: needs a sentence with '_' and answer '1' or '2'")
    return {"validation": rows}


def _checked_jsonl(path: Path, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """A JSON Lines file already in the stock fields, each record checked to have ``fields``."""
    rows = _jsonl(path)
    for i, row in enumerate(rows):
        for name in fields:
            _field(row, name, path, i)
    return rows


def lambada(folder: Path) -> Docs:
    return {"test": _checked_jsonl(folder / "lambada_test.jsonl", ("text",))}


def gsm8k(folder: Path) -> Docs:
    return {"test": _checked_jsonl(folder / "test.jsonl", ("question", "answer"))}


@dataclass(frozen=True)
class LocalData:
    """One data folder and the converter that turns it into the stock task's fields."""

    folder: str  # relative to the data directory
    convert: Callable[[Path], Docs]
    pattern: str = "**/*"  # which files of the folder the conversion reads (for checksums)

    def sources(self, data_dir: Path) -> list[Path]:
        root = data_dir / self.folder
        if not root.is_dir():
            raise DataError(f"missing data folder {root}")
        skip = {"PROVENANCE.md", "SHA256SUMS", "LICENSE"}
        return sorted(
            p
            for p in root.glob(self.pattern)
            if p.is_file() and p.name not in skip and not p.name.startswith(("README", "LICENSE"))
        )

    def materialise(self, data_dir: Path, cache: Path) -> dict[str, Path]:
        """Convert (once; cached by source checksums) and return ``{split: jsonl path}``."""
        sources = self.sources(data_dir)
        folder = cache / self.folder.replace("/", "_") / json_digest(file_checksums(sources, data_dir))
        index = folder / "splits.json"
        if index.is_file():
            return {split: folder / name for split, name in json.loads(index.read_text()).items()}
        docs = self.convert(data_dir / self.folder)
        names = {}
        for split, rows in docs.items():
            name = split.replace("/", "__") + ".jsonl"
            atomic_write_text(folder / name, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
            names[split] = name
        atomic_write_text(index, json.dumps(names, indent=1))
        return {split: folder / name for split, name in names.items()}
