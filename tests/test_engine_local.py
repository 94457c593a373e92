"""The local pocketsphinx engine on the sample audio in data/audio (references in data/references).

Each request below is decoded once per module, concurrently through the
engine's async server interface, so the module stays fast.  pocketsphinx is
weak on synthetic speech: word error rates are reported and only bounded
loosely, as a sanity check.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import dgtools
from dgtools.engines.base import make_engine
from dgtools.engines.local import AudioDecodeError, LocalEngine, LocalSender, decode_many, model_info
from dgtools.exceptions import EngineError
from dgtools.options import ListenOptions

REPO = Path(__file__).resolve().parents[1]
AUDIO = REPO / "data" / "audio"
REFERENCES = REPO / "data" / "references"
QUERIES = ["thank you", "dollars", "refund", "xyzzyq"]

REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "one": (
        "one_speaker",
        {
            "punctuate": True,
            "paragraphs": True,
            "utterances": True,
            "alternatives": 2,
            "search": QUERIES,
            "tag": ["local-test"],
            "extra": {"run": "t1"},
        },
    ),
    "two": ("two_voices", {"punctuate": True, "utterances": True, "diarize": True}),
    "multi": ("stereo_call", {"multichannel": True, "utterances": True, "punctuate": True}),
    "diarized": ("stereo_call", {"diarize": True, "utterances": True, "paragraphs": True, "punctuate": True}),
    "silence": ("silence", {"punctuate": True, "paragraphs": True, "utterances": True, "search": ["hello"]}),
}


@pytest.fixture(scope="module")
def engine() -> Any:
    with LocalEngine(max_decoders=2) as e:
        yield e


@pytest.fixture(scope="module")
def responses(engine: LocalEngine) -> dict[str, dict[str, Any]]:
    async def run_all() -> list[dict[str, Any]]:
        return await asyncio.gather(
            *(
                engine.transcribe(
                    audio=(AUDIO / f"{name}.wav").read_bytes(),
                    url=None,
                    options=ListenOptions(opts),
                    request_id=f"req-{key}",
                    sha256=None,
                )
                for key, (name, opts) in REQUESTS.items()
            )
        )

    return dict(zip(REQUESTS, asyncio.run(run_all()), strict=True))


def words_of(response: dict[str, Any], channel: int = 0, alternative: int = 0) -> list[dict[str, Any]]:
    words: list[dict[str, Any]] = response["results"]["channels"][channel]["alternatives"][alternative][
        "words"
    ]
    return words


def read_rttm(name: str) -> list[tuple[int, float, float, str]]:
    """(channel index, start, end, speaker) per reference turn."""
    out = []
    for line in (REFERENCES / f"{name}.rttm").read_text().splitlines():
        f = line.split()
        out.append((int(f[2]) - 1, float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return out


def normalise(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level edit distance over the reference length."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        prev, row[0] = row[:], i
        for j in range(1, len(hyp) + 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ref[i - 1] != hyp[j - 1]))
    return row[-1] / max(1, len(ref))


# --------------------------------------------------------------------------- shape


@pytest.mark.parametrize("key", list(REQUESTS))
def test_response_flows_through_to_tables(responses: dict[str, dict[str, Any]], key: str) -> None:
    response = responses[key]
    # JSON-serialisable, like a real response
    response = json.loads(json.dumps(response))
    tables = dgtools.to_tables(response, file_id=key)
    assert len(tables.requests) == 1
    row = tables.requests.iloc[0]
    uid, info = model_info()
    assert row["request_id"] == f"req-{key}"
    assert row["model_uuid"] == uid and row["model_name"] == info["name"] == "pocketsphinx-en-us"
    assert row["sha256"] == hashlib.sha256((AUDIO / f"{REQUESTS[key][0]}.wav").read_bytes()).hexdigest()
    n_words = sum(len(a["words"]) for c in response["results"]["channels"] for a in c["alternatives"])
    assert len(tables.words) == n_words


@pytest.mark.parametrize("key", list(REQUESTS))
def test_word_times_are_ordered_inside_the_audio_and_confidences_are_probabilities(
    responses: dict[str, dict[str, Any]], key: str
) -> None:
    response = responses[key]
    duration = response["metadata"]["duration"]
    for channel in response["results"]["channels"]:
        for alt in channel["alternatives"]:
            assert 0.0 <= alt["confidence"] <= 1.0
            words = alt["words"]
            for w in words:
                assert 0.0 <= w["start"] <= w["end"] <= duration + 1e-6
                assert 0.0 <= w["confidence"] <= 1.0
                assert 0.0 <= w.get("speaker_confidence", 0.0) <= 1.0
                assert w["word"] == w["word"].lower() and not w["word"].startswith(("<", "[", "+"))
            starts = [w["start"] for w in words]
            assert starts == sorted(starts)
    for u in response["results"].get("utterances", []):
        assert 0.0 <= u["start"] <= u["end"] <= duration + 1e-6


def test_metadata_echoes_tags_and_extra_and_warns_only_about_what_it_cannot_do(
    responses: dict[str, dict[str, Any]],
) -> None:
    meta = responses["one"]["metadata"]
    assert meta["tags"] == ["local-test"] and meta["extra"] == {"run": "t1"}
    assert meta["channels"] == 1 and math.isclose(meta["duration"], 12.663125)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", meta["created"])
    # every other option of the request is honoured; only the out-of-dictionary search term is reported
    [note] = meta["warnings"]
    assert note["parameter"] == "search" and "xyzzyq" in note["message"]
    assert "warnings" not in responses["multi"]["metadata"]


# --------------------------------------------------------------------------- transcripts


def test_one_speaker_word_error_rate_is_sane(responses: dict[str, dict[str, Any]]) -> None:
    reference = (REFERENCES / "one_speaker.txt").read_text()
    transcript = responses["one"]["results"]["channels"][0]["alternatives"][0]["transcript"]
    rate = wer(reference, transcript)
    print(f"WER one_speaker: {rate:.2f}")
    assert rate < 0.8


def test_punctuation_paragraphs_and_utterances(responses: dict[str, dict[str, Any]]) -> None:
    response = responses["one"]
    alt = response["results"]["channels"][0]["alternatives"][0]
    assert alt["transcript"][0].isupper() and alt["transcript"].endswith(".")
    assert all("punctuated_word" in w for w in alt["words"])
    paragraphs = alt["paragraphs"]["paragraphs"]
    assert sum(p["num_words"] for p in paragraphs) == len(alt["words"])
    sentences = [s["text"] for p in paragraphs for s in p["sentences"]]
    assert len(sentences) >= 2 and all(s[0].isupper() and s.endswith(".") for s in sentences)
    assert " ".join(sentences) == alt["transcript"]
    utterances = response["results"]["utterances"]
    assert [w for u in utterances for w in u["words"]] == alt["words"]
    assert len({u["id"] for u in utterances}) == len(utterances)


def test_utterances_split_at_pauses_longer_than_utt_split(responses: dict[str, dict[str, Any]]) -> None:
    # two_voices has six turns 0.9 s apart: more than the default utt_split of 0.8 s
    utterances = responses["two"]["results"]["utterances"]
    assert len(utterances) >= 5
    for a, b in itertools.pairwise(utterances):
        assert b["start"] - a["end"] > 0.8 or a["channel"] != b["channel"]


def test_silence_gives_an_empty_transcript(responses: dict[str, dict[str, Any]]) -> None:
    response = responses["silence"]
    channel = response["results"]["channels"][0]
    assert channel["alternatives"] == [
        {"transcript": "", "confidence": 0.0, "words": [], "paragraphs": {"transcript": "", "paragraphs": []}}
    ]
    assert channel["search"] == [{"query": "hello", "hits": []}]
    assert response["results"]["utterances"] == []
    tables = dgtools.to_tables(response, file_id="silence")
    assert (
        len(tables.requests) == 1
        and len(tables.words) == 0
        and math.isclose(tables.requests["duration"][0], 3.0)
    )


# --------------------------------------------------------------------------- channels and speakers


def test_multichannel_decodes_each_channel_on_its_own(responses: dict[str, dict[str, Any]]) -> None:
    response = responses["multi"]
    assert response["metadata"]["channels"] == 2
    assert len(response["results"]["channels"]) == 2
    turns = read_rttm("stereo_call")
    for channel in (0, 1):
        words = words_of(response, channel)
        assert words, f"channel {channel} has no words"
        own = [(a, b) for c, a, b, _ in turns if c == channel]
        inside = [w for w in words if any(a - 0.3 <= (w["start"] + w["end"]) / 2 <= b + 0.3 for a, b in own)]
        assert len(inside) == len(words)
    assert {u["channel"] for u in response["results"]["utterances"]} == {0, 1}
    tables = dgtools.to_tables(response, file_id="multi")
    assert sorted(tables.channels["channel"].tolist()) == [0, 1]


def test_diarize_on_stereo_gives_the_reference_speakers(responses: dict[str, dict[str, Any]]) -> None:
    response = responses["diarized"]
    assert "warnings" not in response["metadata"]
    assert response["metadata"]["channels"] == 1
    words = words_of(response)
    assert {w["speaker"] for w in words} == {0, 1}
    turns = read_rttm("stereo_call")  # agent on channel 1 (index 0) = speaker 0
    agree = 0
    for w in words:
        mid = (w["start"] + w["end"]) / 2
        expected = next((c for c, a, b, _ in turns if a - 0.3 <= mid <= b + 0.3), None)
        agree += w["speaker"] == expected
        assert 0.5 <= w["speaker_confidence"] <= 1.0
    assert agree / len(words) >= 0.9
    utterances = response["results"]["utterances"]
    assert [u["speaker"] for u in utterances] == [0, 1, 0, 1, 0, 1]
    paragraphs = response["results"]["channels"][0]["alternatives"][0]["paragraphs"]
    assert paragraphs["transcript"].startswith("\nSpeaker 0: ")
    tables = dgtools.to_tables(response, file_id="diarized")
    assert sorted(tables.words["speaker"].unique().tolist()) == [0, 1]


def test_diarize_on_mono_is_reported_not_dropped(responses: dict[str, dict[str, Any]]) -> None:
    response = responses["two"]
    assert [w["parameter"] for w in response["metadata"]["warnings"]] == ["diarize"]
    assert all("speaker" not in w for w in words_of(response))


# --------------------------------------------------------------------------- alternatives and search


def test_alternatives_come_from_the_n_best_list(responses: dict[str, dict[str, Any]]) -> None:
    alts = responses["one"]["results"]["channels"][0]["alternatives"]
    assert len(alts) == 2
    assert alts[0]["transcript"] != alts[1]["transcript"]
    assert all(a["words"] and "paragraphs" in a for a in alts)
    tables = dgtools.to_tables(responses["one"], file_id="one")
    assert tables.alternatives["alternative"].tolist() == [0, 1]


def test_search_gives_one_entry_per_query(responses: dict[str, dict[str, Any]]) -> None:
    response = responses["one"]
    search = response["results"]["channels"][0]["search"]
    assert [s["query"] for s in search] == QUERIES
    by_query = {s["query"]: s["hits"] for s in search}
    assert by_query["xyzzyq"] == []  # not in the dictionary
    found = by_query["dollars"]
    assert found and found[0]["snippet"] == "dollars" and found[0]["confidence"] > 0.5
    assert abs(found[0]["start"] - 11.6) < 1.0  # "dollars" ends the last sentence
    for hits in by_query.values():
        confidences = [h["confidence"] for h in hits]
        assert confidences == sorted(confidences, reverse=True)
        assert all(0.0 <= c <= 1.0 for c in confidences)
    # the search_hits table: a row per hit, and one row with null hit columns for a query without hits
    hits = dgtools.to_tables(response, file_id="one").search_hits
    assert sorted(hits["query"].unique().tolist()) == sorted(QUERIES)
    assert len(hits) == sum(max(1, len(h)) for h in by_query.values())


# --------------------------------------------------------------------------- options reported


def test_unsupported_options_become_metadata_warnings(engine: LocalEngine) -> None:
    opts = {
        "summarize": "v2",
        "topics": True,
        "intents": True,
        "sentiment": True,
        "detect_entities": True,
        "detect_language": True,
        "language": "es",
        "keyterm": ["dgtools"],
        "redact": ["pci"],
        "diarize": True,
        "numerals": False,  # off: nothing to report
    }
    response = engine.transcribe_path(AUDIO / "silence.wav", opts)
    warnings = response["metadata"]["warnings"]
    assert {w["parameter"] for w in warnings} == set(opts) - {"numerals"}
    for w in warnings:
        assert w["type"] == "unsupported_option"
        assert w["parameter"] in w["message"]
    tables = dgtools.to_tables(response, file_id="w")
    assert len(tables.requests["warnings"][0]) == len(warnings)


def test_options_may_be_query_pairs(engine: LocalEngine) -> None:
    response = engine.transcribe_path(
        AUDIO / "silence.wav", [("tag", "a"), ("tag", "b"), ("punctuate", "true")]
    )
    assert response["metadata"]["tags"] == ["a", "b"]


# --------------------------------------------------------------------------- errors and inputs


def test_corrupt_file_raises_a_clear_error(engine: LocalEngine, tmp_path: Path) -> None:
    bad = tmp_path / "calls" / "broken.wav"
    bad.parent.mkdir()
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage that is not audio")
    with pytest.raises(AudioDecodeError, match=r"broken\.wav") as info:
        engine.transcribe_path(bad, {})
    assert isinstance(info.value, dgtools.DGToolsError) and isinstance(info.value, ValueError)
    assert info.value.path == str(bad)
    with pytest.raises(dgtools.ConfigError, match=r"missing\.wav"):
        engine.transcribe_path(tmp_path / "missing.wav", {})


def test_server_interface_maps_errors_to_deepgram_400s(engine: LocalEngine) -> None:
    async def call(**kw: Any) -> dict[str, Any]:
        return await engine.transcribe(options=ListenOptions(), request_id="r", sha256=None, **kw)

    with pytest.raises(EngineError) as info:
        asyncio.run(call(audio=b"\x00\x01 not audio", url=None))
    assert info.value.status_code == 400
    assert info.value.err_msg.startswith("Bad Request: failed to process audio: corrupt or unsupported data")
    with pytest.raises(EngineError) as info:
        asyncio.run(call(audio=None, url="https://example.com/a.wav"))
    assert info.value.err_code == "REMOTE_CONTENT_ERROR"


def test_headerless_linear16_needs_encoding_and_sample_rate(engine: LocalEngine) -> None:
    import soundfile as sf

    samples, rate = sf.read(AUDIO / "silence.wav", dtype="int16")
    raw = samples[: rate // 2].tobytes()  # 0.5 s at 16 kHz
    response = engine.transcribe_bytes(raw, {"encoding": "linear16", "sample_rate": 8000}, name="raw.pcm")
    assert math.isclose(response["metadata"]["duration"], 1.0)  # 8000 samples at 8 kHz
    with pytest.raises(AudioDecodeError, match=r"raw\.pcm"):
        engine.transcribe_bytes(raw, {}, name="raw.pcm")


def test_registered_as_the_local_engine() -> None:
    engine = make_engine("local", max_decoders=1)
    assert isinstance(engine, LocalEngine)


def test_importing_the_engines_loads_no_heavy_dependency_and_not_the_server() -> None:
    code = (
        "import json, sys\nimport dgtools.engines.local, dgtools.engines.synthetic, dgtools.engines.replay\n"
        "from dgtools.engines import ENGINES, LocalEngine, SyntheticEngine, make_engine\n"
        "from dgtools.engines.local import LocalSender\n"
        "LocalSender(2); make_engine('local'); make_engine('synthetic')\n"
        "heavy = ('pocketsphinx', 'librosa', 'soundfile', 'starlette', 'uvicorn', 'dgtools.server')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert json.loads(out.stdout) == []


def test_the_engines_package_exports_its_public_names() -> None:
    import dgtools.engines
    from dgtools.engines.replay import ReplayEngine
    from dgtools.engines.synthetic import SyntheticEngine

    assert dgtools.engines.__all__ == sorted(dgtools.engines.__all__)
    assert dgtools.engines.LocalEngine is LocalEngine and dgtools.engines.decode_many is decode_many
    assert dgtools.engines.SyntheticEngine is SyntheticEngine and dgtools.engines.ReplayEngine is ReplayEngine
    assert dgtools.engines.EngineError is dgtools.EngineError is EngineError
    assert dgtools.engines.AudioDecodeError is dgtools.AudioDecodeError is AudioDecodeError
    assert dgtools.engines.make_engine is make_engine
    for name, target in dgtools.engines.ENGINES.items():
        module, _, attr = target.partition(":")
        assert getattr(__import__(module, fromlist=[attr]), attr).__name__.lower().startswith(name)


# --------------------------------------------------------------------------- many files


def test_decode_many_in_processes_keeps_order_and_returns_failures(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    paths = [AUDIO / "silence.wav", bad, AUDIO / "silence.wav"]
    out = list(decode_many(paths, {"punctuate": True}, workers=2))
    assert [d.path for d in out] == paths
    assert isinstance(out[1].result, AudioDecodeError) and "bad.wav" in str(out[1].result)
    for d in (out[0], out[2]):
        assert (
            isinstance(d.result, dict)
            and d.result["results"]["channels"][0]["alternatives"][0]["words"] == []
        )
        assert d.audio_seconds == 3.0 and d.seconds > 0 and d.rtf is not None
    assert out[1].rtf is None
    serial = list(decode_many(paths[:1], {}, workers=1))
    assert isinstance(serial[0].result, dict)


def test_diarize_on_identical_channels_is_reported(engine: LocalEngine) -> None:
    import io

    import numpy as np
    import soundfile as sf

    mono, rate = sf.read(AUDIO / "silence.wav", dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, np.stack([mono, mono], axis=1), rate, format="WAV")
    response = engine.transcribe_bytes(buf.getvalue(), {"diarize": True})
    [note] = response["metadata"]["warnings"]
    assert note["parameter"] == "diarize" and "identical" in note["message"]


# --------------------------------------------------------------------------- the batch's sender


@pytest.fixture(scope="module")
def sender_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One LocalSender (two worker processes) answering good, broken, missing and URL inputs."""
    tmp = tmp_path_factory.mktemp("sender")
    broken = tmp / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")

    async def outcome(call: Any) -> Any:
        try:
            return await call
        except Exception as exc:
            return exc

    async def main() -> dict[str, Any]:
        sender = LocalSender(2)
        out: dict[str, Any] = {"rtf_before": sender.realtime_factor, "credentials": sender.credentials}
        opts = ListenOptions({"punctuate": True, "tag": ["sender"]})
        out["silence"], out["broken"], out["missing"], out["url"] = await asyncio.gather(
            outcome(sender.transcribe_file(AUDIO / "silence.wav", opts, content_type="audio/wav")),
            outcome(sender.transcribe_file(broken, opts, source="calls/broken.wav")),
            outcome(sender.transcribe_file(tmp / "missing.wav", opts, source="calls/missing.wav")),
            outcome(sender.transcribe_url("https://example.com/a.wav", opts, source="a")),
        )
        out["rtf_after_silence"] = sender.realtime_factor
        out["two_voices"] = await sender.transcribe_file(str(AUDIO / "two_voices.wav"), opts)
        out["rtf"] = sender.realtime_factor
        order: list[str] = []

        async def close() -> None:
            await sender.aclose()
            order.append("closed")

        async def other() -> None:
            order.append("the loop ran")

        await asyncio.gather(close(), other())
        out["close_order"] = order
        out["after_close"] = await outcome(
            sender.transcribe_file(AUDIO / "silence.wav", opts, source="late.wav")
        )
        return out

    return asyncio.run(main())


def test_local_sender_answers_the_json_deepgram_would_send(sender_outcomes: dict[str, Any]) -> None:
    from dgtools.api import ListenResult

    for key in ("silence", "two_voices"):
        result = sender_outcomes[key]
        assert isinstance(result, ListenResult)
        response = json.loads(result.body)
        assert result.request_id == response["metadata"]["request_id"]
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", result.request_id
        )
        assert response["metadata"]["tags"] == ["sender"]
        assert dgtools.to_tables(response, file_id=key).requests.model_arch.tolist() == ["pocketsphinx"]
    assert json.loads(sender_outcomes["two_voices"].body)["results"]["channels"][0]["alternatives"][0][
        "words"
    ]
    assert sender_outcomes["credentials"] is None


def test_local_sender_realtime_factor_counts_decoded_audio(sender_outcomes: dict[str, Any]) -> None:
    assert sender_outcomes["rtf_before"] is None
    assert sender_outcomes["rtf_after_silence"] > 0  # silence is audio: 3 s of it, decoded
    assert sender_outcomes["rtf"] > 0


def test_local_sender_raises_the_engines_errors_naming_the_source(sender_outcomes: dict[str, Any]) -> None:
    broken = sender_outcomes["broken"]
    assert isinstance(broken, AudioDecodeError) and broken.path == "calls/broken.wav"
    assert "calls/broken.wav" in str(broken)
    missing = sender_outcomes["missing"]
    assert isinstance(missing, dgtools.ConfigError) and "calls/missing.wav" in str(missing)
    url = sender_outcomes["url"]
    assert isinstance(url, dgtools.ConfigError)
    assert (
        str(url) == "https://example.com/a.wav: the local engine does not fetch URLs; download the file first"
    )


def test_local_sender_closes_without_blocking_the_event_loop(sender_outcomes: dict[str, Any]) -> None:
    assert sender_outcomes["close_order"] == ["the loop ran", "closed"]
    late = sender_outcomes["after_close"]
    assert type(late) is dgtools.DGToolsError
    assert str(late).startswith("late.wav: the local engine failed (RuntimeError: ")


def test_local_sender_reports_a_broken_worker_as_a_failure_of_each_file() -> None:
    async def main() -> list[BaseException]:
        async with LocalSender(1, decoder_config={"no_such_setting": 1}) as sender:  # the worker cannot start
            out: list[BaseException] = []
            for source in ("a.wav", "b.wav"):
                with pytest.raises(dgtools.DGToolsError) as info:
                    await sender.transcribe_file(AUDIO / "silence.wav", ListenOptions(), source=source)
                out.append(info.value)
            assert sender.realtime_factor is None
            return out

    first, second = asyncio.run(main())
    assert type(first) is type(second) is dgtools.DGToolsError
    assert str(first).startswith("a.wav: the local engine failed (BrokenProcessPool: ")
    assert str(second).startswith("b.wav: the local engine failed (BrokenProcessPool: ")


def test_local_sender_needs_a_positive_worker_count() -> None:
    with pytest.raises(dgtools.ConfigError, match="workers"):
        LocalSender(0)


def test_a_cancelled_decode_is_stopped_not_waited_for() -> None:
    """SIGTERM during a local run waited a silent 24 s for decodes nobody wanted any more."""
    import asyncio

    from dgtools.engines.local.pool import DecodePool

    async def go() -> tuple[int, int]:
        pool = DecodePool(1)
        task = asyncio.ensure_future(pool.decode(str(AUDIO / "two_voices.wav"), ListenOptions()))
        await asyncio.sleep(0.2)  # the worker starts and begins decoding
        task.cancel()  # the run is cancelled while the file decodes
        with pytest.raises(asyncio.CancelledError):
            await task
        running = pool.abandoned
        pool.shutdown(wait=True)
        return running, pool.stopped

    running, stopped = asyncio.run(go())
    assert running == 1 and stopped == 1  # the decode nobody waited for was stopped, not waited for
