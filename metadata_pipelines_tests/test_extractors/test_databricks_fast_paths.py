"""The Databricks connector's fast paths behave exactly like the slow ones they replaced.

JSON bodies go through pydantic-core's parser with `json.loads` as the fallback, a page of tables is
validated straight from its bytes, columns are validated as TypedDicts, the cyclic GC is kept off
what an extraction builds, the next page is requested while the current one is mapped, and the fake
can serve cached bodies in benchmarks: each is checked here against what the plain path does.
"""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from contextlib import aclosing

import pytest

from metadata_pipelines.extractors.databricks.client import UnityCatalogClient, decode_json
from metadata_pipelines.extractors.databricks.config import DatabricksCredentials
from metadata_pipelines.extractors.databricks.gc_shield import GcShield
from metadata_pipelines.extractors.databricks.mapper import (
    TableInfo,
    map_table,
    parse,
    read_tables_page,
)
from metadata_pipelines.extractors.errors import SourceResponseError
from metadata_pipelines.models import DataType, ExtractionStatus
from metadata_pipelines_tests.fakes.unity_catalog_server import FakeUnityCatalog, Fault, column
from metadata_pipelines_tests.test_extractors.databricks_support import (
    TOKEN,
    extractor,
    in_schema,
    populate,
    run,
)

UC = "/api/2.1/unity-catalog"
TABLES = f"{UC}/tables"


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": [1, 2.5, "x", null, true], "b": {"c": 123456789012345678901234567890}}',
        b'\xef\xbb\xbf{"a": 1}',  # UTF-8 BOM: json.loads accepts it, pydantic-core does not
        '{"a": 1}'.encode("utf-16"),
        b'{"a": "\\ud800"}',  # a lone surrogate
        b'{"a": NaN, "b": -Infinity}',
    ],
)
def test_decode_json_accepts_what_json_loads_accepts(body: bytes) -> None:
    decoded, expected = decode_json(body), json.loads(body)
    assert json.dumps(decoded) == json.dumps(expected)


@pytest.mark.parametrize("body", [b"", b"<html>Sign in</html>", b'{"a": 1} trailing', b"\xff"])
def test_decode_json_refuses_what_json_loads_refuses(body: bytes) -> None:
    with pytest.raises(ValueError):
        decode_json(body)


def test_a_page_with_a_byte_order_mark_is_still_read(fake: FakeUnityCatalog) -> None:
    populate(fake)
    fake.add_fault(
        Fault(path=f"{UC}/catalogs", status=200, body=b'\xef\xbb\xbf{"catalogs": []}', times=1)
    )
    result = run(extractor(fake).extract_metadata())
    assert result.status is ExtractionStatus.SUCCESS
    assert (result.databases, result.errors) == ([], [])


def test_building_pauses_the_collector_and_restores_it_even_on_error() -> None:
    assert gc.isenabled()
    with GcShield() as shield:
        with shield.building():
            assert not gc.isenabled()
            with shield.building():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the inner block found it off and left it off
        assert gc.isenabled()
        with pytest.raises(RuntimeError), shield.building():
            raise RuntimeError("boom")
        assert gc.isenabled()


def test_a_collector_someone_else_disabled_stays_off() -> None:
    gc.disable()
    try:
        with GcShield() as shield, shield.building():
            assert not gc.isenabled()
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_what_a_batch_keeps_is_frozen_until_the_shield_closes_and_nothing_leaks() -> None:
    assert gc.get_freeze_count() == 0
    with GcShield() as shield:
        with shield.building():
            kept, freed, cycle = Node(), Node(), Node()
            cycle.other = Node()
            cycle.other.other = cycle  # garbage only a collection can free
        assert gc.get_freeze_count() > 0  # out of every collection's way
        watch = weakref.ref(freed), weakref.ref(cycle)
        del freed, cycle
        assert watch[0]() is None  # reference counting still frees frozen objects
        gc.collect()
        assert watch[1]() is not None  # a frozen cycle waits...
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert watch[1]() is None  # ...and is collected once the shield closes
    assert isinstance(kept, Node)


def test_objects_someone_else_froze_stay_frozen() -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    try:
        with GcShield() as shield:
            assert not shield.freezes
            with shield.building():
                Node()
            # Frozen objects may still die (other threads, finalizers), so the count can only fall
            # by those; an unfreeze would empty it, a freeze of our own would raise it.
            assert 0 < gc.get_freeze_count() <= frozen
        assert 0 < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()


def test_an_extraction_leaves_the_collector_as_it_found_it(fake: FakeUnityCatalog) -> None:
    populate(fake)
    result = run(extractor(fake).extract_metadata())
    assert result.status is ExtractionStatus.SUCCESS and len(result.tables) == 5
    assert gc.isenabled() and gc.get_freeze_count() == 0


# -- a page of tables read straight from its bytes -----------------------------------------------


def test_a_page_read_in_one_pass_equals_one_parsed_table_by_table() -> None:
    tables = [
        {"name": "t", "catalog_name": "c", "schema_name": "s", "table_type": "MANAGED",
         "created_at": 1_700_000_000_000, "properties": {"k": "v"}, "unknown": [1, 2],
         "columns": [{"name": "a", "type_name": "LONG", "position": 0, "partition_index": 0}]},
        {"name": "v", "catalog_name": "c", "schema_name": "s", "table_type": "VIEW",
         "view_definition": "SELECT 1", "view_dependencies": {"dependencies": []}},
    ]  # fmt: skip
    page = read_tables_page(json.dumps({"tables": tables, "next_page_token": "x"}).encode())
    assert page["next_page_token"] == "x"
    assert page["tables"] == [parse(TableInfo, raw, "listing") for raw in tables]
    assert [map_table(t) for t in page["tables"]] == [
        map_table(parse(TableInfo, raw, "listing")) for raw in tables
    ]


# -- pagination overlaps the caller's work with the next request --------------------------------


async def first_page_then_pause(fake: FakeUnityCatalog) -> tuple[int, int]:
    async with UnityCatalogClient(fake.url, DatabricksCredentials(access_token=TOKEN)) as client:
        pages = client.paginate(
            f"{UC}/tables", {"catalog_name": "main", "schema_name": "sales"}, "tables", what="x"
        )
        async with aclosing(pages):
            await anext(pages)
            sent_before = len(fake.requests)
            for _ in range(100):  # the caller is busy; the next page is already on its way
                await asyncio.sleep(0.01)
                if len(fake.requests) > sent_before:
                    break
            return sent_before, len(fake.requests)


def test_the_next_page_is_requested_while_the_caller_works_on_this_one(
    fake: FakeUnityCatalog,
) -> None:
    populate(fake)  # main.sales has 3 tables: 2 pages of 2
    assert run(first_page_then_pause(fake)) == (1, 2)


async def abandon_after_first_page(fake: FakeUnityCatalog) -> set[asyncio.Task[object]]:
    async with UnityCatalogClient(fake.url, DatabricksCredentials(access_token=TOKEN)) as client:
        pages = client.paginate(
            f"{UC}/tables", {"catalog_name": "main", "schema_name": "sales"}, "tables", what="x"
        )
        async with aclosing(pages):
            await anext(pages)
        return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


def test_an_abandoned_listing_leaves_no_request_behind(fake: FakeUnityCatalog) -> None:
    populate(fake)
    fake.add_fault(Fault(path=TABLES, status=404, when=lambda r: "page_token" in r.query))
    assert run(abandon_after_first_page(fake)) == set()


def test_a_restarted_listing_reports_a_malformed_table_once(fake: FakeUnityCatalog) -> None:
    populate(fake)
    table = {"catalog_name": "main", "schema_name": "hr", "table_type": "MANAGED"}
    first_page = {"tables": [{**table, "name": "bad", "columns": "id int"}, {**table, "name": "ok"}],
                  "next_page_token": "next"}  # fmt: skip
    gone = {"error_code": "TABLE_DOES_NOT_EXIST", "message": "gone"}
    for fault in [
        Fault(path=TABLES, status=200, body=first_page, times=None, when=in_schema("hr", False)),
        Fault(path=TABLES, status=404, body=gone, when=in_schema("hr", True)),
        Fault(path=TABLES, status=200, body={"tables": [{**table, "name": "zz"}]}, times=None,
              when=in_schema("hr", True)),
    ]:  # fmt: skip
        fake.add_fault(fault)
    result = run(extractor(fake).extract_metadata())
    assert [(e.scope, e.code) for e in result.errors] == [
        (("main", "hr"), "listing_restarted"),
        (("main", "hr", "bad"), "malformed_response"),
    ]
    assert {"main.hr.ok", "main.hr.zz"} <= {".".join(t.path) for t in result.tables}


def test_columns_ignore_unknown_keys_and_keep_the_known_ones() -> None:
    info = TableInfo.model_validate(
        {
            "name": "t",
            "catalog_name": "c",
            "schema_name": "s",
            "columns": [
                {
                    "name": "a",
                    "type_name": "long",  # lower case: normalized like upper case
                    "type_text": "bigint",
                    "position": 0,
                    "mask": {"function_name": "f"},  # hosted-service field, not in the spec
                    "type_precision": None,
                },
            ],
        }
    )
    assert info.columns == [
        {"name": "a", "type_name": "long", "type_text": "bigint", "position": 0,
         "type_precision": None}
    ]  # fmt: skip
    (mapped,) = map_table(info).columns
    assert (mapped.name, mapped.ordinal, mapped.native_type) == ("a", 1, "bigint")
    assert (mapped.data_type, mapped.nullable, mapped.comment) == (DataType.INTEGER, True, None)
    assert mapped.properties == {"type_name": "long"}


def test_a_column_without_type_or_position_falls_back_like_before() -> None:
    info = TableInfo.model_validate(
        {"name": "t", "catalog_name": "c", "schema_name": "s",
         "columns": [{"name": "b", "position": 3}, {"name": "a", "position": -1, "comment": ""}]}
    )  # fmt: skip
    first, second = map_table(info).columns
    assert (first.name, first.ordinal, first.native_type, first.data_type) == (
        "a", 2, "unknown", DataType.UNKNOWN,
    )  # fmt: skip
    assert first.comment is None and first.properties == {}
    assert (second.name, second.ordinal) == ("b", 4)


@pytest.mark.parametrize(
    ("column_value", "problem"),
    [
        ({"name": "a", "nullable": None}, "columns.0.nullable: Input should be a valid boolean"),
        ({"name": "a", "position": "first"}, "columns.0.position: Input should be a valid integer"),
        ({"type_name": "LONG"}, "columns.0.name: Field required"),
        ("a", "columns.0: Input should be a valid dictionary"),
    ],
)
def test_a_wrong_column_shape_is_a_readable_error(column_value, problem: str) -> None:
    raw = {"name": "t", "catalog_name": "c", "schema_name": "s", "columns": [column_value]}
    with pytest.raises(SourceResponseError) as caught:
        parse(TableInfo, raw, "listing tables")
    assert str(caught.value).startswith("listing tables: unexpected TableInfo shape (")
    assert problem in str(caught.value)


def cached_fake() -> FakeUnityCatalog:
    fake = FakeUnityCatalog(tokens={TOKEN}, tables_page_size=2, cache_bodies=True)
    populate(fake)
    return fake.start()


def test_cached_bodies_give_the_same_result_and_requests_as_fresh_ones(
    fake: FakeUnityCatalog,
) -> None:
    populate(fake)
    fresh = run(extractor(fake).extract_metadata())
    cached = cached_fake()
    try:
        first = run(extractor(cached).extract_metadata())
        second = run(extractor(cached).extract_metadata())  # served from the cache
        assert cached.violations == []
    finally:
        cached.stop()
    dump = {"started_at", "finished_at"}
    assert (
        fresh.model_dump_json(exclude=dump)
        == first.model_dump_json(exclude=dump)
        == second.model_dump_json(exclude=dump)
    )
    assert len(cached.requests) == 2 * len(fake.requests)
    assert cached.paths() == fake.paths() + fake.paths()


def test_cached_bodies_follow_changes_and_faults_still_apply() -> None:
    fake = cached_fake()
    try:
        run(extractor(fake).extract_metadata())
        fake.add_table("main", "hr", "teams", [column("id", "LONG", 0)])
        fake.drop_table("main", "sales", "customers")
        fake.add_fault(Fault(path=f"{UC}/tables", status=429, headers={"Retry-After": "0"}))
        result = run(extractor(fake).extract_metadata())
    finally:
        fake.stop()
    assert result.status is ExtractionStatus.SUCCESS
    assert [".".join(t.path) for t in result.tables] == [
        "archive.old.t",
        "main.hr.people",
        "main.hr.teams",
        "main.sales.big_orders",
        "main.sales.orders",
    ]
    assert fake.faults[0].hits == 1
