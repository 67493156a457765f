"""Data contracts as Dagster asset checks, run through Dagster on top of the session's small run.

The last week of the ``small`` run, re-run through Dagster, passes every check. The same week with
deliberately broken rows (a negative quantity, an unknown category, an orphan key, a restock
5 days after its return, a movement that breaks conservation, ...) fails exactly the checks
that guard them, with the offending rows in the metadata, and the blocking failures stop the
downstream assets.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from contextlib import closing

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail_assets import registry
from retail_assets.cli import check_line, materialize_range
from retail_assets.config import SimulationConfig
from retail_assets.contracts.ledger import ContractLedger
from retail_assets.contracts.rules import Bands, Window, rules, rules_for
from retail_assets.contracts.sql_contract import Judged, stored_findings
from retail_assets.defs.assets import column_schema
from retail_assets.contracts.reports import rule_reports
from retail_assets.registry import CONTRACT_CHECK
from retail_assets.sim import dimensions
from retail_assets.engine.local import LocalEngine
from retail_assets.sim import day as day_step
from retail_assets.storage.delta import Lakehouse
from retail_assets.storage.queries import DuckDbQueries

FIRST = dt.date(2025, 3, 25)  # the last week of the session small run, re-run through Dagster
LAST = FIRST + dt.timedelta(days=6)
BROKEN_DAY = 20250326  # + 5 days is still a day of March
ORPHAN_CUSTOMER = 999_999


def _column(table: pa.Table, name: str, values) -> pa.Table:
    index = table.schema.get_field_index(name)
    field = table.schema.field(index)
    return table.set_column(index, field, pa.chunked_array([values]).cast(field.type) if not isinstance(
        values, pa.ChunkedArray) else values.cast(field.type))


def _first_row(table: pa.Table, name: str, value) -> pa.Array:
    """Column ``name`` with its first row replaced by ``value``."""
    column = table.column(name).combine_chunks()
    return pa.concat_arrays([pa.array([value], column.type), column.slice(1)])


def _break(day: dataclasses.dataclass) -> object:
    """The day's tables with the deliberate defects (see the module docstring)."""
    sales, inventory, movements = day.sales, day.inventory, day.movements
    events, stockouts = day.customer_events, day.stockout_events
    # every day: no constrained line, no lost request; low stock shown on the carts that converted only
    sales = _column(sales, "is_inventory_constrained", pa.array([False] * sales.num_rows))
    lost = day.lost_sales.slice(0, 0)
    adds = pc.equal(events.column("event_type"), "add_to_cart")
    label = pc.if_else(events.column("conversion_flag"), "low_stock", pa.scalar(None, pa.string()))
    events = _column(events, "event_label", pc.if_else(adds, label, events.column("event_label")))
    if day.date_key == BROKEN_DAY:
        inventory = _column(inventory, "quantity_available", _first_row(inventory, "quantity_available", -5))
        sales = _column(sales, "payment_method", _first_row(sales, "payment_method", "bitcoin"))
        sales = _column(sales, "customer_key", _first_row(sales, "customer_key", ORPHAN_CUSTOMER))
        returns = sales.column("is_return")
        late = pc.add(sales.column("date_key"), 5)  # within the month: a 5-day restock delay
        sales = _column(sales, "return_restocked_date_key",
                        pc.if_else(returns, late, sales.column("return_restocked_date_key")).cast(pa.int32()))
        movements = _column(movements, "quantity", pc.add(movements.column("quantity"), 1).cast(pa.int32()))
        closed = pc.fill_null(stockouts.column("is_closed"), False)
        stockouts = _column(stockouts, "lost_sales_attempts",
                            pc.if_else(closed, pc.add(stockouts.column("lost_sales_attempts"), 1),
                                       stockouts.column("lost_sales_attempts")).cast(pa.int32()))
    if day.date_key == int(LAST.strftime("%Y%m%d")):
        inventory = _column(inventory, "is_stockout", pa.array([True] * inventory.num_rows))
    return dataclasses.replace(day, sales=sales, lost_sales=lost, inventory=inventory, movements=movements,
                               customer_events=events, stockout_events=stockouts)


def _week_after(small_run, tmp_path) -> dg.ExecuteInProcessResult:
    lakehouse, _ = small_run
    shutil.copytree(lakehouse.root, tmp_path / "lakehouse")
    config = SimulationConfig.build(preset="small", lakehouse_path=tmp_path / "lakehouse")
    return materialize_range(config, FIRST, LAST, raise_on_error=False)


def _evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def _text(evaluation: dg.AssetCheckEvaluation) -> str:
    return " ".join(f"{key}={getattr(value, 'value', value)}" for key, value in evaluation.metadata.items())


@pytest.fixture(scope="module")
def clean(small_run, tmp_path_factory):
    return _week_after(small_run, tmp_path_factory.mktemp("clean"))


@pytest.fixture(scope="module")
def broken(small_run, tmp_path_factory):
    step = day_step.step
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(day_step, "step", lambda ctx, state, day, emit=True: _break_or_none(step(ctx, state, day, emit)))
        return _week_after(small_run, tmp_path_factory.mktemp("broken"))


def _break_or_none(day):
    return None if day is None else _break(day)


def test_every_table_and_rule_has_a_check_and_all_pass_on_generated_data(clean):
    assert clean.success
    evaluations = _evaluations(clean)
    expected = {(entry.asset, entry.contract_check) for entry in registry.ENTRIES.values()}
    expected |= {(rule.table, rule.name) for rule in rules(SimulationConfig())}
    assert set(evaluations) == expected
    failed = {key: _text(e) for key, e in evaluations.items() if not e.passed}
    assert not failed
    rows = evaluations[("gold_sales_fact", CONTRACT_CHECK)].metadata["rows_checked"].value
    assert rows > 0


@pytest.mark.parametrize(
    ("table", "check", "evidence"),
    [
        ("gold_inventory_fact", "no_negative_available", "negative_rows=1"),
        ("gold_inventory_fact", CONTRACT_CHECK, "quantity_available"),
        ("gold_sales_fact", CONTRACT_CHECK, "bitcoin"),
        ("gold_sales_fact", CONTRACT_CHECK, f"references gold_customer_dim.customer_key | customer_key | {ORPHAN_CUSTOMER}"),
        ("gold_sales_fact", "return_restock_delay", "max_delay_days=5"),
        ("gold_inventory_movement_fact", "inventory_conservation", "positions_days_not_reconciled="),
        ("gold_stockout_events", "stockout_events_agree_with_lost_sales", "spells_disagreeing_with_lost_sales="),
        ("gold_sales_fact", "inventory_constrained_sales", "constrained_lines=0"),
        ("gold_cart_abandonment_fact", "low_inventory_abandonment_uplift", "uplift_points=-"),
        ("gold_inventory_fact", "stockout_rate_latest_day", "stockout_rate=1.0"),
        ("gold_inventory_fact", "stockout_rate_over_run", "mean_daily_stockout_rate="),
    ],
)
def test_broken_rows_fail_the_check_that_guards_them(broken, table, check, evidence):
    evaluation = _evaluations(broken)[(table, check)]
    assert not evaluation.passed
    assert evidence in _text(evaluation)


def test_checks_not_broken_still_pass(broken):
    evaluations = _evaluations(broken)
    for name in ("gold_demand_forecast_fact", "gold_customer_event_fact", "gold_lost_sales_fact"):
        assert evaluations[(name, CONTRACT_CHECK)].passed, name


def test_blocking_failures_stop_the_downstream_assets(broken):
    assert not broken.success
    assert not any(key[0] in ("gold_sales_daily_agg", "gold_customer_product_affinity_agg") for key in _evaluations(broken))
    warned = _evaluations(broken)[("gold_inventory_fact", "stockout_rate_over_run")]
    assert warned.severity == dg.AssetCheckSeverity.WARN


def test_a_broken_dimension_fails_its_contract_and_blocks_the_chain(tmp_path, monkeypatch):
    channels = dimensions.BUILDERS["gold_channel_dim"]

    def expensive_channels(world, first, last):
        rows = channels(world, first, last)
        return _column(rows, "commission_rate", pc.add(rows.column("commission_rate"), 2.0))

    monkeypatch.setitem(dimensions.BUILDERS, "gold_channel_dim", expensive_channels)
    config = SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "lakehouse")
    result = materialize_range(config, config.start_date, config.start_date, raise_on_error=False)
    evaluations = _evaluations(result)
    assert not evaluations[("gold_channel_dim", CONTRACT_CHECK)].passed
    assert "commission_rate" in _text(evaluations[("gold_channel_dim", CONTRACT_CHECK)])
    assert evaluations[("gold_customer_dim", CONTRACT_CHECK)].passed
    assert not result.success
    assert ("gold_sales_fact", CONTRACT_CHECK) not in evaluations  # the chain never ran


# ------------------------------------------------------------------ the ledger on its own


def _verdict(lakehouse, name: str, rows: pa.Table):
    ledger = ContractLedger(lakehouse)
    ledger.validate(name, rows)
    return ledger.verdict(name)


def test_generated_rows_pass_and_the_verdict_counts_them(small_run):
    lakehouse, _ = small_run
    rows = lakehouse.read("gold_inventory_fact", date_keys=[20250301])
    verdict = _verdict(lakehouse, "gold_inventory_fact", rows)
    assert verdict.passed and verdict.rows == rows.num_rows and verdict.batches == 1


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (lambda rows: pa.concat_tables([rows, rows.slice(0, 1)]), "unique_product_key_location_key_date_key"),
        (lambda rows: _column(rows, "date_key", _first_row(rows, "date_key", 20250230)), "date_key_format"),
        (lambda rows: _column(rows, "reorder_point", _first_row(rows, "reorder_point", None)), "not_null"),
        (lambda rows: _column(rows, "quantity_reserved", _first_row(rows, "quantity_reserved", 10_000)),
         "available_is_on_hand_minus_reserved"),
        (lambda rows: _column(rows, "location_key", _first_row(rows, "location_key", 77)),
         "references gold_location_dim.location_key"),
        (lambda rows: rows.append_column("surprise", pa.array([1] * rows.num_rows)), "column_in_schema"),
    ],
    ids=["duplicate_grain", "impossible_day", "null_required", "row_rule", "orphan_location", "extra_column"],
)
def test_each_kind_of_defect_is_named_in_the_failure_cases(small_run, change, check):
    lakehouse, _ = small_run
    rows = change(lakehouse.read("gold_inventory_fact", date_keys=[20250301]))
    verdict = _verdict(lakehouse, "gold_inventory_fact", rows)
    assert not verdict.passed
    assert any(check in failed for failed in verdict.failures_by_check), verdict.failures_by_check
    assert any(check in case["check"] for case in verdict.sample)


def _some_rows(values: pa.ChunkedArray, rows: list[int], value) -> pa.Array:
    """``values`` with ``value`` at ``rows``."""
    changed = values.to_pylist()
    for row in rows:
        changed[row] = value
    return pa.array(changed, values.type)


SALES_DEFECTS = {  # a defect of each kind the contract has, on two rows where a value is involved
    "range": lambda rows: _column(rows, "unit_cost", _some_rows(rows.column("unit_cost"), [0, 5], -1.0)),
    "vocabulary": lambda rows: _column(rows, "payment_method", _some_rows(rows.column("payment_method"), [1, 2], "barter")),
    "impossible_day": lambda rows: _column(rows, "order_date_key",
                                           _some_rows(rows.column("order_date_key"), [3, 4], 20250229)),
    "null_required": lambda rows: _column(rows, "sale_id", _some_rows(rows.column("sale_id"), [0], None)),
    "row_rule": lambda rows: _column(rows, "quantity_sold", _some_rows(rows.column("quantity_sold"), [7], 10_000)),
    "orphans": lambda rows: _column(rows, "customer_key",
                                    _some_rows(rows.column("customer_key"), [0, 9], ORPHAN_CUSTOMER)),
    "shared_grain": lambda rows: pa.concat_tables([rows, rows.slice(2, 2)]),
    "extra_column": lambda rows: rows.append_column("surprise", pa.array([1] * rows.num_rows)),
    "wrong_type": lambda rows: rows.set_column(rows.schema.get_field_index("quantity_sold"), "quantity_sold",
                                               rows.column("quantity_sold").cast(pa.int64())),
    "as_written": lambda rows: rows,
}


@pytest.mark.parametrize("defect", SALES_DEFECTS)
def test_the_contract_as_sql_finds_what_the_pandera_model_finds(small_run, defect):
    """The SQL the Spark engine judges its tables with (``sql_contract``), run here on DuckDB over
    the same rows: the same checks fail, each with the same number of failure cases."""
    lakehouse, _ = small_run
    rows = SALES_DEFECTS[defect](lakehouse.read("gold_sales_fact", date_keys=[BROKEN_DAY]))
    by_pandera = _verdict(lakehouse, "gold_sales_fact", rows)
    with closing(DuckDbQueries(lakehouse)) as queries:
        queries.connection.register("gold_sales_fact", rows)
        judged = Judged(registry.TABLES["gold_sales_fact"], (BROKEN_DAY,), "date_key")
        by_sql = stored_findings(queries, [judged], cases_per_check=3)["gold_sales_fact"]
    assert by_sql.rows == by_pandera.rows == rows.num_rows
    assert by_sql.counts == by_pandera.failures_by_check
    assert (defect == "as_written") == (by_sql.counts == {})
    assert {case["check"] for case in by_sql.cases} == set(by_sql.counts)


def test_a_dimension_may_refer_to_its_own_new_keys(small_run, tmp_path):
    """The date dimension's effective_date_key refers to its own date_key: on the first write the
    keys exist only in the rows being validated."""
    lakehouse, _ = small_run
    dates = lakehouse.read("gold_date_dim", key_column="effective_date_key")
    assert _verdict(Lakehouse(tmp_path / "empty"), "gold_date_dim", dates).passed


def test_the_ui_column_schema_shows_the_contract():
    schema = column_schema("gold_sales_fact")
    columns = {column.name: column for column in schema.columns}
    assert "in (credit_card, debit_card, paypal, apple_pay, gift_card, cash)" in columns["payment_method"].constraints.other
    assert "references gold_customer_dim.customer_key" in columns["customer_key"].constraints.other
    assert columns["sale_id"].constraints.unique and not columns["sale_id"].constraints.nullable
    assert "unique (sale_id)" in schema.constraints.other
    assert any(rule.startswith("sold_within_stock: ") for rule in schema.constraints.other)


def test_the_uplift_is_not_judged_on_too_few_carts(tmp_path):
    """One day of the tiny preset has a few hundred carts: the uplift's standard error is several
    points, so the check says it did not evaluate (a WARN with the reason), neither failing on noise
    nor showing a pass it did not earn; so does the constrained-sales rule on fewer than 7 days."""
    config = SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "lakehouse")
    result = materialize_range(config, config.start_date, config.start_date)
    evaluations = _evaluations(result)
    evaluation = evaluations[("gold_cart_abandonment_fact", "low_inventory_abandonment_uplift")]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.description.startswith("not evaluated: too few carts")
    assert evaluation.metadata["standard_error_points"].value > 1.0
    constrained = evaluations[("gold_sales_fact", "inventory_constrained_sales")]
    assert not constrained.passed and constrained.severity == dg.AssetCheckSeverity.WARN
    assert constrained.description == "not evaluated: 1 day(s) of sales, fewer than 7"
    assert "2 not evaluated (inventory_constrained_sales, low_inventory_abandonment_uplift)" in check_line(result)


# ------------------------------------------------------------------ bands from the configuration


def test_the_default_configuration_gives_the_reference_bands():
    bands = Bands.of(SimulationConfig())
    assert bands.stockout_rate == (0.05, 0.10) and bands.uplift_points == (8.0, 12.0)
    assert bands.restock_delay_days == (1, 3) and bands.restock_mean_days == (1.5, 2.5)


def test_a_configured_restock_delay_is_judged_by_its_own_band(tmp_path):
    """Returns restocked 4-6 days later (RETAIL_RETURN_DELAY_DAYS=4,6) pass return_restock_delay
    under their own configuration, and would fail the default 1-3 band."""
    config = SimulationConfig.build(preset="tiny", return_delay_days=(4, 6), warmup_days=14,
                                    lakehouse_path=tmp_path / "lakehouse")
    engine = LocalEngine(config)
    last = config.start_date + dt.timedelta(days=2)
    engine.write_dimensions(config.start_date, last)
    engine.run_all(config.start_date, last)

    def delay_report(rule_config: SimulationConfig):
        (rule,) = [rule for rule in rules_for(["gold_sales_fact"], rule_config) if rule.name == "return_restock_delay"]
        (report,) = rule_reports(engine.queries(), [rule], Window(config.start_date, last))
        return rule, report

    rule, report = delay_report(config)
    assert report.passed, report.metadata
    assert report.metadata["returns"] > 0 and report.metadata["returns_outside_band"] == 0
    assert report.metadata["band_days"] == "4..6" and report.metadata["mean_band_days"] == "4.5..5.5"
    assert 4 <= report.metadata["min_delay_days"] <= report.metadata["max_delay_days"] <= 6
    assert rule.description == "Returned units are back in stock 4-6 days after the return, about 5 on average."
    _, default = delay_report(SimulationConfig.build(preset="tiny"))
    assert not default.passed and default.metadata["band_days"] == "1..3"
