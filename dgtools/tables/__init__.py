"""Deepgram responses as typed tables, and Parquet, their storage format.

Modules, from the bottom up (each imports only those above it)::

    schema     column names, one Arrow schema per table, SCHEMA_VERSION, frame_to_arrow
    wire       Deepgram's JSON as msgspec structs (typed and bounded); what kind of object a response is
    checks     values that involve two fields: an end before its start
    summary    TablesSummary
    failures   Failure, on_error, the Tables.failures frame
    partition  Hive partitions by a key of each response (partition_on=)
    remote     datasets in object storage: a fresh prefix, one PUT per part, _SUCCESS last
    parquet    Parquet files with dgtools metadata (Arrow level): write, read, check, dataset_summary;
               a new output is built beside the old one and swapped in
    container  Tables: the frames, to_arrow, to_parquet, summary, failures
    read       iter_responses: files, folders, bytes, dicts, SDK objects -> decoded responses
    turns      build_turns: speaker turns from words
    _columns   column buffers of the builder, unique file ids (internal)
    _rows      the rows of a pre-recorded response (internal)
    streaming  the rows of a /v1/listen or /v2/listen (Flux) stream, with its .timing file
    validate   validate_response: is a body a whole pre-recorded response? (for the batch)
    build      TableBuilder, iter_batches (the one loop), to_tables
    dataset    read_parquet, write_dataset

Examples
--------
>>> from dgtools.tables import to_tables
>>> to_tables("data/responses").summary().files
6
"""

from .build import TableBuilder, iter_batches, to_tables
from .container import Tables
from .dataset import read_parquet, write_dataset
from .failures import Failure, OnError
from .parquet import dataset_summary
from .read import Source, iter_responses
from .schema import frame_to_arrow
from .summary import TablesSummary
from .turns import build_turns
from .validate import ResponseInfo, validate_response

__all__ = [
    "Failure",
    "OnError",
    "ResponseInfo",
    "Source",
    "TableBuilder",
    "Tables",
    "TablesSummary",
    "build_turns",
    "dataset_summary",
    "frame_to_arrow",
    "iter_batches",
    "iter_responses",
    "read_parquet",
    "to_tables",
    "validate_response",
    "write_dataset",
]
