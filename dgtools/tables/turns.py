"""Speaker turns derived from the words table: :func:`build_turns`.

Computed with numpy and Arrow compute over whole columns (no Python loop over
words), so deriving ``turns`` costs a small fraction of building ``words``.
:func:`dgtools.to_tables` calls it on every batch of words, and
``words.dg.turns()`` on any words frame.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .schema import SCHEMAS

__all__ = ["build_turns"]


def build_turns(words: pa.Table) -> pa.Table:
    """Speaker turns from a words table: a new turn at each speaker change.

    Turns are built per file and channel from the first alternative's words,
    in word order.  Words without a speaker (diarization off) form one turn
    per channel.  ``text`` joins ``punctuated_word`` (``word`` where it is
    missing); ``confidence`` is the mean word confidence.

    Parameters
    ----------
    words : pyarrow.Table
        Columns ``file_id``, ``request_id``, ``channel``, ``alternative``,
        ``word``, ``punctuated_word``, ``start``, ``end``, ``confidence``,
        ``speaker`` (any extra columns are ignored).

    Returns
    -------
    pyarrow.Table
        With the ``turns`` schema.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from dgtools.tables import build_turns
    >>> words = pa.table({
    ...     "file_id": ["a"] * 4, "request_id": ["r"] * 4, "channel": [0] * 4, "alternative": [0] * 4,
    ...     "word": ["hi", "there", "hello", "you"], "punctuated_word": ["Hi", "there.", "Hello", "you."],
    ...     "start": [0.0, 0.4, 1.0, 1.5], "end": [0.3, 0.8, 1.4, 1.9],
    ...     "confidence": [0.9, 0.8, 1.0, 0.6], "speaker": [0, 0, 1, 1]})
    >>> turns = build_turns(words)
    >>> turns["speaker"].to_pylist(), turns["start"].to_pylist(), turns["end"].to_pylist()
    ([0, 1], [0.0, 1.0], [0.8, 1.9])
    >>> turns["text"].to_pylist(), [round(c, 3) for c in turns["confidence"].to_pylist()]
    (['Hi there.', 'Hello you.'], [0.85, 0.8])
    """
    schema = SCHEMAS["turns"]
    if "alternative" in words.column_names and words.num_rows and pc.max(words["alternative"]).as_py():
        words = words.filter(pc.equal(words["alternative"], 0))
    n = words.num_rows
    if n == 0:
        return schema.empty_table()
    words = _channel_order(words)
    fid = words["file_id"].combine_chunks()
    chan = words["channel"].to_numpy()
    spk_arr = words["speaker"]
    spk = spk_arr.fill_null(-1).to_numpy() if spk_arr.null_count else spk_arr.to_numpy()
    brk = np.empty(n, dtype=bool)
    brk[0] = True
    if n > 1:
        same_file = pc.equal(fid.slice(1), fid.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        brk[1:] = ~same_file | (chan[1:] != chan[:-1]) | (spk[1:] != spk[:-1])
    starts = np.flatnonzero(brk)
    ends = np.append(starts[1:], n)
    counts = ends - starts
    # turn_index restarts for every (file, channel)
    grp = np.empty(n, dtype=bool)
    grp[0] = True
    if n > 1:
        grp[1:] = ~same_file | (chan[1:] != chan[:-1])
    group_start_turn = np.maximum.accumulate(np.where(grp[starts], np.arange(len(starts)), 0))
    turn_index = np.arange(len(starts)) - group_start_turn
    pw = words["punctuated_word"].combine_chunks()
    text_words = pc.coalesce(pw, words["word"].combine_chunks()) if pw.null_count else pw
    offsets = pa.array(np.append(starts, n).astype(np.int32))
    text = pc.binary_join(pa.ListArray.from_arrays(offsets, text_words), " ")
    conf = words["confidence"].to_numpy(zero_copy_only=False).astype(float)
    valid = ~np.isnan(conf)
    csum = np.add.reduceat(np.where(valid, conf, 0.0), starts)
    ccount = np.add.reduceat(valid.astype(np.int64), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = csum / ccount
    start_t = pc.take(words["start"], pa.array(starts))
    end_t = pc.take(words["end"], pa.array(ends - 1))
    idx = pa.array(starts)
    arrays = [
        pc.take(words["file_id"], idx),
        pc.take(words["request_id"], idx),
        pc.take(words["channel"], idx),
        pa.array(turn_index, pa.int64()),
        pc.take(spk_arr, idx),
        start_t,
        end_t,
        pa.array(counts, pa.int64()),
        text,
        pa.array(mean_conf, pa.float64(), mask=ccount == 0),
    ]
    return pa.Table.from_arrays([_chunk(a) for a in arrays], schema=schema)


def _channel_order(words: pa.Table) -> pa.Table:
    """Words grouped by file (first-seen order), then channel, then ``word_index``.

    Pre-recorded words already are; a multichannel stream interleaves its
    channels' words in message order, and is reordered here.
    """
    n = words.num_rows
    if n < 2 or "word_index" not in words.column_names:
        return words
    fcode = pc.dictionary_encode(words["file_id"].combine_chunks()).indices.to_numpy()
    chan = words["channel"].to_numpy()
    widx = words["word_index"].to_numpy()
    df, dc, dw = np.diff(fcode), np.diff(chan), np.diff(widx)
    ordered = (df > 0) | ((df == 0) & ((dc > 0) | ((dc == 0) & (dw > 0))))
    if ordered.all():
        return words
    return words.take(np.lexsort((widx, chan, fcode)))


def _chunk(a: pa.Array | pa.ChunkedArray) -> pa.Array:
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
