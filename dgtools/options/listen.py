"""Every pre-recorded ``/v1/listen`` query option, validated and encoded.

:data:`OPTIONS` describes each option dgtools knows: every query parameter
of ``POST /v1/listen`` in Deepgram's OpenAPI spec (``in_spec=True``) plus the
older ones users still send (``in_spec=False``).  The table is literal data
in this module, derived once from the spec; dgtools does not need the spec
at run time.

:class:`ListenOptions` is an immutable, hashable mapping of validated
options.  It encodes them for httpx (:meth:`ListenOptions.query_params`: booleans as
``true``/``false``, list options as repeated parameters) and as one stable
canonical query string (:meth:`ListenOptions.canonical`) whose hash
(:meth:`ListenOptions.digest`) is part of the raw-store key.

:func:`validate_query` parses a query string as a server receives it (the
local Deepgram-compatible server answers ``400 INVALID_QUERY_PARAMETER`` from
its errors), and :func:`default_concurrency` gives Deepgram's per-project
concurrency limit for a set of options.

Every error is a :class:`~dgtools.exceptions.ConfigError` whose ``.option``
attribute names the offending option and whose message says how to fix it.

Examples
--------
>>> from dgtools.options import ListenOptions
>>> opts = ListenOptions.from_kwargs(model="nova-3", smart_format=True, search=["refund", "cancel"])
>>> opts.query_params()
[('model', 'nova-3'), ('search', 'refund'), ('search', 'cancel'), ('smart_format', 'true')]
>>> opts.canonical()
'model=nova-3&search=refund&search=cancel&smart_format=true'
>>> ListenOptions.from_kwargs(diarise=True)
Traceback (most recent call last):
...
dgtools.exceptions.ConfigError: option 'diarise' is not a /v1/listen option; did you mean 'diarize'?
"""

from __future__ import annotations

import collections.abc
import difflib
import hashlib
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from .exceptions import ConfigError

__all__ = ["OPTIONS", "ListenOptions", "OptionSpec", "default_concurrency", "validate_query"]


@dataclass(frozen=True)
class OptionSpec:
    """What one ``/v1/listen`` query option accepts.

    Attributes
    ----------
    name : str
        The query parameter name.
    kind : {"bool", "str", "int", "float", "enum"}
        The value type.  ``summarize`` is an ``"enum"`` of ``"false"``,
        ``"true"`` and ``"v2"``; ``detect_language`` and ``redact`` are
        repeatable ``"str"`` options that also take a single ``true``/``false``.
    repeatable : bool
        A list option, sent as one repeated parameter per item.
    choices : tuple of str or None
        The known values (for an enum, the only values); ``None`` means any string.
    open_choices : bool
        ``choices`` lists known values but any string is accepted (the spec
        says ``oneOf(enum, string)``), e.g. ``model``, ``version``, ``redact``.
    max_items : int or None
        For list options, the most items dgtools sends in one request.
    in_spec : bool
        Declared in Deepgram's OpenAPI spec; ``False`` for an older option
        that Deepgram still accepts.
    doc : str
        One line on what the option does.

    Examples
    --------
    >>> from dgtools.options import OPTIONS
    >>> OPTIONS["search"].repeatable, OPTIONS["search"].max_items
    (True, 50)
    """

    name: str
    kind: str
    repeatable: bool
    choices: tuple[str, ...] | None
    open_choices: bool
    max_items: int | None
    in_spec: bool
    doc: str


# --- Limits ----------------------------------------------------------------------------------------------
# Documented limits are cited beside each constant.  Where Deepgram documents no limit, dgtools picks a
# generous one (so a runaway list fails fast here instead of as a 414 URI Too Long) and says so.

#: keyterm: "up to 100 important terminology, product and company names, ..." (https://developers.deepgram.com/docs/keyterm)
KEYTERM_MAX_TERMS: Final = 100
#: keyterm: "Key Terms are limited to 500 tokens per request" (https://developers.deepgram.com/docs/keyterm, "Key Term Limits").
#: Tokens cannot be counted here without Deepgram's tokenizer; dgtools rejects lists with more than 500 words,
#: a lower bound on the token count.
KEYTERM_MAX_TOKENS: Final = 500
#: keywords: "If you require more than 100 keywords, please contact us" (https://developers.deepgram.com/docs/keywords)
KEYWORDS_MAX_TERMS: Final = 100
#: search: "You can include up to 50 search terms per request" (https://developers.deepgram.com/docs/search)
SEARCH_MAX_TERMS: Final = 50
#: replace: "The suggested maximum number of terms for Find and Replace is 200" (https://developers.deepgram.com/docs/find-and-replace)
REPLACE_MAX_TERMS: Final = 200
#: tag: no documented limit on the number of tags; 1000 is a generous dgtools choice.
TAG_MAX_ITEMS: Final = 1000
#: tag: "Tags are limited to 128 characters per tag" (https://developers.deepgram.com/docs/intelligence-tagging)
TAG_MAX_CHARS: Final = 128
#: extra: no documented limit on the number of pairs; 1000 is a generous dgtools choice.
EXTRA_MAX_ITEMS: Final = 1000
#: extra: "Extra metadata is limited to 2048 characters per key-value pair" (https://developers.deepgram.com/docs/extra-metadata)
EXTRA_MAX_CHARS: Final = 2048
#: custom_topic: "Submit up to 100" (https://developers.deepgram.com/docs/topic-detection, and the OpenAPI spec)
CUSTOM_TOPIC_MAX: Final = 100
#: custom_intent: no limit found in https://developers.deepgram.com/docs/intent-recognition;
#: 1000 is a generous dgtools choice.
CUSTOM_INTENT_MAX: Final = 1000

# Options whose limit Deepgram documents (the message says "Deepgram accepts"); the rest say "dgtools sends".
_DOCUMENTED_LIMITS: Final = frozenset({"keyterm", "keywords", "search", "replace", "custom_topic"})
_ITEM_NOUN: Final = {
    "custom_intent": "intents",
    "custom_topic": "topics",
    "extra": "key:value pairs",
    "tag": "tags",
}

#: Concurrency limits for pre-recorded requests (Pay as You Go), from
#: https://developers.deepgram.com/reference/api-rate-limits: 50 concurrent requests (Speaker Diarization
#: also 50 in North America; 25 in the EU and Australia regions per the page's regional tables); 10 with
#: summarization, topic detection, intent recognition or sentiment analysis; 5 with entity detection.
#: "If multiple services are used in one API call ..., the lower of the rate limits is applied."
_CONCURRENCY_DEFAULT: Final = 50
_CONCURRENCY_DIARIZE_REGIONAL: Final = 25
_CONCURRENCY_INTELLIGENCE: Final = 10
_CONCURRENCY_ENTITIES: Final = 5

# Encodings of headerless audio that Deepgram can only decode with ``sample_rate``
# (https://developers.deepgram.com/docs/sample-rate: "Sample Rate is required when using the Encoding
# feature for non-containerized/raw audio").  FLAC carries its sample rate in its header.
_NEEDS_SAMPLE_RATE: Final = frozenset(
    {"linear16", "linear32", "mulaw", "alaw", "amr-nb", "amr-wb", "opus", "speex", "g729"}
)
# "amr-nb ... you must specify sample_rate=8000; amr-wb ... sample_rate=16000" (same page).
_FIXED_SAMPLE_RATE: Final = {"amr-nb": 8000, "amr-wb": 16000}


def _opt(
    name: str,
    kind: str,
    doc: str,
    *,
    repeatable: bool = False,
    choices: tuple[str, ...] | None = None,
    open_choices: bool = False,
    max_items: int | None = None,
    in_spec: bool = True,
) -> OptionSpec:
    return OptionSpec(name, kind, repeatable, choices, open_choices, max_items, in_spec, doc)


_MODELS: Final = (
    "nova-3",
    "nova-3-general",
    "nova-3-medical",
    "nova-2",
    "nova-2-general",
    "nova-2-meeting",
    "nova-2-finance",
    "nova-2-conversationalai",
    "nova-2-voicemail",
    "nova-2-video",
    "nova-2-medical",
    "nova-2-drivethru",
    "nova-2-automotive",
    "nova",
    "nova-general",
    "nova-phonecall",
    "nova-medical",
    "enhanced",
    "enhanced-general",
    "enhanced-meeting",
    "enhanced-phonecall",
    "enhanced-finance",
    "base",
    "meeting",
    "phonecall",
    "finance",
    "conversationalai",
    "voicemail",
    "video",
)

# Derived from POST /v1/listen in deepgram-openapi.yml (tests/test_options.py checks it still matches),
# plus the older options (in_spec=False).  Sorted by name.
# fmt: off
_ALL: Final = (
    _opt("alternatives", "int", "Number of alternative transcripts to return (older option; an integer >= 1).", in_spec=False),
    _opt("callback", "str", "URL to which Deepgram makes the callback request (an http(s) URL); the POST then answers at once."),
    _opt("callback_method", "enum", "HTTP method of the callback request.", choices=("POST", "PUT")),
    _opt("channels", "int", "Number of independent channels in raw audio (older option; an integer >= 1).", in_spec=False),
    _opt("custom_intent", "str", "Custom intents to detect if present.", repeatable=True, max_items=CUSTOM_INTENT_MAX),
    _opt("custom_intent_mode", "enum", "strict: return only the custom intents; extended: add them to detected ones.", choices=("extended", "strict")),
    _opt("custom_topic", "str", "Custom topics to detect if present.", repeatable=True, max_items=CUSTOM_TOPIC_MAX),
    _opt("custom_topic_mode", "enum", "strict: return only the custom topics; extended: add them to detected ones.", choices=("extended", "strict")),
    _opt("detect_entities", "bool", "Identify and extract key entities."),
    _opt("detect_language", "str", "Identify the dominant language: true, or a list of language codes to choose from.", repeatable=True),
    _opt("detect_topics", "bool", "Older name of topics.", in_spec=False),
    _opt("diarize", "bool", "Recognize speaker changes; each word gets a speaker number (deprecated: use diarize_model)."),
    _opt("diarize_model", "enum", "Enable diarization with a given model version (batch: latest, v1, v2).", choices=("latest", "v1", "v2")),
    _opt("diarize_version", "str", "Older way to pick a diarization version (use diarize_model).", in_spec=False),
    _opt("dictation", "bool", "Format dictated speech (spoken punctuation commands)."),
    _opt("encoding", "enum", "Encoding of raw, headerless audio; needs sample_rate.", choices=("linear16", "flac", "mulaw", "amr-nb", "amr-wb", "opus", "speex", "g729")),
    _opt("extra", "str", "Key:value pairs echoed in the response metadata.", repeatable=True, max_items=EXTRA_MAX_ITEMS),
    _opt("filler_words", "bool", "Transcribe filler words such as 'uh' and 'um'."),
    _opt("intents", "bool", "Recognize speaker intent."),
    _opt("keyterm", "str", "Key terms to boost or suppress (Nova-3 only).", repeatable=True, max_items=KEYTERM_MAX_TERMS),
    _opt("keywords", "str", "Keywords to boost or suppress, as word or word:intensifier (not Nova-3).", repeatable=True, max_items=KEYWORDS_MAX_TERMS),
    _opt("language", "str", "BCP-47 language tag of the primary spoken language (e.g. en, es-419, multi)."),
    _opt("measurements", "bool", "Convert spoken measurements to abbreviations."),
    _opt("mip_opt_out", "bool", "Opt out of the Deepgram Model Improvement Program (see pricing)."),
    _opt("model", "str", "Model used to process the audio.", choices=_MODELS, open_choices=True),
    _opt("multichannel", "bool", "Transcribe each audio channel independently."),
    _opt("ner", "bool", "Named-entity recognition formatting (older option; use smart_format).", in_spec=False),
    _opt("numerals", "bool", "Convert numbers from written format to numerals."),
    _opt("paragraphs", "bool", "Split the transcript into paragraphs."),
    _opt("profanity_filter", "bool", "Replace or remove recognized profanity."),
    _opt("punctuate", "bool", "Add punctuation and capitalization."),
    _opt("redact", "str", "Redact sensitive information: pci, pii, numbers or entity names (true/false: older form).", repeatable=True, choices=("pci", "pii", "numbers"), open_choices=True),
    _opt("replace", "str", "Find and replace terms, as find:replace.", repeatable=True, max_items=REPLACE_MAX_TERMS),
    _opt("sample_rate", "int", "Sample rate of raw audio in Hz; required with encoding (older option; an integer > 0).", in_spec=False),
    _opt("search", "str", "Terms or phrases to search for acoustically.", repeatable=True, max_items=SEARCH_MAX_TERMS),
    _opt("sentiment", "bool", "Recognize sentiment."),
    _opt("smart_format", "bool", "Apply formatting (dates, numbers, currency, ...) for readability."),
    _opt("summarize", "enum", "Summarize the content: true, false or v2.", choices=("false", "true", "v2")),
    _opt("tag", "str", "Labels for usage reporting (at most 128 characters each).", repeatable=True, max_items=TAG_MAX_ITEMS),
    _opt("tier", "str", "Older model tier (base, enhanced, nova); name the model instead.", in_spec=False),
    _opt("topics", "bool", "Detect topics."),
    _opt("utt_split", "float", "Seconds of pause that split utterances (a positive number)."),
    _opt("utterances", "bool", "Segment speech into utterances."),
    _opt("version", "str", "Model version to use.", choices=("latest",), open_choices=True),
)
# fmt: on

#: Every option dgtools knows, sorted by name.
OPTIONS: Final[dict[str, OptionSpec]] = {spec.name: spec for spec in sorted(_ALL, key=lambda s: s.name)}


# --- Errors ----------------------------------------------------------------------------------------------


def _error(option: str, message: str) -> ConfigError:
    err = ConfigError(message)
    err.option = option  # type: ignore[attr-defined]
    return err


def _unknown(name: str) -> ConfigError:
    candidates = difflib.get_close_matches(name.lower().replace("-", "_"), OPTIONS, n=1, cutoff=0.6)
    hint = (
        f"did you mean {candidates[0]!r}?"
        if candidates
        else "see dgtools.options.OPTIONS for the options dgtools knows"
    )
    return _error(name, f"option {name!r} is not a /v1/listen option; {hint}")


def _one_of(choices: Iterable[str]) -> str:
    return ", ".join(repr(c) for c in choices)


# --- Value conversion ------------------------------------------------------------------------------------


def _format_number(value: float) -> str:
    """Shortest stable text for a number: ``1.0`` -> ``"1"``, ``0.8`` -> ``"0.8"``."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _to_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _error(name, f"option {name!r} must be true or false, got {value!r}")


def _to_int(name: str, value: Any, minimum: int) -> int:
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    result: int | None = None
    if isinstance(value, bool):
        result = None
    elif isinstance(value, numbers.Integral):
        result = int(value)
    elif isinstance(value, numbers.Real) and math.isfinite(float(value)) and float(value).is_integer():
        result = int(float(value))
    elif isinstance(value, str):
        try:
            result = int(value.strip())
        except ValueError:
            result = None
    if result is None or result < minimum:
        raise _error(name, f"option {name!r} must be {what}, got {value!r}")
    return result


def _to_float(name: str, value: Any) -> float:
    result: float | None = None
    if isinstance(value, bool):
        result = None
    elif isinstance(value, numbers.Real):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            result = None
    if result is None or not math.isfinite(result) or result <= 0:
        raise _error(name, f"option {name!r} must be a positive number (seconds), got {value!r}")
    return result


def _to_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _error(name, f"option {name!r} must be a string, got {value!r}")
    if not value.strip():
        raise _error(
            name, f"option {name!r} must not be empty; leave it out (or pass None) to use Deepgram's default"
        )
    return value


def _to_choice(spec: OptionSpec, value: Any) -> str:
    text = _to_str(spec.name, value)
    choices = spec.choices or ()
    if text not in choices:
        close = difflib.get_close_matches(text, choices, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _error(
            spec.name, f"option {spec.name!r} must be one of {_one_of(choices)}, got {value!r}{hint}"
        )
    return text


def _items(name: str, value: Any) -> list[Any]:
    """The items of a list option: one string, or any iterable (not a mapping) of items."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, Mapping | bytes):
        return list(value)
    raise _error(name, f"option {name!r} must be a string or a list of strings, got {value!r}")


def _plain_items(name: str, value: Any) -> tuple[str, ...]:
    return tuple(_to_str(name, item) for item in _items(name, value))


def _keyword(name: str, item: Any) -> str:
    if isinstance(item, tuple) and len(item) == 2:
        word, intensifier = item
        if isinstance(intensifier, bool) or not isinstance(intensifier, numbers.Real):
            raise _error(
                name, f"option {name!r} item {item!r}: the intensifier must be a number, e.g. ('word', 2)"
            )
        boost = float(intensifier)
        if not math.isfinite(boost):
            raise _error(name, f"option {name!r} item {item!r}: the intensifier must be a finite number")
        return f"{_to_str(name, word)}:{_format_number(boost)}"
    text = _to_str(name, item)
    if ":" not in text:
        return text
    word, _, tail = text.rpartition(":")
    try:
        boost = float(tail)
    except ValueError:
        boost = math.nan
    if not word.strip() or not math.isfinite(boost):
        raise _error(
            name,
            f"option {name!r} item {text!r} must be 'word' or 'word:intensifier' with a number after the colon, e.g. 'snuffleupagus:5'",
        )
    return f"{word}:{_format_number(boost)}"


def _keywords(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, tuple) and len(value) == 2 and not isinstance(value[1], str):
        value = [value]  # keywords=("word", 2): one pair, not two items
    return tuple(_keyword(name, item) for item in _items(name, value))


def _scalar_text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return _format_number(float(value))
    if isinstance(value, str):
        return value
    raise _error(name, f"option {name!r} values must be strings or numbers, got {value!r}")


def _pairs(name: str, value: Any, *, what: str, example: str, allow_empty_value: bool) -> tuple[str, ...]:
    """Items of ``extra``/``replace``: a mapping, ``"key:value"`` strings or ``(key, value)`` pairs."""
    raw = list(value.items()) if isinstance(value, Mapping) else _items(name, value)
    out: list[str] = []
    for item in raw:
        if isinstance(item, tuple) and len(item) == 2:
            key, val = item
            if not isinstance(key, str) or not key.strip():
                raise _error(
                    name,
                    f"option {name!r}: every {what} needs a non-empty string before the colon, got {key!r}",
                )
            text = f"{key}:{_scalar_text(name, val)}"
        else:
            text = _to_str(name, item)
        key, colon, val = text.partition(":")
        if not colon or not key.strip() or (not val and not allow_empty_value):
            raise _error(name, f"option {name!r} item {text!r} must be {what}, e.g. {example}")
        out.append(text)
    return tuple(out)


def _extra(name: str, value: Any) -> tuple[str, ...]:
    items = _pairs(name, value, what="'key:value'", example="extra={'batch': 'june'}", allow_empty_value=True)
    for item in items:
        if len(item) > EXTRA_MAX_CHARS:
            raise _error(
                name,
                f"option {name!r} item {item[:40]!r}... has {len(item)} characters; Deepgram accepts at most {EXTRA_MAX_CHARS} per key:value pair",
            )
    return items


def _replace(name: str, value: Any) -> tuple[str, ...]:
    return _pairs(
        name, value, what="'find:replace'", example="replace={'acme': 'ACME'}", allow_empty_value=True
    )


def _tag(name: str, value: Any) -> tuple[str, ...]:
    items = _plain_items(name, value)
    for item in items:
        if len(item) > TAG_MAX_CHARS:
            raise _error(
                name,
                f"option {name!r} item {item[:40]!r}... has {len(item)} characters; Deepgram accepts at most {TAG_MAX_CHARS} per tag",
            )
    return items


def _bool_or_items(name: str, value: Any) -> bool | tuple[str, ...]:
    """``detect_language``/``redact``: a bool (also ``"true"``/``"false"``) or a list of strings."""
    if isinstance(value, bool):
        return value
    items = _plain_items(name, value)
    flags = [item for item in items if item.strip().lower() in ("true", "false")]
    if not flags:
        return items
    if len(items) == 1:
        return items[0].strip().lower() == "true"
    raise _error(
        name, f"option {name!r} takes either true/false or a list of values, not both: got {list(items)!r}"
    )


def _summarize(name: str, value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if value == "v2":
        return "v2"
    raise _error(name, f"option {name!r} must be true, false or 'v2', got {value!r}")


def _callback(name: str, value: Any) -> str:
    text = _to_str(name, value)
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
        parts = urlsplit("")
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or not port_ok
        or any(c.isspace() for c in text)
    ):
        raise _error(
            name, f"option {name!r} must be an http(s) URL such as 'https://example.com/hook', got {value!r}"
        )
    return text


def _normalise(spec: OptionSpec, value: Any) -> Any:
    """The canonical Python value of one option, or None when it is an empty list (not set)."""
    name = spec.name
    result: Any
    if name in ("detect_language", "redact"):
        result = _bool_or_items(name, value)
    elif name == "summarize":
        result = _summarize(name, value)
    elif name == "keywords":
        result = _keywords(name, value)
    elif name == "extra":
        result = _extra(name, value)
    elif name == "replace":
        result = _replace(name, value)
    elif name == "tag":
        result = _tag(name, value)
    elif name == "callback":
        result = _callback(name, value)
    elif spec.repeatable:
        result = _plain_items(name, value)
    elif spec.kind == "bool":
        result = _to_bool(name, value)
    elif spec.kind == "int":
        result = _to_int(name, value, 1)
    elif spec.kind == "float":
        result = _to_float(name, value)
    elif spec.kind == "enum":
        result = _to_choice(spec, value)
    else:
        result = _to_str(name, value)
    if isinstance(result, tuple):
        if not result:
            return None
        if spec.max_items is not None and len(result) > spec.max_items:
            noun = _ITEM_NOUN.get(name, "terms" if name in _DOCUMENTED_LIMITS else "items")
            who = "Deepgram accepts" if name in _DOCUMENTED_LIMITS else "dgtools sends"
            raise _error(
                name,
                f"option {name!r} has {len(result)} {noun}; {who} at most {spec.max_items} per request: "
                "keep the most important ones",
            )
    return result


def _check_together(data: Mapping[str, Any]) -> None:
    """Rules that involve more than one option."""
    encoding = data.get("encoding")
    if encoding in _NEEDS_SAMPLE_RATE and "sample_rate" not in data:
        fixed = _FIXED_SAMPLE_RATE.get(encoding)
        example = fixed if fixed is not None else 16000
        raise _error(
            "encoding",
            f"option 'encoding'={encoding!r} describes raw, headerless audio and needs 'sample_rate' too "
            f"(e.g. sample_rate={example}); for audio in a container (wav, mp3, ogg, ...) leave both out",
        )
    fixed = _FIXED_SAMPLE_RATE.get(encoding) if isinstance(encoding, str) else None
    if fixed is not None and data.get("sample_rate") != fixed:
        raise _error(
            "sample_rate",
            f"option 'sample_rate' must be {fixed} with encoding={encoding!r}, got {data.get('sample_rate')!r}",
        )
    keyterms = data.get("keyterm", ())
    words = sum(len(term.split()) for term in keyterms)
    if words > KEYTERM_MAX_TOKENS:
        raise _error(
            "keyterm",
            f"option 'keyterm' has {words} words in all, so more than {KEYTERM_MAX_TOKENS} tokens; "
            f"Deepgram accepts at most {KEYTERM_MAX_TOKENS} tokens across all keyterms per request: send fewer or shorter terms",
        )


def _validated(options: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, value in options.items():
        spec = OPTIONS.get(name)
        if spec is None:
            raise _unknown(name)
        if value is None:
            continue
        normal = _normalise(spec, value)
        if normal is not None:
            data[name] = normal
    _check_together(data)
    return {name: data[name] for name in sorted(data)}


def _encode(value: Any) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int | float):
        return [_format_number(value)]
    if isinstance(value, tuple):
        return list(value)
    return [str(value)]


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


# --- ListenOptions ---------------------------------------------------------------------------------------


class ListenOptions(collections.abc.Mapping[str, Any]):
    """Validated ``/v1/listen`` query options: an immutable, hashable mapping.

    Values are normalised: ``bool`` for flags, ``int``/``float`` for numbers,
    ``str`` for strings and enums, a ``tuple`` of strings for list options
    (``keywords`` as ``"word:intensifier"``, ``extra`` as ``"key:value"``,
    ``replace`` as ``"find:replace"``).  ``summarize`` is a bool or ``"v2"``;
    ``detect_language`` and ``redact`` are a bool or a tuple.  Keys iterate in
    name order.  Two instances built from equivalent inputs (``True`` and
    ``"true"``, ``8000`` and ``"8000"``) are equal, hash alike and share one
    :meth:`canonical` string.

    Parameters
    ----------
    options : mapping, optional
        Options as for :meth:`from_kwargs`; keyword arguments are merged in.

    Raises
    ------
    ConfigError
        An option is unknown or has an invalid value; ``.option`` names it.

    Examples
    --------
    >>> opts = ListenOptions.from_kwargs(model="nova-3", punctuate="true", keywords=[("acme", 2)])
    >>> opts
    ListenOptions(keywords=('acme:2',), model='nova-3', punctuate=True)
    >>> opts["punctuate"], opts.model
    (True, 'nova-3')
    >>> opts == ListenOptions.from_kwargs(punctuate=True, model="nova-3", keywords="acme:2")
    True
    """

    __slots__ = ("_data", "_key")

    _data: dict[str, Any]
    _key: tuple[tuple[str, Any], ...]

    def __init__(self, options: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        merged = dict(options or {})
        merged.update(kwargs)
        data = _validated(merged)
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_key", tuple(data.items()))

    @classmethod
    def from_kwargs(cls, **options: Any) -> ListenOptions:
        """Validate Python-friendly options; ``None`` values mean "not set" and are dropped.

        Parameters
        ----------
        **options
            Option names from :data:`OPTIONS`.  Flags take ``bool`` (or
            ``"true"``/``"false"``); numbers take ``int``/``float`` (or their
            text, never ``bool``); list options take one string or an iterable
            of strings.  ``keywords`` items are ``"word:intensifier"`` strings
            or ``(word, intensifier)`` tuples; ``extra`` a dict ``{key: value}``
            or ``"key:value"`` strings; ``replace`` a dict ``{find: replace}``
            or ``"find:replace"`` strings; ``redact`` ``True``/``False`` or
            names (``pci``, ``pii``, ``numbers``, entity names);
            ``summarize`` ``True``/``False`` or ``"v2"``; ``detect_language``
            a bool or language codes; ``utt_split`` a positive number.

        Returns
        -------
        ListenOptions

        Raises
        ------
        ConfigError
            With ``.option`` set to the offending option.

        Examples
        --------
        >>> ListenOptions.from_kwargs(extra={"batch": "june"}, replace={"acme": "ACME"}, tier=None)
        ListenOptions(extra=('batch:june',), replace=('acme:ACME',))
        >>> ListenOptions.from_kwargs(punctuate="maybe")
        Traceback (most recent call last):
        ...
        dgtools.exceptions.ConfigError: option 'punctuate' must be true or false, got 'maybe'
        """
        return cls(options)

    def updated(self, **changes: Any) -> ListenOptions:
        """A copy with some options changed (validated); ``None`` removes an option.

        Examples
        --------
        >>> ListenOptions.from_kwargs(model="nova-3", diarize=True).updated(diarize=None, utterances=True)
        ListenOptions(model='nova-3', utterances=True)
        """
        merged: dict[str, Any] = dict(self._data)
        merged.update(changes)
        return type(self)(merged)

    # Mapping protocol
    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ListenOptions):
            return self._key == other._key
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash(self._key)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            "ListenOptions is immutable; use .updated(...) or ListenOptions.from_kwargs(...)"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(
            "ListenOptions is immutable; use .updated(...) or ListenOptions.from_kwargs(...)"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self._data),))

    def __repr__(self) -> str:
        shown = []
        for name, value in self._data.items():
            if name == "callback":
                value = _mask_url(value)
            shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @property
    def model(self) -> str | None:
        """The ``model`` option, or None when not set (Deepgram then uses its default model)."""
        model = self._data.get("model")
        return model if isinstance(model, str) else None

    def query_params(self) -> list[tuple[str, str]]:
        """The options as query pairs for httpx, in name order.

        Booleans are ``"true"``/``"false"``, numbers their shortest text, and
        each item of a list option is its own pair, in the given order.

        Returns
        -------
        list of (str, str)

        Examples
        --------
        >>> ListenOptions.from_kwargs(tag=["a", "b"], utt_split=1, diarize=False).query_params()
        [('diarize', 'false'), ('tag', 'a'), ('tag', 'b'), ('utt_split', '1')]
        """
        return [(name, text) for name, value in self._data.items() for text in _encode(value)]

    def canonical(self) -> str:
        """The options as one stable query string.

        Options in name order, the items of list options in the given order,
        percent-encoded as RFC 3986 (a space is ``%20``).  Equivalent inputs
        give the same string whatever the keyword order or value types.  A
        password in the ``callback`` URL shows as ``***``: the string is
        written to the raw store, and the password does not change a transcript.

        Returns
        -------
        str

        Examples
        --------
        >>> ListenOptions.from_kwargs(search="hello world", punctuate=True).canonical()
        'punctuate=true&search=hello%20world'
        """
        pairs = [
            (name, _mask_url(text) if name == "callback" else text) for name, text in self.query_params()
        ]
        return urlencode(pairs, quote_via=quote)

    def digest(self) -> str:
        """The first 16 hex characters of sha256(:meth:`canonical`): part of the raw-store key.

        Returns
        -------
        str

        Examples
        --------
        >>> len(ListenOptions.from_kwargs(model="nova-3").digest())
        16
        """
        return hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()[:16]


def validate_query(params: Sequence[tuple[str, str]]) -> ListenOptions:
    """Parse query-string pairs as a server receives them (all strings) into :class:`ListenOptions`.

    Parameters
    ----------
    params : sequence of (str, str)
        The decoded query pairs, repeated names included, in order.

    Returns
    -------
    ListenOptions

    Raises
    ------
    ConfigError
        With ``.option`` set to the parameter: an unknown parameter, a value of
        the wrong type, a non-list option given more than once, a value outside
        an enum, too many items.

    Examples
    --------
    >>> validate_query([("model", "nova-3"), ("search", "a"), ("search", "b"), ("punctuate", "true")])
    ListenOptions(model='nova-3', punctuate=True, search=('a', 'b'))
    >>> validate_query([("punctuate", "true"), ("punctuate", "false")])
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: option 'punctuate' was given 2 times; it takes one value (only list options repeat)
    """
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        if name not in OPTIONS:
            raise _unknown(name)
        grouped.setdefault(name, []).append(value)
    options: dict[str, Any] = {}
    for name, values in grouped.items():
        spec = OPTIONS[name]
        if spec.repeatable:
            options[name] = values
        elif len(values) > 1:
            raise _error(
                name,
                f"option {name!r} was given {len(values)} times; it takes one value (only list options repeat)",
            )
        else:
            options[name] = values[0]
    return ListenOptions(options)


def default_concurrency(options: Mapping[str, Any], *, region: str | None = None) -> int:
    """Deepgram's per-project concurrency limit for pre-recorded requests with these options.

    50 by default; 25 with diarization (``diarize=true`` or ``diarize_model``)
    in region ``"eu"`` or ``"au"``; 10 with ``summarize``, ``topics``
    (or ``detect_topics``), ``intents`` or ``sentiment``; 5 with
    ``detect_entities``.  The lowest applicable limit wins
    (https://developers.deepgram.com/reference/api-rate-limits, Pay as You Go).

    Parameters
    ----------
    options : ListenOptions
        The request options.
    region : str, optional
        The Deepgram region (``"eu"``, ``"au"``, ...); None for the default endpoint.

    Returns
    -------
    int

    Examples
    --------
    >>> default_concurrency(ListenOptions.from_kwargs(model="nova-3"))
    50
    >>> default_concurrency(ListenOptions.from_kwargs(diarize=True), region="eu")
    25
    >>> default_concurrency(ListenOptions.from_kwargs(summarize="v2", detect_entities=True))
    5
    """
    limit = _CONCURRENCY_DEFAULT
    diarized = options.get("diarize") is True or options.get("diarize_model") is not None
    if diarized and (region or "").strip().lower() in ("eu", "au"):
        limit = min(limit, _CONCURRENCY_DIARIZE_REGIONAL)
    if any(
        bool(options.get(name)) for name in ("summarize", "topics", "detect_topics", "intents", "sentiment")
    ):
        limit = min(limit, _CONCURRENCY_INTELLIGENCE)
    if options.get("detect_entities") is True:
        limit = min(limit, _CONCURRENCY_ENTITIES)
    return limit
