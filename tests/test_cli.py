"""Tests of :mod:`dgtools.cli`, in-process (``main(argv)``) and as ``python -m dgtools``."""

from __future__ import annotations

import argparse
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tones import wav

import dgtools
from dgtools.cli import build_parser, main
from dgtools.cli.syntax import FLAGS, SWITCHES, cli_syntax
from dgtools.server import Faults, LocalServer
from dgtools.tables.schema import TABLE_NAMES

REPO = Path(__file__).resolve().parents[1]
RESPONSES = REPO / "data" / "responses"
AUDIO = REPO / "data" / "audio"


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


def test_tables_dataset_partitioned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], expected_summary: str
) -> None:
    out = tmp_path / "ds"
    args = ["tables", str(RESPONSES), "--out", str(out), "--dataset"]
    assert main([*args, "--partition-on", "kind,channels"]) == 0
    captured = capsys.readouterr()
    assert f"{out / '<table>'}/kind=*/channels=*/part-*.parquet" in captured.out
    for name in TABLE_NAMES:
        parts = sorted(str(p.relative_to(out / name)) for p in (out / name).rglob("*.parquet"))
        assert parts == [
            "kind=prerecorded/channels=1/part-00000.parquet",
            "kind=prerecorded/channels=2/part-00000.parquet",
            "kind=streaming/channels=1/part-00000.parquet",
        ], name
    assert expected_summary in captured.out
    assert main([*args, "--partition-on", "kind", "--partition-on", "date"]) == 0
    assert len(list((out / "words" / "kind=prerecorded").iterdir())) == 5  # one day per response
    capsys.readouterr()
    before = sorted(out.rglob("*.parquet"))
    assert main([*args, "--partition-on", "speaker"]) == 1
    assert_one_line_error(capsys.readouterr().err, "--partition-on: 'speaker' is not a key", "model_name")
    assert main(["tables", str(RESPONSES), "--out", str(out), "--partition-on", "date"]) == 1
    assert_one_line_error(capsys.readouterr().err, "--partition-on partitions a dataset: add --dataset")
    assert sorted(out.rglob("*.parquet")) == before


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


def test_empty_folder_is_a_one_line_error_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["tables", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_line_error(captured.err, "no Deepgram responses", str(tmp_path / "empty"), "it is empty")
    assert not (tmp_path / "out").exists()


def test_tables_on_a_folder_of_audio_says_to_transcribe_it_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It wrote 15 empty Parquet files and exited 0."""
    out = tmp_path / "out"
    assert main(["tables", str(AUDIO), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_line_error(
        captured.err, f"no Deepgram responses (.json, .jsonl or .ndjson files) in {AUDIO}",
        "4 audio files", f"dgtools transcribe {AUDIO}",
    )  # fmt: skip
    assert "dgtools.transcribe(" not in captured.err  # command-line words only
    assert not out.exists()


def test_tables_from_an_empty_store_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    (store / "responses").mkdir(parents=True)
    (store / "tmp").mkdir()
    assert main(["tables", str(store), "--out", str(tmp_path / "out")]) == 1
    assert_one_line_error(capsys.readouterr().err, f"the store {store} holds no responses yet", "--store")
    assert not (tmp_path / "out").exists()


def test_an_empty_folder_beside_responses_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], expected_summary: str
) -> None:
    (tmp_path / "audio").mkdir()
    shutil.copy(AUDIO / "silence.wav", tmp_path / "audio")
    assert main(["tables", str(RESPONSES), str(tmp_path / "audio"), "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert expected_summary in captured.out
    (line,) = captured.err.splitlines()
    assert line.startswith(
        f"dgtools: warning: no Deepgram responses (.json, .jsonl or .ndjson files) in {tmp_path}"
    )
    assert "1 audio file (silence.wav)" in line and "dgtools transcribe" in line


def test_to_tables_on_a_folder_of_audio_warns_where_to_look() -> None:
    with pytest.warns(dgtools.DGToolsWarning, match="no Deepgram responses") as caught:
        tables = dgtools.to_tables(AUDIO)
    assert len(tables.requests) == 0
    (w,) = caught
    message = str(w.message)
    assert str(AUDIO) in message and "4 audio files" in message and "need transcribing first" in message
    assert f"dgtools.transcribe({str(AUDIO)!r})" in message and f"dgtools transcribe {AUDIO}" in message
    assert w.filename == __file__  # pointed at the caller's line


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


# --------------------------------------------------------------------------- unknown flags: a suggestion


def _long_flags(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(
        {s for a in parser._actions for s in a.option_strings if s.startswith("--") and s != "--help"}
    )


def _misspelt(flag: str) -> str:
    """``flag`` with two letters of its name swapped (``--latency`` -> ``--laetncy``)."""
    name = flag[2:]
    i = next(i for i in range(max(1, len(name) // 2 - 1), len(name) - 1) if name[i] != name[i + 1])
    return "--" + name[:i] + name[i + 1] + name[i] + name[i + 2 :]


@pytest.mark.parametrize(
    ("command", "flag"),
    [(c, f) for c, p in sorted(_subcommands().items()) for f in _long_flags(p) if len(f) > 6],
)
def test_a_misspelt_flag_gets_a_suggestion_on_every_command(
    command: str, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = _misspelt(flag)
    positional = ["x"] if command in ("transcribe", "tables", "estimate", "stream", "export") else []
    required = ["--format", "stm", "--out", "o"] if command == "export" else []  # flags it cannot go without
    argv = [command, *positional, *required, wrong]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: dgtools {command}")  # the usage of the command it was given to
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"dgtools {command}: error: unrecognized arguments: {wrong}")
    assert f"(did you mean {flag}?)" in last


def test_diarise_gets_diarize(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", "data/audio", "--diarise"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == "dgtools transcribe: error: unrecognized arguments: --diarise (did you mean --diarize?)"


def test_a_deepgram_option_without_a_flag_gets_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", "data/audio", "--detect-language"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        "--detect-language (a Deepgram option without a flag of its own: --option detect_language=VALUE)"
        in last
    )


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["transcibe", "x"], "did you mean 'transcribe'?"),
        (["transcribe", "x", "--engine", "locl"], "did you mean 'local'?"),
    ],
)
def test_an_invalid_choice_gets_a_suggestion(
    argv: list[str], hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().endswith(hint)


# --------------------------------------------------------------------------- Python arguments -> flags


@pytest.mark.parametrize(
    ("python", "cli"),
    [
        ("leave it out (e.g. patterns=('*.wav', '*.mp3'))", "leave it out (e.g. --pattern '*.wav' --pattern '*.mp3')"),
        ("no file matches patterns=('*.mp3',)", "no file matches --pattern '*.mp3'"),
        ("check the folder; pass patterns= (e.g. ('*.wav', '*.mp3')) or recursive=True",
         "check the folder; pass --pattern (e.g. --pattern '*.wav' --pattern '*.mp3')"),
        ("'**' matches folders at any depth with recursive=True (e.g. 'calls/**/*.wav')",
         "'**' matches folders at any depth (e.g. 'calls/**/*.wav')"),
        ("without a key, use engine='local' to transcribe offline", "without a key, use --engine local to transcribe offline"),
        ("estimated cost $1 is above budget=0.5; nothing was sent. Raise budget=, send fewer files",
         "estimated cost $1 is above --budget 0.5; nothing was sent. Raise --budget, send fewer files"),
        ("Set DEEPGRAM_API_KEY or pass api_key=.", "Set DEEPGRAM_API_KEY."),
        ("set DEEPGRAM_API_KEY or DEEPGRAM_TOKEN, or pass api_key= / access_token=; without",
         "set DEEPGRAM_API_KEY or DEEPGRAM_TOKEN; without"),
        ("looks like a JWT: pass it as access_token= or DEEPGRAM_TOKEN (sent as Bearer)",
         "looks like a JWT: set it as DEEPGRAM_TOKEN (sent as Bearer)"),
        ("check DEEPGRAM_API_KEY (or api_key=)", "check DEEPGRAM_API_KEY"),
        ("engine auto: Deepgram, because a server was named (base_url=)",
         "engine auto: Deepgram, because a server was named (--base-url)"),
        ("check the network and base_url= (or raise timeout=); rerun", "check the network and --base-url (or raise --timeout); rerun"),
        ("lower concurrency= and rerun", "lower --concurrency and rerun"),
        ("concurrency=0 must be a positive integer", "--concurrency 0 must be a positive integer"),
        ("pass allow_insecure=True if the network is private", "pass --allow-insecure if the network is private"),
        ("gave up after 3 attempts (max_retries=2): rerun later, or allow more with retry=RetryPolicy(max_retries=...)",
         "gave up after 3 attempts (--max-retries 2): rerun later, or allow more with --max-retries N"),
        ("asked to wait 90 s (Retry-After), more than max_retry_after=60 s: rerun later, or raise it with "
         "retry=RetryPolicy(max_retry_after=...)", "asked to wait 90 s (Retry-After), more than the 60 s dgtools waits at most: rerun later"),
        ("check model= (and language=) or ask", "check --model (and --language) or ask"),
        ("ignored model=nova-5 and language=klingon (language=en or en-US)",
         "ignored --model nova-5 and --language klingon (--language en or en-US)"),
        ("use diarize=true or multichannel=true", "use --diarize or --multichannel"),
        ("ignored summarize=v2; needs sample_rate too (e.g. sample_rate=16000)",
         "ignored --option summarize=v2; needs sample_rate too (e.g. --option sample_rate=16000)"),
        ("pass timeout=SECONDS (dgtools transcribe --timeout SECONDS)", "pass --timeout SECONDS"),
        ("timeout=0.0 must be a number of seconds above 0, or None (automatic)",
         "--timeout 0.0 must be a number of seconds above 0, or left out (automatic)"),
        ("base_url 'http://x' is plain http", "--base-url 'http://x' is plain http"),
        # not Python arguments: left alone
        ("Deepgram rejected 'a.wav' (401 Unauthorized, request_id=abc)", "Deepgram rejected 'a.wav' (401 Unauthorized, request_id=abc)"),
        ("GET https://x/v1/listen?model=nova-3&diarize=true", "GET https://x/v1/listen?model=nova-3&diarize=true"),
        ("--option 'x' must look like NAME=VALUE, e.g. --option summarize=v2",
         "--option 'x' must look like NAME=VALUE, e.g. --option summarize=v2"),
        ("metadata.model=x and dgtools_engine=local", "metadata.model=x and dgtools_engine=local"),
    ],
)  # fmt: skip
def test_cli_syntax(python: str, cli: str) -> None:
    assert cli_syntax(python) == cli


def test_every_flag_of_the_table_is_a_flag_of_transcribe() -> None:
    transcribe = {a.dest: a for a in _subcommands()["transcribe"]._actions}
    flags = {s for a in transcribe.values() for s in a.option_strings}
    for name, flag in FLAGS.items():
        assert flag in flags, name
        action = next(a for a in transcribe.values() if flag in a.option_strings)
        assert (name in SWITCHES) == (action.nargs == 0), name  # a switch takes no value
    assert set(SWITCHES) <= set(FLAGS)


# --------------------------------------------------------------------------- dgtools transcribe

KEY = "c11c11c11c11c11c11c11c11c11c11c11c11c11c"
#: Python syntax that must never reach the command line's output.
PYTHON_SYNTAX = ("=(", "api_key=", "access_token=", "patterns=", "budget=", "base_url=", "concurrency=",
                 "timeout=", "max_retries=", "RetryPolicy", "recursive=", "engine='", "allow_insecure",
                 "dgtools.transcribe(", "base_url '", "None (")  # fmt: skip


@pytest.fixture(autouse=True)
def _no_deepgram_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEEPGRAM_API_KEY", "DEEPGRAM_TOKEN", "DEEPGRAM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(api_keys=[KEY]) as s:
        yield s


def audio(folder: Path, n: int, seconds: float = 1.0) -> Path:
    for i in range(n):
        wav(folder / f"call_{i:02d}.wav", seconds, tone=i + 1)
    return folder


def transcribe_argv(tmp_path: Path, *paths: str | Path, server: LocalServer | None = None) -> list[str]:
    argv = [
        "transcribe",
        *map(str, paths),
        "--store",
        str(tmp_path / "store"),
        "--out",
        str(tmp_path / "out"),
    ]
    argv += ["--no-plots"] + (["--base-url", server.url] if server is not None else [])
    return argv


def test_the_plan_comes_first_and_before_the_money(
    tmp_path: Path, server: LocalServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The estimate line came after the run; now the plan is printed before anything is sent."""
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    folder = audio(tmp_path / "audio", 3, seconds=20)
    before = server.stats()["requests"]
    sent_at_plan: list[int] = []
    real_print = print

    def spy(*args: Any, **kwargs: Any) -> None:  # the plan's lines: how many requests had been sent then
        if args and str(args[0]).startswith("engine "):
            sent_at_plan.append(server.stats()["requests"] - before)
        real_print(*args, **kwargs)

    monkeypatch.setattr("builtins.print", spy)
    assert main([*transcribe_argv(tmp_path, folder, server=server), "--confirm-above", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert sent_at_plan == [0]
    assert out[0] == "engine auto: Deepgram, because a server was named (--base-url)"
    assert out[1] == "plan: 3 file(s) to send"
    assert out[2].startswith("estimate: 3 file(s), 1.0 audio minutes with nova-3: $0.0043 at $0.0043/min")
    assert sum(line.startswith("estimate:") for line in out) == 1  # not again after the run
    assert "[y/N]" not in "\n".join(out)  # no terminal: never asks, goes
    assert server.stats()["requests"] - before == 3

    # a rerun has nothing to send: the plan still comes first, and says so
    assert main([*transcribe_argv(tmp_path, folder, server=server)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "engine auto: Deepgram, because a server was named (--base-url)"
    assert out[1] == "plan: 0 file(s) to send, 3 already stored; nothing to pay"


def test_the_engine_and_what_it_ignores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Options the local engine ignores are said once per kind, grouped, as warnings."""
    argv = transcribe_argv(tmp_path, AUDIO / "silence.wav", AUDIO / "one_speaker.wav")
    argv += [
        "--model",
        "nova-5",
        "--diarize",
        "--language",
        "klingon",
        "--concurrency",
        "1",
        "--engine",
        "local",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "engine local: as asked"
    warnings = captured.err.splitlines()
    for kind in ("diarize", "language", "model"):
        (line,) = [w for w in warnings if w.startswith(f"dgtools: warning: {kind}: ")]
        assert line.endswith("(2 files: silence.wav, one_speaker.wav)")
    assert "--model nova-5" in captured.err and "--language klingon" in captured.err
    assert len(warnings) == 3


def test_an_unknown_model_for_deepgram_is_a_one_line_error(
    tmp_path: Path, server: LocalServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    before = server.stats()["requests"]
    assert main([*transcribe_argv(tmp_path, AUDIO / "silence.wav", server=server), "--model", "nova-5"]) == 1
    captured = capsys.readouterr()
    assert_one_line_error(captured.err, "model 'nova-5' is not a Deepgram model; did you mean 'nova-3'")
    assert captured.out == "" and server.stats()["requests"] == before


def test_base_url_without_a_key_is_deepgram_and_a_one_line_error(
    tmp_path: Path, server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """It quietly used the local engine and never contacted the server."""
    before = server.stats()["requests"]
    assert main(transcribe_argv(tmp_path, AUDIO / "silence.wav", server=server)) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "engine auto: Deepgram, because a server was named (--base-url)"
    assert_one_line_error(
        captured.err, "no Deepgram credentials: set DEEPGRAM_API_KEY", "use --engine local",
        "--base-url names a server", "any value of 16 characters or more works",
    )  # fmt: skip
    assert not any(s in captured.err for s in PYTHON_SYNTAX)
    assert server.stats()["requests"] == before


def test_the_failure_table_says_why_and_how_to_fix_it(
    tmp_path: Path, server: LocalServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It printed `failed` and generic advice; the reason was only in run.failures.message."""
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    folder = audio(tmp_path / "audio", 1)
    (folder / "fake.wav").write_text("not audio")
    os.symlink("loop_b.wav", folder / "loop_a.wav")
    os.symlink("loop_a.wav", folder / "loop_b.wav")
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio either")
    assert main(transcribe_argv(tmp_path, folder, notes, server=server)) == 1
    out = capsys.readouterr().out
    table = out[out.index("4 file(s) failed:") :].splitlines()
    assert table[1:] == [
        f"  {notes}: skipped",
        "    why: not an audio file (.txt)",
        "    fix: leave it out (e.g. --pattern '*.wav' --pattern '*.mp3'); if it is audio in another format, "
        "convert it: ffmpeg -i notes.txt -c:a flac notes.flac",
        f"  {folder / 'fake.wav'}: skipped",
        "    why: named .wav, but it holds text, not audio",
        "    fix: check the file (does it play? file fake.wav says what it is); if it is audio in another "
        "container, convert it: ffmpeg -i fake.wav -c:a flac fake.flac; otherwise leave it out",
        f"  {folder / 'loop_a.wav'}, {folder / 'loop_b.wav'}: skipped",
        "    why: a symbolic link that loops back on itself",
        "    fix: replace the link with the file it should point to",
    ]
    assert "permissions" not in out


def test_no_python_syntax_on_the_command_line(
    tmp_path: Path, server: LocalServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every failing run says its fix with flags and environment variables, never Python arguments."""
    folder = audio(tmp_path / "audio", 2)
    (tmp_path / "notes.txt").write_text("text")
    seen: dict[str, str] = {}

    def run(name: str, argv: list[str], status: int) -> str:
        assert main(argv) == status, name
        captured = capsys.readouterr()
        seen[name] = text = captured.out + captured.err
        assert "Traceback" not in text
        return text

    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    base = transcribe_argv(tmp_path, folder, server=server)
    assert "--pattern '*.wav' --pattern '*.mp3'" in run(
        "not audio", transcribe_argv(tmp_path, tmp_path / "notes.txt", server=server), 1
    )
    assert "no file matches --pattern '*.mp3'" in run("no match", [*base, "--pattern", "*.mp3"], 1)
    assert "is above --budget 0.0; nothing was sent. Raise --budget" in run(
        "budget", [*base, "--budget", "0"], 1
    )
    assert "--concurrency 0 must be a positive integer" in run(
        "concurrency", [*base, "--concurrency", "0"], 1
    )
    assert "--timeout 0.0 must be" in run(
        "timeout", [*base, "--timeout", "0", "--store", str(tmp_path / "s2")], 1
    )
    text = run(
        "insecure",
        [
            *transcribe_argv(tmp_path, folder),
            "--base-url",
            "http://192.0.2.1",
            "--store",
            str(tmp_path / "s3"),
        ],
        1,
    )
    assert "--base-url 'http://192.0.2.1' is plain http" in text and "pass --allow-insecure" in text
    monkeypatch.setenv("DEEPGRAM_API_KEY", "f" * 40)
    assert "Set DEEPGRAM_API_KEY." in run("401", [*base, "--store", str(tmp_path / "s4")], 1)
    monkeypatch.delenv("DEEPGRAM_API_KEY")
    assert "use --engine local to transcribe offline" in run(
        "no key", [*transcribe_argv(tmp_path, folder), "--engine", "deepgram"], 1
    )
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    with LocalServer(api_keys=[KEY], faults=Faults(rate_429=1.0, retry_after=0)) as busy:
        text = run("429", [*transcribe_argv(tmp_path, folder, server=busy), "--max-retries", "0"], 1)
    assert "(--max-retries 0): rerun later, or allow more with --max-retries N" in text
    assert "lower --concurrency" in text
    for name, text in seen.items():
        assert not [s for s in PYTHON_SYNTAX if s in text], (name, text)


def test_progress_lines_without_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing was shown while a run without a terminal worked (CI logs, nohup, a file)."""
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    folder = audio(tmp_path / "audio", 2, seconds=30)
    with LocalServer(api_keys=[KEY], faults=Faults(latency=0.3)) as slow:
        argv = [
            *transcribe_argv(tmp_path, folder, server=slow),
            "--concurrency",
            "1",
            "--progress-every",
            "0.05",
        ]
        assert main(argv) == 0
        lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("transcribing: ")]
        # each request takes 0.3 s, a line is due every 0.05 s: one at least before the first answer
        assert lines[0].startswith(
            "transcribing: 0/2 files, 0.0 audio min, 0 retries, 0 HTTP 429, $0.0000 spent, "
        )
        assert lines[-1].startswith(
            "transcribing: 2/2 files, 1.0 audio min, 0 retries, 0 HTTP 429, $0.0043 spent, "
        )
        assert all(re.fullmatch(r"transcribing: \d/2 files, .* [\d.]+ s elapsed", x) for x in lines)

        argv += ["--no-progress", "--store", str(tmp_path / "other")]
        assert main(argv) == 0
        assert "transcribing:" not in capsys.readouterr().err


def test_progress_must_be_a_positive_number(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", "x", "--progress-every", "0"]) == 2
    assert "give a number of seconds above 0" in capsys.readouterr().err


# --------------------------------------------------------------------------- in a terminal: ask above a price


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPGRAM_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return {**env, **extra}


class Terminal:
    """``python -m dgtools ARGS`` with a pseudo-terminal as its stdin, stdout and stderr."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dgtools", *args], stdin=slave, stdout=slave, stderr=slave,
            cwd=cwd, env=cli_env(DEEPGRAM_API_KEY=KEY), close_fds=True,
        )  # fmt: skip
        os.close(slave)
        self.seen = b""

    @property
    def screen(self) -> str:
        """Everything the program wrote so far."""
        return self.seen.decode(errors="replace").replace("\r\n", "\n")

    def read_until(self, marker: bytes | None) -> str:
        """Read until ``marker`` is on the screen (None: until the program closes it)."""
        deadline = time.monotonic() + 120  # a guard against a hang, not a performance check
        while marker is None or marker not in self.seen:
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"no {marker!r} on the terminal:\n{self.seen.decode(errors='replace')}")
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: the program exited and the terminal closed
                chunk = b""
            if not chunk:
                if marker is None:
                    break
                pytest.fail(f"the program ended without {marker!r}:\n{self.seen.decode(errors='replace')}")
            self.seen += chunk
        return self.screen

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> int:
        self.read_until(None)
        os.close(self.master)
        return self.proc.wait(timeout=120)


@pytest.mark.parametrize("answer", ["n", "", "y"])
def test_in_a_terminal_it_asks_before_sending_above_the_price(tmp_path: Path, answer: str) -> None:
    folder = audio(tmp_path / "audio", 2, seconds=30)
    with LocalServer(api_keys=[KEY]) as s:
        term = Terminal(
            [*transcribe_argv(tmp_path, folder, server=s), "--confirm-above", "0.004", "--no-progress"],
            tmp_path,
        )
        screen = term.read_until(b"[y/N] ")
        assert screen.splitlines()[:3] == [
            "engine auto: Deepgram, because a server was named (--base-url)",
            "plan: 2 file(s) to send",
            "estimate: 2 file(s), 1.0 audio minutes with nova-3: $0.0043 at $0.0043/min "
            "(prices of 2026-11-21, add-ons not included)",
        ]
        assert screen.splitlines()[-1] == "Send 2 files for $0.0043? [y/N] "
        assert s.stats()["requests"] == 0  # the plan and the question come before the money
        term.type(answer + "\n")
        status = term.close()
        screen = term.screen
        sent = s.stats()["requests"]
    if answer == "y":
        assert (status, sent) == (0, 2)
        assert "run: files=2, transcribed=2" in screen
    else:
        assert (status, sent) == (1, 0)
        last = screen.strip().splitlines()[-1]
        assert last.startswith("dgtools: error: nothing was sent: 2 file(s)")
        assert "Traceback" not in screen


@pytest.mark.parametrize("flags", [["--yes"], []], ids=["yes", "below-the-default-5-dollars"])
def test_in_a_terminal_it_does_not_ask_with_yes_or_below_the_price(tmp_path: Path, flags: list[str]) -> None:
    folder = audio(tmp_path / "audio", 2)
    with LocalServer(api_keys=[KEY]) as s:
        argv = [*transcribe_argv(tmp_path, folder, server=s), "--no-progress", *flags]
        if flags:
            argv += ["--confirm-above", "0"]
        term = Terminal(argv, tmp_path)
        assert term.close() == 0
        screen = term.screen
        assert s.stats()["requests"] == 2
    assert "[y/N]" not in screen and "run: files=2, transcribed=2" in screen


# --------------------------------------------------------------------------- Ctrl-C and SIGTERM


INTERRUPTED = re.compile(
    r"dgtools: interrupted: (\d+) of (\d+) files saved in (.+); run the same command again to finish"
)


def stored(store: Path) -> int:
    return len(list((store / "responses").rglob("*.json"))) if (store / "responses").is_dir() else 0


def start_and_stop(
    argv: list[str], cwd: Path, store: Path, sig: signal.Signals, after: int, **env: str
) -> tuple[int, str]:
    """Start ``python -m dgtools ARGV``, send ``sig`` once ``after`` responses are stored; (exit status, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dgtools", *argv], cwd=cwd, env=cli_env(**env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120  # a guard against a hang, not a performance check
    while stored(store) < after:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the run ended ({proc.returncode}) before {after} responses:\n{out}\n{err}")
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_interrupted_says_how_many_files_are_saved_and_how_to_finish(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """It said `dgtools: interrupted` and nothing more."""
    folder = audio(tmp_path / "audio", 8)
    store = tmp_path / "store"
    with LocalServer(api_keys=[KEY], faults=Faults(latency=0.3)) as s:
        argv = [*transcribe_argv(tmp_path, folder, server=s), "--concurrency", "2", "--no-progress"]
        status, err = start_and_stop(argv, tmp_path, store, sig, after=2, DEEPGRAM_API_KEY=KEY)
    assert status == 130
    lines = err.strip().splitlines()
    found = INTERRUPTED.fullmatch(lines[-1])
    assert found, err
    assert (int(found[1]), int(found[2]), found[3]) == (stored(store), 8, str(store))
    assert 2 <= stored(store) < 8
    assert all(line.startswith("dgtools: waiting for ") for line in lines[:-1]), err  # said only if slow
    assert "Traceback" not in err


def test_sigterm_with_the_local_engine_says_what_it_waits_for(tmp_path: Path) -> None:
    """SIGTERM waited a silent 24 s for the decodes in flight."""
    store = tmp_path / "store"
    argv = transcribe_argv(
        tmp_path, *(AUDIO / n for n in ("silence.wav", "one_speaker.wav", "two_voices.wav"))
    )
    argv += ["--engine", "local", "--concurrency", "1", "--no-progress"]
    status, err = start_and_stop(argv, tmp_path, store, signal.SIGTERM, after=1)
    assert status == 130
    lines = err.strip().splitlines()
    found = INTERRUPTED.fullmatch(lines[-1])
    assert found, err
    assert (int(found[1]), int(found[2])) == (stored(store), 3)
    assert all(re.fullmatch(r"dgtools: waiting for 1 decode to stop\.\.\.", line) for line in lines[:-1]), err
