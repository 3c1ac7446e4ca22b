"""The ``bench`` command line: ``ls``, ``run``, ``table``."""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from bench.core.errors import BenchError
from bench.core.settings import DEFAULT_RESULTS_DIR

if TYPE_CHECKING:
    from bench.core.options import RuntimeOptions


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one ``bench: error: ...`` line (exit 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"bench: error: {message} (see `{self.prog} --help`)\n")


def _csv(value: str) -> list[str]:
    """Comma-separated names; commas inside ``[...]`` belong to a row label (``sempa[a=1,b=2]``)."""
    parts = [part.strip() for part in re.split(r",(?![^\[]*\])", value) if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of names, got {value!r}")
    return parts


def _seeds(value: str) -> list[int]:
    try:
        seeds = [int(part) for part in _csv(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {value!r}") from None
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"seeds must be distinct non-negative integers, got {value!r}")
    return seeds


def _seed(value: str) -> int:
    try:
        seed = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is a non-negative integer, got {value!r}") from None
    if seed < 0:
        raise argparse.ArgumentTypeError(f"a seed is a non-negative integer, got {value!r}")
    return seed


def _overrides(pairs: Sequence[str], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--set prompteol.layer=-2`` (one method) or ``--set layer=-2`` (every method in the run)."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BenchError(f"--set expects METHOD.FIELD=VALUE or FIELD=VALUE, got {pair!r}")
        method, dot, name = key.rpartition(".")
        targets = [method] if dot else list(methods)
        for target in targets:
            out.setdefault(target, {})[name] = value
    return out


EXAMPLES = {
    "bench": """examples:
  bench ls prompteol                                  # one method's config fields
  bench run --methods prompteol,sbert --tasks STSBenchmark
  bench run --config configs/demo.yaml --dry-run      # the plan, nothing computed
  bench table --baseline prompteol > tables.md
  bench compare sempa prompteol --limit 400""",
    "ls": """examples:
  bench ls                  # every method and suite
  bench ls sempa            # methods/suites whose name contains 'sempa', with their fields""",
    "run": """examples:
  bench run --methods prompteol,mean --suite sts
  bench run --methods prompteol --suite sts-dev --set prompteol.layer=-2
  bench run --methods sempa,prompteol --seeds 0,1,2 --limit 400 --baseline prompteol
  bench run --config configs/trained-400.yaml --set sempa.beta=0.3
  bench run --config configs/demo.yaml --dry-run""",
    "ablate": """examples:
  bench ablate --method sempa --study beta --sampler grid --param beta=choice:0.05,0.1,0.3
  bench ablate --method sempa --study tpe --trials 20 --param learning_rate=log:3e-5:1e-3""",
    "table": """examples:
  bench table                                  # rebuild every table from the stored results
  bench table --baseline prompteol --suite sts > sts.md
  bench table --config configs/controls-1200.yaml   # just that run file's rows, against its baseline""",
    "compare": """examples:
  bench compare sempa prompteol --limit 400""",
    "curves": """examples:
  bench curves --methods sempa,sempa-reversed   # results/tables/<model>-dev-curves-sempa+sempa-reversed.png
  bench curves --methods sempa,contrastive --to docs/all-data-dev-curves.png""",
    "results": """examples:
  bench results                 # every stored result
  bench results --method sempa  # only rows of methods whose name contains 'sempa'""",
    "export": """examples:
  bench export --format mteb --to mteb-results
  # then in Python: mteb.ResultCache("mteb-results").load_results(include_remote=False)""",
    "model-path": """examples:
  bench model-path smollm2-135m   # the local transformers folder (lm-eval's pretrained=)""",
    "cache": """examples:
  bench cache           # namespaces (model, method config, adapter), vectors and MB
  bench cache --clear   # delete every cached vector (results stay)""",
    "task-path": """examples:
  lm_eval --model hf --model_args pretrained=$(bench model-path),peft=ADAPTER_DIR \\
      --include_path $(bench task-path arc_easy) --tasks arc_easy --limit 100   # offline""",
}


def _subcommand(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    return sub.add_parser(
        name, help=help_text, epilog=EXAMPLES.get(name), formatter_class=argparse.RawDescriptionHelpFormatter
    )


def _add_out(parser: argparse.ArgumentParser, default: Path | None = DEFAULT_RESULTS_DIR) -> None:
    """``--out`` (with lm-eval's and mteb's spellings accepted as aliases)."""
    parser.add_argument(
        "--out",
        "--output_path",
        "--output-folder",
        dest="out",
        type=Path,
        default=default,
        help="results folder (default: results)",
    )


def _add_common(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``run`` and ``ablate``: model, data, output, seed, device."""
    parser.add_argument(
        "--model", default=None, help="alias (smollm2-135m, gemma3-270m), .gguf file, model dir or hub id"
    )
    parser.add_argument("--seed", type=_seed, default=0, help="seed of every random choice (default: 0)")
    _add_out(parser, default=None)
    parser.add_argument("--data-dir", default=None, help="benchmark data root (default: $BENCH_DATA_DIR)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument(
        "--dtype",
        default=None,
        help="float32, bfloat16, float16; int8: gated CPU lane (default: fp32 on CPU, bf16 on CUDA)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=16, help="encoding batch size (scores do not depend on it)"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars or log lines on stderr")
    parser.add_argument(
        "--no-cache", action="store_true",
        help="neither read nor write the persistent embedding cache (see `bench cache`)",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="bench",
        description="Sentence embeddings from generative LLMs: benchmarks and ablations.",
        epilog=EXAMPLES["bench"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of an unexpected error on stderr"
    )
    parser.add_argument("--version", action="version", version=f"bench (sempa-bench) {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    ls = _subcommand(sub, "ls", "list methods (with their config fields) and suites (with their tasks)")
    ls.add_argument("name", nargs="?", default=None, help="only methods and suites whose name contains this")

    run = _subcommand(sub, "run", "evaluate methods on suites and store every result")
    run.add_argument(
        "--methods",
        "--method",
        dest="methods",
        type=_csv,
        default=None,
        help="comma-separated method names (see `bench ls`); required unless the run file names them",
    )
    run.add_argument(
        "--suite",
        "--suites",
        dest="suite",
        type=_csv,
        default=None,
        help="comma-separated suites (default: sts)",
    )
    run.add_argument(
        "--config", type=Path, default=None, help="a YAML run file (see configs/); flags override it"
    )
    run.add_argument(
        "--dry-run", action="store_true", help="print what would be computed and reused, then exit"
    )
    run.add_argument("--tasks", type=_csv, default=None, help="only these tasks of the suites")
    run.add_argument(
        "--seeds",
        type=_seeds,
        default=None,
        help="comma-separated seeds for seed-dependent (trained) methods, e.g. 0,1,2; training-free "
        "methods are computed once (default: --seed)",
    )
    run.add_argument(
        "--limit",
        type=int,
        default=None,
        help="score only the first N examples per task; 0: all (default: all; gen: per-task CPU limits)",
    )
    run.add_argument("--overwrite", action="store_true", help="recompute results that are already stored")
    run.add_argument(
        "--retrain",
        action="store_true",
        help="train adapters again from the start, even when the cache has them or an interrupted training "
        "left a resume state",
    )
    run.add_argument(
        "--train-samples", type=int, default=None, help="cap on training examples for trained methods"
    )
    _add_common(run)
    _add_comparison_options(run)
    run.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="[METHOD.]FIELD=VALUE",
        help="change a method config field, e.g. --set prompteol.layer=-2 (repeatable)",
    )

    ablate = _subcommand(
        sub, "ablate", "Optuna study over a method's config fields, scored on STS-B dev (never a test split)"
    )
    ablate.add_argument("--method", "--methods", dest="method", required=True, help="the method searched")
    ablate.add_argument("--study", required=True, help="study name (resumes when it exists)")
    ablate.add_argument("--trials", type=int, default=None, help="total trials (grid: default its size)")
    ablate.add_argument("--space", type=Path, default=None, help="YAML search space: FIELD: SPEC")
    ablate.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="FIELD=SPEC",
        help="searched field: log:LOW:HIGH, float:LOW:HIGH, int:LOW:HIGH[:STEP] or choice:A,B,C (repeatable)",
    )
    ablate.add_argument(
        "--sampler",
        default="tpe",
        help="tpe (default), random, or grid (every combination of the --param choices; with one --param "
        "a one-factor ablation)",
    )
    ablate.add_argument(
        "--pruner",
        default=None,
        help="median or none (default: median; with --sampler grid: none, every value is wanted in full)",
    )
    ablate.add_argument(
        "--storage",
        default=None,
        help="Optuna storage: an RDB URL (sqlite:///..., postgresql://...) or journal:PATH "
        "(default: results/ablations/STUDY.db; with --workers > 1 a journal file)",
    )
    ablate.add_argument("--workers", type=int, default=1, help="worker processes on this machine")
    ablate.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="fixed config field for every trial (repeatable)",
    )
    ablate.add_argument("--train-samples", type=int, default=None, help="trained methods: cap on examples")
    ablate.add_argument(
        "--dev-pairs", type=int, default=None, help="STS-B dev pairs the objective uses (default: all 1,500)"
    )
    ablate.add_argument(
        "--evaluate",
        type=_csv,
        default=["sts"],
        help="suites the best and the default configuration are scored on after the study "
        "(default: sts; 'none' to skip)",
    )
    ablate.add_argument("--eval-limit", type=int, default=None, help="--limit for that evaluation")
    ablate.add_argument(
        "--seeds", type=_seeds, default=None, help="seeds of that evaluation, e.g. 0,1,2 (default: --seed)"
    )
    ablate.add_argument("--heartbeat", type=int, default=60, help="RDB heartbeat interval in seconds")
    ablate.add_argument("--worker-only", action="store_true", help=argparse.SUPPRESS)
    _add_common(ablate)

    table = _subcommand(sub, "table", "rebuild comparison tables from stored results (no computation)")
    _add_out(table)
    table.add_argument("--model", default=None, help="only this model (alias or slug)")
    table.add_argument("--suite", type=_csv, default=None, help="only these suites")
    table.add_argument("--methods", type=_csv, default=None, help="only these methods, in this order")
    table.add_argument(
        "--config",
        type=Path,
        default=None,
        help="only the rows of this run file (its methods, settings, limit, seeds) and its baseline",
    )
    table.add_argument(
        "--data-dir", default=None, help="with --config: the data the run read (default: $BENCH_DATA_DIR)"
    )
    _add_comparison_options(table)

    compare = _subcommand(sub, "compare", "paired report for two rows of stored results (A vs B)")
    compare.add_argument("a", help="method name or row label of A")
    compare.add_argument("b", help="method name or row label of B (the baseline)")
    compare.add_argument("--suite", default="sts", help="suite of the two rows (default: sts)")
    compare.add_argument(
        "--limit", type=int, default=None, help="which limit, when a row has several (0: all)"
    )
    compare.add_argument("--model", default=None, help="only results of this model (slug or namespace)")
    _add_out(compare)
    _add_comparison_options(compare)

    curves = _subcommand(
        sub, "curves", "plot the STS-B dev curves (vs samples seen) of trained rows on one figure, with a CSV"
    )
    curves.add_argument("--methods", type=_csv, required=True, help="trained methods or row labels, in order")
    curves.add_argument("--model", default=None, help="only results of this model (slug or namespace)")
    curves.add_argument(
        "--to",
        type=Path,
        default=None,
        help="PNG to write (default: <out>/tables/<model>-dev-curves-<m1>+<m2>.png)",
    )
    _add_out(curves)

    results = _subcommand(sub, "results", "list the stored results as a table (stdout)")
    _add_out(results)
    results.add_argument("--method", default=None, help="only methods whose name contains this")
    results.add_argument("--suite", default=None, help="only this suite")

    export = _subcommand(sub, "export", "write stored results in another tool's format")
    export.add_argument("--format", choices=["mteb"], default="mteb", help="target format (mteb)")
    export.add_argument("--to", type=Path, required=True, help="folder to write (mteb: a ResultCache root)")
    _add_out(export)

    model_path = _subcommand(
        sub, "model-path", "print the local transformers folder of a model (converting once)"
    )
    model_path.add_argument(
        "model", nargs="?", default=None, help="alias, .gguf file or folder (default: smollm2-135m)"
    )
    task_path = _subcommand(
        sub, "task-path", "print the folder of a gen task's local lm-eval YAML (lm_eval --include_path)"
    )
    task_path.add_argument("task", help="a task of the gen suite, e.g. arc_easy (see `bench ls gen`)")
    task_path.add_argument("--data-dir", default=None, help="benchmark data root (default: $BENCH_DATA_DIR)")
    cache = _subcommand(sub, "cache", "list (or clear) the persistent embedding cache")
    cache.add_argument("--clear", action="store_true", help="delete every cached vector")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sempa-bench")
    except PackageNotFoundError:
        return "unknown (not installed)"


def cmd_ls(args: argparse.Namespace) -> None:
    from rich.table import Table

    from bench.core.method import METHODS, describe_config
    from bench.core.progress import data_console
    from bench.core.suite import SUITES

    methods = Table(title="methods", title_justify="left")
    methods.add_column("name", style="bold")
    methods.add_column("description")
    methods.add_column("config fields (default)")
    wanted = (args.name or "").lower()
    method_names = [n for n in METHODS.names() if wanted in n.lower()]
    suite_items = [(n, suite) for n, suite in SUITES.items() if wanted in n.lower()]
    if not method_names and not suite_items:
        raise BenchError(f"no method or suite name contains {args.name!r} (see `bench ls`)")
    for name in method_names:
        config = METHODS.attribute(name, "Config")  # the config class only: no model code is imported
        bounds = config.field_bounds()
        fields = "\n".join(
            f"{f}: {t} = {d!r}" + (f" ({bounds[f]})" if f in bounds else "")
            for f, t, d, _ in config.describe_fields()
        )
        methods.add_row(name, describe_config(config), fields)
    suites = Table(title="suites", title_justify="left")
    suites.add_column("name", style="bold")
    suites.add_column("description")
    suites.add_column("tasks")
    for name, suite in suite_items:
        suites.add_row(name, suite.description, ", ".join(suite.task_names()))
    if method_names:
        data_console.print(methods)
    if suite_items:
        data_console.print(suites)


def _add_comparison_options(parser: argparse.ArgumentParser) -> None:
    """``--baseline`` and the bootstrap settings, shared by ``run``, ``table`` and ``compare``."""
    parser.add_argument(
        "--baseline", default=None, help="compare every row with this method or row label (paired CI, p)"
    )
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default: 10000)")
    parser.add_argument("--stats-seed", type=int, default=0, help="seed of the bootstrap (default: 0)")


def _check_comparison_options(args: argparse.Namespace) -> None:
    if args.resamples < 100:
        raise BenchError(f"--resamples must be at least 100, got {args.resamples}")


def _emit_tables(
    out: Path,
    records,
    method_order=None,
    write: bool = True,
    show: bool = True,
    args: argparse.Namespace | None = None,
) -> None:
    from bench.app.store import ResultStore
    from bench.app.tables import build_tables, print_table, write_table
    from bench.app.verdict import write_verdict
    from bench.core.progress import console

    baseline = getattr(args, "baseline", None)
    tables = build_tables(
        records,
        method_order,
        baseline=baseline,
        predictions=ResultStore(out).predictions if baseline else None,
        n_resamples=getattr(args, "resamples", 10_000),
        seed=getattr(args, "stats_seed", 0),
    )
    if not tables:
        raise BenchError(f"no stored results under {out / 'runs'} match")
    for table in tables:
        if show:
            print_table(table)
        if write:
            paths = write_table(table, out / "tables") + write_verdict(table, out / "tables")
            console.print(f"[dim]written: {', '.join(str(p) for p in paths)}[/dim]")


def _refresh_table_files(
    out: Path,
    run_records: list,
    method_order=None,
    show: bool = False,
    args: argparse.Namespace | None = None,
) -> None:
    """Rewrite the table files of every model a run touched from *all* its stored results (the
    combined STS + gen table needs both suites, whichever one this run computed); ``show`` prints the
    same tables."""
    from bench.app.store import ResultStore

    models = {r.model_namespace for r in run_records}
    stored = [r for r in ResultStore(out).records() if r.model_namespace in models or r.shared_across_models]
    _emit_tables(out, stored, method_order, show=show, args=args)


def runtime_options(args: argparse.Namespace) -> RuntimeOptions:
    """The run-wide options of ``run`` and ``ablate``, validated once."""
    from bench.core.models import DEFAULT_MODEL
    from bench.core.options import RuntimeOptions
    from bench.core.progress import set_quiet
    from bench.core.settings import data_dir

    set_quiet(args.quiet)
    return RuntimeOptions(
        model=args.model or DEFAULT_MODEL,
        data_dir=data_dir(args.data_dir),
        out=args.out or DEFAULT_RESULTS_DIR,
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        seed=args.seed,
        cache_embeddings=not args.no_cache,
    )


def apply_run_file(args: argparse.Namespace) -> dict[str, Any]:
    """Fill the flags the user did not give from ``--config`` (a flag wins over the file; ``--set``
    adds to the file's settings) and the remaining defaults; returns the resolved run configuration."""
    from bench.app.runfile import RunFile, as_set_flags, load_run_file

    run_file = load_run_file(args.config) if args.config else RunFile()
    for flag, value in (
        ("methods", run_file.methods), ("suite", run_file.suites), ("tasks", run_file.tasks),
        ("model", run_file.model), ("seeds", run_file.seeds), ("limit", run_file.limit),
        ("train_samples", run_file.train_samples), ("baseline", run_file.baseline),
        ("data_dir", run_file.data_dir), ("out", Path(run_file.out) if run_file.out else None),
    ):  # fmt: skip
        if getattr(args, flag) is None and value is not None:
            setattr(args, flag, value)
    if not args.methods:
        raise BenchError("no methods: pass --methods or a run file (--config) that lists them")
    # the file's settings for methods this run leaves out (e.g. --methods narrowed it) do not apply
    in_run = {name: settings for name, settings in run_file.settings.items() if name in args.methods}
    args.settings = as_set_flags(in_run) + list(args.settings)
    if run_file.train_samples is not None and args.train_samples == run_file.train_samples:
        from bench.core.method import METHODS

        if not any(METHODS.get(name).trains for name in args.methods):
            args.train_samples = None  # the file's cap; no trained method left in this run
    args.suite = args.suite or ["sts"]
    args.out = args.out or DEFAULT_RESULTS_DIR
    return {
        "config_file": str(args.config) if args.config else None,
        "methods": args.methods, "suites": args.suite, "tasks": args.tasks, "model": args.model,
        "seeds": args.seeds, "seed": args.seed, "limit": args.limit, "train_samples": args.train_samples,
        "baseline": args.baseline, "settings": list(args.settings),
    }  # fmt: skip


def _run_request(args: argparse.Namespace, resolved: dict[str, Any]):
    """The :class:`RunRequest` of ``bench run``'s parsed (and run-file-resolved) arguments."""
    from bench.app.runner import RunRequest

    return RunRequest(
        methods=args.methods,
        suites=args.suite,
        options=runtime_options(args),
        tasks=args.tasks,
        limit=args.limit,
        overwrite=args.overwrite,
        overrides=_overrides(args.settings, args.methods),
        retrain=args.retrain,
        train_samples=args.train_samples,
        seeds=args.seeds,
        run_config=resolved,
    )


def _records_of_run_file(args: argparse.Namespace) -> tuple[list, list[str], str | None]:
    """The stored results a run file covers (its methods with its settings, suites, limit, seeds), in
    its method order, and its baseline; results it has not computed yet are left out with a warning."""
    from bench.app.runner import plan
    from bench.app.store import ResultStore
    from bench.core.progress import warn

    argv = ["run", "--config", str(args.config), "--out", str(args.out)]
    argv += ["--data-dir", str(args.data_dir)] if args.data_dir else []  # the data digest is in the keys
    run_args = build_parser().parse_args(argv)
    resolved = apply_run_file(run_args)
    steps = [step for step in plan(_run_request(run_args, resolved)) if not step.repeat]
    store = ResultStore(args.out)
    missing = [step for step in steps if not step.stored]
    if len(missing) == len(steps):
        raise BenchError(
            f"none of the {len(steps)} results of {args.config} is stored yet (bench run --config)"
        )
    if missing:
        warn(
            f"{len(missing)} of the {len(steps)} results of {args.config} are not stored yet (first: "
            f"{missing[0].label} / {missing[0].task}); `bench run --config {args.config}` computes them"
        )
    records = [store.read(step.key) for step in steps if step.stored]
    return records, list(run_args.methods), run_args.baseline


def cmd_run(args: argparse.Namespace) -> None:
    from bench.app.runner import plan, run
    from bench.app.store import ResultStore
    from bench.core.distributed import is_main_process, launched

    resolved = apply_run_file(args)
    if launched():
        _check_launch(args)
    if args.limit is not None and args.limit < 0:
        raise BenchError(f"--limit must be a number of examples (0: all), got {args.limit}")
    _check_comparison_options(args)
    request = _run_request(args, resolved)
    if args.dry_run:
        from bench.app.listings import print_plan

        print_plan(plan(request), ResultStore(args.out), request.options.data_dir)
        return
    keys = run(request)
    if not is_main_process():  # inside a multi-process launch the main process writes and shows
        return
    store = ResultStore(args.out)
    records = [store.read(k) for k in keys]
    # console = files (with this run's --baseline, if any); rows in the tables' own stable order
    _refresh_table_files(args.out, records, show=True, args=args)
    from bench.core.progress import console

    console.print(f"results: {store.runs}  tables: {args.out / 'tables'}")


def _check_launch(args: argparse.Namespace) -> None:
    """``bench run`` inside ``accelerate launch``: the STS suite only, and only the main process talks."""
    from bench.core.distributed import is_main_process
    from bench.core.progress import set_quiet

    if args.suite and "gen" in args.suite:
        raise BenchError(
            "the gen suite runs in one process (lm-eval shards its own work: "
            "accelerate launch -m lm_eval ...); run `bench run --suite gen` without accelerate launch"
        )
    if args.dry_run:
        raise BenchError("--dry-run changes nothing: run it without accelerate launch")
    if args.dtype == "int8":
        raise BenchError("--dtype int8 is a one-process CPU lane: run it without accelerate launch")
    if not is_main_process():
        args.quiet = True
        set_quiet(True)


def cmd_ablate(args: argparse.Namespace) -> None:
    from bench.ablation.flow import run_ablation
    from bench.ablation.space import load_space_file, parse_params
    from bench.ablation.study import AblationRequest
    from bench.core.distributed import launched
    from bench.core.method import METHODS

    if launched():
        raise BenchError(
            "bench ablate runs its trials in one process (--workers for parallel trials); "
            "run it without accelerate launch"
        )
    args.out = args.out or DEFAULT_RESULTS_DIR
    cls = METHODS.get(args.method)
    if args.space and args.params:
        raise BenchError("give the search space either as --space FILE or as --param, not both")
    space = load_space_file(args.space, cls.Config) if args.space else parse_params(args.params, cls.Config)
    fixed = _overrides(args.settings, [args.method]).get(args.method, {})
    dev_pairs = None
    for flag, value in (("--train-samples", args.train_samples), ("--dev-pairs", args.dev_pairs)):
        if value is not None and value < 1:
            raise BenchError(f"{flag} must be positive, got {value}")
    if args.train_samples is not None:
        if not cls.trains:
            raise BenchError(f"--train-samples applies to trained methods; {args.method} is training-free")
        fixed.setdefault("train_samples", args.train_samples)
    if args.dev_pairs is not None:
        if cls.trains:
            fixed.setdefault("dev_pairs", args.dev_pairs)  # the trainer's checkpoint selection = objective
        else:
            dev_pairs = args.dev_pairs
    evaluate = [] if args.evaluate == ["none"] else args.evaluate
    from bench.app.runner import check_runtime
    from bench.core.suite import SUITES

    for suite in evaluate:
        SUITES.get(suite)
    options = runtime_options(args)
    check_runtime(options)
    request = AblationRequest(
        method=args.method,
        study=args.study,
        space=space,
        options=options,
        trials=args.trials,
        sampler=args.sampler,
        pruner=args.pruner or ("none" if args.sampler == "grid" else "median"),
        storage=args.storage,
        workers=args.workers,
        fixed=fixed,
        dev_pairs=dev_pairs,
        heartbeat=args.heartbeat,
        eval_seeds=args.seeds,
    )
    outcome = run_ablation(request, args.argv, args.worker_only, evaluate, args.eval_limit)
    if outcome and outcome.get("keys"):
        from bench.app.store import ResultStore

        store = ResultStore(args.out)
        records = [store.read(k) for k in outcome["keys"]]
        _emit_tables(args.out, records, write=False)
        _refresh_table_files(args.out, records)


def cmd_table(args: argparse.Namespace) -> None:
    from bench.app.records import BASE_ROW
    from bench.app.store import ResultStore
    from bench.core.atomic import check_writable_folder

    store = ResultStore(args.out)
    if not store.runs.is_dir():
        raise BenchError(f"no stored results: {store.runs} does not exist (run `bench run` first)")
    check_writable_folder(args.out / "tables", f"--out {args.out}: its tables/ folder")
    store.remove_stale_temp_files()
    if args.config:
        if args.methods or args.suite or args.model:
            raise BenchError("--config names the rows itself: drop --methods, --suite and --model")
        records, order, run_baseline = _records_of_run_file(args)
        args.baseline = args.baseline or run_baseline
        _check_comparison_options(args)
        _emit_tables(args.out, records, order, args=args)
        return
    records = list(store.records())
    if args.model:
        wanted = {args.model, args.model.replace("/", "__")}
        records = [
            r
            for r in records
            if r.shared_across_models or wanted & {r.model_slug, r.model_namespace, r.model.get("name")}
        ]
    if args.suite:
        records = [r for r in records if r.suite in args.suite]
    if args.methods:
        # the base row holds the generation scores every training-free method shares
        keep = {*args.methods, BASE_ROW}
        records = [r for r in records if r.method.name in keep]
    _check_comparison_options(args)
    _emit_tables(args.out, records, args.methods, args=args)


def cmd_compare(args: argparse.Namespace) -> None:
    from bench.app.compare import compare_rows
    from bench.app.report import print_comparison
    from bench.app.store import ResultStore

    _check_comparison_options(args)
    store = ResultStore(args.out)
    records = [r for r in store.records() if r.suite == args.suite]
    if args.model:
        records = [
            r for r in records if r.shared_across_models or args.model in (r.model_slug, r.model_namespace)
        ]
    rows = [_select_row(records, name, args.limit) for name in (args.a, args.b)]
    comparison = compare_rows(rows[0], rows[1], store.predictions, args.resamples, args.stats_seed)
    print_comparison(comparison)


def _select_row(records: list, name: str, limit: int | None) -> list:
    """The results of one table row: the row label (or, when no label is ``name``, the method name) at one
    limit, every seed."""
    chosen = [r for r in records if r.method.label == name] or [r for r in records if r.method.name == name]
    if not chosen:
        raise BenchError(f"no stored results for {name!r} in this suite")
    chosen = [r for r in chosen if r.details.get("predictions")]  # results of earlier versions lack them
    if not chosen:
        raise BenchError(f"the results of {name!r} have no stored predictions; rerun them with --overwrite")
    models = {r.model_namespace for r in chosen}
    if len(models) > 1:
        raise BenchError(
            f"{name!r} has results of several models ({', '.join(sorted(models))}); pass --model"
        )
    labels = {r.method.label for r in chosen}
    if len(labels) > 1:
        raise BenchError(f"{name!r} matches several rows ({', '.join(sorted(labels))}); name one of them")
    limits = {r.limit or 0 for r in chosen}
    wanted = limit if limit is not None else (limits.pop() if len(limits) == 1 else None)
    if wanted is None:
        shown = ", ".join(str(x) if x else "all" for x in sorted(limits))
        raise BenchError(f"{name!r} was scored with several limits ({shown}); pass --limit")
    chosen = [r for r in chosen if (r.limit or 0) == wanted]
    if not chosen:
        raise BenchError(f"no stored results for {name!r} with --limit {wanted}")
    return chosen


def cmd_curves(args: argparse.Namespace) -> None:
    from bench.app.curves import curves_file_name, curves_frame, dev_curves, plot_dev_curves
    from bench.app.store import ResultStore
    from bench.core.atomic import atomic_write_text, check_writable_folder
    from bench.core.progress import console

    if args.to is not None and args.to.suffix.lower() != ".png":
        raise BenchError(f"--to {args.to}: the figure is written as PNG; give a path ending in .png")
    store = ResultStore(args.out)
    if not store.runs.is_dir():
        raise BenchError(f"no stored results: {store.runs} does not exist (run `bench run` first)")
    records = list(store.records())
    if args.model:
        records = [r for r in records if args.model in (r.model_slug, r.model_namespace, r.model.get("name"))]
        if not records:
            raise BenchError(f"no stored results of model {args.model!r} under {store.runs}")
    wanted = [r for r in records if {r.method.name, r.method.label} & set(args.methods)]
    models = sorted({r.model_slug for r in wanted})
    if len(models) > 1:
        raise BenchError(f"the methods have results of several models ({', '.join(models)}); pass --model")
    curves = dev_curves(wanted, args.methods)
    png = args.to or args.out / "tables" / curves_file_name(models[0], args.methods)
    check_writable_folder(png.parent, "--to" if args.to else f"--out {args.out}: its tables/ folder")
    title = f"{models[0]}: STS-B dev vs training samples seen (* kept)"
    plot_dev_curves(curves, png, title)
    csv = png.with_suffix(".csv")
    atomic_write_text(csv, curves_frame(curves).to_csv(index=False))
    for curve in curves:
        points = ", ".join(f"{p.samples}: {p.stsb_dev:.2f}" for p in curve.points)
        print(f"{curve.row} (seed {curve.seed}): {points}")
    console.print(f"wrote {png} and {csv}")


def cmd_results(args: argparse.Namespace) -> None:
    from bench.app.listings import print_results
    from bench.app.store import ResultStore

    records = list(ResultStore(args.out).records())
    if args.method:
        records = [r for r in records if args.method.lower() in r.method.name.lower()]
    if args.suite:
        records = [r for r in records if r.suite == args.suite]
    if not records:
        raise BenchError(f"no stored results under {args.out / 'runs'} match")
    print_results(records)


def cmd_export(args: argparse.Namespace) -> None:
    from bench.app.export import export_mteb
    from bench.app.store import ResultStore
    from bench.core.atomic import check_writable_folder
    from bench.core.progress import console

    check_writable_folder(args.to, "--to")
    records = list(ResultStore(args.out).records())
    written = export_mteb(records, args.to)
    if not written:
        raise BenchError(f"no stored STS results under {args.out / 'runs'} to export")
    models = sorted({w.model_name for w in written})
    console.print(
        f"wrote {len(written)} task results of {len(models)} model rows under {args.to / 'results'}"
    )
    for item in written:
        print(item.path)


def cmd_model_path(args: argparse.Namespace) -> None:
    from bench.core.models import DEFAULT_MODEL, resolve_model

    spec = resolve_model(args.model or DEFAULT_MODEL)
    if spec.kind == "hub":
        raise BenchError(f"{spec.name!r} is a hub id, not a local model: pass it to lm-eval as it is")
    print(spec.path)


def cmd_task_path(args: argparse.Namespace) -> None:
    from bench.core.settings import data_dir
    from bench.core.suite import SUITES

    gen = SUITES.get("gen")
    if args.task not in gen.task_names():
        raise BenchError(f"unknown gen task {args.task!r} (tasks: {', '.join(gen.task_names())})")
    print(gen.task_folder(args.task, data_dir(args.data_dir)))


def cmd_cache(args: argparse.Namespace) -> None:
    """The embedding cache's namespaces (what computed them, how many vectors, size) on stdout."""
    import json

    from rich.table import Table

    from bench.core.embedding_cache import EmbeddingCache
    from bench.core.progress import console, data_console
    from bench.core.settings import embedding_cache_path

    cache = EmbeddingCache(embedding_cache_path())
    if args.clear:
        removed = cache.clear()
        console.print(f"removed {removed} cached vectors from {cache.path}")
        return
    table = Table(title=f"embedding cache {cache.path}")
    for column in ("namespace", "model", "method", "config", "adapter", "dim", "vectors", "MB"):
        table.add_column(column)
    total = 0.0
    for entry in cache.summary():
        what = json.loads(entry.description)
        model = (what.get("model") or {}).get("name", "-")
        cells = (entry.namespace[:12], model, what.get("method"), what.get("config_hash"),
                 what.get("adapter") or "-", entry.dim, entry.vectors, f"{entry.megabytes:.1f}")  # fmt: skip
        table.add_row(*map(str, cells))
        total += entry.megabytes
    data_console.print(table)
    console.print(f"{total:.1f} MB in {cache.path}")
    _print_interrupted_trainings()


def _print_interrupted_trainings() -> None:
    """The trainings an interrupted run left (the next ``bench run`` of the same settings resumes them)."""
    from rich.table import Table

    from bench.core.progress import data_console
    from bench.training.adapters import interrupted_trainings

    found = interrupted_trainings()
    if not found:
        return
    table = Table(title="interrupted trainings (the next run of the same settings resumes them)")
    for column in ("folder", "after step", "samples seen", "MB", "STS-B dev so far (samples: score)"):
        table.add_column(column)
    for item in found:
        table.add_row(str(item.folder), f"{item.step} of {item.steps}", str(item.samples_seen),
                      f"{item.megabytes:.1f}", item.dev_so_far())  # fmt: skip
    data_console.print(table)


COMMANDS = {
    "ls": cmd_ls,
    "run": cmd_run,
    "ablate": cmd_ablate,
    "table": cmd_table,
    "compare": cmd_compare,
    "curves": cmd_curves,
    "results": cmd_results,
    "export": cmd_export,
    "model-path": cmd_model_path,
    "task-path": cmd_task_path,
    "cache": cmd_cache,
}


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the hub is opt-in: set HF_HUB_OFFLINE=0 to use it
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    from bench.core.quiet import silence_dependencies

    silence_dependencies()  # each silenced message is listed, with why, in bench/core/quiet.py
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = [a for a in argv if a != "--debug"]  # `bench ablate --workers K` reuses the arguments
    try:
        COMMANDS[args.command](args)
    except BenchError as exc:
        print(f"bench: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; finished results are stored, re-run to resume", file=sys.stderr)
        return 130
    except OSError as exc:  # the environment: disk full, permissions, a file removed underneath us
        log = _write_traceback_log(argv)
        print(f"bench: error: {_one_line(exc)} (traceback in {log})", file=sys.stderr)
        if args.debug:
            traceback.print_exc()
        return 2
    except Exception as exc:  # noqa: BLE001 - a bug: one line for the user, the traceback in a file
        log = _write_traceback_log(argv)
        print(
            f"bench: internal error: {type(exc).__name__}: {_one_line(exc)} (traceback in {log}; "
            "--debug prints it; please report it)",
            file=sys.stderr,
        )
        if args.debug:
            traceback.print_exc()
        return 1
    return 0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _write_traceback_log(argv: Sequence[str]) -> Path | str:
    """Write the current exception's traceback to a log file; returns its path."""
    import tempfile
    import time

    from bench.core.settings import cache_dir

    text = f"bench {' '.join(argv)}\n\n{traceback.format_exc()}"
    try:
        folder = cache_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path(tempfile.gettempdir())
    path = folder / f"bench-error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        path.write_text(text, encoding="utf-8")
    except OSError:
        return "(no log: nowhere writable)"
    return path


if __name__ == "__main__":
    sys.exit(main())
