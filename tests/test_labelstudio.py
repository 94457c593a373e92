"""dgtools.io Label Studio tasks: their shape against the labeling config, the stretches chosen, and the round trip."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import dgtools
from conftest import DATA, fixture_files
from dgtools.analysis import word_view
from dgtools.evaluate import Normalizer, wer
from dgtools.exceptions import ConfigError
from dgtools.io import labelstudio_config, labelstudio_references, read_labelstudio, to_labelstudio


@pytest.fixture(scope="module")
def tables() -> Any:
    return dgtools.to_tables(DATA / "responses")


def _words(conf: list[float], *, fid: str = "a", speaker: list[int] | None = None) -> pd.DataFrame:
    n = len(conf)
    df = pd.DataFrame(
        {
            "file_id": fid,
            "channel": 0,
            "word_index": range(n),
            "word": [f"w{i}" for i in range(n)],
            "start": [float(i) for i in range(n)],
            "end": [i + 0.5 for i in range(n)],
            "confidence": conf,
        }
    )
    if speaker is not None:
        df["speaker"] = speaker
    return df


def _regions(task: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(labels, textarea) result pairs of a task's prediction, checking they pair by id."""
    result = task["predictions"][0]["result"]
    assert len(result) % 2 == 0
    pairs = list(zip(result[::2], result[1::2], strict=True))
    for label, text in pairs:
        assert label["id"] == text["id"]
        assert (label["type"], text["type"]) == ("labels", "textarea")
        assert {k: label["value"][k] for k in ("start", "end", "channel")} == {
            k: text["value"][k] for k in ("start", "end", "channel")
        }
    assert len({label["id"] for label, _ in pairs}) == len(pairs)
    return pairs


def _validate(config: str, task: dict[str, Any]) -> None:
    """The checks label_studio_sdk's LabelInterface.validate_prediction makes, against the config's XML."""
    root = ET.fromstring(config)
    controls = {el.get("name"): el for el in root.iter() if el.get("toName")}
    objects = {el.get("name"): el for el in root.iter() if el.get("value", "").startswith("$")}
    for el in objects.values():
        assert el.get("value", "")[1:] in task["data"]
    for r in task["predictions"][0]["result"]:
        assert {"id", "from_name", "to_name", "type", "value"} <= set(r)
        control = controls[r["from_name"]]
        assert r["type"] == control.tag.lower()
        assert r["to_name"] in control.get("toName", "").split(",") and r["to_name"] in objects
        value = r["value"]
        assert isinstance(value["start"], float) and isinstance(value["end"], float)
        if r["type"] == "labels":
            allowed = {lab.get("value") for lab in control.iter("Label")}
            assert value["labels"] and set(value["labels"]) <= allowed
        else:
            assert control.get("perRegion") == "true"
            assert isinstance(value["text"], list) and all(isinstance(t, str) for t in value["text"])
        assert isinstance(r.get("score", 0.0), float)


# --------------------------------------------------------------------------- the stretches


def test_hand_computed_lowest_windows_and_ties() -> None:
    # window means: .9 .55 .25 .6 .9 .5 .5 -> (2,3) first, then (5,6) (tied with (6,7), earlier wins)
    words = _words([0.9, 0.9, 0.2, 0.3, 0.9, 0.9, 0.1, 0.9])
    task = to_labelstudio(words, window=2, stretches=2, min_words=1)[0]
    pairs = _regions(task)
    assert [p[1]["value"]["text"] for p in pairs] == [["w2 w3"], ["w5 w6"]]
    assert [(p[0]["value"]["start"], p[0]["value"]["end"]) for p in pairs] == [(2.0, 3.5), (5.0, 6.5)]
    assert [p[0]["score"] for p in pairs] == [0.25, 0.5]
    assert task["predictions"][0]["score"] == round(
        float(np.mean([0.9, 0.9, 0.2, 0.3, 0.9, 0.9, 0.1, 0.9])), 4
    )
    assert task["data"] == {"audio": "a", "file_id": "a", "text": " ".join(f"w{i}" for i in range(8))}


def test_runs_split_at_pauses_and_speakers() -> None:
    # runs w0-w2 (speaker 0) and w3-w5 (speaker 1); pairs .5 .3 | .3 .5: the tie goes to the earlier, w1 w2
    words = _words([0.5, 0.5, 0.1, 0.1, 0.5, 0.5], speaker=[0, 0, 0, 1, 1, 1])
    task = to_labelstudio(words, window=2, stretches=2, min_words=1)[0]
    pairs = _regions(task)
    assert [(lab["value"]["labels"], t["value"]["text"]) for lab, t in pairs] == [
        (["Speaker 0"], ["w1 w2"]),
        (["Speaker 1"], ["w3 w4"]),
    ]
    assert labelstudio_config(tasks=[task]).count("<Label ") == 3
    no_speaker = words.drop(columns="speaker")
    no_speaker.loc[3:, ["start", "end"]] += 5.0  # a 5.5 s pause after w2
    tasks = to_labelstudio(no_speaker, window=3, stretches=3, min_words=1, max_gap=2.0)
    assert [(lab["value"]["labels"], t["value"]["text"]) for lab, t in _regions(tasks[0])] == [
        (["Speech"], ["w0 w1 w2"]),
        (["Speech"], ["w3 w4 w5"]),
    ]
    one_run = to_labelstudio(no_speaker, window=3, stretches=1, max_gap=10.0)[0]
    assert [t["value"]["text"] for _, t in _regions(one_run)] == [["w1 w2 w3"]]  # tied with w2-w4
    assert to_labelstudio(no_speaker, window=3, min_words=4, max_gap=2.0)[0]["predictions"][0]["result"] == []


def _greedy_ok(conf: np.ndarray, chosen: list[tuple[int, int]], window: int, n: int) -> None:
    """Brute force: every window of the words, and the greedy rule's invariants on the chosen ones."""
    windows = [(s, s + window, float(conf[s : s + window].mean())) for s in range(len(conf) - window + 1)]
    means = {(a, b): m for a, b, m in windows}
    chosen_means = [means[c] for c in chosen]
    assert min(chosen_means) == pytest.approx(min(m for _, _, m in windows))
    for a, b in chosen:  # no overlap
        assert all(b <= c or d <= a for c, d in chosen if (c, d) != (a, b))
    for a, b, m in windows:
        if (a, b) in chosen:
            continue
        blockers = [means[(c, d)] for c, d in chosen if not (b <= c or d <= a)]
        if len(chosen) == n:  # a window left out is beaten by every chosen one, or overlaps a lower one
            assert (blockers and min(blockers) <= m + 1e-12) or max(chosen_means) <= m + 1e-12
        else:  # fewer than asked: every window left out overlaps a chosen one
            assert blockers


@pytest.mark.parametrize("fid", ["podcast_mono", "support_call_diarized", "standup_intelligence"])
@pytest.mark.parametrize(("window", "n"), [(5, 3), (8, 5), (3, 40)])
def test_stretches_are_the_lowest_windows_by_brute_force(tables: Any, fid: str, window: int, n: int) -> None:
    words = tables.words[tables.words["file_id"] == fid].drop(columns="speaker")
    view = word_view(words, ["file_id", "channel", "word"], caller="test")
    conf = view.frame["confidence"].to_numpy(dtype=float)
    tokens = list(view.tokens)
    task = to_labelstudio(words, window=window, stretches=n, max_gap=float("inf"))[0]
    chosen = []
    for label, text in _regions(task):
        pieces = text["value"]["text"][0].split(" ")
        start = [i for i in range(len(tokens)) if tokens[i : i + len(pieces)] == pieces]
        start = [s for s in start if view.start[s] == pytest.approx(label["value"]["start"])]
        assert len(start) == 1 and len(pieces) == window
        chosen.append((start[0], start[0] + window))
        assert text["score"] == pytest.approx(conf[start[0] : start[0] + window].mean(), abs=1e-4)
        assert label["value"]["end"] == pytest.approx(view.end[start[0] + window - 1])
    assert 0 < len(chosen) <= n
    assert [c[0] for c in chosen] == sorted(c[0] for c in chosen)  # regions in time order
    _greedy_ok(conf, chosen, window, n)


def test_every_region_lies_in_its_file_and_matches_the_config(tables: Any) -> None:
    duration = dict(zip(tables.requests["file_id"], tables.requests["duration"], strict=True))
    for stretches in (5, None):
        tasks = to_labelstudio(tables, stretches=stretches, audio_root="/data/local-files/?d=calls")
        assert [t["data"]["file_id"] for t in tasks] == [
            "clinic_call_stereo",
            "live_session",
            "podcast_mono",
            "standup_intelligence",
            "support_call_diarized",
            "silence",
        ]
        config = labelstudio_config(tasks=tasks, split_channels=True)
        json.loads(json.dumps(tasks))  # plain JSON
        for task in tasks:
            fid = task["data"]["file_id"]
            assert task["data"]["audio"] == f"/data/local-files/?d=calls/{fid}"
            _validate(config, task)
            for label, _ in _regions(task):
                assert 0 <= label["value"]["start"] < label["value"]["end"] <= duration[fid]
    ids = [t["data"]["file_id"] for t in tasks]
    assert [t["data"]["text"] for t in tasks] == _hypotheses(tables, ids)  # the text WER reads


def _hypotheses(tables: Any, ids: list[str]) -> list[str]:
    """The hypothesis WER reads, unnormalised (the normaliser set to identity)."""
    files = wer(tables, {f: "x" for f in ids}, normalize=lambda s: s, file_id=list(ids), bootstrap=0).files
    return list(files["hypothesis"])


def test_without_confidence_or_words() -> None:
    words = _words([0.5] * 6).drop(columns="confidence")
    task = to_labelstudio(words)[0]
    assert task["predictions"][0]["result"] == [] and "score" not in task["predictions"][0]
    every = _regions(to_labelstudio(words, stretches=None, window=4)[0])
    assert [t["value"]["text"] for _, t in every] == [["w0 w1 w2 w3"], ["w4 w5"]]
    assert all("score" not in t for _, t in every)
    assert to_labelstudio(_words([])) == []
    with pytest.raises(ConfigError, match="window >= 1"):
        to_labelstudio(words, window=0)
    with pytest.raises(ConfigError, match="utterances table"):
        to_labelstudio(words, source="utterances")


def test_audio_url_template_callable_and_model_version() -> None:
    words = _words([0.5] * 4, fid="calls/a.wav")
    assert to_labelstudio(words, audio_url="s3://b/{stem}.flac")[0]["data"]["audio"] == "s3://b/a.flac"
    assert to_labelstudio(words, audio_url=str.upper)[0]["data"]["audio"] == "CALLS/A.WAV"
    assert to_labelstudio(words, model_version="v9")[0]["predictions"][0]["model_version"] == "v9"


def test_utterances_source_predicts_whole_utterances(tables: Any) -> None:
    tasks = to_labelstudio(tables, source="utterances", stretches=None)
    utts = tables.utterances
    for task in tasks:
        fid = task["data"]["file_id"]
        rows = utts[utts["file_id"] == fid]
        if len(rows) == 0:
            continue
        got = [
            (lab["value"]["start"], lab["value"]["end"], lab["value"]["channel"]) for lab, _ in _regions(task)
        ]
        want = sorted(zip(rows["start"], rows["end"], rows["channel"], strict=True))
        assert got == [(round(s, 3), round(e, 3), c) for s, e, c in want]


@pytest.mark.parametrize(
    "path", fixture_files(("prerecorded_", "streaming_results", "docrepaired_")), ids=str
)
def test_real_fixtures_make_valid_tasks(path: Path) -> None:
    t = dgtools.to_tables(path)
    for stretches in (3, None):
        tasks = to_labelstudio(t, stretches=stretches)
        config = labelstudio_config(tasks=tasks)
        for task in tasks:
            _validate(config, task)
            for label, text in _regions(task):
                assert label["value"]["start"] < label["value"]["end"]
                assert text["value"]["text"][0].strip()
        if stretches is None and len(t.words):
            corrected = read_labelstudio(_annotated(tasks), use_predictions=False)
            refs = labelstudio_references(corrected, t)
            assert (refs["checked_words"] == refs["hyp_words"]).all()


# --------------------------------------------------------------------------- the round trip


def _annotated(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a Label Studio JSON export looks like after an annotator submitted each prediction as it is."""
    out = []
    for i, task in enumerate(copy.deepcopy(tasks)):
        result = task["predictions"][0]["result"]
        task.update(
            id=100 + i, annotations=[{"id": 500 + i, "result": copy.deepcopy(result), "was_cancelled": False}]
        )
        out.append(task)
    return out


def test_round_trip_one_substitution(tables: Any, tmp_path: Path) -> None:
    tasks = _annotated(to_labelstudio(tables, stretches=3))
    task = tasks[2]  # podcast_mono
    text_result = task["annotations"][0]["result"][1]
    tokens = text_result["value"]["text"][0].split(" ")
    k = next(i for i, tok in enumerate(tokens) if len(Normalizer()(tok)) > 3)
    was, tokens[k] = tokens[k], "zebra"
    text_result["value"]["text"] = [" ".join(tokens)]
    tasks[3]["annotations"].insert(0, {"id": 9, "result": [], "was_cancelled": True})  # ignored
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks), encoding="utf-8")

    corrected = read_labelstudio(export)
    assert list(corrected.columns) == [
        "file_id",
        "task_id",
        "source",
        "annotation_id",
        "region_id",
        "channel",
        "start",
        "end",
        "speaker",
        "label",
        "text",
    ]
    assert len(corrected) == sum(len(t["predictions"][0]["result"]) // 2 for t in tasks)
    assert set(corrected["source"]) == {"annotation"}
    refs = labelstudio_references(corrected, tables)
    assert list(refs["file_id"]) == [t["data"]["file_id"] for t in tasks if t["predictions"][0]["result"]]
    result = wer(tables, refs, file_id=list(refs["file_id"]))
    assert int(result.total["errors"]) == 1
    assert result.pairs.to_dict("records") == [
        {"ref": "zebra", "hyp": Normalizer()(was), "kind": "substitution", "count": 1}
    ]
    row = result.files.set_index("file_id").loc["podcast_mono"]
    assert (row["substitutions"], row["deletions"], row["insertions"]) == (1, 0, 0)


def test_full_coverage_reproduces_the_hypothesis(tables: Any) -> None:
    tasks = _annotated(to_labelstudio(tables, stretches=None, window=7))
    refs = labelstudio_references(read_labelstudio(tasks), tables)
    texts = dict(zip(refs["file_id"], refs["text"], strict=True))
    for task in tasks:
        if task["predictions"][0]["result"]:
            assert texts[task["data"]["file_id"]] == task["data"]["text"]
    assert wer(tables, refs, file_id=list(refs["file_id"])).total["errors"] == 0


def test_annotation_choice_predictions_and_whole_file_text() -> None:
    words = _words([0.9, 0.1, 0.1, 0.9])
    task = to_labelstudio(words, window=2, stretches=1, min_words=1)[0]
    pred = task["predictions"][0]["result"]
    edited = copy.deepcopy(pred)
    edited[1]["value"]["text"] = ["one two three"]
    task["id"] = 1
    task["annotations"] = [
        {"id": 1, "result": pred, "updated_at": "2026-01-02T00:00:00Z"},
        {"id": 2, "result": edited, "updated_at": "2026-01-03T00:00:00Z"},
        {"id": 3, "result": [], "updated_at": "2026-01-04T00:00:00Z", "was_cancelled": True},
    ]
    assert read_labelstudio(task)["text"].tolist() == ["one two three"]
    task["annotations"][0]["ground_truth"] = True
    assert read_labelstudio(task)["annotation_id"].tolist() == ["1"]
    refs = labelstudio_references(read_labelstudio(task), words)
    assert refs.to_dict("records") == [
        {"file_id": "a", "text": "w0 w1 w2 w3", "regions": 1, "checked_words": 2, "hyp_words": 4}
    ]
    bare = {"id": 2, "data": task["data"], "predictions": task["predictions"], "annotations": []}
    assert read_labelstudio([bare]).empty
    got = read_labelstudio([bare], use_predictions=True)
    assert got[["source", "text"]].to_dict("records") == [{"source": "prediction", "text": "w1 w2"}]
    whole = {"from_name": "transcription", "to_name": "audio", "type": "textarea", "value": {"text": ["a b"]}}
    bare["annotations"] = [{"id": 4, "result": [whole]}]
    assert labelstudio_references(read_labelstudio([bare]), words)["text"].tolist() == ["a b"]


def test_regions_moved_added_or_emptied() -> None:
    words = _words([0.9] * 6)
    fixed = pd.DataFrame(
        {
            "file_id": ["a", "a", "a"],
            "channel": [0, 0, None],
            "start": [0.9, 2.8, 10.0],
            "end": [2.6, 3.6, 11.0],
            "text": ["x", "", "tail"],
        }
    )  # w1 w2 -> x (bounds moved), w3 said nowhere, a region past every word
    refs = labelstudio_references(fixed, words)
    assert refs["text"].tolist() == ["w0 x w4 w5 tail"]
    assert refs["checked_words"].tolist() == [3]


def test_json_min_export() -> None:
    records = [
        {
            "id": 1,
            "file_id": "a",
            "audio": "a",
            "labels": [{"start": 1.0, "end": 2.5, "channel": 0, "labels": ["Speaker 0"]}],
            "transcription": "w1 zebra",
            "annotation_id": 3,
            "updated_at": "2026-01-02",
        },
        {
            "id": 1,
            "file_id": "a",
            "transcription": "old",
            "labels": [{"start": 1.0, "end": 2.5}],
            "updated_at": "2026-01-01",
        },
    ]
    got = read_labelstudio(records)
    assert got[["file_id", "start", "end", "speaker", "text"]].to_dict("records") == [
        {"file_id": "a", "start": 1.0, "end": 2.5, "speaker": "0", "text": "w1 zebra"}
    ]
    two = {**records[0], "transcription": ["a", "b"]}
    with pytest.raises(ConfigError, match="export the project as JSON"):
        read_labelstudio([two])


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a file"):
        read_labelstudio(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.json"):
        read_labelstudio(bad)
    with pytest.raises(ConfigError, match="lack columns"):
        labelstudio_references(pd.DataFrame({"file_id": []}), _words([0.5]))


def test_config_labels_and_escaping() -> None:
    config = labelstudio_config(["Agent", 'A "quoted" <name>'], transcript=False)
    root = ET.fromstring(config)
    assert [lab.get("value") for lab in root.iter("Label")] == ["Speech", "Agent", 'A "quoted" <name>']
    assert [el.tag for el in root] == ["Labels", "Audio", "TextArea"]
