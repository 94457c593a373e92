"""What failed in a run: :func:`failures_html` and the :func:`failures_view` widget."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from ._common import load_ipywidgets

if TYPE_CHECKING:
    from ..batch import Run

__all__ = ["failures_html", "failures_view"]


def failures_html(failures: pd.DataFrame) -> str:
    """HTML of a ``Run.failures`` frame (file, status, message, advice), escaped; "no failures" when empty.

    Examples
    --------
    >>> import pandas as pd
    >>> failures_html(pd.DataFrame(columns=["file", "status", "message", "advice"]))
    '<p class="dg-failures">no failures</p>'
    """
    if failures.empty:
        return '<p class="dg-failures">no failures</p>'
    cols = [c for c in ("file", "status", "message", "advice") if c in failures]
    shown: str = failures[cols].to_html(index=False, escape=True, na_rep="", classes="dg-failures")
    return shown


def failures_view(run: Run) -> Any:
    """The failures of a :class:`~dgtools.Run` as an ``ipywidgets.HTML``.

    Raises
    ------
    WidgetsUnavailableError
        ipywidgets is not installed (``pip install ipywidgets``).

    Examples
    --------
    >>> import pandas as pd
    >>> from types import SimpleNamespace
    >>> run = SimpleNamespace(failures=pd.DataFrame({"file": ["a.wav"], "status": ["401"],
    ...                                              "message": ["bad key"], "advice": ["set DEEPGRAM_API_KEY"]}))
    >>> view = failures_view(run)   # a dgtools.Run in practice
    >>> type(view).__name__, "set DEEPGRAM_API_KEY" in view.value
    ('HTML', True)
    """
    w = load_ipywidgets()
    return w.HTML(value=failures_html(run.failures))
