"""The ``df.dg`` pandas accessor (placeholder: being written)."""

from __future__ import annotations

import pandas as pd


@pd.api.extensions.register_dataframe_accessor("dg")
class DGAccessor:
    def __init__(self, pandas_obj: pd.DataFrame) -> None:
        self._df = pandas_obj
