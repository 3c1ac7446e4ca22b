"""A catalogue of bad inputs through the real command line (a subprocess each).

Every case must end with exit status 2, exactly one ``bench: error: ...`` line that names the problem,
no traceback, and nothing written to the results folder. Most cases fail before torch is imported;
those that need the model's config or weights use the tiny random Llama of conftest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import write_tiny_nli, write_tiny_sts

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    """One bad input: the arguments (``{model}``, ``{data}``, ``{out}``, ``{dir}`` are filled in), the
    fragment the error line must contain, and an optional change to the case's folder first."""

    id: str
    argv: tuple[str, ...]
    fragment: str
    prepare: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    drop_env: tuple[str, ...] = ()


RUN = ("run", "--model", "{model}", "--data-dir", "{data}", "--out", "{out}")
MEAN = (*RUN, "--methods", "mean", "--tasks", "STSBenchmark")
SEMPA = (*RUN, "--methods", "sempa", "--tasks", "STSBenchmark")
METHOD = (*RUN, "--tasks", "STSBenchmark", "--methods")


def _stsb(folder: Path, split: str = "test") -> Path:
    return folder / "data" / "sts" / "raw" / "STSBenchmark" / f"sts-{split}.csv"


def _edit_stsb_row(row: int, column: int, value: str) -> Callable[[Path], None]:
    def prepare(folder: Path) -> None:
        path = _stsb(folder)
        lines = path.read_text().splitlines()
        cells = lines[row].split("\t")
        cells[column] = value
        lines[row] = "\t".join(cells)
        path.write_text("\n".join(lines) + "\n")

    return prepare


def _write(relative: str, content: str | bytes) -> Callable[[Path], None]:
    def prepare(folder: Path) -> None:
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return prepare


def _remove(relative: str) -> Callable[[Path], None]:
    return lambda folder: (folder / relative).unlink()


def _constant_gold(folder: Path) -> None:
    path = _stsb(folder)
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    path.write_text("".join("\t".join([*r[:4], "2.5", *r[5:]]) + "\n" for r in rows))


def _broken_model(damage: Callable[[Path], None]) -> Callable[[Path], None]:
    """A copy of the tiny model (at ``{dir}/model``) with ``damage`` applied to it."""

    def prepare(folder: Path) -> None:
        shutil.copytree(folder / "tiny-model", folder / "model")
        damage(folder / "model")

    return prepare


def _truncate_weights(model: Path) -> None:
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _garbage_weights(model: Path) -> None:
    weights = model / "model.safetensors"
    weights.write_bytes(os.urandom(weights.stat().st_size))


def _garbage_config(model: Path) -> None:
    (model / "config.json").write_text("{ this is not json")


CASES = [
    # --- the command line itself
    Case("no-command", (), "required: command"),
    Case("unknown-command", ("fly",), "invalid choice: 'fly'"),
    Case("run-without-methods", ("run",), "no methods: pass --methods or a run file"),
    Case("empty-methods", (*RUN, "--methods", ","), "comma-separated list"),
    Case("empty-suite", (*MEAN, "--suite", ","), "comma-separated list"),
    Case("empty-tasks", (*RUN, "--methods", "mean", "--tasks", ","), "comma-separated list"),
    Case("seeds-not-numbers", (*MEAN, "--seeds", "a,b"), "comma-separated integers"),
    Case("seeds-repeated", (*MEAN, "--seeds", "1,1"), "distinct non-negative"),
    Case("seeds-negative", (*MEAN, "--seeds", "0,-1"), "distinct non-negative"),
    Case("seed-not-a-number", (*MEAN, "--seed", "x"), "non-negative integer"),
    Case("seed-negative", (*MEAN, "--seed", "-3"), "non-negative integer"),
    Case("limit-not-a-number", (*MEAN, "--limit", "ten"), "invalid int value"),
    Case("limit-negative", (*MEAN, "--limit", "-1"), "--limit must be"),
    Case("limit-one-pair", (*MEAN, "--limit", "1"), "needs at least 3"),
    Case("limit-two-pairs", (*MEAN, "--limit", "2"), "needs at least 3"),
    Case("batch-size-zero", (*MEAN, "--batch-size", "0"), "--batch-size must be positive"),
    Case("batch-size-text", (*MEAN, "--batch-size", "big"), "invalid int value"),
    Case("dtype-unknown", (*MEAN, "--dtype", "float8"), "unknown dtype 'float8'"),
    Case("device-unknown", (*MEAN, "--device", "gpu"), "unknown device 'gpu'"),
    Case("device-unparsable", (*MEAN, "--device", "cuda:x"), "unknown device 'cuda:x'"),
    Case("device-absent", (*MEAN, "--device", "cuda:99"), "--device cuda:99"),
    Case("resamples-too-few", (*MEAN, "--resamples", "5"), "--resamples must be at least 100"),
    Case("unknown-flag", (*MEAN, "--limt", "5"), "unrecognized arguments: --limt"),
    Case("run-file-missing", (*RUN, "--config", "{dir}/nope.yaml"), "cannot read run file"),
    Case(
        "run-file-unknown-key",
        (*RUN, "--config", "{dir}/run.yaml"),
        "unknown key 'metods'; did you mean 'methods'?",
        _write("run.yaml", "metods: [mean]\n"),
    ),  # fmt: skip
    Case(
        "run-file-bad-limit",
        (*RUN, "--config", "{dir}/run.yaml"),
        "'limit' must be a non-negative integer",
        _write("run.yaml", "methods: [mean]\nlimit: many\n"),
    ),  # fmt: skip
    Case(
        "run-file-bad-setting",
        (*RUN, "--config", "{dir}/run.yaml"),
        "mean: config field 'layer'",
        _write("run.yaml", "methods: [mean]\ntasks: [STSBenchmark]\nsettings: {mean: {layer: x}}\n"),
    ),  # fmt: skip
    Case("ls-no-match", ("ls", "nosuchthing"), "no method or suite name contains 'nosuchthing'"),
    Case("results-none", ("results", "--out", "{out}"), "no stored results"),
    Case("export-none", ("export", "--to", "{dir}/mteb", "--out", "{out}"), "no stored STS results"),
    Case("export-bad-format", ("export", "--format", "csv", "--to", "{dir}/x"), "invalid choice: 'csv'"),
    Case(
        "task-path-unknown", ("task-path", "arc_hard", "--data-dir", "{data}"), "unknown gen task 'arc_hard'"
    ),
    Case("model-path-missing", ("model-path", "{dir}/none.gguf"), "none.gguf not found"),
    # --- names
    Case("unknown-method", (*RUN, "--methods", "promteol"), "did you mean prompteol"),
    Case("unknown-suite", (*MEAN, "--suite", "stss"), "did you mean sts"),
    Case("unknown-task", (*RUN, "--methods", "mean", "--tasks", "STS99"), "unknown task 'STS99'"),
    Case("task-of-other-suite", (*RUN, "--methods", "mean", "--tasks", "mmlu"), "unknown task 'mmlu'"),
    # --- --set values
    Case("set-without-value", (*MEAN, "--set", "layer"), "--set expects"),
    Case("set-without-field", (*MEAN, "--set", "=3"), "--set expects"),
    Case("set-unknown-field", (*MEAN, "--set", "mean.layr=3"), "no field 'layr'"),
    Case("set-unknown-method", (*MEAN, "--set", "nosuch.layer=1"), "unknown method 'nosuch'"),
    Case("set-int-field-text", (*MEAN, "--set", "mean.layer=abc"), "not a valid int"),
    Case("set-bool-field-text", (*MEAN, "--set", "mean.preprocess=maybe"), "not a valid bool"),
    Case("set-choice-unknown", (*MEAN, "--set", "mean.pooling=max"), "not one of last, mean"),
    Case("set-template-no-slot", (*MEAN, "--set", "mean.template=no slot"), "must contain {sentence}"),
    Case(
        "set-placeholder-without-tp",
        (*RUN, "--methods", "prompteol", "--set", "prompteol.template=<PST> {sentence}"),
        "only intervention=tp uses",
    ),
    Case(
        "set-two-placeholders",
        (*RUN, "--methods", "token-prepending", "--set", "token-prepending.template=<PST> <PST> {sentence}"),
        "<PST> at most once",
    ),
    Case(
        "set-tp-with-mean-pooling",
        (*RUN, "--methods", "mean", "--set", "mean.intervention=tp"),
        "needs pooling=last",
    ),
    Case(
        "set-cp-auxiliary-no-slot",
        (*RUN, "--methods", "contrastive-prompting", "--set", "contrastive-prompting.cp_auxiliary=x"),
        "cp_auxiliary' must contain",
    ),
    Case(
        "set-start-layer-zero",
        (*RUN, "--methods", "token-prepending", "--set", "token-prepending.tp_start_layer=0"),
        "must be at least 1",
    ),
    Case("set-unknown-intervention", (*MEAN, "--set", "mean.intervention=xx"), "not one of none, tp, cp"),
    Case("metaeol-bad-prompts", (*METHOD, "metaeol", "--set", "metaeol.meta_prompts=0,9"), "list of 1-8"),
    Case(
        "ensemble-unknown-member",
        (*METHOD, "ck", "--set", "ck.members=pretcot,kee"),
        "member unknown method 'kee'; did you mean ke",
    ),
    Case(
        "ensemble-trained-member",
        (*METHOD, "ensemble", "--set", "ensemble.members=sempa"),
        "'sempa' is trained",
    ),
    Case(
        "ensemble-bad-member-setting",
        (*METHOD, "ensemble", "--set", "ensemble.members=ke[layer]"),
        "'layer' in 'ke[layer]' is not field=value",
    ),
    Case(
        "ensemble-member-bad-value",
        (*METHOD, "ensemble", "--set", "ensemble.members=ke[layer=x]"),
        "ke: config field 'layer'",
    ),  # fmt: skip
    Case("lora-rank-zero", (*SEMPA, "--set", "sempa.lora_r=0"), "sempa: config field 'lora_r'"),
    Case("beta-negative", (*SEMPA, "--set", "sempa.beta=-1"), "must be greater than 0"),
    Case("learning-rate-nan", (*SEMPA, "--set", "sempa.learning_rate=nan"), "not a finite number"),
    Case("warmup-above-one", (*SEMPA, "--set", "sempa.warmup_ratio=2"), "must be at most 1"),
    Case("dropout-one", (*SEMPA, "--set", "sempa.lora_dropout=1"), "must be less than 1"),
    Case("dev-pairs-two", (*SEMPA, "--set", "sempa.dev_pairs=2"), "must be at least 3"),
    Case("unknown-prompt", (*SEMPA, "--set", "sempa.paraphrase_prompt=P9"), "not one of P1"),
    Case(
        "temperature-zero",
        (*RUN, "--methods", "contrastive", "--set", "contrastive.temperature=0"),
        "must be greater than 0",
    ),  # fmt: skip
    Case("train-samples-training-free", (*MEAN, "--train-samples", "10"), "trained methods only"),
    Case("train-samples-zero", (*SEMPA, "--train-samples", "0"), "--train-samples must be positive"),
    # --- values that depend on the model (checked on its config, before the weights load)
    Case("layer-beyond-model", (*MEAN, "--set", "mean.layer=99"), "outside the hidden_states indices -4..3"),
    Case("layer-below-model", (*MEAN, "--set", "mean.layer=-5"), "outside the hidden_states indices"),
    Case(
        "tp-exit-layer-beyond",
        (*RUN, "--methods", "token-prepending", "--set", "token-prepending.tp_exit_layer=10"),
        "tp_exit_layer=10 is not a decoder layer",
    ),  # fmt: skip
    Case(
        "cp-layer-beyond",
        (*RUN, "--methods", "contrastive-prompting", "--set", "contrastive-prompting.cp_layer=3"),
        "cp_layer=3 is not a decoder layer",
    ),  # fmt: skip
    Case(
        "ensemble-member-layer-beyond",
        (*RUN, "--methods", "ensemble", "--set", "ensemble.members=ke[layer=9]"),
        "ke: layer=9 is outside the hidden_states indices",
    ),  # fmt: skip
    # --- models
    Case("model-dir-missing", (*MEAN[:2], "./no/such/dir", *MEAN[3:]), "not found"),
    Case("model-gguf-missing", (*MEAN[:2], "{dir}/x.gguf", *MEAN[3:]), "x.gguf not found"),
    Case(
        "model-unsupported-file",
        (*MEAN[:2], "{dir}/weights.txt", *MEAN[3:]),
        "unsupported model file",
        _write("weights.txt", "nothing"),
    ),  # fmt: skip
    Case(
        "model-dir-no-config",
        (*MEAN[:2], "{dir}/empty", *MEAN[3:]),
        "has no config.json",
        lambda d: (d / "empty").mkdir(),
    ),  # fmt: skip
    Case("model-hub-typo", (*MEAN[:2], "smolm2-135m", *MEAN[3:]), "did you mean smollm2-135m"),
    Case(
        "model-config-garbage",
        (*MEAN[:2], "{dir}/model", *MEAN[3:]),
        "cannot load model",
        _broken_model(_garbage_config),
    ),  # fmt: skip
    Case(
        "model-weights-truncated",
        (*MEAN[:2], "{dir}/model", *MEAN[3:]),
        "cannot load model",
        _broken_model(_truncate_weights),
    ),  # fmt: skip
    Case(
        "model-weights-garbage",
        (*MEAN[:2], "{dir}/model", *MEAN[3:]),
        "cannot load model",
        _broken_model(_garbage_weights),
    ),  # fmt: skip
    # --- data
    Case("data-dir-missing", (*MEAN[:4], "{dir}/nope", *MEAN[5:]), "does not exist"),
    Case(
        "data-dir-unset",
        ("run", "--methods", "mean", "--model", "{model}", "--out", "{out}"),
        "no data directory",
        drop_env=("BENCH_DATA_DIR",),
    ),  # fmt: skip
    Case("data-file-missing", MEAN, "missing data file", _remove("data/sts/raw/STSBenchmark/sts-test.csv")),
    Case("data-gold-not-a-number", MEAN, "sts-test.csv:4: gold score 'n/a'", _edit_stsb_row(3, 4, "n/a")),
    Case(
        "data-gold-out-of-range", MEAN, "sts-test.csv:2: gold score 7.5 outside", _edit_stsb_row(1, 4, "7.5")
    ),
    Case(
        "data-too-few-columns",
        MEAN,
        "sts-test.csv:1: expected at least 7",
        _write("data/sts/raw/STSBenchmark/sts-test.csv", "a\tb\tc\n"),
    ),  # fmt: skip
    Case(
        "data-empty-sentence", MEAN, "sts-test.csv:3: empty sentence in column 6", _edit_stsb_row(2, 5, " ")
    ),
    Case("data-empty-file", MEAN, "no scored pairs", _write("data/sts/raw/STSBenchmark/sts-test.csv", "")),
    Case("data-constant-gold", MEAN, "every gold score is 2.5", _constant_gold),
    Case(
        "data-not-utf8",
        MEAN,
        "not valid UTF-8",
        _write("data/sts/raw/STSBenchmark/sts-test.csv", b"\xff\xfe\x00bad\n"),
    ),  # fmt: skip
    Case(
        "data-sick-header",
        (*RUN, "--methods", "mean", "--tasks", "SICK-R"),
        "unexpected header",
        _write("data/sick/SICK_test_annotated.txt", "id\ta\tb\tscore\n1\tx\ty\t3\n"),
    ),  # fmt: skip
    Case(
        "data-semeval-line-count",
        (*RUN, "--methods", "mean", "--tasks", "STS13"),
        "gold lines but",
        _write("data/sts/raw/STS13-en-test/STS.gs.FNWN.txt", "1.0\n"),
    ),  # fmt: skip
    Case("data-nli-missing", SEMPA, "missing", _remove("data/nli/snli_devtest_triplets.csv")),
    # --- output
    Case(
        "out-is-a-file", (*MEAN[:6], "{dir}/file", *MEAN[7:]), "is a file, not a folder", _write("file", "x")
    ),  # fmt: skip
    Case(
        "out-below-a-file", (*MEAN[:6], "{dir}/file/sub", *MEAN[7:]), "which is a file", _write("file", "x")
    ),  # fmt: skip
    Case("out-not-writable", (*MEAN[:6], "/proc/bench-results", *MEAN[7:]), "is not writable"),
    Case("out-tables-is-a-file", MEAN, "its tables/ folder", _write("out/tables", "x")),
    Case("out-runs-is-a-file", MEAN, "its runs/ folder", _write("out/runs", "x")),
    # --- other subcommands
    Case("table-no-results", ("table", "--out", "{out}"), "no stored results"),
    Case(
        "table-tables-is-a-file",
        ("table", "--out", "{out}"),
        "its tables/ folder",
        lambda d: (_write("out/tables", "x")(d), (d / "out" / "runs").mkdir()),
    ),  # fmt: skip
    Case("compare-no-results", ("compare", "nosuch", "prompteol", "--out", "{out}"), "no stored results"),
    Case(
        "ablate-empty-space",
        ("ablate", "--method", "sempa", "--study", "s", "--data-dir", "{data}", "--out", "{out}"),
        "empty search space",
    ),  # fmt: skip
    Case(
        "ablate-device-unknown",
        (
            "ablate",
            "--method",
            "prompteol",
            "--study",
            "s",
            "--param",
            "layer=choice:-1,-2",
            "--data-dir",
            "{data}",
            "--out",
            "{out}",
            "--device",
            "tpu",
        ),
        "unknown device 'tpu'",
    ),  # fmt: skip
]


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory, tiny_model_dir) -> Path:
    """A data folder (tiny STS and NLI) and the tiny model, copied into every case's folder."""
    folder = tmp_path_factory.mktemp("bad-inputs-base")
    write_tiny_nli(write_tiny_sts(folder / "data"))
    shutil.copytree(tiny_model_dir, folder / "tiny-model")
    return folder


def _run_case(case: Case, folder: Path) -> subprocess.CompletedProcess:
    fill = {"model": str(folder / "tiny-model"), "data": str(folder / "data"), "out": str(folder / "out")}
    fill["dir"] = str(folder)
    argv = list(case.argv)
    for name, value in fill.items():
        argv = [arg.replace("{" + name + "}", value) for arg in argv]
    env = {**os.environ, "BENCH_NO_PROGRESS": "1", "BENCH_CACHE": str(folder / "cache"), **case.env}
    for name in case.drop_env:
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "bench.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def _result_files(out: Path) -> list[Path]:
    return sorted(p for p in (out / "runs").rglob("*") if p.is_file()) if (out / "runs").is_dir() else []


def test_the_catalogue_is_large_and_its_ids_are_unique():
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_ends_in_one_clear_line(case: Case, base_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "case"
    shutil.copytree(base_folder, folder)
    if case.prepare is not None:
        case.prepare(folder)
    proc = _run_case(case, folder)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("bench: error:")]
    assert len(errors) == 1, proc.stderr
    assert case.fragment in errors[0], errors[0]
    assert _result_files(folder / "out") == []


# --- inputs that are accepted with a warning --------------------------------------------------------


def test_set_for_a_method_not_in_the_run_warns(base_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "case"
    shutil.copytree(base_folder, folder)
    case = Case("warn", (*MEAN, "--set", "prompteol.layer=-2", "--limit", "5"), "")
    proc = _run_case(case, folder)
    assert proc.returncode == 0, proc.stderr
    assert "bench: warning: --set prompteol.layer is ignored: 'prompteol' is not in --methods" in proc.stderr
    assert len(_result_files(folder / "out")) == 2  # the result and its predictions


def test_model_flag_for_methods_without_an_llm_warns(base_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "case"
    shutil.copytree(base_folder, folder)
    argv = ("run", "--methods", "mean", "--model", "smolm2-135m", "--data-dir", "{data}", "--out", "{out}")
    proc = _run_case(Case("typo", (*argv, "--tasks", "STSBenchmark"), ""), folder)
    assert proc.returncode == 2  # an LLM method: the typo is an error (did you mean ...)
    sbert = ("run", "--methods", "sbert", "--model", "smolm2-135m", "--data-dir", "{data}", "--out", "{out}")
    proc = _run_case(Case("sbert", (*sbert, "--tasks", "STSBenchmark", "--limit", "5"), ""), folder)
    assert "bench: warning: --model smolm2-135m is not used" in proc.stderr


def test_an_unexpected_error_is_one_line_with_a_log_file(tmp_path: Path) -> None:
    code = (
        "import sys, bench.cli as cli\n"
        "def broken(args):\n"
        "    raise RuntimeError('boom')\n"
        "cli.COMMANDS['ls'] = broken\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    env = {**os.environ, "BENCH_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-c", code, "ls"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if line.strip()]
    assert line.startswith("bench: internal error: RuntimeError: boom (traceback in ")
    log = Path(line.split("traceback in ")[1].split(";")[0])
    logged = log.read_text()
    assert (
        "Traceback (most recent call last)" in logged
        and "in broken" in logged
        and "RuntimeError: boom" in logged
    )
    debug = subprocess.run(
        [sys.executable, "-c", code, "--debug", "ls"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


# --- stored results that are not results --------------------------------------------------------------


# one damaged result file per task (one run covers them all: four commands instead of twenty)
NOT_RESULTS = {
    "STSBenchmark": ("{}", "field 'model' is missing"),
    "STS13": ("[1, 2]", "a JSON list, not an object"),
    "STS14": (
        '{"model": {"name": "m"}, "method": {"name": "x", "label": "x"}, "suite": "sts", "task": "T"}',
        "'main_score' is None",
    ),  # fmt: skip
    "STS15": (
        '{"model": {"name": "m"}, "method": {"name": "x"}, "suite": "sts", "task": "T", "main_score": 1}',
        "'method.label' is missing",
    ),  # fmt: skip
    "STS16": ('{"schema": 1, "model": {"name": "m"', "unreadable result file"),
}


def test_stored_files_that_are_not_results_are_skipped_by_tables_and_recomputed_by_runs(
    base_folder: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "case"
    shutil.copytree(base_folder, folder)
    tasks = ",".join([*NOT_RESULTS, "STS12"])
    run = Case("run", (*RUN, "--methods", "mean", "--tasks", tasks, "--limit", "5"), "")
    assert _run_case(run, folder).returncode == 0
    files = {p.name.split(".")[0]: p for p in _result_files(folder / "out") if p.suffix == ".json"}
    good = {task: json.loads(files[task].read_text()) for task in NOT_RESULTS}
    for task, (content, _) in NOT_RESULTS.items():
        files[task].write_text(content)
    dry = _run_case(Case("dry", (*run.argv, "--dry-run"), ""), folder)
    assert dry.returncode == 0 and "│ compute" in dry.stdout
    for task, (content, reason) in NOT_RESULTS.items():
        assert reason in dry.stderr and files[task].read_text() == content, task  # a dry run moves nothing
    table = _run_case(Case("table", ("table", "--out", "{out}"), ""), folder)
    assert table.returncode == 0, table.stderr
    assert "STS12" in table.stdout  # the other result still makes a table
    for task, (_, reason) in NOT_RESULTS.items():
        assert reason in table.stderr and str(files[task]) in table.stderr, task
    assert table.stderr.count("skipped") >= len(NOT_RESULTS)
    again = _run_case(run, folder)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("moved it aside") == len(NOT_RESULTS)
    for task, (content, _) in NOT_RESULTS.items():
        assert files[task].with_name(files[task].name + ".invalid").read_text() == content
        # recomputed, same number
        assert json.loads(files[task].read_text())["main_score"] == good[task]["main_score"], task
