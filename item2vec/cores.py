"""How many cores this process may run on: the CPU affinity mask where the platform has
one (a container or ``taskset`` may allow fewer cores than the machine has), else the
machine's count. Imports nothing of the package, so any stage may use it."""

from __future__ import annotations

import os

__all__ = ["usable_cores"]


def usable_cores() -> int:
    """Cores the process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
