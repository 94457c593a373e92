"""dgtools.evaluate diarization: DER/JER against pyannote.metrics, WDER by hand, cpWER/tcpWER against meeteval."""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import dgtools
from conftest import fixture_files
from dgtools.evaluate.diarization import der, to_annotation
from dgtools.evaluate.speaker_wer import cpwer, tcpwer, wder
from dgtools.exceptions import ConfigError
from dgtools.io.rttm import read_rttm, to_rttm

pyannote_diarization = pytest.importorskip("pyannote.metrics.diarization")
core = pytest.importorskip("pyannote.core")
meeteval = pytest.importorskip("meeteval")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


def _rttm(*turns: tuple[str, float, float], uri: str = "a") -> str:
    return "".join(f"SPEAKER {uri} 1 {s:.3f} {e - s:.3f} <NA> <NA> {spk} <NA> <NA>\n" for spk, s, e in turns)


def _turns(*turns: tuple[int, float, float], file_id: str = "a.wav") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file_id": file_id,
            "channel": 0,
            "speaker": [t[0] for t in turns],
            "start": [t[1] for t in turns],
            "end": [t[2] for t in turns],
            "text": "x",
        }
    )


REF = _rttm(("A", 0.0, 4.0), ("B", 4.0, 6.0), ("A", 6.0, 10.0))


def _one(hyp: pd.DataFrame, ref: str = REF, **kw: object) -> pd.Series:
    return der(hyp, ref, collar=0.0, **kw).files.iloc[0]  # type: ignore[arg-type]


# --------------------------------------------------------------------------- DER by hand


def test_perfect_hypothesis_is_zero() -> None:
    row = _one(_turns((0, 0.0, 4.0), (1, 4.0, 6.0), (0, 6.0, 10.0)))
    assert (row.der, row.jer, row.missed_s, row.false_alarm_s, row.confusion_s) == (0, 0, 0, 0, 0)
    assert (row.reference_s, row.ref_speakers, row.hyp_speakers) == (10.0, 2, 2)


def test_one_swapped_turn_is_confusion() -> None:
    row = _one(_turns((0, 0.0, 4.0), (0, 4.0, 6.0), (0, 6.0, 10.0)))  # B's 2 s given to A's speaker
    assert row.confusion_s == pytest.approx(2.0) and row.der == pytest.approx(2 / 10)
    assert row.confusion == pytest.approx(0.2) and row.missed_s == 0 and row.false_alarm_s == 0


def test_missing_turn_is_missed_and_extra_turn_is_false_alarm() -> None:
    row = _one(_turns((0, 0.0, 4.0), (0, 6.0, 10.0)))  # B's turn not found, and its speaker absent
    assert (row.missed_s, row.confusion_s, row.der) == (pytest.approx(2.0), 0, pytest.approx(0.2))
    row = _one(_turns((0, 0.0, 4.0), (1, 4.0, 6.0), (0, 6.0, 10.0), (1, 10.0, 13.0)))
    assert (row.false_alarm_s, row.der) == (pytest.approx(3.0), pytest.approx(0.3))


def test_overlap_counts_unless_skipped() -> None:
    ref = _rttm(("A", 0.0, 6.0), ("B", 4.0, 10.0))  # 2 s of overlap
    hyp = _turns((0, 0.0, 4.0), (1, 4.0, 10.0))  # one speaker at a time: A's overlap is missed
    row = _one(hyp, ref)
    assert (row.reference_s, row.missed_s, row.der) == (12.0, pytest.approx(2.0), pytest.approx(2 / 12))
    row = _one(hyp, ref, skip_overlap=True)
    assert (row.reference_s, row.der) == (pytest.approx(8.0), 0.0)


def test_collar_forgives_boundaries() -> None:
    hyp = _turns((0, 0.0, 4.2), (1, 4.2, 6.0), (0, 6.0, 10.0))  # 0.2 s late at 4.0
    assert _one(hyp).confusion_s == pytest.approx(0.2)
    assert der(hyp, REF, collar=0.5).files.iloc[0].der == 0.0  # pyannote's collar: +-0.25 s


# --------------------------------------------------------------------------- DER against pyannote


@pytest.mark.parametrize("collar", [0.0, 0.25])
@pytest.mark.parametrize("skip_overlap", [False, True])
def test_equals_pyannote_on_the_same_annotations(collar: float, skip_overlap: bool) -> None:
    ref_text = REF + _rttm(("A", 0.0, 3.0), ("B", 2.0, 7.5), ("C", 7.0, 9.0), uri="b")
    words = pd.DataFrame(
        {
            "file_id": ["a.wav"] * 5 + ["b.wav"] * 4,
            "channel": 0,
            "word": list("abcdefghi"),
            "start": [0.1, 1.0, 4.3, 6.2, 8.0, 0.0, 2.5, 5.0, 7.2],
            "end": [0.9, 3.8, 5.9, 7.9, 9.5, 2.4, 4.9, 7.1, 9.3],
            "speaker": [1, 1, 0, 1, 2, 0, 1, 1, 0],
        }
    )
    r = der(words, ref_text, collar=collar, skip_overlap=skip_overlap)
    refs = read_rttm(ref_text)
    d_metric = pyannote_diarization.DiarizationErrorRate(collar=collar, skip_overlap=skip_overlap)
    j_metric = pyannote_diarization.JaccardErrorRate(collar=collar, skip_overlap=skip_overlap)
    hyps = to_annotation(words)
    for row in r.files.itertuples():
        uri = row.file_id.removesuffix(".wav")
        ref = to_annotation(refs[refs["file_id"] == uri])
        hyp = hyps[row.file_id]
        uem = core.Timeline([ref.get_timeline().union(hyp.get_timeline()).extent()])
        d = d_metric(ref, hyp, uem=uem, detailed=True)
        assert row.der == pytest.approx(d["diarization error rate"])
        assert (row.missed_s, row.false_alarm_s, row.confusion_s, row.reference_s) == pytest.approx(
            (d["missed detection"], d["false alarm"], d["confusion"], d["total"])
        )
        assert row.jer == pytest.approx(j_metric(ref, hyp, uem=uem))
    assert r.total["der"] == pytest.approx(abs(d_metric)) and r.total["jer"] == pytest.approx(abs(j_metric))
    assert r.total["reference_s"] == pytest.approx(d_metric.accumulated_["total"])
    assert r.files["der"].gt(0).all() and f"collar={collar}" in repr(r)


def test_pyannote_default_uem_gives_the_same_numbers() -> None:
    hyp = _turns((0, 0.5, 4.2), (1, 4.2, 6.0), (0, 6.0, 11.0))
    ref = to_annotation(read_rttm(REF))
    metric = pyannote_diarization.DiarizationErrorRate(collar=0.25)
    with pytest.warns(UserWarning, match="uem"):
        expected = metric(ref, to_annotation(hyp))
    assert der(hyp, REF).files.iloc[0].der == pytest.approx(expected)


def test_to_annotation_shapes() -> None:
    t = dgtools.to_tables(DATA / "responses")
    anns = to_annotation(t)
    assert isinstance(anns, dict) and set(anns) == set(t.words["file_id"])
    one = to_annotation(t, file_id="support_call_diarized")
    assert one.uri == "support_call_diarized" and one.labels() == ["speaker_0", "speaker_1"]
    assert to_annotation(t, source="turns", file_id="clinic_call_stereo").labels() == [
        "channel_0",
        "channel_1",
    ]


# --------------------------------------------------------------------------- references and files


def test_references_as_path_frame_and_mapping(tmp_path: Path) -> None:
    hyp = _turns((0, 0.0, 4.0), (0, 4.0, 6.0), (0, 6.0, 10.0), file_id="calls/a.wav")
    (tmp_path / "a.rttm").write_text(REF, encoding="utf-8")
    frame = read_rttm(REF)
    values = [
        der(hyp, src, collar=0).files.iloc[0].der
        for src in (tmp_path, tmp_path / "a.rttm", frame, {"a": frame})
    ]
    assert values == [pytest.approx(0.2)] * 4
    (tmp_path / "other.rttm").write_text(REF.replace("SPEAKER a ", "SPEAKER x "), encoding="utf-8")
    hyp2 = _turns((0, 0.0, 10.0), file_id="other.wav")  # the uri is x, the file's stem other
    assert der(hyp2, tmp_path / "other.rttm", collar=0).files.iloc[0].confusion_s == pytest.approx(2.0)


def test_missing_reference_lists_the_files() -> None:
    hyp = pd.concat([_turns((0, 0.0, 1.0)), _turns((0, 0.0, 1.0), file_id="b.wav")])
    with pytest.raises(ConfigError, match=r"no RTTM reference for 1 file\(s\): \['b.wav'\]"):
        der(hyp, REF)
    assert der(hyp, REF, file_id="a.wav").files["file_id"].tolist() == ["a.wav"]


def test_empty_reference_file(tmp_path: Path) -> None:
    (tmp_path / "a.rttm").write_text("", encoding="utf-8")  # as data/references/silence.rttm
    row = _one(_turns((0, 0.0, 1.0)), tmp_path)  # type: ignore[arg-type]
    assert (row.der, row.false_alarm_s, row.reference_s) == (1.0, 1.0, 0.0) and pd.isna(row.jer)
    assert pd.isna(row.false_alarm)


def test_bad_collar() -> None:
    with pytest.raises(ConfigError, match="collar"):
        der(_turns((0, 0.0, 1.0)), REF, collar=-1)


@pytest.mark.fixtures
def test_every_real_diarized_fixture_scores_against_its_own_rttm() -> None:
    files = [p for p in fixture_files() if '"speaker"' in p.read_text(encoding="utf-8")]
    if not files:
        pytest.skip("no diarized fixtures")
    for path in files:
        t = dgtools.to_tables(path)
        words_rttm = read_rttm("".join(to_rttm(t, source="words").values()))
        # der scores what to_rttm(source="words") writes
        assert der(t, words_rttm).total["der"] == 0.0, path.name
        turns_rttm = read_rttm("".join(to_rttm(t).values()))
        r = der(t, turns_rttm, collar=0.0)  # turns span pauses that words leave out: missed speech
        slack = 0.001 * len(turns_rttm)  # each turn's ends were rounded to the millisecond
        assert r.total["false_alarm_s"] + r.total["confusion_s"] < slack, path.name


# --------------------------------------------------------------------------- local engine, end to end


def test_local_engine_against_data_references(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pocketsphinx")
    run = dgtools.transcribe(
        DATA / "audio", engine="local", store=tempfile.mkdtemp(), progress=False, diarize=True
    )
    r = der(run, DATA / "references")
    files = r.files.set_index("file_id")
    assert sorted(files.index) == ["one_speaker.wav", "silence.wav", "stereo_call.wav", "two_voices.wav"]
    assert files.loc["stereo_call.wav", "hyp_speakers"] == 2  # speaker n = loudest channel n
    assert files.loc["stereo_call.wav", "der"] < 0.05
    assert files.loc["two_voices.wav", "hyp_speakers"] == 1  # pocketsphinx cannot split one channel
    assert files.loc["two_voices.wav", "confusion_s"] > 0
    assert files.loc["one_speaker.wav", "confusion_s"] == 0 and files.loc["silence.wav", "reference_s"] == 0
    with capsys.disabled():
        cols = [
            "file_id",
            "reference_s",
            "missed_s",
            "false_alarm_s",
            "confusion_s",
            "der",
            "jer",
            "hyp_speakers",
        ]
        print(f"\nlocal engine, diarize=true, on data/audio: {r}\n{r.files[cols].to_string()}")


# --------------------------------------------------------------------------- WDER, cpWER, tcpWER


def _words(*words: tuple[str, int, float], file_id: str = "a.wav") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file_id": file_id,
            "channel": 0,
            "word": [w[0] for w in words],
            "speaker": [w[1] for w in words],
            "start": [w[2] for w in words],
            "end": [w[2] + 0.4 for w in words],
        }
    )


STM = pd.DataFrame(
    {
        "file_id": "a",
        "speaker": ["A", "B", "A"],
        "start": [0.0, 2.0, 4.0],
        "end": [2.0, 4.0, 6.0],
        "text": ["Hello there, friend.", "Good bye.", "See you."],
    }
)
GOOD = [("hello", 0, 0.0), ("there", 0, 0.5), ("friend", 0, 1.0), ("good", 1, 2.0), ("bye", 1, 2.5)]
GOOD += [("see", 0, 4.0), ("you", 0, 4.5)]


def test_perfect_words_score_zero_everywhere() -> None:
    words = _words(*GOOD)
    for fn, col in ((wder, "wder"), (cpwer, "cpwer"), (tcpwer, "tcpwer")):
        r = fn(words, STM)
        assert r.total[col] == 0.0 and r.total["ref_words"] == 7, col
    assert cpwer(words, STM).files.iloc[0].assignment == "A=speaker_0; B=speaker_1"


def test_one_substitution() -> None:
    words = _words(*[("bad" if w == "good" else w, s, t) for w, s, t in GOOD])
    c = cpwer(words, STM).files.iloc[0]
    assert (c.substitutions, c.errors, c.cpwer) == (1, 1, pytest.approx(1 / 7))
    w = wder(words, STM).files.iloc[0]
    assert (w.aligned, w.speaker_errors, w.wder) == (7, 0, 0.0)  # a wrong word with the right speaker


def test_one_speaker_swap() -> None:
    words = _words(*[(w, 1 if w == "friend" else s, t) for w, s, t in GOOD])  # "friend" given to B
    w = wder(words, STM).files.iloc[0]
    assert (w.aligned, w.speaker_errors, w.wder) == (7, 1, pytest.approx(1 / 7))
    c = cpwer(words, STM).files.iloc[0]
    assert (c.errors, c.deletions, c.insertions) == (2, 1, 1)  # gone from A, extra for B
    assert tcpwer(words, STM).files.iloc[0].errors == 2


def test_a_deletion() -> None:
    words = _words(*[g for g in GOOD if g[0] != "bye"])
    c = cpwer(words, STM).files.iloc[0]
    assert (c.deletions, c.errors, c.hyp_words) == (1, 1, 6)
    assert wder(words, STM).files.iloc[0].aligned == 6


def test_equal_meeteval_called_directly() -> None:
    from meeteval.io import SegLST
    from meeteval.wer.api import cpwer as m_cpwer
    from meeteval.wer.api import tcpwer as m_tcpwer

    words = _words(
        ("hello", 1, 0.1), ("their", 1, 0.5), ("friend", 0, 1.9), ("good", 0, 2.1), ("see", 1, 9.0)
    )
    ref = SegLST(
        [
            {"session_id": "a.wav", "speaker": s, "start_time": a, "end_time": b, "words": t}
            for s, a, b, t in [
                ("A", 0.0, 2.0, "hello there friend"),
                ("B", 2.0, 4.0, "good bye"),
                ("A", 4.0, 6.0, "see you"),
            ]
        ]
    )
    hyp = SegLST(
        [
            {
                "session_id": "a.wav",
                "speaker": f"speaker_{s}",
                "start_time": t,
                "end_time": t + 0.4,
                "words": w,
            }
            for w, s, t in zip(words["word"], words["speaker"], words["start"], strict=True)
        ]
    )
    expected_cp = m_cpwer(ref, hyp)["a.wav"]
    got = cpwer(words, STM).files.iloc[0]
    assert (got.errors, got.ref_words, got.cpwer) == (
        expected_cp.errors,
        expected_cp.length,
        expected_cp.error_rate,
    )
    for collar in (0.5, 5.0):
        expected_tcp = m_tcpwer(ref, hyp, collar=collar)["a.wav"]
        got_tcp = tcpwer(words, STM, collar=collar)
        assert got_tcp.files.iloc[0].errors == expected_tcp.errors
        assert got_tcp.total["tcpwer"] == pytest.approx(expected_tcp.error_rate)
    assert tcpwer(words, STM, collar=0.5).total["tcpwer"] > cpwer(words, STM).total["cpwer"]


def test_wder_mapping_is_optimal_and_corpus_total_pools() -> None:
    # B's two words and A's "see you" with swapped ids: the mapping follows the majority
    swapped = _words(*[(w, 1 - s, t) for w, s, t in GOOD], file_id="b.wav")
    both = pd.concat([_words(*GOOD), swapped])
    stm = pd.concat([STM, STM.assign(file_id="b")])
    r = wder(both, stm)
    assert r.files["wder"].tolist() == [0.0, 0.0] and r.files.iloc[1].assignment == "A=speaker_1; B=speaker_0"
    one_wrong = _words(*[(w, 1 if w == "see" else s, t) for w, s, t in GOOD], file_id="b.wav")
    r = wder(pd.concat([_words(*GOOD), one_wrong]), stm)
    assert (r.total["speaker_errors"], r.total["aligned"], r.total["wder"]) == (1, 14, pytest.approx(1 / 14))
    assert "wder=7.14%" in repr(r)


def test_real_call_stm(real_speech: Path) -> None:
    from dgtools.io.stm import read_stm

    stm = read_stm(real_speech / "call.stm")
    words = pd.DataFrame(
        {
            "file_id": "call.wav",
            "channel": 0,
            "word": " ".join(stm["text"]).split(),
        }
    )
    per_segment = [len(t.split()) for t in stm["text"]]
    words["speaker"] = [spk for spk, n in zip(stm["speaker"], per_segment, strict=True) for _ in range(n)]
    words["start"] = [s for s, n in zip(stm["start"], per_segment, strict=True) for _ in range(n)]
    words["end"] = [e for e, n in zip(stm["end"], per_segment, strict=True) for _ in range(n)]
    for fn, col in ((wder, "wder"), (cpwer, "cpwer"), (tcpwer, "tcpwer")):
        r = fn(words, real_speech / "call.stm")  # uri "sample", matched through the file's stem "call"
        assert r.total[col] == 0.0 and r.total["ref_words"] == 81, col
    r = wder(words.assign(speaker="one"), real_speech / "call.stm")
    norm = dgtools.evaluate.Normalizer()
    sheila = sum(
        len(norm(t).split()) for t, spk in zip(stm["text"], stm["speaker"], strict=True) if spk == "Sheila"
    )
    assert r.total["speaker_errors"] == sheila


def test_missing_stm_reference_raises() -> None:
    with pytest.raises(ConfigError, match=r"no speaker-attributed reference for 1 file\(s\): \['b.wav'\]"):
        cpwer(_words(*GOOD, file_id="b.wav"), STM)


@pytest.mark.parametrize(
    ("module", "call"),
    [
        ("pyannote.metrics.diarization", lambda: der(_turns((0, 0.0, 1.0)), REF)),
        ("pyannote.core", lambda: to_annotation(_turns((0, 0.0, 1.0)))),
        ("meeteval.wer.api", lambda: cpwer(_words(*GOOD), STM)),
        ("jiwer", lambda: wder(_words(*GOOD), STM)),
    ],
)
def test_missing_optional_dependency_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, module: str, call: Callable[[], object]
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(dgtools.MissingDependencyError, match=re.escape("pip install 'dgtools[evaluate]'")):
        call()
