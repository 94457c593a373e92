"""An offline voice for the local server's ``/v1/speak``: text to speech with espeak-ng, in Deepgram's formats.

The local server answers Aura text-to-speech requests with this module: :func:`synthesize` runs
the ``espeak-ng`` program (Debian: ``apt-get install espeak-ng``; macOS: ``brew install
espeak-ng``) in a subprocess and resamples its 22050 Hz output to the rate asked for (soxr, as
:mod:`dgtools.engines.pcm` does); :func:`encode` writes the samples in Deepgram's output formats
(:data:`dgtools.options.speak.FORMATS`): ``linear16``, ``mulaw`` and ``alaw`` raw or in a WAV
container, ``flac``, ``mp3`` and Ogg ``opus`` through soundfile's libsndfile (a core dependency;
MP3 and Opus need libsndfile 1.1 or later, which soundfile's wheels bundle), and ``aac`` (ADTS)
through PyAV (``av``, in the ``serve`` extra).  :func:`speak` does both.

It is a robot voice, not Aura: what it is for is audio of the right format, length and words
(an offline engine transcribes it back) without a key or a network.  Each Aura voice maps to
an espeak-ng voice of its language, a female or male variant as the voice's name suggests and a
pitch of its own (:func:`voice_for`), so that no two models sound alike; ``speed`` sets the
words per minute (175 at 1.0).  ``bit_rate`` is followed exactly for MP3 (32 or 48 kbit/s) and
AAC; libsndfile's Opus encoder works between about 6 and 256 kbit/s, so an Opus bit rate outside
that is clamped.

Failures are :class:`~dgtools.exceptions.EngineError`, which the server answers in Deepgram's
error shape: no espeak-ng program (501, naming the ``apt-get install``), an encoding this
machine cannot write (400, naming what to install), a failing espeak-ng (500).

Examples
--------
>>> voice_for("aura-2-thalia-en")
Voice(model='aura-2-thalia-en', language='en-us', variant='f3', pitch=55)
>>> samples = synthesize("Hello there.", model="aura-2-thalia-en", sample_rate=16000)  # doctest: +SKIP
>>> encode(samples, 16000, encoding="linear16", container="wav")[:4]  # doctest: +SKIP
b'RIFF'
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from .._extras import require
from ..exceptions import EngineError, MissingDependencyError
from ..options.speak import DEFAULT_MODEL, FORMATS, SPEAK_MODELS, speak_bit_rate, speak_format

__all__ = [
    "ESPEAK",
    "NATIVE_RATE",
    "Voice",
    "encode",
    "espeak_path",
    "speak",
    "synthesize",
    "voice_for",
]

#: The program that speaks.
ESPEAK: Final = "espeak-ng"
#: The sample rate espeak-ng writes.
NATIVE_RATE: Final = 22050
#: Words per minute at ``speed=1`` (espeak-ng's default).
WORDS_PER_MINUTE: Final = 175
#: Seconds espeak-ng may take for one text (2,000 characters take well under one).
TIMEOUT: Final = 60.0

Pcm = npt.NDArray[np.int16]

#: The espeak-ng voice of each Aura language (the model name's last part).
_LANGUAGES: Final = {"en": "en-us", "es": "es", "de": "de", "nl": "nl", "fr": "fr-fr", "it": "it", "ja": "ja"}
#: The Aura voices that get a male espeak-ng variant (the others get a female one).
_MALE: Final = frozenset(
    {
        "angus", "arcas", "helios", "orion", "orpheus", "perseus", "zeus",
        "apollo", "aries", "atlas", "draco", "hermes", "hyperion", "jupiter", "mars", "neptune", "odysseus",
        "pluto", "saturn",
        "alvaro", "aquila", "javier", "luciano", "nestor", "sirio", "valerio",
        "fabian", "julius", "lars", "roman", "sander", "hector",
        "cesare", "dionisio", "elio", "flavio", "perseo", "ebisu", "fujin",
    }
)  # fmt: skip
_FEMALE_VARIANTS: Final = ("f1", "f2", "f3", "f4", "f5")
_MALE_VARIANTS: Final = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")
#: Encoding -> soundfile subtype of the raw encodings.
_SUBTYPES: Final = {"linear16": "PCM_16", "mulaw": "ULAW", "alaw": "ALAW"}


@dataclass(frozen=True)
class Voice:
    """How espeak-ng speaks one Aura model: its language voice, variant (``f1``... / ``m1``...) and pitch (0-99)."""

    model: str
    language: str
    variant: str
    pitch: int

    @property
    def espeak(self) -> str:
        """The ``-v`` argument of espeak-ng, e.g. ``"en-us+f3"``."""
        return f"{self.language}+{self.variant}"


def _table() -> dict[str, Voice]:
    """Every model's voice: the variants and pitches go round in model order, so no two models share one."""
    voices: dict[str, Voice] = {}
    counts = {True: 0, False: 0}
    for model in SPEAK_MODELS:
        name, language = _parts(model)
        male = name in _MALE
        variants = _MALE_VARIANTS if male else _FEMALE_VARIANTS
        i = counts[male]
        counts[male] += 1
        base = 30 if male else 40
        pitch = base + 3 * (i // len(variants))
        voices[model] = Voice(model, _LANGUAGES.get(language, "en-us"), variants[i % len(variants)], pitch)
    return voices


def _parts(model: str) -> tuple[str, str]:
    """``("thalia", "en")`` of ``"aura-2-thalia-en"``."""
    pieces = model.split("-")
    return (pieces[-2] if len(pieces) >= 3 else model), pieces[-1]


_VOICES: Final = _table()


def voice_for(model: str) -> Voice:
    """The espeak-ng voice that speaks ``model`` (an Aura voice name; another name gets a voice of its own too).

    Examples
    --------
    >>> voice_for("aura-zeus-en").variant[0], voice_for("aura-2-thalia-en").variant[0]
    ('m', 'f')
    >>> voice_for("aura-2-javier-es").language
    'es'
    """
    known = _VOICES.get(model)
    if known is not None:
        return known
    name, language = _parts(model)
    male = name in _MALE
    variants = _MALE_VARIANTS if male else _FEMALE_VARIANTS
    digest = sum(model.encode())  # deterministic across runs (str hash is salted)
    return Voice(model, _LANGUAGES.get(language, "en-us"), variants[digest % len(variants)], 30 + digest % 40)


def espeak_path() -> str:
    """The path of the espeak-ng program.

    Raises
    ------
    EngineError
        501: espeak-ng is not installed (the message says how to install it).
    """
    found = shutil.which(ESPEAK)
    if found is None:
        raise EngineError(
            501,
            "VOICE_UNAVAILABLE",
            "The dgtools local server speaks with the espeak-ng program, which is not installed on the "
            "server's machine: apt-get install espeak-ng (Debian, Ubuntu), dnf install espeak-ng (Fedora) "
            "or brew install espeak-ng (macOS).",
        )
    return found


def _wav_samples(data: bytes) -> tuple[Pcm, int]:
    """The 16-bit mono samples and rate of espeak-ng's WAV (streamed: its sizes are placeholders)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise EngineError(500, "INTERNAL_SERVER_ERROR", "espeak-ng wrote no WAV audio")
    rate = NATIVE_RATE
    pos = 12
    while pos + 8 <= len(data):
        kind, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if kind == b"fmt ":
            rate = int.from_bytes(data[body + 4 : body + 8], "little")
        elif kind == b"data":  # to the end, whatever the size says
            payload = data[body:]
            payload = payload[: len(payload) - len(payload) % 2]
            return np.frombuffer(payload, dtype="<i2").astype(np.int16), rate
        pos = body + size + size % 2
    return np.zeros(0, dtype=np.int16), rate


def synthesize(
    text: str,
    *,
    model: str = DEFAULT_MODEL,
    sample_rate: int = 24000,
    speed: float = 1.0,
    executable: str | None = None,
) -> Pcm:
    """Speak ``text`` with the voice of ``model``: 16-bit mono samples at ``sample_rate``.

    Parameters
    ----------
    text
        What to say (any length; empty text gives no samples).  It is read as plain text:
        SSML-like markup is spoken, not interpreted.
    model
        An Aura voice name (:func:`voice_for` picks the espeak-ng voice).
    sample_rate
        The rate of the samples returned (espeak-ng's 22050 Hz resampled with soxr).
    speed
        The speaking rate, 1 being 175 words a minute.
    executable
        The espeak-ng program (default: ``espeak-ng`` on the ``PATH``).

    Raises
    ------
    EngineError
        501 without espeak-ng; 500 when it fails.
    """
    if not text.strip():
        return np.zeros(0, dtype=np.int16)
    program = executable or espeak_path()
    voice = voice_for(model)
    wpm = max(80, min(450, round(WORDS_PER_MINUTE * speed)))
    command = [program, "--stdout", "-b", "1", "-v", voice.espeak, "-p", str(voice.pitch), "-s", str(wpm)]
    try:
        done = subprocess.run(command, input=text.encode(), capture_output=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineError(500, "INTERNAL_SERVER_ERROR", f"espeak-ng failed: {exc}") from exc
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip()[:300] or f"exit status {done.returncode}"
        raise EngineError(500, "INTERNAL_SERVER_ERROR", f"espeak-ng failed: {reason}")
    samples, rate = _wav_samples(done.stdout)
    return _resample(samples, rate, sample_rate)


def _resample(samples: Pcm, rate: int, target: int) -> Pcm:
    if rate == target or samples.size == 0:
        return samples
    import soxr  # a dependency of librosa

    y = soxr.resample(samples.astype(np.float32) / 32768.0, rate, target, quality="HQ")
    return np.asarray(np.clip(np.round(y * 32768.0), -32768, 32767), dtype=np.int16)


def encode(
    samples: Pcm, sample_rate: int, *, encoding: str, container: str = "none", bit_rate: int | None = None
) -> bytes:
    """``samples`` (16-bit mono at ``sample_rate``) in a Deepgram output format.

    Parameters
    ----------
    samples, sample_rate
        The audio (:func:`synthesize`'s).  ``mp3``, ``opus`` and ``aac`` need it at their fixed
        rate (22050, 48000 and 22050 Hz: :data:`dgtools.options.speak.FORMATS`).
    encoding
        ``linear16``, ``mulaw``, ``alaw``, ``flac``, ``mp3``, ``opus`` or ``aac``.
    container
        ``"wav"`` or ``"none"`` (raw samples) for the first three; the others have their own.
    bit_rate
        Bits a second for ``mp3``, ``opus`` and ``aac`` (default: Deepgram's, 48000, 12000, 48000).

    Raises
    ------
    EngineError
        400: an encoding this machine cannot write (the message names what to install).

    Examples
    --------
    >>> pcm = np.zeros(8000, dtype=np.int16)
    >>> len(encode(pcm, 8000, encoding="linear16")), len(encode(pcm, 8000, encoding="mulaw"))
    (16000, 8000)
    >>> encode(pcm, 8000, encoding="linear16", container="wav")[:4]
    b'RIFF'
    """
    fmt = FORMATS.get(encoding)
    if fmt is None:
        raise EngineError(400, "UNSUPPORTED_ENCODING", f"encoding={encoding!r} is not a Deepgram encoding")
    if encoding == "linear16" and container != "wav":
        return samples.astype("<i2").tobytes()
    rate = bit_rate if bit_rate is not None else fmt.default_bit_rate
    if encoding == "aac":
        return _aac(samples, sample_rate, rate or 48000)
    import soundfile as sf

    buf = io.BytesIO()
    if encoding in _SUBTYPES:
        kind = "WAV" if container == "wav" else "RAW"
        sf.write(buf, samples, sample_rate, format=kind, subtype=_SUBTYPES[encoding], endian="LITTLE")
    elif encoding == "flac":
        sf.write(buf, samples, sample_rate, format="FLAC", subtype="PCM_16")
    else:
        kind, subtype = ("MP3", "MPEG_LAYER_III") if encoding == "mp3" else ("OGG", "OPUS")
        if subtype not in sf.available_subtypes(kind):
            raise EngineError(
                400,
                "UNSUPPORTED_ENCODING",
                f"encoding={encoding} is not supported by the local server: its libsndfile "
                f"({sf.__libsndfile_version__}) cannot write {subtype}; pip install -U soundfile "
                "(its wheels bundle a libsndfile that can)",
            )
        level = _compression_level(encoding, rate or 0)
        sf.write(
            buf,
            samples,
            sample_rate,
            format=kind,
            subtype=subtype,
            compression_level=level,
            bitrate_mode="CONSTANT" if encoding == "mp3" else None,
        )
    return buf.getvalue()


def _compression_level(encoding: str, bit_rate: int) -> float:
    """libsndfile's compression level (0: its highest bit rate, 1: its lowest) for a bit rate.

    libsndfile maps the level linearly onto the encoder's bit rates: MPEG-2 layer III (22050 Hz)
    160 down to 8 kbit/s, Opus 256 down to 6 kbit/s.
    """
    high, low = (160_000, 8_000) if encoding == "mp3" else (256_000, 6_000)
    return min(0.999, max(0.0, (high - bit_rate) / (high - low)))


def _aac(samples: Pcm, sample_rate: int, bit_rate: int) -> bytes:
    """AAC in ADTS frames (what Deepgram's ``encoding=aac`` answers), with PyAV's encoder."""
    try:
        av = require("av", extra="serve", feature="encoding=aac of the local server's /v1/speak")
    except MissingDependencyError as exc:
        raise EngineError(400, "UNSUPPORTED_ENCODING", f"{exc}.") from None
    buf = io.BytesIO()
    with av.open(buf, "w", format="adts") as out:
        stream = out.add_stream("aac", rate=sample_rate, layout="mono")
        stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame if samples.size else None):
            out.mux(packet)
        if samples.size:
            for packet in stream.encode(None):
                out.mux(packet)
    return buf.getvalue()


def speak(
    text: str,
    options: Mapping[str, object] | Sequence[tuple[str, str]] = (),
    *,
    stream: bool = False,
    executable: str | None = None,
) -> bytes:
    """``text`` spoken in the format ``options`` ask for (a ``/v1/speak`` query; checked).

    ``stream=True``: the WebSocket's defaults and formats (raw ``linear16`` at 24000 Hz).

    Raises
    ------
    ConfigError
        Options Deepgram refuses (:func:`dgtools.options.speak.parse_speak_query`).
    EngineError
        As :func:`synthesize` and :func:`encode`.
    """
    fmt = speak_format(options, stream=stream)
    given: dict[str, object] = dict(options)
    model = str(given.get("model") or DEFAULT_MODEL)
    speed = float(str(given.get("speed") or 1))
    samples = synthesize(text, model=model, sample_rate=fmt.sample_rate, speed=speed, executable=executable)
    bit_rate = speak_bit_rate(options, stream=stream)
    return encode(samples, fmt.sample_rate, encoding=fmt.encoding, container=fmt.container, bit_rate=bit_rate)
