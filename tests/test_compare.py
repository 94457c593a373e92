"""dgtools.compare_runs and dgtools.plotting.metric_by_file: two engines on the same audio, side by side."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import dgtools
from conftest import missing
from dgtools.evaluate import compare_runs, wer
from dgtools.plotting import metric_by_file

REPO = Path(__file__).resolve().parents[1]
RESPONSES = REPO / "data/responses"


@pytest.fixture(scope="module")
def two_engines() -> dict[str, dgtools.Run]:
    """pocketsphinx and Whisper tiny.en over data/audio, each into a store of its own."""
    pytest.importorskip("pocketsphinx")
    if importlib.util.find_spec("faster_whisper") is None:
        missing("whisper", "faster-whisper is not installed: pip install 'dgtools[whisper]'")
    audio = REPO / "data/audio"
    local = dgtools.transcribe(audio, engine="local", store=tempfile.mkdtemp(), progress=False)
    whisper = dgtools.transcribe(
        audio, engine="whisper", whisper_model="tiny.en", store=tempfile.mkdtemp(), progress=False
    )
    return {"pocketsphinx": local, "whisper": whisper}


def test_compare_two_engines_against_the_references(two_engines: dict[str, dgtools.Run]) -> None:
    refs = REPO / "data/references"
    df = compare_runs(two_engines, references=refs, rttm=refs)
    assert df.columns.tolist() == [
        "run", "file_id", "duration", "words", "speakers", "confidence", "cost", "wer", "der",
        "wer_delta", "der_delta", "confidence_delta", "cost_delta",
    ]  # fmt: skip
    assert df["run"].tolist() == ["pocketsphinx"] * 4 + ["whisper"] * 4
    for name, run in two_engines.items():
        rows = df[df["run"] == name].set_index("file_id")
        alone = wer(run, refs).files.set_index("file_id")
        np.testing.assert_array_equal(
            rows["wer"].to_numpy(float), alone.loc[rows.index, "wer"].to_numpy(float)
        )
        words = run.tables.words
        assert rows["words"].to_dict() == {f: int((words["file_id"] == f).sum()) for f in rows.index}
        assert (rows["cost"] == 0).all()  # offline engines are free
    base = df[df["run"] == "pocketsphinx"].set_index("file_id")["wer"]
    other = df[df["run"] == "whisper"].set_index("file_id")["wer"]
    delta = df[df["run"] == "whisper"].set_index("file_id")["wer_delta"]
    np.testing.assert_allclose(delta.to_numpy(float), (other - base).to_numpy(float), equal_nan=True)
    assert (df[df["run"] == "pocketsphinx"]["wer_delta"].dropna() == 0).all()
    silence = df[df["file_id"] == "silence.wav"]
    assert silence["wer"].isna().all() and (silence["words"] == 0).all()


def test_baseline_choice_and_costs_from_prices() -> None:
    t = dgtools.to_tables(RESPONSES)
    fewer = dgtools.to_tables(RESPONSES / "podcast_mono.json")
    df = compare_runs(
        {"nova-3": t, "nova-2": fewer}, baseline="nova-2", prices={"nova-3": 0.01, "nova-2": 0.02}
    )
    podcast = df[df["file_id"] == "podcast_mono"].set_index("run")
    minutes = float(t.requests.set_index("file_id").loc["podcast_mono", "duration"]) / 60
    assert podcast.loc["nova-3", "cost"] == pytest.approx(minutes * 0.01)  # Deepgram names it general-nova-3
    assert podcast.loc["nova-3", "cost_delta"] == pytest.approx(
        0.0
    )  # both files name nova-3 in their metadata
    assert df[(df["run"] == "nova-3") & (df["file_id"] != "podcast_mono")]["cost_delta"].isna().all()
    diarized = df[(df["run"] == "nova-3") & (df["file_id"] == "support_call_diarized")]
    assert diarized["speakers"].tolist() == [
        t.words[t.words["file_id"] == "support_call_diarized"]["speaker"].nunique()
    ]
    unpriced = compare_runs({"x": t}, prices={"enhanced": 1.0})
    assert unpriced["cost"].isna().all()


def test_bad_arguments_are_one_line_errors() -> None:
    t = dgtools.to_tables(RESPONSES)
    with pytest.raises(dgtools.ConfigError, match="at least one run"):
        compare_runs({})
    with pytest.raises(dgtools.ConfigError, match=r"baseline='nova-9' is not one of the runs \['a'\]"):
        compare_runs({"a": t}, baseline="nova-9")
    with pytest.raises(dgtools.ConfigError, match="not a single table"):
        compare_runs({"a": t.words})


def test_metric_by_file_draws_one_bar_per_file_and_run() -> None:
    df = pd.DataFrame(
        {
            "run": ["nova-3"] * 3 + ["nova-2"] * 3,
            "file_id": ["a", "b", "c"] * 2,
            "wer": [0.10, 0.30, 0.20, 0.15, 0.25, np.nan],
            "cost": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0],
        }
    )
    ax = metric_by_file(df, ax=Figure().subplots())
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "c", "b"]  # by nova-3's WER, highest on top
    widths = {
        (c.get_label(), round(p.get_y() + p.get_height() / 2)): p.get_width()
        for c in ax.containers
        for p in c
    }
    assert widths[("nova-3", 2)] == pytest.approx(30.0) and widths[("nova-2", 2)] == pytest.approx(25.0)
    assert widths[("nova-2", 1)] == 0  # no value: an empty bar
    assert ax.get_xlabel() == "wer (%)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["nova-3", "nova-2"]
    ax = metric_by_file(df, y="cost", sort=False, ax=Figure().subplots())
    assert ax.get_xlabel() == "cost" and [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]


def test_metric_by_file_warns_when_empty_and_names_missing_columns() -> None:
    df = pd.DataFrame({"run": ["a"], "file_id": ["x"], "wer": [np.nan]})
    with pytest.warns(UserWarning, match="no file has a 'wer' value"):
        metric_by_file(df, ax=Figure().subplots())
    with pytest.raises(dgtools.ConfigError, match=r"lacks columns \['der'\]"):
        metric_by_file(df, y="der", ax=Figure().subplots())
