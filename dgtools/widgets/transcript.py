"""Notebook widgets for exploring and comparing transcripts (ipywidgets, no custom JavaScript).

The logic lives in plain functions that return strings, arrays and frames
(:func:`transcript_html`, :func:`clip`, :func:`low_confidence_stretches`,
:func:`next_stretch`, :func:`word_diff`, :func:`compare_table`); the widget
classes only wire them to controls.  Importing this module imports pandas
and numpy only: ipywidgets, matplotlib, soundfile and librosa load when a
widget is built or a clip is cut.

Widgets have one root box (``.root``); ``_repr_mimebundle_`` delegates to
it and never raises.  Nothing here calls ``display()``: show a widget by
making it the last expression of a cell.

Examples
--------
>>> import dgtools
>>> from dgtools import widgets
>>> tables = dgtools.to_tables("data/responses")                       # doctest: +SKIP
>>> widgets.browse(tables, audio_root="audio/")                         # doctest: +SKIP
>>> widgets.compare(tables_nova2, tables_nova3, labels=("nova-2", "nova-3"))  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import html
import io
import math
import re
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from .exceptions import ConfigError, WidgetsUnavailableError

if TYPE_CHECKING:
    from .batch import Run
    from .tables import Tables

__all__ = [
    "Comparison",
    "TranscriptBrowser",
    "WidgetsUnavailableError",
    "browse",
    "clip",
    "compare",
    "compare_table",
    "diff_html",
    "failures_html",
    "failures_view",
    "low_confidence_stretches",
    "next_stretch",
    "transcript_html",
    "word_diff",
]

#: Red of the confidence scale (tab:red).
_RED = (214, 39, 40)
#: Suffixes tried after ``<audio_root>/<file_id>`` itself.
_AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus", ".webm", ".aac")


def _ipywidgets() -> Any:
    try:
        import ipywidgets
    except ImportError as exc:
        raise WidgetsUnavailableError("dgtools widgets", package="ipywidgets", extra=None) from exc
    return ipywidgets


# ------------------------------------------------------------------ helpers


def _floats(s: pd.Series) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = s.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _mask(s: pd.Series, value: Any) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = (s == value).fillna(False).to_numpy(dtype=bool)
    return out


def _null(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _plain(v: Any) -> Any:
    """Python scalar (None for nulls) of a pandas/numpy/Arrow value."""
    if _null(v):
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def _file_words(words: pd.DataFrame, file_id: str) -> pd.DataFrame:
    """Words of one file, first alternative, in reading order (start, then channel)."""
    df = words[_mask(words["file_id"], file_id)] if "file_id" in words else words
    if "alternative" in df and len(df):
        alt = _floats(df["alternative"])
        df = df[(alt == 0) | np.isnan(alt)]
    keys = [c for c in ("start", "channel", "word_index") if c in df]
    return df.sort_values(keys, kind="stable", na_position="last") if keys and len(df) else df


def _tokens(df: pd.DataFrame) -> list[str]:
    col = "punctuated_word" if "punctuated_word" in df else "word"
    out = []
    for p, w in zip(df[col], df["word"] if "word" in df else df[col], strict=True):
        out.append(str(w) if _null(p) else str(p))
    return out


_STRIP = re.compile(r"^\W+|\W+$")


def _norm(token: str) -> str:
    return _STRIP.sub("", token.casefold())


def _file_ids(tables: Tables) -> list[str]:
    ids: list[str] = []
    for frame in (tables.requests, tables.words):
        if "file_id" in frame:
            ids.extend(str(f) for f in frame["file_id"].dropna())
    return sorted(set(ids))


def _safe_bundle(root: Any, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    try:
        out: dict[str, Any] = root._repr_mimebundle_(**kwargs)
        return out
    except Exception as exc:  # notebook reprs never raise (STYLE rule 13)
        return {"text/plain": f"<{name}: cannot be shown ({type(exc).__name__}: {exc})>"}


# ---------------------------------------------------------- transcript_html


def _rgba(confidence: float) -> str:
    alpha = 0.0 if math.isnan(confidence) else min(max(1.0 - confidence, 0.0), 1.0)
    return f"rgba({_RED[0]},{_RED[1]},{_RED[2]},{alpha:.2f})"


def transcript_html(
    words: pd.DataFrame,
    *,
    file_id: str,
    channel: int | None = None,
    speaker: int | None = None,
    min_confidence: float = 0.0,
    highlight: tuple[float, float] | None = None,
) -> str:
    """The transcript of one file as HTML, each word coloured by its confidence.

    Parameters
    ----------
    words : pandas.DataFrame
        The ``words`` table (only the first alternative is shown).
    file_id : str
        The file to show.
    channel, speaker : int, optional
        Show one channel or one speaker only.
    min_confidence : float, default 0.0
        Words below it are marked low (class ``dg-low``, bold, underlined).
    highlight : (start, end), optional
        Words overlapping this time range get class ``dg-hl`` and an outline.

    Returns
    -------
    str
        ``<div class="dg-transcript">`` holding one ``<span class="dg-word">``
        per word: its background is red with alpha ``1 - confidence`` (two
        decimals) and its ``title`` gives its time and confidence.  A
        ``<span class="dg-speaker">`` label in :func:`~dgtools.plotting.speaker_palette`
        colours starts every speaker (or channel) change.  All text is
        HTML-escaped.
    """
    from .plotting import speaker_palette

    df = _file_words(words, file_id)
    if channel is not None and "channel" in df:
        df = df[_mask(df["channel"], channel)]
    palette = speaker_palette(df["speaker"]) if "speaker" in df else {}
    if speaker is not None and "speaker" in df:
        df = df[_mask(df["speaker"], speaker)]
    if df.empty:
        return '<div class="dg-transcript"><i>no words</i></div>'
    tokens = _tokens(df)
    start, end, conf = _floats(df["start"]), _floats(df["end"]), _floats(df["confidence"])
    spk = [_plain(v) for v in df["speaker"]] if "speaker" in df else [None] * len(df)
    chan = [_plain(v) for v in df["channel"]] if "channel" in df else [None] * len(df)
    diarized = any(s is not None for s in spk)
    multichannel = len({c for c in chan if c is not None}) > 1
    parts: list[str] = []
    previous: tuple[Any, Any] | None = None
    for i, token in enumerate(tokens):
        key = (chan[i] if multichannel else None, spk[i] if diarized else None)
        if (diarized or multichannel) and key != previous:
            if previous is not None:
                parts.append("<br>")
            label = []
            if multichannel:
                label.append(f"Channel {chan[i]}")
            if diarized:
                label.append("no speaker" if spk[i] is None else f"Speaker {spk[i]}")
            colour = palette.get(spk[i], "#000000") if diarized else "#000000"
            parts.append(
                f'<span class="dg-speaker" style="color:{colour};font-weight:bold">'
                f"{html.escape(' · '.join(label))}:</span> "
            )
        previous = key
        c = conf[i]
        classes = ["dg-word"]
        style = f"background:{_rgba(c)}"
        if not math.isnan(c) and c < min_confidence:
            classes.append("dg-low")
            style += ";font-weight:bold;text-decoration:underline"
        if highlight is not None and start[i] < highlight[1] and end[i] > highlight[0]:
            classes.append("dg-hl")
            style += ";outline:2px solid #1f77b4"
        shown_conf = "n/a" if math.isnan(c) else f"{c:.2f}"
        title = f"{start[i]:.2f}-{end[i]:.2f} s, confidence {shown_conf}"
        parts.append(
            f'<span class="{" ".join(classes)}" style="{style}" title="{html.escape(title)}">'
            f"{html.escape(token)}</span> "
        )
    return '<div class="dg-transcript" style="line-height:1.9">' + "".join(parts).rstrip() + "</div>"


# -------------------------------------------------------------------- audio


def clip(
    audio: npt.NDArray[Any], sr: float, start: float, end: float, *, pad: float = 0.1
) -> npt.NDArray[Any]:
    """The samples from ``start - pad`` to ``end + pad`` seconds (clamped to the signal).

    ``audio`` is ``(samples,)`` or ``(samples, channels)``; the slice is a view.
    """
    if sr <= 0:
        raise ConfigError(f"clip: sr={sr!r} must be positive")
    if end < start:
        raise ConfigError(f"clip: end={end!r} is before start={start!r}")
    n = audio.shape[0]
    a = min(max(math.floor((start - pad) * sr), 0), n)
    b = min(max(math.ceil((end + pad) * sr), a), n)
    return audio[a:b]


def _find_audio(audio_root: Path | None, file_id: str) -> tuple[Path | None, str]:
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


def _clip_wav(path: Path, start: float, end: float, *, pad: float = 0.1) -> bytes:
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


# ----------------------------------------------------- low-confidence runs


def low_confidence_stretches(words: pd.DataFrame, file_id: str, threshold: float) -> pd.DataFrame:
    """Runs of words below ``threshold`` in one file (``df.dg.low_confidence``), by start time.

    Columns ``file_id, channel, start, end, n_words, text, mean_confidence``;
    the index is ``0..n-1``.
    """
    df = _file_words(words, file_id)
    if df.empty:
        df = words.iloc[:0]
    out = df.dg.low_confidence(threshold)
    return out.sort_values(["start", "channel"], kind="stable").reset_index(drop=True)


def next_stretch(stretches: pd.DataFrame, t: float, direction: Literal[1, -1] = 1) -> pd.Series | None:
    """The first stretch starting after ``t`` (``direction=+1``) or the last starting before it (``-1``).

    Returns the row (a Series) or ``None`` when there is none that way.
    """
    if direction not in (1, -1):
        raise ConfigError(f"next_stretch: direction={direction!r} must be +1 or -1")
    if stretches.empty:
        return None
    starts = _floats(stretches["start"])
    eps = 1e-9
    idx = np.flatnonzero(starts > t + eps) if direction == 1 else np.flatnonzero(starts < t - eps)
    if len(idx) == 0:
        return None
    pick = idx[np.argmin(starts[idx])] if direction == 1 else idx[np.argmax(starts[idx])]
    row: pd.Series = stretches.iloc[int(pick)]
    return row


# ------------------------------------------------------------------ diffing


def _as_tokens(words: pd.DataFrame | Sequence[str]) -> list[str]:
    if isinstance(words, pd.DataFrame):
        return _tokens(words)
    return [str(w) for w in words]


def word_diff(
    a_words: pd.DataFrame | Sequence[str], b_words: pd.DataFrame | Sequence[str]
) -> list[tuple[str, str, str]]:
    """Word-level diff of two transcripts.

    Words are compared case- and punctuation-insensitively
    (:class:`difflib.SequenceMatcher`, no autojunk) and returned as written.

    Parameters
    ----------
    a_words, b_words : DataFrame or sequence of str
        Words of one file (a words table slice, in order) or lists of words.

    Returns
    -------
    list of (op, a_text, b_text)
        ``op`` is ``"equal"``, ``"replace"``, ``"insert"`` (words only in b;
        ``a_text`` is ``""``) or ``"delete"`` (words only in a; ``b_text`` is
        ``""``); texts are the words of the chunk joined by spaces.

    Examples
    --------
    >>> word_diff(["the", "cat", "sat"], ["The", "dog", "sat", "down"])
    [('equal', 'the', 'The'), ('replace', 'cat', 'dog'), ('equal', 'sat', 'sat'), ('insert', '', 'down')]
    """
    a, b = _as_tokens(a_words), _as_tokens(b_words)
    sm = difflib.SequenceMatcher(None, [_norm(w) for w in a], [_norm(w) for w in b], autojunk=False)
    return [(op, " ".join(a[i1:i2]), " ".join(b[j1:j2])) for op, i1, i2, j1, j2 in sm.get_opcodes()]


def _diff_rate(a: list[str], b: list[str]) -> float:
    """(substitutions + deletions + insertions) / len(a), from SequenceMatcher opcodes."""
    sm = difflib.SequenceMatcher(None, [_norm(w) for w in a], [_norm(w) for w in b], autojunk=False)
    errors = 0
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op != "equal":
            errors += max(i2 - i1, j2 - j1)
    if not a:
        return 0.0 if not b else math.inf
    return errors / len(a)


def _file_stats(tables: Tables, file_id: str) -> tuple[list[str], float, int, float]:
    w = _file_words(tables.words, file_id)
    tokens = _tokens(w) if len(w) else []
    conf = (
        float(np.nanmean(_floats(w["confidence"]))) if len(w) and w["confidence"].notna().any() else math.nan
    )
    speakers = int(w["speaker"].dropna().nunique()) if "speaker" in w and len(w) else 0
    req = tables.requests
    dur = _floats(req.loc[_mask(req["file_id"], file_id), "duration"]) if "duration" in req else np.array([])
    duration = float(dur[0]) if len(dur) else math.nan
    return tokens, conf, speakers, duration


def compare_table(a: Tables, b: Tables, labels: tuple[str, str] = ("a", "b")) -> pd.DataFrame:
    """Per-file differences between two sets of tables (e.g. two models on the same audio).

    Returns
    -------
    pandas.DataFrame
        One row per file of either set (sorted by ``file_id``) with, for
        each label ``x``: ``words_x``, ``mean_confidence_x``, ``speakers_x``
        (distinct non-null speakers), ``duration_x`` (from ``requests``); the
        deltas ``words_delta``, ``mean_confidence_delta``, ``speakers_delta``,
        ``duration_delta`` (b minus a); and ``word_diff_rate``: substituted,
        deleted and inserted words of b against a, over a's word count (a
        WER with a as the reference; ``inf`` when a has no words and b has
        some).  Missing values are NaN.
    """
    la, lb = labels
    if la == lb:
        raise ConfigError(f"compare_table: labels must differ, got {labels!r}")
    ids_a, ids_b = set(_file_ids(a)), set(_file_ids(b))
    rows = []
    for fid in sorted(ids_a | ids_b):
        sa = _file_stats(a, fid) if fid in ids_a else None
        sb = _file_stats(b, fid) if fid in ids_b else None
        row: dict[str, Any] = {"file_id": fid}
        for label, s in ((la, sa), (lb, sb)):
            row[f"words_{label}"] = float(len(s[0])) if s else math.nan
            row[f"mean_confidence_{label}"] = s[1] if s else math.nan
            row[f"speakers_{label}"] = float(s[2]) if s else math.nan
            row[f"duration_{label}"] = s[3] if s else math.nan
        for what in ("words", "mean_confidence", "speakers", "duration"):
            row[f"{what}_delta"] = row[f"{what}_{lb}"] - row[f"{what}_{la}"]
        row["word_diff_rate"] = _diff_rate(sa[0], sb[0]) if sa and sb else math.nan
        rows.append(row)
    columns = ["file_id"]
    for what in ("words", "mean_confidence", "speakers", "duration"):
        columns += [f"{what}_{la}", f"{what}_{lb}", f"{what}_delta"]
    columns.append("word_diff_rate")
    out = pd.DataFrame(rows, columns=columns)
    for c in columns[1:]:
        out[c] = out[c].astype(np.float64)
    return out


def diff_html(ops: list[tuple[str, str, str]], labels: tuple[str, str] = ("a", "b")) -> str:
    """Two columns of HTML from :func:`word_diff`: deleted words struck in a, inserted ones marked in b."""
    left: list[str] = []
    right: list[str] = []
    for op, at, bt in ops:
        ea, eb = html.escape(at), html.escape(bt)
        if op == "equal":
            left.append(ea)
            right.append(eb)
        elif op == "delete":
            left.append(f'<del class="dg-delete" style="background:#fdd">{ea}</del>')
        elif op == "insert":
            right.append(f'<ins class="dg-insert" style="background:#dfd">{eb}</ins>')
        else:
            left.append(f'<del class="dg-replace" style="background:#ffe4b3">{ea}</del>')
            right.append(f'<ins class="dg-replace" style="background:#ffe4b3">{eb}</ins>')
    cell = 'style="vertical-align:top;padding:4px;width:50%"'
    return (
        '<table class="dg-diff" style="width:100%;table-layout:fixed"><tr>'
        f"<th>{html.escape(labels[0])}</th><th>{html.escape(labels[1])}</th></tr>"
        f"<tr><td {cell}>{' '.join(left)}</td><td {cell}>{' '.join(right)}</td></tr></table>"
    )


# ---------------------------------------------------------------- browser


#: The "all" choice of the channel and speaker dropdowns (channels and speakers are >= 0).
_ALL = -1


def _chosen(value: Any) -> Any:
    """A dropdown's value, with "all" as None."""
    return None if value == _ALL else value


class TranscriptBrowser:
    """Browse the transcripts of a set of tables: see :func:`browse`.

    Attributes (all ipywidgets): ``root`` (the VBox shown), ``file``,
    ``channel``, ``speaker`` (Dropdowns), ``confidence`` (FloatSlider: words
    and stretches below it are low), ``query`` (Text, a regular expression)
    and ``hits`` (Select), ``segments`` (Select of utterances, or of turns
    when the file has none), ``transcript`` (HTML), ``previous_low`` and
    ``next_low`` (Buttons), ``audio`` (an ``ipywidgets.Audio`` of the last
    clip, or ``None``), ``audio_message`` (Label: why there is no audio),
    ``status`` (Label) and ``timeline`` (Image: the confidence timeline as
    PNG).  ``position`` is the current time in seconds and ``highlight`` the
    highlighted (start, end).
    """

    def __init__(self, tables: Tables, *, audio_root: str | PathLike[str] | None = None) -> None:
        w = _ipywidgets()
        self._w = w
        self.tables = tables
        self.audio_root = None if audio_root is None else Path(audio_root)
        self.position = 0.0
        self.highlight: tuple[float, float] | None = None
        self.audio: Any = None
        self._hits = pd.DataFrame()
        self._segments = pd.DataFrame()
        self._stretches = pd.DataFrame()

        ids = [str(f) for f in pd.unique(tables.words["file_id"].dropna())] if len(tables.words) else []
        ids = sorted(ids) or _file_ids(tables)
        self.file = w.Dropdown(options=ids, value=ids[0] if ids else None, description="file")
        # ipywidgets 8 shows a Dropdown whose value is None as blank: "all" is the sentinel _ALL
        self.channel = w.Dropdown(options=[("all", _ALL)], value=_ALL, description="channel")
        self.speaker = w.Dropdown(options=[("all", _ALL)], value=_ALL, description="speaker")
        self.confidence = w.FloatSlider(
            value=0.6, min=0.0, max=1.0, step=0.05, description="low below", continuous_update=False
        )
        self.query = w.Text(
            value="", placeholder="regular expression", description="search", continuous_update=False
        )
        self.hits = w.Select(options=[], value=None, description="hits", rows=5)
        self.segments = w.Select(options=[], value=None, description="segments", rows=6)
        self.previous_low = w.Button(description="◀ low confidence")
        self.next_low = w.Button(description="low confidence ▶")
        self.status = w.Label(value="")
        self.transcript = w.HTML(value="")
        self.audio_message = w.Label(value="")
        self.audio_box = w.VBox([self.audio_message])
        self.timeline = w.Image(format="png", layout=w.Layout(width="100%"))
        self.root = w.VBox(
            [
                w.HBox([self.file, self.channel, self.speaker]),
                w.HBox([self.confidence, self.previous_low, self.next_low, self.status]),
                w.HBox([self.query, self.hits]),
                self.segments,
                self.audio_box,
                self.transcript,
                self.timeline,
            ]
        )

        self.file.observe(self._on_file, names="value")
        for control in (self.channel, self.speaker):
            control.observe(self._on_filter, names="value")
        self.confidence.observe(self._on_confidence, names="value")
        self.query.observe(self._on_query, names="value")
        self.hits.observe(self._on_hit, names="value")
        self.segments.observe(self._on_segment, names="value")
        self.previous_low.on_click(lambda _b: self.step(-1))
        self.next_low.on_click(lambda _b: self.step(+1))
        self._on_file()

    # -- display
    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return _safe_bundle(self.root, "TranscriptBrowser", kwargs)

    def __repr__(self) -> str:
        return f"<TranscriptBrowser file={self.file.value!r} position={self.position:.2f}>"

    # -- state
    def _words(self) -> pd.DataFrame:
        fid = self.file.value
        return _file_words(self.tables.words, fid) if fid is not None else self.tables.words.iloc[:0]

    def _render(self) -> None:
        fid = self.file.value
        if fid is None:
            self.transcript.value = '<div class="dg-transcript"><i>no files</i></div>'
            return
        self.transcript.value = transcript_html(
            self.tables.words,
            file_id=fid,
            channel=_chosen(self.channel.value),
            speaker=_chosen(self.speaker.value),
            min_confidence=self.confidence.value,
            highlight=self.highlight,
        )

    # -- observers
    def _on_file(self, _change: Any = None) -> None:
        words = self._words()
        chans = sorted({int(c) for c in words["channel"].dropna()}) if "channel" in words else []
        spks = sorted({int(s) for s in words["speaker"].dropna()}) if "speaker" in words else []
        with self.channel.hold_trait_notifications(), self.speaker.hold_trait_notifications():
            self.channel.options = [("all", _ALL)] + [(str(c), c) for c in chans]
            self.channel.value = _ALL
            self.speaker.options = [("all", _ALL)] + [(str(s), s) for s in spks]
            self.speaker.value = _ALL
        self.position, self.highlight = 0.0, None
        self._set_no_audio("")
        self._load_segments()
        self._stretches = self._compute_stretches()
        self._on_query()
        self._render()
        self._draw_timeline()

    def _on_filter(self, _change: Any = None) -> None:
        self._render()

    def _on_confidence(self, _change: Any = None) -> None:
        self._stretches = self._compute_stretches()
        self._render()
        self._draw_timeline()

    def _compute_stretches(self) -> pd.DataFrame:
        fid = self.file.value
        if fid is None or self.tables.words.empty:
            return pd.DataFrame()
        return low_confidence_stretches(self.tables.words, fid, self.confidence.value)

    def _load_segments(self) -> None:
        fid = self.file.value
        segs = pd.DataFrame()
        col = "transcript"
        for table, text in ((self.tables.utterances, "transcript"), (self.tables.turns, "text")):
            if len(table) and fid is not None:
                rows = table[_mask(table["file_id"], fid)]
                if len(rows):
                    segs, col = rows.sort_values("start", kind="stable").reset_index(drop=True), text
                    break
        self._segments = segs
        options = []
        for i, (s, e, t, spk) in enumerate(
            zip(
                _floats(segs["start"]) if len(segs) else [],
                _floats(segs["end"]) if len(segs) else [],
                segs[col] if len(segs) else [],
                segs["speaker"] if len(segs) else [],
                strict=True,
            )
        ):
            who = "" if _null(spk) else f"[{int(spk)}] "
            text = "" if _null(t) else str(t)
            options.append((f"{s:6.2f}-{e:.2f}s {who}{text[:80]}", i))
        self.segments.options = options
        self.segments.value = None

    def _on_query(self, _change: Any = None) -> None:
        pattern = self.query.value.strip()
        words = self._words()
        hits = pd.DataFrame()
        self.status.value = ""
        if pattern and len(words):
            if _chosen(self.channel.value) is not None:
                words = words[_mask(words["channel"], self.channel.value)]
            try:
                hits = words.dg.search(pattern)
            except ConfigError as exc:
                self.status.value = str(exc)
                hits = pd.DataFrame()
            if len(hits):
                hits = hits.sort_values("start", kind="stable").reset_index(drop=True)
            self.status.value = self.status.value or f"{len(hits)} hit(s) for {pattern!r}"
        self._hits = hits
        self.hits.options = [
            (f"{s:6.2f}s  {c}", i)
            for i, (s, c) in enumerate(
                zip(_floats(hits["start"]) if len(hits) else [], hits.get("context", []), strict=True)
            )
        ]
        self.hits.value = None

    def _on_hit(self, change: Any) -> None:
        i = change["new"] if isinstance(change, dict) else self.hits.value
        if i is None or i >= len(self._hits):
            return
        row = self._hits.iloc[i]
        self.go_to(float(row["start"]), float(row["end"]))

    def _on_segment(self, change: Any) -> None:
        i = change["new"] if isinstance(change, dict) else self.segments.value
        if i is None or i >= len(self._segments):
            return
        row = self._segments.iloc[i]
        self.go_to(float(row["start"]), float(row["end"]))

    # -- actions
    def go_to(self, start: float, end: float) -> None:
        """Move to ``start``, highlight ``start..end`` and cut its clip (when audio is available)."""
        self.position = start
        self.highlight = (start, end)
        self._render()
        self._play(start, end)

    def step(self, direction: Literal[1, -1]) -> pd.Series | None:
        """Go to the next (``+1``) or previous (``-1``) low-confidence stretch; returns it or None."""
        row = next_stretch(self._stretches, self.position, direction)
        if row is None:
            self.status.value = "no further low-confidence stretch" if direction == 1 else "no earlier one"
            return None
        self.status.value = f"low confidence {float(row['mean_confidence']):.2f}: {row['text']}"
        self.go_to(float(row["start"]), float(row["end"]))
        return row

    def _set_no_audio(self, why: str) -> None:
        self.audio = None
        self.audio_message.value = why
        self.audio_box.children = [self.audio_message]

    def _play(self, start: float, end: float) -> None:
        path, why = _find_audio(self.audio_root, self.file.value)
        if path is None:
            self._set_no_audio(why)
            return
        try:
            data = _clip_wav(path, start, end)
        except Exception as exc:  # unreadable audio: say why instead of breaking the widget
            self._set_no_audio(f"no audio: cannot read {path.name}: {type(exc).__name__}: {exc}")
            return
        self.audio = self._w.Audio(value=data, format="wav", autoplay=False, loop=False)
        self.audio_message.value = f"{path.name} {start:.2f}-{end:.2f} s"
        self.audio_box.children = [self.audio_message, self.audio]

    def _draw_timeline(self) -> None:
        words = self._words()
        if words.empty:
            self.timeline.value = b""
            return
        try:
            from matplotlib.figure import Figure

            from .plotting import confidence_timeline

            fig = Figure(figsize=(9, 2.5))
            ax = fig.add_subplot()
            confidence_timeline(
                words,
                file_id=self.file.value,
                threshold=self.confidence.value,
                search_hits=self.tables.search_hits,
                ax=ax,
            )
            ax.set_title(str(self.file.value))
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=80)
            self.timeline.value = buf.getvalue()
        except ImportError:
            self.timeline.value = b""


def browse(tables: Tables, *, audio_root: str | PathLike[str] | None = None) -> TranscriptBrowser:
    """An interactive transcript browser for a notebook.

    Pick a file (and channel or speaker); words are coloured by confidence,
    words below the slider's value marked; search a regular expression and
    pick a hit, or pick an utterance or turn, to highlight it and (with
    ``audio_root``, holding ``<file_id>`` or ``<file_id>.<suffix>``) listen to
    its clip; step through low-confidence stretches with the buttons.

    Raises
    ------
    WidgetsUnavailableError
        ipywidgets is not installed (``pip install ipywidgets``).
    """
    return TranscriptBrowser(tables, audio_root=audio_root)


# -------------------------------------------------------------- comparison


class Comparison:
    """Two sets of tables side by side: see :func:`compare`.

    Attributes: ``root`` (VBox), ``file`` (Dropdown), ``diff`` (HTML: the
    word diff of the chosen file), ``summary`` (HTML: ``table``), ``table``
    (the :func:`compare_table` DataFrame).
    """

    def __init__(self, a: Tables, b: Tables, *, labels: tuple[str, str] = ("a", "b")) -> None:
        w = _ipywidgets()
        self.a, self.b, self.labels = a, b, labels
        self.table = compare_table(a, b, labels)
        ids = list(self.table["file_id"])
        self.file = w.Dropdown(options=ids, value=ids[0] if ids else None, description="file")
        self.diff = w.HTML(value="")
        self.summary = w.HTML(value=self.table.to_html(index=False, float_format=lambda v: f"{v:.3f}"))
        self.root = w.VBox([self.summary, self.file, self.diff])
        self.file.observe(self._on_file, names="value")
        self._on_file()

    def _on_file(self, _change: Any = None) -> None:
        fid = self.file.value
        if fid is None:
            self.diff.value = "<i>no files</i>"
            return
        ops = word_diff(_file_words(self.a.words, fid), _file_words(self.b.words, fid))
        self.diff.value = diff_html(ops, self.labels)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return _safe_bundle(self.root, "Comparison", kwargs)

    def __repr__(self) -> str:
        return f"<Comparison {self.labels[0]!r} vs {self.labels[1]!r}: {len(self.table)} files>"


def compare(a: Tables, b: Tables, *, labels: tuple[str, str] = ("a", "b")) -> Comparison:
    """Compare two transcriptions of the same files (per-file table and word diff).

    Raises
    ------
    WidgetsUnavailableError
        ipywidgets is not installed (``pip install ipywidgets``).
    """
    return Comparison(a, b, labels=labels)


# ----------------------------------------------------------------- failures


def failures_html(failures: pd.DataFrame) -> str:
    """HTML of a ``Run.failures`` frame (file, status, message, advice), escaped; "no failures" when empty."""
    if failures.empty:
        return '<p class="dg-failures">no failures</p>'
    cols = [c for c in ("file", "status", "message", "advice") if c in failures]
    shown: str = failures[cols].to_html(index=False, escape=True, na_rep="", classes="dg-failures")
    return shown


def failures_view(run: Run) -> Any:
    """The failures of a :class:`~dgtools.Run` as an ``ipywidgets.HTML``.

    Raises
    ------
    WidgetsUnavailableError
        ipywidgets is not installed (``pip install ipywidgets``).
    """
    w = _ipywidgets()
    return w.HTML(value=failures_html(run.failures))
