"""Reading and writing the tables in other tools' formats: :mod:`dgtools.io.parquet`."""
