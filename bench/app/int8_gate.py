"""The int8 lane's gate: a training-free method runs in int8 on a model only where, on the first
``GATE_PAIRS`` STS-B dev pairs, its int8 vectors keep a cosine of at least 0.999 to its fp32 vectors (mean
over the sentences) and its Spearman stays within 0.1 point of fp32's. The verdict is measured once per
(model weights, method config, lane recipe) and kept in ``$BENCH_CACHE/int8-gates/``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.core.atomic import atomic_write_json
from bench.core.dev_score import spearman_of_cosines
from bench.core.method import Method, RunContext
from bench.core.models import LoadedModel, ModelSpec, load_model
from bench.core.options import RuntimeOptions
from bench.core.progress import console
from bench.core.quantize import INT8, INT8_RECIPE, int8_calibration_texts
from bench.core.settings import cache_dir
from bench.core.sts_data import read_stsb

GATE_PAIRS = 500
MIN_COSINE = 0.999
MAX_SPEARMAN_GAP = 0.1


@dataclass(frozen=True)
class Int8Gate:
    """What the gate measured, and whether the lane is open."""

    method: str
    config_hash: str
    model_weights: str
    pairs: int
    mean_cosine: float  # of each sentence's int8 vector to its fp32 vector
    min_cosine: float
    spearman_fp32: float
    spearman_int8: float

    @property
    def spearman_gap(self) -> float:
        return abs(self.spearman_int8 - self.spearman_fp32)

    @property
    def passed(self) -> bool:
        return self.mean_cosine >= MIN_COSINE and self.spearman_gap <= MAX_SPEARMAN_GAP

    def summary(self) -> str:
        return (
            f"int8 vs fp32 on {self.pairs} STS-B dev pairs: cosine mean {self.mean_cosine:.4f} (min "
            f"{self.min_cosine:.4f}; needs >= {MIN_COSINE}), Spearman {self.spearman_int8:.2f} vs "
            f"{self.spearman_fp32:.2f} (gap {self.spearman_gap:.2f}; needs <= {MAX_SPEARMAN_GAP})"
        )


def _gate_path(method: Method, spec: ModelSpec) -> Path:
    weights = (spec.weights_sha256 or spec.slug())[:12]
    name = f"{weights}-{method.name}-{method.config_hash}-lane{INT8_RECIPE.id}.json"
    return cache_dir() / "int8-gates" / name


def int8_gate(
    method: Method, spec: ModelSpec, options: RuntimeOptions, int8_model: LoadedModel | None = None
) -> Int8Gate:
    """The gate for ``method`` (built for the run) on ``spec``: read from the cache, or measured now
    (``int8_model``: the run's int8 model, reused instead of loading it again)."""
    path = _gate_path(method, spec)
    if path.exists():
        return Int8Gate(**json.loads(path.read_text()))
    assert options.data_dir is not None
    dev = read_stsb(options.data_dir, "dev").head(GATE_PAIRS)
    sentences = list(dict.fromkeys(dev.sentences1 + dev.sentences2))
    vectors = {}
    for dtype in ("float32", INT8):
        if dtype == INT8 and int8_model is not None:
            loaded = int8_model
        else:
            calibration = int8_calibration_texts(options.data_dir) if dtype == INT8 else ()
            loaded = load_model(spec, "cpu", dtype, calibration)
        context = RunContext(load_model=lambda loaded=loaded: loaded, options=options)
        with console.status(f"int8 gate: {method.name} in {dtype} on {len(sentences)} STS-B dev sentences"):
            vectors[dtype] = type(method)(method.config, context).encode(sentences)
    fp32, int8 = (np.asarray(vectors[d], dtype=np.float64) for d in ("float32", INT8))
    cosines = (fp32 * int8).sum(1) / (np.linalg.norm(fp32, axis=1) * np.linalg.norm(int8, axis=1))
    row = {s: i for i, s in enumerate(sentences)}
    first, second = [row[s] for s in dev.sentences1], [row[s] for s in dev.sentences2]

    def spearman(v: np.ndarray) -> float:
        return spearman_of_cosines(v[first], v[second], dev.scores)

    gate = Int8Gate(
        method.name, method.config_hash, spec.weights_sha256 or spec.slug(), len(dev),
        round(float(cosines.mean()), 6), round(float(cosines.min()), 6),
        round(spearman(fp32), 3), round(spearman(int8), 3),
    )  # fmt: skip
    atomic_write_json(path, asdict(gate))
    return gate
