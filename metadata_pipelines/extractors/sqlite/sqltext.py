"""Reading the few facts SQLite keeps only inside CREATE statements.

View bodies and partial-index predicates are not exposed by any pragma, so they are cut out of the
stored SQL. A quote-aware mask (`_masked`) makes that safe for any identifier, however odd.
"""

from __future__ import annotations

import re


def _masked(sql: str) -> str:
    """`sql` with the inside of quotes, brackets and comments blanked, positions unchanged.

    Keywords, parentheses and commas found in the masked text are real syntax, so slicing the
    original at those positions is safe for any identifier, however odd.
    """
    out = list(sql)
    i, n = 0, len(sql)
    closers = {"'": "'", '"': '"', "`": "`", "[": "]"}
    while i < n:
        char = sql[i]
        if char in closers:
            close = closers[char]
            j = i + 1
            while j < n:
                if sql[j] == close:
                    if close != "]" and j + 1 < n and sql[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            for k in range(i + 1, min(j, n)):
                out[k] = "_"
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out[i:j] = " " * (j - i)
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out[i:j] = " " * (j - i)
            i = j
        else:
            i += 1
    return "".join(out)


def _depths(masked: str) -> list[int]:
    depth, depths = 0, []
    for char in masked:
        if char == ")":
            depth -= 1
        depths.append(depth)
        if char == "(":
            depth += 1
    return depths


def view_select(sql: str | None) -> str | None:
    """The SELECT of a CREATE VIEW statement: what follows its first top-level AS."""
    if not sql:
        return None
    masked = _masked(sql)
    depths = _depths(masked)
    for match in re.finditer(r"\bAS\b", masked, re.IGNORECASE):
        if depths[match.start()] == 0:
            return sql[match.end() :].strip().rstrip(";").strip() or None
    return None


_ORDER_SUFFIX = re.compile(r"(\s+COLLATE\s+\S+)?(\s+(ASC|DESC))?\s*$", re.IGNORECASE)


def index_parts(sql: str | None) -> tuple[list[str], str | None]:
    """(indexed terms as written, WHERE predicate) of a CREATE INDEX statement."""
    if not sql:
        return [], None
    masked = _masked(sql)
    depths = _depths(masked)
    on = next(
        (m for m in re.finditer(r"\bON\b", masked, re.IGNORECASE) if depths[m.start()] == 0), None
    )
    if on is None:
        return [], None
    opening = masked.find("(", on.end())
    if opening < 0:
        return [], None
    terms, start, closing_at = [], opening + 1, len(sql)
    for i in range(opening + 1, len(masked)):
        if depths[i] == 0 and masked[i] == ")":
            closing_at = i
            break
        if depths[i] == 1 and masked[i] == ",":
            terms.append((start, i))
            start = i + 1
    terms.append((start, closing_at))
    written = []
    for begin, end in terms:
        suffix = _ORDER_SUFFIX.search(masked[begin:end])
        stop = begin + suffix.start() if suffix else end
        written.append(sql[begin:stop].strip())
    rest = masked[closing_at + 1 :]
    where = re.search(r"\bWHERE\b", rest, re.IGNORECASE)
    predicate = None
    if where:
        predicate = sql[closing_at + 1 + where.end() :].strip().rstrip(";").strip() or None
    return written, predicate
