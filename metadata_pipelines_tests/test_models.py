"""The pydantic models at the edge between extractors and the catalog."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from metadata_pipelines.models import (
    REDACTED,
    AssetType,
    ColumnMetadata,
    ConstraintMetadata,
    ConstraintType,
    DatabaseMetadata,
    ExtractionError,
    ExtractionResult,
    ExtractionStatus,
    RoutineMetadata,
    RoutineType,
    SchemaMetadata,
    Severity,
    TableMetadata,
    TableType,
    qualified_name,
)

STARTED = datetime(2026, 1, 1, tzinfo=UTC)


def _table(**extra) -> TableMetadata:
    return TableMetadata(database="db", name="t", **extra)


def test_models_reject_unknown_fields_so_credentials_cannot_ride_along():
    with pytest.raises(ValidationError, match="password"):
        DatabaseMetadata(name="db", password="hunter2")
    with pytest.raises(ValidationError, match="credentials"):
        ExtractionResult(
            connector_type="x",
            status=ExtractionStatus.SUCCESS,
            started_at=STARTED,
            finished_at=STARTED,
            credentials={"token": "t"},
        )


@pytest.mark.parametrize(
    "key",
    ["password", "db.Password", "spark.hadoop.fs.azure.account.key.x", "api_key", "oauth_token"],
)
def test_secret_looking_properties_are_redacted(key):
    table = _table(properties={key: "hunter2", "owner_team": "data"})
    assert table.properties == {key: REDACTED, "owner_team": "data"}
    column = ColumnMetadata(name="c", ordinal=1, native_type="int", properties={key: "x"})
    assert column.properties[key] == REDACTED


def test_keys_remembered_as_safe_never_let_a_secret_key_through():
    for _ in range(3):  # the safe keys are remembered after the first model
        assert _table(properties={"owner_team": "data", "format": "delta"}).properties == {
            "owner_team": "data",
            "format": "delta",
        }
    mixed = _table(properties={"owner_team": "data", "format": "delta", "sas_token": "sv=1"})
    assert mixed.properties == {"owner_team": "data", "format": "delta", "sas_token": REDACTED}
    again = _table(properties={"owner_team": "data", "sas_token": "sv=2"})
    assert again.properties["sas_token"] == REDACTED


def test_empty_secret_like_properties_stay_empty():
    assert _table(properties={"token": None, "secret": ""}).properties == {
        "token": None,
        "secret": "",
    }


def test_table_fields_and_view_asset_type():
    view = _table(
        table_type=TableType.VIEW,
        view_definition="select 1",
        row_count=None,
        columns=[ColumnMetadata(name="a", ordinal=1, native_type="int")],
    )
    assert view.table_type.asset_type is AssetType.VIEW
    assert TableType.MATERIALIZED_VIEW.asset_type is AssetType.VIEW
    assert TableType.STREAMING_TABLE.asset_type is AssetType.TABLE
    assert view.path == ("db", "t")
    assert TableMetadata(database="c", schema_name="s", name="t").path == ("c", "s", "t")


def test_column_ordinal_starts_at_one():
    with pytest.raises(ValidationError, match="ordinal"):
        ColumnMetadata(name="c", ordinal=0, native_type="int")


def test_foreign_key_must_name_its_target_column_for_column():
    ConstraintMetadata(
        constraint_type=ConstraintType.FOREIGN_KEY,
        columns=["a", "b"],
        referenced_table="other",
        referenced_columns=["x", "y"],
    )
    with pytest.raises(ValidationError, match="referenced_table"):
        ConstraintMetadata(constraint_type=ConstraintType.FOREIGN_KEY, columns=["a"])
    with pytest.raises(ValidationError, match="as many referenced columns"):
        ConstraintMetadata(
            constraint_type=ConstraintType.FOREIGN_KEY,
            columns=["a", "b"],
            referenced_table="other",
            referenced_columns=["x"],
        )


def test_build_derives_status():
    table = _table()
    scoped = ExtractionError(scope=("db", "broken_view"), message="broken")
    whole = ExtractionError(message="server down", retryable=True)
    warning = ExtractionError(scope=("db",), message="odd type", severity=Severity.WARNING)

    assert ExtractionResult.build("x", STARTED, tables=[table]).status is ExtractionStatus.SUCCESS
    assert (
        ExtractionResult.build("x", STARTED, tables=[table], errors=[warning]).status
        is ExtractionStatus.SUCCESS
    )
    partial = ExtractionResult.build("x", STARTED, tables=[table], errors=[scoped, warning])
    assert partial.status is ExtractionStatus.PARTIAL
    assert partial.failed_scopes == [("db", "broken_view")]
    assert partial.warnings == [warning]
    assert (
        ExtractionResult.build("x", STARTED, tables=[table], errors=[whole]).status
        is ExtractionStatus.FAILED
    )
    assert ExtractionResult.build("x", STARTED, errors=[scoped]).status is ExtractionStatus.FAILED
    assert partial.finished_at >= STARTED


def test_counts_cover_every_kind():
    result = ExtractionResult.build(
        "x",
        STARTED,
        databases=[DatabaseMetadata(name="db")],
        schemas=[SchemaMetadata(database="db", name="s")],
        tables=[
            _table(
                columns=[
                    ColumnMetadata(name="a", ordinal=1, native_type="int"),
                    ColumnMetadata(name="b", ordinal=2, native_type="int"),
                ],
                constraints=[ConstraintMetadata(constraint_type="primary_key", columns=["a"])],
            ),
            TableMetadata(database="db", name="v", table_type=TableType.VIEW),
        ],
        routines=[RoutineMetadata(database="db", name="p", routine_type=RoutineType.PROCEDURE)],
    )
    assert result.counts == {
        "database": 1,
        "schema": 1,
        "table": 1,
        "view": 1,
        "column": 2,
        "constraint": 1,
        "index": 0,
        "routine": 1,
    }


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("db", "orders"), "db.orders"),
        (("db", "a.b"), 'db."a.b"'),
        (("db", 'x"y'), 'db."x""y"'),
        (("my db", "select"), '"my db".select'),
        (("naïve",), '"naïve"'),
        (("we`ird", "hy-phen"), '"we`ird"."hy-phen"'),
    ],
)
def test_qualified_names_are_unambiguous(path, expected):
    assert qualified_name(path) == expected


def test_qualified_names_never_collide_for_distinct_paths():
    paths = [("a", "b.c"), ("a.b", "c"), ("a", "b", "c"), ('a"', "b"), ("a", '"b')]
    assert len({qualified_name(p) for p in paths}) == len(paths)


def test_result_round_trips_through_json():
    result = ExtractionResult.build(
        "x",
        STARTED,
        tables=[_table(created_at=STARTED, properties={"engine": "InnoDB"})],
        errors=[ExtractionError(scope=("db", "t"), message="m", code="c", retryable=True)],
    )
    assert ExtractionResult.model_validate_json(result.model_dump_json()) == result
