"""Runs side by side: :func:`compare_runs`, one row per file and run, with a delta to the baseline run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .._frames import arrow_array, floats, strings
from ..exceptions import ConfigError
from ..pricing import price_per_minute
from .normalize import Normalizer
from .wer import References, wer

__all__ = ["compare_runs"]

_COLUMNS = ["run", "file_id", "duration", "words", "speakers", "confidence", "cost", "wer", "der"]


def _tables(run: Any) -> Any:
    """The Tables of a Run, or the argument as it is (Tables)."""
    if isinstance(run, pd.DataFrame):
        raise ConfigError(
            "compare_runs takes the result of dgtools.transcribe or dgtools.to_tables for each run, "
            "not a single table: compare_runs({'nova-3': run1, 'nova-2': run2}, references=...)"
        )
    return run if hasattr(run, "words") else run.tables


def _models(requests: pd.DataFrame) -> dict[str, str]:
    """``{file_id: model}`` of the first response of each file: Deepgram reports ``general-nova-3`` for ``nova-3-general``."""
    if "model_name" not in requests.columns:
        return {}
    out: dict[str, str] = {}
    for fid, reported in zip(strings(requests["file_id"]), requests["model_name"].tolist(), strict=True):
        if str(fid) not in out and not pd.isna(reported):
            tier, _, model = str(reported).partition("-")
            out[str(fid)] = f"{model}-{tier}" if model else str(reported)
    return out


def _per_file(name: str, tables: Any, prices: Mapping[str, float] | None, free: bool) -> pd.DataFrame:
    """Duration, words, speakers, mean word confidence and cost of each file of one run."""
    requests = tables.requests
    words = tables.words
    ids = [str(f) for f in strings(requests["file_id"])] if "file_id" in requests.columns else []
    duration = dict(zip(ids, floats(requests["duration"]), strict=True)) if ids else {}
    first = (
        words if "alternative" not in words.columns else words[words["alternative"].fillna(0).to_numpy() == 0]
    )
    fid = strings(first["file_id"]) if len(first) else np.array([], dtype=object)
    count: dict[str, int] = pd.Series(fid, dtype=object).value_counts().to_dict() if len(fid) else {}
    conf = floats(first["confidence"]) if "confidence" in first.columns else np.full(len(first), np.nan)
    mean_conf = pd.Series(conf).groupby(pd.Series(fid, dtype=object)).mean().to_dict() if len(fid) else {}
    if "speaker" in first.columns and len(first):
        spk = pd.DataFrame({"f": fid, "c": first["channel"].to_numpy(), "s": first["speaker"].to_numpy()})
        speakers = spk.dropna().drop_duplicates().groupby("f").size().to_dict()
    else:
        speakers = {}
    models = _models(requests)
    rows = []
    for f in dict.fromkeys([*ids, *(str(x) for x in count)]):
        seconds = float(duration.get(f, np.nan))
        rate = 0.0 if free else price_per_minute(models.get(f, name), prices)
        if rate is None:
            rate = price_per_minute(name, prices)
        rows.append(
            {
                "run": name,
                "file_id": f,
                "duration": seconds,
                "words": int(count.get(f, 0)),
                "speakers": speakers.get(f, pd.NA),
                "confidence": float(mean_conf.get(f, np.nan)),
                "cost": np.nan if rate is None or np.isnan(seconds) else seconds / 60.0 * rate,
            }
        )
    return pd.DataFrame(rows)


def compare_runs(
    runs: Mapping[str, Any],
    *,
    references: References | None = None,
    rttm: Any = None,
    baseline: str | None = None,
    normalize: Normalizer | None = None,
    collar: float = 0.25,
    prices: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """One row per file and run: WER, DER, confidence, speakers, words and cost, with deltas to a baseline.

    Parameters
    ----------
    runs : dict
        ``{name: run}``, each the result of :func:`dgtools.transcribe`
        (:class:`~dgtools.Run`) or :func:`dgtools.to_tables`
        (:class:`~dgtools.Tables`) over the same audio, e.g. ``{"nova-3":
        run3, "nova-2": run2}``.
    references : folder, dict or DataFrame, optional
        The reference texts, as :func:`~dgtools.evaluate.wer` takes them;
        without them ``wer`` is NaN.
    rttm : path or DataFrame, optional
        Reference speaker turns, as :func:`~dgtools.evaluate.der` takes them;
        without them ``der`` is NaN.
    baseline : str, optional
        The run the deltas are taken from; default the first.
    normalize : Normalizer, optional
        The WER's normalisation (default :class:`Normalizer()`).
    collar : float, default 0.25
        The DER's forgiveness collar in seconds.
    prices : dict, optional
        Dollars per audio minute by model (default
        :data:`dgtools.pricing.PRICES`).  A file's model is the one its
        response names, else the run's name; an unpriced model's cost is NaN.
        A :class:`~dgtools.Run` of an offline engine (``engine="local"``,
        ``"whisper"``) costs 0.

    Returns
    -------
    pandas.DataFrame
        ``run``, ``file_id``, ``duration`` (s), ``words``, ``speakers``
        (distinct diarized speakers), ``confidence`` (mean word
        confidence), ``cost`` ($), ``wer``, ``der`` and, for each of
        ``wer``, ``der``, ``confidence`` and ``cost``, ``<metric>_delta``:
        this run's value minus the baseline's on the same file (0 on the
        baseline's own rows; NaN where the baseline lacks the file).  Runs
        in the order given, files in each run's order.

    Raises
    ------
    ConfigError
        ``runs`` is empty, ``baseline`` is not one of them, or a run is a
        single table.

    Examples
    --------
    >>> import dgtools
    >>> t = dgtools.to_tables("data/responses/podcast_mono.json")
    >>> spoken = t.requests["transcript"].iloc[0].replace("small teams", "small team")
    >>> df = compare_runs({"nova-3": t, "again": t}, references={"podcast_mono": spoken})
    >>> df[["run", "words", "cost", "wer", "wer_delta"]].round(4).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'run': 'nova-3', 'words': 59, 'cost': 0.0019, 'wer': 0.0169, 'wer_delta': 0.0},
     {'run': 'again', 'words': 59, 'cost': 0.0019, 'wer': 0.0169, 'wer_delta': 0.0}]
    """
    if not runs:
        raise ConfigError(
            "compare_runs needs at least one run: compare_runs({'nova-3': run}, references=...)"
        )
    names = [str(n) for n in runs]
    base = names[0] if baseline is None else baseline
    if base not in names:
        raise ConfigError(f"baseline={baseline!r} is not one of the runs {names}")
    frames = []
    for name, run in runs.items():
        tables = _tables(run)
        free = getattr(run, "engine", "deepgram") != "deepgram"  # a Run of an offline engine
        frame = _per_file(str(name), tables, prices, free)
        frame["wer"] = np.nan
        frame["der"] = np.nan
        if references is not None and len(frame):
            scored = wer(tables, references, normalize=normalize, bootstrap=0).files
            frame["wer"] = frame["file_id"].map(
                dict(zip(scored["file_id"], floats(scored["wer"]), strict=True))
            )
        if rttm is not None and len(frame):
            frame["der"] = frame["file_id"].map(_der_by_file(tables, rttm, collar))
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_COLUMNS)
    out = out[_COLUMNS]
    base_rows = out[out["run"] == base].set_index("file_id")
    for metric in ("wer", "der", "confidence", "cost"):
        values = out[metric].astype("float64")
        reference = out["file_id"].map(base_rows[metric].astype("float64"))
        out[f"{metric}_delta"] = values - reference
    for column in ("run", "file_id"):
        out[column] = arrow_array(out[column].tolist(), "str")
    out["words"] = arrow_array(out["words"].tolist(), "int")
    out["speakers"] = arrow_array([None if pd.isna(v) else int(v) for v in out["speakers"]], "int")
    return out


def _der_by_file(tables: Any, rttm: Any, collar: float) -> dict[str, float]:
    """``{file_id: DER}`` of one run against the reference turns."""
    from .diarization import der

    result = der(tables, rttm, collar=collar)
    files = result.files
    return dict(zip(strings(files["file_id"]), floats(files["der"]), strict=True))
