"""Run-wide options (which model, where data and results live, device, precision, batch size, seed).

Built once by the command line and embedded in run requests, ablation requests and method contexts,
so that each option is declared, defaulted and validated in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from bench.core.errors import BenchError
from bench.core.models import DEFAULT_MODEL
from bench.core.settings import DEFAULT_RESULTS_DIR

DTYPES = ("float32", "bfloat16", "float16", "int8")  # int8: the gated CPU lane (bench.core.quantize)


@dataclass(frozen=True)
class RuntimeOptions:
    """How and where work runs; none of these change what a method computes except ``seed``."""

    model: str = DEFAULT_MODEL  # alias, .gguf file, model folder or hub id
    data_dir: Path | None = None  # benchmark-data root (shared/data layout)
    out: Path = DEFAULT_RESULTS_DIR  # results folder
    device: str | None = None  # None: cuda when available, else cpu
    dtype: str | None = None  # None: float32 on CPU, bfloat16 on CUDA
    batch_size: int = 16  # encoding batch size (scores do not depend on it)
    seed: int = 0
    show_progress: bool = True
    cache_embeddings: bool = True  # read and write the persistent embedding cache (--no-cache: neither)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise BenchError(f"--batch-size must be positive, got {self.batch_size}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise BenchError(f"unknown dtype {self.dtype!r} (use {', '.join(DTYPES)})")
        if not self.model:
            raise BenchError("--model is empty")

    def with_seed(self, seed: int) -> RuntimeOptions:
        return replace(self, seed=seed)
