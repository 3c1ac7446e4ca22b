"""Loss functions against hand-computed values on fixed tensors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bench.training.losses import info_nce_loss, plackett_luce_loss, preference_accuracy, sigmoid_dpo_loss


def test_sigmoid_dpo_hand_computed():
    loss = sigmoid_dpo_loss(torch.tensor([0.3, 0.0]), torch.tensor([-0.2, 0.0]))
    assert loss[0].item() == pytest.approx(-math.log(1 / (1 + math.exp(-0.5))), abs=1e-6)
    assert loss[1].item() == pytest.approx(math.log(2), abs=1e-7)  # equal scores: log 2


def test_plackett_luce_hand_computed_three_items():
    loss = plackett_luce_loss(torch.tensor([[1.0, 0.0, -1.0]]))
    first = 1.0 - math.log(math.e + 1 + math.exp(-1))
    second = 0.0 - math.log(1 + math.exp(-1))
    assert loss.item() == pytest.approx(-(first + second), abs=1e-6)
    top1 = plackett_luce_loss(torch.tensor([[1.0, 0.0, -1.0]]), top1_only=True)
    assert top1.item() == pytest.approx(-first, abs=1e-6)


def test_plackett_luce_with_two_items_is_dpo():
    torch.manual_seed(0)
    scores = torch.randn(16, 2) * 3
    assert torch.allclose(plackett_luce_loss(scores), sigmoid_dpo_loss(scores[:, 0], scores[:, 1]), atol=1e-6)


def test_plackett_luce_top1_with_negatives_is_cross_entropy():
    torch.manual_seed(1)
    scores, negatives = torch.randn(4, 3), torch.randn(4, 5)
    expected = F.cross_entropy(
        torch.cat([scores, negatives], 1), torch.zeros(4, dtype=torch.long), reduction="none"
    )
    got = plackett_luce_loss(scores, top1_only=True, negatives=negatives)
    assert torch.allclose(got, expected, atol=1e-6)


def test_plackett_luce_rejects_single_item_lists():
    with pytest.raises(ValueError, match="K>=2"):
        plackett_luce_loss(torch.zeros(3, 1))


def test_info_nce_hand_computed():
    anchors = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    candidates = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    loss = info_nce_loss(anchors, candidates, torch.tensor([0, 1]), temperature=0.5)
    c = 1 / math.sqrt(2)
    # anchor 0: cosines (1, 0, c) / 0.5, target 0; anchor 1: cosines (0, 1, c) / 0.5, target 1
    expected0 = -(2.0 - math.log(math.exp(2.0) + 1 + math.exp(2 * c)))
    expected1 = -(2.0 - math.log(1 + math.exp(2.0) + math.exp(2 * c)))
    assert loss.tolist() == pytest.approx([expected0, expected1], abs=1e-5)


def test_preference_accuracy_counts_ties_as_misses():
    assert preference_accuracy(torch.tensor([1.0, 0.0, 2.0, 0.0]), torch.tensor([0.0, 0.0, 3.0, -1.0])) == 0.5


def test_preference_accuracy_ignores_float_noise():
    noise = torch.tensor([1e-7, -1e-7, 2e-8])
    assert preference_accuracy(noise, torch.zeros(3)) == 0.0
