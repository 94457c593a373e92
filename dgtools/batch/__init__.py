"""Transcribe folders concurrently and resumably: :func:`transcribe`, :func:`atranscribe`, :class:`Run`."""

from .runner import FileResult, Run, atranscribe, resolve_engine, store_digest, store_sources, transcribe

__all__ = [
    "FileResult",
    "Run",
    "atranscribe",
    "resolve_engine",
    "store_digest",
    "store_sources",
    "transcribe",
]
