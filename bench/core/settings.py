"""Where things live: data directory, cache directory, results directory."""

from __future__ import annotations

import os
from pathlib import Path

from bench.core.errors import BenchError

DATA_ENV = "BENCH_DATA_DIR"
CACHE_ENV = "BENCH_CACHE"
EMBEDDING_CACHE_ENV = "BENCH_EMBEDDING_CACHE"
DEFAULT_RESULTS_DIR = Path("results")


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The benchmark-data root: ``--data-dir``, else ``$BENCH_DATA_DIR``; an error if neither is set."""
    value = explicit or os.environ.get(DATA_ENV)
    if not value:
        raise BenchError(
            f"no data directory: pass --data-dir or set {DATA_ENV} to a folder laid out like "
            "shared/data (sts/raw, sick/, nli/); the Hugging Face hub is not used for data"
        )
    path = Path(value).expanduser()
    if not path.is_dir():
        raise BenchError(f"data directory {path} does not exist (from --data-dir or {DATA_ENV})")
    return path


def cache_dir() -> Path:
    """Cache for converted weights, adapters and embeddings: ``$BENCH_CACHE`` or the user cache dir."""
    value = os.environ.get(CACHE_ENV)
    if value:
        path = Path(value).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "sempa-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def embedding_cache_path() -> Path:
    """The persistent embedding cache: ``$BENCH_EMBEDDING_CACHE``, else ``embeddings.sqlite`` in the cache."""
    value = os.environ.get(EMBEDDING_CACHE_ENV)
    return Path(value).expanduser() if value else cache_dir() / "embeddings.sqlite"
