"""PromptEOL with one in-context demonstration (PromptEOL's ICL variant).

The demonstration is the template filled with a sentence and closed with its one-word answer, e.g.
``This sentence : "A jockey riding a horse." means in one word:"Equestrian".`` followed by the template
for the input sentence. Candidates: ``methods/data/icl_candidates.tsv`` (written for this project).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from bench.config import option
from bench.errors import DataError
from methods.base import METHODS
from methods.prompting import SLOT, PromptConfig, PromptMethod

# Chosen on STS-B dev (first 500 pairs, SmolLM2-135M-Instruct) from the 16 candidates by
# `python -m methods.icl_select --pairs 500`: 85.21, against 83.71 for the first candidate and 74.61 for
# the worst. Another model may prefer another demonstration: rerun the selection and --set the fields.
DEFAULT_SENTENCE = "People are waiting in line at the bank."
DEFAULT_WORD = "Queue"


def icl_candidates() -> list[tuple[str, str]]:
    """(sentence, word) demonstrations shipped with the project."""
    text = resources.files("methods").joinpath("data/icl_candidates.tsv").read_text(encoding="utf-8")
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        sentence, sep, word = line.partition("\t")
        if not sep or not sentence.strip() or not word.strip():
            raise DataError(f"icl_candidates.tsv:{lineno}: expected sentence<TAB>word")
        out.append((sentence.strip(), word.strip()))
    return out


@dataclass(frozen=True)
class ICLConfig(PromptConfig):
    demo_sentence: str = option(DEFAULT_SENTENCE, "demonstration sentence")
    demo_word: str = option(DEFAULT_WORD, "its one-word answer")


class PromptEOLICL(PromptMethod):
    """PromptEOL with one demonstration in front of the template."""

    name = "prompteol-icl"
    description = "PromptEOL with one in-context demonstration (sentence and word) before the template"
    Config = ICLConfig

    def template(self) -> str:
        cfg: ICLConfig = self.config  # type: ignore[assignment]
        demonstration = cfg.template.replace(SLOT, cfg.demo_sentence) + cfg.demo_word + '".'
        return demonstration + cfg.template


METHODS.register(PromptEOLICL.name)(PromptEOLICL)
