"""Forward-pass interventions through PyTorch hooks on a decoder's layers (no fork of the engine).

Supported: decoders with ``embed_tokens`` and ``layers[i].self_attn.o_proj`` (Llama-style models,
SmolLM2, Gemma-3). Each intervention is a :data:`bench.core.engine.BatchHook`: called with the decoder and a
left-padded batch, it returns a context manager during which the hooks are active. Both touch no token
before the one they change, so they come as a :class:`PrefixSafeHook` and keep the engine's prefix cache.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Literal

import torch

from bench.core.engine import Batch, EncodeItem, PrefixSafeHook
from bench.core.errors import ModelError


def decoder_layers(decoder: Any) -> list[Any]:
    """The decoder's transformer layers, checked to have the modules interventions hook into."""
    layers = getattr(decoder, "layers", None)
    ok = layers is not None and hasattr(decoder, "embed_tokens")
    ok = ok and all(hasattr(getattr(layer, "self_attn", None), "o_proj") for layer in layers)
    if not ok:
        raise ModelError(
            f"forward-pass interventions support Llama-style decoders (embed_tokens, layers[i].self_attn."
            f"o_proj); {type(decoder).__name__} has a different layout"
        )
    return list(layers)


@contextlib.contextmanager
def registered(handles: list[Any]) -> Iterator[None]:
    """Remove every hook handle on exit, also after an error."""
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def item_positions(batch: Batch, index_of: Callable[[EncodeItem], int]) -> torch.Tensor:
    """Column of token ``index_of(item)`` of each row in the left-padded batch."""
    width = batch.input_ids.shape[1]
    return torch.tensor(
        [width - len(item.input_ids) + index_of(item) for item in batch.items], device=batch.input_ids.device
    )


def _hidden_argument(args: tuple, kwargs: dict) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


def _with_hidden(args: tuple, kwargs: dict, hidden: torch.Tensor) -> tuple[tuple, dict]:
    if args:
        return (hidden, *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": hidden}


def token_prepending(
    index_of: Callable[[EncodeItem], int], placeholder: torch.Tensor, start: int, exit_layer: int
) -> PrefixSafeHook:
    """Token Prepending (Fu et al. 2025) as a batch hook.

    The placeholder position (``index_of(item)``) gets the embedding ``placeholder``; then for every
    layer ``l`` with ``start <= l <= exit_layer`` its input there is replaced by the layer's input at the
    last position (= the previous layer's last-token output). ``exit_layer < start`` switches it off.
    """

    def hook(decoder: Any, batch: Batch) -> contextlib.AbstractContextManager:
        layers = decoder_layers(decoder)
        rows = torch.arange(len(batch.items), device=batch.input_ids.device)
        columns = item_positions(batch, index_of)

        def embed(module, inputs, output):
            output = output.clone()
            output[rows, columns] = placeholder.to(output.dtype)
            return output

        def patch(module, args, kwargs):
            hidden = _hidden_argument(args, kwargs).clone()
            hidden[rows, columns] = hidden[:, -1].clone()
            return _with_hidden(args, kwargs, hidden)

        handles = [decoder.embed_tokens.register_forward_hook(embed)]
        for index in range(max(start, 1), min(exit_layer, len(layers) - 1) + 1):
            handles.append(layers[index].register_forward_pre_hook(patch, with_kwargs=True))
        return registered(handles)

    # the placeholder is the first token it writes; it reads only the last one
    return PrefixSafeHook(hook, index_of)


class _Captured(Exception):
    """Stops the auxiliary forward once the activation is captured (later layers are not needed)."""


ContrastPlan = Literal["scaled", "norm", "subtract"]


def contrasted(v: torch.Tensor, v_aux: torch.Tensor, alpha: float, plan: ContrastPlan) -> torch.Tensor:
    """The last-token input of ``o_proj`` after Contrastive Prompting (Cheng et al. 2025, Sec. 4.3):

    - ``scaled`` (the paper's NS):  v' = alpha * (v - v_aux)
    - ``norm`` (the paper's NR):    v' = (v - v_aux) * ||v|| / ||v - v_aux||
    - ``subtract`` (not in the paper; this suite's first reading of it):  v' = v - alpha * v_aux
    """
    if plan == "scaled":
        return alpha * (v - v_aux)
    if plan == "norm":
        difference = v - v_aux
        scale = v.norm(dim=-1, keepdim=True) / difference.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return difference * scale
    return v - alpha * v_aux


def contrastive_prompting(
    auxiliary_batch: Callable[[Batch], Batch], layer: int, alpha: float, plan: ContrastPlan = "scaled"
) -> PrefixSafeHook:
    """Contrastive Prompting (Cheng et al. 2025) as a batch hook.

    The auxiliary prompt runs up to decoder layer ``layer``; the input of that layer's ``o_proj`` (all
    heads, before W_O) at its last position is ``v_aux``. In the main prompt's forward the same input at
    the last position, ``v``, is replaced by :func:`contrasted` (``v``, ``v_aux``).
    """

    def hook(decoder: Any, batch: Batch) -> contextlib.AbstractContextManager:
        o_proj = decoder_layers(decoder)[layer].self_attn.o_proj
        aux = auxiliary_batch(batch)
        captured: list[torch.Tensor] = []

        def capture(module, args):
            captured.append(args[0][:, -1].clone())
            raise _Captured

        handle = o_proj.register_forward_pre_hook(capture)
        try:
            decoder(input_ids=aux.input_ids, attention_mask=aux.attention_mask, position_ids=aux.position_ids,
                    use_cache=False)  # fmt: skip
        except _Captured:
            pass
        finally:
            handle.remove()
        auxiliary = captured[0]

        def replace(module, args):
            heads = args[0].clone()
            heads[:, -1] = contrasted(heads[:, -1], auxiliary.to(heads.dtype), alpha, plan)
            return (heads, *args[1:])

        return registered([o_proj.register_forward_pre_hook(replace)])

    return PrefixSafeHook(hook, lambda item: len(item.input_ids) - 1)  # it changes the last token only
