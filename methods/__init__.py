"""Built-in embedding methods, registered lazily: naming or listing them imports no model code.

Each entry is the method class and its config class as ``"module:attr"``; the class is imported when a
run first asks for it. Third-party methods use the ``sempa_bench.methods`` entry-point group or
``@METHODS.register``.
"""

from bench.core.method import METHODS

BUILTIN_METHODS = {
    # name: (method class, config class)
    "mean": ("methods.prompting:Mean", "methods.configs:MeanConfig"),
    "prompteol": ("methods.prompting:PromptEOL", "methods.configs:PromptEOLConfig"),
    "pretcot": ("methods.prompting:PretCoT", "methods.configs:PretCoTConfig"),
    "ke": ("methods.prompting:KE", "methods.configs:KEConfig"),
    "echo": ("methods.prompting:Echo", "methods.configs:EchoConfig"),
    "prompteol-icl": ("methods.icl:PromptEOLICL", "methods.configs:ICLConfig"),
    "token-prepending": ("methods.patched:TokenPrepending", "methods.configs:TokenPrependingConfig"),
    "contrastive-prompting": (
        "methods.patched:ContrastivePrompting",
        "methods.configs:ContrastivePromptingConfig",
    ),
    "sbert": ("methods.sbert:SBERT", "methods.configs:SBERTConfig"),
    "sempa": ("methods.trained:Sempa", "methods.configs:SempaConfig"),
    "sempa-pl": ("methods.trained:SempaPL", "methods.configs:SempaPLConfig"),
    "contrastive": ("methods.trained:Contrastive", "methods.configs:ContrastiveConfig"),
}

for _name, (_method, _config) in BUILTIN_METHODS.items():
    METHODS.register_lazy(_name, _method, Config=_config)
