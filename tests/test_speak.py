"""Text to speech in batches: :func:`dgtools.speech.speak` and ``dgtools speak``.

Unit tests (splitting, joining, the store key, prices, inputs) need nothing; the runner's tests
send to an ``httpx.MockTransport``; the end-to-end tests send to the local server
(:class:`~dgtools.server.LocalServer`, whose ``/v1/speak`` speaks with espeak-ng: they skip
without it, and fail under ``DGTOOLS_REQUIRE=voice``).
"""

from __future__ import annotations

import asyncio
import errno
import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import missing
from dgtools.api import RetryPolicy
from dgtools.cli import main
from dgtools.cli.speak import speak_syntax
from dgtools.exceptions import BudgetError, ConfigError, DGToolsError, NotConfirmedError
from dgtools.options.speak import MAX_CHARACTERS, speak_format
from dgtools.pricing import TTS_PRICES, estimate_speech_cost, price_per_1k_characters
from dgtools.server import Faults, LocalServer
from dgtools.speech import SpeechRun, SpeechStore, aspeak, speak, speech_engine, split_text
from dgtools.speech.join import duration, join, joinable, wav_bytes
from dgtools.speech.plan import file_name, texts_and_ids
from dgtools.speech.run import SPEECH_COLUMNS, SPEECH_FAILURE_COLUMNS
from dgtools.speech.store import canonical, speech_key
from dgtools.store import Claims
from dgtools.store.keys import KEY_RE

KEY = "5eec5eec5eec5eec5eec5eec5eec5eec5eec5eec"
FAST = RetryPolicy(max_retries=2, base_delay=0.0)
posix_only = pytest.mark.skipif(os.name == "nt", reason="SIGKILL and pid checks are POSIX")


def sentences(n_chars: int, *, start: int = 0) -> str:
    """A text of about ``n_chars`` characters, of sentences of 40 to 90 characters."""
    out, i = [], start
    while sum(len(s) + 1 for s in out) < n_chars:
        out.append(f"Sentence {i} says{' very' * (i % 10)} little, and then it ends.")
        i += 1
    return " ".join(out)


# --------------------------------------------------------------------------- splitting


def test_a_text_that_fits_is_one_chunk_and_a_blank_one_none() -> None:
    assert split_text("  Hello there.  ") == ["Hello there."]
    assert split_text("x" * MAX_CHARACTERS) == ["x" * MAX_CHARACTERS]
    assert split_text(" \n\t ") == []


def test_a_long_text_is_cut_at_sentence_ends() -> None:
    text = sentences(5000)
    chunks = split_text(text)
    assert len(chunks) == 3
    assert all(len(c) <= MAX_CHARACTERS for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    assert " ".join(chunks) == text  # nothing lost, nothing changed
    # greedy: each chunk but the last could not take the next sentence
    first_of_next = re.match(r".*?\.( |$)", chunks[1])
    assert first_of_next is not None
    assert len(chunks[0]) + 1 + len(first_of_next.group(0).strip()) > MAX_CHARACTERS


def test_a_sentence_longer_than_a_request_is_cut_at_a_clause_then_a_word() -> None:
    clauses = ", ".join(f"clause number {i} goes on a while" for i in range(80)) + "."
    chunks = split_text(clauses)
    assert len(chunks) == 2 and chunks[0].endswith(",")
    words = ("lorem ipsum " * 200)[:2001]
    assert len(words) == 2001 and not re.search(r"[.,;:!?]", words)
    chunks = split_text(words)
    assert len(chunks) == 2
    assert " ".join(chunks) == words  # cut at a space: every word whole
    assert set(" ".join(chunks).split()) == set(words.split())


def test_line_breaks_end_sentences_and_cjk_punctuation_counts() -> None:
    lines = "\n".join("a line without a full stop " * 3 for _ in range(40))
    chunks = split_text(lines, max_chars=300)
    assert all(c.endswith("full stop") for c in chunks)
    assert split_text("你好。" * 5 + "谢谢。" * 5, max_chars=9) == [
        "你好。你好。你好。",
        "你好。你好。谢谢。",
        "谢谢。谢谢。谢谢。",
        "谢谢。",
    ]


def test_a_word_longer_than_a_request_is_cut_inside() -> None:
    assert split_text("a " + "x" * 25 + " b", max_chars=10) == ["a", "x" * 10, "x" * 10, "xxxxx b"]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_max_chars_must_be_a_positive_integer(bad: Any) -> None:
    with pytest.raises(ConfigError, match="max_chars"):
        split_text("hello", max_chars=bad)


# --------------------------------------------------------------------------- joining and durations


def _encoded(seconds: float, fmt: str, subtype: str | None = None, rate: int = 22050) -> bytes:
    x = (np.sin(np.arange(int(rate * seconds)) * 2 * np.pi * 440 / rate) * 0.3).astype("float32")
    b = io.BytesIO()
    sf.write(b, x, rate, format=fmt, subtype=subtype)
    return b.getvalue()


def test_wav_chunks_join_gaplessly_under_one_header() -> None:
    fmt = speak_format({"encoding": "linear16", "sample_rate": 16000})
    parts = [wav_bytes(np.full(n, i, "<i2").tobytes(), 16000) for i, n in enumerate((16000, 8000, 4000), 1)]
    joined = join(parts, fmt)
    assert joined.count(b"RIFF") == 1 and joined.count(b"data") == 1
    assert duration(joined, fmt) == sum(duration(p, fmt) or 0 for p in parts) == 1.75
    samples, rate = sf.read(io.BytesIO(joined), dtype="int16")
    assert rate == 16000 and list(np.unique(samples)) == [1, 2, 3] and len(samples) == 28000


def test_a_streamed_wav_header_reads_to_the_end() -> None:
    fmt = speak_format({"encoding": "linear16", "sample_rate": 8000})
    data = bytearray(wav_bytes(b"\1\0" * 800, 8000))
    data[40:44] = b"\xff\xff\xff\xff"  # the data size of a header written before the audio was known
    assert duration(bytes(data), fmt) == 0.1


def test_wav_chunks_of_other_formats_do_not_join() -> None:
    fmt = speak_format({"encoding": "linear16"})
    with pytest.raises(ValueError, match="another sample format"):
        join([wav_bytes(b"\0\0", 24000), wav_bytes(b"\0\0", 16000)], fmt)


def test_raw_pcm_concatenates() -> None:
    fmt = speak_format({"encoding": "mulaw", "container": "none"})
    assert join([b"\1" * 8000, b"\2" * 4000], fmt) == b"\1" * 8000 + b"\2" * 4000
    assert duration(b"\1" * 12000, fmt) == 1.5


def test_mp3_chunks_join_into_one_stream_with_one_header_frame() -> None:
    fmt = speak_format({})
    parts = [_encoded(1.0, "MP3", "MPEG_LAYER_III"), _encoded(0.5, "MP3", "MPEG_LAYER_III")]
    joined = join(parts, fmt)
    assert duration(joined, fmt) == pytest.approx(sum(duration(p, fmt) or 0 for p in parts), abs=1e-6)
    assert joined.count(b"Info") + joined.count(b"Xing") == 1  # the first chunk's header, rewritten
    decoded, _ = sf.read(io.BytesIO(joined))
    alone = sum(len(sf.read(io.BytesIO(p))[0]) for p in parts)
    # the whole file plays; each join adds at most the encoder's padding of a chunk (a few frames)
    assert alone <= len(decoded) <= alone + 2 * 1152 * len(parts)


def test_compressed_formats_other_than_mp3_do_not_join_but_have_durations() -> None:
    flac, opus = speak_format({"encoding": "flac"}), speak_format({"encoding": "opus"})
    assert not joinable(flac) and not joinable(opus) and joinable(speak_format({}))
    assert duration(_encoded(1.25, "FLAC", rate=48000), flac) == 1.25
    assert duration(_encoded(1.25, "OGG", "OPUS", rate=48000), opus) == pytest.approx(1.25, abs=0.01)
    with pytest.raises(ConfigError):
        join([b"a", b"b"], flac)
    assert duration(b"not audio", speak_format({"encoding": "linear16"})) is None


# --------------------------------------------------------------------------- the store, prices, inputs


def test_the_key_is_the_chunk_and_the_canonical_options() -> None:
    opts = canonical([("model", "aura-asteria-en"), ("encoding", "mp3")])
    assert opts == "encoding=mp3&model=aura-asteria-en"
    key = speech_key("Hello.", opts)
    assert KEY_RE.fullmatch(key)
    assert key == speech_key("Hello.", canonical([("encoding", "mp3"), ("model", "aura-asteria-en")]))
    others = {
        speech_key("Hello!", opts),
        speech_key("Hello.", canonical([("model", "aura-2-thalia-en"), ("encoding", "mp3")])),
        speech_key("Hello.", canonical([("model", "aura-asteria-en"), ("encoding", "mp3")], engine="local")),
    }
    assert key not in others and len(others) == 3


def test_the_speech_store_writes_once_atomically_and_never_the_key(tmp_path: Path) -> None:
    st = SpeechStore(tmp_path, ".wav", secrets=[KEY])
    key = speech_key("Hi.", "encoding=linear16")
    path = st.write(key, b"RIFF-first", {"request_id": "r1"})
    assert path == tmp_path / "speech" / key[:2] / f"{key}.wav" and st.has(key)
    assert st.write(key, b"RIFF-second", {"request_id": "r2"}) == path  # the first write wins
    assert st.read(key) == b"RIFF-first" and st.meta(key) == {"request_id": "r1"}
    other = speech_key("Ho.", "encoding=linear16")
    with pytest.raises(ConfigError, match="refusing to store"):
        st.write(other, b"audio", {"echo": KEY})
    assert not st.has(other)
    assert list((tmp_path / "tmp").iterdir()) == []  # no temp file left behind
    assert KEY not in repr(st)


def test_tts_prices_are_dated_per_1000_characters_by_voice_family() -> None:
    assert TTS_PRICES == {"aura": 0.015, "aura-2": 0.030}
    assert price_per_1k_characters("aura-luna-en") == 0.015
    assert price_per_1k_characters("aura-2-helena-en") == 0.030
    assert price_per_1k_characters("nova-3") is None
    e = estimate_speech_cost([2000, 2000, 1000], model="aura-2-thalia-en")
    assert (e.requests, e.characters, e.dollars) == (3, 5000, 0.15)
    assert "prices of" in str(e) and "$0.1500" in str(e)
    assert estimate_speech_cost([10], model="aura-2-thalia-en", prices={"aura-2": 1.0}).dollars == 0.01
    assert estimate_speech_cost([10], free=True).dollars == 0.0


def test_texts_and_ids_of_every_kind_of_input() -> None:
    assert texts_and_ids("Hi.") == [("0", "Hi.")]
    assert texts_and_ids(("a", "b")) == [("0", "a"), ("1", "b")]
    series = pd.Series(["a", "b"], index=["x", "y"])
    assert texts_and_ids(series) == [("x", "a"), ("y", "b")]
    assert texts_and_ids(series.to_frame("text")) == [("x", "a"), ("y", "b")]
    assert texts_and_ids(series, ids=[1, 2]) == [("1", "a"), ("2", "b")]


@pytest.mark.parametrize(
    ("texts", "ids", "match"),
    [
        ([], None, "nothing to speak"),
        (["a", "b"], ["x"], "1 ids for 2 texts"),
        (["a", "b"], ["x", "x"], "repeats 'x'"),
        (pd.Series(["a", "b"], index=[0, 0]), None, "the index of texts repeats"),
        (pd.DataFrame({"a": ["x"], "b": ["y"]}), None, "DataFrame of 2 columns"),
        (42, None, "not int"),
    ],
)
def test_bad_inputs_are_config_errors(texts: Any, ids: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        texts_and_ids(texts, ids)


def test_file_names_are_the_ids_when_safe() -> None:
    assert file_name("call-01.v2") == "call-01.v2"
    unsafe = ["../up", "a/b", "a b", ".hidden", ""]
    names = [file_name(i) for i in unsafe]
    assert len(set(names)) == len(names) and all(re.fullmatch(r"[\w-][\w.-]*", n) for n in names)


def test_the_engine_is_chosen_as_transcribe_chooses_and_offline_is_the_local_voice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("DEEPGRAM_API_KEY", "DEEPGRAM_TOKEN", "DEEPGRAM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert speech_engine("auto")[0] == "local"
    assert speech_engine("auto", base_url="http://127.0.0.1:1")[0] == "deepgram"
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    assert speech_engine("auto") == ("deepgram", "engine auto: Deepgram, because DEEPGRAM_API_KEY is set")
    assert speech_engine("local") == ("local", "engine local: as asked")
    with pytest.raises(ConfigError, match="does not speak"):
        speech_engine("whisper")


# --------------------------------------------------------------------------- the runner (MockTransport)


class FakeSpeak:
    """``/v1/speak`` in a MockTransport: 10 ms of WAV per character; ``rule(text)`` may answer otherwise."""

    def __init__(self, rule: Callable[[str, int], httpx.Response | None] | None = None) -> None:
        self.rule = rule
        self.requests: list[tuple[dict[str, str], str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        text = json.loads(request.content)["text"]
        self.requests.append((dict(request.url.params), text))
        assert request.headers["authorization"] == f"Token {KEY}"
        if self.rule is not None:
            answer = self.rule(text, len(self.requests))
            if answer is not None:
                return answer
        rate = int(request.url.params.get("sample_rate", 24000))
        audio = wav_bytes(b"\1\0" * (len(text) * rate // 100), rate)
        rid = f"req-{len(self.requests)}"
        return httpx.Response(200, content=audio, headers={"content-type": "audio/wav", "dg-request-id": rid})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def mock_speak(fake: FakeSpeak, texts: Any, tmp_path: Path, **kw: Any) -> SpeechRun:
    kw = {
        "encoding": "linear16",
        "sample_rate": 8000,
        "progress": False,
        "retry": FAST,
        "out": tmp_path / "out",
        **kw,
    }
    return speak(texts, store=tmp_path / "store", api_key=KEY, transport=fake.transport(), **kw)


def error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers or {})


def test_one_file_per_text_and_rows_per_text_and_chunk(tmp_path: Path) -> None:
    fake = FakeSpeak()
    long = sentences(4500)
    run = mock_speak(fake, pd.Series(["Hello there.", long], index=["hi", "long"]), tmp_path, concurrency=1)
    assert len(fake.requests) == 4 and all(len(t) <= MAX_CHARACTERS for _, t in fake.requests)
    assert fake.requests[0][0] == {"model": "aura-asteria-en", "encoding": "linear16", "sample_rate": "8000"}
    df = run.tables.speech
    assert list(df.columns) == list(SPEECH_COLUMNS)
    assert df["chunk"].isna().tolist() == [True, False, True, False, False, False]
    assert set(df["status"]) == {"spoken"} and df["model"].eq("aura-asteria-en").all()
    texts = df[df["chunk"].isna()].set_index("id")
    chunks = df[df["chunk"].notna()]
    fmt = speak_format({"encoding": "linear16", "sample_rate": 8000})
    for text_id in ("hi", "long"):
        path = Path(texts.loc[text_id, "path"])
        assert path == tmp_path / "out" / f"{text_id}.wav" == run.paths[text_id]
        mine = chunks[chunks["id"] == text_id]
        assert duration(path.read_bytes(), fmt) == texts.loc[text_id, "duration"]
        assert texts.loc[text_id, "duration"] == pytest.approx(mine["duration"].sum())
        assert texts.loc[text_id, "characters"] == mine["characters"].sum()
        assert texts.loc[text_id, "cost"] == pytest.approx(mine["cost"].sum())
        assert texts.loc[text_id, "ttfb"] == mine["ttfb"].iloc[0]
        assert all(Path(p).is_file() for p in mine["path"])
    assert texts.loc["hi", "request_id"] == "req-1" and pd.isna(texts.loc["long", "request_id"])
    assert df["cost"].iloc[1] == pytest.approx(len("Hello there.") * 0.015 / 1000)
    assert len(run.failures) == 0 and list(run.failures.columns) == list(SPEECH_FAILURE_COLUMNS)
    s = run.summary()
    assert (s["spoken"], s["requests_sent"], s["characters_sent"]) == (2, 4, int(chunks["characters"].sum()))


def test_a_rerun_sends_nothing_and_pays_nothing(tmp_path: Path) -> None:
    fake = FakeSpeak()
    first = mock_speak(fake, ["One.", sentences(2500)], tmp_path)
    sent = len(fake.requests)
    again = mock_speak(fake, ["One.", sentences(2500)], tmp_path)
    assert len(fake.requests) == sent == 3
    assert again.plan is not None and again.plan.to_send == 0 and again.plan.stored == 3
    assert [t.status for t in again.texts] == ["stored", "stored"]
    assert again.summary()["spent"] == 0 and again.tables.speech["cost"].sum() == 0
    keep = ["id", "chunk", "request_id", "duration", "bytes", "ttfb", "path"]
    pd.testing.assert_frame_equal(first.tables.speech[keep], again.tables.speech[keep])


def test_the_same_chunk_twice_is_sent_once(tmp_path: Path) -> None:
    fake = FakeSpeak()
    run = mock_speak(fake, ["Same.", "Same."], tmp_path)
    assert len(fake.requests) == 1
    assert [c.status for c in run.chunks] == ["spoken", "duplicate"]
    assert run.paths["0"].read_bytes() == run.paths["1"].read_bytes()
    chunks = run.tables.speech.dropna(subset=["chunk"])
    assert chunks["cost"].sum() == pytest.approx(5 * 0.015 / 1000)  # paid once


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "aura-2-thalai-en"}, "did you mean aura-2-thalia-en"),
        ({"encoding": "mp3", "sample_rate": 24000}, "takes only 22050"),
        ({"encoding": "wav"}, "encoding="),
        ({"speed": 3.0}, "0.7 to 1.5"),
        ({"concurrency": 0}, "concurrency=0"),
        ({"engine": "whisper"}, "does not speak"),
        ({"budget": -1}, "budget=-1"),
    ],
)
def test_options_are_checked_before_anything_is_sent(
    tmp_path: Path, kwargs: dict[str, Any], match: str
) -> None:
    fake = FakeSpeak()
    with pytest.raises(ConfigError, match=match):
        mock_speak(fake, ["Hello."], tmp_path, **{"sample_rate": None, **kwargs})
    assert fake.requests == [] and not (tmp_path / "out").exists()


def test_the_budget_is_a_hard_cap(tmp_path: Path) -> None:
    fake = FakeSpeak()
    text = sentences(3000)  # 2 requests, 3,000 characters: $0.045 with Aura
    with pytest.raises(BudgetError, match=r"above budget=0\.04"):
        mock_speak(fake, [text], tmp_path, budget=0.04)
    assert fake.requests == []
    run = mock_speak(fake, [text], tmp_path, budget=0.05)
    characters = sum(map(len, split_text(text)))
    assert run.plan is not None and run.plan.estimate.dollars == round(characters * 0.015 / 1000, 6)
    assert len(fake.requests) == 2 and run.summary()["spent"] == run.plan.estimate.dollars


def test_nothing_is_sent_unless_the_plan_is_confirmed(tmp_path: Path) -> None:
    fake = FakeSpeak()
    plans: list[Any] = []
    with pytest.raises(NotConfirmedError):
        mock_speak(fake, ["Hello.", "Bye."], tmp_path, confirm=lambda p: plans.append(p) or False)
    assert (
        fake.requests == []
        and plans[0].to_send == 2
        and "estimate: 2 request(s), 10 characters" in str(plans[0])
    )


def test_bad_texts_are_failure_rows_never_a_crash(tmp_path: Path) -> None:
    def refuse(text: str, n: int) -> httpx.Response | None:
        if "REFUSE" in text:
            body = {
                "err_code": "INVALID_INPUT",
                "err_msg": "The text cannot be spoken.",
                "request_id": "bad-1",
            }
            return error(400, body)
        return None

    fake = FakeSpeak(refuse)
    run = mock_speak(fake, ["Fine.", "", "Please REFUSE this.", None, 7, "   "], tmp_path)
    assert [t.status for t in run.texts] == ["spoken", "skipped", "failed", "skipped", "skipped", "skipped"]
    assert len(fake.requests) == 2  # the 400 is not retried, the bad texts are never sent
    f = run.failures
    assert f["id"].tolist() == ["1", "2", "3", "4", "5"]
    refused = f[f["id"] == "2"].iloc[0]
    assert (refused["chunk"], refused["status"], refused["err_code"]) == (0, "400", "INVALID_INPUT")
    assert refused["request_id"] == "bad-1" and not refused["retryable"] and refused["attempts"] == 1
    assert "The text cannot be spoken" in refused["message"] and refused["advice"]
    assert f[f["id"] == "1"]["message"].iloc[0].startswith("an empty text")
    assert "not a text but int" in f[f["id"] == "4"]["message"].iloc[0]
    assert pd.isna(f[f["id"] == "1"]["chunk"].iloc[0])
    assert list(run.paths) == ["0"] and not (tmp_path / "out" / "2.wav").exists()
    with pytest.raises(DGToolsError, match="text '1': an empty text"):
        run.raise_for_errors()


def test_a_long_text_in_a_format_that_does_not_join_is_skipped_before_sending(tmp_path: Path) -> None:
    fake = FakeSpeak(lambda text, n: httpx.Response(200, content=b"fLaC" + b"\0" * 40))
    run = mock_speak(fake, ["Short.", sentences(2500)], tmp_path, encoding="flac", sample_rate=None)
    assert [t.status for t in run.texts] == ["spoken", "skipped"] and len(fake.requests) == 1
    assert "encoding='linear16'" in run.failures["advice"].iloc[0]


def test_429_and_5xx_are_retried_honouring_retry_after(tmp_path: Path) -> None:
    def flaky(text: str, n: int) -> httpx.Response | None:
        if n == 1:
            return error(
                429, {"err_code": "TOO_MANY_REQUESTS", "err_msg": "Slow down."}, {"retry-after": "0"}
            )
        if n == 2:
            return error(
                503, {"category": "INTERNAL", "message": "Try again.", "details": "", "request_id": "x"}
            )
        if n == 3:
            return httpx.Response(200, json={"not": "audio"})  # a body that is not audio: retried
        return None

    fake = FakeSpeak(flaky)
    run = mock_speak(fake, ["Hello."], tmp_path, retry=RetryPolicy(max_retries=3, base_delay=0.0))
    assert run.texts[0].status == "spoken" and run.chunks[0].attempts == 4
    assert (run.retries, run.rate_limited, len(fake.requests)) == (3, 1, 4)


def test_retries_give_up_with_the_reason(tmp_path: Path) -> None:
    fake = FakeSpeak(lambda text, n: error(500, {"err_code": "X", "err_msg": "down"}))
    run = mock_speak(fake, ["Hello."], tmp_path)
    row = run.failures.iloc[0]
    assert (row["status"], row["attempts"], bool(row["retryable"])) == ("500", 3, True)
    assert "gave up after 3 attempts (max_retries=2)" in row["message"]


@pytest.mark.parametrize("status", [401, 402, 403])
def test_401_402_403_are_never_retried_and_stop_the_batch(tmp_path: Path, status: int) -> None:
    fake = FakeSpeak(lambda text, n: error(status, {"err_code": "NOPE", "err_msg": "no"}) if n > 1 else None)
    run = mock_speak(fake, ["One.", "Two.", "Three.", "Four."], tmp_path, concurrency=1)
    assert len(fake.requests) == 2  # one answered, one refused, none after
    assert [t.status for t in run.texts] == ["spoken", "failed", "not sent", "not sent"]
    assert run.stopped and str(status) in run.stopped
    f = run.failures
    assert f["status"].tolist() == [str(status), "not sent", "not sent"]
    assert f["message"].iloc[1].startswith("not sent: ")
    again = mock_speak(FakeSpeak(), ["One.", "Two.", "Three.", "Four."], tmp_path)
    assert [t.status for t in again.texts] == ["stored", "spoken", "spoken", "spoken"]


def test_the_key_never_appears_in_reprs_tables_or_files(tmp_path: Path) -> None:
    fake = FakeSpeak(lambda text, n: error(401, {"err_msg": f"bad key {KEY}"}) if "bad" in text else None)
    run = mock_speak(fake, ["Hello.", sentences(2200), "a bad one"], tmp_path, concurrency=1)
    shown = repr(run) + run._repr_html_() + run.tables.speech.to_csv() + run.failures.to_csv() + str(run.plan)
    shown += repr(run.summary()) + repr(run.texts)
    assert KEY not in shown
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 6
    assert not [p for p in files if KEY.encode() in p.read_bytes()]


def test_out_none_writes_no_files_but_stores_the_audio(tmp_path: Path) -> None:
    fake = FakeSpeak()
    run = mock_speak(fake, ["Hello."], tmp_path, out=None)
    assert run.texts[0].status == "spoken" and run.texts[0].path is None and run.paths == {}
    assert not (tmp_path / "out").exists() and run.chunks[0].path is not None and run.chunks[0].path.is_file()
    assert run.texts[0].duration == 0.06


def test_out_must_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file")
    with pytest.raises(ConfigError, match="is a file"):
        mock_speak(FakeSpeak(), ["Hello."], tmp_path)


def test_aspeak_in_an_event_loop_and_speak_inside_a_running_one(tmp_path: Path) -> None:
    fake = FakeSpeak()

    async def main_() -> tuple[SpeechRun, SpeechRun]:
        a = await aspeak(["Async."], store=tmp_path / "s", out=tmp_path / "o", api_key=KEY,
                         transport=fake.transport(), encoding="linear16", progress=False)  # fmt: skip
        b = speak(["Sync in a loop."], store=tmp_path / "s", out=tmp_path / "o", api_key=KEY,
                  transport=fake.transport(), encoding="linear16", progress=False)  # fmt: skip
        return a, b

    a, b = asyncio.run(main_())
    assert a.texts[0].status == b.texts[0].status == "spoken" and len(fake.requests) == 2


def test_progress_lines_without_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def slow(text: str, n: int) -> None:
        import time

        time.sleep(0.15)
        return None

    mock_speak(FakeSpeak(slow), ["One.", "Two."], tmp_path, progress=0.1, concurrency=1)
    err = capsys.readouterr().err
    assert "speaking: " in err and "2/2 requests" in err


# --------------------------------------------------------------------------- a full disk, and claims (MockTransport)


def test_audio_paid_for_but_not_written_is_a_failure_row_saying_where_and_the_run_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = SpeechStore.write
    calls: list[str] = []

    def full(self: SpeechStore, key: str, audio: bytes, meta: Any) -> Path:
        calls.append(key)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(self, key, audio, meta)

    monkeypatch.setattr(SpeechStore, "write", full)
    fake = FakeSpeak()
    texts = ["One.", "Two.", "Three."]
    run = mock_speak(fake, texts, tmp_path, concurrency=1)
    assert len(fake.requests) == 1  # each further answer would be paid for and lost too: none is sent
    lost = run.chunks[0]
    where = SpeechStore(tmp_path / "store", ".wav").path(lost.key)
    assert (lost.status, lost.request_id, lost.answered, lost.retryable) == ("failed", "req-1", True, True)
    assert lost.message is not None and lost.cost > 0
    for words in ("paid", f"${lost.cost:.6f}", "request_id=req-1", str(where), "No space left on device",
                  "ENOSPC", "lost"):  # fmt: skip
        assert words in lost.message, words
    assert [t.status for t in run.texts] == ["failed", "not sent", "not sent"]
    assert run.stopped is not None and "cannot keep audio" in run.stopped and "bytes free" in run.stopped
    f = run.failures
    assert f["status"].tolist() == ["failed", "not sent", "not sent"] and f["retryable"].all()
    assert f["message"].iloc[1] == f"not sent: {run.stopped}"
    assert run.summary()["spent"] == lost.cost and run.summary()["requests_sent"] == 1
    assert not where.exists()
    monkeypatch.setattr(SpeechStore, "write", write)
    again = mock_speak(fake, texts, tmp_path)
    assert len(fake.requests) == 4 and [t.status for t in again.texts] == ["spoken"] * 3


def test_claims_that_cannot_be_written_send_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(self: Claims) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Claims, "heartbeat", read_only)
    fake = FakeSpeak()
    run = mock_speak(fake, ["One.", "Two."], tmp_path)
    assert fake.requests == [] and [t.status for t in run.texts] == ["not sent", "not sent"]
    assert (
        run.stopped is not None
        and "Read-only file system" in run.stopped
        and "nothing was sent" in run.stopped
    )
    assert run.failures["message"].str.startswith("not sent: ").all()


def chunk_keys(tmp_path: Path, texts: list[str]) -> list[str]:
    """The store keys of ``texts``' chunks (spoken as :func:`mock_speak` speaks them), in another store."""
    return [c.key for c in mock_speak(FakeSpeak(), texts, tmp_path / "keys", out=None).chunks]


def test_a_chunk_another_live_run_holds_is_waited_for_then_used_or_taken_over(tmp_path: Path) -> None:
    texts = ["Mine to send.", "Theirs, and they store it.", "Theirs, but they give it up."]
    free, stored_by_them, given_up = chunk_keys(tmp_path, texts)
    store = tmp_path / "store"
    fake = FakeSpeak()
    with Claims(store / "speech") as other, Claims(store) as transcription:
        assert other.take([stored_by_them, given_up]) == {stored_by_them: None, given_up: None}
        assert transcription.take([free]) == {free: None}  # transcription claims are other claims
        out: list[SpeechRun] = []
        thread = threading.Thread(target=lambda: out.append(mock_speak(fake, texts, tmp_path)))
        thread.start()
        deadline = time.monotonic() + 10
        while not fake.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # the run waits for the two chunks the other run holds
        assert [text for _, text in fake.requests] == [texts[0]] and thread.is_alive()
        wav = wav_bytes(b"\1\0" * 800, 8000)
        SpeechStore(store, ".wav").write(stored_by_them, wav, {"request_id": "theirs"})
        other.release(stored_by_them)
        other.release(given_up)  # failed, say: this run takes it over and sends it
        thread.join(10)
    assert not thread.is_alive()
    (run,) = out
    assert [text for _, text in fake.requests] == [texts[0], texts[2]]
    assert [c.status for c in run.chunks] == ["spoken", "stored", "spoken"]
    assert run.chunks[1].request_id == "theirs" and "another run" in (run.chunks[1].message or "")
    assert all(t.ok for t in run.texts) and run.paths["1"].read_bytes() == wav


# --------------------------------------------------------------------------- end to end: the local server


@pytest.fixture(scope="module")
def espeak() -> None:
    """The local server's voice; skips without it (fails under ``DGTOOLS_REQUIRE=voice``)."""
    if shutil.which("espeak-ng") is None:
        missing("voice", "espeak-ng is not installed (apt-get install espeak-ng)")


@pytest.fixture(scope="module")
def server(espeak: None) -> Iterator[LocalServer]:
    with LocalServer(api_keys=[KEY]) as s:
        yield s


@pytest.fixture(autouse=True)
def _no_deepgram_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEEPGRAM_API_KEY", "DEEPGRAM_TOKEN", "DEEPGRAM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def speak_requests(server: LocalServer) -> int:
    return int(server.stats()["speak"]["requests"])


def local(server: LocalServer, texts: Any, tmp_path: Path, **kw: Any) -> SpeechRun:
    kw = {"progress": False, "store": tmp_path / "store", "out": tmp_path / "out", **kw}
    return speak(texts, api_key=KEY, base_url=server.url, **kw)


def test_a_5000_character_text_is_3_requests_and_one_file_as_long_as_its_chunks(
    server: LocalServer, tmp_path: Path
) -> None:
    text = sentences(5000)
    assert 4900 < len(text) < 5100
    before = speak_requests(server)
    run = local(server, [text], tmp_path, ids=["story"], encoding="linear16")
    assert speak_requests(server) - before == 3
    chunks = [c for c in run.chunks]
    assert len(chunks) == 3 and all(c.status == "spoken" and c.request_id for c in chunks)
    pieces = split_text(text)
    assert all(p.endswith(".") for p in pieces) and sum(c.characters for c in chunks) == sum(map(len, pieces))
    path = run.paths["story"]
    assert path == tmp_path / "out" / "story.wav"
    info = sf.info(str(path))
    chunk_seconds = sum(
        sf.info(str(c.path)).frames / sf.info(str(c.path)).samplerate for c in chunks if c.path
    )
    assert info.frames / info.samplerate == pytest.approx(chunk_seconds, abs=1e-9)
    assert run.texts[0].duration == pytest.approx(chunk_seconds, abs=1e-6)
    assert all(c.ttfb is not None and 0 < c.ttfb <= 30 for c in chunks)
    # a rerun sends nothing: the server sees no request
    again = local(server, [text], tmp_path, ids=["story"], encoding="linear16")
    assert speak_requests(server) - before == 3
    assert again.texts[0].status == "stored" and again.paths["story"].read_bytes() == path.read_bytes()


def test_mp3_chunks_join_into_a_file_that_plays_to_the_end(server: LocalServer, tmp_path: Path) -> None:
    text = sentences(2300)
    run = local(server, [text], tmp_path)
    assert [c.status for c in run.chunks] == ["spoken", "spoken"] and run.paths["0"].suffix == ".mp3"
    fmt = speak_format({})
    assert run.texts[0].duration == pytest.approx(sum(c.duration or 0 for c in run.chunks), abs=1e-6)
    decoded, rate = sf.read(str(run.paths["0"]))
    assert len(decoded) / rate == pytest.approx(run.texts[0].duration, abs=0.2)
    assert duration(run.paths["0"].read_bytes(), fmt) == run.texts[0].duration


def test_a_2001_character_sentence_without_punctuation_is_cut_at_a_word(
    server: LocalServer, tmp_path: Path
) -> None:
    words = ("speech " * 300)[:2001]
    assert len(words) == 2001 and not re.search(r"[.,;:!?]", words)
    before = speak_requests(server)
    run = local(server, [words], tmp_path, encoding="linear16", sample_rate=16000)
    assert speak_requests(server) - before == 2
    first, second = (c for c in run.chunks)
    pieces = split_text(words)
    assert pieces[0].endswith("speech") and " ".join(pieces) == words
    assert (first.characters, second.characters) == tuple(map(len, pieces))
    assert run.texts[0].status == "spoken"


def test_a_402_stops_the_batch_and_the_rerun_finishes_it(espeak: None, tmp_path: Path) -> None:
    texts = ["One.", "Two.", "Three."]
    with LocalServer(api_keys=[KEY], faults=Faults(payment_after=1)) as broke:
        run = local(broke, texts, tmp_path, concurrency=1, retry=FAST)
        assert speak_requests(broke) == 2
    assert [t.status for t in run.texts] == ["spoken", "failed", "not sent"]
    assert run.failures["status"].tolist() == ["402", "not sent"] and "402" in (run.stopped or "")
    with LocalServer(api_keys=[KEY]) as paid:
        again = local(paid, texts, tmp_path)
        assert speak_requests(paid) == 2
    assert [t.status for t in again.texts] == ["stored", "spoken", "spoken"]


def test_offline_the_local_voice_speaks_without_a_key(espeak: None, tmp_path: Path) -> None:
    run = speak("Hello from the local voice.", store=tmp_path / "store", out=tmp_path / "out", progress=False,
                encoding="linear16")  # fmt: skip
    assert run.engine == "local" and "local voice" in run.engine_reason
    assert run.texts[0].status == "spoken" and run.paths["0"].stat().st_size > 1000
    assert run.plan is not None and run.plan.estimate.dollars == 0.0 and run.tables.speech["cost"].sum() == 0
    deepgram = speak("Hello from the local voice.", store=tmp_path / "store", out=tmp_path / "out",
                     api_key=KEY, transport=FakeSpeak().transport(), progress=False, encoding="linear16")  # fmt: skip
    assert deepgram.texts[0].status == "spoken"  # the local voice's audio never passes for Deepgram's


# --------------------------------------------------------------------------- two runs at once on one store

RUN_CHILD = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {repo!r})
    from dgtools.speech import speak

    texts, store, out, url = json.loads(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()  # go
    run = speak(texts, store=store, out=out, base_url=url, encoding="linear16", progress=False,
                concurrency=int(sys.argv[2]))
    print(json.dumps({{"chunks": [[c.key, c.status] for c in run.chunks],
                      "ok": [t.ok for t in run.texts], "paths": {{k: str(p) for k, p in run.paths.items()}}}}),
          flush=True)
    """
)


class SpeakChild:
    """``dgtools.speak`` in a process of its own (the key in its environment), started when told to go."""

    def __init__(self, server: LocalServer, texts: list[str], store: Path, out: Path, concurrency: int = 15):
        code = RUN_CHILD.format(repo=str(Path(__file__).resolve().parents[1]))
        env = {**os.environ, "DEEPGRAM_API_KEY": KEY}
        args = json.dumps([texts, str(store), str(out), server.url])
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, args, str(concurrency)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stdin is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self) -> dict[str, Any]:
        out, _ = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, out
        return dict(json.loads(out.strip().splitlines()[-1]))

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no finally, no atexit; the kernel drops its locks
        self.proc.wait(30)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture(scope="module")
def slow(espeak: None) -> Iterator[LocalServer]:
    """The local server, each /v1/speak answer 0.3 s late: runs at once overlap."""
    with LocalServer(api_keys=[KEY], faults=Faults(latency=0.3)) as s:
        yield s


def spoken_so_far(server: LocalServer) -> tuple[int, int]:
    stats = server.stats()["speak"]
    return int(stats["requests"]), int(stats["characters"])


@pytest.mark.parametrize("how", ["threads", "processes"])
def test_two_runs_at_once_on_one_store_send_every_chunk_once_and_both_get_every_file(
    slow: LocalServer, tmp_path: Path, how: str
) -> None:
    texts = [f"Run together, text number {i}." for i in range(6)] + [sentences(2300)]
    chunks = [piece for text in texts for piece in split_text(text)]
    assert len(chunks) == 8
    store = tmp_path / "store"
    before = spoken_so_far(slow)
    results: list[tuple[list[list[str]], list[bool], dict[str, str]]] = []
    if how == "threads":
        gate = threading.Barrier(2)
        runs: dict[int, SpeechRun] = {}

        def one(i: int) -> None:
            gate.wait()
            runs[i] = local(slow, texts, tmp_path, store=store, out=tmp_path / f"out{i}", encoding="linear16")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for run in (runs[0], runs[1]):
            chunk_rows = [[c.key, c.status] for c in run.chunks]
            results.append((chunk_rows, [t.ok for t in run.texts], {k: str(p) for k, p in run.paths.items()}))
    else:
        children = [SpeakChild(slow, texts, store, tmp_path / f"out{i}") for i in range(2)]
        for child in children:
            child.go()
        for child in children:
            r = child.result()
            results.append((r["chunks"], r["ok"], r["paths"]))
    requests, characters = spoken_so_far(slow)
    assert requests - before[0] == 8  # every chunk once, whichever run sent it
    assert characters - before[1] == sum(map(len, chunks))
    (a_rows, a_ok, a_paths), (b_rows, b_ok, b_paths) = results
    assert all(a_ok) and all(b_ok) and len(a_paths) == len(b_paths) == len(texts)
    assert [k for k, _ in a_rows] == [k for k, _ in b_rows] and len({k for k, _ in a_rows}) == 8
    for (_, a), (_, b) in zip(a_rows, b_rows, strict=True):
        assert sorted([a, b]) == ["spoken", "stored"]  # spoken by one run; the other used its audio
    for text_id, path in a_paths.items():
        assert Path(path).read_bytes() == Path(b_paths[text_id]).read_bytes()
    assert not list((store / "speech" / "claims" / "runs").iterdir())  # both runs let go of everything


@posix_only
def test_a_killed_run_leaves_its_claims_to_the_next_run_which_pays_only_for_what_is_missing(
    slow: LocalServer, tmp_path: Path
) -> None:
    texts = [f"Killed run, text number {i}." for i in range(16)]
    store = tmp_path / "store"
    audio = store / "speech"
    before = spoken_so_far(slow)[0]
    child = SpeakChild(slow, texts, store, tmp_path / "out", concurrency=2)
    child.go()
    deadline = time.monotonic() + 60
    while len(list(audio.glob("*/*.wav"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    child.kill()
    time.sleep(0.5)  # a request it had written but the server had not read yet is counted
    stored = len(list(audio.glob("*/*.wav")))
    sent_by_killed = spoken_so_far(slow)[0] - before
    assert 3 <= stored < len(texts) and stored <= sent_by_killed <= stored + 2  # 2 in flight: paid, lost
    (keys,) = (audio / "claims" / "runs").glob("*.keys")  # its claims: every chunk it was to send
    assert len([line for line in keys.read_text().splitlines() if line.startswith("+")]) == len(texts)
    run = local(slow, texts, tmp_path, store=store, encoding="linear16")
    assert run.plan is not None and run.plan.stored == stored and run.plan.to_send == len(texts) - stored
    assert (
        spoken_so_far(slow)[0] - before - sent_by_killed == len(texts) - stored
    )  # nothing stored is paid again
    assert [c.status for c in run.chunks].count("spoken") == len(texts) - stored
    assert all(t.ok for t in run.texts) and len(run.paths) == len(texts)
    assert not list((audio / "claims" / "runs").iterdir())  # the killed run's claims are gone, and its own


# --------------------------------------------------------------------------- dgtools speak

PYTHON_SYNTAX = ("=(", "api_key=", "base_url=", "budget=", "encoding=", "sample_rate=", "engine='", "ids=",
                 "out=", "None (", "speak(")  # fmt: skip


def test_cli_one_text_to_one_file(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    target = tmp_path / "greetings" / "hello there.wav"
    argv = ["speak", "Hello there. How are you?", "--out", str(target), "--store", str(tmp_path / "st"),
            "--base-url", server.url, "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("engine auto: Deepgram, because a server was named (--base-url)")
    assert lines[1] == "plan: 1 text(s) in 1 request(s): 1 to send"
    assert lines[2].startswith("estimate: 1 request(s), 25 characters with aura-asteria-en: $0.0004")
    assert lines[3].startswith("spoke 1 text(s): 1 spoken; 1 request(s) sent, 25 characters, $0.0004;")
    assert lines[4] == f"wrote {target}"
    assert sf.info(str(target)).format == "WAV" and list(target.parent.iterdir()) == [target]
    assert main(argv) == 0  # again: nothing sent
    assert "0 to send, 1 already stored; nothing to pay" in capsys.readouterr().out
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]


def test_cli_texts_from_a_csv(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    csv = tmp_path / "texts.csv"
    csv.write_text('id,text\n007,"Hello, world."\nempty,\nlong,"' + sentences(2200) + '"\n')
    argv = ["speak", "--from", str(csv), "--column", "text", "--id-column", "id", "--out", str(tmp_path / "out"),
            "--store", str(tmp_path / "st"), "--base-url", server.url, "--encoding", "linear16", "--yes"]  # fmt: skip
    assert main(argv) == 1  # the empty row failed
    out = capsys.readouterr().out
    assert out.splitlines()[1] == "plan: 3 text(s) in 3 request(s): 3 to send, 1 text(s) skipped"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["007.wav", "long.wav"]
    assert "1 text(s) or chunk(s) failed:\n  empty: skipped\n    why: an empty text" in out
    assert not any(s in out for s in PYTHON_SYNTAX)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["speak", "hi", "--sample-rate", "24000"], "--sample-rate 24000: --encoding mp3 takes only 22050 (fixed)"),
        (["speak", "hi", "--model", "aura-2-thalai-en"], "--model aura-2-thalai-en is not an Aura voice"),
        (["speak", "hi", "--out", "x.wav", "--encoding", "mp3"], "--out x.wav ends in .wav, but --encoding mp3"),
        (["speak"], "give either TEXT or --from CSV"),
        (["speak", "hi", "--from", "t.csv"], "give either TEXT or --from CSV"),
        (["speak", "--from", "nope.csv"], "--from nope.csv: no such file"),
        (["speak", "hi", "--budget", "0", "--engine", "deepgram", "--base-url", "http://127.0.0.1:9"],
         "is above --budget 0.0; nothing was sent. Raise --budget"),
        (["speak", "hi", "--speed", "2"], "--speed 2.0: Deepgram takes 0.7 to 1.5"),
    ],
)  # fmt: skip
def test_cli_errors_are_one_line_in_cli_syntax(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    assert main([*argv, "--store", str(tmp_path / "st")]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("dgtools: error: ") and "\n" not in err and message in err
    assert not any(s in err for s in PYTHON_SYNTAX) and "Traceback" not in err
    assert not (tmp_path / "st" / "speech").exists()


def test_cli_a_csv_column_that_is_not_there_gets_a_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("id,text\n1,hi\n")
    assert main(["speak", "--from", str(csv), "--column", "txt"]) == 1
    err = capsys.readouterr().err
    assert "--column 'txt': " in err and "did you mean 'text'?" in err and "Its columns: id, text" in err


def test_speak_syntax() -> None:
    assert (
        speak_syntax("bit_rate=64000: mp3 takes 32000 or 48000 (bits/s)")
        == "--bit-rate 64000: mp3 takes 32000 or 48000 (bits/s)"
    )
    assert (
        speak_syntax("container='ogg' does not go with encoding=mp3")
        == "--container ogg does not go with --encoding mp3"
    )
    assert speak_syntax("GET /v1/speak?encoding=mp3") == "GET /v1/speak?encoding=mp3"
