"""The readable key that names a data source where people pick one: `<tenant>/<name>`, slugged.

Dagster shows each data source's partition key in the partition bar, the Launchpad, run headers and
the backfill dialog, so the key is what a person reads and types there (`acme/finance-db`), not the
source's UUID. Rules:

- Fixed when the source is created and never changed afterwards: a rename keeps the key, so the
  source's Dagster history (runs, partition status, backfills) stays attached to it.
- Unique across all tenants (a unique column): the tenant is part of the key, and when the slugs of
  two sources meet (`Finance DB` and `finance.db`, or a new source named like the old name of a
  renamed one) the later source gets `-<first 8 hex digits of its id>` appended.
- Only `a-z 0-9 _ -` and one `/`. Dagster itself refuses `...` and control characters in partition
  keys, and its UI gives `, [ ] . * " \\` a meaning in the partition-selection text (lists, ranges,
  wildcards, quoting): a key without them can be typed there as it is shown. Accents and other
  scripts are transliterated (`Données` -> `donnees`) by python-slugify.

The catalog knows nothing of Dagster: this is one more column of `data_sources`; the orchestration
package uses it as the partition key.
"""

from __future__ import annotations

from slugify import slugify

TENANT_CHARS = 40
NAME_CHARS = 60
SUFFIX_CHARS = 8
# At most 40 + 1 + 60 + 1 + 36 = 138 characters (with the whole-id fallback): data_sources holds 160.
_DISALLOWED = r"[^a-z0-9_-]+"


def _slug(text: str, max_length: int, empty: str) -> str:
    slug = slugify(text, max_length=max_length, regex_pattern=_DISALLOWED, separator="-")
    return slug or empty


def base_key(tenant_id: str, name: str) -> str:
    """The key a source gets when no other source holds it already."""
    return f"{_slug(tenant_id, TENANT_CHARS, 'tenant')}/{_slug(name, NAME_CHARS, 'source')}"


def candidate_keys(tenant_id: str, name: str, data_source_id: str) -> tuple[str, str, str]:
    """The keys to try, in order: the base key, with a short id suffix, with the whole id.

    The whole id (unique by construction) only matters if two sources' ids share their first eight
    hex digits and their names slug alike, so the third candidate never fails.
    """
    base = base_key(tenant_id, name)
    short = data_source_id.replace("-", "")[:SUFFIX_CHARS]
    return base, f"{base}-{short}", f"{base}-{data_source_id}"
