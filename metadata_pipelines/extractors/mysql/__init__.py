"""MySQL / MariaDB connector (connector types "mysql" and "mariadb").

config.py validates settings, queries.py holds the fixed information_schema queries, mapper.py turns
their rows into models, classify.py maps driver errors, extractor.py runs it all off the event loop.
"""

from metadata_pipelines.extractors.mysql.config import MySQLConfig, MySQLCredentials
from metadata_pipelines.extractors.mysql.extractor import MySQLExtractor

__all__ = ["MySQLConfig", "MySQLCredentials", "MySQLExtractor"]
