"""Built-in embedding methods; importing this package registers them in ``methods.base.METHODS``."""

from methods import icl, patched, prompting, sbert, trained  # noqa: F401  (registration)
from methods.base import METHODS, Method, RunContext

__all__ = ["METHODS", "Method", "RunContext"]
