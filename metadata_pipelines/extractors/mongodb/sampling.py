"""How a collection is sampled, and how the shares seen in the sample are stored.

One aggregation per collection, bounded by `schema_sample_size` and `maxTimeMS`, never a full scan:
- a collection no larger than the sample is read whole (`$limit`): the sample is the collection;
- `newest` (the default): `$sort` on `_id` descending then `$limit`, walked on the `_id` index;
- `random`: `$sample` (WiredTiger's random cursor when the sample is under 5% of the collection);
- a view, or a time-series collection (no `_id` index), in `newest` mode: `$limit` in their natural
  order (a sort there would be a blocking sort over everything).

Deterministic schemas: an unchanged collection must yield an unchanged schema, so a re-sync writes
nothing. `newest`, whole reads and natural-order reads pick the same documents while the collection
is unchanged; field order does not depend on the sample (fields are ordered by name); and shares
are stored in buckets (`bucketed_share`), so a collection that keeps changing moves a field's row
only when a share crosses a bucket, not on every insert. `random` sampling picks other documents on
every sync: the bucketed shares usually hold, but a field seen in very few documents may appear and
disappear, and a share near a bucket edge may flip; use `newest` where change history matters.
"""

from __future__ import annotations

from typing import Any, Literal

Method = Literal["all", "newest", "random", "natural"]


def sampling_pipeline(
    mode: Literal["newest", "random"], size: int, count: int | None, kind: str
) -> tuple[list[dict[str, Any]], Method]:
    """The aggregation pipeline that samples a collection, and the method it uses."""
    if count is not None and count <= size and kind != "view":
        return [{"$limit": size}], "all"
    if kind in ("view", "timeseries") and mode == "newest":
        return [{"$limit": size}], "natural"
    if mode == "random":
        return [{"$sample": {"size": size}}], "random"
    return [{"$sort": {"_id": -1}}, {"$limit": size}], "newest"


def bucketed_share(count: int, total: int) -> float:
    """`count / total` in buckets: exact at 0 and 1, steps of 0.01 below 0.1 and above 0.9 (so a
    field in 2% of documents reads 0.02 and one missing from a few reads 0.99), of 0.05 between.
    A field seen at all never reads 0, one missing from any document never reads 1."""
    if total <= 0 or count <= 0:
        return 0.0
    if count >= total:
        return 1.0
    share = count / total
    step = 0.01 if share < 0.1 or share > 0.9 else 0.05
    return min(max(round(round(share / step) * step, 2), 0.01), 0.99)
