"""The ``gen`` suite: does a method keep the model's generative ability? (lm-evaluation-harness)

Every task is lm-eval's stock task configuration, ``include:``-d unchanged except for where the data
comes from: a rendered YAML points ``dataset_path: json`` at the local files (converted once into the
stock fields by ``suites.gen_data``) and drops splits that are not available locally (e.g. the training
split some tasks name but only use for few-shot examples when ``num_fewshot > 0``). Tasks load with
``TaskManager(include_path=..., include_defaults=False)``, so lm-eval never indexes its 14,000 YAMLs.

The model scored is the causal LM the method leaves behind: the base model for training-free methods
(one result, shared by all of them, stored as method ``base``) and the adapted model for trained ones,
with the LoRA adapter merged into a copy of the weights for speed (the method's own model is untouched).
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.core.errors import BenchError
from bench.core.hashing import json_digest
from bench.core.lora_merge import is_peft_model, merged_for_inference
from bench.core.progress import progress_enabled
from bench.core.settings import cache_dir
from bench.core.suite import Evaluand, Suite, TaskOutcome
from suites import gen_data
from suites import gen_data as C
from suites.gen_data import LocalData

SPLIT_FIELDS = ("training_split", "validation_split", "test_split", "fewshot_split")


@dataclass(frozen=True)
class GenTask:
    """One lm-eval task (or group) run from local data."""

    name: str  # lm-eval task or group name, unchanged
    label: str  # table column
    stock: str  # stock YAML (or, for a group, its folder) relative to lm_eval/tasks
    data: LocalData
    metric: str  # main metric as lm-eval reports it, "<metric>,<filter>"
    cpu_limit: int  # default --limit on CPU (documented in the README)
    higher_is_better: bool = True
    num_fewshot: int | None = None  # None: the stock config's own (MMLU's is 0; the paper uses 5)

    @property
    def metric_name(self) -> str:
        return self.metric.split(",")[0]


_TASKS = [
    # name, column, stock config, (data folder, converter, files read), main metric, CPU default limit
    GenTask("mmlu", "MMLU", "mmlu/default", LocalData("mmlu", C.mmlu, "[td]e[sv]*/*.csv"), "acc,none", 2,
            num_fewshot=5),
    GenTask("gsm8k_cot", "GSM8K-CoT", "gsm8k/gsm8k-cot.yaml", LocalData("gsm8k", C.gsm8k, "test.jsonl"),
            "exact_match,strict-match", 10),
    GenTask("truthfulqa_mc1", "TruthfulQA", "truthfulqa/truthfulqa_mc1.yaml",
            LocalData("truthfulqa", C.truthfulqa, "v0/mc_task.json"), "acc,none", 100),
    GenTask("hellaswag", "HellaSwag", "hellaswag/hellaswag.yaml",
            LocalData("hellaswag", C.hellaswag, "*.bz2"), "acc_norm,none", 100),
    GenTask("arc_easy", "ARC-E", "arc/arc_easy.yaml", LocalData("arc/ARC-Easy", C.arc, "*.jsonl"),
            "acc_norm,none", 100),
    GenTask("arc_challenge", "ARC-C", "arc/arc_challenge.yaml",
            LocalData("arc/ARC-Challenge", C.arc, "*.jsonl"), "acc_norm,none", 100),
    GenTask("piqa", "PIQA", "piqa/piqa.yaml", LocalData("piqa", C.piqa, "valid*"), "acc_norm,none", 100),
    GenTask("winogrande", "WinoGrande", "winogrande/default.yaml",
            LocalData("winogrande", C.winogrande, "dev.jsonl"), "acc,none", 100),
    GenTask("boolq", "BoolQ", "super_glue/boolq/default.yaml", LocalData("boolq", C.boolq, "val.jsonl"),
            "acc,none", 100),
    GenTask("lambada_openai", "LAMBADA", "lambada/lambada_openai.yaml",
            LocalData("lambada_openai", C.lambada, "lambada_test.jsonl"), "acc,none", 100),
    GenTask("wikitext", "WikiText-2 ppl", "wikitext/wikitext.yaml",
            LocalData("wikitext2", C.wikitext, "wiki.test.raw"), "word_perplexity,none", 3,
            higher_is_better=False),
]  # fmt: skip
GEN_TASKS: dict[str, GenTask] = {task.name: task for task in _TASKS}


def stock_tasks_dir() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent


def _local_config(stock_yaml: Path, files: dict[str, Path]) -> dict[str, Any]:
    """The stock YAML included as is, with the data source replaced and unavailable splits dropped."""
    from lm_eval.tasks._yaml_loader import load_yaml

    stock = load_yaml(stock_yaml, resolve_func=False)
    config: dict[str, Any] = {
        "include": str(stock_yaml),
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": {split: str(path) for split, path in files.items()}},
    }
    for field in SPLIT_FIELDS:
        if stock.get(field) is not None and stock[field] not in files:
            config[field] = None
    return config


def render_task(task: GenTask, data_dir: Path, root: Path | None = None) -> Path:
    """Write the local task YAMLs for ``task`` into a folder of their own and return it."""
    root = root or cache_dir() / "lm-eval"
    files = task.data.materialise(data_dir, root / "data")
    stock = stock_tasks_dir() / task.stock
    documents: dict[str, str] = {}
    if stock.is_dir():  # a group: one local YAML per subtask, the group files copied verbatim
        for path in sorted(stock.glob("*.yaml")):
            if path.name.startswith("_"):  # group definitions (no data): copied as they are
                documents[path.name] = path.read_text(encoding="utf-8")
                continue
            subject = yaml.safe_load(path.read_text(encoding="utf-8"))["dataset_name"]
            subject_files = {s.split("/")[1]: p for s, p in files.items() if s.split("/")[0] == subject}
            if not subject_files:
                raise BenchError(f"{task.name}: no local data for subtask {path.stem} (subject {subject})")
            documents[path.name] = yaml.safe_dump(_local_config(path, subject_files), sort_keys=False)
    else:
        documents[f"{task.name}.yaml"] = yaml.safe_dump(_local_config(stock, files), sort_keys=False)
    digest = json_digest(documents)
    folder = root / "tasks" / f"{task.name}-{digest}"
    if not (folder / ".complete").is_file():
        from bench.core.atomic import atomic_write_text

        for name, text in documents.items():
            atomic_write_text(folder / name, text)
        atomic_write_text(folder / ".complete", "")
    return folder


def task_manager(folder: Path):
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(folder), include_defaults=False)


def config_hash(configs: dict[str, Any]) -> str:
    """Hash of the fully resolved task configurations lm-eval ran (functions by name)."""
    return json_digest(configs)


def parse_results(task: GenTask, results: dict[str, Any]) -> dict[str, Any]:
    """Metrics of ``task`` from lm-eval's output: accuracies x 100, perplexities as they are."""
    values = results["results"][task.name]
    scores, stderr = {}, {}
    for key, value in values.items():
        if not isinstance(value, int | float) or "," not in key:
            continue
        metric = key.split(",")[0]
        target = stderr if metric.endswith("_stderr") else scores
        name = key if key.split(",")[1] != "none" else metric
        scale = 1.0 if "perplexity" in metric or "bits_per_byte" in metric else 100.0
        target[name] = round(float(value) * scale, 4)
    main = task.metric if task.metric.split(",")[1] != "none" else task.metric_name
    if main not in scores:
        raise BenchError(f"lm-eval returned no {task.metric} for {task.name} (got {sorted(values)})")
    n_samples = results.get("n-samples", {})
    subtasks = [t for t in results.get("configs", {}) if t != task.name]
    n_examples = sum(v.get("effective", 0) for k, v in n_samples.items() if k in (subtasks or [task.name]))
    return {
        "scores": scores,
        "stderr": stderr,
        "main": main,
        "n_examples": n_examples,
        "n_shot": results.get("n-shot", {}),
        "versions": results.get("versions", {}),
        "config_hash": config_hash(results.get("configs", {})),
        "splits": sorted(
            {c.get("test_split") or c.get("validation_split") for c in results["configs"].values()}
        ),
    }


def per_document(task: GenTask, results: dict[str, Any]) -> dict[str, np.ndarray]:
    """The main metric of every scored document (lm-eval's logged samples), subtasks in name order and
    documents in ``doc_id`` order; empty when lm-eval logged no per-document numbers (e.g. perplexity).

    A task with several filters (GSM8K-CoT: strict-match and flexible-extract) logs each document once
    per filter; only the main metric's filter is kept."""
    metric, _, wanted = task.metric.partition(",")
    samples = results.get("samples") or {}
    values = []
    for subtask in sorted(samples):
        logged = [s for s in samples[subtask] if s.get("filter", wanted) == wanted]
        for sample in sorted(logged, key=lambda s: s.get("doc_id", 0)):
            value = sample.get(metric)
            if not isinstance(value, int | float):
                return {}
            values.append(float(value))
    return {metric: np.asarray(values, dtype=np.float64)} if values else {}


class GenSuite(Suite):
    """lm-eval generation benchmarks on the causal LM a method leaves behind."""

    name = "gen"
    description = (
        "lm-eval stock tasks on local data: MMLU 5-shot, GSM8K-CoT 8-shot, TruthfulQA MC1, HellaSwag, "
        "ARC-E/C, PIQA, WinoGrande, BoolQ, LAMBADA, WikiText-2 ppl"
    )
    scores_causal_lm = True
    limit_per_task = True

    def task_names(self) -> list[str]:
        return list(GEN_TASKS)

    def spec(self, task: str) -> GenTask:
        if task not in GEN_TASKS:
            raise BenchError(f"suite gen has no task {task!r} (tasks: {', '.join(GEN_TASKS)})")
        return GEN_TASKS[task]

    def default_limit(self, task: str, device: str) -> int | None:
        return None if device.startswith("cuda") else self.spec(task).cpu_limit

    def column_label(self, task: str) -> str:
        return self.spec(task).label

    def higher_is_better(self, task: str) -> bool:
        return self.spec(task).higher_is_better

    def data_files(self, task: str, data_dir: Path) -> list[Path]:
        return self.spec(task).data.sources(data_dir)

    def task_folder(self, task: str, data_dir: Path) -> Path:
        """The folder of the task's local YAML (lm-eval's ``--include_path``), rendered if needed."""
        return render_task(self.spec(task), data_dir)

    def average_label(self) -> str | None:
        return "Gen avg"

    def evaluate(self, evaluand: Evaluand, task: str, data_dir: Path, limit: int | None) -> TaskOutcome:
        spec = self.spec(task)
        loaded = evaluand.causal_lm()
        if loaded is None:
            raise BenchError(f"{evaluand.name} has no causal LM to run generation benchmarks on")
        folder = render_task(spec, data_dir)
        start = time.perf_counter()
        with merged_for_inference(loaded.model) as model:
            results = self._simple_evaluate(
                harness_model(model, loaded.tokenizer, evaluand.batch_size),
                spec,
                folder,
                limit,
                evaluand.seed,
            )
        if results is None:
            raise BenchError(f"lm-eval returned no results for {task}")
        parsed = parse_results(spec, results)
        return TaskOutcome(
            scores=parsed["scores"],
            main_metric=parsed["main"],
            n_examples=parsed["n_examples"],
            split=",".join(s for s in parsed["splits"] if s),
            stats={"lm_eval_seconds": round(time.perf_counter() - start, 3)},
            predictions=per_document(spec, results),
            details={
                "stderr": parsed["stderr"],
                "lm_eval": {
                    "task": spec.name,
                    "stock_config": spec.stock,
                    "task_config_hash": parsed["config_hash"],
                    "n_shot": parsed["n_shot"],
                    "versions": parsed["versions"],
                    "local_tasks": str(folder),
                    "difference": gen_data.DIFFERENCES.get(spec.name),
                },
                "adapter_merged": is_peft_model(loaded.model),
                "higher_is_better": spec.higher_is_better,
            },
        )

    @staticmethod
    def _simple_evaluate(lm: Any, spec: GenTask, folder: Path, limit: int | None, seed: int) -> dict | None:
        from lm_eval import simple_evaluate

        # lm-eval print()s "bootstrapping for stddev: ..." per bootstrapped metric: stdout is for data
        with contextlib.redirect_stdout(sys.stderr):
            return simple_evaluate(
                model=lm,
                tasks=[spec.name],
                task_manager=task_manager(folder),
                limit=limit,
                num_fewshot=spec.num_fewshot,
                bootstrap_iters=1000,
                log_samples=True,  # per-document outcomes, for paired tests
                random_seed=seed,
                numpy_random_seed=seed,
                torch_random_seed=seed,
                fewshot_random_seed=seed,
            )


def harness_model(model: Any, tokenizer: Any, batch_size: int) -> Any:
    """lm-eval's HF model around a loaded model. Its "Running ... requests" bars pass their own
    ``disable`` flag (so TQDM_DISABLE does not reach them): they are drawn only when bench shows progress
    on a terminal, never as a line per refresh in a log file."""
    from lm_eval.models.huggingface import HFLM

    if progress_enabled() and sys.stderr.isatty():
        return HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)

    class QuietHFLM(HFLM):
        def loglikelihood(self, requests, disable_tqdm: bool = False):
            return super().loglikelihood(requests, disable_tqdm=True)

        def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
            return super().loglikelihood_rolling(requests, disable_tqdm=True)

        def generate_until(self, requests, disable_tqdm: bool = False):
            return super().generate_until(requests, disable_tqdm=True)

    return QuietHFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)


GEN_SUITE = GenSuite()
