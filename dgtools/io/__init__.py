"""Exports of the tables to other tools' formats, one module per format.

- :mod:`dgtools.io.captions`: SubRip (``.srt``), WebVTT (``.vtt``) and ASS
  (``.ass``, with pysubs2) captions (``df.dg.to_srt()``, ``df.dg.to_vtt()``,
  ``df.dg.to_ass()``) under presets and limits, and ``cue_qa``, the table of
  each cue's measures and the limits it breaks (:mod:`dgtools.io.qa`;
  ASS is written in :mod:`dgtools.io.ass`).
- :mod:`dgtools.io.labelstudio`: Label Studio tasks predicting each file's
  lowest-confidence stretches, their labeling config, and the corrected
  tasks read back as WER references (:mod:`dgtools.io.labelstudio_read`).

Later formats get a module each here: RTTM, STM/CTM and SegLST (scoring
tools), NeMo manifests, Label Studio tasks.  Parquet is not an export: it is
how the tables themselves are stored, and lives with them in
:mod:`dgtools.tables`.  Modules here read frames (through
:mod:`dgtools.analysis` where they need words in order) and write text; they
never call the API or the store.
"""

from .ass import to_ass
from .captions import PRESETS, CaptionLimits, Cue, to_srt, to_vtt
from .labelstudio import labelstudio_config, labelstudio_references, read_labelstudio, to_labelstudio
from .qa import cue_qa, parse_cues

__all__ = [
    "PRESETS",
    "CaptionLimits",
    "Cue",
    "cue_qa",
    "labelstudio_config",
    "labelstudio_references",
    "parse_cues",
    "read_labelstudio",
    "to_ass",
    "to_labelstudio",
    "to_srt",
    "to_vtt",
]
