"""What a finished study leaves in ``results/ablations/<study>/``: every trial as CSV, the best
configuration as JSON, LaTeX and Markdown tables (top trials; one-factor ablations) and Optuna's
matplotlib plots (optimization history, parameter importances, slice, intermediate values)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from bench.ablation.study import AblationRequest, trial_counts
from bench.core.atomic import atomic_write_text
from bench.core.config import build_config
from bench.core.progress import console

DEV = "STS-B dev"


def completed(study: Any) -> list[Any]:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def best_config(study: Any, request: AblationRequest, config_cls: type) -> dict[str, Any]:
    """The best trial: its searched values, the full config they give, and how it was found."""
    best = study.best_trial
    config = build_config(config_cls, {**request.fixed, **best.params})
    return {
        "study": request.study,
        "method": request.method,
        "objective": f"{DEV} Spearman x100 (maximised)",
        "value": best.value,
        "trial": best.number,
        "params": best.params,
        "fixed": request.fixed,
        "overrides": {**request.fixed, **best.params},
        "config": config.to_dict(),
        "is_default": bool(best.user_attrs.get("default")),
        "trials": trial_counts(study),
    }


def top_trials(study: Any, n: int = 10) -> pd.DataFrame:
    """The ``n`` best completed trials: their searched values (as text, 4 significant digits) and score."""
    rows = sorted(completed(study), key=lambda t: t.value, reverse=True)[:n]
    frame = pd.DataFrame(
        [{"trial": t.number, **{k: _shown(v) for k, v in t.params.items()}, DEV: t.value} for t in rows],
    )
    return frame.set_index("trial") if not frame.empty else frame


def one_factor(study: Any, request: AblationRequest, config_cls: type) -> dict[str, pd.DataFrame]:
    """Per searched field: completed trials where every *other* searched field is at its default
    (a paper's ablation table); fields with fewer than two such values are left out."""
    default = build_config(config_cls, request.fixed)
    tables = {}
    for name in request.space.names:
        rows = {}
        for trial in completed(study):
            others = {k: v for k, v in trial.params.items() if k != name}
            if all(getattr(default, k) == v for k, v in others.items()) and name in trial.params:
                rows[trial.params[name]] = max(trial.value, rows.get(trial.params[name], float("-inf")))
        if len(rows) >= 2:
            frame = pd.DataFrame({name: list(rows), DEV: list(rows.values())}).sort_values(
                name, key=lambda c: c.map(_sort_key)
            )
            marked = getattr(default, name)
            frame[name] = [_shown(v) + (" (default)" if v == marked else "") for v in frame[name]]
            tables[name] = frame.set_index(name)
    return tables


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _sort_key(value: Any) -> Any:
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


def _latex(frame: pd.DataFrame, caption: str) -> str:
    styler = frame.style.format("{:.2f}", subset=[DEV]).format_index(escape="latex", axis=0)
    styler = styler.format_index(escape="latex", axis=1)
    if len(frame) > 1:
        styler = styler.highlight_max(subset=[DEV], props="textbf:--rwrap;")
    return styler.to_latex(hrules=True, caption=caption.replace("_", r"\_"))


def _write_table(frame: pd.DataFrame, stem: Path, caption: str) -> list[Path]:
    paths = [stem.with_suffix(".md"), stem.with_suffix(".tex")]
    shown = frame.assign(**{DEV: frame[DEV].map(lambda v: f"{v:.2f}")})
    body = shown.to_markdown(disable_numparse=True, colalign=["left"] * (len(frame.columns) + 1))
    atomic_write_text(paths[0], body + f"\n\n{caption}\n")
    atomic_write_text(paths[1], _latex(frame, caption))
    return paths


OBJECTIVE = "STS-B dev Spearman x 100"
MIN_SPAN = 2.0  # points: a flat study's y-axis spans at least this, so noise does not look like an effect
MIN_TRIALS_FOR_IMPORTANCES = 10


def _widen(axes: Any) -> None:
    """Give the objective axis at least ``MIN_SPAN`` points around its data."""
    low, high = axes.get_ylim()
    if high - low < MIN_SPAN:
        middle = (low + high) / 2
        axes.set_ylim(middle - MIN_SPAN / 2, middle + MIN_SPAN / 2)


def plots(study: Any, folder: Path) -> list[Path]:
    """Optuna's matplotlib plots as PNG (those that apply to this study), with the objective named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    complete = sum(t.state.name == "COMPLETE" for t in study.trials)
    makers = {
        "history": lambda s: ovm.plot_optimization_history(s, target_name=OBJECTIVE),
        "importances": lambda s: ovm.plot_param_importances(s, target_name=OBJECTIVE),
        "slice": lambda s: ovm.plot_slice(s, target_name=OBJECTIVE),
        "intermediate": ovm.plot_intermediate_values,
    }
    written = []
    for name, make in makers.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the matplotlib backend is marked experimental
                axes = make(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            console.print(f"[dim]plot {name} skipped: {str(exc).splitlines()[0] if str(exc) else exc}[/dim]")
            continue
        every = list(axes.flat) if hasattr(axes, "flat") else [axes]
        first = every[0]
        if name in ("history", "slice"):
            for ax in every:
                _widen(ax)
        if name == "intermediate":
            first.set_ylabel(f"{OBJECTIVE} at a training checkpoint")
            _widen(first)
        if name == "importances" and complete < MIN_TRIALS_FOR_IMPORTANCES:
            first.set_title(
                f"Hyperparameter importances: only {complete} completed trials, too few to mean much",
                fontsize=9,
            )
        path = folder / f"{name}.png"
        first.figure.set_size_inches(7, 4.5)
        first.figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(first.figure)
        written.append(path)
    return written


def write_report(study: Any, request: AblationRequest, config_cls: type) -> list[Path]:
    """All the files of a finished study; returns their paths."""
    folder = request.folder
    folder.mkdir(parents=True, exist_ok=True)
    if not completed(study):
        atomic_write_text(folder / "trials.csv", study.trials_dataframe().to_csv(index=False))
        return [folder / "trials.csv"]
    paths = [folder / "trials.csv", folder / "best.json"]
    atomic_write_text(paths[0], study.trials_dataframe().to_csv(index=False))
    best = best_config(study, request, config_cls)
    atomic_write_text(paths[1], json.dumps(best, indent=2, default=str) + "\n")
    counts = trial_counts(study)
    tally = ", ".join(f"{n} {state.lower()}" for state, n in sorted(counts.items()))
    model = request.options.model
    caption = f"{request.method} on {model}: top completed trials of study {request.study} ({tally})"
    paths += _write_table(top_trials(study), folder / "top_trials", caption)
    for name, frame in one_factor(study, request, config_cls).items():
        caption = f"{request.method} on {model}: one-factor ablation of {name} (others at default)"
        paths += _write_table(frame, folder / f"ablation_{name}", caption)
    paths += plots(study, folder)
    return paths
