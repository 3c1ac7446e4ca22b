"""``bench ablate``: search-space parsing and its errors, tiny end-to-end studies on SQLite, journal
and PostgreSQL storages, several workers, a killed worker, pruning and the report files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.ablation.space import load_space_file, parse_params
from bench.cli import main
from bench.core.errors import BenchError
from bench.core.options import RuntimeOptions
from methods.configs import PromptConfig, SempaConfig

POSTGRES_URL = os.environ.get("BENCH_TEST_POSTGRES_URL")
REPO = Path(__file__).resolve().parents[1]


# --- search spaces ---------------------------------------------------------------------------


def test_params_parse_into_typed_ranges_and_choices():
    space = parse_params(
        [
            "beta=log:0.01:1.0",
            "learning_rate=float:1e-5:1e-3",
            "lora_r=choice:4,8,16",
            "epochs=int:1:3",
            "paraphrase_prompt=choice:P1,P3",
            "chat_template=choice:true,false",
            "lora_alpha=log:8:64",
        ],
        SempaConfig,
    )
    by_name = {p.name: p for p in space.params}
    assert (by_name["beta"].kind, by_name["beta"].low, by_name["beta"].high) == ("log", 0.01, 1.0)
    assert by_name["lora_r"].choices == (4, 8, 16)
    assert by_name["chat_template"].choices == (True, False)
    assert by_name["epochs"].integer and by_name["lora_alpha"].integer
    assert not by_name["beta"].integer
    import optuna

    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    values = space.suggest(trial)
    assert 0.01 <= values["beta"] <= 1.0 and values["lora_r"] in (4, 8, 16)
    assert isinstance(values["lora_alpha"], int) and isinstance(values["epochs"], int)
    assert space.defaults_inside(SempaConfig()) is not None  # every default lies in this space
    assert parse_params(["lora_r=choice:4,16"], SempaConfig).defaults_inside(SempaConfig()) is None


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("nope=log:0.1:1", "has no field 'nope'"),
        ("beta", "expects FIELD=KIND"),
        ("beta=exp:1:2", "must be one of log, float, int, choice"),
        ("beta=log:1:0.1", "LOW must be below HIGH"),
        ("beta=log:0:1", "LOW > 0"),
        ("beta=log:a:1", "finite floats"),
        ("beta=int:1:3", "int ranges need an integer field"),
        ("lora_r=float:4:16", "float ranges need a float field"),
        ("lora_r=int:4:16.5", "finite ints"),
        ("paraphrase_prompt=choice:P1,P9", "'P9' is not one of"),
        ("paraphrase_prompt=log:1:2", "need a numeric field"),
        ("lora_r=choice:", "at least one value"),
        ("lora_r=choice:4,4", "repeated value"),
        ("beta=log:0.1:1:2", "STEP is for int ranges"),
    ],
)
def test_bad_params_name_the_problem(param, message):
    with pytest.raises(BenchError, match=message):
        parse_params([param], SempaConfig)


def test_space_file_forms_and_errors(tmp_path):
    good = tmp_path / "space.yaml"
    good.write_text("beta: log:0.01:1.0\nlora_r: [4, 8]\nepochs: {type: int, low: 1, high: 2}\n")
    space = load_space_file(good, SempaConfig)
    assert space.names == ["beta", "lora_r", "epochs"]
    assert space.params[1].choices == (4, 8)
    with pytest.raises(BenchError, match="does not exist"):
        load_space_file(tmp_path / "missing.yaml", SempaConfig)
    (tmp_path / "bad.yaml").write_text("beta: [unclosed\n")
    with pytest.raises(BenchError, match="not valid YAML"):
        load_space_file(tmp_path / "bad.yaml", SempaConfig)
    (tmp_path / "list.yaml").write_text("- beta\n")
    with pytest.raises(BenchError, match="non-empty mapping"):
        load_space_file(tmp_path / "list.yaml", SempaConfig)


def test_grid_needs_choices():
    with pytest.raises(BenchError, match="beta is a range"):
        parse_params(["beta=log:0.01:1"], SempaConfig).grid()
    assert parse_params(["layer=choice:-1,-2"], PromptConfig).grid() == {"layer": [-1, -2]}


# --- command line errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "nope", "--param", "beta=log:0.1:1"], "unknown method 'nope'"),
        (["--method", "sempa", "--param", "bogus=log:0.1:1"], "no field 'bogus'"),
        (["--method", "sempa"], "empty search space"),
        (
            ["--method", "sempa", "--param", "beta=log:0.1:1", "--set", "beta=0.2"],
            "searched (--param) and fixed",
        ),
        (["--method", "sempa", "--param", "beta=log:0.1:1", "--sampler", "grid"], "beta is a range"),
        (
            ["--method", "sempa", "--param", "beta=log:0.1:1", "--sampler", "cmaes", "--trials", "2"],
            "unknown sampler",
        ),
        (["--method", "sempa", "--param", "beta=log:0.1:1"], "--trials N is required"),
        (["--method", "prompteol", "--param", "layer=int:-3:-1", "--train-samples", "5"], "training-free"),
        (
            ["--method", "sempa", "--param", "lora_dropout=float:0:1", "--trials", "2"],
            "reaches outside the field",
        ),
        (["--method", "sempa", "--param", "lora_r=choice:0,8", "--trials", "2"], "must be at least 1"),
        (
            ["--method", "sempa", "--param", "beta=log:0.1:1", "--trials", "1", "--storage", "nowhere"],
            "--storage",
        ),
    ],
)
def test_ablate_cli_errors_are_one_line(extra, message, tiny_data, tmp_path, capsys):
    argv = ["ablate", "--study", "s", "--data-dir", str(tiny_data), "--out", str(tmp_path / "r"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: error:") and message in err and "\n" not in err
    assert not (tmp_path / "r" / "runs").exists()


# --- pruning -------------------------------------------------------------------------------


def test_pruning_reporter_stops_a_lagging_trial():
    import optuna
    from optuna.trial import create_trial

    from bench.ablation.trial import pruning_reporter

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    dist = optuna.distributions.FloatDistribution(0, 1)
    study.add_trial(create_trial(value=80.0, params={"x": 0.5}, distributions={"x": dist},
                                 intermediate_values={1: 80.0}))  # fmt: skip
    report = pruning_reporter(study.ask())
    report(1, 90.0)  # better than the median: goes on
    with pytest.raises(optuna.TrialPruned):
        pruning_reporter(study.ask())(1, 10.0)


def test_pruned_trials_are_announced_as_pruned():
    import optuna
    from optuna.trial import TrialState, create_trial

    from bench.ablation.study import describe_trial

    dist = {"beta": optuna.distributions.FloatDistribution(0.01, 1.0)}
    pruned = create_trial(state=TrialState.PRUNED, params={"beta": 0.1}, distributions=dist,
                          intermediate_values={4: 81.3})  # fmt: skip
    assert describe_trial(pruned).endswith("(beta=0.1): pruned at step 4 (dev 81.30)")
    done = create_trial(value=81.35, params={"beta": 0.1}, distributions=dist)
    assert describe_trial(done).endswith(": 81.35")


def test_trainer_hook_sees_every_dev_score_and_a_pruned_trial_leaves_the_model_clean(
    tiny_model_dir, tiny_nli_data, cache_env
):
    import optuna
    import torch

    from bench.core.method import METHODS, RunContext
    from bench.core.models import load_model, resolve_model

    loaded = load_model(resolve_model(str(tiny_model_dir)), device="cpu")
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    seen = []

    def stop_at_two(step, value):
        seen.append((step, value))
        if step == 2:
            raise optuna.TrialPruned("test")

    options = RuntimeOptions(data_dir=tiny_nli_data, show_progress=False)
    context = RunContext(load_model=lambda: loaded, options=options, on_dev_score=stop_at_two)
    overrides = {"grad_accum": 1, "eval_every": 1, "train_batch_size": 4, "heldout": 4}
    method = METHODS.get("sempa").from_overrides(overrides, context)
    with pytest.raises(optuna.TrialPruned):
        method.prepare()
    method.release()
    assert [s for s, _ in seen] == [1, 2]
    after = loaded.model.state_dict()
    assert after.keys() == before.keys()  # no LoRA layers left behind
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not method.folder.is_complete()  # a pruned trial leaves no finished adapter


# --- end-to-end studies on the tiny model ---------------------------------------------------

SEMPA_FIXED = ["--set", "grad_accum=1", "--set", "eval_every=1", "--set", "train_batch_size=4",
               "--set", "heldout=4", "--train-samples", "8"]  # fmt: skip


def _ablate(tiny_model_dir, data, out, *extra) -> list[str]:
    return ["ablate", "--model", str(tiny_model_dir), "--data-dir", str(data), "--out", str(out), *extra]


def _study(out: Path, name: str, storage: str | None = None):
    import optuna

    return optuna.load_study(study_name=name, storage=storage or f"sqlite:///{out / 'ablations' / name}.db")


def test_tiny_sempa_study_on_sqlite_reports_evaluates_and_resumes(
    tiny_model_dir, tiny_nli_data, cache_env, tmp_path
):
    out = tmp_path / "results"
    argv = _ablate(tiny_model_dir, tiny_nli_data, out, "--method", "sempa", "--study", "tiny",
                   "--param", "beta=log:0.01:1.0", "--param", "lora_r=choice:4,8", "--trials", "3",
                   "--eval-limit", "6", "--seeds", "0,1", *SEMPA_FIXED)  # fmt: skip
    assert main(argv) == 0
    study = _study(out, "tiny")
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert trials[0].params == {"beta": 0.1, "lora_r": 8} and trials[0].user_attrs["default"]  # trial 0
    assert all(t.intermediate_values for t in trials)  # dev checkpoints were reported
    folder = out / "ablations" / "tiny"
    for name in ("trials.csv", "best.json", "top_trials.md", "top_trials.tex", "history.png"):
        assert (folder / name).is_file(), name
    best = json.loads((folder / "best.json").read_text())
    assert best["value"] == study.best_value and best["config"]["beta"] == best["params"]["beta"]
    assert best["config"]["train_samples"] == 8
    labels = {
        json.loads(p.read_text())["method"]["label"] for p in (out / "runs").rglob("STS12.limit6.*json")
    }
    assert "sempa[best]" in labels  # scored once on the test suite under its own row label
    seeds = {p.name.split(".")[2] for p in (out / "runs").rglob("STS12.limit6.seed*.json")}
    assert seeds == {"seed0", "seed1"}  # the final evaluation ran with both seeds
    assert "sempa[best]" in (out / "tables" / "tiny-llama0-sts-first6.md").read_text()
    # resume: one more trial; the first three are untouched
    assert main([*argv[: -len(SEMPA_FIXED)], "--trials", "4", *SEMPA_FIXED]) == 0
    again = _study(out, "tiny").get_trials()
    assert len(again) == 4 and [t.value for t in again[:3]] == [t.value for t in trials]
    # same study name, different space: refused
    changed = [a if a != "lora_r=choice:4,8" else "lora_r=choice:4,16" for a in argv]
    assert main(changed) == 2


def test_one_factor_grid_ablation_of_a_training_free_method(tiny_model_dir, tiny_data, tmp_path):
    out = tmp_path / "results"
    argv = _ablate(tiny_model_dir, tiny_data, out, "--method", "prompteol", "--study", "layers",
                   "--sampler", "grid", "--param", "layer=choice:-1,-2,-3", "--evaluate", "none")  # fmt: skip
    assert main(argv) == 0
    trials = _study(out, "layers").get_trials()
    assert sorted(t.params["layer"] for t in trials) == [-3, -2, -1]
    table = (out / "ablations" / "layers" / "ablation_layer.md").read_text()
    assert "-1 (default)" in table and "-3" in table
    # each trial is a stored sts-dev result: a rerun of the same grid recomputes nothing
    stored = sorted((out / "runs").rglob("STSBenchmark-dev.*json"))
    assert len(stored) == 3


def _worker(tiny_model_dir, data, out, storage, study, trials) -> subprocess.Popen:
    argv = _ablate(tiny_model_dir, data, out, "--method", "prompteol", "--study", study,
                   "--sampler", "random", "--param", "layer=int:-3:-1", "--trials", str(trials),
                   "--storage", storage, "--evaluate", "none", "--worker-only")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "bench.cli", *argv], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _check_shared_study(storage_obj, study_name: str, n: int) -> None:
    import optuna

    trials = optuna.load_study(study_name=study_name, storage=storage_obj).get_trials()
    states = [t.state.name for t in trials]
    assert "RUNNING" not in states and "WAITING" not in states  # none lost
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert n <= len(complete) <= n + 1  # both workers may start a last trial at the same instant
    assert len({t.number for t in trials}) == len(trials)  # none duplicated
    assert all(t.user_attrs["worker"]["pid"] for t in complete)


def _two_workers(tiny_model_dir, data, out, storage, study, n):
    workers = [_worker(tiny_model_dir, data, out, storage, study, n) for _ in range(2)]
    for w in workers:
        _, err = w.communicate(timeout=600)
        assert w.returncode == 0, err[-2000:]


def test_two_workers_share_a_journal_storage(tiny_model_dir, tiny_data, tmp_path):
    from bench.ablation.study import open_storage

    out = tmp_path / "results"
    journal = tmp_path / "shared.journal"
    _two_workers(tiny_model_dir, tiny_data, out, f"journal:{journal}", "pair", 6)
    _check_shared_study(open_storage(f"journal:{journal}", 60, 2), "pair", 6)


def test_ablate_workers_flag_starts_more_processes(tiny_model_dir, tiny_data, tmp_path):
    out = tmp_path / "results"
    argv = _ablate(tiny_model_dir, tiny_data, out, "--method", "prompteol", "--study", "multi", "--sampler",
                   "random", "--param", "layer=int:-3:-1", "--trials", "4", "--workers", "2",
                   "--evaluate", "none")  # fmt: skip
    assert main(argv) == 0
    journal = out / "ablations" / "multi.journal"  # several workers: a journal file by default
    from bench.ablation.study import open_storage

    _check_shared_study(open_storage(f"journal:{journal}", 60, 2), "multi", 4)
    assert (out / "ablations" / "multi" / "best.json").is_file()


def test_a_killed_worker_is_recovered_and_the_study_completes(tiny_model_dir, tiny_data, tmp_path):
    """A worker killed (SIGKILL) mid-trial leaves a RUNNING trial; the restarted study fails it,
    runs its retry and finishes all trials."""
    import optuna

    from bench.ablation.study import open_storage

    out = tmp_path / "results"
    journal = f"journal:{tmp_path / 'killed.journal'}"
    argv = _ablate(tiny_model_dir, tiny_data, out, "--method", "prompteol", "--study", "killed", "--sampler",
                   "random", "--param", "layer=int:-3:-1", "--trials", "3", "--storage", journal,
                   "--evaluate", "none")  # fmt: skip
    # the victim opens the study exactly as `bench ablate` does, starts a trial and hangs in it
    script = (
        "import sys, time\n"
        "from bench import cli\n"
        "from bench.ablation.study import open_storage, open_study, worker_identity\n"
        "from bench.ablation.space import parse_params\n"
        "from methods.configs import PromptConfig\n"
        "import bench.ablation.flow as flow\n"
        "def hang(request, argv, *a, **k):\n"
        "    storage = open_storage(request.storage, 60, 2)\n"
        "    study = open_study(request, storage, create=True)\n"
        "    trial = study.ask()\n"
        "    trial.set_user_attr('worker', worker_identity())\n"
        "    request.space.suggest(trial)\n"
        "    print('running', flush=True)\n"
        "    time.sleep(600)\n"
        "flow.run_ablation = hang\n"
        "cli.main(sys.argv[1:])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    victim = subprocess.Popen([sys.executable, "-c", script, *argv], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert victim.stdout.readline().strip() == "running"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    storage = open_storage(journal, 60, 2)
    assert [t.state.name for t in optuna.load_study(study_name="killed", storage=storage).trials] == [
        "RUNNING"
    ]
    assert main(argv) == 0  # the restart
    trials = optuna.load_study(study_name="killed", storage=open_storage(journal, 60, 2)).trials
    assert trials[0].state.name == "FAIL"
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert len(retried) == 1 and retried[0].state.name == "COMPLETE"
    assert retried[0].params == trials[0].params  # the same configuration, run again
    assert sum(t.state.name == "COMPLETE" for t in trials) == 3
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]


# an extra worker that starts a trial and dies in it (SIGKILL), left unreaped (a zombie) by its parent
DYING_WORKER = (
    "import os, signal, sys\n"
    "import optuna\n"
    "from bench.ablation.study import open_storage, worker_identity\n"
    "study = optuna.load_study(study_name=sys.argv[2], storage=open_storage(sys.argv[1], 60, 2))\n"
    "trial = study.ask()\n"
    "trial.set_user_attr('worker', worker_identity())\n"
    "trial.suggest_int('layer', -3, -1)\n"
    "os.kill(os.getpid(), signal.SIGKILL)\n"
)


def test_an_extra_worker_killed_mid_trial_is_recovered_in_the_same_run(
    tiny_model_dir, tiny_data, tmp_path, monkeypatch, capsys
):
    """`--workers 2` whose extra worker dies mid-trial: its trial (the worker a zombie until reaped)
    is failed and queued again by the main process, which completes the study and exits 0."""
    import optuna

    import bench.ablation.flow as flow
    from bench.ablation.study import open_storage

    def spawn(argv, storage, count):
        return [subprocess.Popen([sys.executable, "-c", DYING_WORKER, storage, "dying"], cwd=REPO)]

    monkeypatch.setattr(flow, "spawn_workers", spawn)
    out = tmp_path / "results"
    argv = _ablate(tiny_model_dir, tiny_data, out, "--method", "prompteol", "--study", "dying", "--sampler",
                   "random", "--param", "layer=int:-3:-1", "--trials", "3", "--workers", "2",
                   "--evaluate", "none")  # fmt: skip
    assert main(argv) == 0
    assert "worker process(es) ended with exit status -9" in capsys.readouterr().err
    journal = out / "ablations" / "dying.journal"
    trials = optuna.load_study(study_name="dying", storage=open_storage(f"journal:{journal}", 60, 2)).trials
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(failed) == 1 and failed[0].user_attrs["worker"]["pid"] != os.getpid()
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(retried) == 1 and retried[0].state.name == "COMPLETE"
    assert sum(t.state.name == "COMPLETE" for t in trials) >= 3
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]


@pytest.mark.skipif(POSTGRES_URL is None, reason="set BENCH_TEST_POSTGRES_URL (.ci/run starts a server)")
def test_two_workers_share_a_postgresql_study(tiny_model_dir, tiny_data, tmp_path):
    import optuna

    from bench.ablation.study import open_storage

    name = f"pg-{os.getpid()}-{int(time.time())}"
    _two_workers(tiny_model_dir, tiny_data, tmp_path / "results", POSTGRES_URL, name, 5)
    storage = open_storage(POSTGRES_URL, 60, 2)
    _check_shared_study(storage, name, 5)
    optuna.delete_study(study_name=name, storage=storage)


def test_study_plots_name_the_objective_and_do_not_magnify_a_flat_study(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    import optuna

    from bench.ablation import report

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    for value in (81.30, 81.33, 81.35):
        trial = study.ask({"beta": optuna.distributions.FloatDistribution(0.01, 1.0, log=True)})
        study.tell(trial, value)
    figures = []
    monkeypatch.setattr(plt, "close", lambda figure: figures.append(figure))
    paths = report.plots(study, tmp_path)
    assert {p.name for p in paths} >= {"history.png", "slice.png"} and all(
        p.stat().st_size > 0 for p in paths
    )
    history = figures[[p.name for p in paths].index("history.png")].axes[0]
    assert history.get_ylabel() == report.OBJECTIVE
    low, high = history.get_ylim()
    assert high - low >= report.MIN_SPAN  # 0.05 points of spread are not drawn across the whole plot
    if "importances.png" in {p.name for p in paths}:
        importances = figures[[p.name for p in paths].index("importances.png")].axes[0]
        assert "too few" in importances.get_title()


@pytest.mark.parametrize(
    "race",
    [
        '(psycopg.errors.DuplicateTable) relation "studies" already exists',
        "(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint",
    ],
)
def test_a_worker_that_loses_the_race_to_create_the_schema_retries(monkeypatch, race):
    import optuna.storages

    from bench.ablation import study

    calls = []

    class Racing:  # loses the race twice, then finds the schema the other worker made
        error = race

        def __init__(self, url, heartbeat_stale_trial_callback=None, **_):
            calls.append(url)
            if len(calls) < 3 or self.error != race:
                raise RuntimeError(self.error)

    monkeypatch.setattr(optuna.storages, "RDBStorage", Racing)
    monkeypatch.setattr(study.time, "sleep", lambda seconds: None)
    assert isinstance(study.open_storage("postgresql://x/db", 60, 2), Racing) and len(calls) == 3
    calls.clear()
    Racing.error = "could not connect to server"  # any other error is not retried
    with pytest.raises(BenchError, match="cannot open study storage postgresql://x/db: could not connect"):
        study.open_storage("postgresql://x/db", 60, 2)
    assert len(calls) == 1
