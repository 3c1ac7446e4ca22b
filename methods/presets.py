"""Registered presets: named combinations of a method's settings, shown by ``bench ls`` like methods.

Each preset is a base method and the fields it sets; ``bench.core.presets`` derives its config class (new
defaults) and method class (the base's code). Readouts: ``layer: None`` takes the intervention paper's
readout for that prompt (rivals-spec: hs[27] of 32 for PromptEOL/PretCoT/MetaEOL, -2 for KE).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from bench.core.config import MethodConfig
from bench.core.method import METHODS, Method
from bench.core.presets import derive_config, derive_method

TP = {"intervention": "tp", "layer": None}
CP = {"intervention": "cp", "layer": None}


@dataclass(frozen=True)
class Preset:
    name: str
    base: str  # a registered method
    description: str
    settings: dict[str, Any] = field(default_factory=dict)


_PRESETS = (
    Preset("token-prepending", "prompteol", "Token Prepending (Fu et al. 2025) on PromptEOL, readout 27/32",
           TP),
    Preset("contrastive-prompting", "prompteol",
           "Contrastive Prompting (Cheng et al. 2025) on PromptEOL: layer 5/32, alpha 2, readout 27/32", CP),
    Preset("pretcot+tp", "pretcot", "Pretended CoT + Token Prepending, readout 27/32", TP),
    Preset("pretcot+cp", "pretcot",
           "Pretended CoT + Contrastive Prompting: layer 7/32, alpha 3, readout 27/32", CP),
    Preset("ke+tp", "ke", "Knowledge Enhancement + Token Prepending, readout -2", TP),
    Preset("ke+cp", "ke", "Knowledge Enhancement + Contrastive Prompting: layer 7/32, alpha 3, readout -2",
           CP),
    Preset("metaeol+tp", "metaeol",
           "MetaEOL + Token Prepending (<PST> in all eight prompts), readout 27/32", TP),
    Preset("ck", "ensemble", "CK (Cheng et al. 2025): plain mean of the PretCoT and KE embeddings",
           {"members": "pretcot,ke"}),
    Preset("ck+cp", "ensemble", "CK + Contrastive Prompting: mean of pretcot+cp and ke+cp",
           {"members": "pretcot+cp,ke+cp"}),
    # controls of the SemPA result (issue: "the controls that explain the result")
    Preset("sempa-reversed", "sempa", "control: SemPA trained on chosen and rejected swapped",
           {"preference": "reversed"}),
    Preset("sempa-shuffled", "sempa", "control: SemPA trained on randomly ordered pairs (random labels)",
           {"preference": "shuffled"}),
    Preset("sempa-sft", "sempa", "control: plain NLL of the entailment (SFT) instead of DPO",
           {"loss": "sft"}),
    Preset("sempa-chat", "sempa", "SemPA's adapter read inside the chat template (the adapter of sempa)",
           {"chat_readout": True}),
    Preset("prompteol-chat", "prompteol", "PromptEOL inside the model's chat template (user turn)",
           {"chat_readout": True}),
)  # fmt: skip
PRESETS = {preset.name: preset for preset in _PRESETS}


@cache
def preset_config(name: str) -> type[MethodConfig]:
    """The preset's config class (imports no model code)."""
    preset = PRESETS[name]
    base = METHODS.attribute(preset.base, "Config")
    settings = ", ".join(f"{key}={value}" for key, value in preset.settings.items())
    description = f"{preset.description} (preset: {preset.base} with {settings})"
    return derive_config(base, name, preset.settings, description)


@cache
def preset_method(name: str) -> type[Method]:
    """The preset's method class: the base method's code with the preset's config."""
    return derive_method(METHODS.get(PRESETS[name].base), name, preset_config(name))
