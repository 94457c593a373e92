"""How the local engine reads a request's options, and what it reports it cannot do.

:func:`make_plan` reads validated :class:`~dgtools.options.ListenOptions`
into a :class:`Plan` and lists, as Deepgram-shaped ``metadata.warnings``
entries (``{"parameter", "type": "unsupported_option", "message"}``), every
option that asks for something the engine does not do.  An option left at
its "off" value (``diarize=false``, ``summarize=false``) needs no warning.

Examples
--------
>>> plan = make_plan(as_listen_options({"smart_format": True, "sentiment": True}))
>>> plan.punctuate, plan.paragraphs, [w["parameter"] for w in plan.warnings]
(True, True, ['sentiment'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, TypeAlias

from ...exceptions import ConfigError
from ...options import ListenOptions, validate_query
from ..base import option_pairs

__all__ = [
    "HONOURED",
    "UNSUPPORTED_WHY",
    "OptionsLike",
    "Plan",
    "as_listen_options",
    "is_on",
    "make_plan",
    "warning",
]

#: The options the local engine accepts: validated options, a mapping of options, or query pairs.
OptionsLike: TypeAlias = ListenOptions | Mapping[str, Any] | Sequence[tuple[str, str]] | None

#: Languages the bundled acoustic model and dictionary are for (compared case-insensitively).
ENGLISH: Final = frozenset({"en", "en-us"})
#: Options the engine honours (subject to the checks in :func:`make_plan`).
HONOURED: Final = frozenset(
    {
        "alternatives", "channels", "diarize", "diarize_model", "encoding", "extra", "language", "mip_opt_out",
        "multichannel", "paragraphs", "punctuate", "sample_rate", "search", "smart_format", "tag",
        "utt_split", "utterances",
    }
)  # fmt: skip
#: What to say about options that are not honoured (anything else gets a generic message).
UNSUPPORTED_WHY: Final = {
    "callback": "the local engine answers synchronously and never calls back",
    "callback_method": "the local engine answers synchronously and never calls back",
    "custom_intent": "intent recognition is a Deepgram audio-intelligence feature",
    "custom_intent_mode": "intent recognition is a Deepgram audio-intelligence feature",
    "custom_topic": "topic detection is a Deepgram audio-intelligence feature",
    "custom_topic_mode": "topic detection is a Deepgram audio-intelligence feature",
    "detect_entities": "entity detection is a Deepgram audio-intelligence feature",
    "detect_language": "the bundled model only knows US English, so no language was detected",
    "detect_topics": "topic detection is a Deepgram audio-intelligence feature",
    "diarize_version": "use diarize=true; the local engine has one diarization method",
    "dictation": "spoken punctuation commands are not converted",
    "filler_words": "pocketsphinx treats fillers as noise and drops them",
    "intents": "intent recognition is a Deepgram audio-intelligence feature",
    "keyterm": "pocketsphinx cannot boost key terms",
    "keywords": "pocketsphinx cannot boost keywords",
    "measurements": "measurements are not abbreviated",
    "model": "the local engine always uses pocketsphinx-en-us (see metadata.model_info)",
    "ner": "no entity formatting is applied",
    "numerals": "numbers stay as words",
    "profanity_filter": "no profanity filter is applied",
    "redact": "nothing is redacted",
    "replace": "no terms are replaced",
    "sentiment": "sentiment analysis is a Deepgram audio-intelligence feature",
    "summarize": "summarization is a Deepgram audio-intelligence feature",
    "tier": "the local engine always uses pocketsphinx-en-us (see metadata.model_info)",
    "topics": "topic detection is a Deepgram audio-intelligence feature",
    "version": "the local engine always uses the installed pocketsphinx model",
}

DiarizeMode = Literal["off", "loudness", "channel"]


def warning(parameter: str, message: str) -> dict[str, str]:
    """One ``metadata.warnings`` entry, in Deepgram's shape.

    Examples
    --------
    >>> warning("topics", "ignored")
    {'parameter': 'topics', 'type': 'unsupported_option', 'message': 'ignored'}
    """
    return {"parameter": parameter, "type": "unsupported_option", "message": message}


@dataclass(frozen=True)
class Plan:
    """The engine's reading of one request.

    ``diarize`` is ``"loudness"`` (several audio channels mixed: each word gets
    the speaker of its loudest channel), ``"channel"`` (``multichannel``: each
    channel is one speaker, ``0``) or ``"off"``.
    """

    punctuate: bool = False
    paragraphs: bool = False
    utterances: bool = False
    utt_split: float = 0.8
    multichannel: bool = False
    diarize: DiarizeMode = "off"
    alternatives: int = 1
    search: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    warnings: tuple[dict[str, str], ...] = ()

    def with_audio_channels(self, n: int, *, distinct: bool = True, engine: str = "local") -> Plan:
        """Resolve ``diarize`` for audio with ``n`` channels (and warn when it cannot be honoured).

        ``distinct=False`` says the channels carry the same signal (mono saved as
        stereo), which is diarized like single-channel audio; ``engine`` is how the
        warnings name the engine (``"local"``, ``"whisper"``).
        """
        if self.diarize == "off":
            return self
        if self.multichannel:
            note = warning(
                "diarize",
                f"The dgtools {engine} engine cannot tell speakers apart within one channel; with "
                "multichannel=true every word of a channel is speaker 0.",
            )
            return replace(self, diarize="channel", warnings=(*self.warnings, note))
        if n < 2 or not distinct:
            kind = "single-channel audio" if n < 2 else "audio whose channels are identical"
            note = warning(
                "diarize",
                f"The dgtools {engine} engine cannot tell speakers apart in {kind}; words carry "
                "no speaker. Send stereo audio with one speaker per channel (diarize=true assigns each word "
                "to its loudest channel) or use multichannel=true.",
            )
            return replace(self, diarize="off", warnings=(*self.warnings, note))
        return replace(self, diarize="loudness")


def as_listen_options(options: OptionsLike) -> ListenOptions:
    """Validate options given as ListenOptions, a mapping, or query pairs.

    Raises
    ------
    ConfigError
        An unknown option or an invalid value (``.option`` names it).

    Examples
    --------
    >>> as_listen_options([("punctuate", True), ("tag", "a")]) == as_listen_options({"punctuate": "true", "tag": ["a"]})
    True
    """
    if options is None:
        return ListenOptions()
    if isinstance(options, ListenOptions):
        return options
    if isinstance(options, Mapping):
        return ListenOptions(dict(options))
    if isinstance(options, Sequence) and not isinstance(options, str | bytes):
        return validate_query(option_pairs(list(options)))
    raise ConfigError(
        f"options must be ListenOptions, a mapping or (name, value) pairs, not {type(options).__name__}"
    )


def is_on(value: Any) -> bool:
    """Whether an option's value asks for something (``False``, ``"false"``, ``()`` and ``""`` do not)."""
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false")
    if isinstance(value, tuple | list):
        return len(value) > 0
    return True


def make_plan(options: ListenOptions) -> Plan:
    """Read the options into a :class:`Plan`, with a warning for each one that is not honoured.

    Examples
    --------
    >>> plan = make_plan(ListenOptions({"diarize": True, "language": "fr", "numerals": False}))
    >>> plan.diarize, [w["parameter"] for w in plan.warnings]
    ('loudness', ['language'])
    """
    notes: list[dict[str, str]] = []
    for name, value in options.items():
        if name in HONOURED or not is_on(value):
            continue
        why = UNSUPPORTED_WHY.get(name, "the local engine does not implement it")
        shown = ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)
        if name == "model" and str(value).lower().startswith("pocketsphinx"):
            continue
        notes.append(warning(name, f"The dgtools local engine ignored {name}={shown}: {why}."))
    language = options.get("language")
    if isinstance(language, str) and language.strip().lower() not in ENGLISH:
        notes.append(
            warning(
                "language",
                f"The dgtools local engine only transcribes US English (language=en or en-US); "
                f"language={language} was ignored and the audio was transcribed as English.",
            )
        )
    smart = bool(options.get("smart_format"))
    extra_items = options.get("extra") or ()
    alternatives = options.get("alternatives")
    return Plan(
        punctuate=bool(options.get("punctuate")) or smart,
        paragraphs=bool(options.get("paragraphs")) or smart,
        utterances=bool(options.get("utterances")),
        utt_split=float(options.get("utt_split") or 0.8),
        multichannel=bool(options.get("multichannel")),
        diarize="loudness" if options.get("diarize") or options.get("diarize_model") else "off",
        alternatives=max(1, min(10, int(alternatives))) if alternatives else 1,
        search=tuple(options.get("search") or ()),
        tags=tuple(options.get("tag") or ()),
        extra=dict(str(item).partition(":")[::2] for item in extra_items),
        encoding=options.get("encoding"),
        sample_rate=options.get("sample_rate"),
        channels=options.get("channels"),
        warnings=tuple(notes),
    )
