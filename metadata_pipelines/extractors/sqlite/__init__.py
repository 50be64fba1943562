"""SQLite connector (connector type "sqlite"): the embedded default source.

config.py validates settings, connection.py opens the file read-only and classifies errors,
reader.py runs the bulk pragma queries, sqltext.py and affinity.py read what SQLite keeps only in
its SQL text and type names, mapper.py turns rows into models, extractor.py runs it off the event
loop.
"""

from metadata_pipelines.extractors.sqlite.config import SQLiteConfig
from metadata_pipelines.extractors.sqlite.extractor import SQLiteExtractor

__all__ = ["SQLiteConfig", "SQLiteExtractor"]
