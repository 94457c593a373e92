"""Column names and the explicit Arrow schema of every dgtools table.

Every table has ``file_id`` (the join key dgtools adds) and ``request_id``
(Deepgram's).  Other columns keep Deepgram's own field names.  Each table is
described once here, as a ``pyarrow.schema``; builders, the Parquet writer and
reader, and the tests all use these objects, never their own copies.

In pandas every column is Arrow-backed (``pd.ArrowDtype``): strings are
``string[pyarrow]``, integers ``int64[pyarrow]`` (nullable, so ``speaker`` is
never a float), times ``double[pyarrow]``, ``created`` a UTC timestamp and
lists ``list<...>[pyarrow]``.

``SCHEMA_VERSION`` changes whenever a column is added, removed, renamed or
retyped; Parquet files record it and :func:`dgtools.read_parquet` refuses files
from a newer schema.  Files of an older schema read as today's tables:
:data:`ADDED` says what each version added, and :func:`columns_in` which columns
a version wrote; a column added since reads back null, a table added since
(absent from such a folder) empty.

Streams (``messages``, ``latency``, ``turns_v2``): a ``.jsonl`` capture read
with its sibling ``.timing`` file (written by :func:`dgtools.stream`) fills the
timing columns (``received_at``, ``monotonic_s``, ``audio_sent_s``,
``socket``, ``latency``); without one they are null.  Times are *stream*
times: a reconnected stream's later sockets restart their audio clock at 0,
and the ``offset_s`` of their timing lines is added to every time of their
messages (Results ``start``, word ``start``/``end``, SpeechStarted
``timestamp``, UtteranceEnd ``last_word_end``, Flux ``audio_window_start``/
``audio_window_end``), so times grow across sockets.  Durations (Results and
Metadata ``duration``) are kept as sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from ..exceptions import SchemaError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ADDED",
    "DROPPED_FIELDS",
    "SCHEMAS",
    "SCHEMA_VERSION",
    "TABLE_NAMES",
    "columns_in",
    "frame_to_arrow",
    "schema_for",
]

#: Bumped on any change to a table's columns or types.
SCHEMA_VERSION = 2

_S = pa.string()
_F = pa.float64()
_I = pa.int64()
_B = pa.bool_()
_TS = pa.timestamp("us", tz="UTC")
_LS = pa.list_(_S)
_LI = pa.list_(_I)
_WARNING = pa.struct([("type", _S), ("parameter", _S), ("message", _S)])


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    out = [pa.field("file_id", _S, nullable=False), pa.field("request_id", _S)]
    out += [pa.field(name, typ) for name, typ in fields]
    return pa.schema(out)


SCHEMAS: dict[str, pa.Schema] = {
    # one row per response (pre-recorded, /v1/read, or a whole stream)
    "requests": _schema(
        ("kind", _S),  # "prerecorded", "streaming", "read" or "fragment"
        ("sha256", _S),
        ("created", _TS),
        ("duration", _F),
        ("channels", _I),
        ("models", _LS),
        ("model_uuid", _S),
        ("model_name", _S),
        ("model_version", _S),
        ("model_arch", _S),
        ("language", _S),
        ("tags", _LS),
        ("extra", pa.map_(_S, _S)),
        ("warnings", pa.list_(_WARNING)),
        ("summary_info_model_uuid", _S),
        ("summary_info_input_tokens", _I),
        ("summary_info_output_tokens", _I),
        ("sentiment_info_model_uuid", _S),
        ("sentiment_info_input_tokens", _I),
        ("sentiment_info_output_tokens", _I),
        ("topics_info_model_uuid", _S),
        ("topics_info_input_tokens", _I),
        ("topics_info_output_tokens", _I),
        ("intents_info_model_uuid", _S),
        ("intents_info_input_tokens", _I),
        ("intents_info_output_tokens", _I),
        ("average_sentiment", _S),
        ("average_sentiment_score", _F),
        ("n_words", _I),
        ("transcript", _S),
    ),
    "channels": _schema(
        ("channel", _I),
        ("detected_language", _S),
        ("language_confidence", _F),
    ),
    "alternatives": _schema(
        ("channel", _I),
        ("alternative", _I),
        ("seq", _I),  # streaming: the message it came from; null for pre-recorded
        ("transcript", _S),
        ("confidence", _F),
        ("n_words", _I),
        ("languages", _LS),
        ("paragraphs_transcript", _S),
    ),
    "words": _schema(
        ("channel", _I),
        ("alternative", _I),
        ("word_index", _I),
        ("word", _S),
        ("punctuated_word", _S),
        ("start", _F),
        ("end", _F),
        ("confidence", _F),
        ("speaker", _I),
        ("speaker_confidence", _F),
        ("language", _S),
        ("sentiment", _S),
        ("sentiment_score", _F),
    ),
    "utterances": _schema(
        ("utterance_index", _I),
        ("id", _S),
        ("channel", _I),
        ("speaker", _I),
        ("start", _F),
        ("end", _F),
        ("confidence", _F),
        ("transcript", _S),
        ("n_words", _I),
    ),
    "paragraphs": _schema(
        ("channel", _I),
        ("alternative", _I),
        ("paragraph_index", _I),
        ("speaker", _I),
        ("start", _F),
        ("end", _F),
        ("num_words", _I),
        ("n_sentences", _I),
        ("text", _S),
    ),
    "sentences": _schema(
        ("channel", _I),
        ("alternative", _I),
        ("paragraph_index", _I),
        ("sentence_index", _I),
        ("speaker", _I),
        ("start", _F),
        ("end", _F),
        ("num_words", _I),
        ("text", _S),
    ),
    "search_hits": _schema(
        ("channel", _I),
        ("query", _S),
        ("hit_index", _I),  # null: the query had no hits
        ("confidence", _F),
        ("start", _F),
        ("end", _F),
        ("snippet", _S),
    ),
    "summaries": _schema(
        ("channel", _I),  # null for results.summary (summarize=v2) and /v1/read
        ("alternative", _I),
        ("summary_index", _I),
        ("source", _S),  # "results.summary" or "alternatives.summaries"
        ("result", _S),
        ("summary", _S),
        ("start_word", _I),
        ("end_word", _I),
        ("start", _F),
        ("end", _F),
    ),
    "topics": _schema(
        ("channel", _I),  # null for results.topics
        ("alternative", _I),
        ("segment_index", _I),
        ("text", _S),
        ("start_word", _I),
        ("end_word", _I),
        ("start", _F),
        ("end", _F),
        ("topic", _S),
        ("confidence_score", _F),
    ),
    "intents": _schema(
        ("segment_index", _I),
        ("text", _S),
        ("start_word", _I),
        ("end_word", _I),
        ("start", _F),
        ("end", _F),
        ("intent", _S),
        ("confidence_score", _F),
    ),
    "sentiments": _schema(
        ("segment_index", _I),
        ("text", _S),
        ("start_word", _I),
        ("end_word", _I),
        ("start", _F),
        ("end", _F),
        ("sentiment", _S),
        ("sentiment_score", _F),
    ),
    "entities": _schema(
        ("channel", _I),
        ("alternative", _I),
        ("entity_index", _I),
        ("label", _S),
        ("value", _S),
        ("raw_value", _S),
        ("confidence", _F),
        ("start_word", _I),
        ("end_word", _I),
        ("start", _F),
        ("end", _F),
    ),
    "messages": _schema(
        ("seq", _I),
        ("type", _S),
        ("channel_index", _LI),
        ("start", _F),
        ("duration", _F),
        ("is_final", _B),
        ("speech_final", _B),
        ("from_finalize", _B),
        ("transcript", _S),
        ("confidence", _F),
        ("n_words", _I),
        ("timestamp", _F),  # SpeechStarted
        ("last_word_end", _F),  # UtteranceEnd
        ("description", _S),  # Error / Warning
        ("sequence_id", _I),  # /v2/listen (Flux): the server's message counter
        ("code", _S),  # /v2/listen Error
        # from the capture's .timing file (null without one)
        ("received_at", _TS),
        ("monotonic_s", _F),  # seconds since the socket opened
        ("audio_sent_s", _F),  # audio seconds sent by then (stream time)
        ("socket", _I),  # connection index, from 0 (reconnects)
        ("latency", _F),  # Results: audio_sent_s - (start + duration)
    ),
    # one row per final /v1/listen Results message; timing columns null without a .timing file
    "latency": _schema(
        ("seq", _I),
        ("channel", _I),
        ("start", _F),
        ("end", _F),  # start + duration
        ("last_word_end", _F),  # end of its last word (alternative 0); null without words
        ("n_words", _I),
        ("speech_final", _B),
        ("from_finalize", _B),
        ("received_at", _TS),
        ("audio_sent_s", _F),
        ("latency", _F),  # audio_sent_s - last_word_end (without words: - end)
    ),
    # one row per /v2/listen (Flux) TurnInfo message
    "turns_v2": _schema(
        ("seq", _I),
        ("event", _S),  # Update, StartOfTurn, EagerEndOfTurn, TurnResumed, EndOfTurn
        ("turn_index", _I),
        ("audio_window_start", _F),
        ("audio_window_end", _F),
        ("transcript", _S),
        ("end_of_turn_confidence", _F),
        ("n_words", _I),
        ("languages", _LS),  # flux-general-multi
        ("received_at", _TS),
        ("audio_sent_s", _F),
    ),
    "turns": _schema(
        ("channel", _I),
        ("turn_index", _I),
        ("speaker", _I),
        ("start", _F),
        ("end", _F),
        ("n_words", _I),
        ("text", _S),
        ("confidence", _F),
    ),
}

#: Table names in their canonical order.
TABLE_NAMES: tuple[str, ...] = tuple(SCHEMAS)

#: What each schema version added: ``{version: {table: columns}}``.  A table whose columns are all
#: its own (``file_id`` and ``request_id`` included) is a table new in that version.
ADDED: dict[int, dict[str, tuple[str, ...]]] = {
    2: {
        "messages": (
            "sequence_id", "code", "received_at", "monotonic_s", "audio_sent_s", "socket", "latency",
        ),
        "latency": tuple(SCHEMAS["latency"].names),
        "turns_v2": tuple(SCHEMAS["turns_v2"].names),
    },
}  # fmt: skip

#: Response fields dgtools deliberately does not put in any table, with the reason.
#: Paths use ``[]`` for list items; ``*`` matches any single key (model uuids).
DROPPED_FIELDS: dict[str, str] = {
    "metadata.transaction_key": "always the constant 'deprecated'",
    "transaction_key": "always the constant 'deprecated' (streaming Metadata message)",
    "results.utterances[].words[]": "the same words as results.channels[].alternatives[].words (the words table)",
    "metadata.metadata": "spec-generated nesting of /v1/read that real responses do not use",
    "interim:channel.alternatives[].words[]": (
        "words of an interim streaming Results message (is_final=false; tests prefix such paths with "
        "'interim:'): a later final message repeats them, so only final words feed the words table; "
        "messages.n_words keeps the count"
    ),
    "interim:channel.alternatives[].languages[]": (
        "languages of an interim streaming Results message (is_final=false): the final message repeats them "
        "in alternatives.languages"
    ),
    "interim:words[]": (
        "words of a /v2/listen (Flux) TurnInfo message whose event is not EndOfTurn (tests prefix such paths "
        "with 'interim:'): the turn's EndOfTurn message repeats them, final, and only those feed the words "
        "table; turns_v2.n_words keeps the count"
    ),
    "thresholds": (
        "Flux ConfigureSuccess: echoes the end-of-turn thresholds the client itself sent in its Configure "
        "message; messages keeps that and when it was acknowledged (type, seq, received_at)"
    ),
    "keyterms": "Flux ConfigureSuccess: echoes the keyterms the client itself sent in its Configure message",
    "profanity_filter": "Flux ConfigureSuccess: echoes the profanity_filter setting the client chose",
    "language_hints": "Flux ConfigureSuccess: echoes the language hints the client itself sent",
    "languages_hinted": "Flux TurnInfo: echoes the language hints the client configured, on every message",
}


def columns_in(table: str, version: int) -> list[str]:
    """The columns schema version ``version`` wrote for ``table`` (empty: the table did not exist).

    Examples
    --------
    >>> from dgtools.tables.schema import columns_in
    >>> columns_in("messages", 1)[-3:], columns_in("latency", 1)
    (['timestamp', 'last_word_end', 'description'], [])
    >>> columns_in("latency", 2) == schema_for("latency").names
    True
    """
    later = {c for v, tables in ADDED.items() if v > version for c in tables.get(table, ())}
    return [c for c in schema_for(table).names if c not in later]


def schema_for(table: str) -> pa.Schema:
    """Return the Arrow schema of ``table``.

    Raises
    ------
    SchemaError
        If ``table`` is not a dgtools table name.

    Examples
    --------
    >>> from dgtools.tables.schema import schema_for
    >>> schema_for("words").field("speaker").type
    DataType(int64)
    """
    try:
        return SCHEMAS[table]
    except KeyError:
        raise SchemaError(
            f"unknown table {table!r}; dgtools tables are: {', '.join(TABLE_NAMES)}", table=table
        ) from None


def frame_to_arrow(df: pd.DataFrame, table: str) -> pa.Table:
    """Convert a DataFrame to an Arrow table with the exact schema of ``table``.

    pyarrow alone would silently drop extra columns, raise ``KeyError`` on a
    missing one and ``ValueError`` on a null in a non-nullable field; here
    every mismatch is a :class:`~dgtools.SchemaError` naming the table and
    the columns.  The index is not kept.

    Parameters
    ----------
    df : pandas.DataFrame
        A frame with exactly the table's columns, in order (the dtypes may be
        Arrow-backed, NumPy or object, as long as the values fit).
    table : str
        A dgtools table name (:data:`TABLE_NAMES`).

    Returns
    -------
    pyarrow.Table
        With the schema :data:`SCHEMAS` ``[table]``.

    Raises
    ------
    SchemaError
        If ``table`` is unknown, the frame's columns are not exactly the
        table's columns, or a value does not fit its type.

    Examples
    --------
    >>> import dgtools
    >>> from dgtools.tables import frame_to_arrow
    >>> words = dgtools.to_tables("data/responses").words
    >>> frame_to_arrow(words, "words").schema.field("speaker")
    pyarrow.Field<speaker: int64>
    >>> frame_to_arrow(words.drop(columns="speaker"), "words")
    Traceback (most recent call last):
    ...
    dgtools.exceptions.SchemaError: table 'words' does not match its schema: missing ['speaker']
    """
    schema = schema_for(table)
    cols = list(df.columns)
    if cols != schema.names:
        missing = [c for c in schema.names if c not in cols]
        extra = [c for c in cols if c not in schema.names]
        detail = []
        if missing:
            detail.append(f"missing {missing}")
        if extra:
            detail.append(f"unexpected {extra}")
        if not detail:
            detail.append(f"columns out of order; expected {schema.names}")
        raise SchemaError(f"table {table!r} does not match its schema: {'; '.join(detail)}", table=table)
    try:
        return pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, KeyError) as exc:
        raise SchemaError(
            f"table {table!r} has values that do not fit its schema: {exc}", table=table
        ) from exc
