"""The store never holds the API key: a guard that finds secrets in data before it is written.

:class:`SecretGuard` keeps no secret.  For each secret it keeps, per form the secret can take in a
response (as given, JSON-escaped with ``\\uXXXX``, JSON-escaped keeping non-ASCII), only a keyed
hash (HMAC-SHA256 under a random key drawn for this guard), the form's length and its alphabet
(the classes of characters it uses: ``0-9``, ``a-f``, ``g-z``, ``A-F``, ``G-Z``, each ASCII
punctuation mark, space, control characters, non-ASCII bytes).  Neither ``repr``, ``pickle`` nor
anything else it holds shows the secret.

To find a secret in data, the guard looks for runs of the secret's alphabet at least as long as
the secret, and hashes every window of the secret's length inside them (a secret embedded in a
longer run, ``abcKEYdef``, is still found).  A Deepgram API key is 40 hex digits, and JSON answers
have few long runs of hex digits (a ``sha256``), so this is cheap: in data over 4 KB the runs are
found on a sample of every 4th byte (any run of 40 covers 10 samples in a row), classified with
NumPy (about the cost of one ``bytes.find`` over the data), then checked byte by byte where the
sample says so.  Inside a run the guard hashes windows of 32 hex digits (128 bits: a 32-digit
hash cannot be reversed either) at every 9th position (of any 9 positions in a row, one starts a
window inside a 40-digit occurrence), and checks a window that matches against the whole secret.

The hashes are as hard to reverse as the secret is to guess: a 40-hex-digit key (160 bits, and
128 behind each window hash) cannot be recovered from a pickled guard; a short or predictable
secret could be, by trying values.  Secrets shorter than :data:`MIN_SECRET` (16) characters are
ignored: a 1-character "key" would match in every answer, and one of a few characters cannot be
hidden behind a hash at all.  :class:`~dgtools.store.Store` warns when given one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import string
from collections.abc import Iterator, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..exceptions import ConfigError

__all__ = ["MIN_SECRET", "SecretGuard", "refusal"]

#: Shortest secret the guard checks (in characters); shorter ones are ignored.
MIN_SECRET: Final = 16
#: Data up to this size is checked byte by byte (sampling would cost more than it saves).
_SMALL: Final = 4096
#: Little-endian words of 1, 2, 4 and 8 bytes: their low byte samples every 1st, 2nd, 4th, 8th byte.
_WORDS: Final[dict[int, np.dtype[Any]]] = {
    1: np.dtype("u1"),
    2: np.dtype("<u2"),
    4: np.dtype("<u4"),
    8: np.dtype("<u8"),
}
#: Fewest bits of entropy (at most) behind one window hash: a 32-hex-digit window has 128.
_WINDOW_BITS: Final = 128
#: Character classes: a secret's alphabet is the union of the classes of its bytes.
_CLASSES: Final[tuple[bytes, ...]] = (
    b"0123456789",
    b"abcdef",
    b"ghijklmnopqrstuvwxyz",
    b"ABCDEF",
    b"GHIJKLMNOPQRSTUVWXYZ",
    b" ",
    bytes(range(32)) + b"\x7f",
    bytes(range(128, 256)),
    *(c.encode() for c in string.punctuation),
)
_CLASS_OF: Final = {b: i for i, cls in enumerate(_CLASSES) for b in cls}


class _Length:
    """The hashes of one form length within one alphabet: whole secrets, and their windows."""

    __slots__ = ("length", "step", "whole", "width", "windows")

    def __init__(self, length: int, width: int) -> None:
        self.length, self.width = length, width
        self.step = length - width + 1  # every window start at this stride lands inside each occurrence
        self.whole: set[bytes] = set()
        self.windows: dict[bytes, tuple[int, ...]] = {}  # window hash -> its offsets in a secret


class _Alphabet:
    """The forms of secrets whose characters fall in one alphabet, and how to find runs of it."""

    __slots__ = ("classes", "lengths", "ranges", "shortest", "stride", "table")

    def __init__(self, classes: frozenset[int]) -> None:
        self.classes = classes
        table = bytearray(256)
        for i in classes:
            for b in _CLASSES[i]:
                table[b] = 1
        self.table = bytes(table)
        # the alphabet as ranges of byte values (first, last - first), for NumPy
        self.ranges: list[tuple[int, int]] = []
        for b in range(256):
            if table[b] and self.ranges and sum(self.ranges[-1]) == b - 1:
                self.ranges[-1] = (self.ranges[-1][0], self.ranges[-1][1] + 1)
            elif table[b]:
                self.ranges.append((b, 0))
        self.lengths: dict[int, _Length] = {}
        self.shortest = 0
        self.stride = 1

    def finish(self) -> None:
        self.shortest = min(self.lengths)
        # Sample every `stride`-th byte (1, 2, 4 or 8): a run of `shortest` covers at least
        # shortest // stride samples in a row, ten or more, which keeps false leads rare in JSON.
        self.stride = 1
        while self.stride < 8 and self.shortest // (2 * self.stride) >= 10:
            self.stride *= 2

    def marks(self, sample: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
        """Which bytes of ``sample`` are in the alphabet."""
        out: npt.NDArray[np.bool_] | None = None
        for first, span in self.ranges:
            hit = np.subtract(sample, first, dtype=np.uint8) <= span  # wraps below `first`
            out = hit if out is None else np.logical_or(out, hit, out=out)
        assert out is not None
        return out


class SecretGuard:
    """Finds any of the secrets in data, including across chunk boundaries, without keeping them.

    Parameters
    ----------
    secrets : sequence of str
        Values to find, such as the API key.  Empty ones, and ones shorter than
        :data:`MIN_SECRET` characters, are ignored (:attr:`ignored` counts the latter).

    Examples
    --------
    >>> key = "3f2a9c0b7d1e4f5a6b8c9d0e1f2a3b4c5d6e7f80"
    >>> guard = SecretGuard([key])
    >>> guard.found(b'{"url": "https://x/?token=' + key.encode() + b'&a=1"}'), guard.found(b'{"a": 1}')
    (True, False)
    >>> key in repr(guard), SecretGuard(["x"]).ignored
    (False, 1)
    """

    __slots__ = ("_alphabets", "_inner", "_mac_key", "_outer", "_overlap", "ignored")

    def __init__(self, secrets: Sequence[str]) -> None:
        self._mac_key = os.urandom(32)
        self._setup_hashes()
        self.ignored = sum(1 for s in secrets if s and len(s) < MIN_SECRET)
        forms: set[bytes] = set()
        for secret in secrets:
            if len(secret) < MIN_SECRET:
                continue
            forms.add(secret.encode("utf-8", "surrogatepass"))
            forms.add(json.dumps(secret)[1:-1].encode("ascii"))  # as JSON writes it (\uXXXX, \")
            forms.add(json.dumps(secret, ensure_ascii=False)[1:-1].encode("utf-8", "surrogatepass"))
        alphabets: dict[frozenset[int], _Alphabet] = {}
        for form in sorted(forms):
            classes = frozenset(_CLASS_OF[b] for b in form)
            alpha = alphabets.setdefault(classes, _Alphabet(classes))
            size = sum(len(_CLASSES[i]) for i in classes)
            width = min(len(form), math.ceil(_WINDOW_BITS / math.log2(max(size, 2))))
            slot = alpha.lengths.setdefault(len(form), _Length(len(form), width))
            slot.whole.add(self._mac(form))
            for offset in range(slot.step):
                digest = self._mac(form[offset : offset + slot.width])
                slot.windows[digest] = (*slot.windows.get(digest, ()), offset)
        for alpha in alphabets.values():
            alpha.finish()
        self._alphabets: tuple[_Alphabet, ...] = tuple(alphabets.values())
        self._overlap = max((n for a in self._alphabets for n in a.lengths), default=1) - 1

    # -- keyed hashing (HMAC-SHA256; the inner and outer states are computed once)

    def _setup_hashes(self) -> None:
        block = self._mac_key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def _mac(self, data: bytes | bytearray) -> bytes:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def __getstate__(self) -> dict[str, Any]:
        return {"mac_key": self._mac_key, "alphabets": self._alphabets, "ignored": self.ignored}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._mac_key, self._alphabets, self.ignored = state["mac_key"], state["alphabets"], state["ignored"]
        self._overlap = max((n for a in self._alphabets for n in a.lengths), default=1) - 1
        self._setup_hashes()

    def __repr__(self) -> str:
        count = sum(len(slot.whole) for a in self._alphabets for slot in a.lengths.values())
        return f"<SecretGuard forms={count} ignored={self.ignored}>"

    def __bool__(self) -> bool:
        return bool(self._alphabets)

    # -- finding

    def found(self, data: bytes | bytearray | memoryview, tail: bytes = b"") -> bool:
        """Whether ``tail + data`` holds a secret (``tail``: the end of the previous chunk)."""
        if not self._alphabets:
            return False
        buf = data if isinstance(data, (bytes, bytearray)) else memoryview(data).tobytes()
        if tail and self._scan(tail + bytes(buf[: self._overlap])):
            return True
        return self._scan(buf)

    def found_in_file(self, path: str | os.PathLike[str], chunk: int = 1 << 20) -> bool:
        """Whether the file at ``path`` holds a secret; read in chunks, checked across their boundaries."""
        if not self._alphabets:
            return False
        carry = b""
        with open(path, "rb", buffering=0) as f:
            while data := f.read(chunk):
                if self.found(data, carry):
                    return True
                carry = self.tail(carry, data)
        return False

    def tail(self, previous: bytes, data: bytes | bytearray | memoryview) -> bytes:
        """The last bytes to carry into the next :meth:`found` check."""
        if self._overlap == 0:
            return b""
        buf = data if isinstance(data, (bytes, bytearray)) else memoryview(data).tobytes()
        return (previous + bytes(buf[-self._overlap :]))[-self._overlap :]

    def _scan(self, buf: bytes | bytearray) -> bool:
        n = len(buf)
        for alpha in self._alphabets:
            if n < alpha.shortest:
                continue
            if n <= _SMALL:
                if self._runs(alpha, buf, 0, n):
                    return True
                continue
            s = alpha.stride
            k = alpha.shortest // s
            # every s-th byte: the low byte of each little-endian word of s bytes (no Python loop)
            words = np.frombuffer(buf, dtype=_WORDS[s], count=n // s)
            sample = words.astype(np.uint8) if s > 1 else words
            marks = alpha.marks(sample)
            for i, j in _true_runs(marks, k):
                # samples i-1 and j are outside the alphabet: the runs lie between (or reach the end)
                lo = (i - 1) * s + 1 if i else 0
                hi = n if j >= len(marks) else j * s
                if self._runs(alpha, buf, lo, hi):
                    return True
            # bytes after the last whole word are not sampled: a run reaching into them that the
            # sample missed is shorter than shortest + 2 * s, all in the last bytes
            if s > 1 and n % s and self._runs(alpha, buf, max(0, n - alpha.shortest - 2 * s), n):
                return True
        return False

    def _runs(self, alpha: _Alphabet, buf: bytes | bytearray, lo: int, hi: int) -> bool:
        """Whether a run of ``alpha`` in ``buf[lo:hi]`` holds one of its secrets."""
        marks = buf[lo:hi].translate(alpha.table)
        return any(self._in_run(alpha, buf, lo + i, lo + j) for i, j in _long_runs(marks, alpha.shortest))

    def _in_run(self, alpha: _Alphabet, buf: bytes | bytearray, a: int, b: int) -> bool:
        """Whether the run ``buf[a:b]`` (all in ``alpha``) holds one of its secrets."""
        mac = self._mac
        for slot in alpha.lengths.values():
            if b - a < slot.length:
                continue
            width, windows = slot.width, slot.windows
            # An occurrence at q holds the windows at q .. q + step - 1: one of every `step` positions
            # from a + step - 1 on lies there (a + step - 1 covers q = a).
            for p in range(a + slot.step - 1, b - width + 1, slot.step):
                offsets = windows.get(mac(buf[p : p + width]))
                if offsets is None:
                    continue
                for offset in offsets:
                    q = p - offset
                    if a <= q and q + slot.length <= b and mac(buf[q : q + slot.length]) in slot.whole:
                        return True
        return False


def _true_runs(marks: npt.NDArray[np.bool_], k: int) -> Iterator[tuple[int, int]]:
    """The maximal runs of True at least ``k`` long in ``marks``, as (start, end).

    ``all(marks[i:i+width])`` for every i is built by doubling: ``k`` = 10 takes four ANDs.
    """
    acc: npt.NDArray[np.bool_] | None = None
    width, power, span, left = 0, marks, 1, k
    while left:
        if left & 1:
            if acc is None:
                acc, width = power, span
            else:
                size = len(acc) - span
                acc, width = acc[:size] & power[width : width + size], width + span
        left >>= 1
        if left:
            size = len(power) - span
            power, span = power[:size] & power[span : span + size], 2 * span
    assert acc is not None
    starts = np.flatnonzero(acc)
    if not len(starts):
        return
    breaks = np.flatnonzero(np.diff(starts) > 1)
    firsts = [int(starts[0]), *(int(x) for x in starts[breaks + 1])]
    lasts = [*(int(x) for x in starts[breaks]), int(starts[-1])]
    for first, last in zip(firsts, lasts, strict=True):
        yield first, last + k


def _long_runs(marks: bytes | bytearray, k: int) -> Iterator[tuple[int, int]]:
    """The maximal runs of 1s at least ``k`` long in ``marks`` (bytes 0 and 1), last first, as (start, end).

    ``rfind`` is used (it is about twice as fast as ``find`` on such data): the rightmost match
    of ``k`` ones ends its run, and the run starts after the last 0 before it.
    """
    need, end = b"\x01" * k, len(marks)
    while (j := marks.rfind(need, 0, end)) >= 0:
        start = marks.rfind(b"\x00", 0, j) + 1
        yield start, j + k
        end = start


def refusal(what: str) -> ConfigError:
    return ConfigError(
        f"refusing to store {what}: it contains a value passed as Store(secrets=...) (e.g. the API key). "
        "The store never holds the key; remove it from the data (check headers, URLs and options)."
    )
