"""The gen suite: local data conversions, prompt equality with the stock lm-eval tasks, a tiny-model run."""

from __future__ import annotations

import bz2
import csv
import json
from pathlib import Path

import pytest

from bench.core.errors import DataError
from bench.core.options import RuntimeOptions
from suites import gen_data
from suites.gen import GEN_TASKS, render_task, stock_tasks_dir, task_manager
from tests.conftest import SHARED_DATA

needs_data = pytest.mark.skipif(not (SHARED_DATA / "arc").is_dir(), reason="needs ../shared/data")


def _requests(task_name: str, folder: Path, limit: int, num_fewshot: int | None = None) -> list[tuple]:
    """The request arguments (context, continuation / generation args) lm-eval builds for ``limit`` docs."""
    (task,) = task_manager(folder).load([task_name])["tasks"].values()
    if num_fewshot is not None:
        task.set_config(key="num_fewshot", value=num_fewshot)  # as simple_evaluate(num_fewshot=...) does
    task.build_all_requests(limit=limit, rank=0, world_size=1)
    return [tuple(str(a) for a in instance.args) for instance in task.instances]


def _reference_task(tmp_path: Path, stock: str, task: str, docs: dict[str, list[dict]]) -> Path:
    """The stock YAML, unchanged, fed Hugging-Face-format documents written by the test itself."""
    folder = tmp_path / f"ref-{task}"
    folder.mkdir()
    files = {}
    for split, rows in docs.items():
        files[split] = folder / f"{split}.jsonl"
        files[split].write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = {
        "include": str(stock_tasks_dir() / stock),
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": {s: str(p) for s, p in files.items()}},
        # only the splits written here (stock tasks also name a training split, used for few-shot only)
        **{f: None for f in ("training_split", "validation_split", "test_split")},
        **_split_fields(docs),
    }
    import yaml

    (folder / f"{task}.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder


def _split_fields(docs: dict[str, list[dict]]) -> dict[str, str]:
    field = {"validation": "validation_split", "test": "test_split", "dev": "fewshot_split"}
    return {field[s]: s for s in docs}


def _jsonl(path: Path, n: int) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(next(fh)) for _ in range(n)]


@pytest.fixture
def gen_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@needs_data
def test_arc_prompts_match_stock_task(tmp_path, gen_cache):
    raw = _jsonl(SHARED_DATA / "arc/ARC-Easy/ARC-Easy-Test.jsonl", 3)
    hf = [
        {
            "id": r["id"],
            "question": r["question"]["stem"],
            "choices": {
                "text": [c["text"] for c in r["question"]["choices"]],
                "label": [c["label"] for c in r["question"]["choices"]],
            },
            "answerKey": r["answerKey"],
        }
        for r in raw
    ]
    reference = _reference_task(tmp_path, "arc/arc_easy.yaml", "arc_easy", {"test": hf})
    local = render_task(GEN_TASKS["arc_easy"], SHARED_DATA)
    expected = _requests("arc_easy", reference, 3)
    assert expected and _requests("arc_easy", local, 3) == expected
    assert expected[0][0] == f"Question: {raw[0]['question']['stem']}\nAnswer:"


@needs_data
def test_boolq_string_labels_become_the_stock_integers(tmp_path, gen_cache):
    raw = _jsonl(SHARED_DATA / "boolq/val.jsonl", 2)
    hf = [{**r, "label": 1 if r["label"] == "true" else 0} for r in raw]
    reference = _reference_task(tmp_path, "super_glue/boolq/default.yaml", "boolq", {"validation": hf})
    local = render_task(GEN_TASKS["boolq"], SHARED_DATA)
    assert _requests("boolq", local, 2) == _requests("boolq", reference, 2)
    converted = gen_data.boolq(SHARED_DATA / "boolq")["validation"]
    assert [d["label"] for d in converted[:2]] == [h["label"] for h in hf]
    assert sum(d["label"] for d in converted) == 2033  # PROVENANCE: 2033 true


@needs_data
def test_mmlu_five_shot_prompts_match_stock_subject_task(tmp_path, gen_cache):
    def rows(split: str, n: int) -> list[dict]:
        path = SHARED_DATA / f"mmlu/{split}/abstract_algebra_{split}.csv"
        with open(path, newline="", encoding="utf-8") as fh:
            out = [
                {
                    "question": r[0],
                    "subject": "abstract_algebra",
                    "choices": r[1:5],
                    "answer": "ABCD".index(r[5]),
                }
                for r in csv.reader(fh)
            ]
        return out[:n]

    reference = _reference_task(
        tmp_path,
        "mmlu/default/mmlu_abstract_algebra.yaml",
        "mmlu_abstract_algebra",
        {"test": rows("test", 2), "dev": rows("dev", 5)},
    )
    local = render_task(GEN_TASKS["mmlu"], SHARED_DATA)
    shots = GEN_TASKS["mmlu"].num_fewshot
    expected = _requests("mmlu_abstract_algebra", reference, 2, shots)
    assert _requests("mmlu_abstract_algebra", local, 2, shots) == expected
    assert expected[0][0].count("\nAnswer:") == 6  # 5 shots + the question


@needs_data
def test_hellaswag_differs_from_stock_only_by_the_documented_capitalisation(tmp_path, gen_cache):
    with bz2.open(SHARED_DATA / "hellaswag/hellaswag_val_full.txt.bz2", "rt", encoding="utf-8") as fh:
        lines = [next(fh).rstrip("\n") for _ in range(6)]
    # the published first validation example, in Rowan/hellaswag's fields (PROVENANCE.md)
    hf = {
        "activity_label": "Roof shingle removal",
        "ctx_a": "A man is sitting on a roof.",
        "ctx_b": "he",
        "endings": lines[2:],
        "label": "3",
    }
    reference = _reference_task(tmp_path, "hellaswag/hellaswag.yaml", "hellaswag", {"validation": [hf]})
    local = render_task(GEN_TASKS["hellaswag"], SHARED_DATA)
    expected = _requests("hellaswag", reference, 1)
    got = _requests("hellaswag", local, 1)
    assert expected[0][0] == "Roof shingle removal: A man is sitting on a roof. He"
    assert [(c.replace("roof. he", "roof. He"), e) for c, e in got] == expected
    assert "capitalisation" in gen_data.DIFFERENCES["hellaswag"]


@needs_data
def test_conversions_keep_every_item_and_label():
    arc = gen_data.arc(SHARED_DATA / "arc/ARC-Challenge")
    assert [len(arc[s]) for s in ("train", "validation", "test")] == [1119, 299, 1172]
    numeric = [d for d in arc["test"] if d["answerKey"].isdigit()]
    assert len(numeric) == 22  # PROVENANCE: 22 Challenge-test items use 1-4 labels, kept as they are
    piqa = gen_data.piqa(SHARED_DATA / "piqa")["validation"]
    assert len(piqa) == 1838 and sum(d["label"] for d in piqa) == 928
    assert len(gen_data.wikitext(SHARED_DATA / "wikitext2")["test"]) == 62  # lm-eval's wikitext test docs
    tqa = gen_data.truthfulqa(SHARED_DATA / "truthfulqa")["validation"]
    assert len(tqa) == 817 and all(sum(d["mc1_targets"]["labels"]) == 1 for d in tqa)
    mmlu = gen_data.mmlu(SHARED_DATA / "mmlu")
    assert sum(len(v) for k, v in mmlu.items() if k.endswith("/test")) == 14042
    assert len(gen_data.hellaswag(SHARED_DATA / "hellaswag")["validation"]) == 10042


BAD_BOOLQ = '{"question": "q", "passage": "p", "label": "maybe"}\n'
PIQA_ROW = '{"goal": "g", "sol1": "a", "sol2": "b"}\n'


@pytest.mark.parametrize(
    ("converter", "files", "message"),
    [
        (gen_data.boolq, {"val.jsonl": BAD_BOOLQ}, "not true/false"),
        (gen_data.boolq, {"val.jsonl": "{not json\n"}, "not valid JSON"),
        (gen_data.piqa, {"valid.jsonl": PIQA_ROW, "valid-labels.lst": "2\n"}, "label '2'"),
        (gen_data.winogrande, {"dev.jsonl": '{"sentence": "no blank", "answer": "1"}\n'}, "with '_'"),
        (gen_data.lambada, {}, "missing data file"),
    ],
)  # fmt: skip
def test_malformed_gen_data_names_the_file(tmp_path, converter, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        converter(tmp_path)


@needs_data
def test_tiny_model_gen_run_is_shared_by_training_free_methods_and_tabled(
    tiny_model_dir, tmp_path, gen_cache, capfd
):
    from bench.app.records import MethodInfo, ResultRecord
    from bench.app.runner import RunRequest, run
    from bench.app.store import ResultStore
    from bench.app.tables import build_tables, write_table

    request = RunRequest(
        options=RuntimeOptions(
            model=str(tiny_model_dir),
            data_dir=SHARED_DATA,
            out=tmp_path / "out",
            device="cpu",
            show_progress=False,
        ),
        methods=["prompteol", "mean", "sbert"],
        suites=["gen"],
        tasks=["arc_easy", "boolq"],
        limit=3,
    )
    keys = run(request)
    assert "Running loglikelihood requests" not in capfd.readouterr().err  # lm-eval's bars: not in logs
    store = ResultStore(tmp_path / "out")
    assert {k.method for k in keys} == {"base"} and len(set(keys)) == 2  # computed once, sbert skipped
    records = list(store.records())
    assert len(records) == 2
    for record in records:
        assert record.limit == 3 and record.n_examples == 3
        assert record.details["lm_eval"]["n_shot"] and record.details["lm_eval"]["task_config_hash"]
        assert 0 <= record.main_score <= 100
    sts = [
        ResultRecord(model=records[0].model, method=MethodInfo(m, m), suite="sts", task=t, main_score=s)
        for m, s in (("prompteol", 70.0), ("sbert", 80.0)) for t in ("STS12", "STS13")
    ]  # fmt: skip
    tables = {t.suite: t for t in build_tables(records + sts)}
    gen = tables["gen"].frame
    assert list(gen.columns) == ["ARC-E (3)", "BoolQ (3)", "Gen avg", "Δ vs base"]
    assert gen.loc["base", "Gen avg"] == pytest.approx(gen.loc["base", ["ARC-E (3)", "BoolQ (3)"]].mean())
    combined = tables["sts+gen"].frame
    assert combined.loc["prompteol", "Gen avg"] == gen.loc["base", "Gen avg"]
    assert combined.loc["prompteol", "STS avg"] == 70.0
    assert combined.loc["sbert", "Gen avg"] != combined.loc["sbert", "Gen avg"]  # NaN: no causal LM
    paths = write_table(tables["sts+gen"], tmp_path / "tables")
    assert paths[-1].name.endswith("-sts+gen-tradeoff.png") and paths[-1].read_bytes()[:4] == b"\x89PNG"
    # `bench table --methods prompteol` keeps the shared base-model gen results for prompteol's row
    import pandas as pd

    from bench.app.store import ResultKey
    from bench.cli import main

    slug = records[0].model["slug"]
    for record in sts:
        store.write(ResultKey(slug, record.method.name, "x", record.task), record)
    assert main(["table", "--out", str(tmp_path / "out"), "--methods", "prompteol"]) == 0
    table = pd.read_csv(tmp_path / "out" / "tables" / f"{slug}-sts+gen.csv", index_col=0)
    assert table.loc["prompteol", "Gen avg"] == pytest.approx(gen.loc["base", "Gen avg"], abs=1e-3)


def test_default_limits_apply_on_cpu_only_and_zero_means_all():
    from bench.app.runner import effective_limit
    from bench.core.suite import SUITES

    gen, sts = SUITES.get("gen"), SUITES.get("sts")
    assert effective_limit(gen, "mmlu", None, "cpu") == GEN_TASKS["mmlu"].cpu_limit
    assert effective_limit(gen, "mmlu", None, "cuda:0") is None
    assert effective_limit(gen, "mmlu", 0, "cpu") is None
    assert effective_limit(gen, "mmlu", 7, "cpu") == 7
    assert effective_limit(sts, "STS12", None, "cpu") is None


def test_per_document_outcomes_keep_only_the_main_metrics_filter():
    from suites.gen import GEN_TASKS, per_document

    samples = [
        {"doc_id": d, "filter": f, "exact_match": 1.0 if f == "flexible-extract" else float(d == 0)}
        for f in ("strict-match", "flexible-extract") for d in (1, 0)
    ]  # fmt: skip
    got = per_document(GEN_TASKS["gsm8k_cot"], {"samples": {"gsm8k_cot": samples}})
    assert got["exact_match"].tolist() == [1.0, 0.0]  # strict-match only, doc 0 then doc 1
    unfiltered = {"arc_easy": [{"doc_id": 1, "acc_norm": 1.0}, {"doc_id": 0, "acc_norm": 0.0}]}
    assert per_document(GEN_TASKS["arc_easy"], {"samples": unfiltered})["acc_norm"].tolist() == [0, 1]
