"""How a result was made: package versions, git commit, data checksums, peak memory."""

from __future__ import annotations

import contextlib
import platform
import resource
import subprocess
import sys
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench.core.hashing import sha256_file

PACKAGES = (
    "sempa-bench",
    "torch",
    "transformers",
    "peft",
    "mteb",
    "lm-eval",
    "datasets",
    "sentence-transformers",
    "numpy",
    "scipy",
    "pandas",
    "optuna",
    "gguf",
)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def git_state() -> dict[str, Any]:
    """Commit of the project checkout and whether it had uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.machine(),
        "packages": package_versions(),
        "git": git_state(),
    }


@lru_cache(maxsize=256)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """Cached by (path, size, mtime): a data file is hashed once per process unless it changes."""
    return sha256_file(path)


def file_checksums(files: list[Path], root: Path | None = None) -> list[dict[str, str]]:
    """``[{path, sha256}]``; paths relative to ``root`` when inside it."""
    out = []
    for file in files:
        stat = file.stat()
        shown = file
        if root is not None:
            with contextlib.suppress(ValueError):
                shown = file.resolve().relative_to(root.resolve())
        out.append({"path": str(shown), "sha256": _file_sha256(str(file), stat.st_size, stat.st_mtime_ns)})
    return out


def peak_memory_mb() -> dict[str, float]:
    """Peak resident memory of this process (and peak CUDA memory when a GPU is used)."""
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    peak = {"rss_mb": round(rss_kb / 1024, 1)}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        peak["cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return peak
