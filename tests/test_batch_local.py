"""engine="local": dgtools.transcribe and the README's main job on the embedded offline engine."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dgtools
from dgtools.batch import resolve_engine
from dgtools.cli import main
from dgtools.options import ListenOptions
from dgtools.store import store_digest

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    monkeypatch.delenv("DEEPGRAM_TOKEN", raising=False)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("audio")
    for p in AUDIO.glob("*.wav"):
        shutil.copy(p, d / p.name)
    (d / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    return d


def whisper_installed() -> bool:
    if importlib.util.find_spec("faster_whisper") is None:
        return False
    from dgtools.engines.whisper import available_models

    return bool(available_models())


def test_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_engine("auto") == ("whisper" if whisper_installed() else "local")  # the best offline one
    assert resolve_engine("auto", api_key="k") == "deepgram"
    monkeypatch.setenv("DEEPGRAM_TOKEN", "t")
    assert resolve_engine("auto") == "deepgram"
    with pytest.raises(dgtools.ConfigError, match="engine='whisperx'"):
        resolve_engine("whisperx")
    opts = ListenOptions.from_kwargs(punctuate=True)
    assert store_digest(opts, "local") != store_digest(opts, "deepgram") == opts.digest()


def test_transcribe_with_the_local_engine(folder: Path, tmp_path: Path) -> None:
    run = dgtools.transcribe(
        folder, store=tmp_path / "store", engine="local", punctuate=True, utterances=True, progress=False
    )
    status = {r.file_id: r.status for r in run.results}
    assert status == {
        "broken.wav": "skipped",  # its WAV header has no fmt chunk: never sent to the engine
        "one_speaker.wav": "transcribed",
        "silence.wav": "transcribed",
        "stereo_call.wav": "transcribed",
        "two_voices.wav": "transcribed",
    }
    s = run.summary()
    assert s["engine"] == "local" and 0 < s["realtime_factor"] < 2
    assert run.estimate is not None and run.estimate.dollars == 0 and "free" in str(run.estimate)
    f = run.failures
    assert f.file.str.endswith("broken.wav").all() and f.retryable.tolist() == [False]
    assert f.message.iloc[0] == "too short for WAV audio (28 bytes)"
    t = run.tables
    req = t.requests.set_index("file_id")
    assert req.loc["silence.wav", "n_words"] == 0
    assert req.loc["one_speaker.wav", "model_arch"] == "pocketsphinx"
    assert req.loc["one_speaker.wav", "n_words"] > 10
    words = t.words
    assert (words.start <= words.end).all() and words.confidence.between(0, 1).all()
    # a rerun decodes nothing
    again = dgtools.transcribe(
        folder, store=tmp_path / "store", engine="local", punctuate=True, utterances=True, progress=False
    )
    assert {r.status for r in again.results if r.file_id != "broken.wav"} == {"stored"}
    assert again.realtime_factor is None


def test_readme_main_job_without_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(AUDIO, tmp_path / "data" / "audio")
    code = main(["transcribe", "data/audio", "--out", "dgtools-out", "--punctuate", "--diarize", "--utterances",
                 "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"engine={'whisper' if whisper_installed() else 'local'}" in out and "realtime_factor=" in out
    assert "wrote dgtools-out/<table>.parquet" in out
    pngs = sorted(p.name for p in (tmp_path / "dgtools-out" / "plots").glob("*.png"))
    assert pngs == [f"{n}.{kind}.png" for n in ("one_speaker.wav", "stereo_call.wav", "two_voices.wav")
                    for kind in ("lanes", "timeline")]  # silence has no words: no plots  # fmt: skip
    assert all((tmp_path / "dgtools-out" / "plots" / n).read_bytes()[:4] == b"\x89PNG" for n in pngs)
    t = dgtools.read_parquet(tmp_path / "dgtools-out")
    assert sorted(t.requests.file_id) == [
        "one_speaker.wav",
        "silence.wav",
        "stereo_call.wav",
        "two_voices.wav",
    ]
    # the stereo call is diarized by loudest channel: both speakers appear
    stereo = t.words[t.words.file_id == "stereo_call.wav"]
    assert set(stereo.speaker.dropna()) == {0, 1}


@pytest.mark.filterwarnings("ignore:websockets.exceptions.InvalidStatusCode is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning")
def test_serve_local_answers_the_official_sdk() -> None:
    import deepgram  # the test extra installs the official SDK
    import httpx
    from deepgram.environment import DeepgramClientEnvironment

    from dgtools.engines.base import make_engine
    from dgtools.server import LocalServer

    engine = make_engine("local")
    with (
        LocalServer(engine=engine, api_keys={"sdk-key"}) as server,
        httpx.Client(timeout=60, trust_env=False) as http,
    ):
        ws = server.url.replace("http://", "ws://")
        env = DeepgramClientEnvironment(base=server.url, production=ws, agent=ws, agent_rest=server.url)
        client = deepgram.DeepgramClient(api_key="sdk-key", environment=env, httpx_client=http)
        response = client.listen.v1.media.transcribe_file(
            request=(AUDIO / "one_speaker.wav").read_bytes(), punctuate=True, search="tomorrow"
        )
    getattr(engine, "close", lambda: None)()
    words = response.results.channels[0].alternatives[0].words
    assert len(words) > 10 and response.metadata.model_info
    t = dgtools.to_tables(response, file_id="sdk")
    assert len(t.words) == len(words) and t.requests.model_arch.tolist() == ["pocketsphinx"]
    assert t.search_hits["query"].tolist()[0] == "tomorrow"


# --------------------------------------------------------------------------- a script without a __main__ guard

_SCRIPT = """
import pathlib, dgtools
with open({log!r}, "a") as f:
    f.write("ran\\n")  # a side effect of running this script: must happen once
run = dgtools.transcribe({audio!r}, engine="local", store={store!r}, progress=False, concurrency=2)
print("RESULT", run.summary()["files"], run.summary().get("transcribed"))
"""


@pytest.mark.parametrize("how", ["script", "stdin", "dash-c"])
def test_the_local_engine_from_a_script_without_a_main_guard(folder: Path, tmp_path: Path, how: str) -> None:
    """`python t.py` calling dgtools at top level gave BrokenProcessPool, a 135-line traceback, and ran twice."""
    import subprocess
    import sys

    log = tmp_path / "ran.log"
    code = _SCRIPT.format(log=str(log), audio=str(folder), store=str(tmp_path / "store"))
    if how == "script":
        script = tmp_path / "t.py"
        script.write_text(code)
        argv, stdin = [sys.executable, str(script)], None
    elif how == "stdin":
        argv, stdin = [sys.executable, "-"], code
    else:
        argv, stdin = [sys.executable, "-c", code], None
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "RESULT 5 4" in done.stdout  # 4 WAVs transcribed, broken.wav skipped
    assert "Traceback" not in done.stderr
    assert log.read_text() == "ran\n"  # the script ran once: no worker re-ran it


def test_auto_without_whisper_uses_pocketsphinx_and_says_how_to_get_whisper() -> None:
    """With faster-whisper hidden (as on a core install), auto picks the embedded engine."""
    code = (
        "import sys\n"
        "sys.modules['faster_whisper'] = None  # not installed, as far as imports and find_spec can tell\n"
        "from dgtools.batch import engine_choice\n"
        "print(*engine_choice('auto'), sep='|')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPGRAM_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    engine, why = out.stdout.strip().split("|")
    assert engine == "local"
    assert why == (
        "engine auto: the embedded offline engine (pocketsphinx: free, nothing leaves this machine; "
        "pip install 'dgtools[whisper]' for a far better one), because neither DEEPGRAM_API_KEY nor "
        "DEEPGRAM_TOKEN is set"
    )
