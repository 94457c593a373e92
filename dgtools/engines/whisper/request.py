"""How the Whisper engine reads a request's options, and what it reports it cannot do.

The options are read by the local engine's :func:`~dgtools.engines.local.request.make_plan`
(punctuation, paragraphs, utterances, multichannel, diarize, alternatives, search, tags, ...);
the warnings are the Whisper engine's own, in Deepgram's shape
(``{"parameter", "type": "unsupported_option", "message"}``).  Whisper honours more than
pocketsphinx: ``language`` (any language a multilingual model knows), ``detect_language`` (also
restricted to a list of languages), ``keyterm``/``keywords`` (given to Whisper as hotwords) and
``numerals`` (Whisper writes numbers as digits).  The language is settled by
:func:`choose_language` once the model is loaded (an English-only model transcribes English).

Examples
--------
>>> from dgtools.options import ListenOptions
>>> request = read_request(ListenOptions({"smart_format": True, "sentiment": True, "keyterm": ["Acme"]}), model_name="whisper-base")
>>> request.plan.punctuate, request.hotwords, [w["parameter"] for w in request.plan.warnings]
(True, 'Acme', ['sentiment'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from ...options import ListenOptions
from ..local.request import HONOURED as _LOCAL_HONOURED
from ..local.request import UNSUPPORTED_WHY as _LOCAL_WHY
from ..local.request import Plan, is_on, make_plan, warning
from .decode import Settings

__all__ = ["HONOURED", "LanguageChoice", "WhisperRequest", "choose_language", "read_request"]

#: Options the Whisper engine honours (``language`` and ``detect_language`` subject to the model).
HONOURED: Final = _LOCAL_HONOURED | {"detect_language", "keyterm", "keywords", "numerals"}
UNSUPPORTED_WHY: Final = {
    **_LOCAL_WHY,
    "callback": "the whisper engine answers synchronously and never calls back",
    "callback_method": "the whisper engine answers synchronously and never calls back",
    "diarize_version": "use diarize=true; the whisper engine has one diarization method",
    "filler_words": "Whisper leaves out fillers such as 'um' and 'uh'",
    "tier": "the whisper engine uses the model it was started with (see metadata.model_info)",
    "version": "the whisper engine uses the model it was started with (see metadata.model_info)",
}


@dataclass(frozen=True)
class WhisperRequest:
    """The engine's reading of one request: the shared :class:`Plan` plus Whisper's language and hint options."""

    plan: Plan
    language: str | None = None
    detect_language: bool | tuple[str, ...] = False
    hotwords: str | None = None


@dataclass(frozen=True)
class LanguageChoice:
    """What to ask Whisper for: the decode settings' language fields and the warnings that go with them."""

    language: str | None
    candidates: tuple[str, ...] = ()
    per_segment: bool = False
    warnings: tuple[dict[str, str], ...] = ()


def read_request(options: ListenOptions, *, model_name: str) -> WhisperRequest:
    """Read validated options into a :class:`WhisperRequest`, with a warning for each one not honoured.

    ``model_name`` is the engine's model (``"whisper-base"``): a ``model`` option naming it needs no warning.

    Examples
    --------
    >>> r = read_request(ListenOptions({"model": "nova-3", "filler_words": True}), model_name="whisper-tiny.en")
    >>> {w["parameter"]: w["message"] for w in r.plan.warnings}["filler_words"]
    "The dgtools whisper engine ignored filler_words=True: Whisper leaves out fillers such as 'um' and 'uh'."
    """
    notes: list[dict[str, str]] = []
    for name, value in options.items():
        if name in HONOURED or not is_on(value):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)
        if name == "model":
            if _names_model(str(value), model_name):
                continue
            why = f"the whisper engine uses the model it was started with, {model_name} (see metadata.model_info)"
        else:
            why = UNSUPPORTED_WHY.get(name, "the whisper engine does not implement it")
        notes.append(warning(name, f"The dgtools whisper engine ignored {name}={shown}: {why}."))
    terms = [
        *options.get("keyterm", ()),
        *(str(k).rpartition(":")[0] or str(k) for k in options.get("keywords", ())),
    ]
    language = options.get("language")
    detect = options.get("detect_language", False)
    return WhisperRequest(
        plan=replace(make_plan(options), warnings=tuple(notes)),
        language=str(language) if language else None,
        detect_language=detect if isinstance(detect, tuple) else bool(detect),
        hotwords=", ".join(terms) if terms else None,
    )


def _names_model(value: str, model_name: str) -> bool:
    """Whether a ``model`` option names the engine's model (``whisper``, ``whisper-base``, ``base``)."""
    v = value.strip().lower()
    return v in ("whisper", model_name.lower(), model_name.lower().removeprefix("whisper-"))


def _whisper_code(tag: str) -> str:
    """A BCP-47 tag as Whisper's language code: ``en-US`` -> ``en``."""
    return tag.strip().lower().replace("_", "-").partition("-")[0]


def choose_language(request: WhisperRequest, *, supported: Sequence[str], model_name: str) -> LanguageChoice:
    """Settle the language to decode in, for a model that knows ``supported`` languages.

    No ``language`` means English, as on Deepgram; ``detect_language`` (true, or a list to choose
    from) detects it; ``language=multi`` detects it in every segment.  An English-only model
    transcribes English whatever is asked, with a warning.

    Examples
    --------
    >>> r = read_request(ListenOptions({"language": "fr"}), model_name="whisper-tiny.en")
    >>> choice = choose_language(r, supported=["en"], model_name="whisper-tiny.en")
    >>> choice.language, [w["parameter"] for w in choice.warnings]
    ('en', ['language'])
    >>> r = read_request(ListenOptions({"detect_language": ["de", "fr"]}), model_name="whisper-base")
    >>> choose_language(r, supported=["en", "de", "fr"], model_name="whisper-base").candidates
    ('de', 'fr')
    """
    requested = request.language
    detect = request.detect_language
    if len(supported) <= 1:  # an English-only model
        notes: list[dict[str, str]] = []
        if requested and _whisper_code(requested) != "en":
            notes.append(
                warning(
                    "language",
                    f"The dgtools whisper engine's model {model_name} only transcribes English; "
                    f"language={requested} was ignored and the audio was transcribed as English. "
                    "Use a multilingual model (e.g. whisper_model='base').",
                )
            )
        if detect:
            notes.append(
                warning(
                    "detect_language",
                    f"The dgtools whisper engine's model {model_name} only knows English, so detect_language "
                    "detected nothing (detected_language is always en). Use a multilingual model "
                    "(e.g. whisper_model='base').",
                )
            )
        return LanguageChoice(language="en", warnings=tuple(notes))
    if isinstance(detect, tuple):
        codes = [_whisper_code(c) for c in detect]
        known = tuple(dict.fromkeys(c for c in codes if c in supported))
        unknown = [c for c, code in zip(detect, codes, strict=True) if code not in supported]
        if not unknown:
            return LanguageChoice(language=None, candidates=known)
        note = warning(
            "detect_language",
            f"The dgtools whisper engine's model {model_name} does not know {', '.join(unknown)}; "
            f"{'it was' if len(unknown) == 1 else 'they were'} left out of the detection.",
        )
        return LanguageChoice(language=None, candidates=known, warnings=(note,))
    if detect:
        return LanguageChoice(language=None)
    if not requested:
        return LanguageChoice(language="en")
    code = _whisper_code(requested)
    if code == "multi":
        return LanguageChoice(language=None, per_segment=True)
    if code in supported:
        return LanguageChoice(language=code)
    note = warning(
        "language",
        f"The dgtools whisper engine's model {model_name} does not know language={requested}; "
        "the language was detected instead.",
    )
    return LanguageChoice(language=None, warnings=(note,))


def settings_for(
    choice: LanguageChoice, request: WhisperRequest, *, beam_size: int, vad_filter: bool
) -> Settings:
    """The decode settings for one request."""
    return Settings(
        beam_size=beam_size,
        vad_filter=vad_filter,
        language=choice.language,
        candidates=choice.candidates,
        per_segment=choice.per_segment,
        hotwords=request.hotwords,
        n_variants=request.plan.alternatives - 1,
    )
