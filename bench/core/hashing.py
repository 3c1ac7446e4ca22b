"""Content hashes: of a file's bytes, and of a JSON-able value (stable across runs and machines)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np


def sha256_file(path: Path | str, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def array_sha256(values: np.ndarray) -> str:
    """Hex SHA-256 of an array's float64 values in C order (e.g. the gold scores a result was scored on)."""
    return hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes()).hexdigest()


def json_digest(value: Any, length: int | None = 16) -> str:
    """Hex SHA-256 of ``value`` as canonical JSON (sorted keys; non-JSON values by ``str``),
    cut to ``length`` characters (None: all 64)."""
    payload = json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()[:length]
