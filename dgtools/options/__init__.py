"""Every pre-recorded ``/v1/listen`` query option, validated and encoded.

- :mod:`dgtools.options.spec`: :data:`OPTIONS`, the table of options and Deepgram's limits.
- :mod:`dgtools.options.listen`: :class:`ListenOptions`, :func:`validate_query`, :func:`default_concurrency`.
- :mod:`dgtools.options.flux`: the options of Flux, WebSocket ``/v2/listen`` (:func:`~dgtools.options.flux.flux_query`).


:data:`OPTIONS` describes each option dgtools knows: every query parameter
of ``POST /v1/listen`` in Deepgram's OpenAPI spec (``in_spec=True``) plus the
older ones users still send (``in_spec=False``).  The table is literal data
in this module, derived once from the spec; dgtools does not need the spec
at run time.

:class:`ListenOptions` is an immutable, hashable mapping of validated
options.  It encodes them for httpx (:meth:`ListenOptions.query_params`: booleans as
``true``/``false``, list options as repeated parameters) and as one stable
canonical query string (:meth:`ListenOptions.canonical`) whose hash
(:meth:`ListenOptions.digest`) is part of the raw-store key.

:func:`validate_query` parses a query string as a server receives it (the
local Deepgram-compatible server answers ``400 INVALID_QUERY_PARAMETER`` from
its errors), and :func:`default_concurrency` gives Deepgram's per-project
concurrency limit for a set of options.

Every error is a :class:`~dgtools.exceptions.ConfigError` whose ``.option``
attribute names the offending option and whose message says how to fix it.

Examples
--------
>>> from dgtools.options import ListenOptions
>>> opts = ListenOptions.from_kwargs(model="nova-3", smart_format=True, search=["refund", "cancel"])
>>> opts.query_params()
[('model', 'nova-3'), ('search', 'refund'), ('search', 'cancel'), ('smart_format', 'true')]
>>> opts.canonical()
'model=nova-3&search=refund&search=cancel&smart_format=true'
>>> ListenOptions.from_kwargs(diarise=True)
Traceback (most recent call last):
...
dgtools.exceptions.ConfigError: option 'diarise' is not a /v1/listen option; did you mean 'diarize'?
"""

from .listen import ListenOptions, default_concurrency, validate_query
from .models import KNOWN_MODELS, check_model, is_known_model
from .spec import OPTIONS, OptionSpec

__all__ = [
    "KNOWN_MODELS",
    "OPTIONS",
    "ListenOptions",
    "OptionSpec",
    "check_model",
    "default_concurrency",
    "is_known_model",
    "validate_query",
]
