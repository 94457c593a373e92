"""Generate a corpus of realistic, synthetic Deepgram pre-recorded responses.

Each response imitates a diarized nova-3 call with ``punctuate``, ``diarize``,
``utterances`` and ``paragraphs`` turned on: every word carries ``speaker``,
``speaker_confidence`` and ``punctuated_word``; ``results.utterances`` repeats
the words (as Deepgram does); paragraphs hold sentences.  The output is
deterministic for a given seed, so benchmark runs are comparable.

Files are written compact (no whitespace, ``{"metadata":{...``), as
Deepgram's API sends them; ``--indent N`` pretty-prints instead (the parsed
content is identical for the same seed either way).

Usage::

    python bench/corpus.py OUT_DIR --files 200 --minutes 10 [--seed 0] [--indent 2]
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

VOCAB = (  # noqa: SIM905 - a sentence reads better than 59 quoted words
    "the a to and of you i it that is in we this for on so yeah know okay what "
    "have be with just like can do are not right think but was about there they "
    "customer account billing number please thank order delivery payment refund "
    "support question problem really great going would could time will me my our"
).split()


def _word(rng: random.Random, t: float, speaker: int, spk_conf: float, cap: bool, end_sent: bool):
    w = rng.choice(VOCAB)
    dur = round(rng.uniform(0.12, 0.55), 6)
    punct = w.capitalize() if cap else w
    if end_sent:
        punct += rng.choice(".?.")
    elif rng.random() < 0.06:
        punct += ","
    return {
        "word": w,
        "start": round(t, 6),
        "end": round(t + dur, 6),
        "confidence": round(rng.uniform(0.35, 1.0), 8),
        "speaker": speaker,
        "speaker_confidence": spk_conf,
        "punctuated_word": punct,
    }, t + dur + rng.uniform(0.0, 0.12)


def make_response(rng: random.Random, minutes: float, n_speakers: int = 2) -> dict:
    """One response of about ``minutes`` of speech at ~150 words per minute."""
    duration = minutes * 60.0
    words: list[dict] = []
    utterances: list[dict] = []
    paragraphs: list[dict] = []
    t = rng.uniform(0.1, 1.0)
    speaker = 0
    while t < duration - 2:
        # a turn: 1-4 sentences of 4-18 words by one speaker
        spk_conf = round(rng.uniform(0.4, 0.99), 7)
        sentences = []
        turn_words: list[dict] = []
        for _ in range(rng.randint(1, 4)):
            n = rng.randint(4, 18)
            sw = []
            for i in range(n):
                w, t = _word(rng, t, speaker, spk_conf, i == 0, i == n - 1)
                sw.append(w)
            sentences.append(
                {
                    "text": " ".join(x["punctuated_word"] for x in sw),
                    "start": sw[0]["start"],
                    "end": sw[-1]["end"],
                }
            )
            turn_words.extend(sw)
            t += rng.uniform(0.05, 0.4)
        words.extend(turn_words)
        paragraphs.append(
            {
                "sentences": sentences,
                "speaker": speaker,
                "num_words": len(turn_words),
                "start": turn_words[0]["start"],
                "end": turn_words[-1]["end"],
            }
        )
        utterances.append(
            {
                "start": turn_words[0]["start"],
                "end": turn_words[-1]["end"],
                "confidence": round(sum(w["confidence"] for w in turn_words) / len(turn_words), 8),
                "channel": 0,
                "transcript": " ".join(w["punctuated_word"] for w in turn_words),
                "words": [dict(w) for w in turn_words],
                "speaker": speaker,
                "id": str(uuid.UUID(int=rng.getrandbits(128))),
            }
        )
        speaker = (speaker + rng.randint(1, max(1, n_speakers - 1))) % n_speakers
        t += rng.uniform(0.2, 1.5)
    transcript = " ".join(w["word"] for w in words)
    para_transcript = "".join(
        f"\n\nSpeaker {p['speaker']}: " + " ".join(s["text"] for s in p["sentences"]) for p in paragraphs
    )
    model = str(uuid.UUID(int=rng.getrandbits(128)))
    created = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 10**7))
    return {
        "metadata": {
            "transaction_key": "deprecated",
            "request_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "sha256": f"{rng.getrandbits(256):064x}",
            "created": created.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "duration": round(duration, 6),
            "channels": 1,
            "models": [model],
            "model_info": {model: {"name": "general-nova-3", "version": "2025-07-31.0", "arch": "nova-3"}},
        },
        "results": {
            "channels": [
                {
                    "alternatives": [
                        {
                            "transcript": transcript,
                            "confidence": 0.98,
                            "words": words,
                            "paragraphs": {"transcript": para_transcript, "paragraphs": paragraphs},
                        }
                    ]
                }
            ],
            "utterances": utterances,
        },
    }


def write_corpus(
    out: Path, *, files: int, minutes: float, seed: int = 0, indent: int | None = None
) -> list[Path]:
    """Write ``files`` responses into ``out`` as ``call_00000.json``, ...

    Compact JSON (as Deepgram's API sends it) unless ``indent`` is given.
    """
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i in range(files):
        p = out / f"call_{i:05d}.json"
        p.write_text(json.dumps(make_response(rng, minutes), indent=indent, separators=_separators(indent)))
        paths.append(p)
    return paths


def _separators(indent: int | None) -> tuple[str, str]:
    return (",", ": ") if indent is not None else (",", ":")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--indent", type=int, default=None, help="pretty-print with this indent (default: compact)"
    )
    a = ap.parse_args()
    paths = write_corpus(a.out, files=a.files, minutes=a.minutes, seed=a.seed, indent=a.indent)
    print(f"wrote {len(paths)} responses to {a.out}")


if __name__ == "__main__":
    main()
