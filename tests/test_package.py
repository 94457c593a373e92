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


# --------------------------------------------------------------------------- extras


#: The optional parts (pyproject extras) and the modules each brings; meta extras (all, test, ...) excluded.
EXTRAS: dict[str, tuple[str, ...]] = {
    "captions": ("pysubs2",),
    "dask": ("dask", "distributed"),
    "evaluate": ("jiwer", "pyannote", "meeteval"),
    "s3": ("s3fs",),
    "spark": ("pyspark",),
    "serve": ("starlette", "uvicorn"),
    "whisper": ("faster_whisper", "ctranslate2"),
}
#: What a missing extra looks like from the user's side: Python code, and the command line (None: no command).
EXTRA_FEATURES: dict[str, tuple[str, list[str] | None]] = {
    "captions": ("dgtools.to_tables('data/responses').words.dg.to_ass()", None),
    "dask": ("import dgtools.dask as d; d.read_store('data/responses')", None),
    "evaluate": (
        "import dgtools.evaluate as e; e.der(dgtools.to_tables('data/responses'), 'data/references')",
        None,
    ),
    "s3": ("import dgtools.store as s; s.open_store('s3://bucket/prefix')", None),
    "spark": ("import dgtools.spark as s; s.flatten(None)", None),
    "serve": ("import dgtools.server as s; s.LocalServer().start()", ["serve", "--port", "0"]),
    "whisper": (
        "dgtools.transcribe('data/audio/one_speaker.wav', engine='whisper', store=__import__('tempfile').mkdtemp())",
        ["serve", "--engine", "whisper", "--port", "0"],
    ),
}
_BLOCKER = """
import sys
BLOCKED = set({blocked!r})

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"No module named {{name!r}} (hidden by the test)")
        return None

sys.meta_path.insert(0, Blocker())
for name in list(sys.modules):
    if name.split(".")[0] in BLOCKED:
        del sys.modules[name]
"""


def _without(blocked: tuple[str, ...], code: str) -> subprocess.CompletedProcess[str]:
    script = _BLOCKER.format(blocked=sorted(blocked)) + code
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)


def test_every_extra_is_listed_here() -> None:
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    meta = {"all", "test", "bench", "dev"}
    assert set(extras) - meta == set(EXTRAS) == set(EXTRA_FEATURES)
    assert sorted(extras["all"]) == sorted(f"dgtools[{name}]" for name in EXTRAS)


def test_the_core_works_without_any_extra() -> None:
    blocked = tuple(m for mods in EXTRAS.values() for m in mods)
    out = _without(
        blocked,
        "import dgtools\n"
        "t = dgtools.to_tables('data/responses')\n"
        "print(t.summary().files, sorted(m for m in BLOCKED if m in sys.modules))\n",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(dgtools.to_tables(REPO / "data/responses").summary().files), "[]"]


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_a_missing_extra_names_the_pip_install(extra: str) -> None:
    code, argv = EXTRA_FEATURES[extra]
    fix = f"pip install 'dgtools[{extra}]'"
    out = _without(
        EXTRAS[extra],
        "import dgtools\n"
        "try:\n"
        f"    {code}\n"
        "except dgtools.MissingDependencyError as exc:\n"
        "    print(type(exc).__name__, exc.extra, '|', exc)\n",
    )
    assert out.returncode == 0, out.stderr
    name, got_extra, _, message = out.stdout.strip().split(" ", 3)
    assert (name, got_extra) == ("MissingDependencyError", extra)
    assert message.endswith(fix) and "\n" not in message
    if argv is None:
        return
    cli = _without(EXTRAS[extra], f"from dgtools.cli import main\nsys.exit(main({argv!r}))\n")
    assert cli.returncode == 1
    assert cli.stdout == "" and cli.stderr.count("\n") == 1, cli.stderr  # one line, no traceback
    assert cli.stderr.startswith("dgtools: error: ") and cli.stderr.rstrip().endswith(fix)
