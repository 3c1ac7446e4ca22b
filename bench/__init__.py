"""sempa-bench: benchmark and ablation suite for sentence embeddings from generative LLMs."""

__version__ = "0.1.0"
