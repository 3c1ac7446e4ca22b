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

# rivals-spec section 1: each prompt is `{D} {L}, this sentence : "{s}" {T} in one word:"`, D and T copied
# from the spec's table, L = "To enhance the performance of this task" for 5-6 and "For this task" otherwise.
_SPEC_TABLE = [
    ("In this task, you're presented with a text excerpt. Your task is to categorize the excerpt into a "
     "broad category such as 'Education', 'Technology', 'Health', 'Business', 'Environment', 'Politics', or "
     "'Culture'. These categories help in organizing content for better accessibility and targeting.",
     "should be classified under one general category"),
    ("In this task, you're given a statement and you need to determine whether it's presenting an "
     "'Opinion' or a 'Fact'. This distinction is vital for information verification, educational "
     "purposes, and content analysis.", "discriminates between opinion and fact"),
    ("In this task, you're given a review from an online platform. Your task is to generate a rating for the "
     "product based on the review on a scale of 1-5, where 1 means 'extremely negative' and 5 means "
     "'extremely positive'.", "reflects the sentiment"),
    ("In this task, you're reading a personal diary entry. Your task is to identify the predominant emotion "
     "expressed, such as joy, sadness, anger, fear, or love.", "conveys the emotion"),
    ("In this task, you're presented with two sentences. Your task is to assess whether the sentences convey "
     "the same meaning. Use 'identical', 'similar', 'different', or 'unrelated' to describe the "
     "relationship.", "means"),
    ("In this task, you're given a sentence and a phrase. Your task is to determine if the phrase can be a "
     "contextual synonym within the given sentence. Options include 'yes', 'no', or 'partially'.", "means"),
    ("In this task, you're examining a news article. Your task is to extract the most critical fact from the "
     "article.", "encapsulates the key fact"),
    ("In this task, you're reviewing a scientific abstract. Your task is to identify the main entities "
     "(e.g., proteins, diseases) and their relations (e.g., causes, treats).",
     "highlights the primary entity or relation"),
]  # fmt: skip
SPEC_PROMPTS = [
    f"{d} {'To enhance the performance of this task' if i in (4, 5) else 'For this task'}, this sentence : "
    f'"A man sings." {t} in one word:"'
    for i, (d, t) in enumerate(_SPEC_TABLE)
]
METAEOL_1 = (
    "In this task, you're presented with a text excerpt. Your task is to categorize the excerpt into a broad "
    "category such as 'Education', 'Technology', 'Health', 'Business', 'Environment', 'Politics', or "
    "'Culture'. These categories help in organizing content for better accessibility and targeting. For this "
    'task, this sentence : "A man sings." should be classified under one general category in one word:"'
)


def _method(name, loaded, **overrides):
    context = RunContext(options=RuntimeOptions(batch_size=4, show_progress=False), load_model=lambda: loaded)
    return METHODS.get(name).from_overrides(overrides, context)


def test_metaeol_prompts_render_as_the_spec_lists_them(tiny_loaded):
    method = _method("metaeol", tiny_loaded)
    texts = [method.render("A man sings", template)[0] for template in method.templates()]
    assert texts == SPEC_PROMPTS
    assert texts[0] == METAEOL_1  # one written out in full, as a check on the table's assembly
    tp = _method("metaeol+tp", tiny_loaded)
    tp_texts = [tp.render("A man sings", t)[0] for t in tp.templates()]
    assert tp_texts == [t.replace('this sentence : "', 'this sentence : <PST> "') for t in SPEC_PROMPTS]
    subset = _method("metaeol", tiny_loaded, meta_prompts="7+2")
    rendered = [subset.render("A man sings", t)[0] for t in subset.templates()]
    assert rendered == [SPEC_PROMPTS[6], SPEC_PROMPTS[1]]


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


def test_ensemble_members_share_one_model_load(tiny_loaded):
    loads = []

    def load():
        loads.append(1)
        return tiny_loaded

    context = RunContext(options=RuntimeOptions(batch_size=4, show_progress=False), load_model=load)
    method = METHODS.get("ck+cp").from_overrides({}, context)
    method.encode(SENTENCES[:2])
    models = {id(member.causal_lm()) for member in method.members}
    assert len(models) == 1 and method.causal_lm() is tiny_loaded


def test_an_ensemble_is_keyed_by_its_members_configs_not_its_spelling(tiny_loaded):
    def key(**overrides):
        return _method("ensemble", tiny_loaded, **overrides).config_hash

    assert key(members="pretcot,ke") == key(members="pretcot, ke")
    assert key(members="pretcot,ke") != key(members="pretcot,ke[layer=-1]")
    assert key(members="pretcot,ke") != key(members="ke,pretcot[layer=-3]")
    assert key(members="pretcot,ke") != key(members="pretcot,ke", combine="normalized-mean")


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
        "intervention", "tp_start_layer", "tp_exit_layer", "cp_layer", "cp_alpha", "cp_plan", "cp_auxiliary",
        "chat_readout",
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
