"""`PercentileCont(expr, fraction)`: the continuous percentile, computed by the database.

PostgreSQL runs its ordered-set aggregate `percentile_cont(f) WITHIN GROUP (ORDER BY x)`.
SQLite has no percentile aggregate, so on SQLite connections we install one with the same
definition (linear interpolation between the two nearest ranks, NULLs ignored): the engine
feeds it the values of each group while it executes the GROUP BY, so reports never fetch rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.backends.signals import connection_created
from django.db.models import Aggregate, F, FloatField, Func, Value

SQLITE_FUNCTION = "hm_percentile_cont"


class PercentileCont(Aggregate):
    """percentile_cont(fraction) over `expression`; NULL for a group without values."""

    function = "percentile_cont"
    name = "PercentileCont"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must lie in [0, 1]")
        # A literal of our own (never user input), rendered in the SQL text as the standard
        # requires the fraction of an ordered-set aggregate to be constant per group.
        super().__init__(expression, fraction=repr(float(fraction)), **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            function=SQLITE_FUNCTION,
            template="%(function)s(%(expressions)s, %(fraction)s)",
            **extra,
        )


class MinutesSince(Func):
    """Minutes from a stored timestamp column to an instant, computed by the database."""

    output_field = FloatField()

    def __init__(self, column: str, instant: datetime) -> None:
        super().__init__(Value(instant), F(column))  # instant - column

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM (%(expressions)s)) / 60.0",
            arg_joiner=" - ", **extra,
        )  # fmt: skip

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # SQLite keeps timestamps as ISO text: julianday() reads them, to the microsecond.
        instant, column = self.source_expressions
        i_sql, i_params = compiler.compile(instant)
        c_sql, c_params = compiler.compile(column)
        return f"((julianday({i_sql}) - julianday({c_sql})) * 1440.0)", [*i_params, *c_params]


class _SqlitePercentileCont:
    """SQLite aggregate with PostgreSQL's percentile_cont semantics."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value: float | None, fraction: float) -> None:
        self.fraction = fraction
        if value is not None:
            self.values.append(float(value))

    def finalize(self) -> float | None:
        return percentile_cont(self.values, self.fraction)


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """PostgreSQL's definition: the value at rank 1 + f*(n - 1), interpolated linearly."""
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def _on_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate(SQLITE_FUNCTION, 2, _SqlitePercentileCont)


def install() -> None:
    """Register the SQLite aggregate on every new connection (and on one already open)."""
    connection_created.connect(_on_connection, dispatch_uid="hm_reports_percentile")
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.vendor == "sqlite" and conn.connection is not None:
            _on_connection(None, conn)


# --- Exact percentiles by rank, through an index ordered by the value (PostgreSQL) -------------


@dataclass(frozen=True)
class Population:
    """Where a percentile's values are: a fact table's `value` column among the rows matching
    `where` (SQL over our own columns, values as params), split into groups by `key` (an SQL
    expression of the table; None: one group) whose sizes the day rollups give."""

    table: str
    value: str
    where: str
    params: tuple[Any, ...]
    key: str | None = None
    key_type: str = "text"


Buckets = tuple[tuple[float, int], ...]  # (lower edge, how many values) per bucket, ascending


def percentiles_by_rank(
    population: Population,
    counts: dict[Any, int],
    fractions: tuple[float, ...],
    buckets: dict[Any, Buckets] | None = None,
) -> dict[tuple[Any, float], float]:
    """percentile_cont of each group for each fraction, exactly, without sorting the groups.

    percentile_cont(f) over n values is v[lo] + (r - lo) * (v[lo + 1] - v[lo]) with
    r = f * (n - 1), lo = floor(r), v sorted. Knowing n (the rollups count the values), the
    database walks an index ordered by the value to the lo-th one of each group (OFFSET in a
    LATERAL subquery) and interpolates: the same figure as sorting every row of the period.

    A group's histogram in `buckets` (the counts of its values per bucket [edge, next edge),
    the first bucket also holding everything below its edge, the last everything above)
    narrows the walk to the bucket that holds rank lo; without one the group is one bucket.
    The walk starts from the bucket's nearer end (a p90 walks down from the top), skipping
    what lies beyond that end: it reads at most half of one bucket's values."""
    up: list[tuple[Any, ...]] = []
    down: list[tuple[Any, ...]] = []
    for key, n in counts.items():
        histogram = (buckets or {}).get(key) or ((-math.inf, n),)
        for fraction in fractions if n > 0 else ():
            rank = fraction * (n - 1)
            lo, f = math.floor(rank), rank - math.floor(rank)
            take = 2 if f > 0 else 1  # v[lo] alone when it falls on a rank
            low, high, below, size = bucket_of_rank(histogram, lo)
            # From the top, v[lo + take - 1] is the (below + size - lo - take)-th value down
            # from the bucket's upper edge (negative: v[lo + 1] lies in the next bucket).
            skip_up, skip_down = lo - below, below + size - lo - take
            if 0 <= skip_down < skip_up:
                down.append((key, fraction, _under(high), skip_down, take, f))
            else:
                up.append((key, fraction, low, skip_up, take, f))
    walks = [
        _walk(population, wanted, descending=descending)
        for wanted, descending in ((up, False), (down, True))
        if wanted
    ]
    if not walks:
        return {}
    with connection.cursor() as cursor:  # both directions in one statement
        cursor.execute(" UNION ALL ".join(sql for sql, _ in walks),
                       [param for _, params in walks for param in params])  # fmt: skip
        return {(key, fraction): value for key, fraction, value in cursor.fetchall()}


def bucket_of_rank(histogram: Buckets, rank: int) -> tuple[float, float, int, int]:
    """The bucket holding the `rank`-th value (from 0): its lower and upper edge (-inf for the
    first bucket's lower, +inf for the last's upper), how many values lie below it and in it."""
    below = 0
    for index, (edge, n) in enumerate(histogram):
        if rank < below + n:
            low = -math.inf if index == 0 else edge
            high = histogram[index + 1][0] if index + 1 < len(histogram) else math.inf
            return low, high, below, n
        below += n
    raise ValueError(f"rank {rank} beyond the {below} values of the histogram")


def _under(edge: float) -> float:
    """The largest float below `edge`: `value <= _under(edge)` is `value < edge`."""
    return edge if edge == math.inf else math.nextafter(edge, -math.inf)


def _walk(
    p: Population, wanted: list[tuple[Any, ...]], *, descending: bool
) -> tuple[str, list[Any]]:
    """The walks of one direction: (key, fraction, figure) rows, as SQL and parameters."""
    grouped = f"AND {p.key} = g.k" if p.key is not None else ""
    # Ordered by the key too (constant within a group): only the group's own index gives that
    # order, so the planner cannot walk the facility-wide one filtering another group out.
    way = " DESC" if descending else ""
    order = f"{p.key}{way}, {p.value}{way}" if p.key is not None else f"{p.value}{way}"
    # The walk starts at g.bound: a bucket's lower edge going up, just under its upper edge
    # going down (-/+ infinity: the group's ends).
    bound = f"{p.value} <= g.bound" if descending else f"{p.value} >= g.bound"
    sql = (
        "(SELECT g.k, g.fraction, x.v[1] + g.f * (COALESCE(x.v[2], x.v[1]) - x.v[1]) "  # noqa: S608
        # One array per column (six parameters, whatever the number of groups: a VALUES list
        # of 365 days took longer to parse than to run).
        f"FROM unnest(%s::{p.key_type}[], %s::float8[], %s::float8[], %s::bigint[], "
        "%s::bigint[], %s::float8[]) AS g(k, fraction, bound, skip, take, f) "
        "CROSS JOIN LATERAL (SELECT array_agg(s.v ORDER BY s.v) AS v FROM ("
        f"SELECT {p.value} AS v FROM {p.table} WHERE {p.where} AND {p.value} IS NOT NULL "
        f"AND {bound} {grouped} ORDER BY {order} OFFSET g.skip LIMIT g.take) AS s) AS x)"
    )
    keys, fractions, bounds, skips, takes, fs = zip(*wanted, strict=True)
    columns = [keys, *((float(v) for v in c) for c in (fractions, bounds)),
               *((int(v) for v in c) for c in (skips, takes)), (float(v) for v in fs)]  # fmt: skip
    return sql, [*(_array_literal(column) for column in columns), *p.params]


def _array_literal(values: Any) -> str:
    """An array as PostgreSQL's text form, cast by the statement: the driver's per-element
    adaptation of a 365-day list cost more than the walk's index reads. Every element is
    quoted and escaped (keys are text too); floats by repr, exact and 'inf' for infinity."""
    quoted = (str(v).replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'"{v}"' for v in quoted) + "}"
