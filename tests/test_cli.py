"""Tests of :mod:`dgtools.cli`, in-process (``main(argv)``) and as ``python -m dgtools``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import dgtools
from dgtools.cli import build_parser, main
from dgtools.tables.schema import TABLE_NAMES

REPO = Path(__file__).resolve().parents[1]
RESPONSES = REPO / "data" / "responses"


def run_module(*args: str | os.PathLike[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """``python -m dgtools ARGS`` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "dgtools", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture(scope="module")
def expected_summary() -> str:
    return str(dgtools.to_tables(RESPONSES).summary())


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("dgtools: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def deepgram_error_body(tmp_path: Path) -> Path:
    bad = tmp_path / "bad.json"
    bad.write_text('{"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.", "request_id": "0b5c"}')
    return bad


# --------------------------------------------------------------------------- dgtools tables


def test_tables_writes_every_table_and_prints_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], expected_summary: str
) -> None:
    out = tmp_path / "out"
    assert main(["tables", str(RESPONSES), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{name}.parquet" for name in TABLE_NAMES)
    assert expected_summary in captured.out
    assert str(out) in captured.out
    assert captured.err == ""
    back = dgtools.read_parquet(out)
    assert str(back.summary()) == expected_summary


def test_tables_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str], expected_summary: str) -> None:
    out = tmp_path / "ds"
    assert main(["tables", str(RESPONSES), "--out", str(out), "--dataset"]) == 0
    captured = capsys.readouterr()
    for name in TABLE_NAMES:
        assert sorted(p.name for p in (out / name).iterdir()) == ["part-00000.parquet"]
    assert expected_summary in captured.out
    assert str(dgtools.read_parquet(out).summary()) == expected_summary


def test_tables_several_sources_and_default_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    files = [RESPONSES / "podcast_mono.json", RESPONSES / "live_session.jsonl"]
    assert main(["tables", *map(str, files)]) == 0
    assert "2 file(s)" in capsys.readouterr().out
    requests = dgtools.read_parquet(tmp_path / "dgtools-out").requests
    assert sorted(requests["file_id"]) == ["live_session", "podcast_mono"]


def test_tables_as_a_module(tmp_path: Path, expected_summary: str) -> None:
    proc = run_module("tables", RESPONSES, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert expected_summary in proc.stdout
    assert len(list((tmp_path / "out").glob("*.parquet"))) == len(TABLE_NAMES)


def test_empty_folder_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["tables", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "0 file(s)" in captured.out
    assert captured.err.startswith("dgtools: warning: no Deepgram responses")


@pytest.mark.parametrize("indexed", [True, False], ids=["index", "no-index-yet"])
def test_tables_from_a_store_includes_responses_not_yet_indexed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], indexed: bool
) -> None:
    """A run killed between writing a response and indexing it: the response still makes the tables."""
    store = dgtools.Store(tmp_path / "store")
    done = store.key("ab" * 32, "0123456789abcdef")
    orphan = store.key("cd" * 32, "0123456789abcdef")
    (store.root / "tmp").mkdir(parents=True)  # as a transcribe run leaves it
    store.write_bytes(done, (RESPONSES / "podcast_mono.json").read_bytes())
    if indexed:
        store.record({"key": done, "file_id": "podcast.wav"})
    store.write_bytes(orphan, (RESPONSES / "silence.json").read_bytes())
    assert main(["tables", str(store.root), "--out", str(tmp_path / "out")]) == 0
    assert "2 file(s)" in capsys.readouterr().out
    requests = dgtools.read_parquet(tmp_path / "out").requests
    assert sorted(requests["file_id"]) == sorted(["podcast.wav" if indexed else done, orphan])


# --------------------------------------------------------------------------- errors


def test_bad_file_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = deepgram_error_body(tmp_path)
    assert main(["tables", str(bad), "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_line_error(captured.err, str(bad), "INVALID_AUTH")


@pytest.mark.parametrize("content", ["{not json", "", '{"hello": "world"}', "[1, 2, 3]"])
def test_not_a_response_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    bad = tmp_path / "notes.json"
    bad.write_text(content)
    assert main(["tables", str(bad), "--out", str(tmp_path / "out")]) == 1
    assert_one_line_error(capsys.readouterr().err, str(bad))


def test_missing_source_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tables", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 1
    assert_one_line_error(capsys.readouterr().err, "nope")


def test_unwritable_out_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["tables", str(RESPONSES / "silence.json"), "--out", str(blocker)]) == 1
    assert_one_line_error(capsys.readouterr().err, str(blocker))


def test_bad_file_as_a_module(tmp_path: Path) -> None:
    """One bad input among good ones: the rest is written, the bad one named on one line, exit status 1."""
    bad = deepgram_error_body(tmp_path)
    proc = run_module("tables", RESPONSES, bad, "--out", tmp_path / "out")
    assert proc.returncode == 1
    assert "6 file(s)" in proc.stdout and (tmp_path / "out" / "words.parquet").is_file()
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"dgtools: warning: {bad}: ") and "INVALID_AUTH" in proc.stderr


@pytest.mark.parametrize(
    "argv",
    [[], ["nosuchcommand"], ["tables"], ["tables", "data/responses", "--bogus"], ["--bogus"]],
    ids=["no-command", "unknown-command", "no-source", "unknown-option", "unknown-global-option"],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: dgtools")
    assert "dgtools" in err.splitlines()[-1] and "error:" in err.splitlines()[-1]
    assert "Traceback" not in err


def test_usage_error_as_a_module() -> None:
    proc = run_module("tables", "--bogus")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- version and help


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"dgtools {dgtools.__version__}"


def test_version_as_a_module() -> None:
    proc = run_module("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"dgtools {dgtools.__version__}"


def _subparsers() -> argparse._SubParsersAction[argparse.ArgumentParser]:
    (sub,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    return dict(_subparsers().choices)


def test_there_are_subcommands() -> None:
    assert "tables" in _subcommands()


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: dgtools")
    listed = _subparsers()._get_subactions()  # one per command, with its one-line help
    assert {a.dest for a in listed} == set(_subcommands())
    for action in listed:
        assert action.help, f"command {action.dest!r} has no one-line help"
        assert action.dest in out and action.help in " ".join(out.split())


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = _subcommands()[command]
    assert parser.description, f"'dgtools {command}' has no description"
    for action in parser._actions:
        if not isinstance(action, argparse._HelpAction):
            assert action.help, f"'dgtools {command}' argument {action.dest!r} has no help text"
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: dgtools {command}")
    assert parser.description.split()[0] in out


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_command_help_as_a_module(command: str) -> None:
    proc = run_module(command, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"usage: dgtools {command}")


def test_console_script_points_at_main() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["dgtools"] == "dgtools.cli:main"
