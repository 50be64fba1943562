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
    ContainerType,
    DatabaseMetadata,
    DataType,
    ExtractionBatch,
    ExtractionError,
    ExtractionResult,
    ExtractionStatus,
    FieldInference,
    FieldPathError,
    ObservedType,
    RoutineMetadata,
    RoutineType,
    SchemaMetadata,
    Severity,
    TableMetadata,
    TableType,
    field_path,
    qualified_name,
    split_field_path,
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


# Nested fields ----------------------------------------------------------------------------------


def _field(name: str, ordinal: int = 1, **extra) -> ColumnMetadata:
    return ColumnMetadata(name=name, ordinal=ordinal, native_type=extra.pop("t", "string"), **extra)


def _nested_table() -> TableMetadata:
    """STRUCT<a: INT, b: ARRAY<STRUCT<c: STRING>>>, a map of structs, and awkward names."""
    b = _field(
        "b",
        2,
        t="array<struct<c:string>>",
        data_type=DataType.ARRAY,
        children=[_field("c")],
    )
    s = _field(
        "s", 1, t="struct<...>", data_type=DataType.STRUCT, children=[_field("a", 1, t="int"), b]
    )
    m = _field(
        "m",
        2,
        t="map<string,struct<x:int>>",
        data_type=DataType.MAP,
        children=[_field("x", 1, t="int")],
    )
    odd = _field(
        "a.b", 3, t="struct<...>", data_type=DataType.STRUCT, children=[_field('x[]"y', 1)]
    )
    return TableMetadata(database="db", name="t", columns=[s, m, odd])


def test_every_nested_field_has_a_path_its_parent_path_and_depth():
    fields = [(path, parent, depth) for path, parent, depth, _ in _nested_table().iter_fields()]
    assert fields == [
        ("s", None, 0),
        ("s.a", "s", 1),
        ("s.b", "s", 1),
        ("s.b[].c", "s.b", 2),
        ("m", None, 0),
        ("m{}.x", "m", 1),
        ('"a.b"', None, 0),
        ('"a.b"."x[]""y"', '"a.b"', 1),
    ]
    struct = _nested_table().columns[0]
    assert (struct.repeated, struct.children[1].repeated) == (False, True)  # an ARRAY repeats


def test_field_paths_split_back_into_their_steps_whatever_the_names_hold():
    for path, _, _, field in _nested_table().iter_fields():
        steps = split_field_path(path)
        assert steps[-1][0] == field.name
        rebuilt = None
        marker = ""
        for name, next_marker in steps:
            rebuilt = field_path(rebuilt, marker, name)
            marker = next_marker
        assert rebuilt == path


@pytest.mark.parametrize("bad", ["", "a.", ".a", "a..b", '"open', "a[]", "a b", "a[].", "a]"])
def test_malformed_field_paths_are_refused_with_the_offset(bad):
    with pytest.raises(FieldPathError, match=r"field path|offset|quote"):
        split_field_path(bad)


def test_duplicate_sibling_fields_are_refused_at_any_level():
    with pytest.raises(ValidationError, match="duplicate field name 'c' among siblings"):
        TableMetadata(
            database="db",
            name="t",
            columns=[
                _field(
                    "s",
                    data_type=DataType.STRUCT,
                    children=[
                        _field(
                            "b", data_type=DataType.ARRAY, children=[_field("c"), _field("c", 2)]
                        )
                    ],
                )
            ],
        )
    with pytest.raises(ValidationError, match="duplicate field name 'x' among siblings"):
        TableMetadata(database="db", name="t", columns=[_field("x"), _field("x", 2)])


def test_fields_nested_deeper_than_the_limit_are_refused_clearly():
    from metadata_pipelines.models import MAX_FIELD_DEPTH

    field = _field("leaf")
    for level in range(MAX_FIELD_DEPTH - 1):
        field = _field(f"f{level}", data_type=DataType.STRUCT, children=[field])
    table = TableMetadata(database="db", name="t", columns=[field])  # exactly at the limit
    assert max(depth for _, _, depth, _ in table.iter_fields()) == MAX_FIELD_DEPTH - 1
    with pytest.raises(ValidationError, match=f"nested deeper than {MAX_FIELD_DEPTH} levels"):
        for level in range(MAX_FIELD_DEPTH, MAX_FIELD_DEPTH + 2):
            field = _field(f"f{level}", data_type=DataType.STRUCT, children=[field])


def test_a_field_made_its_own_descendant_stops_the_walk_instead_of_looping():
    inner = _field("inner", data_type=DataType.STRUCT, children=[_field("x")])
    outer = _field("outer", data_type=DataType.STRUCT, children=[inner])
    inner.children = (outer,)  # a cycle is only possible by mutating after validation
    table = TableMetadata.model_construct(database="db", name="t", columns=[outer])
    with pytest.raises(ValueError, match="nested deeper than"):
        list(table.iter_fields())


def test_nested_fields_redact_secret_looking_properties_too():
    table = TableMetadata(
        database="db",
        name="t",
        columns=[
            _field(
                "s",
                data_type=DataType.STRUCT,
                children=[_field("c", properties={"api_key": "k", "unit": "m"})],
            )
        ],
    )
    assert table.columns[0].children[0].properties == {"api_key": REDACTED, "unit": "m"}


def test_inferred_fields_carry_presence_and_type_shares():
    field = _field(
        "age",
        t="int|string",
        inference=FieldInference(
            sample_size=1000,
            presence=0.98,
            types=[
                ObservedType(native_type="int", data_type=DataType.INTEGER, share=0.9),
                ObservedType(native_type="string", data_type=DataType.STRING, share=0.1),
            ],
        ),
    )
    assert field.inference is not None and field.inference.presence == 0.98
    with pytest.raises(ValidationError, match="share"):
        ObservedType(native_type="int", share=1.5)
    with pytest.raises(ValidationError, match="presence"):
        FieldInference(sample_size=10, presence=-0.1)


def test_non_relational_assets_are_tables_and_containers_of_their_own_kind():
    topic = TableMetadata(database="prod-cluster", name="orders", table_type=TableType.TOPIC)
    collection = TableMetadata(database="shop", name="carts", table_type=TableType.COLLECTION)
    files = TableMetadata(database="lake", name="events", table_type=TableType.FILE_DATASET)
    assert {t.table_type.asset_type for t in (topic, collection, files)} == {AssetType.TABLE}
    bucket = DatabaseMetadata(name="lake", container_type=ContainerType.BUCKET)
    dataset = SchemaMetadata(database="proj", name="sales", container_type=ContainerType.DATASET)
    assert (bucket.container_type, dataset.container_type) == ("bucket", "dataset")


def test_batches_gather_into_one_result_with_the_status_of_the_whole():
    batches = [
        ExtractionBatch(databases=[DatabaseMetadata(name="a")], tables=[_table()]),
        ExtractionBatch(
            databases=[DatabaseMetadata(name="b")],
            errors=[ExtractionError(scope=("b",), message="denied")],
        ),
    ]
    result = ExtractionResult.from_batches("x", STARTED, batches)
    assert [d.name for d in result.databases] == ["a", "b"]
    assert result.status is ExtractionStatus.PARTIAL
    assert result.as_batch().tables == result.tables
