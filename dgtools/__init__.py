"""dgtools: Deepgram speech-to-text results as typed pandas tables.

Quick start::

    import dgtools
    tables = dgtools.to_tables("responses/")        # JSON files saved from Deepgram
    tables.words.dg.talk_time()                     # the df.dg accessor
    tables.to_parquet("out/")                       # DuckDB / Polars / Spark read these

``import dgtools`` is light: it imports pandas (to register ``df.dg``), and
pyarrow loads on first use of a table function; matplotlib, ipywidgets, librosa and IPython are never imported
until a plot, widget or audio function needs them.
"""

import typing as _typing

from . import accessor as _accessor  # noqa: F401  registers the df.dg pandas accessor (imports pandas only)
from ._lazy import lazy_exports as _lazy_exports
from ._version import __version__
from .exceptions import (
    AudioDecodeError,
    AuthenticationError,
    BadRequestError,
    BadResponseError,
    BudgetError,
    ConfigError,
    DeepgramAPIError,
    DGToolsError,
    DGToolsWarning,
    EngineError,
    MissingDependencyError,
    NotConfirmedError,
    PaymentRequiredError,
    RateLimitError,
    ResponseFormatError,
    SchemaError,
    ServerError,
    TransportError,
    WidgetsUnavailableError,
)

__all__ = [
    "AudioDecodeError",
    "AuthenticationError",
    "BadRequestError",
    "BadResponseError",
    "BudgetError",
    "CallbackSummary",
    "ConfigError",
    "DGToolsError",
    "DGToolsWarning",
    "DeepgramAPIError",
    "DeepgramClient",
    "EngineError",
    "ListenOptions",
    "MissingDependencyError",
    "NotConfirmedError",
    "PaymentRequiredError",
    "RateLimitError",
    "ResponseFormatError",
    "Run",
    "SCHEMA_VERSION",
    "SchemaError",
    "ServerError",
    "SpeakStream",
    "SpeakStreamRun",
    "SpeechRun",
    "SpeechTestSet",
    "Store",
    "StreamRun",
    "Tables",
    "TablesSummary",
    "TransportError",
    "WidgetsUnavailableError",
    "__version__",
    "acollect_callbacks",
    "aspeak",
    "aspeak_stream",
    "astream",
    "asynthesize_test_set",
    "atranscribe",
    "browse",
    "collect_callbacks",
    "compare",
    "compare_runs",
    "der",
    "estimate",
    "estimate_cost",
    "read_parquet",
    "speak",
    "speak_stream",
    "stream",
    "synthesize_test_set",
    "to_tables",
    "transcribe",
    "wer",
    "write_dataset",
]

if _typing.TYPE_CHECKING:
    from .api.client import DeepgramClient
    from .batch import Run, atranscribe, transcribe
    from .batch.estimate import estimate
    from .callbacks import CallbackSummary, acollect_callbacks, collect_callbacks
    from .evaluate import compare_runs, der, wer
    from .live import StreamRun, astream, stream
    from .options import ListenOptions
    from .pricing import estimate_cost
    from .speech import (
        SpeakStream,
        SpeakStreamRun,
        SpeechRun,
        SpeechTestSet,
        aspeak,
        aspeak_stream,
        asynthesize_test_set,
        speak,
        speak_stream,
        synthesize_test_set,
    )
    from .store import Store
    from .tables import Tables, TablesSummary, read_parquet, to_tables, write_dataset
    from .tables.schema import SCHEMA_VERSION
    from .widgets import browse, compare

_LAZY = {
    "browse": ".widgets",
    "compare": ".widgets",
    "CallbackSummary": ".callbacks",
    "acollect_callbacks": ".callbacks",
    "collect_callbacks": ".callbacks",
    "compare_runs": ".evaluate",
    "der": ".evaluate",
    "wer": ".evaluate",
    "Run": ".batch",
    "atranscribe": ".batch",
    "transcribe": ".batch",
    "estimate": ".batch.estimate",
    "stream": ".live",
    "astream": ".live",
    "StreamRun": ".live",
    "SpeakStream": ".speech",
    "SpeakStreamRun": ".speech",
    "SpeechRun": ".speech",
    "SpeechTestSet": ".speech",
    "aspeak": ".speech",
    "aspeak_stream": ".speech",
    "asynthesize_test_set": ".speech",
    "speak": ".speech",
    "speak_stream": ".speech",
    "synthesize_test_set": ".speech",
    "DeepgramClient": ".api.client",
    "ListenOptions": ".options",
    "estimate_cost": ".pricing",
    "Store": ".store",
    "SCHEMA_VERSION": ".tables.schema",
    "Tables": ".tables",
    "TablesSummary": ".tables",
    "to_tables": ".tables",
    "read_parquet": ".tables",
    "write_dataset": ".tables",
}

__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)
