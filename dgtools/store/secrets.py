"""The store never holds the API key: a guard that finds secrets in data before it is written."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..exceptions import ConfigError

__all__ = ["SecretGuard", "refusal"]


class SecretGuard:
    """Finds any of the secrets in data, including across chunk boundaries."""

    __slots__ = ("_needles", "_overlap")

    def __init__(self, secrets: Sequence[str]) -> None:
        needles: set[bytes] = set()
        for secret in secrets:
            needles.add(secret.encode("utf-8", "surrogatepass"))
            needles.add(json.dumps(secret)[1:-1].encode("ascii"))  # as JSON writes it (\uXXXX, \")
            needles.add(json.dumps(secret, ensure_ascii=False)[1:-1].encode("utf-8", "surrogatepass"))
        self._needles: tuple[bytes, ...] = tuple(sorted(needles))
        self._overlap = max((len(n) for n in self._needles), default=1) - 1

    def __bool__(self) -> bool:
        return bool(self._needles)

    def found(self, data: bytes | bytearray | memoryview, tail: bytes = b"") -> bool:
        """Whether ``tail + data`` holds a secret (``tail``: the end of the previous chunk)."""
        if not self._needles:
            return False
        buf = data if isinstance(data, (bytes, bytearray)) else memoryview(data).tobytes()
        head = tail + bytes(buf[: self._overlap]) if tail else b""
        return any(needle in buf or needle in head for needle in self._needles)

    def tail(self, previous: bytes, data: bytes | bytearray | memoryview) -> bytes:
        """The last bytes to carry into the next :meth:`found` check."""
        if self._overlap == 0:
            return b""
        buf = data if isinstance(data, (bytes, bytearray)) else memoryview(data).tobytes()
        return (previous + bytes(buf[-self._overlap :]))[-self._overlap :]


def refusal(what: str) -> ConfigError:
    return ConfigError(
        f"refusing to store {what}: it contains a value passed as Store(secrets=...) (e.g. the API key). "
        "The store never holds the key; remove it from the data (check headers, URLs and options)."
    )
