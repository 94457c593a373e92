"""Tests of :mod:`dgtools.audio`: collecting inputs, skipped rows, content types, hashing and durations."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dgtools.audio import (
    AUDIO_TYPES,
    MAX_UPLOAD_BYTES,
    AudioSource,
    Skipped,
    collect,
    content_type,
    fingerprint,
    is_audio,
    probe_duration,
    sha256_file,
    wav_duration,
)

REPO = Path(__file__).resolve().parents[1]
RATE = 16000


def tone(seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype("float32")


def write_audio(path: Path, seconds: float, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {
        ".ogg": {"format": "OGG", "subtype": "VORBIS"},
        ".mp3": {"format": "MP3", "subtype": "MPEG_LAYER_III"},
        ".flac": {"format": "FLAC"},
    }.get(path.suffix.lower(), {"format": "WAV"})
    sf.write(path, tone(seconds, rate), rate, **kwargs)
    return path


def can_write_mp3() -> bool:
    return "MP3" in sf.available_formats()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A folder of recordings, with the clutter real folders have."""
    root = tmp_path / "recordings"
    write_audio(root / "calls" / "a.wav", 0.5)
    write_audio(root / "calls" / "b.flac", 0.75)
    write_audio(root / "calls" / "sub" / "c.ogg", 1.0)
    write_audio(root / "intro.WAV", 0.25)
    (root / "notes.txt").write_text("agenda for monday\n")
    (root / "calls" / "empty.wav").write_bytes(b"")
    write_audio(root / ".hidden.wav", 0.1)
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    write_audio(root / ".git" / "inside.wav", 0.1)
    write_audio(root / "__MACOSX" / "x.wav", 0.1)
    mystery = write_audio(tmp_path / "scratch.wav", 0.3)
    mystery.rename(root / "calls" / "mystery")  # no suffix: sniffed as WAV
    return root


def ids(rows: list[AudioSource] | list[Skipped]) -> list[str]:
    return [r.file_id for r in rows]


# --------------------------------------------------------------------------- folders


def test_collect_folder(tree: Path) -> None:
    found, skipped = collect(tree)
    assert ids(found) == ["calls/a.wav", "calls/b.flac", "calls/mystery", "calls/sub/c.ogg", "intro.WAV"]
    assert ids(skipped) == ["calls/empty.wav", "notes.txt"]
    a = found[0]
    assert a.path == (tree / "calls" / "a.wav").absolute()
    assert a.source == str(tree / "calls" / "a.wav")
    assert a.url is None
    assert a.size == (tree / "calls" / "a.wav").stat().st_size
    assert [f.content_type for f in found] == [
        "audio/wav",
        "audio/flac",
        "audio/wav",
        "audio/ogg",
        "audio/wav",
    ]
    assert not a.is_url


def test_collect_skipped_rows_say_why_and_what_to_do(tree: Path) -> None:
    _, skipped = collect(tree)
    by_id = {s.file_id: s for s in skipped}
    empty, notes = by_id["calls/empty.wav"], by_id["notes.txt"]
    assert empty.reason == "empty file (0 bytes)"
    assert "again" in empty.advice
    assert empty.source == str(tree / "calls" / "empty.wav")
    assert notes.reason == "not an audio file (.txt)"
    assert "patterns=" in notes.advice and "ffmpeg -i notes.txt -c:a flac notes.flac" in notes.advice


def test_collect_folder_not_recursive(tree: Path) -> None:
    found, skipped = collect(tree, recursive=False)
    assert ids(found) == ["intro.WAV"]
    assert ids(skipped) == ["notes.txt"]


def test_collect_patterns_are_case_insensitive(tree: Path) -> None:
    found, skipped = collect(tree, patterns=["*.wav"])
    assert ids(found) == ["calls/a.wav", "intro.WAV"]
    assert ids(skipped) == ["calls/empty.wav"]


def test_collect_patterns_match_relative_paths(tree: Path) -> None:
    found, _ = collect(tree, patterns=("calls/sub/*",))
    assert ids(found) == ["calls/sub/c.ogg"]
    found, _ = collect(tree, patterns=("*.flac", "*.ogg"))
    assert ids(found) == ["calls/b.flac", "calls/sub/c.ogg"]
    found, _ = collect(tree, patterns="*.flac")  # a bare string is one pattern
    assert ids(found) == ["calls/b.flac"]


def test_collect_folder_with_nothing_to_consider(tmp_path: Path, tree: Path) -> None:
    (tmp_path / "empty").mkdir()
    found, skipped = collect([tmp_path / "empty", tree], patterns=["*.opus"])
    assert found == []
    assert [s.reason for s in skipped] == ["folder has no files", "no file matches patterns=('*.opus',)"]
    assert all("patterns=" in s.advice for s in skipped)


def test_collect_is_deterministic(tree: Path) -> None:
    assert collect(tree) == collect(str(tree)) == collect(tree)


# --------------------------------------------------------------------------- files, globs, URLs, lists


def test_collect_file_given_directly(tree: Path) -> None:
    found, skipped = collect(tree / "calls" / "b.flac")
    assert skipped == []
    (b,) = found
    assert b.file_id == "b.flac"
    assert b.source == str(tree / "calls" / "b.flac")
    assert b.content_type == "audio/flac"


def test_hidden_file_given_directly_is_considered(tree: Path) -> None:
    found, _ = collect(tree / ".hidden.wav")
    assert ids(found) == [".hidden.wav"]


def test_collect_glob(tree: Path) -> None:
    found, skipped = collect(str(tree / "calls" / "*.wav"))
    assert ids(found) == ["a.wav"]
    assert ids(skipped) == ["empty.wav"]
    assert found[0].source == str(tree / "calls" / "a.wav")


def test_collect_recursive_glob(tree: Path) -> None:
    found, _ = collect(str(tree / "**" / "*.ogg"))
    assert ids(found) == ["calls/sub/c.ogg"]
    found, _ = collect(str(tree / "**"), patterns=["*.flac", "*.ogg"])
    assert ids(found) == ["calls/b.flac", "calls/sub/c.ogg"]
    found, _ = collect(str(tree / "**" / "*.wav"))
    assert ".hidden.wav" not in ids(found) and "__MACOSX/x.wav" not in ids(found)


def test_collect_relative_glob(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    found, _ = collect("calls/*.flac")
    assert ids(found) == ["b.flac"]
    assert found[0].source == os.path.join("calls", "b.flac")
    assert found[0].path == tree / "calls" / "b.flac"
    found, _ = collect("*.WAV")
    assert ids(found) == ["intro.WAV"]


def test_glob_matching_nothing_is_skipped(tree: Path) -> None:
    pattern = str(tree / "*.opus")
    found, skipped = collect(pattern)
    assert found == []
    assert [(s.source, s.reason) for s in skipped] == [(pattern, "no files match this pattern")]


def test_collect_urls() -> None:
    urls = ["https://dpgr.am/spacewalk.wav", "http://example.com/audio?id=7", "https://dpgr.am/spacewalk.wav"]
    found, skipped = collect(urls)
    assert skipped == []
    assert [(f.file_id, f.url, f.path, f.size, f.content_type) for f in found] == [
        (urls[0], urls[0], None, None, "audio/wav"),
        (urls[1], urls[1], None, None, None),
    ]
    assert found[0].is_url


@pytest.mark.parametrize("url", ["ftp://example.com/a.wav", "s3://bucket/a.wav", "https://"])
def test_collect_refuses_urls_deepgram_cannot_fetch(url: str) -> None:
    found, skipped = collect(url)
    assert found == []
    (s,) = skipped
    assert s.file_id == url
    assert "URL" in s.reason and "https" in s.advice


def test_missing_file(tmp_path: Path) -> None:
    found, skipped = collect(tmp_path / "nope.wav")
    assert found == []
    assert [(s.file_id, s.reason) for s in skipped] == [("nope.wav", "no such file")]
    assert "check the path" in skipped[0].advice


def test_list_of_sources_keeps_order_and_lists_each_file_once(tree: Path) -> None:
    a = tree / "calls" / "a.wav"
    found, _ = collect([a, tree / "calls", str(a), tree / "calls" / "sub" / ".." / "a.wav"])
    paths = [f.path for f in found]
    assert len(paths) == len(set(paths))
    assert ids(found) == ["a.wav", "b.flac", "mystery", "sub/c.ogg"]


def test_symlinked_duplicate_is_listed_once(tree: Path) -> None:
    link = tree / "link.wav"
    try:
        link.symlink_to(tree / "calls" / "a.wav")
    except OSError:
        pytest.skip("symlinks not available")
    found, _ = collect(tree)
    assert "link.wav" not in ids(found)
    assert sum(f.path is not None and f.path.name == "a.wav" for f in found) == 1


def test_broken_symlink_is_skipped(tmp_path: Path) -> None:
    try:
        (tmp_path / "gone.wav").symlink_to(tmp_path / "deleted.wav")
    except OSError:
        pytest.skip("symlinks not available")
    found, skipped = collect(tmp_path)
    assert found == []
    assert [(s.file_id, s.reason) for s in skipped] == [("gone.wav", "broken symbolic link")]


def test_file_ids_are_unique_across_sources(tmp_path: Path) -> None:
    write_audio(tmp_path / "monday" / "a.wav", 0.1)
    write_audio(tmp_path / "tuesday" / "a.wav", 0.2)
    found, _ = collect([tmp_path / "monday", tmp_path / "tuesday"])
    assert ids(found) == ["a.wav", (tmp_path / "tuesday" / "a.wav").as_posix()]


def _sparse_copy(src: Path, dst: Path, size: int) -> Path:
    """``src``'s bytes at the start of a sparse file of ``size`` bytes (no disk space used)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "wb") as f:
        f.write(src.read_bytes())
        f.truncate(size)
    return dst


def test_size_limit(tree: Path, tmp_path: Path) -> None:
    big = tmp_path / "big"
    _sparse_copy(tree / "calls" / "a.wav", big / "a.wav", MAX_UPLOAD_BYTES + 1)
    _sparse_copy(tree / "calls" / "b.flac", big / "b.flac", int(3.1 * 1024**3))
    _sparse_copy(tree / "calls" / "a.wav", big / "fits.wav", MAX_UPLOAD_BYTES)
    found, skipped = collect(big)
    assert ids(found) == ["fits.wav"]
    by_id = {s.file_id: s for s in skipped}
    assert list(by_id) == ["a.wav", "b.flac"] and {s.kind for s in skipped} == {"invalid"}
    wav = by_id["a.wav"]
    assert wav.reason == "2 GB is above Deepgram's 2 GB upload limit"
    assert wav.advice.startswith("convert it to .flac or .mp3 (ffmpeg -i a.wav -c:a flac a.flac)")
    assert "split it (ffmpeg -i a.wav -f segment -segment_time 3600 -c copy a_%03d.wav)" in wav.advice
    assert wav.advice.endswith(" or send it as a URL")
    assert by_id["b.flac"].reason == "3.1 GB is above Deepgram's 2 GB upload limit"
    assert "-c:a flac" not in by_id["b.flac"].advice  # already compressed: split or send a URL


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="root reads anything; POSIX modes")
def test_unreadable_file_is_skipped(tmp_path: Path) -> None:
    p = tmp_path / "locked.xyz"
    p.write_bytes(b"RIFF")
    p.chmod(0)
    try:
        _, skipped = collect(tmp_path)
    finally:
        p.chmod(0o644)
    assert skipped[0].reason.startswith("cannot be read")


def test_headerless_pcm_gets_ffmpeg_advice(tmp_path: Path) -> None:
    (tmp_path / "call.raw").write_bytes(b"\x01\x02" * 100)
    _, skipped = collect(tmp_path)
    assert "headerless PCM" in skipped[0].reason
    assert "ffmpeg -f s16le" in skipped[0].advice and "call.wav" in skipped[0].advice


def test_odd_names_are_quoted_in_advice(tmp_path: Path) -> None:
    (tmp_path / "my notes.txt").write_text("hi")
    _, skipped = collect(tmp_path)
    assert "ffmpeg -i 'my notes.txt' -c:a flac 'my notes.flac'" in skipped[0].advice


def test_rows_are_frozen(tree: Path) -> None:
    found, skipped = collect(tree)
    with pytest.raises(dataclasses.FrozenInstanceError):
        found[0].file_id = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        skipped[0].reason = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------- content types


def test_audio_types_cover_deepgram_formats() -> None:
    expected = {
        ".wav": "audio/wav",
        ".mp3": "audio/mpeg",
        ".flac": "audio/flac",
        ".ogg": "audio/ogg",
        ".opus": "audio/ogg",
        ".m4a": "audio/mp4",
        ".mp4": "audio/mp4",
        ".aac": "audio/aac",
        ".webm": "audio/webm",
        ".amr": "audio/amr",
        ".mka": "audio/x-matroska",
    }
    assert expected.items() <= AUDIO_TYPES.items()
    assert all(s.startswith(".") and s == s.lower() for s in AUDIO_TYPES)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64\x00\x00", "audio/mpeg"),  # MPEG-1 layer III frame
        (b"\xff\xf3\x88\xc4\x00\x00", "audio/mpeg"),  # MPEG-2 layer III frame
        (b"\xff\xf1\x50\x80\x02\x1f\xfc" + bytes(9) + b"\xff\xf1\x50\x80", "audio/aac"),  # ADTS: 2 frames
        (b"fLaC\x00\x00\x00\x22", "audio/flac"),
        (b"OggS\x00\x02\x00\x00", "audio/ogg"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "audio/webm"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", "audio/x-matroska"),
        (b"#!AMR\n\x3c", "audio/amr"),
        (b"FORM\x00\x00\x10\x00AIFFCOMM", "audio/aiff"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", None),  # a JPEG
        (b"\xff\xff\xff\xff", None),  # frame sync with reserved fields
        (b"%PDF-1.7", None),
        (b"PK\x03\x04", None),
        (b"hello world", None),
        (b"", None),
    ],
)
def test_sniffing_unknown_suffixes(tmp_path: Path, head: bytes, expected: str | None) -> None:
    p = tmp_path / "upload.bin"
    p.write_bytes(head + b"\x00" * 32)
    assert content_type(p) == expected
    assert is_audio(p) is (expected is not None)


def test_known_suffix_decides_without_reading(tmp_path: Path) -> None:
    assert content_type(tmp_path / "missing.MP3") == "audio/mpeg"
    assert content_type(tmp_path / "missing.bin") is None
    assert is_audio(str(tmp_path / "x.m4a"))
    assert not is_audio(tmp_path)  # a folder: nothing to sniff, no error


# --------------------------------------------------------------------------- hashing


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 1 << 20])
def test_sha256_file_matches_hashlib(tmp_path: Path, chunk_size: int) -> None:
    data = os.urandom(10_000) if chunk_size > 1 else os.urandom(300)
    p = tmp_path / "blob.wav"
    p.write_bytes(data)
    assert sha256_file(p, chunk_size=chunk_size) == hashlib.sha256(data).hexdigest()


def test_sha256_file_of_real_audio_and_empty_file(tree: Path) -> None:
    p = tree / "calls" / "b.flac"
    assert sha256_file(str(p)) == hashlib.sha256(p.read_bytes()).hexdigest()
    assert sha256_file(tree / "calls" / "empty.wav") == hashlib.sha256(b"").hexdigest()
    with pytest.raises(ValueError, match="chunk_size"):
        sha256_file(p, chunk_size=0)


# --------------------------------------------------------------------------- durations


AUDIO_CASES = [
    ("a.wav", 0.5, RATE),
    ("b.flac", 1.234, RATE),
    ("c.ogg", 2.0, 22050),
    pytest.param(
        "d.mp3",
        1.5,
        RATE,
        marks=pytest.mark.skipif(not can_write_mp3(), reason="this libsndfile cannot write MP3"),
    ),
]


@pytest.mark.parametrize(("name", "seconds", "rate"), AUDIO_CASES)
def test_probe_duration(tmp_path: Path, name: str, seconds: float, rate: int) -> None:
    p = write_audio(tmp_path / name, seconds, rate)
    duration = probe_duration(p)
    assert duration is not None
    assert abs(duration - round(seconds * rate) / rate) < 1e-3
    assert probe_duration(str(p)) == duration


@pytest.mark.parametrize(("name", "seconds", "rate"), AUDIO_CASES)
def test_real_audio_is_collected_with_its_type(tmp_path: Path, name: str, seconds: float, rate: int) -> None:
    p = write_audio(tmp_path / name, seconds, rate)
    found, skipped = collect(tmp_path)
    assert skipped == []
    assert [(f.file_id, f.content_type) for f in found] == [(name, AUDIO_TYPES[p.suffix])]
    renamed = p.rename(tmp_path / "no_suffix")  # the bytes alone say it is audio
    assert content_type(renamed) == AUDIO_TYPES[p.suffix]


def test_probe_duration_of_what_is_not_audio(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + os.urandom(2000))
    text = tmp_path / "notes.txt"
    text.write_text("not audio")
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    for p in (garbage, text, empty, tmp_path / "missing.wav", tmp_path):
        assert probe_duration(p) is None


# --------------------------------------------------------------------------- import cost


def test_import_does_not_load_audio_libraries() -> None:
    code = (
        "import json, sys\nimport dgtools.audio, dgtools.store\n"
        "print(json.dumps(sorted(m for m in ('soundfile', 'librosa', 'numpy') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    loaded = json.loads(out.stdout)
    assert "soundfile" not in loaded and "librosa" not in loaded


# --------------------------------------------------------------------------- fingerprint / wav_duration

WAV_SUBTYPES = [
    ("WAV", "PCM_16", 1),
    ("WAV", "PCM_24", 2),
    ("WAV", "PCM_32", 1),
    ("WAV", "PCM_U8", 1),
    ("WAV", "FLOAT", 2),
    ("WAV", "DOUBLE", 1),
    ("WAV", "ULAW", 1),
    ("WAV", "ALAW", 1),
    ("WAVEX", "PCM_16", 3),  # WAVE_FORMAT_EXTENSIBLE
]


@pytest.mark.parametrize(("fmt", "subtype", "channels"), WAV_SUBTYPES)
def test_fingerprint_reads_once_and_agrees_with_soundfile(
    tmp_path: Path, fmt: str, subtype: str, channels: int
) -> None:
    p = tmp_path / "x.wav"
    sf.write(p, np.zeros((11025, channels)), 22050, subtype=subtype, format=fmt)
    sha, seconds = fingerprint(p)
    assert sha == hashlib.sha256(p.read_bytes()).hexdigest()
    assert seconds == sf.info(str(p)).frames / 22050 == 0.5


def _wav(chunks: list[tuple[bytes, bytes]], data: bytes, data_size: int | None = None) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    for cid, payload in chunks:
        body += cid + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")
    body += b"data" + struct.pack("<I", len(data) if data_size is None else data_size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_wav_duration_walks_chunks_and_repairs_sizes() -> None:
    second = bytes(16000)
    odd = [(b"LIST", b"INFOISFT\x05\x00\x00\x00abcde"), (b"junk", b"x" * 3)]
    assert wav_duration(_wav(odd, second), len(_wav(odd, second))) == 1.0
    streamed = _wav([], second, data_size=0xFFFFFFFF)  # a recorder that never filled the size in
    assert wav_duration(streamed, len(streamed)) == 1.0
    short = _wav([], second)[:-8000]  # truncated: the data runs to the end of the file
    assert wav_duration(short, len(short)) == 0.5
    # not answerable from the header: other formats, ADPCM, data before fmt, too few bytes
    adpcm = _wav([], second).replace(struct.pack("<HH", 1, 1), struct.pack("<HH", 2, 1), 1)
    for head in (b"fLaC" + bytes(60), adpcm, b"RIFF\0\0\0\0WAVEdata\0\0\0\0", _wav([], second)[:20]):
        assert wav_duration(head, 50_000) is None


def test_fingerprint_falls_back_to_probing_other_formats(tmp_path: Path) -> None:
    p = write_audio(tmp_path / "b.flac", 1.234, RATE)
    sha, seconds = fingerprint(p)
    assert sha == sha256_file(p) and seconds == probe_duration(p)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + os.urandom(2000))
    assert fingerprint(garbage) == (sha256_file(garbage), None)
    with pytest.raises(OSError):
        fingerprint(tmp_path / "missing.wav")
