"""Shared test fixtures, and what a test may skip.

Real Deepgram responses live in ``../shared/fixtures/deepgram`` beside the repository (never copied
in), Deepgram's specs in ``../shared/specs``; set ``DGTOOLS_FIXTURES`` to point elsewhere.  Tests that
need them, a browser (Debian's chromium), a Jupyter kernel, real speech (``data/real/``, fetched by
``python data/fetch_real.py``), the Whisper engine with its packaged weights or the espeak-ng program
(the local server's voice, ``voice``) skip cleanly when these are absent, so that ``python -m pytest``
runs anywhere; CI sets ``DGTOOLS_REQUIRE=fixtures,spec,browser,notebooks,speech,whisper,voice`` and
then such a test fails instead, so a run cannot go green by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SHARED = REPO.parent / "shared"
FIXTURES = Path(os.environ.get("DGTOOLS_FIXTURES", SHARED / "fixtures" / "deepgram"))
SPECS = SHARED / "specs"
#: What may not be missing in this run (``DGTOOLS_REQUIRE``, comma-separated).
REQUIRED = frozenset(filter(None, (s.strip() for s in os.environ.get("DGTOOLS_REQUIRE", "").split(","))))
#: The kinds of optional test resources.
KINDS = frozenset({"fixtures", "spec", "browser", "notebooks", "speech", "whisper", "voice", "spark"})
assert REQUIRED <= KINDS, (
    f"DGTOOLS_REQUIRE names unknown kinds {sorted(REQUIRED - KINDS)}; use {sorted(KINDS)}"
)


def missing(kind: str, why: str) -> NoReturn:
    """Skip the test for want of ``kind`` (one of :data:`KINDS`), or fail it when CI requires ``kind``."""
    assert kind in KINDS, kind
    if kind in REQUIRED:
        pytest.fail(f"{why} (DGTOOLS_REQUIRE={','.join(sorted(REQUIRED))} requires {kind!r})", pytrace=False)
    pytest.skip(why)


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


#: Real human speech with exact transcripts, fetched from the packages that ship it (data/README.md).
REAL = DATA / "real"


@pytest.fixture
def real_speech() -> Path:
    """``data/real/``; skips without it (fails under ``DGTOOLS_REQUIRE=speech``)."""
    if not (REAL / "call.wav").is_file() or not (REAL / "librivox").is_dir():
        missing("speech", f"real speech not found at {REAL}: run 'python data/fetch_real.py'")
    return REAL


@pytest.fixture
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        missing("fixtures", f"real Deepgram fixtures not found at {FIXTURES}")
    return FIXTURES


def fixture_path(name: str) -> Path:
    """Path to one named fixture; skips the test when the fixtures are absent (fails under DGTOOLS_REQUIRE)."""
    p = FIXTURES / name
    if not p.is_file():
        missing("fixtures", f"fixture {name} not found under {FIXTURES}")
    return p
