"""Use a bench method inside other tools: an mteb encoder for your own ``mteb.evaluate`` pipeline.

```python
import mteb
from bench.app.interop import mteb_model

encoder = mteb_model("prompteol")                      # the embedded SmolLM2, PromptEOL readout
encoder = mteb_model("sempa", model="my/hub-model", settings={"beta": 0.3}, device="cuda")
results = mteb.evaluate(encoder, mteb.get_tasks(tasks=["STSBenchmark"]))
```
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench.app.runner import ModelProvider
from bench.core.memo import EmbeddingMemo
from bench.core.method import METHODS, RunContext, seed_everything
from bench.core.models import DEFAULT_MODEL, ModelSpec, check_device, model_shape, resolve_model
from bench.core.mteb_encoder import mteb_encoder
from bench.core.options import RuntimeOptions
from bench.core.settings import DATA_ENV
from bench.core.settings import data_dir as resolve_data_dir


def mteb_model(
    method: str,
    model: str = DEFAULT_MODEL,
    settings: dict[str, Any] | None = None,
    *,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int = 16,
    data_dir: str | Path | None = None,
    seed: int = 0,
) -> Any:
    """``method`` (a name from ``bench ls``) on ``model`` as an mteb encoder (cosine similarity).

    ``settings`` are config fields (what ``--set`` does); trained methods train their adapter (or load
    it from the cache) here and need ``data_dir`` (or ``$BENCH_DATA_DIR``) for their NLI data."""
    cls = METHODS.get(method)
    config = cls.build_config(settings or {})
    check_device(device)
    folder = resolve_data_dir(data_dir) if (data_dir or os.environ.get(DATA_ENV)) else None
    options = RuntimeOptions(
        model=model, data_dir=folder, device=device, dtype=dtype, batch_size=batch_size, seed=seed
    )
    spec = resolve_model(model) if cls.uses_llm else ModelSpec(model, "unused", "", None)
    if cls.uses_llm:
        cls.check_model(config, model_shape(spec))
    context = RunContext(load_model=ModelProvider(spec, device, dtype, folder), options=options)
    seed_everything(seed)
    instance = cls(config, context)
    instance.prepare()
    name = f"sempa-bench/{spec.slug() if cls.uses_llm else 'encoder'}-{instance.label()}"
    return mteb_encoder(EmbeddingMemo(instance.encode), name, revision=instance.config_hash)
