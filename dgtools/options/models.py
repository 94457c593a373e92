"""Deepgram's model names: which ones exist, so that a typo is an error with a suggestion, not a bill.

``model=`` takes a name (``nova-3``, ``nova-2-phonecall``, ``whisper-large``, ...), a custom model's
UUID, or a ``name:version`` pin.  :func:`check_model` refuses anything else for the Deepgram engine,
suggesting the closest known names (an offline engine ignores ``model`` and says so instead).
"""

from __future__ import annotations

import difflib
import re
from typing import Final

from ..exceptions import ConfigError
from .spec import MODELS

__all__ = ["KNOWN_MODELS", "check_model", "is_known_model"]

#: Whisper sizes Deepgram hosts (``whisper-<size>``), and nova-2 variants the option table does not list.
_MORE: Final = (
    "whisper-tiny", "whisper-base", "whisper-small", "whisper-medium", "whisper-large",
    "nova-2-phonecall", "nova-2-atc", "base-general", "base-meeting", "base-phonecall", "base-voicemail",
    "base-finance", "base-conversationalai", "base-video",
)  # fmt: skip
#: Every model name dgtools knows: the option table's, Deepgram's hosted Whisper and the other variants.
KNOWN_MODELS: Final = frozenset(MODELS) | frozenset(_MORE)
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_known_model(name: str) -> bool:
    """Whether ``name`` is a model Deepgram offers: a known name, a custom model's UUID, or ``name:version``.

    Examples
    --------
    >>> is_known_model("nova-3"), is_known_model("nova-2-phonecall:latest"), is_known_model("nova-5")
    (True, True, False)
    >>> is_known_model("1f4f6b2a-3c2d-4e5f-8a9b-0c1d2e3f4a5b")
    True
    """
    base = name.split(":", 1)[0].strip().lower()
    return base in KNOWN_MODELS or bool(_UUID.fullmatch(base))


def check_model(name: str | None) -> None:
    """Raise :class:`~dgtools.ConfigError` for a model name Deepgram does not offer, with a did-you-mean.

    Examples
    --------
    >>> check_model("nova-3")
    >>> check_model("nova-5")
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: model 'nova-5' is not a Deepgram model; did you mean 'nova-3' or 'nova-2'? (nova-3 is the newest general model; a custom model goes by its UUID)
    """
    if name is None or is_known_model(name):
        return
    close = difflib.get_close_matches(name.lower(), sorted(KNOWN_MODELS), n=2, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ";"
    raise ConfigError(
        f"model {name!r} is not a Deepgram model{hint} (nova-3 is the newest general model; "
        "a custom model goes by its UUID)"
    )
