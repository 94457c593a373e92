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

import contextlib
import hashlib
import os
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any, Final

from ...exceptions import ConfigError
from ..offline import OfflineEngine, distinct_channels, response_metadata
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


class LocalEngine(OfflineEngine):
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

    label = "local"

    def __init__(
        self, *, max_decoders: int | None = None, decoder_config: Mapping[str, Any] | None = None
    ) -> None:
        if max_decoders is not None and max_decoders < 1:
            raise ConfigError(f"max_decoders must be at least 1, got {max_decoders!r}")
        self.max_decoders = max_decoders or max(1, min(4, os.cpu_count() or 1))
        self.decoder_config = dict(decoder_config or {})
        self.threads = self.max_decoders
        self._idle: list[Recognizer] = []
        self._lock = threading.Lock()

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
        self._stop_threads()
        with self._lock:
            self._idle.clear()

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
        plan = plan.with_audio_channels(decoded.channels, distinct=distinct_channels(decoded))
        with self._recognizer() as recognizer:
            decodes = _decode_channels(recognizer, decoded, plan)
        plan = _note_unspottable(plan, decodes)
        results = build_results(
            plan,
            decodes,
            sources=decoded.samples if plan.diarize == "loudness" else None,
            seed=digest,
        )
        return {
            "metadata": response_metadata(plan, decoded, digest, request_id, model_info()),
            "results": results,
        }


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
