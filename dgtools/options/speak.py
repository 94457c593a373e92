"""The query options of Aura text-to-speech, ``/v1/speak``: :func:`speak_query` and :func:`parse_speak_query`.

Deepgram's ``POST /v1/speak?model=aura-2-thalia-en`` takes ``{"text": ...}`` (at most
:data:`MAX_CHARACTERS` characters) and answers audio bytes; the WebSocket ``/v1/speak`` takes
``Speak`` messages and answers binary audio.  Their query options are listed here from Deepgram's
OpenAPI and AsyncAPI specs: :data:`SPEAK_OPTIONS` (REST) and :data:`STREAM_OPTIONS` (WebSocket),
the voices :data:`SPEAK_MODELS`, and :data:`FORMATS`, Deepgram's table of valid audio formats
("Audio Format Combinations", https://developers.deepgram.com/docs/tts-media-output-settings):
which containers, sample rates and bit rates go with each encoding, and the defaults.  The
WebSocket sends raw audio only (``linear16``, ``mulaw``, ``alaw``; ``container`` may only be
``none``).  ``speed`` is 0.7 to 1.5 (Deepgram's Aura-2 voice controls).

:func:`speak_query` and :func:`speak_stream_query` check keyword arguments (a client);
:func:`parse_speak_query` checks a query as a server receives it.  :func:`speak_format` is the
audio the options ask for once defaults are filled in (REST: ``mp3``, 22050 Hz; WebSocket:
``linear16``, 24000 Hz), with its ``Content-Type`` and a file suffix; :func:`speak_bit_rate` its
bit rate.  Errors are :class:`~dgtools.exceptions.ConfigError` with ``.option`` set.

Examples
--------
>>> speak_query(model="aura-2-thalia-en", encoding="linear16", sample_rate=16000)
[('model', 'aura-2-thalia-en'), ('encoding', 'linear16'), ('sample_rate', '16000')]
>>> speak_format({"model": "aura-2-thalia-en"})
SpeakFormat(encoding='mp3', container='none', sample_rate=22050, content_type='audio/mpeg', file_suffix='.mp3')
>>> speak_query(model="aura-2-thalia-en", encodng="mp3")
Traceback (most recent call last):
...
dgtools.exceptions.ConfigError: encodng is not an option of Aura text-to-speech (/v1/speak); did you mean encoding? /v1/speak takes: model, encoding, container, sample_rate, bit_rate, speed, mip_opt_out, tag, callback, callback_method
>>> speak_query(model="aura-2-thalai-en")
Traceback (most recent call last):
...
dgtools.exceptions.ConfigError: model='aura-2-thalai-en' is not an Aura voice; did you mean aura-2-thalia-en? See dgtools.options.speak.SPEAK_MODELS
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from ..exceptions import ConfigError
from ._values import option_error

__all__ = [
    "DEFAULT_MODEL",
    "FORMATS",
    "MAX_CHARACTERS",
    "SPEAK_ENCODINGS",
    "SPEAK_MODELS",
    "SPEAK_OPTIONS",
    "SPEED_RANGE",
    "STREAM_ENCODINGS",
    "STREAM_OPTIONS",
    "AudioFormat",
    "SpeakFormat",
    "SpeakOption",
    "is_speak_model",
    "parse_speak_query",
    "speak_bit_rate",
    "speak_format",
    "speak_query",
    "speak_stream_query",
]

#: The most characters of text one request (REST) or one ``Speak`` message (WebSocket) may carry.
MAX_CHARACTERS: Final = 2000
#: The voice when the query names none (the spec's default).
DEFAULT_MODEL: Final = "aura-asteria-en"
#: ``speed``: the slowest and fastest speaking rate (Deepgram's Aura-2 voice controls).
SPEED_RANGE: Final = (0.7, 1.5)

#: Every Aura voice (``model``) of the OpenAPI spec, in its order: ``aura-<voice>-en`` (Aura) and
#: ``aura-2-<voice>-<language>`` (Aura-2, English, Spanish, German, Dutch, French, Italian, Japanese).
SPEAK_MODELS: Final = (
    "aura-angus-en", "aura-arcas-en", "aura-asteria-en", "aura-athena-en", "aura-helios-en",
    "aura-hera-en", "aura-luna-en", "aura-orion-en", "aura-orpheus-en", "aura-perseus-en",
    "aura-stella-en", "aura-zeus-en",
    "aura-2-amalthea-en", "aura-2-andromeda-en", "aura-2-apollo-en", "aura-2-arcas-en", "aura-2-aries-en",
    "aura-2-asteria-en", "aura-2-athena-en", "aura-2-atlas-en", "aura-2-aurora-en", "aura-2-callista-en",
    "aura-2-cora-en", "aura-2-cordelia-en", "aura-2-delia-en", "aura-2-draco-en", "aura-2-electra-en",
    "aura-2-harmonia-en", "aura-2-helena-en", "aura-2-hera-en", "aura-2-hermes-en", "aura-2-hyperion-en",
    "aura-2-iris-en", "aura-2-janus-en", "aura-2-juno-en", "aura-2-jupiter-en", "aura-2-luna-en",
    "aura-2-mars-en", "aura-2-minerva-en", "aura-2-neptune-en", "aura-2-odysseus-en", "aura-2-ophelia-en",
    "aura-2-orion-en", "aura-2-orpheus-en", "aura-2-pandora-en", "aura-2-phoebe-en", "aura-2-pluto-en",
    "aura-2-saturn-en", "aura-2-selene-en", "aura-2-thalia-en", "aura-2-theia-en", "aura-2-vesta-en",
    "aura-2-zeus-en",
    "aura-2-agustina-es", "aura-2-alvaro-es", "aura-2-antonia-es", "aura-2-aquila-es", "aura-2-carina-es",
    "aura-2-celeste-es", "aura-2-diana-es", "aura-2-estrella-es", "aura-2-gloria-es", "aura-2-javier-es",
    "aura-2-luciano-es", "aura-2-nestor-es", "aura-2-olivia-es", "aura-2-selena-es", "aura-2-silvia-es",
    "aura-2-sirio-es", "aura-2-valerio-es",
    "aura-2-aurelia-de", "aura-2-elara-de", "aura-2-fabian-de", "aura-2-julius-de", "aura-2-kara-de",
    "aura-2-lara-de", "aura-2-viktoria-de",
    "aura-2-beatrix-nl", "aura-2-cornelia-nl", "aura-2-daphne-nl", "aura-2-hestia-nl", "aura-2-lars-nl",
    "aura-2-leda-nl", "aura-2-rhea-nl", "aura-2-roman-nl", "aura-2-sander-nl",
    "aura-2-agathe-fr", "aura-2-hector-fr",
    "aura-2-cesare-it", "aura-2-cinzia-it", "aura-2-demetra-it", "aura-2-dionisio-it", "aura-2-elio-it",
    "aura-2-flavio-it", "aura-2-livia-it", "aura-2-maia-it", "aura-2-melia-it", "aura-2-perseo-it",
    "aura-2-ama-ja", "aura-2-ebisu-ja", "aura-2-fujin-ja", "aura-2-izanami-ja", "aura-2-uzume-ja",
)  # fmt: skip

#: Every ``encoding`` of ``POST /v1/speak``.
SPEAK_ENCODINGS: Final = ("linear16", "mulaw", "alaw", "mp3", "opus", "flac", "aac")
#: The encodings of the WebSocket ``/v1/speak``: raw audio only.
STREAM_ENCODINGS: Final = ("linear16", "mulaw", "alaw")


@dataclass(frozen=True)
class AudioFormat:
    """One row of Deepgram's "Audio Format Combinations": what goes with an ``encoding``.

    Attributes
    ----------
    encoding : str
        The ``encoding`` value.
    containers : tuple of str
        The ``container`` values it takes, the default first (``"none"``: no container).
    sample_rates : tuple of int
        The ``sample_rate`` values it takes (one: the rate is fixed).
    default_sample_rate : int
        The rate when the query gives none.
    bit_rates : tuple of int
        The ``bit_rate`` values it takes, when they are a list (``mp3``).
    bit_rate_range : tuple of int or None
        The lowest and highest ``bit_rate``, when it is a range (``opus``, ``aac``).
    default_bit_rate : int or None
        The bit rate when the query gives none; None: the encoding takes no ``bit_rate``.
    content_type : str
        The answer's ``Content-Type`` in its default container.
    suffix : str
        A file suffix for the audio in its default container.
    """

    encoding: str
    containers: tuple[str, ...]
    sample_rates: tuple[int, ...]
    default_sample_rate: int
    content_type: str
    suffix: str
    bit_rates: tuple[int, ...] = ()
    bit_rate_range: tuple[int, int] | None = None
    default_bit_rate: int | None = None


#: Deepgram's valid audio formats, by ``encoding``.
FORMATS: Final[dict[str, AudioFormat]] = {
    "linear16": AudioFormat(
        "linear16", ("wav", "none"), (8000, 16000, 24000, 32000, 48000), 24000, "audio/wav", ".wav"
    ),
    "mulaw": AudioFormat("mulaw", ("wav", "none"), (8000, 16000), 8000, "audio/wav", ".wav"),
    "alaw": AudioFormat("alaw", ("wav", "none"), (8000, 16000), 8000, "audio/wav", ".wav"),
    "mp3": AudioFormat("mp3", ("none",), (22050,), 22050, "audio/mpeg", ".mp3", (32000, 48000), None, 48000),
    "opus": AudioFormat("opus", ("ogg",), (48000,), 48000, "audio/ogg", ".opus", (), (4000, 650000), 12000),
    "flac": AudioFormat("flac", ("none",), (8000, 16000, 22050, 32000, 48000), 48000, "audio/flac", ".flac"),
    "aac": AudioFormat("aac", ("none",), (22050,), 22050, "audio/aac", ".aac", (), (4000, 192000), 48000),
}

#: Content type and file suffix of audio without a container (raw samples).
_RAW: Final = {
    "linear16": ("application/octet-stream", ".pcm"),
    "mulaw": ("application/octet-stream", ".ulaw"),
    "alaw": ("application/octet-stream", ".alaw"),
}


@dataclass(frozen=True)
class SpeakOption:
    """One ``/v1/speak`` query option: its kind (``"bool"``, ``"int"``, ``"float"``, ``"str"``), list-ness, values."""

    kind: str
    many: bool = False
    choices: tuple[str, ...] = ()


#: Every query option of ``POST /v1/speak`` (the OpenAPI spec's, in a reading order).
SPEAK_OPTIONS: Final[dict[str, SpeakOption]] = {
    "model": SpeakOption("str", choices=SPEAK_MODELS),
    "encoding": SpeakOption("str", choices=SPEAK_ENCODINGS),
    "container": SpeakOption("str", choices=("wav", "ogg", "none")),
    "sample_rate": SpeakOption("int"),
    "bit_rate": SpeakOption("int"),
    "speed": SpeakOption("float"),
    "mip_opt_out": SpeakOption("bool"),
    "tag": SpeakOption("str", many=True),
    "callback": SpeakOption("str"),
    "callback_method": SpeakOption("str", choices=("POST", "PUT")),
}

#: Every query option of the WebSocket ``/v1/speak`` (the AsyncAPI spec's; ``container``: only ``none``).
STREAM_OPTIONS: Final[dict[str, SpeakOption]] = {
    "model": SPEAK_OPTIONS["model"],
    "encoding": SpeakOption("str", choices=STREAM_ENCODINGS),
    "container": SpeakOption("str", choices=("none",)),
    "sample_rate": SPEAK_OPTIONS["sample_rate"],
    "speed": SPEAK_OPTIONS["speed"],
    "mip_opt_out": SPEAK_OPTIONS["mip_opt_out"],
}


class SpeakFormat(NamedTuple):
    """The audio a ``/v1/speak`` request answers: encoding, container, rate, ``Content-Type``, file suffix."""

    encoding: str
    container: str
    sample_rate: int
    content_type: str
    file_suffix: str


def is_speak_model(model: object) -> bool:
    """Whether ``model`` names an Aura voice of :data:`SPEAK_MODELS`.

    Examples
    --------
    >>> is_speak_model("aura-2-thalia-en"), is_speak_model("nova-3")
    (True, False)
    """
    return isinstance(model, str) and model in SPEAK_MODELS


# --------------------------------------------------------------------------- values


def _error(name: str, message: str) -> ConfigError:
    return option_error(name, f"{name}={message}")


def _number(name: str, value: Any, *, whole: bool) -> float:
    """``value`` as a finite number (a whole one when ``whole``: ``24000.0`` counts), else ConfigError."""
    try:
        number = float("nan") if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not math.isfinite(number) or (whole and not number.is_integer()):
        raise _error(name, f"{value!r}: expected {'a whole number' if whole else 'a number'}")
    return number


def _model(value: str) -> str:
    if value in SPEAK_MODELS:
        return value
    close = difflib.get_close_matches(value, SPEAK_MODELS, n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise option_error(
        "model", f"model={value!r} is not an Aura voice{hint} See dgtools.options.speak.SPEAK_MODELS"
    )


def _one(name: str, spec: SpeakOption, value: Any) -> str:
    """One value of option ``name`` as the query carries it, checked on its own."""
    if spec.kind == "bool":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower()
        if not isinstance(value, bool):
            raise _error(name, f"{value!r}: expected true or false")
        return "true" if value else "false"
    if spec.kind == "int":
        return str(int(_number(name, value, whole=True)))
    if spec.kind == "float":
        speed = _number(name, value, whole=False)
        low, high = SPEED_RANGE
        if not low <= speed <= high:
            raise _error(name, f"{value!r}: Deepgram takes {low:g} to {high:g} (1 is the voice's own pace)")
        return f"{speed:g}"
    text = value if isinstance(value, str) else str(value)
    if not text.strip():
        raise _error(name, "'': give a value (empty values are rejected)")
    if name == "model":
        return _model(text)
    if spec.choices == ("none",) and text != "none":  # the WebSocket's container
        raise _error(name, f"{text!r}: the WebSocket sends raw audio only: container=none (or leave it out)")
    if spec.choices and text not in spec.choices:
        close = difflib.get_close_matches(text, spec.choices, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise _error(name, f"{text!r}: takes {', '.join(spec.choices)}{hint}")
    if name == "callback":
        parts = urlsplit(text)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise _error(name, f"{text!r}: expected an http(s) URL such as 'https://example.com/hook'")
    return text


def _check(pairs: list[tuple[str, str]], options: Mapping[str, SpeakOption], where: str) -> None:
    """The rules between options: the audio format combination, repeats, ``callback_method``."""
    names = [k for k, _ in pairs]
    for name in names:
        if names.count(name) > 1 and not options[name].many:
            raise option_error(name, f"{name} is given more than once")
    one = dict(pairs)
    encoding = one.get("encoding", "mp3" if options is SPEAK_OPTIONS else "linear16")
    fmt = FORMATS[encoding]
    containers = ("none",) if options is STREAM_OPTIONS else fmt.containers
    if "container" in one and one["container"] not in containers:
        raise _error(
            "container",
            f"{one['container']!r} does not go with encoding={encoding} {where}: "
            f"it takes container={' or '.join(containers)}",
        )
    if "sample_rate" in one and int(one["sample_rate"]) not in fmt.sample_rates:
        rates = fmt.sample_rates
        allowed = f"only {rates[0]} (fixed)" if len(rates) == 1 else ", ".join(map(str, rates))
        raise _error("sample_rate", f"{one['sample_rate']}: encoding={encoding} takes {allowed}")
    if "bit_rate" in one:
        bit_rate = int(one["bit_rate"])
        if fmt.default_bit_rate is None:
            raise _error("bit_rate", f"{bit_rate}: only mp3, opus and aac take a bit_rate, not {encoding}")
        if fmt.bit_rates and bit_rate not in fmt.bit_rates:
            raise _error(
                "bit_rate", f"{bit_rate}: {encoding} takes {' or '.join(map(str, fmt.bit_rates))} (bits/s)"
            )
        if fmt.bit_rate_range and not fmt.bit_rate_range[0] <= bit_rate <= fmt.bit_rate_range[1]:
            low, high = fmt.bit_rate_range
            raise _error("bit_rate", f"{bit_rate}: {encoding} takes {low} to {high} bits/s")
    if "callback_method" in one and "callback" not in one:
        raise option_error("callback_method", "callback_method needs callback= (the URL to call)")


def _unknown(name: str, options: Mapping[str, SpeakOption], where: str) -> ConfigError:
    close = difflib.get_close_matches(name, options, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    if not close and options is STREAM_OPTIONS and name in SPEAK_OPTIONS:
        hint = " (a REST-only option)"
    what = "Aura text-to-speech" if options is SPEAK_OPTIONS else "the text-to-speech WebSocket"
    return option_error(
        name, f"{name} is not an option of {what} ({where}){hint} {where} takes: {', '.join(options)}"
    )


def _from_kwargs(
    options: Mapping[str, Any], table: Mapping[str, SpeakOption], where: str
) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in options.items():
        if value is None:
            continue
        spec = table.get(name)
        if spec is None:
            raise _unknown(name, table, where)
        values = value if spec.many and isinstance(value, list | tuple) else [value]
        pairs.extend((name, _one(name, spec, v)) for v in values)
    _check(pairs, table, where)
    return pairs


def speak_query(**options: Any) -> list[tuple[str, str]]:
    """The ``POST /v1/speak`` query of keyword options, checked (``tag`` lists become repeated keys).

    ``None`` values are left out.  Numbers may be given as numbers or strings (``24000.0`` is
    ``24000``); booleans become ``true``/``false``.

    Raises
    ------
    ConfigError
        An option ``/v1/speak`` does not take (with a did-you-mean), an unknown voice, a bad value,
        or a combination Deepgram refuses (e.g. ``encoding="mp3", sample_rate=24000``).

    Examples
    --------
    >>> speak_query(model="aura-asteria-en", encoding="mp3", bit_rate=32000, tag=["a", "b"])
    [('model', 'aura-asteria-en'), ('encoding', 'mp3'), ('bit_rate', '32000'), ('tag', 'a'), ('tag', 'b')]
    >>> speak_query(encoding="mp3", sample_rate=24000)
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: sample_rate=24000: encoding=mp3 takes only 22050 (fixed)
    """
    return _from_kwargs(options, SPEAK_OPTIONS, "/v1/speak")


def speak_stream_query(**options: Any) -> list[tuple[str, str]]:
    """The WebSocket ``/v1/speak`` handshake query of keyword options, checked (:data:`STREAM_OPTIONS`).

    Raises
    ------
    ConfigError
        As :func:`speak_query`; the WebSocket also refuses compressed encodings and containers.

    Examples
    --------
    >>> speak_stream_query(model="aura-2-thalia-en", encoding="linear16", sample_rate=16000)
    [('model', 'aura-2-thalia-en'), ('encoding', 'linear16'), ('sample_rate', '16000')]
    >>> speak_stream_query(encoding="mp3")
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: encoding='mp3': takes linear16, mulaw, alaw
    """
    return _from_kwargs(options, STREAM_OPTIONS, "WebSocket /v1/speak")


def parse_speak_query(params: Sequence[tuple[str, str]], *, stream: bool = False) -> list[tuple[str, str]]:
    """A query (name, value pairs as received, without ``token``), checked as :func:`speak_query` does.

    ``stream=True`` checks a WebSocket handshake's query (:func:`speak_stream_query`'s rules).
    Returns the pairs with their values normalised (``24000.0`` -> ``24000``, ``True`` -> ``true``).

    Examples
    --------
    >>> parse_speak_query([("model", "aura-2-thalia-en"), ("sample_rate", "24000.0"), ("encoding", "linear16")])
    [('model', 'aura-2-thalia-en'), ('sample_rate', '24000'), ('encoding', 'linear16')]
    >>> parse_speak_query([("encoding", "opus"), ("sample_rate", "16000")])
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: sample_rate=16000: encoding=opus takes only 48000 (fixed)
    """
    table = STREAM_OPTIONS if stream else SPEAK_OPTIONS
    where = "WebSocket /v1/speak" if stream else "/v1/speak"
    pairs = []
    for name, value in params:
        spec = table.get(name)
        if spec is None:
            raise _unknown(name, table, where)
        pairs.append((name, _one(name, spec, value)))
    _check(pairs, table, where)
    return pairs


def _checked(options: Mapping[str, Any] | Sequence[tuple[str, str]], stream: bool) -> dict[str, str]:
    if isinstance(options, Mapping):
        pairs = _from_kwargs(
            options,
            STREAM_OPTIONS if stream else SPEAK_OPTIONS,
            "WebSocket /v1/speak" if stream else "/v1/speak",
        )
    else:
        pairs = parse_speak_query(options, stream=stream)
    return dict(pairs)


def speak_format(
    options: Mapping[str, Any] | Sequence[tuple[str, str]] = (), *, stream: bool = False
) -> SpeakFormat:
    """The audio the options ask for, defaults filled in: encoding, container, sample rate, type, suffix.

    ``options`` are keyword options (a mapping, as for :func:`speak_query`) or query pairs (as for
    :func:`parse_speak_query`); they are checked.  REST defaults to ``mp3`` (22050 Hz), the
    WebSocket (``stream=True``) to raw ``linear16`` at 24000 Hz.  Audio without a container is
    ``application/octet-stream`` (suffix ``.pcm``, ``.ulaw`` or ``.alaw``).

    Examples
    --------
    >>> speak_format({"encoding": "linear16"})
    SpeakFormat(encoding='linear16', container='wav', sample_rate=24000, content_type='audio/wav', file_suffix='.wav')
    >>> speak_format([("encoding", "mulaw"), ("container", "none")]).sample_rate
    8000
    >>> speak_format({}, stream=True)
    SpeakFormat(encoding='linear16', container='none', sample_rate=24000, content_type='application/octet-stream', file_suffix='.pcm')
    """
    one = _checked(options, stream)
    encoding = one.get("encoding", "linear16" if stream else "mp3")
    fmt = FORMATS[encoding]
    container = "none" if stream else one.get("container", fmt.containers[0])
    rate = int(one.get("sample_rate", fmt.default_sample_rate))
    if container == "none" and encoding in _RAW:
        content_type, suffix = _RAW[encoding]
    else:
        content_type, suffix = fmt.content_type, fmt.suffix
    return SpeakFormat(encoding, container, rate, content_type, suffix)


def speak_bit_rate(
    options: Mapping[str, Any] | Sequence[tuple[str, str]] = (), *, stream: bool = False
) -> int | None:
    """The bit rate the options ask for (``mp3`` 48000, ``opus`` 12000, ``aac`` 48000 by default); None for others.

    Examples
    --------
    >>> speak_bit_rate({}), speak_bit_rate({"encoding": "opus"}), speak_bit_rate({"encoding": "flac"})
    (48000, 12000, None)
    """
    one = _checked(options, stream)
    fmt = FORMATS[one.get("encoding", "linear16" if stream else "mp3")]
    if fmt.default_bit_rate is None:
        return None
    return int(one.get("bit_rate", fmt.default_bit_rate))
