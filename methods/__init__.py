"""Built-in embedding methods, registered lazily: naming or listing them imports no model code.

Each entry is the method class and its config class as ``"module:attr"``; the class is imported when a
run first asks for it. Presets (``methods.presets``: a base method with other defaults, e.g. ``pretcot+tp``)
are registered the same way, their classes made on first use. Third-party methods use the
``sempa_bench.methods`` entry-point group or ``@METHODS.register``.
"""

from functools import partial

from bench.core.method import METHODS
from bench.core.registry import Lazy
from methods.presets import PRESETS, preset_config, preset_method

BUILTIN_METHODS = {
    # name: (method class, config class)
    "mean": ("methods.prompting:Mean", "methods.configs:MeanConfig"),
    "prompteol": ("methods.prompting:PromptEOL", "methods.configs:PromptEOLConfig"),
    "pretcot": ("methods.prompting:PretCoT", "methods.configs:PretCoTConfig"),
    "ke": ("methods.prompting:KE", "methods.configs:KEConfig"),
    "echo": ("methods.prompting:Echo", "methods.configs:EchoConfig"),
    "prompteol-icl": ("methods.icl:PromptEOLICL", "methods.configs:ICLConfig"),
    "metaeol": ("methods.prompting:MetaEOL", "methods.configs:MetaEOLConfig"),
    "ensemble": ("methods.ensemble:Ensemble", "methods.configs:EnsembleConfig"),
    "sbert": ("methods.sbert:SBERT", "methods.configs:SBERTConfig"),
    "sempa": ("methods.trained:Sempa", "methods.configs:SempaConfig"),
    "sempa-pl": ("methods.trained:SempaPL", "methods.configs:SempaPLConfig"),
    "contrastive": ("methods.trained:Contrastive", "methods.configs:ContrastiveConfig"),
}

for _name, (_method, _config) in BUILTIN_METHODS.items():
    METHODS.register_lazy(_name, _method, Config=_config)

for _name in PRESETS:
    METHODS.register_lazy(
        _name, Lazy(partial(preset_method, _name)), Config=Lazy(partial(preset_config, _name))
    )
