"""The query options of Flux, WebSocket ``/v2/listen``: :func:`flux_query` and :func:`parse_flux_query`.

Flux is Deepgram's conversational model (``flux-general-en``, ``flux-general-multi``): a live
stream whose messages are turns (``TurnInfo``), not ``Results``.  Its handshake takes other
options than ``/v1/listen``; they are listed in :data:`FLUX_OPTIONS` from Deepgram's AsyncAPI
spec, with the ranges of Deepgram's Flux documentation where the spec says "any type"
(``eot_threshold`` 0.5 to 0.9, ``eager_eot_threshold`` 0.3 to 0.9, ``eot_timeout_ms`` 500 to
10000).  :func:`flux_query` checks keyword arguments (the client); :func:`parse_flux_query` checks
a handshake's query as a server receives it.  Errors are :class:`~dgtools.exceptions.ConfigError`
with ``.option`` set.

Examples
--------
>>> flux_query(model="flux-general-en", encoding="linear16", sample_rate=16000, eot_threshold=0.8)
[('model', 'flux-general-en'), ('encoding', 'linear16'), ('sample_rate', '16000'), ('eot_threshold', '0.8')]
>>> flux_query(model="flux-general-en", eot_treshold=0.8)
Traceback (most recent call last):
...
dgtools.exceptions.ConfigError: eot_treshold is not an option of Flux (/v2/listen); did you mean eot_threshold? Flux takes: model, encoding, sample_rate, eager_eot_threshold, eot_threshold, eot_timeout_ms, keyterm, language_hint, profanity_filter, numerals, redact, mip_opt_out, tag
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..exceptions import ConfigError
from ._values import option_error

__all__ = ["FLUX_MODELS", "FLUX_OPTIONS", "FluxOption", "flux_query", "is_flux", "parse_flux_query"]

#: Flux models (``/v2/listen``), from the AsyncAPI spec.
FLUX_MODELS: Final = ("flux-general-en", "flux-general-multi")


@dataclass(frozen=True)
class FluxOption:
    """One Flux option: its kind (``"bool"``, ``"int"``, ``"float"``, ``"str"``), list-ness and limits."""

    kind: str
    many: bool = False
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None


#: Every query option of ``/v2/listen``, in the spec's order.
FLUX_OPTIONS: Final[dict[str, FluxOption]] = {
    "model": FluxOption("str", choices=FLUX_MODELS),
    "encoding": FluxOption("str", choices=("linear16", "linear32", "mulaw", "alaw", "opus", "ogg-opus")),
    "sample_rate": FluxOption("int", low=1, high=192_000),
    "eager_eot_threshold": FluxOption("float", low=0.3, high=0.9),
    "eot_threshold": FluxOption("float", low=0.5, high=0.9),
    "eot_timeout_ms": FluxOption("int", low=500, high=10_000),
    "keyterm": FluxOption("str", many=True),
    "language_hint": FluxOption("str", many=True),
    "profanity_filter": FluxOption("bool"),
    "numerals": FluxOption("bool"),
    "redact": FluxOption("str", many=True, choices=("numbers", "aggressive_numbers")),
    "mip_opt_out": FluxOption("bool"),
    "tag": FluxOption("str", many=True),
}


def is_flux(model: object) -> bool:
    """Whether ``model`` names a Flux model (``flux-...``), which streams to ``/v2/listen``."""
    return isinstance(model, str) and model.startswith("flux-")


def _error(name: str, message: str) -> ConfigError:
    return option_error(name, f"{name}={message}")


def _one(name: str, spec: FluxOption, value: Any) -> str:
    """One value of option ``name`` as the query carries it, checked."""
    if spec.kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower()
        if not isinstance(value, bool):
            raise _error(name, f"{value!r}: expected true or false")
        return "true" if value else "false"
    if spec.kind in ("int", "float"):
        try:
            number = float(value) if not isinstance(value, bool) else float("nan")
        except (TypeError, ValueError):
            number = float("nan")
        if number != number or (spec.kind == "int" and not number.is_integer()):
            raise _error(
                name, f"{value!r}: expected {'a whole number' if spec.kind == 'int' else 'a number'}"
            )
        if (spec.low is not None and number < spec.low) or (spec.high is not None and number > spec.high):
            raise _error(name, f"{value!r}: Flux takes {spec.low:g} to {spec.high:g}")
        return str(int(number)) if spec.kind == "int" else f"{number:g}"
    text = str(value)
    if not text:
        raise _error(name, "'': give a value (empty values are rejected)")
    if spec.choices and text not in spec.choices:
        raise _error(name, f"{text!r}: Flux takes {', '.join(spec.choices)}")
    return text


def _check_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    names = [k for k, _ in pairs]
    model = next((v for k, v in pairs if k == "model"), None)
    if model is None:
        raise option_error(
            "model", "model is missing: Flux needs model=flux-general-en or model=flux-general-multi"
        )
    if "language_hint" in names and model != "flux-general-multi":
        raise option_error(
            "language_hint", f"language_hint is only for model=flux-general-multi, not {model}"
        )
    if "sample_rate" in names and "encoding" not in names:
        raise option_error(
            "sample_rate", "sample_rate needs encoding= (raw audio); for a container, leave both out"
        )
    for name in names:
        if names.count(name) > 1 and not FLUX_OPTIONS[name].many:
            raise option_error(name, f"{name} is given more than once")
    return pairs


def _unknown(name: str) -> ConfigError:
    close = difflib.get_close_matches(name, FLUX_OPTIONS, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return option_error(
        name, f"{name} is not an option of Flux (/v2/listen){hint} Flux takes: {', '.join(FLUX_OPTIONS)}"
    )


def flux_query(**options: Any) -> list[tuple[str, str]]:
    """The ``/v2/listen`` handshake query of keyword options, checked (lists become repeated keys).

    Raises
    ------
    ConfigError
        An option Flux does not take (with a did-you-mean), a bad value, or no ``model``.
    """
    pairs: list[tuple[str, str]] = []
    for name, value in options.items():
        if value is None:
            continue
        spec = FLUX_OPTIONS.get(name)
        if spec is None:
            raise _unknown(name)
        values = value if spec.many and isinstance(value, list | tuple) else [value]
        pairs.extend((name, _one(name, spec, v)) for v in values)
    return _check_pairs(pairs)


def parse_flux_query(params: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """A handshake's query (name, value pairs as received), checked as :func:`flux_query` does."""
    pairs = []
    for name, value in params:
        spec = FLUX_OPTIONS.get(name)
        if spec is None:
            raise _unknown(name)
        pairs.append((name, _one(name, spec, value)))
    return _check_pairs(pairs)
