"""Word and character error rates of transcripts against reference texts (:func:`wer`).

Alignment is jiwer's (``jiwer.process_words``, ``jiwer.process_characters``):
dgtools normalises both sides the same way, gives jiwer the strings, and
tabulates what it returns.  jiwer is an optional dependency, the ``evaluate``
extra (``pip install 'dgtools[evaluate]'``); calling :func:`wer` without it
raises :class:`~dgtools.MissingDependencyError` naming that command.

- :mod:`~dgtools.evaluate.normalize`: :class:`Normalizer`, the text
  normalisation applied to references and hypotheses;
- :mod:`~dgtools.evaluate.wer`: :func:`wer` and its :class:`WERResult`;
- :mod:`~dgtools.evaluate.diarization`: :func:`der` (DER and JER by
  pyannote.metrics) and :func:`to_annotation`;
- :mod:`~dgtools.evaluate.speaker_wer`: :func:`wder`, :func:`cpwer` and
  :func:`tcpwer` (meeteval) of speaker-attributed words.
"""

from __future__ import annotations

from .compare import compare_runs
from .diarization import DERResult, der, to_annotation
from .normalize import FILLERS, Normalizer
from .speaker_wer import SpeakerErrorResult, cpwer, tcpwer, wder
from .wer import WERResult, load_references, wer

__all__ = [
    "FILLERS",
    "DERResult",
    "Normalizer",
    "SpeakerErrorResult",
    "WERResult",
    "compare_runs",
    "cpwer",
    "der",
    "load_references",
    "tcpwer",
    "to_annotation",
    "wder",
    "wer",
]
