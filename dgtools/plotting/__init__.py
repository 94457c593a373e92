"""Plots of dgtools tables, in the style of seaborn.

Every function takes the data first (a table of :func:`dgtools.to_tables`),
then keyword-only options, draws on ``ax`` (the current Axes,
``plt.gca()``, when ``None``) and returns it; :func:`corpus_overview` builds
and returns a whole :class:`~matplotlib.figure.Figure`.  Nothing here calls
``plt.show()`` or changes ``rcParams``.  Importing this module does not
import matplotlib (nor librosa): they load when a function is first called.

Empty data warns (:class:`UserWarning`) and returns the Axes untouched.
Large tables stay fast: scatter plots keep at most :data:`MAX_POINTS` points
(every k-th point and all low-confidence ones) and big collections are
rasterized.

Colours of speakers come from :func:`speaker_palette`, shared with the
widgets, so a speaker has the same colour in every plot.

Numbers have one definition, that of :mod:`dgtools.analysis.talk`: speaking
time is the span of each turn (first word start to last word end), a share is
of the file's speaking time, counts are integers.  So the speaker lanes'
shares, the talk-time bars and ``df.dg.talk_time()`` agree, whichever of the
words, utterances or turns tables they are drawn from.

The package holds one module per kind of plot, and this module re-exports
their public names:

- :mod:`~dgtools.plotting.timeline`: :func:`confidence_timeline`, :func:`search_hits`;
- :mod:`~dgtools.plotting.speakers`: :func:`speaker_lanes`, :func:`talk_time`;
- :mod:`~dgtools.plotting.distribution`: :func:`confidence_distribution`;
- :mod:`~dgtools.plotting.corpus`: :func:`corpus_overview`, :func:`save_plots`;
- :mod:`~dgtools.plotting.stream`: :func:`stream_latency` (live streams);
- :mod:`~dgtools.plotting.metrics`: :func:`metric_by_file` (runs compared by :func:`dgtools.compare_runs`);
- ``_common``: the palette, colours and Axes helpers they share.

Plots read tables only, computing what they draw with
:mod:`dgtools.analysis` (never through ``df.dg``).

Examples
--------
>>> import dgtools
>>> from dgtools import plotting
>>> from matplotlib.figure import Figure
>>> tables = dgtools.to_tables("data/responses")
>>> plotting.confidence_timeline(tables.words, file_id="podcast_mono", ax=Figure().subplots())
<Axes: title={'center': 'podcast_mono'}, xlabel='time (s)', ylabel='confidence'>
>>> plotting.speaker_lanes(tables.utterances, file_id="support_call_diarized", ax=Figure().subplots())
<Axes: title={'center': 'support_call_diarized'}, xlabel='time (s)', ylabel='speaker (share of speaking time)'>
"""

from __future__ import annotations

from .._frames import Floats as Floats  # type aliases of the signatures, importable as before
from ._common import MAX_POINTS, speaker_palette
from .corpus import corpus_overview, save_plots
from .distribution import confidence_distribution
from .metrics import metric_by_file
from .speakers import speaker_lanes, talk_time
from .stream import stream_latency
from .timeline import Waveform as Waveform
from .timeline import confidence_timeline, search_hits

__all__ = [
    "MAX_POINTS",
    "confidence_distribution",
    "confidence_timeline",
    "corpus_overview",
    "metric_by_file",
    "save_plots",
    "search_hits",
    "speaker_lanes",
    "speaker_palette",
    "stream_latency",
    "talk_time",
]
