"""The engine interface: what answers a ``/v1/listen`` request without Deepgram.

An engine is any object with one coroutine method::

    async def transcribe(self, *, audio: bytes | None, url: str | None,
                         options: ListenOptions | list[tuple[str, str]],
                         request_id: str, sha256: str | None) -> dict

It returns a response in Deepgram's ``/v1/listen`` shape (``metadata`` and
``results``) or raises :class:`~dgtools.exceptions.EngineError` for a
Deepgram-shaped error (``{"err_code", "err_msg", "request_id"}``).  ``audio``
is the request body (``None`` for a ``{"url": ...}`` request, then ``url`` is
set and ``sha256`` is ``None``).  The local server (:mod:`dgtools.server`)
passes ``options`` as the validated query, a
:class:`dgtools.options.ListenOptions` (a read-only mapping); engines called
directly may get ``(name, value)`` pairs instead.  :func:`option_pairs` turns
either into wire-format pairs (``"true"``/``"false"``, list options repeated)
and :class:`QueryPairs` reads them.

The engines, each in its own module and built by name with :func:`make_engine`:

* ``"synthetic"``: :class:`dgtools.engines.synthetic.SyntheticEngine`, a
  deterministic transcript of the audio's length (no recognition).
* ``"replay"``: :class:`dgtools.engines.replay.ReplayEngine`, recorded
  responses matched by the audio's sha256.
* ``"local"``: :class:`dgtools.engines.local.LocalEngine`, pocketsphinx.
* ``"whisper"``: :class:`dgtools.engines.whisper.WhisperEngine`, faster-whisper (the ``whisper``
  extra; ``model=`` a name or a model directory).

Extension point: a new engine is a class with the ``transcribe`` coroutine
above, registered in :data:`ENGINES` so that ``make_engine(name, ...)`` and
``dgtools serve --engine NAME`` can build it.  This module is pure Python
and imports no engine: the registry holds import paths.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from ..exceptions import ConfigError, EngineError

if TYPE_CHECKING:
    from ..options import ListenOptions

#: What an engine's ``options`` may be.
Options: TypeAlias = "ListenOptions | Sequence[tuple[str, str]]"

__all__ = [
    "ENGINES",
    "Engine",
    "EngineError",
    "Options",
    "QueryPairs",
    "make_engine",
    "now_created",
    "option_pairs",
]


# --------------------------------------------------------------------------- the interface


@runtime_checkable
class Engine(Protocol):
    """What the local server calls to answer ``POST /v1/listen``.

    Examples
    --------
    >>> isinstance(make_engine("synthetic"), Engine)
    True
    """

    async def transcribe(
        self,
        *,
        audio: bytes | None,
        url: str | None,
        options: Options,
        request_id: str,
        sha256: str | None,
    ) -> dict[str, Any]:
        """Return a ``/v1/listen`` response dict or raise :class:`EngineError`."""
        ...


#: Engine names for :func:`make_engine` and ``dgtools serve --engine``: ``"module:Class"`` paths,
#: imported only when used.  A new engine adds its line here.
ENGINES: dict[str, str] = {
    "synthetic": "dgtools.engines.synthetic:SyntheticEngine",
    "replay": "dgtools.engines.replay:ReplayEngine",
    "local": "dgtools.engines.local:LocalEngine",
    "whisper": "dgtools.engines.whisper:WhisperEngine",
}


def make_engine(name: str, **kwargs: Any) -> Engine:
    """Build an engine by name (``"synthetic"``, ``"replay"``, ``"local"``).

    Parameters
    ----------
    name
        A key of :data:`ENGINES`.
    **kwargs
        Passed to the engine class, e.g. ``folder=`` for ``"replay"``,
        ``seed=`` and ``response_kb=`` for ``"synthetic"``.

    Returns
    -------
    Engine

    Raises
    ------
    ConfigError
        Unknown name, an engine whose module is not available, or wrong arguments.

    Examples
    --------
    >>> engine = make_engine("synthetic", seed=1)
    >>> type(engine).__name__
    'SyntheticEngine'
    """
    target = ENGINES.get(name)
    if target is None:
        raise ConfigError(f"unknown engine {name!r}; choose one of: {', '.join(sorted(ENGINES))}")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the {name!r} engine is not available: {exc}. Use engine='synthetic' or engine='replay'."
        ) from exc
    cls = getattr(module, attr)
    try:
        engine: Engine = cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"invalid arguments for the {name!r} engine: {exc}") from exc
    return engine


# --------------------------------------------------------------------------- options


def option_pairs(options: Any) -> list[tuple[str, str]]:
    """The query options as ``(name, value)`` string pairs.

    Accepts a sequence of pairs (what the server passes), a mapping (list
    values are repeated; booleans become ``"true"``/``"false"``), or an object
    with a ``to_params()``/``to_query()``/``params()`` method returning pairs.

    Examples
    --------
    >>> option_pairs({"diarize": True, "search": ["a", "b"]})
    [('diarize', 'true'), ('search', 'a'), ('search', 'b')]
    """
    if options is None:
        return []
    if isinstance(options, Mapping):
        out: list[tuple[str, str]] = []
        for key, value in options.items():
            values = value if isinstance(value, list | tuple) else [value]
            out.extend((str(key), _wire_value(v)) for v in values if v is not None)
        return out
    if isinstance(options, list | tuple):
        return [(str(k), _wire_value(v)) for k, v in options]
    for method in ("to_params", "to_query", "params"):
        fn = getattr(options, method, None)
        if callable(fn):
            return option_pairs(fn())
    raise TypeError(f"cannot read query options from {type(options).__name__}")


def _wire_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class QueryPairs:
    """Read access to query options as ``(name, value)`` string pairs (the last value wins for scalars).

    Parameters
    ----------
    pairs
        Pairs as :func:`option_pairs` gives them.

    Examples
    --------
    >>> q = QueryPairs(option_pairs({"diarize": True, "tag": ["a", "b"], "utt_split": 1.5}))
    >>> q.flag("diarize"), q.getall("tag"), q.number("utt_split", 0.8), q.get("model", "base")
    (True, ['a', 'b'], 1.5, 'base')
    """

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs
        self._last = dict(pairs)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The option's last value, or ``default``."""
        return self._last.get(name, default)

    def getall(self, name: str) -> list[str]:
        """Every value of a repeated option, in order."""
        return [v for k, v in self.pairs if k == name]

    def flag(self, name: str) -> bool:
        """Whether a boolean option is on (``true``, ``1``, ``yes``)."""
        return self._last.get(name, "false").strip().lower() in ("true", "1", "yes")

    def number(self, name: str, default: float) -> float:
        """A numeric option, or ``default`` when absent or not a number."""
        try:
            return float(self._last[name])
        except (KeyError, ValueError):
            return default

    def names(self) -> list[str]:
        """The option names, each once, in first-seen order."""
        return list(dict.fromkeys(k for k, _ in self.pairs))


# --------------------------------------------------------------------------- shared helpers


def now_created() -> str:
    """The current UTC time as Deepgram writes ``metadata.created`` (milliseconds, ``Z``).

    Examples
    --------
    >>> created = now_created()
    >>> len(created), created[-1]
    (24, 'Z')
    """
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
