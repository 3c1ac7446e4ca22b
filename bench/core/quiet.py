"""Dependency noise that the command line silences, each entry with why (one place to review them).

Only messages a user cannot act on are silenced; bench's own warnings and every error still show.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

# Environment defaults (a user's own setting wins).
ENVIRONMENT = {
    # transformers/huggingface_hub "Loading weights" and "Fetching files" bars: bench draws its own
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    # datasets' map/filter bars inside mteb and lm-eval, one per task: bench's progress says where it is
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    # "huggingface/tokenizers: The current process just got forked ..." when lm-eval or a test forks
    "TOKENIZERS_PARALLELISM": "false",
}

# (logger, level): loggers lowered to the level named, and why.
LOGGERS = {
    # "pretrained model kwarg is not of type str" (bench passes a loaded model, as lm-eval documents) and
    # "aggregation is not defined ... using default" for stock tasks: per task, harmless
    "lm_eval": logging.ERROR,
    # mteb's per-task INFO/WARNING about task metadata of the local (custom) STS tasks bench builds
    "mteb": logging.ERROR,
    # sentence-transformers' "No sentence-transformers model found" for the packaged MiniLM folder
    "sentence_transformers": logging.ERROR,
}

# Only when stderr is not a terminal (a log file, CI): dependencies' tqdm bars drawn with tqdm's defaults
# (e.g. lm-eval's per-subject context building), whose every refresh would be a line of noise there.
# lm-eval's "Running ... requests" bars pass their own `disable` flag: suites/gen.py turns them off.
NON_TTY_ENVIRONMENT = {"TQDM_DISABLE": "1"}

# Not settable from here: transformers' GGUF reader draws its own tqdm bar, which no option turns off;
# bench.core.models silences it while converting (the conversion announces its size and time instead).

# (category, message regex): Python warnings ignored, and why.
WARNINGS = [
    # peft calls a transformers method that transformers 5 deprecates
    (FutureWarning, ".*is_gradient_checkpointing.*"),
    # optuna marks fail_stale_trials / heartbeat callbacks experimental; bench relies on them deliberately
    (UserWarning, ".*is experimental.*"),
]


def silence_dependencies() -> None:
    """Apply the lists above (called once by the command line, never on import)."""
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    if not sys.stderr.isatty():
        for name, value in NON_TTY_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
    for name, level in LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    for category, message in WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
