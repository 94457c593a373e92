"""The offline engines on real human speech (``data/real/``: a quiet two-person call and LibriVox).

Synthetic espeak audio hid two faults of the pocketsphinx path: on a real 30 s call at -33 dBFS it
returned 2 words (pocketsphinx's WebRTC detector found 2 s of the 23 s of speech), and a file's words
depended on what the same decoder had decoded before.  Bounds here are loose on purpose: they catch
those faults, not small changes of accuracy (``bench/bench_local.py`` reports the figures).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tones import wav

from dgtools.engines.local import LocalEngine


def stm(path: Path) -> list[tuple[float, float, str]]:
    """``(start, end, text)`` of each turn of an STM file."""
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            _, _, _, start, end, text = line.split(None, 5)
            out.append((float(start), float(end), text))
    return out


def tokens(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]+", " ", text.lower()).split()


def hits(reference: list[str], hypothesis: list[str]) -> int:
    """Reference words matched in order by the hypothesis (the longest common subsequence)."""
    row = [0] * (len(hypothesis) + 1)
    for r in reference:
        diagonal = 0
        for j, h in enumerate(hypothesis, 1):
            diagonal, row[j] = row[j], diagonal + 1 if r == h else max(row[j], row[j - 1])
    return row[-1]


def words(response: dict[str, Any]) -> list[dict[str, Any]]:
    return list(response["results"]["channels"][0]["alternatives"][0]["words"])


@pytest.fixture(scope="module")
def engine() -> Any:
    with LocalEngine(max_decoders=1) as e:  # one decoder: every file goes through the same one
        yield e


def test_a_quiet_two_person_call_is_transcribed_where_people_speak(
    engine: LocalEngine, real_speech: Path
) -> None:
    """Before: 2 words in 30 s (the voice-activity step dropped 21 of 23 s of speech)."""
    turns = stm(real_speech / "call.stm")
    got = words(engine.transcribe_path(real_speech / "call.wav"))
    assert len(got) >= 40, len(got)  # the whole file decoded as one utterance gives 74 words
    heard = [any(s - 0.3 <= (w["start"] + w["end"]) / 2 <= e + 0.3 for w in got) for s, e, _ in turns]
    assert sum(heard) >= 0.8 * len(turns), heard  # before: 2 of 21 turns
    reference = [t for _, _, text in turns for t in tokens(text)]
    assert (
        hits(reference, [w["word"] for w in got]) >= 20
    )  # pocketsphinx is weak on calls: 22 from the whole file


def test_read_speech_at_telephone_levels_keeps_its_words(engine: LocalEngine, real_speech: Path) -> None:
    """LibriVox sentences, each quietened to -40 dBFS: the words found stay those found at full level."""
    import soundfile as sf

    for path in sorted((real_speech / "librivox").glob("*.wav")):
        x, rate = sf.read(path, dtype="float32")
        quiet = x * (10 ** (-40 / 20) / float(np.sqrt(np.mean(x**2))))
        buffer = path.parent / f"{path.stem}.quiet.wav"
        try:
            sf.write(buffer, quiet, rate, subtype="PCM_16")
            reference = tokens(path.with_suffix(".txt").read_text())
            loud = [w["word"] for w in words(engine.transcribe_path(path))]
            soft = [w["word"] for w in words(engine.transcribe_path(buffer))]
        finally:
            buffer.unlink(missing_ok=True)
        assert hits(reference, soft) >= 0.8 * hits(reference, loud), (path.name, soft, loud)


def decode_all(engine: LocalEngine, paths: list[Path]) -> list[list[dict[str, Any]]]:
    return [words(engine.transcribe_path(p, {"alternatives": 2})) for p in paths]


def test_a_file_decodes_the_same_whatever_came_before(tmp_path: Path) -> None:
    """The same file alone and after three others: identical words, times and confidences."""
    import soundfile as sf

    repo = Path(__file__).resolve().parents[1] / "data" / "audio"
    rng = np.random.default_rng(7)
    target = tmp_path / "quiet_noisy.wav"  # quiet speech over noise: where the decoder's state showed
    x, rate = sf.read(repo / "one_speaker.wav", dtype="float32")
    sf.write(target, x * 0.05 + rng.normal(0, 0.003, len(x)).astype("float32"), rate, subtype="PCM_16")
    loud = tmp_path / "loud_noisy.wav"
    y, _ = sf.read(repo / "two_voices.wav", dtype="float32")
    sf.write(
        loud, np.clip(y * 0.9 + rng.normal(0, 0.05, len(y)), -1, 1).astype("float32"), rate, subtype="PCM_16"
    )
    before = [loud, repo / "stereo_call.wav", wav(tmp_path / "tone.wav", seconds=2.0, tone=3000)]
    with LocalEngine(max_decoders=1) as alone:
        first = decode_all(alone, [target])[0]
    with LocalEngine(max_decoders=1) as busy:
        after = decode_all(busy, [*before, target])[-1]
        again = decode_all(busy, [target])[0]
    assert first and first == after == again


def test_real_files_decode_the_same_in_any_order(real_speech: Path) -> None:
    files = [real_speech / "call.wav", *sorted((real_speech / "librivox").glob("*.wav"))[:2]]
    with LocalEngine(max_decoders=1) as forward:
        one = decode_all(forward, files)
    with LocalEngine(max_decoders=1) as backward:
        two = decode_all(backward, files[::-1])[::-1]
    assert one == two
