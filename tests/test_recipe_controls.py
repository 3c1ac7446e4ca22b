"""SemPA's authors' recipe (no dropout, AdamW wd 0.1 / beta2 0.95, dev every N samples) and the controls
(reversed / shuffled preferences, SFT, PromptEOL inside the chat template) on tiny random models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bench.core.config import config_hash
from bench.core.errors import BenchError
from bench.core.method import METHODS, RunContext
from bench.core.models import load_model, resolve_model
from bench.core.options import RuntimeOptions
from bench.training.losses import sft_loss
from bench.training.nli import Ranked, with_preference
from bench.training.trainer import LoraSettings, Trainer, TrainSettings, attach_lora, disable_dropout
from tests.conftest import CORPUS
from tests.test_training import TINY_TRAINING, _examples, _objective

CHAT = (
    "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)


@pytest.fixture()
def fresh_model(tiny_model_dir):
    return load_model(resolve_model(str(tiny_model_dir)), device="cpu")


def test_sempa_defaults_are_the_authors_recipe_and_the_old_recipe_keeps_its_key():
    sempa = METHODS.get("sempa").build_config({})
    assert (sempa.weight_decay, sempa.adam_beta2, sempa.disable_dropout) == (0.1, 0.95, True)
    assert sempa.eval_every_samples == 1000 and sempa.dev_interval_samples() == 1000
    old = METHODS.get("sempa").build_config(
        {"weight_decay": 0, "adam_beta2": 0.999, "disable_dropout": False, "eval_every_samples": None}
    )
    assert not {"weight_decay", "adam_beta2", "disable_dropout", "eval_every_samples"} & set(old.identity())
    assert {"weight_decay", "adam_beta2", "disable_dropout", "eval_every_samples"} <= set(sempa.identity())
    assert config_hash("sempa", old) != config_hash("sempa", sempa)
    contrastive = METHODS.get("contrastive").build_config({})
    assert (contrastive.weight_decay, contrastive.adam_beta2) == (0.0, 0.999)
    assert not contrastive.disable_dropout
    assert "weight_decay" not in contrastive.identity()


def test_a_changed_step_interval_wins_over_the_default_sample_interval():
    cls = METHODS.get("sempa")
    assert cls.build_config({"eval_every": 10}).dev_interval_samples() is None
    assert cls.build_config({"eval_every_samples": 64}).dev_interval_samples() == 64
    with pytest.raises(BenchError, match="not both"):
        cls.build_config({"eval_every": 10, "eval_every_samples": 64})


@pytest.mark.parametrize(
    ("every_samples", "every_steps", "want"),
    [(20, 78, [3, 6, 8]), (None, 2, [2, 4, 6, 8]), (100, 78, [8])],  # 8 steps of 7 samples
)
def test_dev_evaluations_follow_samples_seen(fresh_model, tmp_path, every_samples, every_steps, want):
    settings = TrainSettings(
        micro_batch=7, grad_accum=1, eval_every=every_steps, eval_every_samples=every_samples
    )
    trainer = Trainer(fresh_model.model, _objective(fresh_model), settings, tmp_path, show_progress=False)
    seen, steps = 0, []
    for step in range(1, 9):
        before, seen = seen, seen + 7
        if trainer._evaluate_now(step, 8, before, seen):
            steps.append(step)
    assert steps == want


def test_training_records_samples_seen_and_uses_the_recipe(fresh_model, tmp_path, monkeypatch):
    model = attach_lora(fresh_model.model, LoraSettings(dropout=0.3), seed=0)
    made = {}
    real = torch.optim.AdamW

    def recording(params, **kwargs):
        made.update(kwargs)
        return real(params, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", recording)
    settings = TrainSettings(micro_batch=2, grad_accum=2, eval_every_samples=4, weight_decay=0.1,
                             adam_beta2=0.95, disable_dropout=True, learning_rate=1e-3)  # fmt: skip
    scores = iter(range(100))
    trainer = Trainer(model, _objective(fresh_model), settings, tmp_path, lambda: float(next(scores)), False)
    summary = trainer.train(_examples(8), [])
    assert made["weight_decay"] == 0.1 and made["betas"] == (0.9, 0.95)
    assert [p["samples"] for p in summary.dev_curve] == [0, 4, 8]
    logged = [json.loads(line) for line in (tmp_path / "training_log.jsonl").read_text().splitlines()]
    assert [r["samples"] for r in logged if "loss" in r] == [4, 8]
    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, torch.nn.Dropout))


def test_disable_dropout_makes_training_mode_deterministic(fresh_model):
    model = attach_lora(fresh_model.model, LoraSettings(dropout=0.5), seed=0)
    for module in model.modules():  # a non-zero LoRA B so the dropout path matters
        if hasattr(module, "lora_B"):
            torch.nn.init.normal_(module.lora_B["default"].weight)
    ids = torch.tensor([[1, 5, 6, 7, 8]])
    model.train()
    torch.manual_seed(0)
    noisy = [model(ids).logits for _ in range(2)]
    assert not torch.allclose(*noisy)
    assert disable_dropout(model) > 0
    clean = [model(ids).logits for _ in range(2)]
    torch.testing.assert_close(*clean)


def test_preference_controls_reverse_or_shuffle_each_list_with_the_seed():
    examples = [Ranked(f"p{i}", (f"good{i}", f"bad{i}")) for i in range(200)]
    assert with_preference(examples, "nli", 0) == examples
    reversed_ = with_preference(examples, "reversed", 0)
    assert all(r.responses == (f"bad{i}", f"good{i}") for i, r in enumerate(reversed_))
    shuffled = with_preference(examples, "shuffled", 0)
    swapped = sum(r.responses[0].startswith("bad") for r in shuffled)
    assert 70 < swapped < 130  # about half are flipped
    assert shuffled == with_preference(examples, "shuffled", 0)
    assert shuffled != with_preference(examples, "shuffled", 1)
    lists = [Ranked("p", ("a", "b", "c"))] * 60
    assert {r.responses for r in with_preference(lists, "shuffled", 0)} > {("a", "b", "c")}


def test_sft_loss_is_the_token_mean_negative_log_likelihood():
    logprobs = torch.tensor([-6.0, -2.0])
    torch.testing.assert_close(sft_loss(logprobs, torch.tensor([3.0, 4.0])), torch.tensor([2.0, 0.5]))


def _trained(name, model_dir, data_dir, **overrides):
    context = RunContext(
        options=RuntimeOptions(data_dir=data_dir, seed=0, show_progress=False),
        load_model=lambda: load_model(resolve_model(str(model_dir)), device="cpu"),
    )
    return METHODS.get(name).from_overrides({**TINY_TRAINING, **overrides}, context)


def test_sft_control_trains_only_on_the_chosen_response(tiny_model_dir, tiny_nli_data, cache_env):
    method = _trained("sempa", tiny_model_dir, tiny_nli_data, loss="sft")
    objective = method.build_objective(method.context.load_model())
    from bench.training.objectives import SFTObjective

    assert isinstance(objective, SFTObjective)
    method.prepare()
    info = method.training_info()
    assert info["steps"] >= 1 and "accuracy" in info["heldout_after"]


def test_reversed_control_trains_on_swapped_pairs_and_measures_heldout_on_real_labels(
    tiny_model_dir, tiny_nli_data, cache_env
):
    real = _trained("sempa", tiny_model_dir, tiny_nli_data).training_data()
    reversed_ = _trained("sempa", tiny_model_dir, tiny_nli_data, preference="reversed").training_data()
    assert [r.responses[::-1] for r in reversed_.train] == [r.responses for r in real.train]
    assert reversed_.heldout == real.heldout


def test_chat_readout_embeds_the_prompt_as_the_user_turn(fresh_model):
    fresh_model.tokenizer.chat_template = CHAT
    try:
        context = RunContext(options=RuntimeOptions(show_progress=False), load_model=lambda: fresh_model)
        chat = METHODS.get("prompteol").from_overrides({"chat_readout": True}, context)
        text, (start, end) = chat.render("A man sings")
        assert text == (
            "<s>system\nYou are a helpful assistant</s>\n<s>user\n"
            'This sentence : "A man sings." means in one word:"</s>\n<s>assistant\n'
        )
        assert text[start:end] == "A man sings."
        plain = METHODS.get("prompteol").from_overrides({}, context).encode(CORPUS[:3])
        assert not np.allclose(chat.encode(CORPUS[:3]), plain, atol=1e-4)
    finally:
        fresh_model.tokenizer.chat_template = None
    with pytest.raises(BenchError, match="no chat template"):
        chat.render("A man sings")


def test_a_readout_preset_reuses_its_base_adapter_and_a_control_trains_its_own(
    tiny_model_dir, tiny_nli_data, cache_env
):
    sempa = _trained("sempa", tiny_model_dir, tiny_nli_data)
    sempa.prepare()
    chat = _trained("sempa-chat", tiny_model_dir, tiny_nli_data)
    assert chat.config.chat_readout and chat.config_hash != sempa.config_hash  # a different result
    chat.prepare()
    assert chat.folder == sempa.folder  # ... from the same adapter
    shuffled = _trained("sempa-shuffled", tiny_model_dir, tiny_nli_data)
    shuffled.prepare()
    assert shuffled.folder != sempa.folder and shuffled.folder.path.name.startswith("sempa-")
