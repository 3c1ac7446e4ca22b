"""The int8 lane for CPU users: W8A8 linear layers with per-token activation scales and SmoothQuant.

Each quantized ``nn.Linear`` keeps its weight as int8 with one scale per output channel; its input is
quantized on the fly with one scale per token and group of channels (``activation_groups`` contiguous
groups) and multiplied in int8 with ``torch._int_mm`` (the int8 x int8 -> int32 kernel torchao builds
on), one product per group. Before that, SmoothQuant (Xiao et al. 2023) moves the input's per-channel
outliers into the weight: with ``s_j = max|X_j|^a / max|W_j|^(1-a)`` the layer computes
``(X diag(1/s)) (diag(s) W^T)``, the same product in exact arithmetic. ``max|X_j|`` is calibrated on the
first ``CALIBRATION_SENTENCES`` sentences of STS-B *train* (never a dev or test split).

Layers named in ``INT8_RECIPE.keep_fp32`` stay in fp32: the MLP's down projection, whose input carries the
large activations of LLMs (on SmolLM2-135M its int8 error alone costs more cosine than all other layers
together), and the LM head, which embeddings never use. Whether a method may use the lane on a model is
decided by a gate on STS-B dev (``bench.app.int8_gate``), not assumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bench.core.errors import ModelError
from bench.core.hashing import json_digest

INT8 = "int8"
INT8_WEIGHT_BUFFER = "weight_int8_t"
CALIBRATION_SENTENCES = 256


@dataclass(frozen=True)
class Int8Recipe:
    """How the lane quantizes a model; stored with every int8 result and part of the gate's cache key."""

    scheme: str = "w8a8: int8 weights per output channel, int8 activations per token and group, torch._int_mm"
    smoothquant_alpha: float = 0.7
    activation_groups: int = 3  # contiguous channel groups, each with its own scale per token
    keep_fp32: tuple[str, ...] = ("down_proj", "lm_head")  # module-name suffixes left in fp32
    calibration: str = f"STS-B train, first {CALIBRATION_SENTENCES} distinct sentences, one at a time"

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def id(self) -> str:
        return json_digest(self.describe(), 8)


INT8_RECIPE = Int8Recipe()


def int8_calibration_texts(data_dir: Path) -> list[str]:
    """The sentences whose activations set the smoothing scales (STS-B train)."""
    from bench.core.sts_data import read_stsb

    train = read_stsb(data_dir, "train")
    return list(dict.fromkeys(train.sentences1 + train.sentences2))[:CALIBRATION_SENTENCES]


def smoothing_scales(input_absmax: Any, weight: Any, alpha: float) -> Any:
    """SmoothQuant's per-input-channel ``s_j = max|X_j|^alpha / max_i |W_ij|^(1 - alpha)``."""
    activation = input_absmax.float().clamp_min(1e-5).pow(alpha)
    return (activation / weight.float().abs().amax(0).clamp_min(1e-5).pow(1 - alpha)).clamp_min(1e-5)


@cache
def int8_linear_class() -> type:
    """The int8 layer's class (built on first use, so importing this module does not import torch)."""
    import torch

    class Int8Linear(torch.nn.Module):
        """``y = x W^T + b`` computed as ``(x / s) (W s)^T`` with both factors in int8: one scale per token
        and channel group of ``x / s``, one per output channel of ``W s``."""

        def __init__(self, linear: torch.nn.Linear, smoothing: torch.Tensor, groups: int = 1) -> None:
            super().__init__()
            self.groups = max(1, min(groups, linear.in_features))
            weight = linear.weight.detach().float() * smoothing
            weight_scale = weight.abs().amax(1).clamp_min(1e-12) / 127
            weight_int8 = torch.round(weight / weight_scale[:, None]).clamp_(-127, 127).to(torch.int8)
            self.register_buffer(INT8_WEIGHT_BUFFER, weight_int8.T.contiguous())  # (in, out) for _int_mm
            self.register_buffer("weight_scale", weight_scale)
            self.register_buffer("input_scale_inv", 1 / smoothing.float())
            self.bias = None if linear.bias is None else torch.nn.Parameter(linear.bias.detach().float())
            self.in_features, self.out_features = linear.in_features, linear.out_features

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            rows = x.reshape(-1, self.in_features).float() * self.input_scale_inv
            if rows.shape[0] == 0:
                return x.new_zeros(*x.shape[:-1], self.out_features)
            out = None
            weight_chunks = self.weight_int8_t.tensor_split(self.groups, 0)
            chunks = zip(rows.tensor_split(self.groups, 1), weight_chunks, strict=True)
            for chunk, weight_rows in chunks:
                chunk_scale = chunk.abs().amax(1, keepdim=True).clamp_min(1e-12) / 127
                quantized = torch.round(chunk / chunk_scale).clamp_(-127, 127).to(torch.int8)
                part = torch._int_mm(quantized, weight_rows).float().mul_(chunk_scale)
                out = part if out is None else out.add_(part)
            out.mul_(self.weight_scale)
            if self.bias is not None:
                out.add_(self.bias)
            return out.reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    return Int8Linear


def _layers_to_quantize(model: Any, recipe: Int8Recipe) -> dict[str, Any]:
    import torch

    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not name.endswith(recipe.keep_fp32)
    }


def calibrate_input_absmax(model: Any, tokenizer: Any, texts: Sequence[str], names: Sequence[str]) -> dict:
    """Per-input-channel max |activation| of each named linear layer over ``texts`` (one text per forward,
    so no padding token enters the statistics)."""
    import torch

    absmax: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())

    def record(name: str):
        def hook(_module, inputs, _output) -> None:
            seen = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).abs().amax(0).float()
            absmax[name] = torch.maximum(absmax[name], seen) if name in absmax else seen

        return hook

    handles = [modules[name].register_forward_hook(record(name)) for name in names]
    try:
        with torch.inference_mode():
            for text in texts:
                encoded = tokenizer(text, return_tensors="pt").to(next(model.parameters()).device)
                model(**encoded)
    finally:
        for handle in handles:
            handle.remove()
    return absmax


def quantize_linear_int8(
    model: Any, tokenizer: Any, calibration: Sequence[str], recipe: Int8Recipe = INT8_RECIPE
) -> Any:
    """``model`` with its linear layers (but ``recipe.keep_fp32``) replaced by int8 ones, in place."""
    import torch

    if not hasattr(torch, "_int_mm"):
        raise ModelError(f"the int8 lane needs torch._int_mm (torch {torch.__version__} has none)")
    if not calibration:
        raise ModelError("the int8 lane needs calibration sentences (STS-B train)")
    layers = _layers_to_quantize(model, recipe)
    absmax = calibrate_input_absmax(model, tokenizer, calibration, list(layers))
    int8_linear = int8_linear_class()
    for name, linear in layers.items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        # a layer that no calibration text reached gets no smoothing
        seen = absmax.get(name)
        smoothing = torch.ones(linear.in_features) if seen is None else smoothing_scales(
            seen, linear.weight.detach(), recipe.smoothquant_alpha)  # fmt: skip
        setattr(parent, child, int8_linear(linear, smoothing, recipe.activation_groups))
    return model
