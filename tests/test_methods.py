"""Methods: registry, typed configs, PromptEOL preprocessing, templates and readouts."""

from __future__ import annotations

import numpy as np
import pytest

from bench.core.config import build_config, config_hash
from bench.core.errors import BenchError
from bench.core.method import METHODS, RunContext
from bench.core.options import RuntimeOptions
from methods.configs import KE_TEMPLATE, PRETCOT_TEMPLATE, PROMPTEOL_TEMPLATE, PromptConfig
from methods.prompting import prompteol_preprocess


def _method(name, loaded, **overrides):
    return METHODS.get(name).from_overrides(
        overrides, RunContext(options=RuntimeOptions(show_progress=False), load_model=lambda: loaded)
    )


@pytest.mark.parametrize(
    "raw,clean",
    [
        ("A man plays", "A man plays."),
        ("Is it raining?", "Is it raining."),
        ('He said "hi"', "He said 'hi'"),
        ("Done.", "Done."),
        ("  padded  ", "padded."),
    ],
)
def test_prompteol_preprocessing(raw, clean):
    assert prompteol_preprocess(raw) == clean


def test_builtin_methods_are_registered_with_their_spec_settings():
    assert {"mean", "prompteol", "pretcot", "ke", "echo", "sbert"} <= set(METHODS.names())
    assert METHODS.get("prompteol").Config().template == PROMPTEOL_TEMPLATE
    assert METHODS.get("prompteol").Config().layer == -1
    assert METHODS.get("pretcot").Config().template == PRETCOT_TEMPLATE
    assert METHODS.get("ke").Config().template == KE_TEMPLATE
    assert METHODS.get("pretcot").Config().layer == METHODS.get("ke").Config().layer == -2
    mean = METHODS.get("mean").Config()
    assert (mean.template, mean.pooling, mean.preprocess) == ("{sentence}", "mean", False)


def test_every_config_field_has_a_default_and_help():
    for _, cls in METHODS.items():
        for name, _type, _default, help_text in cls.Config.describe_fields():
            assert help_text, f"{cls.name}.{name} has no help text"


def test_unknown_method_suggests_close_names():
    with pytest.raises(BenchError, match="did you mean prompteol"):
        METHODS.get("promptoel")


def test_config_overrides_are_typed_and_validated():
    cfg = build_config(PromptConfig, {"layer": "-2", "preprocess": "false", "pooling": "mean"})
    assert (cfg.layer, cfg.preprocess, cfg.pooling) == (-2, False, "mean")
    with pytest.raises(BenchError, match="no field 'lyer'"):
        build_config(PromptConfig, {"lyer": 1})
    with pytest.raises(BenchError, match="'x' is not a valid int"):
        build_config(PromptConfig, {"layer": "x"})
    with pytest.raises(BenchError, match="not one of last\\|mean|not one of last, mean"):
        build_config(PromptConfig, {"pooling": "max"})


def test_config_hash_changes_with_any_field():
    base = PromptConfig()
    assert config_hash("prompteol", base) == config_hash("prompteol", PromptConfig())
    assert config_hash("prompteol", base) != config_hash("pretcot", base)
    assert config_hash("prompteol", base) != config_hash(
        "prompteol", build_config(PromptConfig, {"layer": -2})
    )


def test_template_renders_preprocessed_sentence(tiny_loaded):
    method = _method("prompteol", tiny_loaded)
    text, (start, end) = method.render('Is "it" raining?')
    assert text == 'This sentence : "Is \'it\' raining." means in one word:"'
    assert text[start:end] == "Is 'it' raining."


def test_echo_pools_over_the_second_copy(tiny_loaded):
    method = _method("echo", tiny_loaded)
    item = method.to_item("A man is playing a guitar.")
    tokenizer = tiny_loaded.tokenizer
    pooled_text = tokenizer.decode(item.input_ids[item.pool_start : item.pool_end]).strip()
    assert pooled_text == "A man is playing a guitar."
    full = tokenizer.decode(item.input_ids)
    assert item.pool_start > len(tokenizer(full[: full.index("rewritten")])["input_ids"]) - 1


def test_layer_is_a_config_change(tiny_loaded):
    sentences = ["A man is playing a guitar.", "The cat sleeps on the sofa."]
    last = _method("prompteol", tiny_loaded).encode(sentences)
    second = _method("prompteol", tiny_loaded, layer=-2).encode(sentences)
    assert last.shape == second.shape == (2, 32)
    assert not np.allclose(last, second)
    assert _method("prompteol", tiny_loaded, layer=-2).label() == "prompteol[layer=-2]"


def test_template_without_slot_is_rejected(tiny_loaded):
    with pytest.raises(BenchError, match="must contain \\{sentence\\}"):
        _method("prompteol", tiny_loaded, template="no slot here")
