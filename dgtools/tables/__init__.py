"""Deepgram responses flattened into typed tables: :func:`to_tables` and :class:`Tables`."""

from .build import Source, Tables, TablesSummary, build_turns, iter_responses, to_tables

__all__ = ["Source", "Tables", "TablesSummary", "build_turns", "iter_responses", "to_tables"]
