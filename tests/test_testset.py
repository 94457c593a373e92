"""``synthesize_test_set``: speech with known transcripts and RTTM, and the round trip speak -> transcribe.

The voices are the local server's espeak-ng (``engine="local"``), transcribed back by pocketsphinx
(``dgtools.transcribe(..., engine="local")``).  pocketsphinx is weak on synthetic speech: the word
error rates are printed and bounded only loosely.  Without espeak-ng these tests skip (fail under
``DGTOOLS_REQUIRE=voice``).
"""

from __future__ import annotations

import itertools
import re
import shutil
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import dgtools
from conftest import missing
from dgtools.speech.testset import MANIFEST_COLUMNS, SpeechTestSet, synthesize_test_set

TEXTS = [
    "Please call me tomorrow morning.",
    "The number is five five five, one two three four.",
    "Thank you for calling, have a good day.",
]
DIALOGUE = [
    "Hello, how can I help you today?",
    "I would like a refund please.",
    ("aura-2-electra-en", "Of course, what is your order number?"),
    ("aura-2-hermes-en", "It is nine eight seven."),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None:
        missing("voice", "espeak-ng is not installed (apt-get install espeak-ng)")
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def testset(store: Path, tmp_path_factory: pytest.TempPathFactory) -> SpeechTestSet:
    out = tmp_path_factory.mktemp("testset")
    return synthesize_test_set(TEXTS, dialogues=[DIALOGUE], out=out, store=store, engine="local")


def words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def samples(path: Path) -> tuple[np.ndarray[Any, Any], int]:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"), w.getframerate()


def test_the_folder_holds_audio_references_rttm_and_a_manifest(testset: SpeechTestSet) -> None:
    folder, m = testset.folder, testset.manifest
    female, male = "aura-2-electra-en", "aura-2-hermes-en"  # DEFAULT_VOICES
    assert list(m.columns) == list(MANIFEST_COLUMNS)
    assert m.id.tolist() == ["text-000", "text-001", "text-002", "dialogue-000"]
    assert m.kind.tolist() == ["text"] * 3 + ["dialogue"] and m.turns.tolist() == [1, 1, 1, 4]
    # texts take the voices in turn; a dialogue's plain turns alternate them
    assert m.voices.tolist() == [female, male, female, f"{female};{male}"]
    assert m.rttm.fillna("").tolist() == ["", "", "", "dialogue-000.rttm"]
    assert (folder / "text-001.txt").read_text() == TEXTS[1] + "\n"
    turns = [t if isinstance(t, str) else t[1] for t in DIALOGUE]
    assert (folder / "dialogue-000.txt").read_text().splitlines() == turns
    assert m.text.iloc[3] == " ".join(turns) and m.characters.iloc[3] == sum(map(len, turns))
    for row in m.itertuples():
        pcm, rate = samples(folder / row.audio)
        assert rate == row.sample_rate == 16000 and len(pcm) / rate == pytest.approx(row.duration, abs=1e-3)
    back = pd.read_csv(testset.manifest_path, keep_default_na=False)
    assert back.id.tolist() == m.id.tolist() and back.duration.tolist() == m.duration.tolist()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["manifest.csv", *m.audio, *m.transcript, "dialogue-000.rttm"]
    )  # no temp file left
    assert "3 text(s), 1 dialogue(s)" in repr(testset)


def test_the_rttm_marks_exactly_where_each_voice_speaks(testset: SpeechTestSet) -> None:
    pcm, rate = samples(testset.folder / "dialogue-000.wav")
    lines = (testset.folder / "dialogue-000.rttm").read_text().splitlines()
    speakers = ["aura-2-electra-en", "aura-2-hermes-en"] * 2
    assert [line.split()[7] for line in lines] == speakers
    spans = []
    for line in lines:
        kind, file_id, channel, start, duration, *_ = line.split()
        assert (kind, file_id, channel) == ("SPEAKER", "dialogue-000", "1")
        first, length = round(float(start) * rate), round(float(duration) * rate)
        assert first == float(start) * rate and length == float(duration) * rate  # whole samples
        spans.append((first, first + length))
    assert spans[0][0] == round(0.3 * rate) and spans[-1][1] + round(0.3 * rate) == len(pcm)  # pad
    assert [b[0] - a[1] for a, b in itertools.pairwise(spans)] == [round(0.6 * rate)] * 3  # gap
    inside = np.zeros(len(pcm), dtype=bool)
    for a, b in spans:
        inside[a:b] = True
        turn = np.abs(pcm[a:b].astype(np.int32))
        assert turn[0] >= 0.02 * turn.max() > 0  # the speech starts on the turn's first sample
        assert np.flatnonzero(turn)[-1] >= len(turn) - rate // 1000  # ... and ends in its last millisecond
    assert not pcm[~inside].any()  # digital silence between turns


def test_round_trip_speak_then_transcribe_gives_a_word_error_rate(
    testset: SpeechTestSet, store: Path, tmp_path: Path
) -> None:
    import jiwer

    run = dgtools.transcribe(testset.folder, engine="local", store=tmp_path / "transcripts", progress=False)
    requests = run.tables.requests.set_index("file_id")
    m = testset.manifest
    references = [words(t) for t in m.text]
    hypotheses = [words(requests.loc[audio, "transcript"]) for audio in m.audio]
    rates = {i: jiwer.wer(r, h) for i, r, h in zip(m.id, references, hypotheses, strict=True)}
    pooled = jiwer.wer(references, hypotheses)
    print(
        f"WER espeak-ng -> pocketsphinx: pooled {pooled:.3f}, "
        + ", ".join(f"{k} {v:.2f}" for k, v in rates.items())
    )
    assert pooled < 0.75 and min(rates.values()) < 0.5  # pocketsphinx hears espeak-ng poorly: a sanity bound


def test_round_trip_through_the_websocket(store: Path, tmp_path: Path) -> None:
    import jiwer

    from dgtools.speech.stream import speak_stream

    text = " ".join(TEXTS)
    streamed = speak_stream(
        [w + " " for w in text.split()], out=tmp_path / "audio" / "streamed.wav", store=store,
        engine="local", sample_rate=16000, model="aura-2-electra-en",
    )  # fmt: skip
    assert len(streamed.flushes) == 3  # one per sentence
    run = dgtools.transcribe(
        tmp_path / "audio", engine="local", store=tmp_path / "transcripts", progress=False
    )
    heard = run.tables.requests.transcript.iloc[0]
    rate = jiwer.wer(words(text), words(heard))
    print(f"WER speak_stream (espeak-ng) -> pocketsphinx: {rate:.3f}")
    assert rate < 0.75


def test_a_rerun_speaks_nothing_again(testset: SpeechTestSet, store: Path, tmp_path: Path) -> None:
    again = synthesize_test_set(TEXTS, dialogues=[DIALOGUE], out=tmp_path, store=store, engine="local")
    assert {c.status for run in again.speech for c in run.chunks} == {"stored"}
    for name in ("dialogue-000.wav", "dialogue-000.rttm", "text-000.wav", "manifest.csv"):
        assert (tmp_path / name).read_bytes() == (testset.folder / name).read_bytes()  # deterministic


def test_ids_voices_and_turns(store: Path, tmp_path: Path) -> None:
    ts = synthesize_test_set(
        {"greeting": "Hello."}, voices=["aura-2-apollo-en"], dialogues={"call": [("aura-zeus-en", "Hi."), "Bye."]},
        out=tmp_path, store=store, engine="local", sample_rate=8000, gap=0.25, pad=0,
    )  # fmt: skip
    m = ts.manifest.set_index("id")
    assert m.loc["greeting", "voices"] == "aura-2-apollo-en" and m.loc["call", "sample_rate"] == 8000
    assert m.loc["call", "voices"] == "aura-zeus-en;aura-2-apollo-en"
    lines = (tmp_path / "call.rttm").read_text().splitlines()
    assert lines[0].split()[3] == "0.000" and [line.split()[7] for line in lines] == [
        "aura-zeus-en",
        "aura-2-apollo-en",
    ]
    assert ts.references["greeting.wav"] == "Hello."


def test_bad_input_is_refused_before_anything_is_spoken(store: Path, tmp_path: Path) -> None:
    bad: list[tuple[dict[str, Any], str]] = [
        ({}, "nothing to speak"),
        ({"texts": "Hello."}, "not one string"),
        ({"texts": ["Hello.", " "]}, "text 'text-001'"),
        ({"texts": {"a/b": "Hello."}}, "id 'a/b'"),
        ({"texts": {"x": "Hi."}, "dialogues": {"x": ["Yo."]}}, r"unique.*\['x'\]"),
        ({"texts": ["Hi."], "voices": ["aura-2-thalai-en"]}, "did you mean aura-2-thalia-en"),
        ({"texts": ["Hi."], "voices": "aura-2-thalia-en"}, "give a list of Aura voices"),
        ({"dialogues": [[("aura-2-thalia-en",)]]}, "turn 0"),
        ({"texts": ["Hi."], "sample_rate": 22050}, "sample_rate=22050"),
        ({"texts": ["Hi."], "gap": -1}, "gap=-1"),
        ({"texts": ["Hi."], "speed": 9}, "speed=9"),
    ]
    for kwargs, message in bad:
        with pytest.raises(dgtools.ConfigError, match=message):
            synthesize_test_set(**kwargs, out=tmp_path / "out", store=tmp_path / "store", engine="local")
    assert not (tmp_path / "out").exists() and not (tmp_path / "store").exists()
