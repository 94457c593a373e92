"""Planning a speech run: the texts and their ids, their chunks, their store keys, what must be sent.

Texts come as a string, a list (ids: the positions, ``"0"``, ``"1"``, ...), or a pandas Series or
one-column DataFrame (ids: the index); ``ids=`` names them instead.  Ids must be unique: each
names its text's file (``<id><suffix>``, with characters a file name cannot hold replaced).  A text
that cannot be spoken (empty, not a string, too long for a format whose chunks do not join) is
planned as a skipped row with the reason, never an exception.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError
from ..options.speak import MAX_CHARACTERS
from .join import joinable
from .run import ChunkResult, TextResult
from .split import split_text
from .store import speech_key

if TYPE_CHECKING:
    from ..options.speak import SpeakFormat
    from .store import SpeechStore

__all__ = ["ChunkJob", "TextJob", "file_name", "plan", "texts_and_ids"]

_UNSAFE = re.compile(r"[^\w.-]+")


def texts_and_ids(texts: Any, ids: Sequence[Any] | None = None) -> list[tuple[str, Any]]:
    """``(id, text)`` of every input, in order; ids are strings, texts as given (checked later).

    Raises
    ------
    ConfigError
        ``ids`` of another length than the texts, ids that repeat, a DataFrame of several
        columns, or no texts at all.

    Examples
    --------
    >>> texts_and_ids("Hello.")
    [('0', 'Hello.')]
    >>> texts_and_ids(["a", "b"], ids=["x", 7])
    [('x', 'a'), ('7', 'b')]
    """
    given: list[Any]
    index: list[Any] | None = None
    if isinstance(texts, str):
        given = [texts]
    elif _is_frame(texts):
        if texts.shape[1] != 1:
            raise ConfigError(
                f"texts is a DataFrame of {texts.shape[1]} columns: pass the column to speak, e.g. "
                "texts=df['text'] (its index gives the ids), or ids=df['id']"
            )
        given, index = list(texts.iloc[:, 0]), list(texts.index)
    elif _is_series(texts):
        given, index = list(texts), list(texts.index)
    elif isinstance(texts, Iterable) and not isinstance(texts, (bytes, bytearray, dict)):
        given = list(texts)
    else:
        raise ConfigError(
            f"texts must be a string, a list of strings or a pandas Series, not {type(texts).__name__}"
        )
    if not given:
        raise ConfigError("texts is empty: there is nothing to speak")
    if ids is not None:
        if isinstance(ids, str):
            raise ConfigError("ids= must be a sequence with one id per text, not a string")
        names = [str(i) for i in ids]
        if len(names) != len(given):
            raise ConfigError(f"ids= has {len(names)} ids for {len(given)} texts: give one id per text")
    else:
        names = [str(i) for i in (index if index is not None else range(len(given)))]
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    repeated = [n for n, k in seen.items() if k > 1]
    if repeated:
        where = "ids=" if ids is not None else "the index of texts"
        shown = ", ".join(repr(n) for n in repeated[:5])
        raise ConfigError(
            f"{where} repeats {shown}: each id names one text's file. Give unique ids (e.g. "
            "texts=series.reset_index(drop=True))"
        )
    return list(zip(names, given, strict=True))


def _is_series(obj: Any) -> bool:
    return type(obj).__name__ == "Series" and hasattr(obj, "index") and hasattr(obj, "iloc")


def _is_frame(obj: Any) -> bool:
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "columns") and hasattr(obj, "iloc")


def file_name(text_id: str) -> str:
    """The file name (without suffix) of the text ``text_id``: the id itself when it is a safe name.

    Anything else (``/``, spaces, a leading dot, ...) is replaced by ``_``, and a short hash of the
    id is added so that two ids never share a file.

    Examples
    --------
    >>> file_name("call-01"), file_name("../etc/passwd")[:10], file_name("")[:5]
    ('call-01', 'etc_passwd', 'text-')
    """
    safe = _UNSAFE.sub("_", text_id).strip("._")[:100]
    if safe == text_id and safe:
        return safe
    tag = hashlib.sha256(text_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{safe}-{tag}" if safe else f"text-{tag}"


@dataclass
class ChunkJob:
    """One request: a chunk's text, its key, and whether it must be sent."""

    text: str
    result: ChunkResult
    stored: bool = False
    twin: ChunkJob | None = None  # the same key earlier in the run: its outcome is copied

    @property
    def primary(self) -> bool:
        return self.twin is None

    def finish(self) -> None:
        """Copy the outcome of the primary job to a duplicate."""
        if self.twin is None:
            return
        src, r = self.twin.result, self.result
        if src.ok:
            r.status, r.request_id, r.path = "duplicate", src.request_id, src.path
            r.duration, r.bytes, r.ttfb = src.duration, src.bytes, src.ttfb
            r.message = f"the same chunk as {src.id!r} chunk {src.chunk}: sent once"
        else:
            for k in ("status", "status_code", "err_code", "message", "retryable", "advice", "attempts"):
                setattr(r, k, getattr(src, k))


@dataclass
class TextJob:
    """One text: its file name and its chunks."""

    result: TextResult
    name: str
    chunks: list[ChunkJob] = field(default_factory=list)


def plan(given: list[tuple[str, Any]], fmt: SpeakFormat, options: str, store: SpeechStore) -> list[TextJob]:
    """One :class:`TextJob` per text: split into chunks, each keyed, found in the store or not.

    ``options`` is the canonical options string (:func:`~dgtools.speech.store.canonical`).  A text
    that cannot be spoken gets a ``skipped`` result with the reason and no chunks.
    """
    jobs: list[TextJob] = []
    first: dict[str, ChunkJob] = {}
    for text_id, text in given:
        t = TextResult(id=text_id, characters=0)
        job = TextJob(result=t, name=file_name(text_id))
        jobs.append(job)
        why = _unspeakable(text, fmt)
        if why is not None:
            t.status, t.retryable = "skipped", False
            t.message, t.advice = why
            t.characters = len(text.strip()) if isinstance(text, str) else 0
            continue
        for i, piece in enumerate(split_text(text)):
            key = speech_key(piece, options)
            c = ChunkResult(id=text_id, chunk=i, characters=len(piece), key=key)
            cj = ChunkJob(text=piece, result=c)
            if key in first:
                cj.twin = first[key]
            else:
                first[key] = cj
                if store.has(key):
                    cj.stored = True
                    c.status, c.message = "stored", "already in the store: not sent again"
            t.chunks.append(c)
            job.chunks.append(cj)
        t.characters = sum(c.characters for c in t.chunks)
    return jobs


def _unspeakable(text: Any, fmt: SpeakFormat) -> tuple[str, str] | None:
    """Why ``text`` cannot be spoken, and the fix; None when it can."""
    if text is None or (isinstance(text, float) and text != text):
        return "no text (a missing value)", "give it a text, or leave it out"
    if not isinstance(text, str):
        return (
            f"not a text but {type(text).__name__} {text!r:.40}",
            "pass strings (e.g. texts=series.astype(str)), or leave it out",
        )
    if not text.strip():
        return "an empty text: there is nothing to speak", "give it a text, or leave it out"
    if len(text.strip()) > MAX_CHARACTERS and not joinable(fmt):
        return (
            f"{len(text.strip()):,} characters need several requests of at most {MAX_CHARACTERS:,}, and "
            f"{fmt.encoding} audio of several requests does not join into one file",
            "use encoding='linear16' (WAV) or 'mp3' for long texts, or split the text into several",
        )
    return None
