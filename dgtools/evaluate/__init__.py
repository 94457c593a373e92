"""Word and character error rates of transcripts against reference texts (:func:`wer`).

Alignment is jiwer's (``jiwer.process_words``, ``jiwer.process_characters``):
dgtools normalises both sides the same way, gives jiwer the strings, and
tabulates what it returns.  jiwer is an optional dependency, the ``evaluate``
extra (``pip install 'dgtools[evaluate]'``); calling :func:`wer` without it
raises :class:`~dgtools.MissingDependencyError` naming that command.

- :mod:`~dgtools.evaluate.normalize`: :class:`Normalizer`, the text
  normalisation applied to references and hypotheses;
- :mod:`~dgtools.evaluate.wer`: :func:`wer` and its :class:`WERResult`.
"""

from __future__ import annotations

from .compare import compare_runs
from .normalize import FILLERS, Normalizer
from .wer import WERResult, load_references, wer

__all__ = ["FILLERS", "Normalizer", "WERResult", "compare_runs", "load_references", "wer"]
