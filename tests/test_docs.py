"""The README against the code, in the style of sqlite-utils' ``tests/test_docs.py``.

- Every command of the ``dgtools`` command line is in the README, and every flag of every command is
  in that command's entry of the command reference.
- Every ``--flag`` the README mentions exists: on the command it is shown with (``dgtools tables
  SOURCE --out DIR``), else on some command.
- The README's Python and bash code blocks run, in a temporary folder holding a copy of ``data/``,
  against a :class:`~dgtools.server.LocalServer` where they need Deepgram (``DEEPGRAM_BASE_URL``
  points at it and ``DEEPGRAM_API_KEY`` holds a test key). The blocks that cannot run here are
  listed in :data:`NOT_RUN`, each with the reason; one that no longer matches a block fails.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dgtools.cli import build_parser
from dgtools.server import LocalServer

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
KEY = "d0c5d0c5d0c5d0c5d0c5d0c5d0c5d0c5d0c5d0c5"

#: Blocks that do not run here (keyed by the start of their first line), and why.
NOT_RUN: dict[str, str] = {
    "from dgtools.dask import read_store, transcribe, write_dataset": (
        "needs an S3 bucket, a Dask client and the reader's calls; tests/test_dask_s3.py runs these against "
        "moto's S3 server on a LocalCluster"
    ),
    'run = dgtools.transcribe(\n    "calls/",\n    store="s3://': (
        "needs the reader's calls/, a key and an S3 bucket; tests/test_transcribe_s3.py transcribes into moto's S3 "
        "server through dgtools serve"
    ),
    "export AWS_ACCESS_KEY_ID=...": "sets the reader's AWS credentials; tests/test_cli_s3.py sets them for moto's S3 server",
    "dgtools estimate calls/ --store s3://": (
        "needs the reader's calls/ and an S3 bucket; tests/test_cli_s3.py runs these commands against moto's S3 server"
    ),
    "from pyspark.sql import SparkSession": "starts a JVM (Spark); tests/test_spark.py runs flatten and read_store on local[2]",
    "from dgtools.store import open_store, store_sources, store_tables": (
        "needs an S3 bucket and credentials; tests/test_store_s3.py runs the remote store against moto's S3 server"
    ),
    "# Callback mode": (
        "needs the reader's calls/ and a public HTTPS callback URL; tests/test_callbacks.py runs callback "
        "runs against dgtools serve, which calls back like Deepgram"
    ),
    "dgtools transcribe calls/ --store st --model nova-3 --callback": (
        "needs the reader's calls/, a key and a public HTTPS URL, then waits for Deepgram's callbacks; "
        "tests/test_callbacks.py runs callback mode and the receiver against dgtools serve"
    ),
    "pip install -e . && dgtools transcribe data/audio": (
        "installs dgtools and runs the whole test suite; its dgtools transcribe line runs in "
        "tests/test_batch_local.py::test_readme_main_job_without_a_key"
    ),
    "dgtools serve --port 8765": "starts servers that run until stopped; tests/test_server.py runs them",
    "import dgtools.plotting as dgp": (
        "file_id 'calls/a.wav' stands for one of the reader's files; tests/test_plotting.py draws every plot"
    ),
    "dgtools.browse(run.tables": (
        "needs a notebook, and run_a, run_b stand for two runs of the reader's; tests/test_widgets.py "
        "drives the widgets"
    ),
    "run = dgtools.stream(": "streams to Deepgram (a key) at real time; tests/test_stream.py streams to dgtools serve",
    "dgtools stream data/audio/two_voices.wav": (
        "needs dgtools serve running on port 8765; tests/test_stream.py runs the command against the local server"
    ),
    'run = dgtools.transcribe(\n    "calls/", api_version="v2"': (
        "needs the reader's calls/ and Deepgram's old API with their password; tests/test_api_v2.py sends v2 "
        "requests with Basic auth to dgtools serve"
    ),
    "# A key for this run only": (
        "needs the reader's calls/ and a Deepgram key with keys:write; tests/test_batch_credentials.py runs "
        "temporary keys and renewed tokens against dgtools serve"
    ),
    "pip install -e '.[bench]'": "installs the benchmark extra and runs for minutes",
    "pip install -e '.[dev]'": "installs packages and runs the test suite itself",
}
#: Flags of other programs the README mentions.
OTHER_FLAGS = {"--doctest-modules": "pytest's", "--diarise": "the README's example of a mistyped flag"}


def _commands() -> dict[str, argparse.ArgumentParser]:
    (sub,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


COMMANDS = _commands()


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    """The long flags of a command, those of its actions included (``dgtools keys list --status``)."""
    flags = {s for a in parser._actions for s in a.option_strings if s.startswith("--") and s != "--help"}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            flags |= set().union(*map(_flags, action.choices.values()))
    return flags


ALL_FLAGS = set().union(*map(_flags, COMMANDS.values())) | {"--version", "--help"}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.S | re.M)


def _key(block: str) -> str | None:
    return next((k for k in NOT_RUN if block.startswith(k)), None)


# --------------------------------------------------------------------------- commands and flags


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"`dgtools {command}" in README


def _reference() -> dict[str, str]:
    """The command reference: ``dgtools COMMAND`` -> its entry."""
    section = README[README.index("### Command reference") :]
    section = section[: section.index("\n## ")]
    entries = re.findall(r"^- `dgtools (\w+)[^`]*`(.*?)(?=^- |\Z)", section, flags=re.S | re.M)
    return {name: text for name, text in entries}


@pytest.mark.parametrize(("command", "flag"), sorted((c, f) for c, p in COMMANDS.items() for f in _flags(p)))
def test_every_flag_is_in_the_command_reference(command: str, flag: str) -> None:
    entry = _reference()[command]
    assert re.search(rf"`{re.escape(flag)}[ `=|]", entry), f"{flag} of dgtools {command} is not in its entry"


def _mentions() -> Iterator[tuple[str | None, str, str]]:
    """``(command or None, flag, where)`` for every ``--flag`` of the README (code blocks and `code`)."""
    prose = re.sub(r"^```.*?^```", "", README, flags=re.S | re.M)
    lines = [line for block in _blocks("bash") for line in block.splitlines()]
    lines += re.findall(r"`([^`\n]+)`", prose)
    for line in lines:
        for part in re.split(r"&&|\||;", line.split(" #")[0]):
            words = part.split()
            found = re.search(r"\bdgtools (\w+)", part)
            if words and not found and not words[0].startswith("--"):
                continue  # another program's command line (pip, python, ruff ...)
            command = found.group(1) if found and found.group(1) in COMMANDS else None
            for flag in re.findall(r"(?<![\w-])--[a-z][\w-]*", part):
                yield command, flag, line
    outside = re.sub(r"`[^`\n]*`", "", prose)
    for flag in re.findall(r"(?<![\w`-])--[a-z][\w-]*", outside):
        yield None, flag, "(prose)"


def test_every_flag_in_the_readme_exists() -> None:
    wrong = []
    for command, flag, where in _mentions():
        if flag in OTHER_FLAGS:
            continue
        known = _flags(COMMANDS[command]) | {"--help"} if command else ALL_FLAGS
        if flag not in known:
            wrong.append(f"{flag} ({'dgtools ' + command if command else 'no command'}): {where}")
    assert wrong == []


def test_the_flag_check_finds_a_wrong_flag() -> None:
    assert "--store" not in _flags(COMMANDS["tables"])  # what `dgtools tables DIR --store S` would break
    assert "--store" in _flags(COMMANDS["estimate"])


# --------------------------------------------------------------------------- code blocks


def test_every_block_not_run_is_in_the_readme() -> None:
    blocks = _blocks("python") + _blocks("bash")
    for key in NOT_RUN:
        assert any(b.startswith(key) for b in blocks), f"no README block starts with {key!r}: update NOT_RUN"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder with a copy of data/ (and responses/ as a folder of saved responses), a server named by
    DEEPGRAM_BASE_URL and a test key in DEEPGRAM_API_KEY."""
    shutil.copytree(REPO / "data", tmp_path / "data", ignore=shutil.ignore_patterns("*.py"))
    shutil.copytree(REPO / "data" / "responses", tmp_path / "responses")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEEPGRAM_TOKEN", raising=False)
    with LocalServer(api_keys=[KEY]) as server:
        monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
        monkeypatch.setenv("DEEPGRAM_BASE_URL", server.url)
        yield tmp_path


def test_the_python_blocks_run(workdir: Path) -> None:
    """Every Python block not in NOT_RUN, in order, in one namespace, as a reader pastes them into a notebook."""
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    ran = 0
    for block in _blocks("python"):
        if _key(block) is None:
            exec(compile(block, "README.md", "exec"), namespace)  # the README's own code
            ran += 1
    assert ran >= 8
    assert (workdir / "dgtools-out" / "words.parquet").is_file() and (workdir / "call.srt").is_file()
    assert namespace["run"].summary()["engine"] == "local"  # the last transcribe: the offline engine
    assert len(namespace["e"].files) == 4


def test_the_bash_blocks_run(workdir: Path) -> None:
    """Every bash block not in NOT_RUN runs with ``set -e``; ``dgtools`` is this checkout's."""
    ran = 0
    for block in _blocks("bash"):
        if _key(block) is not None:
            continue
        script = re.sub(r"^export DEEPGRAM_API_KEY=\.\.\..*$", ": the test key is set", block, flags=re.M)
        prelude = f'set -e\ndgtools() {{ "{sys.executable}" -m dgtools "$@"; }}\n'
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run(
            ["bash", "-c", prelude + script],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr
        ran += 1
    assert ran >= 1
    assert (workdir / "tables" / "words.parquet").is_file()
