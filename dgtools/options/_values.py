"""Option values: each checked against its :class:`~dgtools.options.spec.OptionSpec`, normalised and encoded.

Every error is a :class:`~dgtools.exceptions.ConfigError` whose ``.option`` names the option and whose
message says how to fix it (with a did-you-mean for an unknown name).
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..exceptions import ConfigError
from .spec import (
    DOCUMENTED_LIMITS,
    EXTRA_MAX_CHARS,
    FIXED_SAMPLE_RATE,
    ITEM_NOUN,
    KEYTERM_MAX_TOKENS,
    NEEDS_SAMPLE_RATE,
    OPTIONS,
    TAG_MAX_CHARS,
    OptionSpec,
)

__all__ = ["encode", "mask_url", "option_error", "unknown_option", "validated"]


def option_error(option: str, message: str) -> ConfigError:
    err = ConfigError(message)
    err.option = option  # type: ignore[attr-defined]
    return err


def unknown_option(name: str) -> ConfigError:
    candidates = difflib.get_close_matches(name.lower().replace("-", "_"), OPTIONS, n=1, cutoff=0.6)
    hint = (
        f"did you mean {candidates[0]!r}?"
        if candidates
        else "see dgtools.options.OPTIONS for the options dgtools knows"
    )
    return option_error(name, f"option {name!r} is not a /v1/listen option; {hint}")


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
    raise option_error(name, f"option {name!r} must be true or false, got {value!r}")


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
        raise option_error(name, f"option {name!r} must be {what}, got {value!r}")
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
        raise option_error(name, f"option {name!r} must be a positive number (seconds), got {value!r}")
    return result


def _to_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise option_error(name, f"option {name!r} must be a string, got {value!r}")
    if not value.strip():
        raise option_error(
            name, f"option {name!r} must not be empty; leave it out (or pass None) to use Deepgram's default"
        )
    return value


def _to_choice(spec: OptionSpec, value: Any) -> str:
    text = _to_str(spec.name, value)
    choices = spec.choices or ()
    if text not in choices:
        close = difflib.get_close_matches(text, choices, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise option_error(
            spec.name, f"option {spec.name!r} must be one of {_one_of(choices)}, got {value!r}{hint}"
        )
    return text


def _items(name: str, value: Any) -> list[Any]:
    """The items of a list option: one string, or any iterable (not a mapping) of items."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, Mapping | bytes):
        return list(value)
    raise option_error(name, f"option {name!r} must be a string or a list of strings, got {value!r}")


def _plain_items(name: str, value: Any) -> tuple[str, ...]:
    return tuple(_to_str(name, item) for item in _items(name, value))


def _keyword(name: str, item: Any) -> str:
    if isinstance(item, tuple) and len(item) == 2:
        word, intensifier = item
        if isinstance(intensifier, bool) or not isinstance(intensifier, numbers.Real):
            raise option_error(
                name, f"option {name!r} item {item!r}: the intensifier must be a number, e.g. ('word', 2)"
            )
        boost = float(intensifier)
        if not math.isfinite(boost):
            raise option_error(
                name, f"option {name!r} item {item!r}: the intensifier must be a finite number"
            )
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
        raise option_error(
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
    raise option_error(name, f"option {name!r} values must be strings or numbers, got {value!r}")


def _pairs(name: str, value: Any, *, what: str, example: str, allow_empty_value: bool) -> tuple[str, ...]:
    """Items of ``extra``/``replace``: a mapping, ``"key:value"`` strings or ``(key, value)`` pairs."""
    raw = list(value.items()) if isinstance(value, Mapping) else _items(name, value)
    out: list[str] = []
    for item in raw:
        if isinstance(item, tuple) and len(item) == 2:
            key, val = item
            if not isinstance(key, str) or not key.strip():
                raise option_error(
                    name,
                    f"option {name!r}: every {what} needs a non-empty string before the colon, got {key!r}",
                )
            text = f"{key}:{_scalar_text(name, val)}"
        else:
            text = _to_str(name, item)
        key, colon, val = text.partition(":")
        if not colon or not key.strip() or (not val and not allow_empty_value):
            raise option_error(name, f"option {name!r} item {text!r} must be {what}, e.g. {example}")
        out.append(text)
    return tuple(out)


def _extra(name: str, value: Any) -> tuple[str, ...]:
    items = _pairs(name, value, what="'key:value'", example="extra={'batch': 'june'}", allow_empty_value=True)
    for item in items:
        if len(item) > EXTRA_MAX_CHARS:
            raise option_error(
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
            raise option_error(
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
    raise option_error(
        name, f"option {name!r} takes either true/false or a list of values, not both: got {list(items)!r}"
    )


def _summarize(name: str, value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if value == "v2":
        return "v2"
    raise option_error(name, f"option {name!r} must be true, false or 'v2', got {value!r}")


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
        raise option_error(
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
            noun = ITEM_NOUN.get(name, "terms" if name in DOCUMENTED_LIMITS else "items")
            who = "Deepgram accepts" if name in DOCUMENTED_LIMITS else "dgtools sends"
            raise option_error(
                name,
                f"option {name!r} has {len(result)} {noun}; {who} at most {spec.max_items} per request: "
                "keep the most important ones",
            )
    return result


def _check_together(data: Mapping[str, Any]) -> None:
    """Rules that involve more than one option."""
    encoding = data.get("encoding")
    if encoding in NEEDS_SAMPLE_RATE and "sample_rate" not in data:
        fixed = FIXED_SAMPLE_RATE.get(encoding)
        example = fixed if fixed is not None else 16000
        raise option_error(
            "encoding",
            f"option 'encoding'={encoding!r} describes raw, headerless audio and needs 'sample_rate' too "
            f"(e.g. sample_rate={example}); for audio in a container (wav, mp3, ogg, ...) leave both out",
        )
    fixed = FIXED_SAMPLE_RATE.get(encoding) if isinstance(encoding, str) else None
    if fixed is not None and data.get("sample_rate") != fixed:
        raise option_error(
            "sample_rate",
            f"option 'sample_rate' must be {fixed} with encoding={encoding!r}, got {data.get('sample_rate')!r}",
        )
    keyterms = data.get("keyterm", ())
    words = sum(len(term.split()) for term in keyterms)
    if words > KEYTERM_MAX_TOKENS:
        raise option_error(
            "keyterm",
            f"option 'keyterm' has {words} words in all, so more than {KEYTERM_MAX_TOKENS} tokens; "
            f"Deepgram accepts at most {KEYTERM_MAX_TOKENS} tokens across all keyterms per request: send fewer or shorter terms",
        )


def validated(options: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, value in options.items():
        spec = OPTIONS.get(name)
        if spec is None:
            raise unknown_option(name)
        if value is None:
            continue
        normal = _normalise(spec, value)
        if normal is not None:
            data[name] = normal
    _check_together(data)
    return {name: data[name] for name in sorted(data)}


def encode(value: Any) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int | float):
        return [_format_number(value)]
    if isinstance(value, tuple):
        return list(value)
    return [str(value)]


def mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
