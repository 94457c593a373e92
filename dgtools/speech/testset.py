"""Speech with known transcripts, for testing transcription: :func:`synthesize_test_set`.

Texts are spoken with Aura voices (:func:`dgtools.aspeak`, the REST ``/v1/speak``: concurrent,
resumable from the store, and free and offline with ``engine="local"``'s espeak-ng voice) and
written as a folder a transcription test reads::

    OUT/
      manifest.csv             one row per audio file (columns: MANIFEST_COLUMNS)
      text-000.wav             16-bit mono PCM
      text-000.txt             the reference transcript
      dialogue-000.wav         turns of several voices, one after another, short silences between
      dialogue-000.txt         one turn per line
      dialogue-000.rttm        SPEAKER lines: who speaks when (speaker = voice)

Each spoken piece is trimmed of the silence the voice puts around it (samples under 2% of its
peak at either end) and padded to a whole millisecond, and files are laid out in whole
milliseconds (``pad`` before and after, ``gap`` between turns), so the RTTM's start and duration
of each turn are exact to the sample: the turn is where its speech is.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from .._aio import sync_twin
from ..exceptions import ConfigError, DGToolsError

if TYPE_CHECKING:
    import pandas as pd

    from .run import SpeechRun

__all__ = [
    "DEFAULT_VOICES",
    "MANIFEST_COLUMNS",
    "SpeechTestSet",
    "asynthesize_test_set",
    "synthesize_test_set",
]

#: The voices when none are given: a female and a male Aura-2 voice, which alternate (of the English
#: voices, the two whose local espeak-ng stand-ins pocketsphinx hears best: the offline round trip).
DEFAULT_VOICES: Final = ("aura-2-electra-en", "aura-2-hermes-en")
#: The columns of ``manifest.csv``, in order.
MANIFEST_COLUMNS: Final = (
    "id", "kind", "audio", "transcript", "rttm", "text", "voices", "turns", "characters", "duration",
    "sample_rate",
)  # fmt: skip
_DTYPES: Final = {
    "id": "string", "kind": "string", "audio": "string", "transcript": "string", "rttm": "string",
    "text": "string", "voices": "string", "turns": "int64", "characters": "int64", "duration": "float64",
    "sample_rate": "int64",
}  # fmt: skip
#: Sample rates of ``linear16`` that are a whole number of samples per millisecond.
_RATES: Final = (8000, 16000, 24000, 32000, 48000)
_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: A sample counts as speech at this fraction of the piece's peak (the voice's own silence is below).
_TRIM: Final = 0.02

Pcm = npt.NDArray[np.int16]
Turn = tuple[str, str]


@dataclass
class SpeechTestSet:
    """A folder of synthesized speech with its references: what :func:`synthesize_test_set` wrote.

    Attributes
    ----------
    folder : pathlib.Path
        The folder (``manifest.csv``, and per file its audio, ``.txt`` and for a dialogue ``.rttm``).
    manifest : pandas.DataFrame
        ``manifest.csv`` as a table (:data:`MANIFEST_COLUMNS`; paths relative to ``folder``).
    speech : list of SpeechRun
        The runs of :func:`dgtools.speak` that spoke the pieces, one per voice.
    """

    folder: Path
    manifest: pd.DataFrame
    speech: list[SpeechRun]

    def __repr__(self) -> str:
        kinds = self.manifest.kind.value_counts()
        seconds = float(self.manifest.duration.sum())
        return (
            f"<dgtools.SpeechTestSet {self.folder}: {int(kinds.get('text', 0))} text(s), "
            f"{int(kinds.get('dialogue', 0))} dialogue(s), {seconds:.1f} audio s>"
        )

    @property
    def manifest_path(self) -> Path:
        """``folder/manifest.csv``."""
        return self.folder / "manifest.csv"

    @property
    def references(self) -> dict[str, str]:
        """The reference transcript of each file (its turns joined by spaces), by audio file name."""
        return dict(zip(self.manifest.audio, self.manifest.text, strict=True))


async def asynthesize_test_set(
    texts: Sequence[str] | Mapping[str, str] = (),
    *,
    voices: Sequence[str] = DEFAULT_VOICES,
    dialogues: Sequence[Sequence[str | Turn]] | Mapping[str, Sequence[str | Turn]] = (),
    out: str | os.PathLike[str] = "dgtools-testset",
    sample_rate: int = 16000,
    gap: float = 0.6,
    pad: float = 0.3,
    speed: float | None = None,
    store: str | os.PathLike[str] = "dgtools-store",
    engine: str = "auto",
    api_key: str | None = None,
    access_token: str | None = None,
    base_url: str | None = None,
    concurrency: int | None = None,
    progress: bool | float | None = False,
) -> SpeechTestSet:
    """Speak texts and dialogues into a folder of audio with reference transcripts and RTTM (see the module docstring).

    Parameters
    ----------
    texts
        Texts to speak, one file each: a list (ids ``text-000``, ``text-001``, ...) or a mapping
        of id to text.  Text *i* is spoken by ``voices[i % len(voices)]``.
    voices
        Aura voices (``model`` names, e.g. ``"aura-2-thalia-en"``; see
        ``dgtools.options.speak.SPEAK_MODELS``).  Default: a female and a male voice.
    dialogues
        Conversations, one file each, their turns one after another with ``gap`` seconds of
        silence between: a list (ids ``dialogue-000``, ...) or a mapping of id to turns.  A turn
        is ``(voice, text)``, or a plain text spoken by ``voices[turn % len(voices)]`` (the voices
        take turns).  Each gets an RTTM file whose speaker is the voice.
    out
        The folder to write (created; files of the same ids are replaced).
    sample_rate
        Of the WAV files (default 16000, what most recognizers take): 8000, 16000, 24000, 32000
        or 48000.
    gap, pad
        Seconds of silence between turns, and before the first and after the last (rounded to
        whole milliseconds).
    speed
        The voices' speaking rate (0.7 to 1.5; None: their own).
    store, engine, api_key, access_token, base_url, concurrency, progress
        As for :func:`dgtools.speak`: what is in the store is not spoken (nor paid for) again,
        and ``engine="auto"`` without a key speaks offline with espeak-ng.

    Returns
    -------
    SpeechTestSet

    Raises
    ------
    ConfigError
        Nothing to speak, bad ids, voices, turns or numbers (before anything is sent).
    DGToolsError
        A piece could not be spoken (nothing is written; a rerun sends only what is missing).

    Examples
    --------
    >>> ts = dgtools.synthesize_test_set(  # doctest: +SKIP
    ...     ["Please call me tomorrow."],
    ...     dialogues=[["Hello, how can I help?", "I would like a refund."]],
    ...     out="testset", engine="local")
    >>> run = dgtools.transcribe("testset", engine="local")  # doctest: +SKIP
    """
    items = _items(texts, dialogues, voices)
    if sample_rate not in _RATES:
        raise ConfigError(
            f"sample_rate={sample_rate!r}: use {', '.join(map(str, _RATES))} (whole samples per millisecond, "
            "so that the RTTM times are exact)"
        )
    for name, value in (("gap", gap), ("pad", pad)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 60:
            raise ConfigError(f"{name}={value!r} must be a number of seconds, 0 to 60")
    from ..options.speak import speak_query

    for voice in sorted({v for _, _, turns in items for v, _ in turns}):
        speak_query(model=voice, speed=speed)  # an unknown voice or speed: refused before anything is sent
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"out={str(folder)!r} is a file; give a folder to write the test set to")

    pieces = await _speak_pieces(
        items, sample_rate=sample_rate, speed=speed, store=store, engine=engine, api_key=api_key,
        access_token=access_token, base_url=base_url, concurrency=concurrency, progress=progress,
    )  # fmt: skip
    del api_key, access_token
    audio, runs = pieces
    folder.mkdir(parents=True, exist_ok=True)
    ms = sample_rate // 1000
    rows = []
    for item_id, kind, turns in items:
        layout, pcm = _layout([audio[t] for t in turns], ms, gap=gap, pad=pad)
        _write(folder / f"{item_id}.wav", _wav(pcm, sample_rate))
        _write(folder / f"{item_id}.txt", "".join(text.strip() + "\n" for _, text in turns).encode())
        rttm = ""
        if kind == "dialogue":
            rttm = f"{item_id}.rttm"
            lines = [
                f"SPEAKER {item_id} 1 {start / sample_rate:.3f} {length / sample_rate:.3f} <NA> <NA> {voice} <NA> <NA>\n"
                for (voice, _), (start, length) in zip(turns, layout, strict=True)
            ]
            _write(folder / rttm, "".join(lines).encode())
        rows.append({
            "id": item_id, "kind": kind, "audio": f"{item_id}.wav", "transcript": f"{item_id}.txt", "rttm": rttm,
            "text": " ".join(text.strip() for _, text in turns), "voices": ";".join(dict.fromkeys(v for v, _ in turns)),
            "turns": len(turns), "characters": sum(len(text.strip()) for _, text in turns),
            "duration": round(len(pcm) / sample_rate, 3), "sample_rate": sample_rate,
        })  # fmt: skip
    import pandas as pd

    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).astype(_DTYPES)
    buffer = io.StringIO()
    manifest.to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    _write(folder / "manifest.csv", buffer.getvalue().encode())
    return SpeechTestSet(folder=folder, manifest=manifest, speech=runs)


def _items(
    texts: Sequence[str] | Mapping[str, str],
    dialogues: Sequence[Sequence[str | Turn]] | Mapping[str, Sequence[str | Turn]],
    given_voices: Sequence[str],
) -> list[tuple[str, str, list[Turn]]]:
    """``(id, kind, turns)`` of every file, checked."""
    voices = () if isinstance(given_voices, str) else tuple(given_voices)
    if not voices or not all(isinstance(v, str) and v for v in voices):
        raise ConfigError(f"voices={given_voices!r}: give a list of Aura voices, e.g. {list(DEFAULT_VOICES)}")
    if isinstance(texts, str):
        raise ConfigError("texts= takes a list of texts (or a mapping of id to text), not one string")
    items: list[tuple[str, str, list[Turn]]] = []
    for i, (item_id, text) in enumerate(_named(texts, "text")):
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"text {item_id!r} is {text!r}: give text to speak")
        items.append((item_id, "text", [(voices[i % len(voices)], text)]))
    for item_id, turns in _named(dialogues, "dialogue"):
        if isinstance(turns, str) or not turns:
            raise ConfigError(f"dialogue {item_id!r}: give a list of turns, (voice, text) or text")
        checked: list[Turn] = []
        for n, turn in enumerate(turns):
            voice, text = (voices[n % len(voices)], turn) if isinstance(turn, str) else _pair(turn)
            if not isinstance(voice, str) or not voice or not isinstance(text, str) or not text.strip():
                raise ConfigError(
                    f"dialogue {item_id!r}, turn {n}: {turn!r} is not (voice, text) with text to speak"
                )
            checked.append((voice, text))
        items.append((item_id, "dialogue", checked))
    if not items:
        raise ConfigError("nothing to speak: give texts= or dialogues=")
    ids = [item_id for item_id, _, _ in items]
    for item_id in ids:
        if not isinstance(item_id, str) or not _ID.fullmatch(item_id):
            raise ConfigError(f"id {item_id!r}: use letters, digits, '.', '_' and '-' (it names the files)")
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates or "manifest" in ids:
        raise ConfigError(f"ids must be unique (and not 'manifest'): {duplicates or ['manifest']}")
    return items


def _named(given: Any, prefix: str) -> list[tuple[str, Any]]:
    if isinstance(given, Mapping):
        return [(k, v) for k, v in given.items()]
    return [(f"{prefix}-{i:03d}", v) for i, v in enumerate(given)]


def _pair(turn: Any) -> tuple[Any, Any]:
    if isinstance(turn, Sequence) and len(turn) == 2:
        return turn[0], turn[1]
    return None, None


async def _speak_pieces(
    items: list[tuple[str, str, list[Turn]]], *, sample_rate: int, speed: float | None, **speak: Any
) -> tuple[dict[Turn, Pcm], list[SpeechRun]]:
    """Each distinct (voice, text) spoken once, trimmed: one :func:`dgtools.aspeak` run per voice."""
    from .runner import aspeak

    by_voice: dict[str, list[str]] = {}
    for _, _, turns in items:
        for voice, text in turns:
            if text not in by_voice.setdefault(voice, []):
                by_voice[voice].append(text)
    pieces: dict[Turn, Pcm] = {}
    runs = []
    scratch = Path(tempfile.mkdtemp(prefix="dgtools-testset-"))
    try:
        for voice, voice_texts in by_voice.items():
            run = await aspeak(
                voice_texts, model=voice, out=scratch / "audio", encoding="linear16", container="wav",
                sample_rate=sample_rate, speed=speed, **speak,
            )  # fmt: skip
            runs.append(run)
            failed = [t for t in run.texts if not t.ok]
            if failed:
                first = failed[0]
                raise DGToolsError(
                    f"{len(failed)} of {len(voice_texts)} text(s) could not be spoken by {voice}: text "
                    f"{first.id!r} ({first.status}: {first.message or _chunk_message(first)}); nothing was "
                    "written. Run again to speak what is missing (the store keeps what was spoken)"
                )
            for result, text in zip(run.texts, voice_texts, strict=True):
                assert result.path is not None
                pieces[(voice, text)] = _trim(_read_wav(result.path.read_bytes(), sample_rate))
            shutil.rmtree(scratch / "audio", ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return pieces, runs


def _chunk_message(result: Any) -> str:
    return next((c.message for c in result.chunks if not c.ok and c.message), "see run.failures")


def _read_wav(data: bytes, sample_rate: int) -> Pcm:
    with wave.open(io.BytesIO(data)) as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1 or w.getframerate() != sample_rate:
            raise DGToolsError(
                f"the voice answered {w.getnchannels()} channel(s) of {8 * w.getsampwidth()}-bit audio at "
                f"{w.getframerate()} Hz, not the 16-bit mono {sample_rate} Hz asked for"
            )
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)


def _trim(pcm: Pcm) -> Pcm:
    """``pcm`` without the silence around its speech (samples under :data:`_TRIM` of its peak at the ends)."""
    if not len(pcm):
        return pcm
    level = np.abs(pcm.astype(np.int32))
    loud = np.flatnonzero(level >= max(1, int(level.max() * _TRIM)))
    return pcm[loud[0] : loud[-1] + 1]


def _layout(pieces: list[Pcm], ms: int, *, gap: float, pad: float) -> tuple[list[tuple[int, int]], Pcm]:
    """The pieces laid out in whole milliseconds: ``([(start, length) in samples], the samples)``."""
    lead, between = round(pad * 1000) * ms, round(gap * 1000) * ms
    spans: list[tuple[int, int]] = []
    parts = [np.zeros(lead, dtype=np.int16)]
    at = lead
    for i, piece in enumerate(pieces):
        if i:
            parts.append(np.zeros(between, dtype=np.int16))
            at += between
        length = -(-len(piece) // ms) * ms  # up to a whole millisecond (silence at its end)
        parts += [piece, np.zeros(length - len(piece), dtype=np.int16)]
        spans.append((at, length))
        at += length
    parts.append(np.zeros(lead, dtype=np.int16))
    return spans, np.concatenate(parts)


def _wav(pcm: Pcm, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (a temp file beside it, then ``os.replace``)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


_DOC = (asynthesize_test_set.__doc__ or "").replace(
    "Speak texts and dialogues into a folder",
    "Speak texts and dialogues (synchronously; ``await dgtools.asynthesize_test_set`` in a running loop) into a folder",
)
synthesize_test_set = sync_twin(asynthesize_test_set, name="synthesize_test_set", doc=_DOC)
