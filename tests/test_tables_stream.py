"""Stream captures with their ``.timing`` files: timing columns, reconnects, ``latency`` and Flux ``turns_v2``.

Every capture here is written by hand into ``tmp_path`` as :func:`dgtools.stream` writes one:
``<name>.jsonl`` (one raw message a line) beside ``<name>.timing`` (line *n*: when message *n*
arrived, ``{"received_at", "monotonic", "audio_sent_s"}`` plus ``"socket"`` and ``"offset_s"``
after a reconnect).  The real Flux capture is tested in ``test_fixtures.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from test_tables import assert_schema, col, final, flux_messages, flux_word, stream_messages, turn_info, word

import dgtools
from dgtools import ResponseFormatError
from dgtools.tables.schema import SCHEMAS, TABLE_NAMES

T0 = datetime(2025, 5, 1, 10, 0, 0, tzinfo=UTC)
TIMING_COLUMNS = ["received_at", "monotonic_s", "audio_sent_s", "socket", "latency"]


def timing(
    monotonic: float, sent: float, *, socket: int | None = None, offset: float | None = None
) -> dict[str, Any]:
    """One timing line as dgtools.stream writes it: received ``monotonic`` s after T0."""
    line: dict[str, Any] = {
        "received_at": (T0 + timedelta(seconds=monotonic)).isoformat(),
        "monotonic": monotonic,
        "audio_sent_s": sent,
    }
    if socket is not None:
        line["socket"] = socket
    if offset is not None:
        line["offset_s"] = offset
    return line


def write_capture(
    folder: Path, name: str, messages: list[dict[str, Any]], lines: list[dict[str, Any]] | None
) -> Path:
    """``folder/<name>.jsonl`` and, unless ``lines`` is None, ``folder/<name>.timing``."""
    folder.mkdir(parents=True, exist_ok=True)
    capture = folder / f"{name}.jsonl"
    capture.write_text("".join(json.dumps(m) + "\n" for m in messages), encoding="utf-8")
    if lines is not None:
        capture.with_suffix(".timing").write_text(
            "".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8"
        )
    return capture


def metadata(request_id: str, duration: float) -> dict[str, Any]:
    return {"type": "Metadata", "transaction_key": "deprecated", "request_id": request_id, "sha256": "abc123",
            "created": "2025-05-01T10:00:00.000Z", "duration": duration, "channels": 1}  # fmt: skip


#: Timing of stream_messages(): SpeechStarted, an interim, two finals, UtteranceEnd, Metadata.
STREAM_TIMING = [timing(0.31, 0.3), timing(1.22, 1.2), timing(2.35, 2.3), timing(3.9, 3.5), timing(3.95, 3.5),
                 timing(4.1, 3.5)]  # fmt: skip


def reconnected() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A stream dropped after 2.5 s of audio and resumed on a second socket, whose clock restarts at 0."""
    messages = [
        {"type": "SpeechStarted", "channel": [0, 1], "timestamp": 0.08},
        final(
            [word("Hello", 0.1, 0.5), word("there.", 0.5, 0.9)], start=0.0, duration=2.0, request_id="sock-0"
        ),
        {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": 0.9},
        metadata("sock-0", 2.5),
        # socket 1: its time 0 is stream time 2.5
        {"type": "SpeechStarted", "channel": [0, 1], "timestamp": 0.2},
        final([word("Again?", 0.3, 0.8, 0.7)], start=0.0, duration=1.5, request_id="sock-1"),
        {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": 0.8},
        metadata("sock-1", 1.5),
    ]
    lines = [
        timing(0.2, 0.2), timing(2.3, 2.2), timing(2.35, 2.2), timing(2.6, 2.5),
        timing(3.5, 2.8, socket=1, offset=2.5), timing(4.3, 4.0, socket=1, offset=2.5),
        timing(4.35, 4.0, socket=1, offset=2.5), timing(4.5, 4.0, socket=1, offset=2.5),
    ]  # fmt: skip
    return messages, lines


# --------------------------------------------------------------------------- timing columns


def test_timing_file_fills_the_timing_columns(tmp_path: Path) -> None:
    t = dgtools.to_tables(write_capture(tmp_path, "call", stream_messages(), STREAM_TIMING))
    assert_schema(t)
    m = t.messages
    assert list(m.columns[-7:]) == ["sequence_id", "code", *TIMING_COLUMNS]
    assert m["received_at"].dtype == pd.ArrowDtype(pa.timestamp("us", tz="UTC"))
    assert col(m, "received_at")[0] == pd.Timestamp("2025-05-01T10:00:00.31Z")
    assert col(m, "monotonic_s") == [0.31, 1.22, 2.35, 3.9, 3.95, 4.1]
    assert col(m, "audio_sent_s") == [0.3, 1.2, 2.3, 3.5, 3.5, 3.5]
    assert col(m, "socket") == [0] * 6  # no "socket" key: the first socket
    # Results: audio cursor - (start + duration); other messages: null
    latency = col(m, "latency")
    assert latency[0] is None and latency[4:] == [None, None]
    assert latency[1:4] == pytest.approx([1.2 - 1.0, 2.3 - 2.0, 3.5 - 3.5])
    assert m["sequence_id"].isna().all() and m["code"].isna().all()  # /v2/listen only


def test_without_a_timing_file_the_columns_are_null(tmp_path: Path) -> None:
    for t in (
        dgtools.to_tables(stream_messages()),
        dgtools.to_tables(write_capture(tmp_path, "c", stream_messages(), None)),
    ):
        assert_schema(t)
        for name in TIMING_COLUMNS:
            assert t.messages[name].isna().all(), name
        assert t.latency["received_at"].isna().all() and t.latency["latency"].isna().all()
        assert len(t.latency) == 2  # a row per final all the same


def test_a_timing_file_beside_a_capture_in_a_folder(tmp_path: Path) -> None:
    write_capture(tmp_path, "call", stream_messages(), STREAM_TIMING)
    t = dgtools.to_tables(tmp_path)  # the .timing file is not read as a response
    assert col(t.requests, "file_id") == ["call"]
    assert col(t.messages, "audio_sent_s") == [x["audio_sent_s"] for x in STREAM_TIMING]


def test_naive_received_at_is_utc(tmp_path: Path) -> None:
    lines = [dict(x, received_at=x["received_at"].removesuffix("+00:00")) for x in STREAM_TIMING]
    t = dgtools.to_tables(write_capture(tmp_path, "call", stream_messages(), lines))
    assert col(t.messages, "received_at")[1] == pd.Timestamp("2025-05-01T10:00:01.22Z")


# --------------------------------------------------------------------------- reconnects


def test_reconnect_offsets_make_times_grow_across_sockets(tmp_path: Path) -> None:
    messages, lines = reconnected()
    t = dgtools.to_tables(write_capture(tmp_path, "dropped", messages, lines))
    assert_schema(t)
    m = t.messages
    assert col(m, "socket") == [0, 0, 0, 0, 1, 1, 1, 1]
    assert col(m, "timestamp")[0] == 0.08 and col(m, "timestamp")[4] == pytest.approx(2.7)
    assert col(m, "last_word_end")[2] == 0.9 and col(m, "last_word_end")[6] == pytest.approx(3.3)
    results = m[m["type"] == "Results"]
    assert col(results, "start") == [0.0, 2.5] and col(results, "duration") == [2.0, 1.5]  # durations as sent
    assert col(m, "duration")[3] == 2.5 and col(m, "duration")[7] == 1.5  # each Metadata: its socket's part
    assert col(results, "latency") == pytest.approx([2.2 - 2.0, 4.0 - 4.0])
    w = t.words
    assert col(w, "word") == ["hello", "there", "again"] and col(w, "word_index") == [0, 1, 2]
    assert col(w, "start") == pytest.approx([0.1, 0.5, 2.8])
    assert col(w, "end") == pytest.approx([0.5, 0.9, 3.3])
    assert w["start"].is_monotonic_increasing
    r = t.requests.iloc[0]
    assert r["duration"] == pytest.approx(4.0)  # offset_s + duration of the last Metadata
    assert r["request_id"] == "sock-0"  # the first socket's
    assert col(t.turns, "end") == pytest.approx([3.3])


def test_reconnect_flux_offsets(tmp_path: Path) -> None:
    messages = [
        {"type": "Connected", "request_id": "flux-a", "sequence_id": 0},
        turn_info("EndOfTurn", 0, (0.0, 1.0), [flux_word("One.", 0.2, 0.6)], 0.9, 1),
        {"type": "Connected", "request_id": "flux-b", "sequence_id": 0},
        turn_info("EndOfTurn", 0, (0.0, 0.8), [flux_word("Two.", 0.1, 0.5)], 0.92, 1),
    ]
    lines = [timing(0.1, 0.0), timing(1.3, 1.2), timing(2.0, 1.5, socket=1, offset=1.5),
             timing(2.6, 2.4, socket=1, offset=1.5)]  # fmt: skip
    t = dgtools.to_tables(write_capture(tmp_path, "flux", messages, lines))
    v2 = t.turns_v2
    assert col(v2, "audio_window_start") == [0.0, 1.5] and col(v2, "audio_window_end") == [1.0, 2.3]
    assert col(v2, "audio_sent_s") == [1.2, 2.4]
    assert col(v2, "received_at") == [
        pd.Timestamp("2025-05-01T10:00:01.3Z"),
        pd.Timestamp("2025-05-01T10:00:02.6Z"),
    ]
    assert col(t.words, "start") == pytest.approx([0.2, 1.6]) and col(t.words, "word_index") == [0, 1]
    assert col(t.messages, "socket") == [0, 0, 1, 1]
    assert t.requests["duration"].iloc[0] == pytest.approx(2.3)


# --------------------------------------------------------------------------- the latency table


def test_latency_table(tmp_path: Path) -> None:
    messages = [
        *stream_messages()[:4],
        final([], start=3.5, duration=1.0),  # a final without words (silence)
    ]
    lines = [*STREAM_TIMING[:4], timing(5.0, 4.8)]
    t = dgtools.to_tables(write_capture(tmp_path, "call", messages, lines))
    lat = t.latency
    assert list(lat.columns) == SCHEMAS["latency"].names == [
        "file_id", "request_id", "seq", "channel", "start", "end", "last_word_end", "n_words", "speech_final",
        "from_finalize", "received_at", "audio_sent_s", "latency",
    ]  # fmt: skip
    assert_schema(t)
    assert col(lat, "seq") == [2, 3, 4]  # finals only: not the interim (1)
    assert col(lat, "channel") == [0, 0, 0]
    assert col(lat, "start") == [0.0, 2.0, 3.5] and col(lat, "end") == [2.0, 3.5, 4.5]
    assert col(lat, "last_word_end") == [0.9, 2.6, None]
    assert col(lat, "n_words") == [2, 1, 0]
    assert col(lat, "speech_final") == [False, True, True]
    assert col(lat, "from_finalize") == [False, False, False]
    assert col(lat, "audio_sent_s") == [2.3, 3.5, 4.8]
    # audio cursor - end of the last word (no words: - end of the message)
    assert col(lat, "latency") == pytest.approx([2.3 - 0.9, 3.5 - 2.6, 4.8 - 4.5])
    assert col(lat, "received_at")[2] == pd.Timestamp("2025-05-01T10:00:05Z")
    assert set(col(lat, "file_id")) == {"call"} and set(col(lat, "request_id")) == {"stream-1"}


def test_latency_per_channel() -> None:
    msgs = [
        final([word("a", 0.1, 0.4)], start=0.0, duration=1.0, channel=0, n_channels=2),
        final([word("b", 0.2, 0.7)], start=0.0, duration=1.0, channel=1, n_channels=2),
    ]
    lat = dgtools.to_tables(msgs).latency
    assert col(lat, "channel") == [0, 1] and col(lat, "last_word_end") == [0.4, 0.7]


# --------------------------------------------------------------------------- timing files that do not match


def test_timing_shorter_than_the_capture(tmp_path: Path) -> None:
    """A kill lost the last timing lines: those messages get null timing columns, the rest are used."""
    messages, lines = reconnected()
    t = dgtools.to_tables(write_capture(tmp_path, "killed", messages, lines[:6]))
    m = t.messages
    assert col(m, "audio_sent_s") == [x["audio_sent_s"] for x in lines[:6]] + [None, None]
    assert col(m, "socket")[-3:] == [1, None, None]
    assert col(m, "last_word_end")[6] == pytest.approx(3.3)  # the last offset seen still applies
    assert t.requests["duration"].iloc[0] == pytest.approx(4.0)


def test_timing_longer_than_the_capture(tmp_path: Path) -> None:
    """A kill lost the last message: the extra timing line is not used."""
    t = dgtools.to_tables(write_capture(tmp_path, "killed", stream_messages()[:-1], STREAM_TIMING))
    assert len(t.messages) == 5
    assert col(t.messages, "monotonic_s") == [x["monotonic"] for x in STREAM_TIMING[:5]]


def test_timing_last_line_cut_short(tmp_path: Path) -> None:
    capture = write_capture(tmp_path, "killed", stream_messages(), STREAM_TIMING[:5])
    with capture.with_suffix(".timing").open("a", encoding="utf-8") as f:
        f.write('{"received_at": "2025-05-01T10:0')  # killed while writing
    t = dgtools.to_tables(capture)
    assert col(t.messages, "monotonic_s") == [x["monotonic"] for x in STREAM_TIMING[:5]] + [None]


def test_empty_timing_file(tmp_path: Path) -> None:
    t = dgtools.to_tables(write_capture(tmp_path, "call", stream_messages(), []))
    assert t.messages["received_at"].isna().all() and t.messages["socket"].isna().all()


def test_a_bad_timing_line_before_the_last_is_an_error(tmp_path: Path) -> None:
    lines = [*STREAM_TIMING[:2], {"received_at": "yesterday", "monotonic": 2.0}, *STREAM_TIMING[3:]]
    capture = write_capture(tmp_path, "call", stream_messages(), lines)
    with pytest.raises(ResponseFormatError, match="line 3 is not a timing line") as exc:
        dgtools.to_tables(capture)
    assert exc.value.path == str(capture.with_suffix(".timing"))
    assert exc.value.key_path == "line 3: received_at"
    t = dgtools.to_tables(tmp_path, on_error="skip")
    assert len(t.requests) == 0 and col(t.failures, "path") == [str(capture.with_suffix(".timing"))]


# --------------------------------------------------------------------------- Flux (/v2/listen)


def test_flux_stream_tables() -> None:
    t = dgtools.to_tables(flux_messages())
    assert_schema(t)
    v2 = t.turns_v2
    assert list(v2.columns) == SCHEMAS["turns_v2"].names == [
        "file_id", "request_id", "seq", "event", "turn_index", "audio_window_start", "audio_window_end",
        "transcript", "end_of_turn_confidence", "n_words", "languages", "received_at", "audio_sent_s",
    ]  # fmt: skip
    assert col(v2, "seq") == [1, 2, 3, 4, 5, 6, 8]
    assert col(v2, "event") == ["Update", "StartOfTurn", "Update", "EagerEndOfTurn", "TurnResumed", "EndOfTurn",
                                "Update"]  # fmt: skip
    assert col(v2, "turn_index") == [0, 0, 0, 0, 0, 0, 1]
    assert col(v2, "audio_window_end") == [0.24, 0.48, 0.72, 0.96, 1.2, 1.44, 1.68]
    assert col(v2, "n_words") == [0, 1, 2, 2, 3, 3, 0]
    assert col(v2, "transcript")[5] == "Hello, there. Again?" and col(v2, "end_of_turn_confidence")[5] == 0.91
    assert set(col(v2, "file_id")) == {"flux-1"} and set(col(v2, "request_id")) == {"flux-1"}
    # words: the EndOfTurn's only, Flux's punctuated word in 'word'
    assert col(t.words, "word") == ["Hello,", "there.", "Again?"] and t.words["punctuated_word"].isna().all()
    assert col(t.alternatives, "seq") == [6] and col(t.alternatives, "transcript") == ["Hello, there. Again?"]
    m = t.messages
    assert col(m, "type") == ["Connected", *["TurnInfo"] * 6, "ConfigureSuccess", "TurnInfo"]
    assert col(m, "sequence_id") == list(range(9))
    assert col(m, "transcript")[6] == "Hello, there. Again?" and col(m, "n_words")[6] == 3
    assert len(t.latency) == 0  # no /v1/listen Results
    r = t.requests.iloc[0]
    assert (r["kind"], r["duration"], r["channels"], r["n_words"]) == ("streaming_v2", 1.68, 1, 3)
    assert r["transcript"] == "Hello, there. Again?"
    assert col(t.turns, "text") == ["Hello, there. Again?"]


def test_flux_languages_and_error() -> None:
    msgs = [
        {
            **turn_info("EndOfTurn", 0, (0.0, 1.0), [flux_word("Hola.", 0.2, 0.6)], 0.9, 0),
            "languages": ["es"],
        },
        {"type": "Error", "sequence_id": 1, "code": "INTERNAL_SERVER_ERROR", "description": "It broke."},
    ]
    t = dgtools.to_tables(msgs)
    assert col(t.turns_v2, "languages") == [["es"]] and col(t.alternatives, "languages") == [["es"]]
    assert col(t.messages, "code") == [None, "INTERNAL_SERVER_ERROR"]
    assert col(t.messages, "description") == [None, "It broke."]


def test_flux_jsonl_with_timing(tmp_path: Path) -> None:
    lines = [timing(0.05 + i * 0.25, 0.24 * (i + 1)) for i in range(len(flux_messages()))]
    t = dgtools.to_tables(write_capture(tmp_path, "flux", flux_messages(), lines))
    v2 = t.turns_v2
    assert col(v2, "audio_sent_s") == pytest.approx([0.24 * (s + 1) for s in col(v2, "seq")])
    assert col(v2, "received_at")[0] == pd.Timestamp("2025-05-01T10:00:00.3Z")
    assert col(t.messages, "socket") == [0] * 9


def test_flux_words_ending_before_they_start_are_named() -> None:
    msgs = flux_messages()
    msgs[6]["words"][2] = flux_word("Again?", 1.36, 1.04)
    with pytest.raises(ResponseFormatError, match=r"\[6\]\.words\[2\]: end 1.04 is before start 1.36"):
        dgtools.to_tables(msgs)
    msgs = flux_messages()
    msgs[3]["audio_window_end"] = -0.0
    msgs[3]["audio_window_start"] = 0.5
    with pytest.raises(ResponseFormatError, match=r"\[3\]\.audio_window_end: audio_window_end"):
        dgtools.to_tables(msgs)


def test_mixing_v1_and_flux_messages_in_one_list_is_one_stream() -> None:
    t = dgtools.to_tables([*flux_messages(), *stream_messages()])
    assert len(t.requests) == 1 and t.requests["kind"].iloc[0] == "streaming_v2"


def test_flux_capture_wrapper_is_refused_with_the_way_out(tmp_path: Path) -> None:
    wrapper = {"description": "frames", "url": "wss://api.deepgram.com/v2/listen", "close": {},
               "frames": [json.dumps(m) for m in flux_messages()]}  # fmt: skip
    p = tmp_path / "frames.json"
    p.write_text(json.dumps(wrapper), encoding="utf-8")
    with pytest.raises(ResponseFormatError, match=r"json.loads\(f\) for f in doc\['frames'\]"):
        dgtools.to_tables(p)
    assert len(dgtools.to_tables([json.loads(f) for f in wrapper["frames"]]).turns_v2) == 7


# --------------------------------------------------------------------------- the Tables object and Parquet


def test_tables_expose_the_new_tables() -> None:
    t = dgtools.to_tables([stream_messages(), flux_messages()])
    assert t.latency is t["latency"] and t.turns_v2 is t["turns_v2"]
    assert {"latency", "turns_v2"} <= set(t) and list(t) == list(TABLE_NAMES)
    assert "latency=2" in repr(t) and "turns_v2=7" in repr(t)
    assert "turns_v2=7" in str(t.summary())


def test_parquet_round_trip_of_timing_columns(tmp_path: Path) -> None:
    messages, lines = reconnected()
    write_capture(tmp_path / "in", "dropped", messages, lines)
    write_capture(tmp_path / "in", "flux", flux_messages(), [timing(0.1 * i, 0.1 * i) for i in range(9)])
    t = dgtools.to_tables(tmp_path / "in")
    assert t.latency["latency"].notna().all() and t.turns_v2["received_at"].notna().all()
    for back in (dgtools.read_parquet(t.to_parquet(tmp_path / "out")),
                 dgtools.read_parquet(dgtools.write_dataset(tmp_path / "in", tmp_path / "ds"))):  # fmt: skip
        for name in TABLE_NAMES:
            pd.testing.assert_frame_equal(back[name], t[name], check_exact=True, obj=name)
    plain = pd.read_parquet(tmp_path / "out" / "messages.parquet")
    assert str(plain["received_at"].dtype) == "datetime64[us, UTC]" and plain["socket"].dtype == "Int64"


def test_the_stream_files_of_the_golden_tables_are_these_messages() -> None:
    """tests/data/streams holds reconnected() and flux_messages() with their timing (see its README)."""
    folder = Path(__file__).resolve().parent / "data" / "streams"

    def lines(p: Path) -> list[Any]:
        return [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines()]

    messages, timing_lines = reconnected()
    assert (
        lines(folder / "reconnected.jsonl") == messages
        and lines(folder / "reconnected.timing") == timing_lines
    )
    assert lines(folder / "flux_turns.jsonl") == flux_messages()
    assert len(lines(folder / "flux_turns.timing")) == len(flux_messages())
