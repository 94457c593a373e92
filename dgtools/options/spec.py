"""The table of every pre-recorded ``/v1/listen`` query option: :data:`OPTIONS`, one :class:`OptionSpec` each.

Every query parameter of ``POST /v1/listen`` in Deepgram's OpenAPI spec (``in_spec=True``) plus the
older ones users still send (``in_spec=False``), with Deepgram's documented limits.  The table is
literal data, derived once from the spec; dgtools does not need the spec at run time (a test checks
the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "CUSTOM_INTENT_MAX",
    "CUSTOM_TOPIC_MAX",
    "DOCUMENTED_LIMITS",
    "EXTRA_MAX_CHARS",
    "EXTRA_MAX_ITEMS",
    "FIXED_SAMPLE_RATE",
    "ITEM_NOUN",
    "KEYTERM_MAX_TERMS",
    "KEYTERM_MAX_TOKENS",
    "KEYWORDS_MAX_TERMS",
    "MODELS",
    "NEEDS_SAMPLE_RATE",
    "OPTIONS",
    "REPLACE_MAX_TERMS",
    "SEARCH_MAX_TERMS",
    "TAG_MAX_CHARS",
    "TAG_MAX_ITEMS",
    "OptionSpec",
]


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
DOCUMENTED_LIMITS: Final = frozenset({"keyterm", "keywords", "search", "replace", "custom_topic"})
ITEM_NOUN: Final = {
    "custom_intent": "intents",
    "custom_topic": "topics",
    "extra": "key:value pairs",
    "tag": "tags",
}

# Encodings of headerless audio that Deepgram can only decode with ``sample_rate``
# (https://developers.deepgram.com/docs/sample-rate: "Sample Rate is required when using the Encoding
# feature for non-containerized/raw audio").  FLAC carries its sample rate in its header.
NEEDS_SAMPLE_RATE: Final = frozenset(
    {"linear16", "linear32", "mulaw", "alaw", "amr-nb", "amr-wb", "opus", "speex", "g729"}
)
# "amr-nb ... you must specify sample_rate=8000; amr-wb ... sample_rate=16000" (same page).
FIXED_SAMPLE_RATE: Final = {"amr-nb": 8000, "amr-wb": 16000}


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


MODELS: Final = (
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
    _opt("model", "str", "Model used to process the audio.", choices=MODELS, open_choices=True),
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
