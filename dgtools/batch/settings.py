"""What a transcription run was asked to do: :class:`RunSettings`, built once from transcribe's arguments.

Everything but the sources and the credentials: the store, concurrency, engine, budget, file
patterns, retry policy and the validated ``/v1/listen`` options.  It holds no secret (credentials
are resolved separately, at send time), so it can be logged, compared and shipped to other
processes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ..api.auth import split_api_version
from ..api.retry import RetryPolicy
from ..exceptions import ConfigError
from ..options import ListenOptions, check_model, default_concurrency

if TYPE_CHECKING:
    from ..store import RemoteStore, Store

__all__ = [
    "ENGINES",
    "RunSettings",
    "engine_choice",
    "engine_key",
    "offline_engine",
    "resolve_engine",
    "retry_policy",
]

#: Engines :func:`dgtools.transcribe` can send through, and ``"auto"``.
ENGINES = ("deepgram", "local", "whisper")


def offline_engine() -> tuple[str, str]:
    """The best offline engine installed here, and why: Whisper with packaged weights, else pocketsphinx.

    Looks for faster-whisper and the weights without importing them.
    """
    import importlib.util

    if importlib.util.find_spec("faster_whisper") is not None:
        from ..engines.whisper.models import available_models

        models = available_models()
        if models:
            return "whisper", (
                f"engine auto: the offline Whisper engine (model {models[0]}: free, nothing leaves this machine), "
                "because neither DEEPGRAM_API_KEY nor DEEPGRAM_TOKEN is set"
            )
    return "local", (
        "engine auto: the embedded offline engine (pocketsphinx: free, nothing leaves this machine; "
        "pip install 'dgtools[whisper]' for a far better one), because neither DEEPGRAM_API_KEY nor "
        "DEEPGRAM_TOKEN is set"
    )


def engine_choice(
    engine: str,
    *,
    api_key: str | None = None,
    access_token: str | None = None,
    base_url: str | None = None,
    username: str | None = None,
    api_version: str | None = None,
) -> tuple[str, str]:
    """``(engine, why)``: ``"deepgram"``, ``"whisper"`` or ``"local"``, and the reason in words, for the first line a run prints.

    ``"auto"`` is Deepgram when a server is named (``base_url=``, ``DEEPGRAM_BASE_URL``) or a
    credential is set (``api_key=``, ``access_token=``, ``DEEPGRAM_API_KEY``, ``DEEPGRAM_TOKEN``),
    else the best offline engine installed (:func:`offline_engine`): Whisper when the ``whisper``
    extra and packaged weights are installed, else pocketsphinx.

    Raises
    ------
    ConfigError
        An unknown engine name.

    Examples
    --------
    >>> engine_choice("auto", api_key="0123456789abcdef0123456789abcdef01234567")
    ('deepgram', 'engine auto: Deepgram, because a key was given (api_key=)')
    >>> engine_choice("whisperx")
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: engine='whisperx': use 'deepgram' (the API), 'whisper' or 'local' (offline), or 'auto'
    """
    if engine == "auto":
        given: tuple[tuple[str, object], ...] = (
            ("a server was named (base_url=)", base_url),
            ("a server was named (DEEPGRAM_BASE_URL)", os.environ.get("DEEPGRAM_BASE_URL")),
            ("a key was given (api_key=)", api_key),
            ("a token was given (access_token=)", access_token),
            ("a username was given (username=, the old v2 API)", username),
            ("the old v2 API was asked for (api_version='v2')", api_version == "v2"),
            ("DEEPGRAM_TOKEN is set", os.environ.get("DEEPGRAM_TOKEN")),
            ("DEEPGRAM_API_KEY is set", os.environ.get("DEEPGRAM_API_KEY")),
        )
        for why, value in given:
            if value:
                return "deepgram", f"engine auto: Deepgram, because {why}"
        return offline_engine()
    if engine not in ENGINES:
        raise ConfigError(
            f"engine={engine!r}: use 'deepgram' (the API), 'whisper' or 'local' (offline), or 'auto'"
        )
    return engine, f"engine {engine}: as asked"


def engine_key(engine: str, whisper_model: str | None = None) -> str:
    """What names an engine in store keys: ``"whisper-<model>"`` for Whisper, so two models never share answers.

    Examples
    --------
    >>> engine_key("local"), engine_key("whisper", "tiny.en")
    ('local', 'whisper-tiny.en')
    """
    if engine != "whisper":
        return engine
    from ..engines.whisper.models import default_model

    model = whisper_model or default_model()
    if os.path.isdir(model):
        model = os.path.realpath(model)
    return f"whisper-{model}"


def resolve_engine(
    engine: str, *, api_key: str | None = None, access_token: str | None = None, base_url: str | None = None
) -> str:
    """``"deepgram"``, ``"whisper"`` or ``"local"`` (see :func:`engine_choice`, which also says why).

    Examples
    --------
    >>> resolve_engine("local")
    'local'
    """
    return engine_choice(engine, api_key=api_key, access_token=access_token, base_url=base_url)[0]


def retry_policy(max_retries: int | None = None, retry: RetryPolicy | None = None) -> RetryPolicy:
    """The retry policy of ``max_retries=`` and ``retry=`` (the default policy when neither is given).

    Raises
    ------
    ConfigError
        Both are given and disagree, or ``retry`` is not a :class:`~dgtools.api.RetryPolicy`.

    Examples
    --------
    >>> retry_policy(2).max_retries, retry_policy().max_retries
    (2, 6)
    """
    if retry is None:
        return RetryPolicy() if max_retries is None else RetryPolicy(max_retries=max_retries)
    if not isinstance(retry, RetryPolicy):
        raise ConfigError(f"retry={retry!r} must be a dgtools.api.RetryPolicy")
    if max_retries is not None and max_retries != retry.max_retries:
        raise ConfigError(
            f"max_retries={max_retries!r} and retry=RetryPolicy(max_retries={retry.max_retries!r}) disagree: "
            "pass max_retries inside retry=RetryPolicy(...)"
        )
    return retry


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """A transcription run's settings, validated: everything but the sources and the credentials.

    :func:`dgtools.atranscribe` builds one from its arguments: the fields are those arguments
    (see :func:`dgtools.transcribe`), with ``engine`` resolved (never ``"auto"``, see
    :func:`resolve_engine`), ``max_retries`` inside ``retry`` (:func:`retry_policy`) and the
    ``/v1/listen`` options validated into ``options``.

    Examples
    --------
    >>> s = RunSettings(engine="local", concurrency=2, options=ListenOptions.from_kwargs(punctuate=True))
    >>> s.engine, s.cap, s.options.canonical()
    ('local', 2, 'punctuate=true')
    >>> RunSettings(concurrency=0)
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: concurrency=0 must be a positive integer
    """

    store: str | os.PathLike[str] | Store | RemoteStore = "dgtools-store"
    concurrency: int | None = None
    progress: bool | float | None = None
    base_url: str | None = None
    region: str | None = None
    engine: str = "deepgram"
    engine_reason: str = ""
    whisper_model: str | None = None
    budget: float | None = None
    patterns: Sequence[str] = ("*",)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float | None = None
    proxy: str | Literal[False] | None = None
    allow_insecure: bool = False
    options: ListenOptions = field(default_factory=ListenOptions.from_kwargs)
    #: ``"v1"``, or ``"v2"`` for the old brain.deepgram.com API (a ``base_url`` ending in ``/v2``
    #: sets it, and loses that suffix); None: from ``base_url``, else ``"v1"``.
    api_version: str | None = None

    def __post_init__(self) -> None:
        base_url, version = split_api_version(self.base_url, self.api_version)
        if version == "v2" and self.engine != "deepgram":
            raise ConfigError(
                f"api_version='v2' (the old Deepgram API) is for engine='deepgram'; this run uses engine={self.engine!r}"
            )
        if version == "v2" and self.region:
            raise ConfigError(f"region={self.region!r} is for the v1 API; the old v2 API has one endpoint")
        object.__setattr__(self, "api_version", version)
        if version == "v2":
            object.__setattr__(self, "base_url", base_url)
        if self.engine not in ENGINES:
            raise ConfigError(
                f"engine={self.engine!r}: use 'deepgram' (the API), 'whisper' or 'local' (offline)"
            )
        if self.whisper_model is not None and self.engine != "whisper":
            raise ConfigError(
                f"whisper_model={self.whisper_model!r} is for engine='whisper'; this run uses engine={self.engine!r}"
            )
        if self.engine == "deepgram" and version == "v1":  # the old API had its own model names
            check_model(self.options.model)  # a typo would be a 400 per file, or a surprise
        c = self.concurrency
        if c is not None and (not isinstance(c, int) or isinstance(c, bool) or c < 1):
            raise ConfigError(f"concurrency={c!r} must be a positive integer")
        v = self.progress
        if v is not None and not isinstance(v, bool) and (not isinstance(v, (int, float)) or not v > 0):
            raise ConfigError(f"progress={v!r} must be True, False, None or a number of seconds above 0")
        b = self.budget
        if b is not None and (not isinstance(b, (int, float)) or isinstance(b, bool) or not b >= 0):
            raise ConfigError(f"budget={b!r} must be a number of dollars, 0 or more")
        if isinstance(self.patterns, str) or not all(isinstance(p, str) for p in self.patterns):
            raise ConfigError(
                f"patterns={self.patterns!r} must be a sequence of glob strings, e.g. ('*.wav',)"
            )

    @property
    def engine_key(self) -> str:
        """What names the engine in store keys (see :func:`engine_key`); ``"deepgram-v2"`` for the old API.

        The old API's answers have their own shape, so they are filed apart from v1's: a v1 answer
        never passes for a v2 one, nor the reverse.
        """
        if self.engine == "deepgram" and self.api_version == "v2":
            return "deepgram-v2"
        return engine_key(self.engine, self.whisper_model)

    @property
    def start(self) -> int:
        """Requests in flight to start at: ``cap``, or Deepgram's documented limit for the options if lower.

        Above the documented limit the run climbs one request per round of successes, so a plan
        that allows more is reached without a burst of 429s (:mod:`dgtools.batch.limiter`).
        """
        if self.engine != "deepgram":
            return self.cap
        return min(self.cap, default_concurrency(self.options, region=self.region))

    @property
    def cap(self) -> int:
        """Most requests in flight: ``concurrency``, else the engine's default.

        Deepgram: its per-project limit for these options (:func:`dgtools.options.default_concurrency`);
        the local engine: one decoder process per CPU.
        """
        if self.concurrency is not None:
            return self.concurrency
        if self.engine == "local":
            return os.cpu_count() or 1
        if self.engine == "whisper":  # one model, decoding one file at a time on every core
            return 1
        return default_concurrency(self.options, region=self.region)
