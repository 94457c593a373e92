"""An offline engine: pocketsphinx answers ``/v1/listen`` requests without Deepgram.

:class:`LocalEngine` transcribes audio with the US English model that ships
in the pocketsphinx wheel (nothing is downloaded, no key is needed) and
returns a response in Deepgram's ``/v1/listen`` shape, so it flows through
the same code as real responses (:func:`dgtools.to_tables`, the raw store,
the local server).  It is much less accurate than Deepgram: use it for
air-gapped runs, demos and tests with a real transcriber behind them.

What it honours: ``punctuate`` and ``smart_format`` (sentence case and
periods from pauses; numbers stay words), ``paragraphs``, ``utterances``
and ``utt_split``, ``multichannel``, ``diarize`` on audio with several
channels (each word goes to its loudest channel: see below), ``alternatives``
(from the n-best list), ``search`` (pocketsphinx keyword spotting),
``tag`` and ``extra`` (echoed in ``metadata``), and ``encoding`` /
``sample_rate`` / ``channels`` for headerless audio.  Every other option
that asks for something (``summarize``, ``topics``, ``intents``,
``sentiment``, ``detect_entities``, ``detect_language``, ``redact``,
``keyterm``, ``language`` other than ``en``/``en-US``, ``model``, ...) is
reported in ``metadata.warnings`` as ``{"parameter", "type":
"unsupported_option", "message"}``: never silently dropped.  So is a
``search`` term with a word outside the pocketsphinx dictionary (it gets an
entry with no hits).

Diarization: pocketsphinx has no speaker model.  For audio with two or more
channels sent with ``diarize=true`` and without ``multichannel``, the
channels are mixed for decoding, as Deepgram does, and each word gets the
speaker of the channel that is loudest (RMS) over the word's span: speaker
*n* is channel *n*; ``speaker_confidence`` is that channel's share of the
summed RMS (0.5 to 1 for stereo).  This suits call recordings with one
party per channel.  With ``multichannel=true`` each channel is one speaker
(``0``); for single-channel audio (or channels that are all the same
signal) ``diarize`` gets a warning and words carry no speaker.

Silence gives an empty transcript (``words: []``).  Audio that cannot be
decoded raises :class:`AudioDecodeError` (a :class:`~dgtools.DGToolsError`
and ``ValueError``) naming the file; the server answers it with Deepgram's
``400 Bad Request: failed to process audio: corrupt or unsupported data``.

For many files, :func:`~dgtools.engines.local.decode_many` decodes in
worker processes (:mod:`dgtools.engines.local.pool`: one decoder per
process) and yields each file's response with its decode time, for the
real-time factor; :class:`~dgtools.engines.local.LocalSender` is the same
pool behind the interface a batch sends through (``engine="local"``).

Examples
--------
>>> from dgtools.engines.local import LocalEngine
>>> engine = LocalEngine()
>>> r = engine.transcribe_path("data/audio/one_speaker.wav", {"punctuate": True, "utterances": True})
>>> transcript = r["results"]["channels"][0]["alternatives"][0]["transcript"]
>>> transcript[0].isupper(), transcript.endswith("."), len(r["results"]["utterances"]) > 0
(True, True, True)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import numpy as np

from ...exceptions import AudioDecodeError, ConfigError, EngineError
from ..base import now_created
from ..pcm import Audio, load_audio
from .request import OptionsLike, Plan, as_listen_options, make_plan, warning
from .response import build_results
from .sphinx import ChannelDecode, Recognizer, normalise_phrase, pocketsphinx_version

__all__ = ["MODEL_NAME", "LocalEngine", "model_info"]

#: ``metadata.model_info[...]["name"]`` of every local response.
MODEL_NAME: Final = "pocketsphinx-en-us"


def model_info() -> tuple[str, dict[str, str]]:
    """The engine's model uuid and ``model_info`` entry.

    The uuid is a uuid5 of the model name and the pocketsphinx version:
    stable across runs and machines with the same pocketsphinx.

    Examples
    --------
    >>> uid, info = model_info()
    >>> info["name"], info["arch"]
    ('pocketsphinx-en-us', 'pocketsphinx')
    """
    version = pocketsphinx_version()
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://pypi.org/project/pocketsphinx/{version}#{MODEL_NAME}"))
    return uid, {"name": MODEL_NAME, "version": version, "arch": "pocketsphinx"}


class LocalEngine:
    """Offline speech-to-text with pocketsphinx, answering in Deepgram's ``/v1/listen`` shape.

    Use :meth:`transcribe_path` / :meth:`transcribe_bytes` directly, or give
    the engine to the local server (``make_engine("local")``), which awaits
    :meth:`transcribe`.  Decoders (about 90 MB each, 0.4 s to load) are
    created on first use and reused; each is used by one thread at a time.

    Parameters
    ----------
    max_decoders
        How many requests :meth:`transcribe` decodes at once, in worker
        threads (pocketsphinx releases the GIL while decoding, so the server's
        event loop stays responsive).  Default: the number of CPUs, at most 4.
    decoder_config
        Extra ``pocketsphinx.Decoder`` settings (e.g. ``hmm``/``lm``/``dict``
        paths of another model, ``beam``).  The defaults are the bundled
        en-us model with ``fwdflat=False``.

    Examples
    --------
    >>> engine = LocalEngine()
    >>> r = engine.transcribe_path("data/audio/silence.wav", {})
    >>> r["results"]["channels"][0]["alternatives"][0]["words"]
    []
    """

    def __init__(
        self, *, max_decoders: int | None = None, decoder_config: Mapping[str, Any] | None = None
    ) -> None:
        if max_decoders is not None and max_decoders < 1:
            raise ConfigError(f"max_decoders must be at least 1, got {max_decoders!r}")
        self.max_decoders = max_decoders or max(1, min(4, os.cpu_count() or 1))
        self.decoder_config = dict(decoder_config or {})
        self._idle: list[Recognizer] = []
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"LocalEngine(max_decoders={self.max_decoders!r})"

    # -- decoders

    @contextlib.contextmanager
    def _recognizer(self) -> Iterator[Recognizer]:
        with self._lock:
            recognizer = self._idle.pop() if self._idle else None
        if recognizer is None:
            recognizer = Recognizer(**self.decoder_config)
        try:
            yield recognizer
        finally:
            with self._lock:
                self._idle.append(recognizer)

    def warm_up(self) -> None:
        """Load one decoder now (otherwise the first request pays the ~0.4 s)."""
        with self._recognizer():
            pass

    def close(self) -> None:
        """Stop the worker threads of :meth:`transcribe` and drop the decoders."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        with self._lock:
            self._idle.clear()

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
            Invalid options.

        Examples
        --------
        >>> from pathlib import Path
        >>> data = Path("data/audio/one_speaker.wav").read_bytes()
        >>> r = LocalEngine().transcribe_bytes(data, {"search": ["dollars"]})
        >>> [s["query"] for s in r["results"]["channels"][0]["search"]]
        ['dollars']
        """
        opts = as_listen_options(options)
        plan = make_plan(opts)
        digest = sha256 or hashlib.sha256(audio).hexdigest()
        label = name or f"request body (sha256 {digest[:12]}…)"
        decoded = load_audio(
            audio, name=label, encoding=plan.encoding, sample_rate=plan.sample_rate, channels=plan.channels
        )
        plan = plan.with_audio_channels(decoded.channels, distinct=_distinct_channels(decoded))
        with self._recognizer() as recognizer:
            decodes = _decode_channels(recognizer, decoded, plan)
        plan = _note_unspottable(plan, decodes)
        results = build_results(
            plan,
            decodes,
            sources=decoded.samples if plan.diarize == "loudness" else None,
            seed=digest,
        )
        return {"metadata": _metadata(plan, decoded, digest, request_id), "results": results}

    def transcribe_path(
        self, path: str | os.PathLike[str], options: OptionsLike = None, *, name: str | None = None
    ) -> dict[str, Any]:
        """Transcribe an audio file; like :meth:`transcribe_bytes`, errors name the file.

        ``name`` is how errors name it (default: the path), e.g. the input as
        a user gave it.

        Raises
        ------
        ConfigError
            The file cannot be read.
        AudioDecodeError
            The file is not audio that can be decoded.

        Examples
        --------
        >>> r = LocalEngine().transcribe_path("data/audio/stereo_call.wav", {"multichannel": True})
        >>> len(r["results"]["channels"])
        2
        """
        label = name or os.fspath(path)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read audio file {label!r}: {exc.strerror or exc}") from exc
        return self.transcribe_bytes(data, options, name=label)

    # -- the server's engine interface

    async def transcribe(
        self,
        *,
        audio: bytes | None,
        url: str | None,
        options: OptionsLike,
        request_id: str,
        sha256: str | None,
    ) -> dict[str, Any]:
        """Answer a local-server request (see :class:`dgtools.engines.base.Engine`).

        The decode runs in one of ``max_decoders`` worker threads.  A URL
        request gets Deepgram's 400 ``REMOTE_CONTENT_ERROR`` (nothing is
        fetched); undecodable audio gets its 400 ``Bad Request``.
        """
        if audio is None:
            raise EngineError(
                400,
                "REMOTE_CONTENT_ERROR",
                f"The dgtools local engine does not fetch URLs ({url!r}); send the audio bytes in the request body.",
            )
        try:
            opts = as_listen_options(options)
        except ConfigError as exc:
            raise EngineError(
                400, "INVALID_QUERY_PARAMETER", f"Failed to deserialize query parameters: {exc}"
            ) from exc
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.max_decoders, thread_name_prefix="dgtools-local")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor,
                lambda: self.transcribe_bytes(audio, opts, request_id=request_id, sha256=sha256),
            )
        except AudioDecodeError as exc:
            raise EngineError(
                400,
                "Bad Request",
                f"Bad Request: failed to process audio: corrupt or unsupported data ({exc})",
            ) from exc


def _distinct_channels(audio: Audio) -> bool:
    """Whether the channels differ (mono saved as stereo does not)."""
    x = audio.samples
    return x.shape[0] > 1 and bool(np.abs(x[1:] - x[:1]).max() > 1e-3)


def _note_unspottable(plan: Plan, decodes: list[ChannelDecode]) -> Plan:
    """Warn about search terms with words outside the pronunciation dictionary (they cannot be spotted)."""
    known = decodes[0].phones if decodes else {}
    notes = []
    for query in plan.search:
        missing = [w for w in normalise_phrase(query).split() if w not in known]
        if missing:
            notes.append(
                warning(
                    "search",
                    f"The dgtools local engine cannot spot the search term {query!r}, so it has no hits: "
                    f"not in the pocketsphinx dictionary: {', '.join(map(repr, missing))}.",
                )
            )
    return replace(plan, warnings=(*plan.warnings, *notes)) if notes else plan


def _decode_channels(recognizer: Recognizer, audio: Audio, plan: Plan) -> list[ChannelDecode]:
    signals = list(audio.samples) if plan.multichannel else [audio.downmix()]
    return [
        recognizer.decode(signal, n_variants=plan.alternatives - 1, phrases=plan.search) for signal in signals
    ]


def _metadata(plan: Plan, audio: Audio, digest: str, request_id: str | None) -> dict[str, Any]:
    uid, info = model_info()
    meta: dict[str, Any] = {
        "transaction_key": "deprecated",
        "request_id": request_id or str(uuid.uuid4()),
        "sha256": digest,
        "created": now_created(),
        "duration": round(audio.duration, 6),
        "channels": audio.channels if plan.multichannel else 1,
        "models": [uid],
        "model_info": {uid: info},
    }
    if plan.tags:
        meta["tags"] = list(plan.tags)
    if plan.extra:
        meta["extra"] = dict(plan.extra)
    if plan.warnings:
        meta["warnings"] = [dict(w) for w in plan.warnings]
    return meta
