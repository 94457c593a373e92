"""Tests of Aura text-to-speech offline: the options (:mod:`dgtools.options.speak`), the espeak-ng voice
(:mod:`dgtools.engines.voice`) and the local server's ``POST /v1/speak`` and WebSocket ``/v1/speak``
(:mod:`dgtools.server.speak`), with httpx, the websockets client and the official SDK.

The voice tests need the espeak-ng program; without it they skip (fail under ``DGTOOLS_REQUIRE=voice``).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import SPECS, fixture_path, missing
from dgtools.engines.pcm import load_audio
from dgtools.engines.voice import Voice, encode, speak, synthesize, voice_for
from dgtools.exceptions import ConfigError, EngineError
from dgtools.options.speak import (
    FORMATS,
    MAX_CHARACTERS,
    SPEAK_ENCODINGS,
    SPEAK_MODELS,
    STREAM_ENCODINGS,
    parse_speak_query,
    speak_bit_rate,
    speak_format,
    speak_query,
    speak_stream_query,
)
from dgtools.server import Faults, LocalServer
from dgtools.server.speak import FLUSH_LIMIT, model_uuid

KEY = "speak-key-4b1d"
TOKEN = "speak-jwt-9e2a"
AUTH = {"Authorization": f"Token {KEY}"}
HANG = 30  # seconds: a guard against a hung test, never a limit on how fast anything must be
HELLO = "Hello, how can I help you today?"


@pytest.fixture(scope="module")
def espeak() -> None:
    """The voice's program; skips without it (fails under ``DGTOOLS_REQUIRE=voice``)."""
    if shutil.which("espeak-ng") is None:
        missing("voice", "espeak-ng is not installed (apt-get install espeak-ng)")


#: For the tests that speak: the options' tests need no espeak-ng.
needs_voice = pytest.mark.usefixtures("espeak")


@pytest.fixture(scope="module")
def server(espeak: None) -> Iterator[LocalServer]:
    with LocalServer(api_keys={KEY}, access_tokens={TOKEN}) as s:
        yield s


def post(
    server: LocalServer, query: str = "", body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/speak" + (f"?{query}" if query else ""),
        json={"text": HELLO} if body is None else body,
        headers=AUTH if headers is None else headers,
        timeout=HANG,
        trust_env=False,
    )


def run(coro: Any) -> Any:
    async def guarded() -> Any:
        async with asyncio.timeout(HANG):
            return await coro

    return asyncio.run(guarded())


def ws_url(server: LocalServer, query: str = "") -> str:
    return server.url.replace("http://", "ws://") + "/v1/speak" + (f"?{query}" if query else "")


def pcm_seconds(samples: np.ndarray[Any, Any], rate: int) -> float:
    return len(samples) / rate


# --------------------------------------------------------------------------- options against the specs


def _spec(name: str) -> dict[str, Any]:
    path = SPECS / name
    if not path.is_file():
        missing("spec", f"Deepgram spec not found at {path}")
    import yaml  # the test extra installs pyyaml

    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc["components"]["schemas"]  # type: ignore[no-any-return]


def test_the_voices_and_encodings_are_the_openapi_specs() -> None:
    schemas = _spec("deepgram-openapi.yml")
    assert tuple(schemas["V1SpeakPostParametersModel"]["enum"]) == SPEAK_MODELS
    encodings = [schemas[f"V1SpeakPostParametersEncoding{i}"]["enum"][0] for i in range(7)]
    assert sorted(SPEAK_ENCODINGS) == sorted(encodings)
    assert tuple(schemas["V1SpeakPostParametersCallbackMethod"]["enum"]) == ("POST", "PUT")


def test_the_format_table_agrees_with_the_openapi_spec() -> None:
    schemas = _spec("deepgram-openapi.yml")
    for name, schema in schemas.items():
        if not name.startswith(("V1SpeakPostParametersSampleRate", "V1SpeakPostParametersContainer")):
            continue
        if not name[-1].isdigit():
            continue
        encoding = schema["description"].split("Encoding - ", 1)[-1].split(".", 1)[0].strip()
        if encoding not in FORMATS:  # Container0: "none", for every encoding of raw samples
            assert schema["enum"] == ["none"]
            continue
        if "SampleRate" in name:
            assert [int(v) for v in schema["enum"]] == list(FORMATS[encoding].sample_rates), name
        else:
            assert schema["enum"][0] == FORMATS[encoding].containers[0], name
    mp3 = schemas["V1SpeakPostParametersBitRate0"]
    assert "mp3" in mp3["description"] and [int(v) for v in mp3["enum"]] == list(FORMATS["mp3"].bit_rates)


def test_the_stream_options_are_the_asyncapi_specs() -> None:
    schemas = _spec("deepgram-asyncapi.yml")
    assert tuple(schemas["SpeakV1Encoding"]["enum"]) == STREAM_ENCODINGS
    assert [int(v) for v in schemas["SpeakV1SampleRate"]["enum"]] == list(FORMATS["linear16"].sample_rates)
    assert speak_format({}, stream=True).sample_rate == int(schemas["SpeakV1SampleRate"]["default"])


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("options", "option", "message"),
    [
        ({"encodng": "mp3"}, "encodng", "did you mean encoding?"),
        ({"model": "aura-2-thalai-en"}, "model", "did you mean aura-2-thalia-en?"),
        ({"model": "nova-3"}, "model", "is not an Aura voice"),
        ({"encoding": "wav"}, "encoding", "takes linear16, mulaw, alaw, mp3, opus, flac, aac"),
        ({"encoding": "mp3", "sample_rate": 24000}, "sample_rate", "takes only 22050 (fixed)"),
        ({"encoding": "mulaw", "sample_rate": 24000}, "sample_rate", "takes 8000, 16000"),
        ({"encoding": "mp3", "container": "wav"}, "container", "takes container=none"),
        ({"encoding": "opus", "container": "none"}, "container", "takes container=ogg"),
        ({"encoding": "linear16", "bit_rate": 48000}, "bit_rate", "only mp3, opus and aac take a bit_rate"),
        ({"bit_rate": 40000}, "bit_rate", "mp3 takes 32000 or 48000"),
        ({"encoding": "opus", "bit_rate": 1000}, "bit_rate", "opus takes 4000 to 650000"),
        ({"encoding": "aac", "bit_rate": 256000}, "bit_rate", "aac takes 4000 to 192000"),
        ({"speed": 2}, "speed", "Deepgram takes 0.7 to 1.5"),
        ({"speed": "fast"}, "speed", "expected a number"),
        ({"sample_rate": 16000.5, "encoding": "linear16"}, "sample_rate", "expected a whole number"),
        ({"mip_opt_out": "yes"}, "mip_opt_out", "expected true or false"),
        ({"callback_method": "PUT"}, "callback_method", "needs callback="),
        ({"callback": "ftp://example.com"}, "callback", "expected an http(s) URL"),
        ({"tag": ""}, "tag", "empty values are rejected"),
    ],
)
def test_speak_query_refuses_what_deepgram_refuses(
    options: dict[str, Any], option: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        speak_query(**options)
    assert info.value.option == option  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "option", "message"),
    [
        ({"encoding": "mp3"}, "encoding", "takes linear16, mulaw, alaw"),
        ({"container": "wav"}, "container", "raw audio only: container=none"),
        ({"bit_rate": 48000}, "bit_rate", "(a REST-only option)"),
        ({"tag": "a"}, "tag", "not an option of the text-to-speech WebSocket"),
    ],
)
def test_the_stream_query_takes_raw_audio_only(options: dict[str, Any], option: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        speak_stream_query(**options)
    assert info.value.option == option  # type: ignore[attr-defined]


def test_options_are_normalised_as_the_query_carries_them() -> None:
    assert speak_query(
        model="aura-2-thalia-en", sample_rate=16000.0, encoding="linear16", mip_opt_out=True
    ) == [
        ("model", "aura-2-thalia-en"),
        ("sample_rate", "16000"),
        ("encoding", "linear16"),
        ("mip_opt_out", "true"),
    ]
    assert speak_query(tag=["a", "b"], speed=0.9, model=None) == [
        ("tag", "a"),
        ("tag", "b"),
        ("speed", "0.9"),
    ]
    pairs = [("encoding", "linear16"), ("sample_rate", "48000.0"), ("mip_opt_out", "True"), ("speed", "1.50")]
    assert parse_speak_query(pairs) == [
        ("encoding", "linear16"),
        ("sample_rate", "48000"),
        ("mip_opt_out", "true"),
        ("speed", "1.5"),
    ]
    with pytest.raises(ConfigError, match="given more than once"):
        parse_speak_query([("model", "aura-zeus-en"), ("model", "aura-luna-en")])


@pytest.mark.parametrize(
    ("options", "stream", "expected", "bit_rate"),
    [
        ({}, False, ("mp3", "none", 22050, "audio/mpeg", ".mp3"), 48000),
        ({"encoding": "linear16"}, False, ("linear16", "wav", 24000, "audio/wav", ".wav"), None),
        (
            {"encoding": "linear16", "container": "none", "sample_rate": 8000},
            False,
            ("linear16", "none", 8000, "application/octet-stream", ".pcm"),
            None,
        ),
        ({"encoding": "mulaw"}, False, ("mulaw", "wav", 8000, "audio/wav", ".wav"), None),
        (
            {"encoding": "alaw", "container": "none"},
            False,
            ("alaw", "none", 8000, "application/octet-stream", ".alaw"),
            None,
        ),
        ({"encoding": "opus"}, False, ("opus", "ogg", 48000, "audio/ogg", ".opus"), 12000),
        (
            {"encoding": "flac", "sample_rate": 16000},
            False,
            ("flac", "none", 16000, "audio/flac", ".flac"),
            None,
        ),
        ({"encoding": "aac", "bit_rate": 64000}, False, ("aac", "none", 22050, "audio/aac", ".aac"), 64000),
        ({}, True, ("linear16", "none", 24000, "application/octet-stream", ".pcm"), None),
        ({"encoding": "mulaw"}, True, ("mulaw", "none", 8000, "application/octet-stream", ".ulaw"), None),
    ],
)
def test_speak_format_fills_in_deepgrams_defaults(
    options: dict[str, Any], stream: bool, expected: tuple[Any, ...], bit_rate: int | None
) -> None:
    assert tuple(speak_format(options, stream=stream)) == expected
    assert speak_format(list(options.items()), stream=stream) == speak_format(options, stream=stream)
    assert speak_bit_rate(options, stream=stream) == bit_rate


# --------------------------------------------------------------------------- the voice


@needs_voice
def test_every_voice_sounds_different_and_keeps_its_language() -> None:
    voices = [voice_for(m) for m in SPEAK_MODELS]
    assert len({(v.language, v.variant, v.pitch) for v in voices}) == len(SPEAK_MODELS)
    assert all(0 <= v.pitch <= 99 for v in voices)
    assert voice_for("aura-2-zeus-en").variant.startswith("m") and voice_for(
        "aura-2-luna-en"
    ).variant.startswith("f")
    assert {voice_for(m).language for m in SPEAK_MODELS} == {"en-us", "es", "de", "nl", "fr-fr", "it", "ja"}
    assert voice_for("aura-2-newvoice-de") == voice_for("aura-2-newvoice-de")  # unknown names too, stably
    assert (
        isinstance(voice_for("aura-2-newvoice-de"), Voice)
        and voice_for("aura-2-newvoice-de").language == "de"
    )


@needs_voice
def test_synthesis_follows_rate_speed_text_and_voice() -> None:
    one = synthesize(HELLO, sample_rate=16000)
    assert one.dtype == np.int16 and 1.0 < pcm_seconds(one, 16000) < 4.0
    at_8k = synthesize(HELLO, sample_rate=8000)
    assert pcm_seconds(at_8k, 8000) == pytest.approx(pcm_seconds(one, 16000), abs=0.01)
    slow = synthesize(HELLO, sample_rate=16000, speed=0.7)
    fast = synthesize(HELLO, sample_rate=16000, speed=1.5)
    assert len(slow) > len(one) > len(fast)
    assert len(synthesize(HELLO + " " + HELLO, sample_rate=16000)) > 1.8 * len(one)
    other = synthesize(HELLO, model="aura-zeus-en", sample_rate=16000)
    assert len(other) != len(one) or not np.array_equal(other, one)
    assert synthesize("   ", sample_rate=16000).size == 0
    assert np.array_equal(synthesize(HELLO, sample_rate=16000), one)  # deterministic


def test_without_espeak_ng_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(EngineError, match="apt-get install espeak-ng") as info:
        synthesize(HELLO)
    assert info.value.status_code == 501


@pytest.fixture(scope="module")
def hello16k(espeak: None) -> np.ndarray[Any, Any]:
    return synthesize(HELLO, sample_rate=16000)


@pytest.mark.parametrize(
    ("encoding", "container", "subtype", "width"),
    [
        ("linear16", "wav", "PCM_16", 2),
        ("mulaw", "wav", "ULAW", 1),
        ("alaw", "wav", "ALAW", 1),
        ("linear16", "none", None, 2),
        ("mulaw", "none", None, 1),
        ("alaw", "none", None, 1),
        ("flac", "none", "PCM_16", None),
    ],
)
def test_lossless_and_telephone_formats_keep_every_sample(
    hello16k: np.ndarray[Any, Any], encoding: str, container: str, subtype: str | None, width: int | None
) -> None:
    data = encode(hello16k, 16000, encoding=encoding, container=container)
    if subtype is None:  # raw: exactly the samples, decoded as /v1/listen would
        assert len(data) == len(hello16k) * (width or 0)
        decoded = load_audio(data, name="speak", encoding=encoding, sample_rate=16000, rate=None)
        assert decoded.duration == pytest.approx(len(hello16k) / 16000)
        return
    info = sf.info(io.BytesIO(data))
    assert (info.subtype, info.samplerate, info.channels, info.frames) == (subtype, 16000, 1, len(hello16k))
    if subtype in ("PCM_16",):
        back, _ = sf.read(io.BytesIO(data), dtype="int16")
        assert np.array_equal(back, hello16k)


def _mp3_bit_rates(data: bytes) -> set[int]:
    """The bit rates (kbit/s) of the MPEG-2 layer III frame headers in ``data``."""
    table = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]
    rates = set()
    i = data.find(b"\xff\xf3")
    while 0 <= i < len(data) - 2:
        rates.add(table[data[i + 2] >> 4])
        i = data.find(b"\xff\xf3", i + 2)
    return rates


@needs_voice
@pytest.mark.parametrize("bit_rate", [32000, 48000])
def test_mp3_is_mpeg2_layer3_at_the_bit_rate_asked(bit_rate: int) -> None:
    samples = synthesize(HELLO, sample_rate=22050)
    data = encode(samples, 22050, encoding="mp3", bit_rate=bit_rate)
    assert data[:2] == b"\xff\xf3"  # MPEG-2 layer III, no ID3 tag
    assert bit_rate // 1000 in _mp3_bit_rates(data)
    info = sf.info(io.BytesIO(data))
    assert (info.format, info.samplerate) == ("MP3", 22050)
    assert info.duration == pytest.approx(len(samples) / 22050, abs=0.15)  # the encoder's padding
    assert len(data) * 8 / info.duration == pytest.approx(bit_rate, rel=0.1)


@needs_voice
def test_opus_is_ogg_at_48khz_near_the_bit_rate_asked() -> None:
    samples = synthesize(HELLO * 3, sample_rate=48000)
    sizes = {}
    for bit_rate in (12000, 64000):
        data = encode(samples, 48000, encoding="opus", bit_rate=bit_rate)
        info = sf.info(io.BytesIO(data))
        assert data[:4] == b"OggS" and (info.subtype, info.samplerate) == ("OPUS", 48000)
        assert info.duration == pytest.approx(len(samples) / 48000, abs=0.05)
        sizes[bit_rate] = len(data) * 8 / info.duration
    assert sizes[12000] == pytest.approx(12000, rel=0.4)
    assert sizes[64000] > 3 * sizes[12000]


@needs_voice
def test_aac_is_adts_at_22050_hz() -> None:
    av = pytest.importorskip("av")
    samples = synthesize(HELLO, sample_rate=22050)
    data = encode(samples, 22050, encoding="aac", bit_rate=48000)
    assert data[:2] == b"\xff\xf1"  # an ADTS header, MPEG-4 AAC
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        decoded = sum(frame.samples for frame in container.decode(stream))
        assert (stream.codec_context.name, stream.rate) == ("aac", 22050)
    assert decoded / 22050 == pytest.approx(len(samples) / 22050, abs=0.1)


def test_aac_without_pyav_names_the_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(EngineError, match=r"pip install 'dgtools\[serve\]'") as info:
        encode(np.zeros(100, dtype=np.int16), 22050, encoding="aac")
    assert info.value.status_code == 400


@needs_voice
def test_the_voice_says_the_words() -> None:
    """Whisper (tiny.en) hears most words of the robot voice; skips without the whisper extra."""
    whisper = pytest.importorskip("dgtools.engines.whisper")
    if "tiny.en" not in whisper.available_models():
        pytest.skip("the tiny.en weights are not installed")
    text = "The quick brown fox jumps over the lazy dog. Please call me back tomorrow morning."
    audio = speak(
        text, {"encoding": "linear16", "container": "none", "sample_rate": 16000, "model": "aura-2-apollo-en"}
    )
    with whisper.WhisperEngine(model="tiny.en", cpu_threads=2) as engine:
        response = run(
            engine.transcribe(
                audio=audio,
                url=None,
                options=[("encoding", "linear16"), ("sample_rate", "16000")],
                request_id="r",
                sha256=None,
            )
        )
    heard = set(response["results"]["channels"][0]["alternatives"][0]["transcript"].split())
    said = {w.strip(".").lower() for w in text.split()}
    assert len(heard & said) >= 0.7 * len(said), heard


# --------------------------------------------------------------------------- POST /v1/speak


def test_the_answer_is_mp3_with_deepgrams_headers(server: LocalServer) -> None:
    response = post(server)
    assert response.status_code == 200
    headers = response.headers
    assert headers["content-type"] == "audio/mpeg"
    assert headers["transfer-encoding"] == "chunked"  # streamed, as Deepgram's
    assert headers["dg-model-name"] == "aura-asteria-en"
    assert headers["dg-model-uuid"] == model_uuid("aura-asteria-en")
    assert headers["dg-char-count"] == str(len(HELLO))
    uuid.UUID(headers["dg-request-id"])
    assert response.content[:2] == b"\xff\xf3"
    # every header the official SDK reads into its speak metadata (a real capture) is there
    real = json.loads(fixture_path("speak_rest_headers_metadata__deepgram-python-sdk.json").read_text())
    names = {
        "content_type": "content-type",
        "request_id": "dg-request-id",
        "model_uuid": "dg-model-uuid",
        "model_name": "dg-model-name",
        "characters": "dg-char-count",
        "transfer_encoding": "transfer-encoding",
        "date": "date",
    }
    assert set(real) == set(names)
    assert all(names[k] in headers for k in real)


@pytest.mark.parametrize(
    ("query", "content_type", "rate"),
    [
        ("encoding=linear16", "audio/wav", 24000),
        ("encoding=linear16&sample_rate=48000", "audio/wav", 48000),
        ("encoding=mulaw&sample_rate=16000", "audio/wav", 16000),
        ("encoding=alaw", "audio/wav", 8000),
        ("encoding=flac&sample_rate=22050", "audio/flac", 22050),
        ("encoding=opus", "audio/ogg", 48000),
        ("encoding=mp3&bit_rate=32000", "audio/mpeg", 22050),
    ],
)
def test_each_format_answers_its_content_type_and_rate(
    server: LocalServer, query: str, content_type: str, rate: int
) -> None:
    response = post(server, f"model=aura-2-thalia-en&{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == content_type
    info = sf.info(io.BytesIO(response.content))
    assert info.samplerate == rate
    assert info.duration == pytest.approx(
        len(synthesize(HELLO, model="aura-2-thalia-en", sample_rate=rate)) / rate, abs=0.15
    )


def test_raw_audio_is_the_samples_and_speed_changes_the_length(server: LocalServer) -> None:
    query = "model=aura-2-thalia-en&encoding=linear16&container=none&sample_rate=16000"
    response = post(server, query)
    assert response.headers["content-type"] == "application/octet-stream"
    expected = synthesize(HELLO, model="aura-2-thalia-en", sample_rate=16000)
    assert response.content == expected.astype("<i2").tobytes()
    slow = post(server, query + "&speed=0.7")
    assert len(slow.content) > 1.2 * len(response.content)


def test_2000_characters_are_spoken_and_2001_refused(server: LocalServer) -> None:
    text = ("Yes. " * 400)[:MAX_CHARACTERS]
    query = "encoding=mulaw&container=none"
    ok = post(server, query, {"text": text})
    assert ok.status_code == 200 and ok.headers["dg-char-count"] == "2000"
    assert len(ok.content) / 8000 > 60  # minutes of "Yes."
    refused = post(server, query, {"text": text + "!"})
    assert refused.status_code == 400
    assert refused.json()["err_code"] == "INVALID_INPUT"
    assert "maximum character limit of 2000 (it has 2001)" in refused.json()["err_msg"]


def test_bearer_tokens_are_accepted(server: LocalServer) -> None:
    assert post(server, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def _errors() -> list[tuple[str, dict[str, Any], Any, int, str, str]]:
    """(name, request keyword arguments, json body or bytes, status, code, message part)."""
    return [
        ("no key", {"headers": {}}, None, 401, "INVALID_AUTH", "Invalid credentials."),
        (
            "wrong key",
            {"headers": {"Authorization": "Token nope"}},
            None,
            401,
            "INVALID_AUTH",
            "Invalid credentials.",
        ),
        (
            "token as bearer",
            {"headers": {"Authorization": f"Bearer {KEY}"}},
            None,
            401,
            "INVALID_AUTH",
            "Invalid",
        ),
        (
            "no content type",
            {"content_type": None},
            b'{"text": "hi"}',
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "application/json",
        ),
        (
            "text/plain",
            {"content_type": "text/plain"},
            b"hi",
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "application/json",
        ),
        ("not json", {}, b"{text: hi}", 400, "INVALID_JSON", "Json deserialize error"),
        ("no text", {}, {"txt": "hi"}, 400, "INVALID_JSON", "missing field `text`"),
        ("text a number", {}, {"text": 5}, 400, "INVALID_JSON", "expected a string"),
        ("a list", {}, ["hi"], 400, "INVALID_JSON", "expected a map"),
        ("empty text", {}, {"text": "  "}, 400, "INVALID_INPUT", "Input text is empty"),
        (
            "unknown option",
            {"query": "voice=zeus"},
            None,
            400,
            "INVALID_QUERY_PARAMETER",
            "voice is not an option",
        ),
        (
            "unknown voice",
            {"query": "model=aura-2-zeuss-en"},
            None,
            400,
            "INVALID_QUERY_PARAMETER",
            "did you mean aura-2-zeus-en?",
        ),
        (
            "bad rate",
            {"query": "encoding=alaw&sample_rate=24000"},
            None,
            400,
            "INVALID_QUERY_PARAMETER",
            "takes 8000, 16000",
        ),
        ("bad speed", {"query": "speed=3"}, None, 400, "INVALID_QUERY_PARAMETER", "0.7 to 1.5"),
    ]


@pytest.mark.parametrize(
    ("name", "kwargs", "body", "status", "code", "part"), _errors(), ids=[e[0] for e in _errors()]
)
def test_every_error_is_deepgram_shaped(
    server: LocalServer, name: str, kwargs: dict[str, Any], body: Any, status: int, code: str, part: str
) -> None:
    headers = dict(kwargs.get("headers", AUTH))
    content_type = kwargs.get("content_type", "application/json")
    if content_type:
        headers["Content-Type"] = content_type
    content = (
        body if isinstance(body, bytes) else json.dumps({"text": HELLO} if body is None else body).encode()
    )
    url = f"{server.url}/v1/speak" + (f"?{kwargs['query']}" if "query" in kwargs else "")
    response = httpx.post(url, content=content, headers=headers, timeout=HANG, trust_env=False)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert response.headers["dg-request-id"] == data["request_id"]
    if code == "INVALID_JSON":  # Deepgram's {category, message, details} shape for JSON it cannot read
        assert (data["category"], data["message"]) == ("INVALID_JSON", "Invalid JSON submitted.")
        assert part in data["details"]
    else:
        assert data["err_code"] == code and part in data["err_msg"]


def test_a_body_over_the_limit_is_refused_from_its_headers(server: LocalServer) -> None:
    response = post(server, body={"text": "x" * 1_100_000})
    assert response.status_code == 413 and response.json()["err_code"] == "PAYLOAD_TOO_LARGE"


def test_without_espeak_ng_the_server_answers_501_saying_what_to_install(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "")  # the server's thread looks for espeak-ng on this process's PATH
    response = post(server)
    assert response.status_code == 501
    assert response.json()["err_code"] == "VOICE_UNAVAILABLE"
    assert "apt-get install espeak-ng" in response.json()["err_msg"]


def test_aac_without_pyav_is_a_400_naming_the_extra(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "av", None)
    response = post(server, "encoding=aac")
    assert response.status_code == 400
    assert response.json()["err_msg"].endswith("pip install 'dgtools[serve]'.")


def test_aac_is_served_as_adts(server: LocalServer) -> None:
    pytest.importorskip("av")
    response = post(server, "encoding=aac&bit_rate=32000")
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/aac" and response.content[:2] == b"\xff\xf1"


@needs_voice
@pytest.mark.parametrize(
    ("faults", "status", "code"),
    [
        (Faults(rate_429=1.0, retry_after=3), 429, "TOO_MANY_REQUESTS"),
        (Faults(payment_after=0), 402, "PAYMENT_REQUIRED"),
    ],
)
def test_faults_apply_to_speak_as_to_listen(faults: Faults, status: int, code: str) -> None:
    with LocalServer(faults=faults) as s:
        response = post(s, headers={"Authorization": "Token any"})
        assert response.status_code == status and response.json()["err_code"] == code
        if status == 429:
            assert response.headers["retry-after"] == "3"
        assert s.stats()["speak"]["by_status"] == {str(status): 1}


@needs_voice
def test_injected_5xx_latency_and_drops() -> None:
    with LocalServer(faults=Faults(rate_5xx=1.0, seed=1)) as s:
        response = post(s, headers={"Authorization": "Token any"})
        assert response.status_code in (500, 503) and response.json()["category"] == "INTERNAL_SERVER_ERROR"
    with LocalServer(faults=Faults(drop_rate=1.0)) as s:
        with pytest.raises(httpx.TransportError):
            post(s, headers={"Authorization": "Token any"})
        assert s.stats()["dropped"] == 1
    with LocalServer(faults=Faults(latency=0.3)) as s:
        response = post(s, headers={"Authorization": "Token any"})
        assert response.status_code == 200 and response.elapsed.total_seconds() >= 0.3


@needs_voice
def test_stats_count_requests_characters_and_audio() -> None:
    with LocalServer() as s:
        auth = {"Authorization": "Token any"}
        ok = post(s, "encoding=linear16", headers=auth)
        post(s, "encoding=linear16", body={"text": ""}, headers=auth)
        post(s, headers={})
        speak_stats = s.stats()["speak"]
        assert speak_stats["requests"] == 3
        assert speak_stats["by_status"] == {"200": 1, "400": 1, "401": 1}
        assert speak_stats["characters"] == len(HELLO)
        assert speak_stats["audio_bytes"] == len(ok.content)
        assert s.stats()["requests"] == 0  # /v1/listen's counters are its own
        assert s.reset()["speak"]["requests"] == 0


# --------------------------------------------------------------------------- WebSocket /v1/speak


async def _until(ws: ClientConnection, kind: str) -> tuple[bytes, list[dict[str, Any]]]:
    """The audio and text messages received up to and including the first message of type ``kind``."""
    audio = bytearray()
    messages: list[dict[str, Any]] = []
    while True:
        raw = await ws.recv()
        if isinstance(raw, bytes):
            audio += raw
            continue
        messages.append(json.loads(raw))
        if messages[-1]["type"] == kind:
            return bytes(audio), messages


async def _rest(ws: ClientConnection) -> tuple[bytes, list[dict[str, Any]]]:
    """What arrives until the server closes."""
    audio = bytearray()
    messages: list[dict[str, Any]] = []
    try:
        async for raw in ws:
            if isinstance(raw, bytes):
                audio += raw
            else:
                messages.append(json.loads(raw))
    except ConnectionClosed:
        pass
    return bytes(audio), messages


def test_metadata_comes_first_then_flush_speaks_in_100_ms_frames(server: LocalServer) -> None:
    query = "model=aura-2-thalia-en&encoding=linear16&sample_rate=16000"

    async def go() -> tuple[dict[str, Any], list[int], dict[str, Any], str]:
        async with connect(ws_url(server, query), additional_headers=AUTH) as ws:
            metadata = json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "Speak", "text": "Hello, how can "}))
            await ws.send(json.dumps({"type": "Speak", "text": "I help you today?"}))
            await ws.send(json.dumps({"type": "Flush"}))
            sizes: list[int] = []
            while isinstance(raw := await ws.recv(), bytes):
                sizes.append(len(raw))
            flushed = json.loads(raw)
            await ws.send(json.dumps({"type": "Close"}))
            rest, after = await _rest(ws)
            assert rest == b"" and after == []
            assert ws.response is not None
            return metadata, sizes, flushed, ws.response.headers["dg-request-id"]

    metadata, sizes, flushed, request_id = run(go())
    assert metadata == {
        "type": "Metadata",
        "request_id": request_id,
        "model_name": "aura-2-thalia-en",
        "model_version": "dgtools-espeak-ng",
        "model_uuid": model_uuid("aura-2-thalia-en"),
    }
    assert flushed == {"type": "Flushed", "sequence_id": 0}
    assert set(sizes[:-1]) == {3200} and 0 < sizes[-1] <= 3200  # 100 ms of 16 kHz linear16
    rest = post(server, query + "&container=none", {"text": HELLO})
    assert sum(sizes) == len(rest.content)  # the same audio as POST /v1/speak gives


def test_clear_drops_the_buffer_and_the_audio_not_sent(server: LocalServer) -> None:
    async def go() -> tuple[bytes, list[dict[str, Any]], bytes, list[dict[str, Any]]]:
        async with connect(ws_url(server, "encoding=mulaw"), additional_headers=AUTH) as ws:
            await ws.recv()  # Metadata
            await ws.send(json.dumps({"type": "Speak", "text": "This is never said."}))
            await ws.send(json.dumps({"type": "Clear"}))
            await ws.send(json.dumps({"type": "Speak", "text": "Long text, cleared as it is spoken. " * 50}))
            await ws.send(json.dumps({"type": "Flush"}))
            await ws.send(json.dumps({"type": "Clear"}))  # before the voice is done: none of its audio
            await ws.send(json.dumps({"type": "Speak", "text": "Hi."}))
            await ws.send(json.dumps({"type": "Flush"}))
            audio1, first = await _until(ws, "Cleared")
            audio2, second = await _until(ws, "Flushed")
            await ws.close()
            return audio1, first, audio2, second

    audio1, first, audio2, second = run(go())
    assert first == [{"type": "Cleared", "sequence_id": 0}]
    assert audio1 == b""
    assert second == [{"type": "Cleared", "sequence_id": 2}, {"type": "Flushed", "sequence_id": 3}]
    said = synthesize("Hi.", sample_rate=8000)
    assert len(audio2) == len(said)  # mulaw at 8000 Hz: one byte a sample, and only "Hi."


def test_close_flushes_the_buffer_then_closes_after_all_the_audio(server: LocalServer) -> None:
    async def go() -> tuple[bytes, list[dict[str, Any]], int | None]:
        async with connect(
            ws_url(server, "encoding=linear16&sample_rate=8000"), additional_headers=AUTH
        ) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "Speak", "text": HELLO}))
            await ws.send(json.dumps({"type": "Flush"}))
            await ws.send(json.dumps({"type": "Speak", "text": "Never flushed."}))
            await ws.send(json.dumps({"type": "Close"}))
            audio, messages = await _rest(ws)
            return audio, messages, ws.close_code

    audio, messages, code = run(go())
    assert messages == [{"type": "Flushed", "sequence_id": 0}, {"type": "Flushed", "sequence_id": 1}]
    said = synthesize(HELLO, sample_rate=8000), synthesize("Never flushed.", sample_rate=8000)
    assert len(audio) == 2 * (len(said[0]) + len(said[1]))  # before: the unflushed text was dropped
    assert code == 1000


def test_too_much_text_and_too_many_flushes_are_warned(server: LocalServer) -> None:
    async def go() -> list[dict[str, Any]]:
        async with connect(ws_url(server), additional_headers=AUTH) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "Speak", "text": "x" * (MAX_CHARACTERS + 1)}))
            for _ in range(FLUSH_LIMIT + 1):
                await ws.send(json.dumps({"type": "Flush"}))
            await ws.send(json.dumps({"type": "Close"}))
            return (await _rest(ws))[1]

    messages = run(go())
    assert messages[0]["type"] == "Warning" and messages[0]["code"] == "TEXT_TOO_LONG"
    assert "at most 2000 characters" in messages[0]["description"]
    flushed = [m for m in messages if m["type"] == "Flushed"]
    assert [m["sequence_id"] for m in flushed] == list(range(FLUSH_LIMIT))
    assert messages[-1]["type"] == "Warning" and messages[-1]["code"] == "FLUSH_LIMIT_EXCEEDED"


@pytest.mark.parametrize(
    ("query", "headers", "subprotocols"),
    [
        ("", {}, None),
        ("", {"Authorization": "Token wrong"}, None),
        ("token=wrong", {}, None),
    ],
)
def test_bad_credentials_are_refused_at_the_handshake(
    server: LocalServer, query: str, headers: dict[str, str], subprotocols: list[str] | None
) -> None:
    async def go() -> None:
        async with connect(ws_url(server, query), additional_headers=headers, subprotocols=subprotocols):  # type: ignore[arg-type]
            pass

    with pytest.raises(InvalidStatus) as info:
        run(go())
    response = info.value.response
    body = json.loads(response.body)
    assert (response.status_code, body["err_code"]) == (401, "INVALID_AUTH")
    assert response.headers["dg-request-id"] == body["request_id"]


@pytest.mark.parametrize(
    ("query", "part"),
    [
        ("encoding=mp3", "takes linear16, mulaw, alaw"),
        ("container=wav", "raw audio only: container=none"),
        ("model=aura-2-thalai-en", "did you mean aura-2-thalia-en?"),
        ("encoding=mulaw&sample_rate=24000", "takes 8000, 16000"),
        ("bit_rate=48000", "REST-only"),
    ],
)
def test_bad_options_are_refused_at_the_handshake(server: LocalServer, query: str, part: str) -> None:
    async def go() -> None:
        async with connect(ws_url(server, query), additional_headers=AUTH):
            pass

    with pytest.raises(InvalidStatus) as info:
        run(go())
    response = info.value.response
    body = json.loads(response.body)
    assert (response.status_code, body["err_code"]) == (400, "INVALID_QUERY_PARAMETER")
    assert part in body["err_msg"] and response.headers["dg-error"] == body["err_msg"]


def test_the_query_token_and_the_subprotocol_authenticate(server: LocalServer) -> None:
    async def go(url: str, subprotocols: list[str] | None) -> str:
        async with connect(url, subprotocols=subprotocols) as ws:  # type: ignore[arg-type]
            return str(json.loads(await ws.recv())["type"])

    assert run(go(ws_url(server, f"token={KEY}"), None)) == "Metadata"
    assert run(go(ws_url(server), ["bearer", TOKEN])) == "Metadata"


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        (b"\x00\x01", 1003, "MESSAGE-0000"),
        ("not json", 1008, "DATA-0000"),
        (json.dumps({"type": "KeepAlive"}), 1008, "DATA-0000"),
        (json.dumps({"type": "Speak", "text": 5}), 1008, "DATA-0000"),
    ],
)
def test_what_is_no_speak_message_closes_the_stream(
    server: LocalServer, frame: bytes | str, code: int, reason: str
) -> None:
    async def go() -> tuple[int | None, str | None]:
        async with connect(ws_url(server), additional_headers=AUTH) as ws:
            await ws.recv()
            await ws.send(frame)
            await _rest(ws)
            return ws.close_code, ws.close_reason

    assert run(go()) == (code, reason)


@needs_voice
def test_a_silent_client_is_closed_net_0001() -> None:
    async def go(url: str) -> tuple[int | None, str | None]:
        async with connect(url, additional_headers={"Authorization": "Token any"}) as ws:
            await _rest(ws)
            return ws.close_code, ws.close_reason

    with LocalServer(stream_timeout=0.3) as s:
        assert run(go(ws_url(s))) == (1011, "NET-0001")
        assert s.stats()["speak"]["stream_closes"] == {"1011": 1}


def test_without_espeak_ng_a_flush_warns_and_closes(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "")

    async def go() -> tuple[list[dict[str, Any]], int | None]:
        async with connect(ws_url(server), additional_headers=AUTH) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "Speak", "text": HELLO}))
            await ws.send(json.dumps({"type": "Flush"}))
            return (await _rest(ws))[1], ws.close_code

    messages, code = run(go())
    assert messages[0]["type"] == "Warning" and messages[0]["code"] == "VOICE_UNAVAILABLE"
    assert "apt-get install espeak-ng" in messages[0]["description"]
    assert code == 1011


@needs_voice
def test_stream_stats() -> None:
    async def go(url: str) -> int:
        async with connect(url, additional_headers={"Authorization": "Token any"}) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "Speak", "text": HELLO}))
            await ws.send(json.dumps({"type": "Flush"}))
            await ws.send(json.dumps({"type": "Close"}))
            return len((await _rest(ws))[0])

    with LocalServer() as s:
        audio = run(go(ws_url(s)))
        stats = s.stats()
    assert stats["speak"]["streams"] == 1
    assert stats["speak"]["stream_messages"] == 2  # Metadata, Flushed
    assert stats["speak"]["stream_closes"] == {"1000": 1}
    assert stats["speak"]["characters"] == len(HELLO) and stats["speak"]["audio_bytes"] == audio
    assert stats["streams"] == 0  # the listen streams' counter


# --------------------------------------------------------------------------- the official SDK


# deepgram-sdk 7.17 imports websockets.legacy and websockets.exceptions.InvalidStatusCode, both deprecated
# since websockets 14: third-party warnings at import, nothing dgtools can change (as in tests/test_server.py).
@pytest.mark.filterwarnings("ignore:websockets.exceptions.InvalidStatusCode is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning")
def test_official_sdk_speaks_against_the_server(server: LocalServer) -> None:
    import deepgram
    from deepgram.environment import DeepgramClientEnvironment

    ws = server.url.replace("http://", "ws://")
    environment = DeepgramClientEnvironment(base=server.url, production=ws, agent=ws, agent_rest=server.url)
    with httpx.Client(timeout=HANG, trust_env=False) as http:
        client = deepgram.DeepgramClient(api_key=KEY, environment=environment, httpx_client=http)
        audio = b"".join(client.speak.v1.audio.generate(text=HELLO, model="aura-2-thalia-en"))
        assert audio[:2] == b"\xff\xf3"
        with client.speak.v1.audio.with_raw_response.generate(
            text=HELLO, model="aura-2-thalia-en", encoding="linear16", sample_rate=16000
        ) as raw:
            wav = b"".join(raw.data)
            assert raw.headers["dg-char-count"] == str(len(HELLO))
        assert sf.info(io.BytesIO(wav)).samplerate == 16000
        with pytest.raises(deepgram.errors.BadRequestError) as info:
            b"".join(client.speak.v1.audio.generate(text="x" * (MAX_CHARACTERS + 1)))
        assert info.value.body["err_code"] == "INVALID_INPUT"


@pytest.mark.filterwarnings("ignore:websockets.exceptions.InvalidStatusCode is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning")
def test_official_sdk_streams_speech_from_the_server(server: LocalServer) -> None:
    import deepgram
    from deepgram.environment import DeepgramClientEnvironment
    from deepgram.speak.v1.types import SpeakV1Text

    ws = server.url.replace("http://", "ws://")
    environment = DeepgramClientEnvironment(base=server.url, production=ws, agent=ws, agent_rest=server.url)
    client = deepgram.DeepgramClient(api_key=KEY, environment=environment)
    with client.speak.v1.connect(model="aura-2-thalia-en", encoding="linear16", sample_rate=16000) as socket:
        socket.send_text(SpeakV1Text(text=HELLO))
        socket.send_flush()
        received: list[Any] = []
        for message in socket:
            received.append(message)
            if getattr(message, "type", None) == "Flushed":
                break
        socket.send_clear()
        cleared = next(iter(socket))
        socket.send_close()
        after = list(socket)
    metadata = received[0]
    assert type(metadata).__name__ == "SpeakV1Metadata" and metadata.model_name == "aura-2-thalia-en"
    audio = b"".join(m for m in received if isinstance(m, bytes))
    assert len(audio) == 2 * len(synthesize(HELLO, model="aura-2-thalia-en", sample_rate=16000))
    assert received[-1].sequence_id == 0
    # (the SDK's types of Flushed and Cleared are alike: it may parse a Cleared as SpeakV1Flushed)
    assert (cleared.type, cleared.sequence_id) == ("Cleared", 1)
    assert after == []
