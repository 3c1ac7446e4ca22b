"""User-facing errors: the CLI prints their message on one line and exits with status 2."""


class BenchError(Exception):
    """A problem with the user's input or environment (bad name, missing file, malformed data)."""


class DataError(BenchError):
    """A data file is missing or malformed; the message names the file (and line)."""


class ModelError(BenchError):
    """A model cannot be resolved or loaded; the message names what was tried."""
