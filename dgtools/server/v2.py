"""``POST /v2/listen``: the old Deepgram API (``https://brain.deepgram.com/v2``) on the local server.

The old API took HTTP Basic auth (``Authorization: Basic base64(username:password)``) and answered
a smaller response than today's ``/v1/listen``: ``metadata`` with ``request_id``,
``transaction_key``, ``sha256``, ``created``, ``duration`` and ``channels``; ``results.channels[]``
with ``search`` and ``alternatives[]`` of ``transcript``, ``confidence`` and ``words[]`` (``word``,
``start``, ``end``, ``confidence``, and ``speaker`` with ``diarize=true``); ``results.utterances``
with ``utterances=true``.  That is the shape of Deepgram's OpenAPI 3.0.3 description of the API
(servers ``https://brain.deepgram.com/v2``, security ``Basic``), which ``tests/data/v2/README.md``
names.

The route is the ``/v1/listen`` endpoint of :mod:`dgtools.server.app` with two changes: the
credential checked is a username/password pair (:class:`BasicCredentials`, keeping sha256
digests only), and a 200 answer is the engine's v1 response converted by :func:`to_v2`.  Every
other answer (401, 413, 429, 400, 402, 5xx, dropped connections) is the same as ``/v1/listen``'s.
The WebSocket on ``/v2/listen`` is Flux (:mod:`dgtools.server.flux`): Starlette routes the HTTP
``POST`` here and the WebSocket handshake there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from ..exceptions import ConfigError
from .state import _Credentials

__all__ = ["BasicCredentials", "basic_pairs", "to_v2"]

#: The ``metadata`` fields of the old API's response, in its order.
V2_METADATA = ("request_id", "transaction_key", "sha256", "created", "duration", "channels")
#: The fields of a word of the old API (``speaker`` only with ``diarize=true``).
V2_WORD = ("word", "start", "end", "confidence", "speaker")
#: The fields of an utterance of the old API (``utterances=true``).
V2_UTTERANCE = ("start", "end", "confidence", "channel", "transcript", "words", "speaker", "id")
_HIT = ("confidence", "start", "end", "snippet")


def basic_pairs(pairs: Collection[tuple[str, str]] | Mapping[str, str]) -> list[tuple[str, str]]:
    """The ``(username, password)`` pairs of ``basic_auth=``, checked.

    Raises
    ------
    ConfigError
        A pair that is not two non-empty strings, or a username with ``:`` (HTTP Basic cannot carry it).
        The message never shows the password.

    Examples
    --------
    >>> basic_pairs({("ada", "correct horse battery staple")})
    [('ada', 'correct horse battery staple')]
    >>> basic_pairs({"ada": "correct horse battery staple"}) == basic_pairs([("ada", "correct horse battery staple")])
    True
    """
    items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
    out: list[tuple[str, str]] = []
    for i, pair in enumerate(items):
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(x, str) and x for x in pair)):
            raise ConfigError(
                f"basic_auth entry {i} must be a (username, password) pair of non-empty strings"
            )
        if ":" in pair[0]:
            raise ConfigError(
                f"basic_auth username {pair[0]!r} contains ':', which HTTP Basic auth cannot carry"
            )
        out.append(pair)
    return out


class BasicCredentials(_Credentials):
    """What ``Authorization: Basic`` headers ``POST /v2/listen`` accepts; keeps sha256 digests only.

    With no pairs, any well-formed Basic credential (a non-empty username and password) is
    accepted; otherwise only a configured pair.  Token and Bearer are refused: the old API had
    neither.

    Examples
    --------
    >>> creds = BasicCredentials([("ada", "correct horse battery staple")])
    >>> good = b"Basic " + base64.b64encode(b"ada:correct horse battery staple")
    >>> creds.allow(good), creds.allow(b"Basic " + base64.b64encode(b"ada:wrong")), creds.allow(b"Token abc")
    (True, False, False)
    """

    def __init__(self, pairs: Collection[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        super().__init__((), ())
        self.pairs = frozenset(hashlib.sha256(f"{u}:{p}".encode()).digest() for u, p in basic_pairs(pairs))
        self.required = bool(self.pairs)

    def allow(self, header: bytes) -> bool:
        scheme, _, credential = header.strip().partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            decoded = base64.b64decode(credential.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        username, colon, password = decoded.partition(b":")
        if not (colon and username and password):
            return False
        if not self.required:
            return True
        return hashlib.sha256(decoded).digest() in self.pairs


def to_v2(response: Mapping[str, Any]) -> dict[str, Any]:
    """The old v2 API's response for a ``/v1/listen`` response: its fields only, in its order.

    ``metadata`` keeps ``request_id``, ``sha256``, ``created``, ``duration`` and ``channels``,
    with an opaque ``transaction_key`` (a digest of the request_id, where v1 says
    ``"deprecated"``); channels keep ``search`` and their alternatives' ``transcript``,
    ``confidence`` and ``words`` (``word``, ``start``, ``end``, ``confidence``, ``speaker``);
    ``results.utterances`` is kept when present.  Everything newer (``models``, ``model_info``,
    ``punctuated_word``, ``paragraphs``, summaries, topics ...) is left out.

    Examples
    --------
    >>> v1 = {"metadata": {"request_id": "r1", "transaction_key": "deprecated", "duration": 1.0,
    ...                    "channels": 1, "models": ["m"]},
    ...       "results": {"channels": [{"alternatives": [{"transcript": "Hi.", "confidence": 0.9,
    ...           "words": [{"word": "hi", "punctuated_word": "Hi.", "start": 0.1, "end": 0.4,
    ...                      "confidence": 0.9}]}]}]}}
    >>> out = to_v2(v1)
    >>> sorted(out["metadata"]), out["results"]["channels"][0]["alternatives"][0]["words"]
    (['channels', 'duration', 'request_id', 'transaction_key'], [{'word': 'hi', 'start': 0.1, 'end': 0.4, 'confidence': 0.9}])
    """
    meta = response.get("metadata") or {}
    out_meta: dict[str, Any] = {}
    for key in V2_METADATA:
        if key == "transaction_key":
            out_meta[key] = _transaction_key(str(meta.get("request_id") or ""))
        elif key in meta:
            out_meta[key] = meta[key]
    results = response.get("results") or {}
    channels = []
    for channel in results.get("channels") or []:
        out_channel: dict[str, Any] = {}
        if channel.get("search") is not None:
            out_channel["search"] = [
                {"query": s.get("query"), "hits": [_pick(h, _HIT) for h in s.get("hits") or []]}
                for s in channel["search"]
            ]
        out_channel["alternatives"] = [
            {
                "transcript": a.get("transcript") or "",
                "confidence": a.get("confidence", 0.0),
                "words": [_pick(w, V2_WORD) for w in a.get("words") or []],
            }
            for a in channel.get("alternatives") or []
        ]
        channels.append(out_channel)
    out_results: dict[str, Any] = {"channels": channels}
    if results.get("utterances") is not None:
        out_results["utterances"] = [
            {**_pick(u, V2_UTTERANCE), "words": [_pick(w, V2_WORD) for w in u.get("words") or []]}
            for u in results["utterances"]
        ]
    return {"metadata": out_meta, "results": out_results}


def _pick(obj: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: obj[k] for k in keys if k in obj and obj[k] is not None}


def _transaction_key(request_id: str) -> str:
    """An opaque blob, as the old API's ``transaction_key`` was (deterministic per request)."""
    return base64.b64encode(hashlib.sha256(f"dgtools-v2:{request_id}".encode()).digest() * 2).decode()
