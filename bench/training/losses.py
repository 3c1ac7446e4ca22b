"""Training losses as small pure functions on tensors (after trl's DPO and sentence-transformers' losses).

Preference losses take *scores* ``s = beta * (log pi(y|x) - log pi_ref(y|x))``, one per response;
the contrastive loss takes embeddings. Each returns per-example losses so callers choose the reduction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sigmoid_dpo_loss(chosen_scores: torch.Tensor, rejected_scores: torch.Tensor) -> torch.Tensor:
    """Pairwise (Bradley-Terry) DPO: ``-log sigmoid(s+ - s-)`` per pair (trl's ``sigmoid`` loss)."""
    return -F.logsigmoid(chosen_scores - rejected_scores)


def plackett_luce_loss(
    scores: torch.Tensor, top1_only: bool = False, negatives: torch.Tensor | None = None
) -> torch.Tensor:
    """Listwise DPO under Plackett-Luce for ranked lists ``scores[b, k]``, best first.

    ``-sum_{k<K} log(exp(s_k) / sum_{j>=k} exp(s_j))``; with ``top1_only`` only the first factor
    (one positive over K-1 negatives: InfoNCE). ``negatives[b, m]`` are scores of extra unranked
    responses (e.g. in-batch negatives) that join every denominator. With K = 2 and no extras this is
    exactly :func:`sigmoid_dpo_loss`.
    """
    if scores.dim() != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must be (batch, K>=2), got {tuple(scores.shape)}")
    # logsumexp over each suffix s_k..s_K, computed as a reversed cumulative logsumexp
    suffix = torch.logcumsumexp(scores.flip(-1), dim=-1).flip(-1)
    if negatives is not None and negatives.numel():
        suffix = torch.logaddexp(suffix, torch.logsumexp(negatives, dim=-1, keepdim=True))
    terms = scores - suffix
    stages = 1 if top1_only else scores.shape[1] - 1  # the last stage (s_K over itself) is always 0
    return -terms[:, :stages].sum(-1)


def sft_loss(logprobs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Supervised fine-tuning on the chosen response: ``-(1/|y|) log pi(y|x)``, the token-mean NLL."""
    return -logprobs / lengths.clamp_min(1)


def info_nce_loss(
    anchors: torch.Tensor, candidates: torch.Tensor, targets: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Cross-entropy over cosine similarities / temperature (SimCSE / PromptEOL-CL).

    ``anchors (B, D)``, ``candidates (N, D)``: positives and every negative (in-batch and hard);
    ``targets[b]`` is the candidate index of anchor b's positive.
    """
    similarity = F.normalize(anchors, dim=-1) @ F.normalize(candidates, dim=-1).T
    return F.cross_entropy(similarity / temperature, targets, reduction="none")


def preference_accuracy(
    chosen_scores: torch.Tensor, rejected_scores: torch.Tensor, tolerance: float = 1e-5
) -> float:
    """Share of pairs whose chosen score beats the rejected one by more than ``tolerance``.

    Ties count as misses; the tolerance keeps float noise (batching differences of ~1e-7) from
    turning the all-zero rewards of an untrained adapter into a coin flip.
    """
    if chosen_scores.numel() == 0:
        return float("nan")
    return (chosen_scores - rejected_scores > tolerance).float().mean().item()
