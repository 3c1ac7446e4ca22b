"""Export stored STS results in mteb's result-folder layout, so that mteb's own loaders read them.

Layout (what ``mteb.ResultCache(cache_path=DIR).load_results(include_remote=False)`` and
``mteb.TaskResult.from_disk`` read): ``DIR/results/<model name, "/" -> "__">/<revision>/<task>.json`` with a
``model_meta.json`` beside the task files. The model name is ``sempa-bench/<model>-<row label>``; the
revision is the method's config hash (plus ``-seed<S>`` for seed-dependent methods). Task names carry a
``bench-`` prefix: STS12-16 and SICK-R here follow SentEval's "all" protocol (subsets concatenated), which
differs from mteb's tasks of the same name; a ``--limit`` result is exported as ``bench-<task>-first<N>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.app.records import ResultRecord
from bench.core.atomic import atomic_write_json
from bench.core.hashing import json_digest

MTEB_METRICS = ("cosine_spearman", "cosine_pearson", "manhattan_spearman", "euclidean_spearman")


@dataclass(frozen=True)
class ExportedTask:
    path: Path
    model_name: str
    revision: str
    task_name: str


def mteb_task_name(record: ResultRecord) -> str:
    suffix = f"-first{record.limit}" if record.limit else ""
    return f"bench-{record.task}{suffix}"


MAX_LABEL = 80  # longer row labels (a --set template) are shortened to a digest: file names have limits


def mteb_model_name(record: ResultRecord) -> str:
    label = record.method.label
    if len(label) > MAX_LABEL:
        label = f"{record.method.name}[{json_digest(label, length=10)}]"
    return f"sempa-bench/{record.model_slug}-{label}"


def mteb_revision(record: ResultRecord) -> str:
    seed = f"-seed{record.seed}" if record.method.training else ""  # trained: one result per seed
    return f"{record.method.config_hash or 'default'}{seed}"


def task_result_json(record: ResultRecord) -> dict:
    """One mteb task-result document (scores as fractions, as mteb stores them)."""
    import mteb

    entry = {name: record.scores[name] / 100 for name in MTEB_METRICS if name in record.scores}
    entry |= {
        "main_score": record.main_score / 100,
        "hf_subset": "default",
        "languages": ["eng-Latn"],
        "n_pairs": record.n_examples,
    }
    return {
        "dataset_revision": "local",
        "task_name": mteb_task_name(record),
        "mteb_version": mteb.__version__,
        "scores": {record.split or "test": [entry]},
        "evaluation_time": record.timing.get("seconds"),
        "kg_co2_emissions": None,
    }


def export_mteb(records: list[ResultRecord], folder: Path) -> list[ExportedTask]:
    """Write every STS record into ``folder`` in mteb's layout; returns what was written."""
    written: list[ExportedTask] = []
    for record in records:
        if record.suite not in ("sts", "sts-dev"):
            continue
        name, revision = mteb_model_name(record), mteb_revision(record)
        model_folder = folder / "results" / name.replace("/", "__").replace(" ", "_") / revision
        path = model_folder / f"{mteb_task_name(record)}.json"
        atomic_write_json(path, task_result_json(record))
        meta = {"name": name, "revision": revision, "framework": ["PyTorch"], "languages": ["eng-Latn"]}
        meta_path = model_folder / "model_meta.json"
        try:
            current = json.loads(meta_path.read_text()) if meta_path.is_file() else None
        except (OSError, ValueError):
            current = None  # damaged: written again
        if current != meta:
            atomic_write_json(meta_path, meta)
        written.append(ExportedTask(path, name, revision, mteb_task_name(record)))
    return written
