"""Training machinery on a tiny random Llama: log-probs, fresh-adapter identities, steps, cache, reload."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

from bench.core.errors import BenchError
from bench.core.method import METHODS, RunContext
from bench.core.models import load_model, resolve_model
from bench.core.options import RuntimeOptions
from bench.core.sequences import ChatFormatter, PromptResponse, response_logprobs
from bench.training.adapters import interrupted_trainings
from bench.training.nli import Ranked, load_nli
from bench.training.objectives import (
    Objective,
    PreferenceObjective,
    StepOutput,
    pairwise_dpo,
    plackett_luce,
    prompt_sharing_chunks,
)
from bench.training.resume import RESUME_FILE
from bench.training.trainer import LoraSettings, Trainer, TrainSettings, attach_lora

PROMPT = 'Keep the same meaning of this sentence: "{s}", while making some changes.'
TINY_TRAINING = {"train_batch_size": 4, "grad_accum": 1, "eval_every": 2, "heldout": 3, "learning_rate": 5e-3}


@pytest.fixture()
def fresh_model(tiny_model_dir):
    return load_model(resolve_model(str(tiny_model_dir)), device="cpu")


def _examples(n: int = 8) -> list[Ranked]:
    words = ["A man is playing a guitar.", "The cat sleeps on the sofa.", "Two dogs run across the field."]
    return [Ranked(f"{words[i % 3]} {i}", (words[(i + 1) % 3], words[(i + 2) % 3])) for i in range(n)]


def _objective(loaded, loss=pairwise_dpo, **kwargs) -> PreferenceObjective:
    formatter = ChatFormatter(loaded.tokenizer, "You are a helpful assistant")
    return PreferenceObjective(formatter, PROMPT, 0.1, loss, loaded.tokenizer.pad_token_id, **kwargs)


def test_response_logprobs_match_a_full_forward(fresh_model):
    objective = _objective(fresh_model)
    sequences = [s for e in _examples(3) for s in objective.sequences(e)]
    with torch.no_grad():
        batched = response_logprobs(fresh_model.model, sequences, fresh_model.tokenizer.pad_token_id)
        for value, seq in zip(batched, sequences, strict=True):
            ids = torch.tensor([seq.prompt + seq.response])
            logprobs = fresh_model.model(ids).logits.log_softmax(-1)[0]
            expected = sum(logprobs[t - 1, ids[0, t]].item() for t in range(len(seq.prompt), ids.shape[1]))
            assert value.item() == pytest.approx(expected, abs=1e-4)


def test_chat_formatter_ends_response_with_end_of_turn(fresh_model):
    tokenizer = fresh_model.tokenizer
    tokenizer.chat_template = (
        "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
        "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
    )
    try:
        formatter = ChatFormatter(tokenizer, "You are a helpful assistant")
        assert formatter.chat
        seq = formatter.encode("Keep it.", "A cat.")
        assert seq.response[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(seq.prompt).endswith("assistant\n")
    finally:
        tokenizer.chat_template = None


def test_fresh_adapter_gives_log2_and_reference_logprobs(fresh_model):
    model = attach_lora(fresh_model.model, LoraSettings(), seed=0)
    objective = _objective(fresh_model)
    examples = _examples(4)
    objective.setup(model, examples, show_progress=False)
    model.train()
    out = objective.step(model, examples)
    assert torch.allclose(out.loss, torch.full((4,), math.log(2)), atol=1e-6)
    assert out.metrics["accuracy"] == 0.0 and out.metrics["margin"] == 0.0


def test_reference_chunks_keep_each_prompts_responses_together_ordered_by_length():
    seq = lambda prompt, response: PromptResponse(tuple(range(prompt)), (7,) * response)  # noqa: E731
    sequences = [seq(5, 2), seq(5, 3), seq(2, 4), seq(2, 1), seq(9, 1), seq(9, 2), seq(2, 4), seq(3, 3)]
    chunks = prompt_sharing_chunks(sequences, size=3)
    flat = [s for c in chunks for s in c]
    assert len(flat) == len(set(flat)) == 7 and set(flat) == set(sequences)  # each distinct one once
    assert [[len(s.prompt) for s in c] for c in chunks] == [[2, 2, 3], [5, 5], [9, 9]]
    assert prompt_sharing_chunks(sequences, size=1)[0] == [seq(2, 4), seq(2, 1)]  # a prompt is never split


def test_reference_logprobs_equal_each_sequence_scored_alone(fresh_model):
    objective = _objective(fresh_model, reference_batch_size=4)
    model = attach_lora(fresh_model.model, LoraSettings(), seed=0)
    examples = _examples(6)
    objective.setup(model, examples, show_progress=False)
    sequences = [s for e in examples for s in objective.sequences(e)]
    with torch.no_grad(), model.disable_adapter():
        alone = [response_logprobs(model, [s], objective.pad_token_id).item() for s in sequences]
    assert [objective.reference[s] for s in sequences] == pytest.approx(alone, abs=1e-4)


def test_training_lowers_the_loss_and_changes_only_lora(fresh_model, tmp_path):
    before = {n: p.detach().clone() for n, p in fresh_model.model.named_parameters()}
    model = attach_lora(fresh_model.model, LoraSettings(), seed=0)
    examples = _examples(8)
    settings = TrainSettings(learning_rate=5e-3, warmup_ratio=0.0, epochs=6, micro_batch=4, grad_accum=2)
    trainer = Trainer(model, _objective(fresh_model), settings, tmp_path, show_progress=False)
    summary = trainer.train(examples, examples[:4])
    assert summary.heldout_after["loss"] < summary.heldout_before["loss"] - 0.05
    assert summary.heldout_after["accuracy"] > 0.5
    base_name = lambda n: n.removeprefix("base_model.model.").replace(".base_layer", "")  # noqa: E731
    changed = {
        n
        for n, p in model.named_parameters()
        if "lora_" not in n and not torch.equal(p, before[base_name(n)])
    }
    assert changed == set()
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)
    assert (tmp_path / "training_log.jsonl").is_file() and (tmp_path / "loss_curve.png").is_file()


def test_listwise_objective_runs_with_in_batch_negatives(fresh_model):
    model = attach_lora(fresh_model.model, LoraSettings(), seed=0)
    lists = [Ranked(e.premise, (*e.responses, "Kids are playing in the yard.")) for e in _examples(3)]
    objective = _objective(fresh_model, plackett_luce(False), in_batch_negatives=True)
    objective.setup(model, lists, show_progress=False)
    out = objective.step(model, lists)
    # fresh adapter: every score is 0, so each of the two stages costs log(remaining items + 2 negatives)
    assert torch.allclose(out.loss, torch.full((3,), math.log(5) + math.log(4)), atol=1e-5)


@pytest.mark.parametrize("dev_scores, warned", [([80.0, 79.0, 78.0], True), ([80.0, 79.0, 80.5], False)])
def test_a_warning_says_when_no_checkpoint_beats_the_untrained_model(
    fresh_model, tmp_path, capsys, dev_scores, warned
):
    model = attach_lora(fresh_model.model, LoraSettings(), seed=0)
    scores = iter(dev_scores)
    settings = TrainSettings(micro_batch=4, grad_accum=1, eval_every=1)
    objective = _objective(fresh_model)
    dev = lambda: next(scores)  # noqa: E731
    trainer = Trainer(model, objective, settings, tmp_path, score_dev=dev, show_progress=False)
    summary = trainer.train(_examples(8), [])
    assert summary.best_step == (1 if warned else 2)
    err = capsys.readouterr().err
    assert ("no checkpoint beat the untrained model" in err) is warned
    if warned:
        assert "kept step 1: 79.00; untrained: 80.00" in err


class _NaNObjective(Objective):
    def step(self, model, batch):
        param = next(p for p in model.parameters() if p.requires_grad)
        return StepOutput(param.sum() * float("nan") * torch.ones(len(batch)), {})


def test_nan_loss_stops_with_the_step_number(fresh_model, tmp_path):
    model = attach_lora(fresh_model.model, LoraSettings(), seed=0)
    trainer = Trainer(
        model, _NaNObjective(), TrainSettings(micro_batch=4, grad_accum=1), tmp_path, show_progress=False
    )
    with pytest.raises(BenchError, match="at step 1"):
        trainer.train(_examples(8), [])


class _Killed(BaseException):
    """Stands for a kill (Ctrl-C, the end of a session): not an error the training could have handled."""


RESUMABLE = TrainSettings(learning_rate=5e-3, warmup_ratio=0.25, micro_batch=4, grad_accum=1, eval_every=1)


def _train_tiny(model_dir, out, settings=RESUMABLE, stop_at=None, stop_with=_Killed, dev_sign=1.0):
    """Train a fresh LoRA (dropout on, so the random generators matter) for 4 steps with a dev score that
    follows the weights (growing with them, or with ``dev_sign=-1`` falling, so step 1 is kept); raise
    ``stop_with`` after the dev evaluation of step ``stop_at``."""
    loaded = load_model(resolve_model(str(model_dir)), device="cpu")
    model = attach_lora(loaded.model, LoraSettings(), seed=0)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    dev = lambda: dev_sign * float(sum(p.detach().double().abs().sum() for p in lora_b))  # noqa: E731

    def on_dev_score(step, score):
        if step == stop_at:
            raise stop_with

    trainer = Trainer(model, _objective(loaded), settings, out, dev, False, on_dev_score)
    summary = trainer.train(_examples(16), _examples(4))
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}, summary


def _losses(folder):
    import json

    lines = (json.loads(line) for line in (folder / "training_log.jsonl").read_text().splitlines())
    return [(r["step"], r.get("loss"), r.get("stsb_dev")) for r in lines]


def test_a_resumed_training_takes_the_same_steps_as_one_that_never_stopped(tiny_model_dir, tmp_path):
    weights, summary = _train_tiny(tiny_model_dir, tmp_path / "once")
    with pytest.raises(_Killed):
        _train_tiny(tiny_model_dir, tmp_path / "twice", stop_at=2)
    assert (tmp_path / "twice" / RESUME_FILE).is_file()
    resumed_weights, resumed = _train_tiny(tiny_model_dir, tmp_path / "twice")
    assert resumed.resumed_at == [2] and summary.resumed_at == []
    assert resumed.dev_curve == summary.dev_curve and len(summary.dev_curve) == 5
    assert resumed.heldout_after == pytest.approx(summary.heldout_after, abs=1e-6)
    assert resumed.heldout_before == summary.heldout_before
    for name, value in weights.items():
        torch.testing.assert_close(resumed_weights[name], value, rtol=0, atol=1e-7)
    assert _losses(tmp_path / "twice") == _losses(tmp_path / "once")
    assert not (tmp_path / "twice" / RESUME_FILE).exists()


def test_a_resumed_training_reuses_the_stored_reference_logprobs(tiny_model_dir, tmp_path, monkeypatch):
    computed = []
    original = PreferenceObjective._reference_logprobs

    def counting(self, model, sequences):
        computed.append(len(sequences))
        return original(self, model, sequences)

    monkeypatch.setattr(PreferenceObjective, "_reference_logprobs", counting)
    weights, summary = _train_tiny(tiny_model_dir, tmp_path / "once")
    needed = sum(computed)
    assert needed > 0
    with pytest.raises(_Killed):
        _train_tiny(tiny_model_dir, tmp_path / "twice", stop_at=2)
    computed.clear()
    resumed_weights, resumed = _train_tiny(tiny_model_dir, tmp_path / "twice")
    assert computed == []  # every reference value came from the resume state
    assert resumed.heldout_before == summary.heldout_before
    for name, value in weights.items():
        torch.testing.assert_close(resumed_weights[name], value, rtol=0, atol=1e-7)


def test_the_kept_adapter_is_restored_when_a_kill_left_a_later_one(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    _train_tiny(tiny_model_dir, tmp_path / "once", dev_sign=-1.0)
    with pytest.raises(_Killed):
        _train_tiny(tiny_model_dir, tmp_path / "twice", stop_at=2, dev_sign=-1.0)
    shutil.rmtree(tmp_path / "twice" / "adapter")  # as if killed while saving a newer best
    _, summary = _train_tiny(tiny_model_dir, tmp_path / "twice", dev_sign=-1.0)
    assert summary.best_step == 1 and summary.resumed_at == [2]
    expected = load_file(str(tmp_path / "once" / "adapter" / "adapter_model.safetensors"))
    restored = load_file(str(tmp_path / "twice" / "adapter" / "adapter_model.safetensors"))
    assert expected.keys() == restored.keys()
    for name, value in expected.items():
        torch.testing.assert_close(restored[name], value, rtol=0, atol=0)


def test_a_training_stopped_by_its_dev_hook_leaves_no_resume_state(tiny_model_dir, tmp_path):
    class Pruned(Exception):
        pass

    with pytest.raises(Pruned):
        _train_tiny(tiny_model_dir, tmp_path, stop_at=2, stop_with=Pruned)
    assert (tmp_path / "training_log.jsonl").is_file() and not (tmp_path / RESUME_FILE).exists()


def test_a_resume_state_of_other_settings_or_a_damaged_one_starts_over(tiny_model_dir, tmp_path, capsys):
    with pytest.raises(_Killed):
        _train_tiny(tiny_model_dir, tmp_path, stop_at=1)
    other = TrainSettings(**{**RESUMABLE.__dict__, "learning_rate": 1e-3})
    _, summary = _train_tiny(tiny_model_dir, tmp_path, settings=other)
    assert "belongs to other settings (settings)" in capsys.readouterr().err
    assert summary.resumed_at == [] and not (tmp_path / RESUME_FILE).exists()
    (tmp_path / RESUME_FILE).write_bytes(b"not a torch file")
    _, summary = _train_tiny(tiny_model_dir, tmp_path)
    assert "is unreadable" in capsys.readouterr().err and summary.resumed_at == []
    assert [step for step, loss, _ in _losses(tmp_path) if loss is not None] == [1, 2, 3, 4]


def test_a_trained_method_resumes_its_interrupted_training_unless_retrained(
    tiny_model_dir, tiny_nli_data, cache_env
):
    _method.model_dir = tiny_model_dir
    uninterrupted = _method("sempa", tiny_nli_data, seed=3)
    uninterrupted.prepare()
    expected = uninterrupted.encode(SENTENCES)
    shutil.rmtree(uninterrupted.folder.path)

    def stop(step, score):
        raise _Killed

    method = _method("sempa", tiny_nli_data, seed=3, on_dev_score=stop)
    with pytest.raises(_Killed):
        method.prepare()
    assert (method.folder.staging / RESUME_FILE).is_file() and not method.folder.is_complete()
    [interrupted] = interrupted_trainings()
    assert interrupted.folder == method.folder.staging and interrupted.step == 2 and interrupted.steps > 2
    assert [samples for samples, _ in interrupted.dev_curve] == [0, interrupted.samples_seen]
    assert interrupted.dev_so_far().startswith("0: ")
    resumed = _method("sempa", tiny_nli_data, seed=3)
    resumed.prepare()
    assert resumed.summary["resumed_at"] == [2] and not resumed.folder.staging.exists()
    assert interrupted_trainings() == []
    np.testing.assert_allclose(resumed.encode(SENTENCES), expected, atol=1e-5)
    shutil.rmtree(resumed.folder.path)
    method = _method("sempa", tiny_nli_data, seed=3, on_dev_score=stop)
    with pytest.raises(_Killed):
        method.prepare()
    again = _method("sempa", tiny_nli_data, seed=3, retrain=True)
    again.prepare()
    assert again.summary["resumed_at"] == []


def _method(name, data_dir, seed=0, retrain=False, on_dev_score=None, **overrides):
    context = RunContext(
        options=RuntimeOptions(data_dir=data_dir, seed=seed, show_progress=False),
        load_model=lambda: load_model(resolve_model(str(_method.model_dir)), device="cpu"),
        retrain=retrain,
        on_dev_score=on_dev_score,
    )
    return METHODS.get(name).from_overrides({**TINY_TRAINING, **overrides}, context)


SENTENCES = ["A man is playing a guitar.", "Two dogs run across the field.", "The cat sleeps on the sofa."]


@pytest.mark.parametrize("name", ["sempa", "sempa-pl", "contrastive"])
def test_trained_method_caches_and_reloads_its_adapter(name, tiny_model_dir, tiny_nli_data, cache_env):
    _method.model_dir = tiny_model_dir
    first = _method(name, tiny_nli_data)
    first.prepare()
    trained = first.encode(SENTENCES)
    info = first.training_info()
    assert info and info["steps"] >= 2 and info["heldout_after"]
    folder = first.folder
    assert folder.is_complete() and (folder.path / "dev_curve.png").is_file()
    assert not folder.staging.exists()
    from peft import PeftModel

    assert PeftModel.from_pretrained(first.context.load_model().model, str(folder.adapter)) is not None
    second = _method(name, tiny_nli_data)
    second.prepare()  # reuses the cached adapter: same folder, same embeddings
    assert second.folder == folder
    np.testing.assert_allclose(second.encode(SENTENCES), trained, atol=1e-5)
    again = _method(name, tiny_nli_data, retrain=True)
    again.prepare()  # retrained with the same seed: the same adapter
    np.testing.assert_allclose(again.encode(SENTENCES), trained, atol=1e-5)


def test_cache_key_follows_config_data_and_seed(tiny_model_dir, tiny_nli_data, cache_env, tmp_path):
    _method.model_dir = tiny_model_dir
    base = _method("sempa", tiny_nli_data)
    base.prepare()
    variants = [
        _method("sempa", tiny_nli_data, beta=0.2),
        _method("sempa", tiny_nli_data, seed=1),
        _method("sempa", tiny_nli_data, train_samples=10),
    ]
    other_data = tmp_path / "other"
    shutil.copytree(tiny_nli_data, other_data)
    with open(other_data / "nli" / "mnli_devmatched_triplets.csv", "a") as fh:
        fh.write("One more premise.,An entailment.,A contradiction.,dev\n")
    variants.append(_method("sempa", other_data))
    folders = {base.folder.path}
    for method in variants:
        method.prepare()
        folders.add(method.folder.path)
    assert len(folders) == 5


def test_release_restores_the_shared_model(tiny_model_dir, tiny_nli_data, cache_env):
    loaded = load_model(resolve_model(str(tiny_model_dir)), device="cpu")
    context = RunContext(
        options=RuntimeOptions(data_dir=tiny_nli_data, show_progress=False), load_model=lambda: loaded
    )
    prompteol = METHODS.get("prompteol").from_overrides({}, context)
    before = prompteol.encode(SENTENCES)
    sempa = METHODS.get("sempa").from_overrides(TINY_TRAINING, context)
    sempa.prepare()
    assert not np.allclose(sempa.encode(SENTENCES), before, atol=1e-4)
    sempa.release()
    after = METHODS.get("prompteol").from_overrides({}, context).encode(SENTENCES)
    np.testing.assert_allclose(after, before, atol=1e-6)
    assert not any("lora_" in n for n, _ in loaded.model.named_parameters())


def test_interrupted_training_leaves_no_finished_adapter(
    tiny_model_dir, tiny_nli_data, cache_env, monkeypatch
):
    _method.model_dir = tiny_model_dir
    method = _method("sempa", tiny_nli_data)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("bench.training.trainer.Trainer._evaluate_now", lambda self, *args: interrupt())
    with pytest.raises(KeyboardInterrupt):
        method.prepare()
    assert not method.folder.is_complete()
    monkeypatch.undo()
    resumed = _method("sempa", tiny_nli_data)
    resumed.prepare()
    assert resumed.folder.is_complete() and not resumed.folder.staging.exists()


def test_train_samples_caps_the_training_set(tiny_nli_data):
    data = load_nli(tiny_nli_data, "triplets", seed=0, train_samples=7, heldout=3)
    assert len(data.train) == 7


def test_runner_trains_records_and_leaves_other_methods_unchanged(
    tiny_model_dir, tiny_nli_data, cache_env, tmp_path
):
    from bench.app.runner import RunRequest, run
    from bench.app.store import ResultStore

    def request(methods, out):
        options = RuntimeOptions(model=str(tiny_model_dir), data_dir=tiny_nli_data, out=out, device="cpu",
                                 show_progress=False)  # fmt: skip
        return RunRequest(
            methods=methods, suites=["sts-dev"], options=options, overrides={"sempa": dict(TINY_TRAINING)},
            train_samples=12 if "sempa" in methods else None,
        )  # fmt: skip

    keys = run(request(["sempa", "prompteol"], tmp_path / "a"))
    records = [ResultStore(tmp_path / "a").read(k) for k in keys]
    training = records[0].method.training
    assert training["examples"] == 12 and training["adapter"].endswith("adapter")
    assert records[0].method.config["train_samples"] == 12
    alone = run(request(["prompteol"], tmp_path / "b"))
    assert ResultStore(tmp_path / "b").read(alone[0]).main_score == records[1].main_score


def test_shared_prompt_path_matches_full_sequences_in_value_and_gradient(fresh_model):
    from bench.core.sequences import _full_sequence_logprobs, _shared_prefix_length, _shared_prompt_logprobs

    model = attach_lora(fresh_model.model, LoraSettings(), seed=0)
    with torch.no_grad():  # a non-zero adapter, so gradients reach both LoRA matrices
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)
    model.eval()  # no LoRA dropout: both paths must see the same function
    objective = _objective(fresh_model)
    sequences = [s for e in _examples(3) for s in objective.sequences(e)]
    # system prompt and template head: one forward for all prompts, continued by each prompt's rest
    assert _shared_prefix_length(list(dict.fromkeys(s.prompt for s in sequences))) >= 5
    pad = fresh_model.tokenizer.pad_token_id
    grads = []
    for path in (_full_sequence_logprobs, _shared_prompt_logprobs):
        model.zero_grad()
        values = path(model, sequences, pad)
        (values * torch.arange(1.0, len(sequences) + 1)).sum().backward()
        grads.append([p.grad.clone() for n, p in model.named_parameters() if "lora_" in n])
        grads.append(values.detach())
    torch.testing.assert_close(grads[3], grads[1], atol=1e-4, rtol=1e-4)
    for full, shared in zip(grads[0], grads[2], strict=True):
        torch.testing.assert_close(shared, full, atol=1e-4, rtol=1e-3)


def test_the_shared_prefix_leaves_every_prompt_a_token_of_its_own():
    from bench.core.sequences import _shared_prefix_length

    assert _shared_prefix_length([(1, 2, 3, 4), (1, 2, 3, 5, 6)]) == 3
    assert _shared_prefix_length([(1, 2, 3), (1, 2, 3, 4)]) == 2  # the shorter prompt keeps its last token
    assert _shared_prefix_length([(1, 2), (1, 3)]) == 0  # one shared token is not worth a forward
    assert _shared_prefix_length([(1, 2, 3)]) == 0


def test_merged_for_inference_matches_the_adapter_and_leaves_the_model_untouched(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from bench.core.lora_merge import is_peft_model, merged_for_inference
    from bench.training.trainer import LoraSettings, attach_lora

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = attach_lora(base, LoraSettings(4, 8, 0.0, "all-linear"), 0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:  # peft initialises B to 0: make the adapter change the output
                param.normal_(0, 0.5)
    model.eval()
    ids = torch.tensor([[1, 5, 9, 17, 33, 2]])
    with torch.no_grad():
        before = model(ids).logits
        with merged_for_inference(model) as merged:
            assert not is_peft_model(merged)
            merged_logits = merged(ids).logits
        after = model(ids).logits
    assert is_peft_model(model)
    assert torch.allclose(merged_logits, before, atol=1e-4)
    assert torch.equal(after, before)
    with torch.no_grad(), model.disable_adapter():
        assert not torch.allclose(model(ids).logits, before, atol=1e-3)  # the adapter really mattered


def test_seeds_are_part_of_a_trained_result_and_training_free_methods_run_once(
    tiny_model_dir, tiny_nli_data, cache_env, tmp_path
):
    from bench.app.runner import RunRequest, run
    from bench.app.store import ResultStore

    options = RuntimeOptions(model=str(tiny_model_dir), data_dir=tiny_nli_data, out=tmp_path, device="cpu",
                             show_progress=False)  # fmt: skip
    request = RunRequest(
        methods=["sempa", "prompteol"], suites=["sts-dev"], options=options, seeds=[0, 1],
        overrides={"sempa": dict(TINY_TRAINING)}, train_samples=12,
    )  # fmt: skip
    keys = run(request)
    sempa = [k for k in keys if k.method == "sempa"]
    prompteol = [k for k in keys if k.method == "prompteol"]
    assert [k.seed for k in sempa] == [0, 1] and len({ResultStore(tmp_path).path(k) for k in sempa}) == 2
    assert [k.seed for k in prompteol] == [None]  # computed once, not once per seed
    store = ResultStore(tmp_path)
    scores = [store.read(k).main_score for k in sempa]
    assert scores[0] != scores[1]  # a different seed is a different training run
    assert [store.read(k).seed for k in sempa] == [0, 1]


@pytest.mark.parametrize(
    "examples,margin",
    [(2, 0), (2, -1), (1, 0)],
    ids=["window-equals-width", "window-one-short", "one-prompt-no-shared-prefix"],
)
def test_sliding_window_model_logprobs_match_a_full_forward_on_either_path(tmp_path, examples, margin):
    from bench.core.engine import attends_to_whole_input
    from bench.core.models import load_model, resolve_model
    from tests.conftest import build_tiny_gemma3, tiny_tokenizer

    formatter = ChatFormatter(tiny_tokenizer(), "You are a helpful assistant")
    objective = PreferenceObjective(formatter, PROMPT, 0.1, pairwise_dpo, 0)
    sequences = [s for e in _examples(examples) for s in objective.sequences(e)]
    width = max(len(s.prompt) for s in sequences) + max(len(s.response) for s in sequences)
    folder = build_tiny_gemma3(tmp_path / "g", width + margin)
    loaded = load_model(resolve_model(str(folder)), device="cpu")
    assert attends_to_whole_input(loaded.model, width) == (margin == 0)  # shared-prompt path or plain path
    with torch.no_grad():
        batched = response_logprobs(loaded.model, sequences, loaded.tokenizer.pad_token_id)
        for value, seq in zip(batched, sequences, strict=True):
            ids = torch.tensor([seq.prompt + seq.response])
            logprobs = loaded.model(ids).logits.float().log_softmax(-1)[0]
            expected = sum(logprobs[t - 1, ids[0, t]].item() for t in range(len(seq.prompt), ids.shape[1]))
            assert value.item() == pytest.approx(expected, abs=1e-4)
