"""Audio bytes to float PCM at 16 kHz, one row per channel: the input of every local engine.

Container formats (WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF, ...) are read with
soundfile (libsndfile); whatever libsndfile cannot read goes to librosa
(audioread, which needs ffmpeg or GStreamer).  Headerless audio is read when
the request names its ``encoding`` (``linear16``, ``linear32``, ``mulaw``,
``alaw``) and ``sample_rate`` (and ``channels``, default 1), as Deepgram
requires.  Every channel is resampled to 16 kHz with soxr (librosa's
resampler).  A file that decodes to nothing raises
:class:`~dgtools.exceptions.AudioDecodeError`.

soundfile and librosa are imported when audio is first decoded, not with
this module.  (:mod:`dgtools.audio` is another job: finding and probing the
input files of a batch.)

Examples
--------
>>> from pathlib import Path
>>> audio = load_audio(Path("data/audio/stereo_call.wav").read_bytes(), name="stereo_call.wav")
>>> audio.channels, audio.samples.dtype, audio.samples.shape[1] == round(audio.duration * RATE)
(2, dtype('float32'), True)
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..exceptions import AudioDecodeError

__all__ = ["RATE", "Audio", "load_audio"]

#: The sample rate of decoded audio: what speech models expect (pocketsphinx's en-us model, Whisper).
RATE: Final = 16_000

_RAW_ENCODINGS: Final = frozenset({"linear16", "linear32", "mulaw", "alaw"})
_CONTAINER_MAGIC: Final = (b"RIFF", b"RF64", b"fLaC", b"OggS", b"ID3", b"FORM", b".snd", b"caff")

Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Audio:
    """Decoded audio: ``samples`` is ``(channels, n)`` float32 at :data:`RATE` Hz (unless decoded with ``rate=None``).

    ``duration`` is the length of the original audio in seconds and
    ``source_rate`` its sample rate.

    Examples
    --------
    >>> audio = Audio(np.zeros((2, RATE), dtype=np.float32), duration=1.0, source_rate=8000)
    >>> audio.channels, audio.downmix().shape
    (2, (16000,))
    """

    samples: Samples
    duration: float
    source_rate: int

    @property
    def channels(self) -> int:
        """The number of audio channels."""
        return int(self.samples.shape[0])

    def downmix(self) -> Samples:
        """The mean of all channels, as Deepgram mixes multichannel audio when ``multichannel`` is off."""
        mixed: Samples = self.samples.mean(axis=0, dtype=np.float32)
        return mixed


def load_audio(
    data: bytes,
    *,
    name: str,
    encoding: str | None = None,
    sample_rate: int | None = None,
    channels: int | None = None,
    rate: int | None = RATE,
) -> Audio:
    """Decode audio bytes and resample every channel to 16 kHz (``rate``).

    Parameters
    ----------
    data
        The file's bytes (a container format, or headerless PCM when
        ``encoding`` and ``sample_rate`` describe it).
    name
        How error messages name the audio (a path, or ``"request body
        (sha256 ...)"``).
    encoding, sample_rate, channels
        Deepgram's options for headerless audio; ignored for container formats.
    rate
        The sample rate to resample to (None: keep the audio's own; ``samples`` is then at
        ``source_rate``).

    Returns
    -------
    Audio

    Raises
    ------
    AudioDecodeError
        The bytes are not audio that soundfile or librosa can read.

    Examples
    --------
    One second of headerless 16-bit audio at 8 kHz:

    >>> audio = load_audio(bytes(16000), name="raw.pcm", encoding="linear16", sample_rate=8000)
    >>> audio.duration, audio.source_rate, audio.samples.shape
    (1.0, 8000, (1, 16000))
    >>> load_audio(b"", name="empty.wav")
    Traceback (most recent call last):
    ...
    dgtools.exceptions.AudioDecodeError: cannot decode audio 'empty.wav': it is empty (0 bytes); send a file with at least one audio frame
    """
    if not data:
        raise AudioDecodeError(
            f"cannot decode audio {name!r}: it is empty (0 bytes); send a file with at least one audio frame",
            path=name,
        )
    target = rate
    if encoding in _RAW_ENCODINGS and sample_rate and not data.startswith(_CONTAINER_MAGIC):
        frames, rate = _read_raw(data, name, encoding, int(sample_rate), int(channels or 1))
    else:
        frames, rate = _read_container(data, name)
    if frames.shape[0] == 0:
        raise AudioDecodeError(
            f"cannot decode audio {name!r}: it holds no samples ({len(data):,} bytes); "
            "send a file with at least one audio frame",
            path=name,
        )
    duration = frames.shape[0] / rate
    per_channel = np.ascontiguousarray(frames.T, dtype=np.float32)
    samples = per_channel if target is None else _resample(per_channel, rate, target)
    return Audio(samples=samples, duration=duration, source_rate=rate)


def _read_container(data: bytes, name: str) -> tuple[Samples, int]:
    import soundfile as sf

    try:
        frames, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        return np.asarray(frames, dtype=np.float32), int(rate)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        soundfile_error = re.sub(r"^Error opening <[^>]*>: ", "", str(exc))
    try:
        return _read_with_librosa(data)
    except _LibrosaFailed as exc:
        raise AudioDecodeError(
            f"cannot decode audio {name!r} ({len(data):,} bytes): soundfile says {soundfile_error!r} "
            f"and librosa says {str(exc)!r}. The file is corrupt or in an "
            "unsupported format; send WAV, FLAC, OGG or MP3 (or install ffmpeg for other formats), "
            "or pass encoding= and sample_rate= for headerless PCM.",
            path=name,
        ) from None


def _read_with_librosa(data: bytes) -> tuple[Samples, int]:
    """librosa.load through a temporary file (audioread backends need a path).

    A failed load can leave audioread's file object open until it is
    collected; it is collected here, with its ResourceWarning silenced.
    """
    import gc

    import librosa

    fd, tmp = tempfile.mkstemp(prefix="dgtools-audio-")
    failure: str | None = None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        with warnings.catch_warnings():  # "PySoundFile failed. Trying audioread instead.", deprecations
            warnings.simplefilter("ignore")
            try:
                y, rate = librosa.load(tmp, sr=None, mono=False)
            except Exception as exc:
                detail = str(exc) or "no audioread backend (ffmpeg, GStreamer) could read it"
                failure = f"{type(exc).__name__}: {detail}"
            if failure is not None:
                # Outside the except block, the exception and its frames are released: collect
                # the file object they held while its ResourceWarning is still silenced.
                gc.collect()
    finally:
        os.unlink(tmp)
    if failure is not None:
        raise _LibrosaFailed(failure)
    y = np.atleast_2d(np.asarray(y, dtype=np.float32))
    return np.ascontiguousarray(y.T), int(rate)


class _LibrosaFailed(Exception):
    pass


def _read_raw(data: bytes, name: str, encoding: str, rate: int, channels: int) -> tuple[Samples, int]:
    if rate <= 0 or channels <= 0:
        raise AudioDecodeError(
            f"cannot decode audio {name!r}: sample_rate and channels must be positive, got {rate} and {channels}",
            path=name,
        )
    width = {"linear16": 2, "linear32": 4, "mulaw": 1, "alaw": 1}[encoding]
    usable = len(data) - len(data) % (width * channels)
    buf = data[:usable]
    x: npt.NDArray[Any]
    if encoding == "linear16":
        x = np.frombuffer(buf, dtype="<i2").astype(np.float32) / 32768.0
    elif encoding == "linear32":
        x = np.frombuffer(buf, dtype="<i4").astype(np.float32) / 2147483648.0
    elif encoding == "mulaw":
        x = _mulaw(np.frombuffer(buf, dtype=np.uint8))
    else:
        x = _alaw(np.frombuffer(buf, dtype=np.uint8))
    return np.asarray(x, dtype=np.float32).reshape(-1, channels), rate


def _mulaw(u: npt.NDArray[np.uint8]) -> Samples:
    """G.711 mu-law bytes to floats in [-1, 1]."""
    v = (~u).astype(np.int32)
    sign = (v & 0x80) != 0
    exponent = (v >> 4) & 0x07
    mantissa = v & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return (np.where(sign, -magnitude, magnitude) / 32768.0).astype(np.float32)


def _alaw(a: npt.NDArray[np.uint8]) -> Samples:
    """G.711 A-law bytes to floats in [-1, 1]."""
    v = (a ^ 0x55).astype(np.int32)
    sign = (v & 0x80) == 0
    exponent = (v >> 4) & 0x07
    mantissa = v & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return (np.where(sign, -magnitude, magnitude) / 32768.0).astype(np.float32)


def _resample(x: Samples, rate: int, target: int = RATE) -> Samples:
    if rate == target:
        return x
    try:
        import soxr
    except ImportError:  # pragma: no cover - soxr is a dependency of librosa
        import librosa

        out: Samples = librosa.resample(x, orig_sr=rate, target_sr=target).astype(np.float32)
        return out
    resampled = soxr.resample(np.ascontiguousarray(x.T), rate, target, quality="HQ")
    return np.ascontiguousarray(np.asarray(resampled, dtype=np.float32).reshape(-1, x.shape[0]).T)
