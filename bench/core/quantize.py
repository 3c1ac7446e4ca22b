"""The int8 lane for CPU users: PyTorch dynamic quantization of a model's linear layers.

Weights are stored as int8 with one scale per output channel; activations are quantized on the fly per
batch (``torch.ao.quantization.quantize_dynamic`` with the per-channel dynamic qconfig). It runs on CPU
only. Whether a method may use it on a model is decided by a gate on STS-B dev (``bench.app.int8_gate``),
not assumed.
"""

from __future__ import annotations

import warnings
from typing import Any

INT8 = "int8"


def quantize_linear_int8(model: Any) -> Any:
    """``model`` with every ``nn.Linear`` replaced by a dynamically quantized int8 one (in place)."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        # torch marks quantized-tensor creation as deprecated in favour of torchao, not installed here
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8,
                                inplace=True)  # fmt: skip
