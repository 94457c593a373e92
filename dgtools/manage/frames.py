"""Manage API answers as typed DataFrames: pure functions from JSON dicts, a fixed column order, Arrow dtypes.

Every column is Arrow-backed (``pd.ArrowDtype``): strings, UTC timestamps, lists of strings, and
money as ``decimal128(38, 12)`` (:data:`MONEY`), so that sums of costs are exact.  An empty answer
gives 0 rows with the full schema.  Unknown fields are ignored; missing ones are null.

Examples
--------
>>> from decimal import Decimal
>>> df = balances_frame({"balances": [{"balance_id": "b1", "amount": Decimal("199.5"), "units": "usd"}]})
>>> df["amount"].iloc[0], str(df["amount"].dtype)
(Decimal('199.500000000000'), 'decimal128(38, 12)[pyarrow]')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from ..exceptions import ResponseFormatError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "BALANCE_COLUMNS",
    "KEY_COLUMNS",
    "MONEY_SCALE",
    "PROJECT_COLUMNS",
    "REQUEST_COLUMNS",
    "USAGE_COLUMNS",
    "balances_frame",
    "keys_frame",
    "money",
    "projects_frame",
    "requests_frame",
    "usage_frame",
]

#: Decimal places of money columns (``decimal128(38, MONEY_SCALE)``).
MONEY_SCALE = 12
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)

PROJECT_COLUMNS = ("project_id", "name")
KEY_COLUMNS = ("api_key_id", "comment", "scopes", "tags", "created", "expiration_date", "member_id", "email")
REQUEST_COLUMNS = (
    "request_id",
    "created",
    "path",
    "endpoint",
    "api_key_id",
    "code",
    "duration",
    "characters",
    "usd",
    "models",
    "tags",
    "deployment",
    "project_uuid",
)
USAGE_COLUMNS = ("start", "end", "hours", "total_hours", "requests", "tts_characters")
BALANCE_COLUMNS = ("balance_id", "amount", "units", "purchase_order_id")


def _types() -> dict[str, pa.DataType]:
    import pyarrow as pa

    return {
        "string": pa.string(),
        "time": pa.timestamp("us", tz="UTC"),
        "strings": pa.list_(pa.string()),
        "money": pa.decimal128(38, MONEY_SCALE),
        "float": pa.float64(),
        "int": pa.int64(),
        "date": pa.date32(),
    }


_SCHEMAS: dict[str, dict[str, str]] = {
    "projects": {"project_id": "string", "name": "string"},
    "keys": {"api_key_id": "string", "comment": "string", "scopes": "strings", "tags": "strings",
             "created": "time", "expiration_date": "time", "member_id": "string", "email": "string"},
    "requests": {"request_id": "string", "created": "time", "path": "string", "endpoint": "string",
                 "api_key_id": "string", "code": "int", "duration": "float", "characters": "int",
                 "usd": "money", "models": "strings", "tags": "strings", "deployment": "string",
                 "project_uuid": "string"},
    "usage": {"start": "date", "end": "date", "hours": "float", "total_hours": "float", "requests": "int",
              "tts_characters": "int"},
    "balances": {"balance_id": "string", "amount": "money", "units": "string", "purchase_order_id": "string"},
}  # fmt: skip


def money(value: object) -> Decimal | None:
    """A JSON amount as a Decimal rounded half-even to :data:`MONEY_SCALE` places (None stays None).

    Examples
    --------
    >>> money(0.00645), money("1"), money(None)
    (Decimal('0.006450000000'), Decimal('1.000000000000'), None)
    """
    if value is None:
        return None
    try:
        d = (
            value
            if isinstance(value, Decimal)
            else Decimal(repr(value) if isinstance(value, float) else str(value))
        )
        return d.quantize(_QUANTUM, ROUND_HALF_EVEN)
    except (InvalidOperation, ValueError):
        raise ResponseFormatError(f"{value!r} is not an amount of money") from None


def _time(value: object) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        raise ResponseFormatError(f"{value!r} is not an ISO 8601 date-time") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _date(value: object) -> date | None:
    when = _time(value)
    return None if when is None else when.date()


def _frame(table: str, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa

    types = _types()
    schema = _SCHEMAS[table]
    columns = {
        name: pd.array(
            pa.array([row.get(name) for row in rows], type=types[kind]), dtype=pd.ArrowDtype(types[kind])
        )
        for name, kind in schema.items()
    }
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


def _list(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc.get(key) or []
    if not isinstance(value, list):
        raise ResponseFormatError(f"the answer's {key!r} is not a list", key_path=key)
    return value


def _strings(value: object) -> list[str] | None:
    return None if value is None else [str(v) for v in value] if isinstance(value, list) else [str(value)]


def projects_frame(doc: Mapping[str, Any]) -> pd.DataFrame:
    """``GET /v1/projects`` as a frame: project_id, name."""
    return _frame("projects", [dict(p) for p in _list(doc, "projects")])


def keys_frame(doc: Mapping[str, Any]) -> pd.DataFrame:
    """``GET /v1/projects/{id}/keys`` as a frame: api_key_id, comment, scopes, tags, created, expiration_date,
    member_id, email (one row per key; the secret is never in a listing)."""
    rows = []
    for item in _list(doc, "api_keys"):
        key, member = item.get("api_key") or {}, item.get("member") or {}
        rows.append({
            "api_key_id": key.get("api_key_id"),
            "comment": key.get("comment"),
            "scopes": _strings(key.get("scopes")) or [],
            "tags": _strings(key.get("tags")) or [],
            "created": _time(key.get("created")),
            "expiration_date": _time(key.get("expiration_date")),
            "member_id": member.get("member_id"),
            "email": member.get("email"),
        })  # fmt: skip
    return _frame("keys", rows)


def _endpoint(path: str | None) -> str | None:
    if not path:
        return None
    parts = path.split("?", 1)[0].strip("/").split("/")
    return parts[1] if len(parts) > 1 else parts[0]


def request_row(item: Mapping[str, Any]) -> dict[str, Any]:
    """One request of ``GET /v1/projects/{id}/requests`` as a row (cost and usage from ``response.details``)."""
    response = item.get("response") or {}
    details = response.get("details") or {} if isinstance(response, dict) else {}
    code = item.get("code", response.get("code") if isinstance(response, dict) else None)
    duration = details.get("duration")
    characters = details.get("characters", details.get("tts_characters"))
    return {
        "request_id": item.get("request_id"),
        "created": _time(item.get("created")),
        "path": item.get("path"),
        "endpoint": _endpoint(item.get("path")),
        "api_key_id": item.get("api_key_id"),
        "code": None if code is None else int(code),
        "duration": None if duration is None else float(duration),
        "characters": None if characters is None else int(characters),
        "usd": money(details.get("usd")),
        "models": _strings(details.get("models")),
        "tags": _strings(details.get("tags")),
        "deployment": item.get("deployment"),
        "project_uuid": item.get("project_uuid"),
    }


def requests_frame(pages: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Pages of ``GET /v1/projects/{id}/requests`` as one frame, one row per request.

    Columns: request_id, created, path, endpoint (``listen``, ``speak`` ...), api_key_id, code,
    duration (audio seconds), characters (spoken), usd (decimal), models, tags, deployment,
    project_uuid.  A request seen on two pages (new requests shift the pages while they are read)
    appears once.
    """
    rows: dict[str, dict[str, Any]] = {}
    for page in pages:
        for item in _list(page, "requests"):
            row = request_row(item)
            rows.setdefault(str(row["request_id"]), row)
    return _frame("requests", list(rows.values()))


def usage_frame(doc: Mapping[str, Any]) -> pd.DataFrame:
    """``GET /v1/projects/{id}/usage`` as a frame, one row per period of ``results``:
    start, end, hours, total_hours, requests, tts_characters."""
    rows = [
        {
            "start": _date(r.get("start")),
            "end": _date(r.get("end")),
            "hours": None if r.get("hours") is None else float(r["hours"]),
            "total_hours": None if r.get("total_hours") is None else float(r["total_hours"]),
            "requests": None if r.get("requests") is None else int(r["requests"]),
            "tts_characters": None if r.get("tts_characters") is None else int(r["tts_characters"]),
        }
        for r in _list(doc, "results")
    ]
    return _frame("usage", rows)


def balances_frame(doc: Mapping[str, Any]) -> pd.DataFrame:
    """``GET /v1/projects/{id}/balances`` as a frame: balance_id, amount (decimal), units, purchase_order_id."""
    rows = [{**b, "amount": money(b.get("amount"))} for b in _list(doc, "balances")]
    return _frame("balances", rows)
