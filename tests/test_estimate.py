"""``dgtools.estimate`` and ``dgtools estimate``: what some audio would cost, before anything is sent."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pandas as pd
import pytest
from tones import wav

import dgtools
from dgtools.batch.estimate import ESTIMATE_COLUMNS, Estimate
from dgtools.cli import main
from dgtools.server import LocalServer

REPO = Path(__file__).resolve().parents[1]
AUDIO = REPO / "data" / "audio"
KEY = "e57e57e57e57e57e57e57e57e57e57e57e57e57e"


@pytest.fixture(autouse=True)
def _no_deepgram_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key is needed to estimate."""
    for name in ("DEEPGRAM_API_KEY", "DEEPGRAM_TOKEN", "DEEPGRAM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two minutes of audio (30 s and 90 s), the 30 s file again under another name, and two non-audio files."""
    d = tmp_path / "calls"
    wav(d / "a.wav", 30, tone=1)
    wav(d / "b.wav", 90, tone=2)
    shutil.copy(d / "a.wav", d / "a_copy.wav")
    (d / "notes.txt").write_text("not audio")
    (d / "fake.wav").write_text("not audio either")
    return d


# --------------------------------------------------------------------------- dgtools.estimate


def test_one_line_folder_estimate(folder: Path, tmp_path: Path) -> None:
    e = dgtools.estimate(folder, model="nova-3-medical", store=tmp_path / "no-store-yet")
    assert isinstance(e, Estimate)
    assert (e.total.files, e.total.minutes, e.total.dollars) == (2, 2.0, 0.0118)  # the copy is sent once
    files = e.files
    assert tuple(files.columns) == ESTIMATE_COLUMNS
    rows = {r.file.rsplit("/", 1)[-1]: r for r in files.itertuples()}
    assert [rows[n].status for n in ("a.wav", "a_copy.wav", "b.wav", "fake.wav", "notes.txt")] == [
        "to send", "duplicate", "to send", "skipped", "ignored",
    ]  # fmt: skip
    assert (rows["a.wav"].seconds, rows["a.wav"].minutes, rows["a.wav"].dollars) == (30.0, 0.5, 0.00295)
    assert rows["a.wav"].duration_from == "probed"
    assert (
        rows["a_copy.wav"].dollars == 0
        and rows["a_copy.wav"].note == f"same audio as {folder / 'a.wav'}: sent once"
    )
    assert rows["fake.wav"].note == "named .wav, but it holds text, not audio"
    assert files.dollars.sum() == pytest.approx(e.total.dollars)
    assert not (tmp_path / "no-store-yet").exists()  # the store is only read


def test_files_the_store_holds_are_not_counted(folder: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    with LocalServer(api_keys=[KEY]) as server:
        dgtools.transcribe(
            folder / "a.wav", store=store, api_key=KEY, base_url=server.url, diarize=True, progress=False
        )
    e = dgtools.estimate(folder, store=store, diarize=True)
    stored = e.files[e.files.status == "stored"]
    assert stored.file.tolist() == [str(folder / "a.wav")] and stored.dollars.tolist() == [0.0]
    assert (e.total.files, e.plan.to_send, e.plan.stored) == (1, 1, 1)
    # other options, another engine: other store keys, so nothing is stored for them
    assert dgtools.estimate(folder, store=store).plan.stored == 0
    assert dgtools.estimate(folder, store=store, diarize=True, engine="local").plan.stored == 0


def test_a_url_is_counted_as_unknown(tmp_path: Path) -> None:
    e = dgtools.estimate([str(wav(tmp_path / "a.wav", 60)), "https://example.com/call.mp3"])
    url = e.files.iloc[1]
    assert (url.status, url.duration_from) == ("to send", "unknown")
    assert pd.isna(url.dollars) and "Deepgram fetches it" in url.note
    assert e.total.unknown_duration == 1 and e.total.dollars == 0.0043


def test_the_local_engine_is_free_and_ignores_the_model(folder: Path) -> None:
    e = dgtools.estimate(folder, engine="local", model="nova-5")
    assert e.total.dollars == 0 and str(e.total).endswith("with the local engine: free")
    assert e.plan.engine == "local"


def test_an_unknown_model_for_deepgram_is_an_error(folder: Path) -> None:
    with pytest.raises(
        dgtools.ConfigError, match="model 'nova-5' is not a Deepgram model; did you mean 'nova-3'"
    ):
        dgtools.estimate(folder, model="nova-5")
    with pytest.raises(dgtools.ConfigError, match="diarise"):
        dgtools.estimate(folder, diarise=True)


def test_reprs(folder: Path) -> None:
    e = dgtools.estimate(folder)
    assert repr(e).startswith(
        "<dgtools.Estimate 2 to send, 1 duplicate, 1 skipped, 1 ignored: 2 file(s), 2.0 audio"
    )
    assert str(e).splitlines() == [
        "engine deepgram: what Deepgram's API would charge (engine='local' is free)",
        "plan: 2 file(s) to send, 1 duplicate(s), sent once, 1 skipped, 1 ignored (not audio)",
        "estimate: 2 file(s), 2.0 audio minutes with nova-3: $0.0086 at $0.0043/min "
        "(prices of 2026-11-21, add-ons not included)",
    ]
    html = e._repr_html_()
    assert "plan: 2 file(s) to send" in html and "<table" in html and "duplicate" in html
    broken = Estimate(files=None, total=e.total, plan=e.plan)  # type: ignore[arg-type]
    assert broken._repr_html_() == "<i>dgtools.Estimate</i>"  # notebook reprs never raise


def test_works_inside_a_running_event_loop(folder: Path) -> None:
    async def cell() -> Estimate:  # a Jupyter cell runs in an event loop
        return dgtools.estimate(folder)

    assert asyncio.run(cell()).total.files == 2


# --------------------------------------------------------------------------- dgtools estimate


def test_estimate_store_is_real(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`estimate --help` documented --store, which did not exist."""
    store = tmp_path / "store"
    with LocalServer(api_keys=[KEY]) as server:
        dgtools.transcribe(
            folder / "a.wav", store=store, api_key=KEY, base_url=server.url, diarize=True, progress=False
        )
    assert main(["estimate", str(folder), "--store", str(store), "--diarize"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "engine deepgram: what Deepgram's API would charge (--engine local is free)",
        "plan: 1 file(s) to send, 1 already stored, 1 duplicate(s), sent once, 1 skipped, 1 ignored (not audio)",
        "estimate: 1 file(s), 1.5 audio minutes with nova-3: $0.0065 at $0.0043/min "
        "(prices of 2026-11-21, add-ons not included)",
    ]
    assert captured.err.splitlines() == [
        f"dgtools: warning: {folder / 'fake.wav'}: named .wav, but it holds text, not audio",
        f"dgtools: warning: {folder / 'notes.txt'}: not an audio file (.txt)",
    ]
    assert main(["estimate", str(folder), "--store", str(store)]) == 0  # without --diarize: other keys
    assert "plan: 2 file(s) to send," in capsys.readouterr().out


def test_estimate_takes_the_options_of_transcribe(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--store DIR", "--pattern GLOB", "--engine", "--model", "--diarize", "--smart-format",
                 "--search TERM", "--keyterm TERM", "--tag TAG", "--option NAME=VALUE"):  # fmt: skip
        assert flag in out
    assert "not counted" in out


def test_estimate_errors_are_one_line(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", str(folder), "--model", "nova-5"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dgtools: error: model 'nova-5' is not a Deepgram model")
    assert main(["estimate", str(folder), "--option", "sample_rate=x"]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_estimate_with_the_local_engine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", str(AUDIO), "--engine", "local"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "engine local: as asked",
        "plan: 4 file(s) to send",
        "estimate: 4 file(s), 1.0 audio minutes with the local engine: free",
    ]
