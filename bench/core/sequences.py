"""Prompt/response token sequences and their summed response log-probabilities under a causal LM.

The LM head is applied only at positions that predict response tokens (the prompt's logits are never
computed), and batches are padded to their own longest row (dynamic padding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from bench.core.engine import (
    attends_to_whole_input,
    cache_argument,
    decoder_of,
    empty_full_cache,
    returned_cache,
    text_config,
)
from bench.core.padding import pad_rows


@dataclass(frozen=True)
class PromptResponse:
    """Token ids of a prompt and of one response to it (the response ends with the end-of-turn token)."""

    prompt: tuple[int, ...]
    response: tuple[int, ...]


class ChatFormatter:
    """Formats (user message, response) as the model's chat turns, or as plain text without a template."""

    def __init__(self, tokenizer: Any, system_prompt: str | None, use_chat_template: bool = True) -> None:
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.chat = use_chat_template and bool(getattr(tokenizer, "chat_template", None))
        self._prompt_cache: dict[str, tuple[int, ...]] = {}

    def _messages(self, user: str) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return [*system, {"role": "user", "content": user}]

    def prompt_text(self, user: str) -> str:
        if not self.chat:
            return user
        return self.tokenizer.apply_chat_template(
            self._messages(user), add_generation_prompt=True, tokenize=False
        )

    def response_text(self, user: str, response: str) -> str:
        """The assistant turn as the template writes it, up to and including the end-of-turn token."""
        eos = self.tokenizer.eos_token or ""
        if not self.chat:
            return " " + response + eos
        messages = [*self._messages(user), {"role": "assistant", "content": response}]
        full = self.tokenizer.apply_chat_template(messages, tokenize=False)
        prompt = self.prompt_text(user)
        if not full.startswith(prompt):
            raise ValueError("the chat template does not extend the generation prompt with the response")
        turn = full[len(prompt) :]
        cut = turn.find(eos, len(response)) if eos else -1
        return turn[: cut + len(eos)] if cut >= 0 else turn

    def encode(self, user: str, response: str) -> PromptResponse:
        if user not in self._prompt_cache:
            self._prompt_cache[user] = tuple(self._ids(self.prompt_text(user), first=True))
        return PromptResponse(self._prompt_cache[user], tuple(self._ids(self.response_text(user, response))))

    def _ids(self, text: str, first: bool = False) -> list[int]:
        # chat templates write their own special tokens; plain prompts get the tokenizer's BOS, if any
        return self.tokenizer(text, add_special_tokens=first and not self.chat)["input_ids"]


def response_logprobs(causal_lm: Any, sequences: list[PromptResponse], pad_token_id: int) -> torch.Tensor:
    """``log pi(response | prompt)`` summed over response tokens, one value per sequence (differentiable).

    Responses to the same prompt (chosen and rejected) share one forward pass over that prompt: the
    prompt's key/value cache is computed once and each response continues from it. Models with
    sliding-window layers narrower than the padded batch take the plain path (every sequence in full).
    """
    shared = len({s.prompt for s in sequences}) < len(sequences)
    # the shared path's columns: left-padded prompts, then right-padded responses
    width = max((len(s.prompt) for s in sequences), default=0) + max(
        (len(s.response) for s in sequences), default=0
    )
    if shared and attends_to_whole_input(causal_lm, width):
        return _shared_prompt_logprobs(causal_lm, sequences, pad_token_id)
    return _full_sequence_logprobs(causal_lm, sequences, pad_token_id)


def _token_logprobs(causal_lm: Any, states: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of ``targets`` from the hidden states that predict them (LM head on those only)."""
    logits = causal_lm.get_output_embeddings()(states).float()
    cap = getattr(text_config(causal_lm), "final_logit_softcapping", None)  # Gemma-2's forward caps logits
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def _sum_by_row(values: torch.Tensor, rows: torch.Tensor, n: int) -> torch.Tensor:
    return torch.zeros(n, device=values.device, dtype=values.dtype).index_add(0, rows, values)


def _full_sequence_logprobs(
    causal_lm: Any, sequences: list[PromptResponse], pad_token_id: int
) -> torch.Tensor:
    device = next(causal_lm.parameters()).device
    ids, mask = pad_rows([s.prompt + s.response for s in sequences], pad_token_id, side="right")
    scored = torch.zeros_like(mask, dtype=torch.bool)  # tokens whose probability counts
    for row, seq in enumerate(sequences):
        scored[row, len(seq.prompt) : len(seq.prompt) + len(seq.response)] = True
    ids, mask, scored = ids.to(device), mask.to(device), scored.to(device)
    hidden = decoder_of(causal_lm)(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
    # position t predicts token t+1: keep the hidden states that predict a response token
    predicts = scored[:, 1:]
    values = _token_logprobs(causal_lm, hidden[:, :-1][predicts], ids[:, 1:][predicts])
    rows = torch.arange(len(sequences), device=device).unsqueeze(1).expand_as(predicts)[predicts]
    return _sum_by_row(values, rows, len(sequences))


def _shared_prompt_logprobs(
    causal_lm: Any, sequences: list[PromptResponse], pad_token_id: int
) -> torch.Tensor:
    from transformers import DynamicCache

    device = next(causal_lm.parameters()).device
    decoder = decoder_of(causal_lm)
    prompts = list(dict.fromkeys(s.prompt for s in sequences))
    owner = torch.tensor([prompts.index(s.prompt) for s in sequences], device=device)
    # the token prefix every prompt shares (system prompt, template head): one forward at batch size 1
    n_shared = _shared_prefix_length(prompts)
    prefix_cache = None
    if n_shared:
        head_ids = torch.tensor([prompts[0][:n_shared]], device=device)
        head = decoder(input_ids=head_ids, use_cache=True, **{cache_argument(decoder): empty_full_cache()})
        prefix_cache = DynamicCache(
            ddp_cache_data=[
                (layer.keys.expand(len(prompts), -1, -1, -1), layer.values.expand(len(prompts), -1, -1, -1))
                for layer in returned_cache(head).layers
            ]
        )
    # the rest of each prompt left-padded, so every prompt's last token sits in the last column
    p_ids, p_mask = pad_rows([p[n_shared:] for p in prompts], pad_token_id, side="left")
    p_ids, p_mask = p_ids.to(device), p_mask.to(device)
    p_positions = n_shared + (p_mask.cumsum(-1) - 1).clamp(min=0)
    p_mask = torch.cat([torch.ones((len(prompts), n_shared), dtype=p_mask.dtype, device=device), p_mask], 1)
    cache = {cache_argument(decoder): prefix_cache if prefix_cache is not None else empty_full_cache()}
    out = decoder(input_ids=p_ids, attention_mask=p_mask, position_ids=p_positions, use_cache=True, **cache)
    # responses right-padded, continuing from their prompt's cache
    r_ids, r_mask = pad_rows([s.response for s in sequences], pad_token_id, side="right")
    r_width = r_ids.shape[1]
    r_ids, r_mask = r_ids.to(device), r_mask.to(device)
    layers = [
        (layer.keys.index_select(0, owner), layer.values.index_select(0, owner))
        for layer in returned_cache(out).layers
    ]
    cache = DynamicCache(ddp_cache_data=layers)
    lengths = p_mask.sum(-1).index_select(0, owner)
    r_positions = lengths.unsqueeze(1) + torch.arange(r_width, device=device).unsqueeze(0)
    hidden = decoder(
        input_ids=r_ids,
        attention_mask=torch.cat([p_mask.index_select(0, owner), r_mask], dim=1),
        position_ids=r_positions,
        use_cache=True,
        **{cache_argument(decoder): cache},
    ).last_hidden_state
    # first response token: predicted by the prompt's last state; the others by the response states
    first = _token_logprobs(causal_lm, out.last_hidden_state[:, -1].index_select(0, owner), r_ids[:, 0])
    predicts = r_mask[:, 1:].bool()
    rest = _token_logprobs(causal_lm, hidden[:, :-1][predicts], r_ids[:, 1:][predicts])
    rows = torch.arange(len(sequences), device=device).unsqueeze(1).expand_as(predicts)[predicts]
    return first + _sum_by_row(rest, rows, len(sequences))


def _shared_prefix_length(prompts: list[tuple[int, ...]]) -> int:
    """Tokens at the start of every prompt (0 for one prompt, or when fewer than 2 are shared); each
    prompt keeps at least one token of its own, whose state predicts the first response token."""
    if len(prompts) < 2:
        return 0
    n = min(len(p) for p in prompts) - 1
    first = prompts[0]
    for prompt in prompts[1:]:
        while n > 0 and prompt[:n] != first[:n]:
            n -= 1
    return n if n >= 2 else 0
