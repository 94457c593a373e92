"""Validated ``/v1/listen`` options: :class:`ListenOptions`, the query a server receives, and concurrency.

:class:`ListenOptions` is an immutable, hashable mapping of validated options.  It encodes them
for httpx (:meth:`ListenOptions.query_params`: booleans as ``true``/``false``, list options as
repeated parameters) and as one stable canonical query string (:meth:`ListenOptions.canonical`)
whose hash (:meth:`ListenOptions.digest`) is part of the raw-store key.
"""

from __future__ import annotations

import collections.abc
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote, urlencode

from ._values import encode, mask_url, option_error, unknown_option, validated
from .spec import OPTIONS

__all__ = ["ListenOptions", "default_concurrency", "validate_query"]

#: Concurrency limits for pre-recorded requests (Pay as You Go), from
#: https://developers.deepgram.com/reference/api-rate-limits: 50 concurrent requests (Speaker Diarization
#: also 50 in North America; 25 in the EU and Australia regions per the page's regional tables); 10 with
#: summarization, topic detection, intent recognition or sentiment analysis; 5 with entity detection.
#: "If multiple services are used in one API call ..., the lower of the rate limits is applied."
_CONCURRENCY_DEFAULT: Final = 50
_CONCURRENCY_DIARIZE_REGIONAL: Final = 25
_CONCURRENCY_INTELLIGENCE: Final = 10
_CONCURRENCY_ENTITIES: Final = 5


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
        data = validated(merged)
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
                value = mask_url(value)
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
        return [(name, text) for name, value in self._data.items() for text in encode(value)]

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
        pairs = [(name, mask_url(text) if name == "callback" else text) for name, text in self.query_params()]
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
            raise unknown_option(name)
        grouped.setdefault(name, []).append(value)
    options: dict[str, Any] = {}
    for name, values in grouped.items():
        spec = OPTIONS[name]
        if spec.repeatable:
            options[name] = values
        elif len(values) > 1:
            raise option_error(
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
