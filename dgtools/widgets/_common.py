"""What the widget modules share: loading ipywidgets, safe reprs, one file's words, and audio clips."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._frames import equals
from ..analysis import first_alternative
from ..exceptions import WidgetsUnavailableError

if TYPE_CHECKING:
    from ..tables import Tables

__all__ = ["clip_wav", "file_ids", "file_words", "find_audio", "load_ipywidgets", "safe_bundle"]

#: Suffixes tried after ``<audio_root>/<file_id>`` itself.
_AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus", ".webm", ".aac")


def load_ipywidgets() -> Any:
    """The ``ipywidgets`` module, or :class:`~dgtools.WidgetsUnavailableError` saying how to install it."""
    try:
        import ipywidgets
    except ImportError as exc:
        raise WidgetsUnavailableError("dgtools widgets", package="ipywidgets", extra=None) from exc
    return ipywidgets


def safe_bundle(root: Any, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``root._repr_mimebundle_(**kwargs)``, or a plain-text note of why it cannot be shown: never raises."""
    try:
        out: dict[str, Any] = root._repr_mimebundle_(**kwargs)
        return out
    except Exception as exc:  # notebook reprs never raise (STYLE rule 13)
        return {"text/plain": f"<{name}: cannot be shown ({type(exc).__name__}: {exc})>"}


def file_words(words: pd.DataFrame, file_id: str) -> pd.DataFrame:
    """Words of one file, first alternative, in reading order (start, then channel, then word_index)."""
    df = words[equals(words["file_id"], file_id)] if "file_id" in words else words
    df = first_alternative(df)
    keys = [c for c in ("start", "channel", "word_index") if c in df]
    return df.sort_values(keys, kind="stable", na_position="last") if keys and len(df) else df


def file_ids(tables: Tables) -> list[str]:
    """Every file id of the ``requests`` and ``words`` tables, sorted."""
    ids: list[str] = []
    for frame in (tables.requests, tables.words):
        if "file_id" in frame:
            ids.extend(str(f) for f in frame["file_id"].dropna())
    return sorted(set(ids))


def find_audio(audio_root: Path | None, file_id: str) -> tuple[Path | None, str]:
    """The audio file of ``file_id`` under ``audio_root`` (as is, or with an audio suffix), or why there is none."""
    if audio_root is None:
        return None, "no audio: pass audio_root= to browse() to listen to clips"
    exact = audio_root / file_id
    if exact.is_file():
        return exact, ""
    for suffix in _AUDIO_SUFFIXES:
        p = audio_root / f"{file_id}{suffix}"
        if p.is_file():
            return p, ""
    return None, f"no audio: {str(exact)!r} not found (nor with an audio suffix)"


def clip_wav(path: Path, start: float, end: float, *, pad: float = 0.1) -> bytes:
    """A clip of an audio file as mono 16-bit WAV bytes (soundfile, else librosa)."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
        sr = int(info.samplerate)
        a = max(math.floor((start - pad) * sr), 0)
        b = min(max(math.ceil((end + pad) * sr), a), int(info.frames))
        data, _ = sf.read(str(path), start=a, stop=b, dtype="float32", always_2d=True)
        mono = data.mean(axis=1)
    except (sf.LibsndfileError, RuntimeError):
        import librosa

        offset = max(start - pad, 0.0)
        mono, sr_ = librosa.load(str(path), sr=None, mono=True, offset=offset, duration=end + pad - offset)
        sr = int(sr_)
    buf = io.BytesIO()
    sf.write(buf, mono, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()
