"""``dgtools export``: tables to the files other tools read (scoring, training, labelling, captions).

::

    dgtools export TABLES --format rttm|stm|ctm|seglst|nemo|lhotse|labelstudio|audacity|srt|vtt|ass --out DIR

``TABLES`` is a folder of Deepgram responses (as ``dgtools tables`` reads them) or of Parquet
tables (``dgtools tables --out``, ``--dataset`` too), a raw store (``dgtools transcribe --store``),
or, in object storage, a raw store or a dataset (``s3://bucket/prefix``: ``--store`` of
``dgtools transcribe``, ``--out`` of ``dgtools tables --dataset``; credentials from the environment).  Per-file formats write
``DIR/<file_id>.<ext>`` (an audio suffix of the id dropped: ``calls/a.wav`` ->
``DIR/calls/a.stm``); corpus manifests write one file: ``DIR/seglst.json``,
``DIR/manifest.json`` (NeMo), ``DIR/supervisions.jsonl`` (lhotse), ``DIR/tasks.json``
(Label Studio).  ``--alignments`` adds each lhotse supervision's word alignment.  It prints
what it wrote.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, Final

from ..exceptions import ConfigError
from .output import is_url, local_only

__all__ = ["FORMATS", "add_export"]

#: Format -> (file suffix of a per-file format, or the file name of a corpus manifest; what it is).
FORMATS: Final[dict[str, tuple[str, str]]] = {
    "rttm": (".rttm", "RTTM speaker turns (pyannote.metrics, dscore)"),
    "stm": (".stm", "NIST STM segment transcripts (sclite, meeteval)"),
    "ctm": (".ctm", "NIST CTM word timings (sclite, meeteval)"),
    "seglst": ("seglst.json", "meeteval's SegLST segments (one JSON file)"),
    "nemo": ("manifest.json", "a NeMo ASR manifest (JSON lines)"),
    "lhotse": ("supervisions.jsonl", "lhotse supervisions (JSON lines)"),
    "labelstudio": ("tasks.json", "Label Studio tasks with predictions (one JSON file)"),
    "audacity": (".txt", "Audacity label tracks"),
    "srt": (".srt", "SubRip captions"),
    "vtt": (".vtt", "WebVTT captions"),
    "ass": (".ass", "ASS captions"),
}
_CAPTIONS = ("srt", "vtt", "ass")
_UNITS = {"seglst": "segments", "nemo": "lines", "lhotse": "supervisions", "labelstudio": "tasks"}
_AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".webm", ".mp4", ".aac", ".mkv", ".json")

# Loose alias: argparse's _SubParsersAction is private and generic.
_Subparsers = Any


def add_export(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "export",
        help="write tables as RTTM, STM, CTM, SegLST, NeMo, lhotse, Label Studio, Audacity or captions",
        description=(
            "Read TABLES (a folder of Deepgram responses, or Parquet tables written by 'dgtools tables') "
            "and write them in another tool's format: one file per audio file, DIR/<file_id>.<ext>, for "
            "rttm, stm, ctm, audacity, srt, vtt and ass; one file for the corpus for seglst "
            "(DIR/seglst.json), nemo (DIR/manifest.json), lhotse (DIR/supervisions.jsonl) and labelstudio "
            "(DIR/tasks.json). NIST files (RTTM, STM, CTM) and SegLST number channels from 1. TABLES may "
            "be in object storage (s3://bucket/prefix): a raw store (dgtools transcribe --store URL) or a "
            "dataset (dgtools tables --dataset --out URL), with credentials and endpoint from the "
            "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_PROFILE)."
        ),
        epilog="In Python: dgtools.io.stm.to_stm(tables), dgtools.io.nemo.to_nemo(tables), ... (same names).",
    )
    p.add_argument(
        "tables",
        metavar="TABLES",
        help="a folder (or file) of Deepgram responses, a folder of Parquet tables or a raw store; or a raw "
        "store or a dataset in object storage (s3://bucket/prefix)",
    )
    p.add_argument(
        "--format",
        required=True,
        choices=list(FORMATS),
        metavar="FORMAT",
        help="one of " + ", ".join(FORMATS),
    )
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="folder to write to (created if needed)")
    p.add_argument(
        "--source",
        choices=["words", "utterances", "turns"],
        help="the table written, a line or cue per row (default: each file's utterances where it has "
        "some, else its turns; the words for ctm and captions)",
    )
    p.add_argument(
        "--preset",
        choices=["broadcast", "social", "verbatim"],
        help="caption limits of srt, vtt and ass (default: one line of 42 characters, up to 7 s)",
    )
    p.add_argument(
        "--audio-root",
        metavar="DIR",
        help="nemo and labelstudio: the folder the audio paths are taken under (default: the file ids)",
    )
    p.add_argument(
        "--segments",
        action="store_true",
        help="nemo: one manifest line per utterance, turn or word, with its offset (default: one per file)",
    )
    p.add_argument(
        "--alignments",
        action="store_true",
        help="lhotse: add each supervision's word alignment (word, start, duration, confidence)",
    )
    p.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    fmt: str = args.format
    if args.preset and fmt not in _CAPTIONS:
        raise ConfigError(f"--preset is for --format srt, vtt or ass, not --format {fmt}")
    if args.segments and fmt != "nemo":
        raise ConfigError(f"--segments is for --format nemo, not --format {fmt}")
    if args.alignments and fmt != "lhotse":
        raise ConfigError(f"--alignments is for --format lhotse, not --format {fmt}")
    if args.audio_root and fmt not in ("nemo", "labelstudio"):
        raise ConfigError(f"--audio-root is for --format nemo or labelstudio, not --format {fmt}")
    if fmt == "ctm" and args.source not in (None, "words"):
        raise ConfigError("--format ctm writes words: leave out --source (or give --source words)")
    local_only(
        args.out, "--out", f"give a folder to write the {fmt} files to (copy it to object storage afterwards)"
    )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder to write the {fmt} files to")
    tables = _load_url(args.tables) if is_url(args.tables) else _load(args.tables)
    written = _write(fmt, _export(fmt, tables, args), out)
    target = FORMATS[fmt][0]
    if target.startswith("."):
        print(f"wrote {written} {fmt} files to {out}")
    else:
        print(f"wrote {out / target} ({written} {_UNITS[fmt]})")
    return 0


def _load(source: str) -> Any:
    """The tables of a folder of responses, of Parquet tables, or of a raw store (``transcribe --store``)."""
    import dgtools

    from .commands import _store_file_ids, _table_sources

    path = Path(source)
    if not path.exists():
        raise ConfigError(
            f"{path} does not exist; give a folder of Deepgram responses, of Parquet tables or a --store folder"
        )
    if path.is_file() and path.suffix == ".parquet":
        path = path.parent
    if path.is_dir() and (any(path.glob("*.parquet")) or any(path.glob("*/part-*.parquet"))):
        tables = dgtools.read_parquet(path)
    else:  # a raw store's responses are named by the audio they answer, as dgtools tables names them
        tables = dgtools.to_tables(_table_sources([source]), file_id=_store_file_ids([source]))
    if not any(len(getattr(tables, n)) for n in ("words", "utterances", "turns")):
        raise ConfigError(
            f"{path} holds no transcribed words; transcribe audio first (dgtools transcribe AUDIO)"
        )
    return tables


def _load_url(url: str) -> Any:
    """The tables of a raw store or of a finished dataset in object storage (``s3://bucket/prefix``)."""
    import dgtools

    from ..store import RemoteStore
    from ..tables.remote import SUCCESS, RemoteDataset
    from .commands import _remote_pairs, _remote_tables

    store = RemoteStore(url)
    if store.is_store():
        tables = _remote_tables(_remote_pairs([store]), None)
    else:
        dataset = RemoteDataset(url)
        if not any(dataset.fs.exists(f"{dataset.url}/{name}") for name in (SUCCESS, "requests", "words")):
            raise ConfigError(
                f"{url} holds neither a raw store nor a Parquet dataset; give a store (dgtools transcribe "
                f"AUDIO --store {url}) or a dataset (dgtools tables STORE --dataset --out {url})"
            )
        tables = dgtools.read_parquet(url)
    if not any(len(getattr(tables, n)) for n in ("words", "utterances", "turns")):
        raise ConfigError(
            f"{url} holds no transcribed words; transcribe audio first (dgtools transcribe AUDIO)"
        )
    return tables


def _export(fmt: str, tables: Any, args: argparse.Namespace) -> dict[str, str] | list[dict[str, Any]]:
    """The per-file documents, or the manifest's records, of format ``fmt``."""
    source = {"source": args.source} if args.source else {}
    if fmt in _CAPTIONS:
        from ..io import to_ass, to_srt, to_vtt

        writer: Callable[..., dict[str, str]] = {"srt": to_srt, "vtt": to_vtt, "ass": to_ass}[fmt]
        return writer(getattr(tables, args.source or "words"), preset=args.preset)
    if fmt == "rttm":
        from ..io.rttm import to_rttm

        return to_rttm(tables, **source)
    if fmt == "stm":
        from ..io.stm import to_stm

        return to_stm(tables, **source)
    if fmt == "ctm":
        from ..io.stm import to_ctm

        return to_ctm(tables)
    if fmt == "audacity":
        from ..io.audacity import to_audacity

        return to_audacity(tables, **source)
    if fmt == "seglst":
        from ..io.seglst import to_seglst

        return to_seglst(tables, **source)
    if fmt == "nemo":
        from ..io.nemo import to_nemo

        return to_nemo(tables, segments=args.segments, audio_root=args.audio_root, **source)
    if fmt == "lhotse":
        from ..io.lhotse import to_lhotse

        return to_lhotse(tables, alignments=args.alignments, **source)
    from ..io.labelstudio import to_labelstudio

    return to_labelstudio(tables, audio_root=args.audio_root, **source)


def _write(fmt: str, result: dict[str, str] | list[dict[str, Any]], out: Path) -> int:
    """Write ``result`` under ``out``; the number of files (per-file formats) or records written."""
    target = FORMATS[fmt][0]
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(result, dict):
        names: dict[Path, str] = {}
        for fid in result:
            path = out / _file_name(fid, target)
            if path in names:
                raise ConfigError(
                    f"file ids {names[path]!r} and {fid!r} both make {path}; rename one of the responses"
                )
            names[path] = fid
        for path, fid in names.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(result[fid], encoding="utf-8")
        return len(names)
    path = out / target
    if fmt in ("nemo", "lhotse"):
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result)
    else:
        text = json.dumps(result, ensure_ascii=False, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
    return len(result)


def _file_name(file_id: str, suffix: str) -> Path:
    """``<file_id>.<ext>`` as a relative path under DIR: an audio suffix dropped, no ``..`` or root.

    Examples
    --------
    >>> _file_name("calls/a.wav", ".stm").as_posix(), _file_name("/x/../b", ".srt").as_posix()
    ('calls/a.stm', 'x/_/b.srt')
    """
    parts = [
        p if p not in ("..", ".") else "_"
        for p in PurePosixPath(file_id.replace("\\", "/")).parts
        if p != "/"
    ]
    if not parts:
        parts = ["_"]
    name = parts[-1]
    stem, dot, ext = name.rpartition(".")
    if dot and stem and f".{ext.lower()}" in _AUDIO_SUFFIXES:
        name = stem
    return Path(*parts[:-1], name + suffix)
