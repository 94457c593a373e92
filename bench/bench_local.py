"""The offline engines: real-time factor and word error rate, on synthetic and on real speech.

Usage::

    python data/fetch_real.py                  # once: the real recordings (data/README.md)
    python bench/bench_local.py [--repeats 3]

Part 1, pocketsphinx on data/audio (espeak): for ``decode_many(..., workers=1)`` and ``workers=2``,
wall seconds, audio seconds, the wall-clock real-time factor (wall / audio) and the per-process one
(decode seconds / audio seconds); then each file's WER against ``data/references/<name>.txt``.

Part 2, real speech (``data/real``: a quiet two-person call, and five LibriVox sentences): WER,
reference words found (in order) and real-time factor of

* raw pocketsphinx on the whole file as one utterance: the floor for the engine's own path;
* the local engine (``LocalEngine``: pocketsphinx over the regions its voice-activity step finds);
* the Whisper engine with tiny.en and with base (``WhisperEngine``, int8 on every core).

and the issue's targets: the local engine finds at least 90% of the words raw decoding finds;
Whisper's WER on the call is at most half of the local engine's; Whisper base runs at a real-time
factor of 0.5 or better.  Nothing here is a test: the figures are reported.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dgtools.engines.local import decode_many  # noqa: E402

AUDIO = REPO / "data" / "audio"
REFS = REPO / "data" / "references"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def wer(reference: list[str], hypothesis: list[str]) -> float:
    """Word error rate: (substitutions + deletions + insertions) / reference words (Levenshtein)."""
    if not reference:
        return 0.0 if not hypothesis else 1.0
    prev = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        cur = [i] + [0] * len(hypothesis)
        for j, h in enumerate(hypothesis, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(reference)


def run(workers: int, paths: list[Path], options: dict[str, object]) -> tuple[float, float, float, list]:
    start = time.perf_counter()
    results = list(decode_many(paths, options, workers=workers))
    wall = time.perf_counter() - start
    audio = sum(d.audio_seconds for d in results)
    decode = sum(d.seconds for d in results)
    return wall, audio, decode, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    paths = sorted(AUDIO.glob("*.wav"))
    options = {"punctuate": True}
    from importlib.metadata import version

    print(f"python {platform.python_version()}, pocketsphinx {version('pocketsphinx')}, "
          f"cores {os.cpu_count()}; {len(paths)} files in {AUDIO.relative_to(REPO)}")  # fmt: skip
    print(
        f"{'workers':>7} {'wall s':>8} {'audio s':>8} {'RTF wall':>9} {'RTF/process':>12}  (best of {a.repeats})"
    )
    last = None
    for workers in (1, 2):
        runs = [run(workers, paths, options) for _ in range(a.repeats)]
        wall, audio, decode, results = min(runs, key=lambda r: r[0])
        last = results
        print(f"{workers:>7} {wall:8.2f} {audio:8.2f} {wall / audio:9.3f} {decode / audio:12.3f}"
              f"   (walls: {', '.join(f'{r[0]:.2f}' for r in runs)}; median {statistics.median(r[0] for r in runs):.2f})")  # fmt: skip
    print("\nWER against data/references (reported, not a gate):")
    assert last is not None
    for d in last:
        name = Path(d.path).stem
        ref_path = REFS / f"{name}.txt"
        if isinstance(d.result, Exception) or not ref_path.exists():
            continue
        ref = words(ref_path.read_text())
        hyp = [w["word"] for ch in d.result["results"]["channels"] for w in ch["alternatives"][0]["words"]]
        print(
            f"  {name:14s} {wer(ref, [h.lower() for h in hyp]):.3f}  ({len(ref)} reference words, {len(hyp)} decoded)"
        )

    real_speech(a.repeats)


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def hits(reference: list[str], hypothesis: list[str]) -> int:
    """Reference words matched in order (the longest common subsequence)."""
    row = [0] * (len(hypothesis) + 1)
    for r in reference:
        diagonal = 0
        for j, h in enumerate(hypothesis, 1):
            diagonal, row[j] = row[j], diagonal + 1 if r == h else max(row[j], row[j - 1])
    return row[-1]


def _raw_pocketsphinx() -> Callable[[Path], list[str]]:
    """pocketsphinx on the whole file as one utterance, with the engine's model and settings."""
    import numpy as np
    import pocketsphinx

    from dgtools.engines.local.sphinx import DECODER_DEFAULTS, clean_token
    from dgtools.engines.pcm import load_audio

    model = Path(pocketsphinx.get_model_path()) / "en-us"
    decoder = pocketsphinx.Decoder(
        hmm=str(model / "en-us"), lm=str(model / "en-us.lm.bin"), dict=str(model / "cmudict-en-us.dict"),
        **DECODER_DEFAULTS,
    )  # fmt: skip

    def decode(path: Path) -> list[str]:
        audio = load_audio(path.read_bytes(), name=str(path))
        pcm = (np.clip(audio.downmix(), -1, 1) * 32767).astype("<i2")
        decoder.reinit_feat()
        decoder.start_utt()
        decoder.process_raw(pcm.tobytes(), full_utt=True)
        decoder.end_utt()
        return [t for t in (clean_token(s.word) for s in decoder.seg() or ()) if t]

    return decode


def real_speech(repeats: int) -> None:
    real = REPO / "data" / "real"
    if not (real / "call.wav").is_file():
        print(f"\nreal speech: {real.relative_to(REPO)} not found; run 'python data/fetch_real.py' first")
        return
    call_ref = [t for line in (real / "call.stm").read_text().splitlines() if line.strip()
                for t in tokens(line.split(None, 5)[5])]  # fmt: skip
    sets = {
        "call (2 people, -33 dBFS)": ([real / "call.wav"], call_ref),
        "librivox (read)": (
            sorted((real / "librivox").glob("*.wav")),
            [t for p in sorted((real / "librivox").glob("*.txt")) for t in tokens(p.read_text())],
        ),
    }
    engines: dict[str, Callable[[Path], list[str]]] = {"raw pocketsphinx, whole file": _raw_pocketsphinx()}
    from dgtools.engines.local import LocalEngine

    local = LocalEngine(max_decoders=1)
    engines["local engine"] = lambda p: [w["word"] for w in _words(local.transcribe_path(p))]
    try:
        from dgtools.engines.whisper import WhisperEngine, available_models

        for name in ("tiny.en", "base"):
            if name in available_models():
                engine = WhisperEngine(model=name)
                engine.warm_up()
                engines[f"whisper {name}"] = lambda p, e=engine: [
                    w["word"] for w in _words(e.transcribe_path(p))
                ]
    except ImportError:
        print("(the Whisper engine is not installed: pip install 'dgtools[whisper]')")
    import soundfile as sf

    print(f"\nreal speech, best of {repeats}: WER, reference words found in order, real-time factor")
    print(f"{'engine':30} {'recording':28} {'WER':>6} {'found':>9} {'RTF':>6}")
    table: dict[tuple[str, str], tuple[float, int, float]] = {}
    for label, (paths, reference) in sets.items():
        audio = sum(sf.info(str(p)).duration for p in paths)
        for name, decode in engines.items():
            best, hyp = float("inf"), []
            for _ in range(repeats):
                start = time.perf_counter()
                hyp = [t for p in paths for w in decode(p) for t in tokens(w)]
                best = min(best, time.perf_counter() - start)
            row = (wer(reference, hyp), hits(reference, hyp), best / audio)
            table[name, label] = row
            print(f"{name:30} {label:28} {row[0]:6.3f} {row[1]:>4}/{len(reference):<4} {row[2]:6.3f}")
    call = "call (2 people, -33 dBFS)"
    raw, fixed = table["raw pocketsphinx, whole file", call], table["local engine", call]
    print(
        f"\nlocal engine / raw whole file, words found on the call: {fixed[1] / max(1, raw[1]):.2f} (target >= 0.90)"
    )
    for name in ("whisper tiny.en", "whisper base"):
        if (name, call) in table:
            ratio = table[name, call][0] / fixed[0]
            print(f"{name} WER / local engine WER on the call: {ratio:.2f} (target <= 0.50)")
    if ("whisper base", call) in table:
        rtf = max(table["whisper base", k][2] for k in sets)
        print(f"whisper base real-time factor on {os.cpu_count()} cores: {rtf:.3f} (target <= 0.5)")


def _words(response: dict[str, object]) -> list[dict[str, object]]:
    channels = response["results"]["channels"]  # type: ignore[index]
    return [w for ch in channels for w in ch["alternatives"][0]["words"]]  # type: ignore[index]


if __name__ == "__main__":
    main()
