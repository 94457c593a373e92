"""Regenerate the sample audio in ``data/audio/`` and its references in ``data/references/``.

Speech is synthesised with espeak-ng (a subprocess; ``apt-get install espeak-ng``),
resampled to 16 kHz and written as 16-bit PCM WAV.  Each turn is synthesised
on its own, trimmed of espeak's leading and trailing silence and placed on a
timeline with fixed gaps, so the speaker turns are known exactly.  For every
file this writes:

* ``data/audio/<name>.wav``
* ``data/references/<name>.txt``: the exact text spoken, one turn per line
  (turns in time order);
* ``data/references/<name>.rttm``: one line per turn,
  ``SPEAKER <name> <channel> <start> <duration> <NA> <NA> <speaker> <NA> <NA>``,
  with 1-based channels (``stereo_call`` has the agent on channel 1 and the
  caller on channel 2).  ``silence`` has an empty ``.txt`` and ``.rttm``.

The sentences are short and plainly worded, and the two voices
(``en-us+edward`` and ``en-us+f5``) are the espeak-ng voices the bundled
pocketsphinx en-us model recognised best in a trial of 20 voices.  The
output is deterministic for a given espeak-ng version (1.51 made the
committed files), so a fresh machine needs no espeak-ng: the files are
committed.  Run from the repository root::

    python data/make_audio.py
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent
AUDIO = ROOT / "audio"
REFERENCES = ROOT / "references"
RATE = 16_000
#: espeak-ng speaking rate (words per minute).
WPM = 150
#: The two voices and the speaker labels written to the RTTM files.
VOICES = {"agent": "en-us+edward", "caller": "en-us+f5"}
#: Peak level of every turn (full scale is 1.0).
PEAK = 0.6
#: Samples below this fraction of the turn's peak count as silence when trimming.
TRIM_LEVEL = 0.01

ONE_SPEAKER = [
    (
        "caller",
        "Hello, thank you for calling. Please call me tomorrow morning at nine o'clock. "
        "I would like to change my address, please. The price is one hundred and twenty dollars.",
    ),
]

TWO_VOICES = [
    ("agent", "Hello, thank you for calling. How can I help you today?"),
    ("caller", "I would like to change my address, please."),
    ("agent", "Of course. Can you tell me your phone number?"),
    ("caller", "My phone number is five five five, one two three four."),
    ("agent", "Thank you very much. I will call you back later."),
    ("caller", "That sounds good. Goodbye."),
]

STEREO_CALL = [
    ("agent", "Good morning. How can I help you today?"),
    ("caller", "Can you tell me more about the new product?"),
    ("agent", "Yes, of course. It will be available next week."),
    ("caller", "What is the price, please?"),
    ("agent", "The price is one hundred and twenty dollars."),
    ("caller", "Thank you very much for your help."),
]

#: Seconds of silence before the first turn, between turns and after the last one.
LEAD, GAP, TAIL = 0.4, 0.9, 0.5
SILENCE_SECONDS = 3.0


@dataclass
class Turn:
    speaker: str
    text: str
    start: float
    samples: np.ndarray

    @property
    def duration(self) -> float:
        return len(self.samples) / RATE


def synthesise(text: str, voice: str) -> np.ndarray:
    """One utterance from espeak-ng, at 16 kHz, trimmed, peak-normalised to :data:`PEAK`."""
    out = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(WPM), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    y, rate = sf.read(io.BytesIO(out), dtype="float32")
    if y.ndim > 1:
        y = y.mean(axis=1)
    y = librosa.resample(y, orig_sr=rate, target_sr=RATE)
    loud = np.flatnonzero(np.abs(y) > TRIM_LEVEL * np.abs(y).max())
    y = y[loud[0] : loud[-1] + 1]
    return (y * (PEAK / np.abs(y).max())).astype(np.float32)


def timeline(script: list[tuple[str, str]]) -> tuple[list[Turn], float]:
    """Synthesise the turns and place them ``GAP`` seconds apart; returns the turns and the total length."""
    turns: list[Turn] = []
    t = LEAD
    for speaker, text in script:
        samples = synthesise(text, VOICES[speaker])
        turns.append(Turn(speaker, text, round(t * RATE) / RATE, samples))
        t = turns[-1].start + turns[-1].duration + GAP
    return turns, t - GAP + TAIL


def mix(turns: list[Turn], total: float, channel_of: dict[str, int], n_channels: int) -> np.ndarray:
    """Lay the turns on a ``(samples, channels)`` array; other channels stay silent during a turn."""
    out = np.zeros((round(total * RATE), n_channels), dtype=np.float32)
    for turn in turns:
        i = round(turn.start * RATE)
        out[i : i + len(turn.samples), channel_of[turn.speaker]] += turn.samples
    return out


def write(name: str, audio: np.ndarray, turns: list[Turn], channel_of: dict[str, int]) -> None:
    AUDIO.mkdir(parents=True, exist_ok=True)
    REFERENCES.mkdir(parents=True, exist_ok=True)
    sf.write(AUDIO / f"{name}.wav", audio, RATE, subtype="PCM_16")
    (REFERENCES / f"{name}.txt").write_text("".join(f"{t.text}\n" for t in turns))
    (REFERENCES / f"{name}.rttm").write_text(
        "".join(
            f"SPEAKER {name} {channel_of[t.speaker] + 1} {t.start:.3f} {t.duration:.3f} "
            f"<NA> <NA> {t.speaker} <NA> <NA>\n"
            for t in turns
        )
    )


def main() -> int:
    if shutil.which("espeak-ng") is None:
        print(
            "espeak-ng not found: install it (apt-get install espeak-ng) to regenerate data/audio",
            file=sys.stderr,
        )
        return 1
    mono = {"agent": 0, "caller": 0}
    turns, total = timeline(ONE_SPEAKER)
    write("one_speaker", mix(turns, total, mono, 1), turns, mono)

    turns, total = timeline(TWO_VOICES)
    write("two_voices", mix(turns, total, mono, 1), turns, mono)

    stereo = {"agent": 0, "caller": 1}
    turns, total = timeline(STEREO_CALL)
    write("stereo_call", mix(turns, total, stereo, 2), turns, stereo)

    write("silence", np.zeros((round(SILENCE_SECONDS * RATE), 1), dtype=np.float32), [], mono)
    for path in sorted(AUDIO.glob("*.wav")):
        info = sf.info(path)
        print(
            f"{path.relative_to(ROOT.parent)}: {info.duration:.2f} s, {info.channels} ch, {path.stat().st_size:,} bytes"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
