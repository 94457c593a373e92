"""Notebook widgets for exploring and comparing transcripts (ipywidgets, no custom JavaScript).

The logic lives in plain functions that return strings, arrays and frames
(:func:`transcript_html`, :func:`clip`, :func:`low_confidence_stretches`,
:func:`next_stretch`, :func:`word_diff`, :func:`compare_table`); the widget
classes only wire them to controls.  Importing this module imports pandas
and numpy only: ipywidgets, matplotlib, soundfile and librosa load when a
widget is built or a clip is cut.

The package holds one module per job, and this module re-exports their
public names:

- :mod:`~dgtools.widgets.transcript`: :func:`transcript_html`, :func:`clip`,
  :func:`low_confidence_stretches`, :func:`next_stretch` (plain functions);
- :mod:`~dgtools.widgets.browser`: :class:`TranscriptBrowser`, :func:`browse`;
- :mod:`~dgtools.widgets.comparison`: :func:`compare_table`, :func:`diff_html`,
  :class:`Comparison`, :func:`compare` (the diff itself is
  :func:`dgtools.analysis.word_diff`, re-exported here as :func:`word_diff`);
- :mod:`~dgtools.widgets.failures`: :func:`failures_html`, :func:`failures_view`.

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

from ..analysis import word_diff
from ..exceptions import WidgetsUnavailableError
from .browser import TranscriptBrowser, browse
from .comparison import Comparison, compare, compare_table, diff_html
from .failures import failures_html, failures_view
from .transcript import clip, low_confidence_stretches, next_stretch, transcript_html

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
