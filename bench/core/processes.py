"""Whether a process of this machine still runs (for stale temp files and dead ablation workers)."""

from __future__ import annotations

import os
from pathlib import Path


def _is_zombie(pid: int) -> bool:
    """A process that has exited but whose parent has not reaped it yet (state Z in /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (not Linux) or the process is gone meanwhile
    # the state follows the parenthesised command name, which may itself contain spaces or ')'
    return stat[stat.rfind(")") + 1 :].split()[:1] == ["Z"]


def pid_alive(pid: int) -> bool:
    """True when a process with this id runs (also when it belongs to another user); an exited process
    that is still a zombie counts as dead, since it will never finish its work."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)
