"""Every table of the lakehouse in one place: its declaration (columns and contract), its role,
the step that writes it, and the tables it reads.

The asset specs and their dependencies, the engines' table sets, the contract checks and the
rules all derive from ``ENTRIES``: adding a table is one declaration (in ``tables``,
``rollup_tables`` or ``checkpoint_tables``) and one entry here. Order matters where a step
writes several tables: the date dimension comes first (every other dimension row's
``effective_date_key`` refers to it), the checkpoint last (a day's facts before its state).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from retail_assets import rollup_tables, tables
from retail_assets.checkpoint_tables import CHECKPOINT_PARTS
from retail_assets.table_model import Table


class Role(enum.Enum):
    DIMENSION = "dimension"  # rows effective from a day on (SCD2): customers acquired, products launched
    CHAIN_FACT = "chain fact"  # what happened on the day, simulated from the day before's state
    CHECKPOINT_PART = "checkpoint part"  # the state at the end of the day: what the next day starts from
    ROLLUP = "rollup"  # aggregates of the day's facts (and the weeks and months they touch)
    INSIGHT = "insight"  # per customer x product, over a trailing window of facts


class Reads(enum.Enum):
    """Which days of an upstream table a day's rows are computed from."""

    SAME_DAY = "the same day"
    TRAILING_DAYS = "the same day and the days before it"


# The steps (Dagster multi-assets) that write the tables, in the order a run executes them.
DIMENSIONS_STEP, CHAIN_STEP, ROLLUPS_STEP, INSIGHTS_STEP = "world_dimensions", "daily_chain", "rollups", "customer_insights"
CHECKPOINT_ASSET = "inventory_checkpoint"  # one asset for the six checkpoint tables
CONTRACT_CHECK = "contract"  # a table's contract check (a checkpoint part's: contract_<part>)


@dataclass(frozen=True)
class Upstream:
    table: str
    reads: Reads = Reads.SAME_DAY


@dataclass(frozen=True)
class Entry:
    declaration: Table
    role: Role
    step: str
    upstream: tuple[Upstream, ...] = ()
    day_tables_field: str | None = None  # chain facts: the DayTables field holding the day's rows
    checkpoint_part: str | None = None  # checkpoint parts: the core's name of the part

    @property
    def name(self) -> str:
        return self.declaration.name

    @property
    def asset(self) -> str:
        """The Dagster asset the table belongs to (the checkpoint's parts share one)."""
        return CHECKPOINT_ASSET if self.role is Role.CHECKPOINT_PART else self.name

    @property
    def contract_blocks_downstream(self) -> bool:
        """What the simulation writes stops the run when it breaks its contract; an aggregate
        that does only warns (the facts it was computed from are sound)."""
        return self.role in (Role.DIMENSION, Role.CHAIN_FACT, Role.CHECKPOINT_PART)

    @property
    def contract_check(self) -> str:
        """The name of the table's contract check on its asset (one per part on the checkpoint)."""
        if self.role is not Role.CHECKPOINT_PART or self.name == CHECKPOINT_ASSET:
            return CONTRACT_CHECK
        return f"{CONTRACT_CHECK}_{self.name.removeprefix(CHECKPOINT_ASSET + '_')}"


_DIMENSIONS = (tables.GOLD_DATE_DIM, tables.GOLD_CUSTOMER_DIM, tables.GOLD_PRODUCT_DIM, tables.GOLD_LOCATION_DIM,
               tables.GOLD_CHANNEL_DIM, tables.GOLD_TIME_DIM)
_ON_THE_DAYS_DIMENSIONS = tuple(Upstream(d.name) for d in _DIMENSIONS)
_CHAIN_FACTS = {
    tables.GOLD_SALES_FACT: "sales",
    tables.GOLD_LOST_SALES_FACT: "lost_sales",
    tables.GOLD_INVENTORY_FACT: "inventory",
    tables.GOLD_STOCKOUT_EVENTS: "stockout_events",
    tables.GOLD_INVENTORY_MOVEMENT_FACT: "movements",
    tables.GOLD_DEMAND_FORECAST_FACT: "demand_forecasts",
    tables.GOLD_CART_ABANDONMENT_FACT: "cart_abandonments",
    tables.GOLD_CUSTOMER_EVENT_FACT: "customer_events",
}
_ROLLUPS = (rollup_tables.GOLD_SALES_DAILY_AGG, rollup_tables.GOLD_INVENTORY_DAILY_AGG,
            rollup_tables.GOLD_SALES_WEEKLY_AGG, rollup_tables.GOLD_SALES_MONTHLY_AGG)
_INSIGHTS = (rollup_tables.GOLD_CUSTOMER_PRODUCT_AFFINITY_AGG, rollup_tables.GOLD_SIZE_FIT_BRIDGE)
_ROLLUP_UPSTREAM = tuple(Upstream(t.name) for t in (
    tables.GOLD_SALES_FACT, tables.GOLD_LOST_SALES_FACT, tables.GOLD_INVENTORY_FACT, tables.GOLD_PRODUCT_DIM))
_INSIGHT_UPSTREAM = (
    Upstream(tables.GOLD_SALES_FACT.name, Reads.TRAILING_DAYS),  # the affinity window; returns of earlier sales
    Upstream(tables.GOLD_CUSTOMER_EVENT_FACT.name, Reads.TRAILING_DAYS),
    Upstream(tables.GOLD_CUSTOMER_DIM.name, Reads.TRAILING_DAYS),
    Upstream(tables.GOLD_PRODUCT_DIM.name, Reads.TRAILING_DAYS),
)

ENTRIES: dict[str, Entry] = {entry.name: entry for entry in (
    *(Entry(d, Role.DIMENSION, DIMENSIONS_STEP) for d in _DIMENSIONS),
    *(Entry(t, Role.CHAIN_FACT, CHAIN_STEP, _ON_THE_DAYS_DIMENSIONS, day_tables_field=f)
      for t, f in _CHAIN_FACTS.items()),
    *(Entry(t, Role.CHECKPOINT_PART, CHAIN_STEP, _ON_THE_DAYS_DIMENSIONS, checkpoint_part=part)
      for part, t in CHECKPOINT_PARTS.items()),
    *(Entry(t, Role.ROLLUP, ROLLUPS_STEP, _ROLLUP_UPSTREAM) for t in _ROLLUPS),
    *(Entry(t, Role.INSIGHT, INSIGHTS_STEP, _INSIGHT_UPSTREAM) for t in _INSIGHTS),
)}
TABLES: dict[str, Table] = {name: entry.declaration for name, entry in ENTRIES.items()}


def entries(*roles: Role) -> tuple[Entry, ...]:
    return tuple(entry for entry in ENTRIES.values() if entry.role in roles)


def names(*roles: Role) -> tuple[str, ...]:
    return tuple(entry.name for entry in entries(*roles))


def step_entries(step: str) -> tuple[Entry, ...]:
    return tuple(entry for entry in ENTRIES.values() if entry.step == step)


def step_assets(step: str) -> tuple[str, ...]:
    """The Dagster assets of a step's tables, each once, in registry order."""
    return tuple(dict.fromkeys(entry.asset for entry in step_entries(step)))


def step_upstream(step: str) -> tuple[str, ...]:
    """The tables the step's tables read, each once, in registry order (its Dagster dependencies)."""
    read = {upstream.table for entry in step_entries(step) for upstream in entry.upstream}
    return tuple(name for name in ENTRIES if name in read)
