"""Shared test fixtures.

Real Deepgram responses live in ``../shared/fixtures/deepgram`` beside the
repository (never copied in); tests that need them skip cleanly when absent.
Set ``DGTOOLS_FIXTURES`` to point elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
FIXTURES = Path(os.environ.get("DGTOOLS_FIXTURES", REPO.parent / "shared" / "fixtures" / "deepgram"))


def fixture_files(
    prefixes: tuple[str, ...] = (
        "prerecorded_",
        "streaming_results",
        "streaming_",
        "docrepaired_",
        "read_",
        "spec_",
    ),
) -> list[Path]:
    """Fixture files whose names start with one of ``prefixes`` (empty list when absent)."""
    if not FIXTURES.is_dir():
        return []
    return sorted(p for p in FIXTURES.glob("*.json") if p.name.startswith(prefixes))


@pytest.fixture
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"real Deepgram fixtures not found at {FIXTURES}")
    return FIXTURES


def fixture_path(name: str) -> Path:
    """Path to one named fixture; skips the test when the fixtures are absent."""
    p = FIXTURES / name
    if not p.is_file():
        pytest.skip(f"fixture {name} not found under {FIXTURES}")
    return p
