"""Small WAV files for the tests: 16-bit 8 kHz mono, with bytes (and so sha256) set by ``tone``."""

from __future__ import annotations

import wave
from pathlib import Path


def wav(path: Path, seconds: float = 1.0, tone: int = 1) -> Path:
    """Write a ``seconds``-long WAV at ``path`` (parents made) whose samples all equal ``tone``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes([tone % 256, tone // 256]) * int(8000 * seconds))
    return path
