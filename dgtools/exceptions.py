"""The dgtools exception tree.

Every error dgtools raises derives from :class:`DGToolsError`, so one
``except dgtools.DGToolsError`` catches them all::

    DGToolsError
    ├── ConfigError (ValueError)         missing key, invalid option, bad base URL
    ├── DeepgramAPIError                 .status_code .request_id .err_code .body .path
    │   ├── BadRequestError              400, 413, 414 (and other 4xx)
    │   ├── AuthenticationError          401, 403
    │   ├── PaymentRequiredError         402
    │   ├── RateLimitError               429 (.retry_after)
    │   └── ServerError                  408, >= 500 (.retry_after)
    ├── TransportError                   connection failures, timeouts (wraps httpx's)
    ├── BadResponseError                 a 200 whose body is no usable answer: cut short, malformed,
    │                                    too large, or for other audio (.path .request_id .retryable)
    ├── BudgetError                      the cost estimate is above the budget cap
    ├── NotConfirmedError                the plan was shown and not confirmed: nothing was sent
    ├── ResponseFormatError (ValueError) input is not a Deepgram response: names the file and key path
    ├── SchemaError (ValueError)         a table or Parquet file has the wrong columns or metadata
    ├── EngineError                      an offline engine refuses a request (.status_code .err_code .err_msg)
    ├── AudioDecodeError (ValueError)    audio that cannot be decoded (.path)
    └── MissingDependencyError (ImportError)  an optional part is not installed (.extra): names the pip install
        └── WidgetsUnavailableError      ipywidgets (the notebook widgets) is not installed

Each error carries its context as attributes (``.path``, ``.key_path``,
``.table``, ``.status_code``, ``.request_id``) and its message says what
failed, for which file, and how to fix it.  No error ever holds an API key.

Warnings dgtools gives (a key that looks wrong, duplicate response ids, ...) are
:class:`DGToolsWarning`, a ``UserWarning``.
"""

from __future__ import annotations

from os import PathLike

__all__ = [
    "AudioDecodeError",
    "AuthenticationError",
    "BadRequestError",
    "BadResponseError",
    "BudgetError",
    "ConfigError",
    "DGToolsError",
    "DGToolsWarning",
    "DeepgramAPIError",
    "EngineError",
    "MissingDependencyError",
    "NotConfirmedError",
    "PaymentRequiredError",
    "RateLimitError",
    "ResponseFormatError",
    "SchemaError",
    "ServerError",
    "TransportError",
    "WidgetsUnavailableError",
]


class DGToolsError(Exception):
    """Root of every error raised by dgtools."""


class ConfigError(DGToolsError, ValueError):
    """An option, argument or setting is invalid; the message names it."""


class DeepgramAPIError(DGToolsError):
    """Deepgram (or a Deepgram-compatible server) answered with an error status.

    Attributes
    ----------
    status_code : int
        The HTTP status.
    request_id : str or None
        Deepgram's request id (from the body or the ``dg-request-id`` header).
    err_code : str or None
        Deepgram's error code, e.g. ``INVALID_AUTH``, ``INVALID_QUERY_PARAMETER``.
    body : str
        The error body as text (never containing the API key).
    path : str or None
        The audio file (or URL) the request was for.
    retry_after : float or None
        Seconds the server asked to wait before sending again (``Retry-After``), if it said.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        err_code: str | None = None,
        body: str = "",
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        self.status_code = status_code
        self.request_id = request_id
        self.err_code = err_code
        self.body = body
        self.path = path
        super().__init__(message)

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again may succeed."""
        return False


class BadRequestError(DeepgramAPIError):
    """400 (an invalid option or audio), 413 (too large), 414 (URL too long): fix the request."""


class AuthenticationError(DeepgramAPIError):
    """401 (credentials rejected) or 403 (the project may not use this model or feature)."""


class PaymentRequiredError(DeepgramAPIError):
    """402: the project is out of credits; a batch stops dispatching new files."""


class RateLimitError(DeepgramAPIError):
    """429: too many requests in flight; retried after ``retry_after`` seconds when given."""

    @property
    def retryable(self) -> bool:
        return True


class ServerError(DeepgramAPIError):
    """408 or >= 500: a server-side failure; retried with backoff."""

    @property
    def retryable(self) -> bool:
        return True


class TransportError(DGToolsError):
    """The request did not get an HTTP answer: connection refused or dropped, timeout, TLS.

    Raised ``from`` the underlying httpx exception.  Retried with backoff.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)

    @property
    def retryable(self) -> bool:
        return True


class BadResponseError(DGToolsError):
    """Deepgram answered 200 but the body is not a usable answer for this request; it is never stored.

    Cut short or malformed (retryable: the request is sent again), larger than the configured
    limit, or for other audio than was sent (``metadata.sha256`` differs: not retryable).

    Attributes
    ----------
    path : str or None
        The audio file (or URL) the request was for.
    request_id : str or None
        Deepgram's request id, when the body or the headers carry one.
    """

    def __init__(
        self, message: str, *, path: str | None = None, request_id: str | None = None, retryable: bool = True
    ) -> None:
        self.path = path
        self.request_id = request_id
        self._retryable = retryable
        super().__init__(message)

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again may succeed."""
        return self._retryable


class BudgetError(DGToolsError):
    """The estimated cost of a run is above the ``budget=`` cap; nothing was sent."""


class NotConfirmedError(DGToolsError):
    """A run's plan (files, minutes, cost) was shown and not confirmed; nothing was sent."""


class ResponseFormatError(DGToolsError, ValueError):
    """The input is not a Deepgram response (or holds a value of the wrong type).

    Attributes
    ----------
    path : str or None
        The file the response came from, when it came from a file.
    key_path : str or None
        Where in the JSON the problem is, e.g. ``results.channels[0].alternatives``.
    """

    def __init__(self, message: str, *, path: str | PathLike[str] | None = None, key_path: str | None = None):
        self.path = None if path is None else str(path)
        self.key_path = key_path
        where = f"{self.path}: " if self.path else ""
        super().__init__(where + message)


class SchemaError(DGToolsError, ValueError):
    """A table does not match its dgtools schema, or a Parquet file is foreign or too new.

    Attributes
    ----------
    table : str or None
        The dgtools table name involved.
    path : str or None
        The Parquet file involved, if any.
    """

    def __init__(self, message: str, *, table: str | None = None, path: str | PathLike[str] | None = None):
        self.table = table
        self.path = None if path is None else str(path)
        super().__init__(message)


class EngineError(DGToolsError):
    """An offline engine refuses a request; the local server answers it in Deepgram's error shape.

    Attributes
    ----------
    status_code : int
        The HTTP status to answer (usually 400).
    err_code : str
        Deepgram's ``err_code``, e.g. ``"Bad Request"`` or ``"REMOTE_CONTENT_ERROR"``.
    err_msg : str
        Deepgram's ``err_msg``: what failed and how to fix it.

    Examples
    --------
    >>> e = EngineError(400, "Bad Request", "Bad Request: no recorded response")
    >>> str(e), e.status_code
    ('400 Bad Request: Bad Request: no recorded response', 400)
    """

    def __init__(self, status_code: int, err_code: str, err_msg: str) -> None:
        self.status_code = status_code
        self.err_code = err_code
        self.err_msg = err_msg
        super().__init__(f"{status_code} {err_code}: {err_msg}")


class AudioDecodeError(DGToolsError, ValueError):
    """The audio cannot be decoded: corrupt, empty or in a format neither soundfile nor librosa reads.

    Attributes
    ----------
    path : str or None
        The file (or a description of the request body) that failed.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)


class MissingDependencyError(DGToolsError, ImportError):
    """An optional part of dgtools is not installed; the message names the ``pip install`` to run.

    Attributes
    ----------
    extra : str or None
        The dgtools extra that installs it, e.g. ``"serve"`` for ``pip install 'dgtools[serve]'``
        (None for a core dependency that is missing: ``pip install <package>``).
    package : str
        The missing distribution or module, e.g. ``"uvicorn"``.

    Examples
    --------
    >>> e = MissingDependencyError("dgtools serve", package="uvicorn", extra="serve")
    >>> print(e)
    dgtools serve needs uvicorn, which is not installed: pip install 'dgtools[serve]'
    """

    def __init__(self, feature: str, *, package: str, extra: str | None) -> None:
        self.extra = extra
        self.package = package
        fix = f"pip install 'dgtools[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{feature} needs {package}, which is not installed: {fix}")


class WidgetsUnavailableError(MissingDependencyError):
    """ipywidgets (the notebook widgets' dependency) is not installed."""


class DGToolsWarning(UserWarning):
    """A warning from dgtools: something looks wrong but the work goes on (the message says what to check)."""
