"""Quoting a name for the SQL a connector sends: names may hold anything, quotes included."""

from __future__ import annotations


def backtick(name: str) -> str:
    """MySQL / MariaDB and Databricks SQL: backticks, any backtick inside doubled."""
    return "`" + name.replace("`", "``") + "`"


def double_quote(name: str) -> str:
    """Standard SQL (SQLite, PostgreSQL, Snowflake): double quotes, any double quote inside doubled."""
    return '"' + name.replace('"', '""') + '"'
