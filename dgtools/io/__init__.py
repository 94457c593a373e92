"""Exports of the tables to other tools' formats, one module per format.

- :mod:`dgtools.io.captions`: SubRip (``.srt``), WebVTT (``.vtt``) and ASS
  (``.ass``, with pysubs2) captions (``df.dg.to_srt()``, ``df.dg.to_vtt()``,
  ``df.dg.to_ass()``) under presets and limits, and ``cue_qa``, the table of
  each cue's measures and the limits it breaks (:mod:`dgtools.io.qa`;
  ASS is written in :mod:`dgtools.io.ass`).
- :mod:`dgtools.io.labelstudio`: Label Studio tasks predicting each file's
  lowest-confidence stretches, their labeling config, and the corrected
  tasks read back as WER references (:mod:`dgtools.io.labelstudio_read`).
- :mod:`dgtools.io.stm` (NIST STM and CTM), :mod:`dgtools.io.seglst`
  (meeteval's SegLST), :mod:`dgtools.io.nemo` (NeMo manifests),
  :mod:`dgtools.io.lhotse` (lhotse supervisions, written without lhotse) and
  :mod:`dgtools.io.audacity` (label tracks): a writer and a reader each, on a
  Tables or one table (:mod:`dgtools.io._segments` picks the segments).

Each format has a module here.  Parquet is not an export: it is
how the tables themselves are stored, and lives with them in
:mod:`dgtools.tables`.  Modules here read frames (through
:mod:`dgtools.analysis` where they need words in order) and write text; they
never call the API or the store.
"""

from .ass import to_ass
from .audacity import read_audacity, to_audacity
from .captions import PRESETS, CaptionLimits, Cue, to_srt, to_vtt
from .labelstudio import labelstudio_config, labelstudio_references, read_labelstudio, to_labelstudio
from .lhotse import read_lhotse, to_lhotse
from .nemo import read_nemo, to_nemo
from .qa import cue_qa, parse_cues
from .rttm import read_rttm, to_rttm
from .seglst import read_seglst, to_seglst
from .stm import read_ctm, read_stm, to_ctm, to_stm

__all__ = [
    "PRESETS",
    "CaptionLimits",
    "Cue",
    "cue_qa",
    "labelstudio_config",
    "labelstudio_references",
    "parse_cues",
    "read_audacity",
    "read_ctm",
    "read_labelstudio",
    "read_lhotse",
    "read_nemo",
    "read_rttm",
    "read_seglst",
    "read_stm",
    "to_ass",
    "to_audacity",
    "to_ctm",
    "to_labelstudio",
    "to_lhotse",
    "to_nemo",
    "to_rttm",
    "to_seglst",
    "to_srt",
    "to_stm",
    "to_vtt",
]
