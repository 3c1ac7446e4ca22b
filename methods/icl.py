"""PromptEOL with one in-context demonstration (PromptEOL's ICL variant).

The demonstration is the template filled with a sentence and closed with its one-word answer, e.g.
``This sentence : "A jockey riding a horse." means in one word:"Equestrian".`` followed by the template
for the input sentence. Candidates: ``methods/data/icl_candidates.tsv`` (written for this project).
"""

from __future__ import annotations

from importlib import resources

from bench.core.errors import DataError
from methods.configs import SLOT, ICLConfig
from methods.prompting import PromptMethod


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


class PromptEOLICL(PromptMethod[ICLConfig]):
    """PromptEOL with one demonstration in front of the template."""

    name = "prompteol-icl"
    Config = ICLConfig

    def template(self) -> str:
        cfg = self.config
        demonstration = cfg.template.replace(SLOT, cfg.demo_sentence) + cfg.demo_word + '".'
        return demonstration + cfg.template
