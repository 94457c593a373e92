"""Exports of the tables to other tools' formats, one module per format.

- :mod:`dgtools.io.captions`: SubRip (``.srt``) and WebVTT (``.vtt``) captions
  (``df.dg.to_srt()``, ``df.dg.to_vtt()``).

Later formats get a module each here: RTTM, STM/CTM and SegLST (scoring
tools), NeMo manifests, Label Studio tasks.  Parquet is not an export: it is
how the tables themselves are stored, and lives with them in
:mod:`dgtools.tables`.  Modules here read frames (through
:mod:`dgtools.analysis` where they need words in order) and write text; they
never call the API or the store.
"""
