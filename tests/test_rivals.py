"""MetaEOL, embedding ensembles (CK) and presets on a tiny random Llama; config identity and lazy entries."""

from __future__ import annotations

import numpy as np
import pytest

from bench.core.config import MethodConfig, config_hash, option
from bench.core.errors import BenchError
from bench.core.method import METHODS, RunContext
from bench.core.options import RuntimeOptions
from bench.core.registry import Lazy, Registry
from tests.conftest import CORPUS

SENTENCES = CORPUS[:5]

# rivals-spec section 1, copied from the spec's table (not built from the code's constants)
METAEOL_1 = (
    "In this task, you're presented with a text excerpt. Your task is to categorize the excerpt into a broad "
    "category such as 'Education', 'Technology', 'Health', 'Business', 'Environment', 'Politics', or "
    "'Culture'. These categories help in organizing content for better accessibility and targeting. For this "
    'task, this sentence : "A man sings." should be classified under one general category in one word:"'
)
METAEOL_5 = (
    "In this task, you're presented with two sentences. Your task is to assess whether the sentences convey "
    "the same meaning. Use 'identical', 'similar', 'different', or 'unrelated' to describe the relationship. "
    'To enhance the performance of this task, this sentence : "A man sings." means in one word:"'
)
METAEOL_TARGETS = [
    "should be classified under one general category", "discriminates between opinion and fact",
    "reflects the sentiment", "conveys the emotion", "means", "means", "encapsulates the key fact",
    "highlights the primary entity or relation",
]  # fmt: skip


def _method(name, loaded, **overrides):
    context = RunContext(options=RuntimeOptions(batch_size=4, show_progress=False), load_model=lambda: loaded)
    return METHODS.get(name).from_overrides(overrides, context)


def test_metaeol_prompts_render_as_the_spec_lists_them(tiny_loaded):
    method = _method("metaeol", tiny_loaded)
    texts = [method.render("A man sings", template)[0] for template in method.templates()]
    assert len(texts) == 8
    assert texts[0] == METAEOL_1 and texts[4] == METAEOL_5
    for text, target in zip(texts, METAEOL_TARGETS, strict=True):
        assert text.endswith(f'this sentence : "A man sings." {target} in one word:"')
    enhance = [i for i, t in enumerate(texts) if ". To enhance the performance of this task, this " in t]
    assert enhance == [4, 5]
    assert all(". For this task, this sentence : " in t for i, t in enumerate(texts) if i not in enhance)
    tp = _method("metaeol+tp", tiny_loaded)
    assert all('this sentence : <PST> "' in tp.render("x", t)[0] for t in tp.templates())


def test_metaeol_is_the_plain_mean_of_its_prompts_last_token_states(tiny_loaded):
    method = _method("metaeol", tiny_loaded, meta_prompts="2,5,7")
    got = method.encode(SENTENCES)
    singles = [
        _method("prompteol", tiny_loaded, template=template).encode(SENTENCES)
        for template in method.templates()
    ]
    np.testing.assert_allclose(got, np.mean(singles, axis=0), atol=1e-6)
    one = _method("metaeol", tiny_loaded, meta_prompts="5").encode(SENTENCES)
    np.testing.assert_array_equal(one, singles[1])


def test_an_ensemble_of_one_member_is_that_member(tiny_loaded):
    alone = _method("ke", tiny_loaded).encode(SENTENCES)
    np.testing.assert_array_equal(_method("ensemble", tiny_loaded, members="ke").encode(SENTENCES), alone)


def test_ck_is_the_plain_mean_of_separately_computed_pretcot_and_ke(tiny_loaded):
    pretcot = _method("pretcot", tiny_loaded).encode(SENTENCES)
    ke = _method("ke", tiny_loaded).encode(SENTENCES)
    ck = _method("ck", tiny_loaded).encode(SENTENCES)
    np.testing.assert_allclose(ck, (pretcot.astype(np.float64) + ke) / 2, atol=1e-6)
    unit = _method("ck", tiny_loaded, combine="normalized-mean").encode(SENTENCES)
    def unit_rows(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    np.testing.assert_allclose(unit, (unit_rows(pretcot) + unit_rows(ke)) / 2, atol=1e-6)


def test_ensemble_members_take_settings_and_presets(tiny_loaded):
    method = _method("ensemble", tiny_loaded, members="pretcot[layer=-1,intervention=cp],ke+cp")
    first, second = method.members
    assert (first.name, first.config.layer, first.config.intervention) == ("pretcot", -1, "cp")
    assert second.name == "ke+cp" and second.config.intervention == "cp"
    ck_cp = _method("ck+cp", tiny_loaded).encode(SENTENCES)
    parts = [_method(name, tiny_loaded).encode(SENTENCES) for name in ("pretcot+cp", "ke+cp")]
    np.testing.assert_allclose(ck_cp, np.mean(parts, axis=0), atol=1e-6)


def test_each_ensemble_member_encodes_the_sentences_once(tiny_loaded, monkeypatch):
    method = _method("ck", tiny_loaded)
    calls = []
    for member in method.members:
        original = member.encode
        counted = lambda s, original=original: calls.append(len(s)) or original(s)  # noqa: E731
        monkeypatch.setattr(member, "encode", counted)
    method.encode(SENTENCES)
    assert calls == [len(SENTENCES), len(SENTENCES)]


def test_presets_are_listed_with_their_own_defaults_and_keys():
    names = METHODS.names()
    for preset in ("pretcot+tp", "ke+tp", "metaeol+tp", "ck", "ck+cp", "token-prepending"):
        assert preset in names
    cls = METHODS.get("pretcot+tp")
    config = cls.build_config({})
    assert (config.intervention, config.layer) == ("tp", None)
    assert config.template == METHODS.get("pretcot").build_config({}).template
    assert cls.build_config({"tp_exit_layer": 2}).non_defaults() == {"tp_exit_layer": 2}
    assert cls.description.startswith("Pretended CoT + Token Prepending")
    base = METHODS.get("pretcot").build_config({"intervention": "tp", "layer": None})
    assert config_hash("pretcot+tp", config) != config_hash("pretcot", base)


@pytest.mark.parametrize("field", ["intervention", "cp_plan", "tp_exit_layer", "cp_alpha"])
def test_new_prompt_fields_enter_the_identity_only_when_changed(field):
    config = METHODS.get("prompteol").build_config({})
    assert field not in config.identity()
    value = {"intervention": "cp", "cp_plan": "norm"}.get(field, 3)
    changed = METHODS.get("prompteol").build_config({field: value})
    assert field in changed.identity()
    assert config_hash("prompteol", changed) != config_hash("prompteol", config)
    assert set(config.to_dict()) - set(config.identity()) == {
        "intervention", "tp_start_layer", "tp_exit_layer", "cp_layer", "cp_alpha", "cp_plan", "cp_auxiliary"
    }  # fmt: skip


def test_an_unkeyed_field_is_keyed_again_when_a_preset_changes_its_default():
    from dataclasses import dataclass

    from bench.core.presets import derive_config

    @dataclass(frozen=True)
    class Base(MethodConfig):
        size: int = option(1, "size")
        extra: str = option("off", "added later", keyed_only_if_changed=True)

    derived = derive_config(Base, "base+on", {"extra": "on"}, "base with extra on")
    assert Base().identity() == {"size": 1}
    assert derived().identity() == {"size": 1, "extra": "on"}
    with pytest.raises(ValueError, match="no field"):
        derive_config(Base, "broken", {"nope": 1}, "")
    with pytest.raises(BenchError, match="not a valid int"):
        derive_config(Base, "broken", {"size": "x"}, "")


def test_lazy_registry_entries_are_made_once_on_first_use():
    made = []

    class Thing:
        name = "thing"

    def factory():
        made.append(1)
        return Thing

    registry: Registry[type] = Registry("thing", object)
    registry.register_lazy("thing", Lazy(factory), Config=Lazy(lambda: "light"))
    assert registry.attribute("thing", "Config") == "light" and made == []
    assert registry.get("thing") is Thing and registry.get("thing") is Thing
    assert made == [1]
