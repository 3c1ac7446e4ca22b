"""Training objectives: what one step optimises (the loop, ``bench.training.trainer``, is shared).

``PreferenceObjective`` scores responses by ``beta * (log pi - log pi_ref)`` and applies a preference
loss (pairwise DPO for SemPA, Plackett-Luce for SemPA-PL); ``ContrastiveObjective`` applies InfoNCE to
prompt-based sentence embeddings (PromptEOL-CL).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from bench.core.distributed import gather_objects, ranks
from bench.core.engine import EmbeddingEngine, EncodeItem, Readout
from bench.core.progress import progress_bar
from bench.core.sequences import ChatFormatter, PromptResponse, response_logprobs
from bench.training.losses import (
    info_nce_loss,
    plackett_luce_loss,
    preference_accuracy,
    sft_loss,
    sigmoid_dpo_loss,
)
from bench.training.nli import Ranked

# A list loss maps scores (batch, K), best first, and optional extra negatives (batch, M) to losses (batch,).
ListLoss = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


def pairwise_dpo(scores: torch.Tensor, negatives: torch.Tensor | None = None) -> torch.Tensor:
    """SemPA's loss: sigmoid DPO between the first (chosen) and last (rejected) response."""
    if negatives is not None:
        raise ValueError("pairwise DPO takes no extra negatives; use the Plackett-Luce loss")
    return sigmoid_dpo_loss(scores[:, 0], scores[:, -1])


@dataclass
class StepOutput:
    loss: torch.Tensor  # per-example losses
    metrics: dict[str, float]


class Objective(ABC):
    """One training objective over :class:`Ranked` examples."""

    def setup(self, model: Any, examples: Sequence[Ranked], show_progress: bool = True) -> None:  # noqa: B027
        """Work done once before training (e.g. reference log-probs)."""

    def setup_state(self) -> Any:
        """What :meth:`setup` computed, in plain lists (a resume state keeps it); None: nothing."""
        return None

    def restore_setup_state(self, state: Any) -> None:  # noqa: B027
        """Take back what :meth:`setup_state` returned, so that :meth:`setup` need not compute it again."""

    @abstractmethod
    def step(self, model: Any, batch: Sequence[Ranked]) -> StepOutput:
        """Per-example losses (with gradients) and step metrics for a micro-batch."""

    def evaluate(self, model: Any, examples: Sequence[Ranked], batch_size: int = 16) -> dict[str, float]:
        """Held-out metrics (no gradients); the step metrics averaged over ``examples``."""
        totals: dict[str, float] = {}
        model.eval()
        with torch.no_grad():
            for start in range(0, len(examples), batch_size):
                chunk = examples[start : start + batch_size]
                out = self.step(model, chunk)
                out.metrics["loss"] = out.loss.mean().item()
                for name, value in out.metrics.items():
                    totals[name] = totals.get(name, 0.0) + value * len(chunk)
        return {name: value / max(len(examples), 1) for name, value in totals.items()}


def prompt_sharing_chunks(sequences: Sequence[PromptResponse], size: int) -> list[list[PromptResponse]]:
    """Distinct ``sequences`` in chunks of about ``size``, every prompt's responses in one chunk (so the
    prompt is computed once for all of them) and chunks ordered by length (little padding). The order
    depends only on the input order, so every process of a launch forms the same chunks."""
    by_prompt: dict[tuple[int, ...], list[PromptResponse]] = {}
    for sequence in dict.fromkeys(sequences):
        by_prompt.setdefault(sequence.prompt, []).append(sequence)
    groups = sorted(by_prompt.values(), key=lambda g: (len(g[0].prompt), max(len(s.response) for s in g)))
    chunks: list[list[PromptResponse]] = []
    for group in groups:
        if chunks and len(chunks[-1]) + len(group) <= size:
            chunks[-1].extend(group)
        else:
            chunks.append(list(group))
    return chunks


class PreferenceObjective(Objective):
    """DPO-style: responses to a paraphrase prompt, scored against the adapter-disabled reference."""

    def __init__(
        self,
        formatter: ChatFormatter,
        prompt_template: str,
        beta: float,
        list_loss: ListLoss,
        pad_token_id: int,
        in_batch_negatives: bool = False,
        reference_batch_size: int = 16,
    ) -> None:
        self.formatter = formatter
        self.prompt_template = prompt_template
        self.beta = beta
        self.list_loss = list_loss
        self.pad_token_id = pad_token_id
        self.in_batch_negatives = in_batch_negatives
        self.reference_batch_size = reference_batch_size
        self.reference: dict[PromptResponse, float] = {}

    def sequence(self, premise: str, response: str) -> PromptResponse:
        return self.formatter.encode(self.prompt_template.format(s=premise), response)

    def sequences(self, example: Ranked) -> list[PromptResponse]:
        return [self.sequence(example.premise, response) for response in example.responses]

    def setup(self, model: Any, examples: Sequence[Ranked], show_progress: bool = True) -> None:
        """Reference log-probs of every (prompt, response), computed once with the adapter disabled; inside
        a multi-process launch each process computes every n-th batch and all of them keep every value."""
        todo = [s for e in examples for s in self.sequences(e) if s not in self.reference]
        mine = ranks().share(prompt_sharing_chunks(todo, self.reference_batch_size))
        computed: dict[PromptResponse, float] = {}
        total = sum(map(len, mine))
        with progress_bar(total, "reference log-probs", unit="seq", enabled=show_progress) as advance:
            for chunk in mine:
                computed.update(zip(chunk, self._reference_logprobs(model, chunk).tolist(), strict=True))
                advance(len(chunk))
        for part in gather_objects(computed):
            self.reference.update(part)

    def setup_state(self) -> list[list[Any]]:
        """The reference log-probs as ``[prompt ids, response ids, value]`` rows."""
        return [[list(s.prompt), list(s.response), value] for s, value in self.reference.items()]

    def restore_setup_state(self, state: Any) -> None:
        for prompt, response, value in state or []:
            self.reference[PromptResponse(tuple(prompt), tuple(response))] = value

    def _reference_logprobs(self, model: Any, sequences: list[PromptResponse]) -> torch.Tensor:
        was_training = model.training
        model.eval()  # no dropout in the reference
        with model.disable_adapter(), torch.no_grad():
            values = response_logprobs(model, sequences, self.pad_token_id)
        model.train(was_training)
        return values

    def _reference_of(self, model: Any, sequences: list[PromptResponse]) -> torch.Tensor:
        missing = [s for s in dict.fromkeys(sequences) if s not in self.reference]
        if missing:  # in-batch negative pairs are not known before training
            self.reference.update(
                zip(missing, self._reference_logprobs(model, missing).tolist(), strict=True)
            )
        return torch.tensor([self.reference[s] for s in sequences])

    def implicit_reward(self, policy: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """``beta * (log pi(y|x) - log pi_ref(y|x))`` from the two log-probabilities."""
        return self.beta * (policy - reference)

    def scores(self, model: Any, sequences: list[PromptResponse]) -> torch.Tensor:
        """The implicit reward of each sequence under the current policy."""
        policy = response_logprobs(model, sequences, self.pad_token_id)
        reference = self._reference_of(model, sequences).to(policy.device, policy.dtype)
        return self.implicit_reward(policy, reference)

    def step(self, model: Any, batch: Sequence[Ranked]) -> StepOutput:
        k = len(batch[0].responses)
        if any(len(e.responses) != k for e in batch):
            raise ValueError("every ranked list in a batch must have the same length")
        ranked = [s for e in batch for s in self.sequences(e)]
        negative_pairs = self._negative_sequences(batch) if self.in_batch_negatives and len(batch) > 1 else []
        all_scores = self.scores(model, ranked + negative_pairs)
        scores = all_scores[: len(ranked)].view(len(batch), k)
        negatives = all_scores[len(ranked) :].view(len(batch), len(batch) - 1) if negative_pairs else None
        losses = self.list_loss(scores, negatives)
        metrics = {
            "accuracy": preference_accuracy(scores[:, 0], scores[:, -1]),
            "margin": (scores[:, 0] - scores[:, -1]).mean().item(),
        }
        return StepOutput(losses, metrics)

    def _negative_sequences(self, batch: Sequence[Ranked]) -> list[PromptResponse]:
        """For each premise, the best response of every other list in the batch."""
        return [
            self.sequence(example.premise, other.responses[0])
            for i, example in enumerate(batch)
            for j, other in enumerate(batch)
            if i != j
        ]

    def evaluate(self, model: Any, examples: Sequence[Ranked], batch_size: int = 16) -> dict[str, float]:
        """On (first, last) response pairs: DPO loss, reward accuracy and margin, and how often the policy
        itself gives the chosen response the higher log-probability (meaningful before training too,
        when every reward is 0)."""
        totals = {"loss": 0.0, "accuracy": 0.0, "margin": 0.0, "logprob_accuracy": 0.0}
        model.eval()
        with torch.no_grad():
            for start in range(0, len(examples), batch_size):
                chunk = examples[start : start + batch_size]
                pairs = [s for e in chunk for s in (self.sequence(e.premise, e.responses[0]),
                                                     self.sequence(e.premise, e.responses[-1]))]  # fmt: skip
                policy = response_logprobs(model, pairs, self.pad_token_id).view(len(chunk), 2)
                reference = self._reference_of(model, pairs).view(len(chunk), 2).to(policy)
                scores = self.implicit_reward(policy, reference)
                totals["loss"] += sigmoid_dpo_loss(scores[:, 0], scores[:, 1]).sum().item()
                totals["accuracy"] += preference_accuracy(scores[:, 0], scores[:, 1]) * len(chunk)
                totals["margin"] += (scores[:, 0] - scores[:, 1]).sum().item()
                totals["logprob_accuracy"] += (policy[:, 0] > policy[:, 1]).sum().item()
        return {name: value / max(len(examples), 1) for name, value in totals.items()}


class SFTObjective(PreferenceObjective):
    """The SFT control: NLL of the best response only (same prompts, data and held-out metrics as DPO)."""

    def step(self, model: Any, batch: Sequence[Ranked]) -> StepOutput:
        sequences = [self.sequence(e.premise, e.responses[0]) for e in batch]
        policy = response_logprobs(model, sequences, self.pad_token_id)
        lengths = torch.tensor([len(s.response) for s in sequences], device=policy.device, dtype=policy.dtype)
        return StepOutput(sft_loss(policy, lengths), {"nll_per_token": (-policy / lengths).mean().item()})


class ContrastiveObjective(Objective):
    """InfoNCE on prompt embeddings: premise vs entailment, in-batch negatives plus the contradiction."""

    def __init__(
        self,
        to_item: Callable[[str], EncodeItem],
        readout: Readout,
        pad_token_id: int,
        temperature: float = 0.05,
        hard_negatives: bool = True,
    ) -> None:
        self.to_item = to_item
        self.readout = readout
        self.pad_token_id = pad_token_id
        self.temperature = temperature
        self.hard_negatives = hard_negatives

    def embed(self, model: Any, sentences: list[str]) -> torch.Tensor:
        engine = EmbeddingEngine(model, self.pad_token_id, prefix_caching=False)
        batch = engine.make_batch([self.to_item(s) for s in sentences])
        hidden = engine.forward_hidden(batch, self.readout.layer)
        return engine.pool(hidden, batch, self.readout.pooling).float()

    def step(self, model: Any, batch: Sequence[Ranked]) -> StepOutput:
        n = len(batch)
        sentences = [e.premise for e in batch] + [e.responses[0] for e in batch]
        if self.hard_negatives:
            sentences += [e.responses[-1] for e in batch]
        embeddings = self.embed(model, sentences)
        anchors, candidates = embeddings[:n], embeddings[n:]
        targets = torch.arange(n, device=embeddings.device)
        losses = info_nce_loss(anchors, candidates, targets, self.temperature)
        metrics = {}
        if self.hard_negatives:  # how often the premise is closer to its entailment than its contradiction
            positive = F.cosine_similarity(anchors, candidates[:n])
            negative = F.cosine_similarity(anchors, candidates[n:])
            metrics["accuracy"] = preference_accuracy(positive, negative)
            metrics["margin"] = (positive - negative).mean().item()
        return StepOutput(losses, metrics)


def plackett_luce(top1_only: bool) -> ListLoss:
    """The Plackett-Luce list loss (optionally top-1 only) as a :data:`ListLoss`."""

    def loss(scores: torch.Tensor, negatives: torch.Tensor | None = None) -> torch.Tensor:
        return plackett_luce_loss(scores, top1_only=top1_only, negatives=negatives)

    return loss
