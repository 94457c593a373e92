"""The transcript browser widget: :class:`TranscriptBrowser` and :func:`browse`."""

from __future__ import annotations

import io
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from .._frames import equals, floats, is_null
from ..analysis import search
from ..exceptions import ConfigError
from ..plotting import confidence_timeline
from ._common import clip_wav, file_ids, file_words, find_audio, load_ipywidgets, safe_bundle
from .transcript import low_confidence_stretches, next_stretch, transcript_html

if TYPE_CHECKING:
    from ..tables import Tables

__all__ = ["TranscriptBrowser", "browse"]

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
        w = load_ipywidgets()
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
        ids = sorted(ids) or file_ids(tables)
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
        return safe_bundle(self.root, "TranscriptBrowser", kwargs)

    def __repr__(self) -> str:
        return f"<TranscriptBrowser file={self.file.value!r} position={self.position:.2f}>"

    # -- state
    def _words(self) -> pd.DataFrame:
        fid = self.file.value
        return file_words(self.tables.words, fid) if fid is not None else self.tables.words.iloc[:0]

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
                rows = table[equals(table["file_id"], fid)]
                if len(rows):
                    segs, col = rows.sort_values("start", kind="stable").reset_index(drop=True), text
                    break
        self._segments = segs
        options = []
        for i, (s, e, t, spk) in enumerate(
            zip(
                floats(segs["start"]) if len(segs) else [],
                floats(segs["end"]) if len(segs) else [],
                segs[col] if len(segs) else [],
                segs["speaker"] if len(segs) else [],
                strict=True,
            )
        ):
            who = "" if is_null(spk) else f"[{int(spk)}] "
            text = "" if is_null(t) else str(t)
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
                words = words[equals(words["channel"], self.channel.value)]
            try:
                hits = search(words, pattern, caller="dgtools.widgets.browse() search")
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
                zip(floats(hits["start"]) if len(hits) else [], hits.get("context", []), strict=True)
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
        path, why = find_audio(self.audio_root, self.file.value)
        if path is None:
            self._set_no_audio(why)
            return
        try:
            data = clip_wav(path, start, end)
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

    Examples
    --------
    >>> import dgtools
    >>> browser = browse(dgtools.to_tables("data/responses"))
    >>> browser
    <TranscriptBrowser file='clinic_call_stereo' position=0.00>
    >>> browser.file.value = "support_call_diarized"
    >>> browser.confidence.value = 0.9     # words below 0.9 are low
    >>> browser.step(+1)["text"]           # the first low-confidence stretch
    'Northwind'
    >>> browser.status.value, browser.highlight
    ('low confidence 0.88: Northwind', (2.39, 2.97))
    """
    return TranscriptBrowser(tables, audio_root=audio_root)
