"""The environment a benchmark prints beside its figures (shared by the bench/ scripts)."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def versions(dists: Sequence[str]) -> dict[str, str]:
    """Python's version and each distribution's ("-" when it is not installed)."""
    out = {"python": platform.python_version()}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "-"
    return out


def git_state() -> str:
    """Commit of the checkout, and whether dgtools/ has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "dgtools"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "-"
    return head.stdout.strip() + (" + uncommitted changes in dgtools/" if dirty.stdout.strip() else "")


def environment(dists: Sequence[str], **extra: Any) -> dict[str, Any]:
    """Versions, platform, cores (all and usable), load average and git state."""
    try:
        usable: int | None = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = None
    return {
        **versions(dists),
        **extra,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "loadavg_start": os.getloadavg(),
        "git": git_state(),
    }
