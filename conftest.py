"""The namespace of the docstring examples (``--doctest-modules`` on ``dgtools/``).

The ``df.dg`` examples share one small diarized call, ``tests/data/call.json``: "Hello there."
(speaker 0) and "Thank you, Drew. Thank you so much." (speaker 1), as ``response`` (the JSON),
``tables`` (its tables, ``file_id="call"``) and ``words`` (its words table).  The examples run from
the repository root, where their relative paths (``data/audio/...``) resolve.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _doctest_call(doctest_namespace: dict[str, Any]) -> None:
    import dgtools

    response = json.loads((ROOT / "tests" / "data" / "call.json").read_text(encoding="utf-8"))
    tables = dgtools.to_tables(response, file_id="call")
    doctest_namespace.update(dgtools=dgtools, response=response, tables=tables, words=tables.words)
