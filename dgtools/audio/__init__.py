"""Audio on this machine: finding it, sniffing it, hashing and probing it, before anything is sent.

- :mod:`dgtools.audio.collect`: :func:`collect` (folders, files, globs, URLs -> what to send and
  what to skip, with the reason), :func:`content_type`, :func:`is_audio`.
- :mod:`dgtools.audio.sniff`: what a file's first bytes say, and why a file cannot be audio.
- :mod:`dgtools.audio.probe`: :func:`sha256_file`, :func:`fingerprint`, :func:`probe_duration`.

``import dgtools.audio`` is light: soundfile and librosa are imported only inside
:func:`probe_duration`.
"""

from .collect import AUDIO_TYPES, MAX_UPLOAD_BYTES, AudioSource, Skipped, collect, content_type, is_audio
from .probe import ebml_duration, fingerprint, mp4_duration, probe_duration, sha256_file, wav_duration
from .sniff import sniff, unusable

__all__ = [
    "AUDIO_TYPES",
    "MAX_UPLOAD_BYTES",
    "AudioSource",
    "Skipped",
    "collect",
    "content_type",
    "ebml_duration",
    "fingerprint",
    "is_audio",
    "mp4_duration",
    "probe_duration",
    "sha256_file",
    "sniff",
    "unusable",
    "wav_duration",
]
