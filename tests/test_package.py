"""Package-level checks: a light import, the exported names, and a README that matches the code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pyarrow as pa
import pytest

import dgtools
from dgtools.tables.schema import DROPPED_FIELDS, SCHEMAS

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SETUP_COMMANDS = [
    "pip install -e . && dgtools transcribe data/audio --out dgtools-out --punctuate --diarize --utterances",
    "pip install -e '.[test]' && python -m pytest",
]
HEAVY = (
    "matplotlib",
    "ipywidgets",
    "librosa",
    "IPython",
    "pocketsphinx",
    "starlette",
    "uvicorn",
    "soundfile",
)


# --------------------------------------------------------------------------- import cost


@pytest.mark.parametrize("statement", ["import dgtools", "import dgtools.cli"])
def test_import_does_not_load_heavy_dependencies(statement: str) -> None:
    code = (
        f"import json, sys\n{statement}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert json.loads(out.stdout) == [], f"'{statement}' imported {out.stdout.strip()}"


# --------------------------------------------------------------------------- exported names


def test_all_is_sorted() -> None:
    assert dgtools.__all__ == sorted(dgtools.__all__)


def test_all_names_resolve() -> None:
    missing = [name for name in dgtools.__all__ if not hasattr(dgtools, name)]
    assert missing == []
    assert set(dgtools.__all__) <= set(dir(dgtools))


def test_all_is_complete() -> None:
    for name in dgtools.__all__:  # resolve the lazy names, so the namespace holds everything
        getattr(dgtools, name)
    public = {
        name
        for name, value in vars(dgtools).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    public.add("__version__")
    assert sorted(public) == dgtools.__all__


# --------------------------------------------------------------------------- README


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def test_readme_starts_with_the_two_setup_commands() -> None:
    lines = _readme().splitlines()
    assert lines[0].startswith("# "), "the README starts with its title"
    fence = next(i for i, line in enumerate(lines) if line.startswith("```"))
    between = [line for line in lines[1:fence] if line.strip()]
    assert len(between) == 1, f"one line of description between the title and the commands, got {between}"
    end = next(i for i in range(fence + 1, len(lines)) if lines[i].startswith("```"))
    assert lines[fence + 1 : end] == SETUP_COMMANDS


def _type_label(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.unit}, {t.tz}]"
    if pa.types.is_map(t):
        return f"map<{_type_label(t.key_type)}, {_type_label(t.item_type)}>"
    if pa.types.is_list(t):
        return f"list<{_type_label(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ", ".join(f.name for f in t) + ">"
    return str(t)


def _readme_tables() -> dict[str, list[tuple[str, str]]]:
    """``{table: [(column, type), ...]}`` from the README's table reference."""
    text = _readme()
    start = text.index("## Table reference")
    section = text[start : text.index("\n## ", start + 1)]
    found: dict[str, list[tuple[str, str]]] = {}
    for block in re.split(r"^#### ", section, flags=re.M)[1:]:
        name = re.match(r"`(\w+)`", block)
        assert name, block[:40]
        found[name.group(1)] = re.findall(r"^\| `(\w+)` \| `([^`]+)` \|", block, flags=re.M)
    return found


def test_readme_table_reference_matches_the_schema() -> None:
    documented = _readme_tables()
    assert list(documented) == list(SCHEMAS), "one README table per dgtools table, in schema order"
    for name, schema in SCHEMAS.items():
        assert schema.names[:2] == ["file_id", "request_id"]  # stated once in the README, not per table
        expected = [(f.name, _type_label(f.type)) for f in schema][2:]
        assert documented[name] == expected, f"README table reference for {name!r} is out of date"


def test_readme_lists_the_dropped_fields() -> None:
    text = _readme()
    for field in DROPPED_FIELDS:
        assert f"`{field}`" in text
