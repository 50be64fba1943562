"""BSON types of decoded documents, named as MongoDB's `$type` names them (`int`, `long`,
`decimal`, `objectId`, `date`, `binData`, ...), and their catalog type families."""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Any

from bson import Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.datetime_ms import DatetimeMS
from bson.dbref import DBRef

from metadata_pipelines.extractors.inference import TypeSystem
from metadata_pipelines.models import DataType

#: Exact Python classes pymongo decodes each BSON type to (a dict lookup per value: sampling
#: names every value of a thousand documents per collection).
_BY_CLASS: dict[type, str] = {
    type(None): "null",
    bool: "bool",
    int: "int",
    Int64: "long",
    float: "double",
    str: "string",
    dict: "object",
    list: "array",
    ObjectId: "objectId",
    datetime.datetime: "date",
    DatetimeMS: "date",
    Decimal128: "decimal",
    bytes: "binData",
    Binary: "binData",
    uuid.UUID: "binData",
    Regex: "regex",
    re.Pattern: "regex",
    Timestamp: "timestamp",
    MinKey: "minKey",
    MaxKey: "maxKey",
    DBRef: "dbRef",
}


def bson_type(value: Any) -> str:
    kind = _BY_CLASS.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, Code):
        return "javaScriptWithScope" if value.scope else "javaScript"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "long" if isinstance(value, Int64) or not -(2**31) <= value < 2**31 else "int"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


DATA_TYPES: dict[str, DataType] = {
    "null": DataType.NULL,
    "bool": DataType.BOOLEAN,
    "int": DataType.INTEGER,
    "long": DataType.INTEGER,
    "double": DataType.FLOAT,
    "decimal": DataType.DECIMAL,
    "number": DataType.DECIMAL,  # $jsonSchema's alias for any numeric type
    "string": DataType.STRING,
    "symbol": DataType.STRING,
    "objectId": DataType.STRING,
    "regex": DataType.STRING,
    "javaScript": DataType.STRING,
    "javaScriptWithScope": DataType.STRING,
    "date": DataType.TIMESTAMP,
    "timestamp": DataType.TIMESTAMP,
    "binData": DataType.BINARY,
    "object": DataType.STRUCT,
    "dbRef": DataType.STRUCT,
    "array": DataType.ARRAY,
}
"""BSON type name -> catalog family; minKey, maxKey and undefined are UNKNOWN."""

#: `$jsonSchema` `type` keywords (JSON Schema names) as BSON names.
JSON_SCHEMA_TYPES = {
    "string": "string",
    "number": "double",
    "integer": "int",
    "boolean": "bool",
    "object": "object",
    "array": "array",
    "null": "null",
}

BSON_TYPES = TypeSystem(bson_type, DATA_TYPES)
