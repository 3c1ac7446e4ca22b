"""Prompt/response token sequences and their summed response log-probabilities under a causal LM.

The LM head is applied only at positions that predict response tokens (the prompt's logits are never
computed), and batches are padded to their own longest row (dynamic padding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from bench.engine import decoder_of


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
    """``log pi(response | prompt)`` summed over response tokens, one value per sequence (differentiable)."""
    device = next(causal_lm.parameters()).device
    width = max(len(s.prompt) + len(s.response) for s in sequences)
    ids = torch.full((len(sequences), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    scored = torch.zeros((len(sequences), width), dtype=torch.bool)  # tokens whose probability counts
    for row, seq in enumerate(sequences):
        n, p = len(seq.prompt) + len(seq.response), len(seq.prompt)
        ids[row, :n] = torch.tensor(seq.prompt + seq.response)
        mask[row, :n] = 1
        scored[row, p:n] = True
    ids, mask, scored = ids.to(device), mask.to(device), scored.to(device)
    hidden = decoder_of(causal_lm)(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
    # position t predicts token t+1: keep the hidden states that predict a response token
    predicts = scored[:, 1:]
    states = hidden[:, :-1][predicts]
    targets = ids[:, 1:][predicts]
    logits = causal_lm.get_output_embeddings()(states).float()
    token_logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    rows = torch.arange(len(sequences), device=device).unsqueeze(1).expand_as(predicts)[predicts]
    return torch.zeros(len(sequences), device=device, dtype=token_logprobs.dtype).index_add(
        0, rows, token_logprobs
    )
