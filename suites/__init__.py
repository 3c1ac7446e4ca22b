"""Built-in evaluation suites; importing this package registers them in ``suites.base.SUITES``."""

from suites import gen, sts  # noqa: F401  (registration)
from suites.base import SUITES, Evaluand, Suite, TaskOutcome

__all__ = ["SUITES", "Evaluand", "Suite", "TaskOutcome"]
