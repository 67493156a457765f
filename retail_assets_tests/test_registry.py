"""The table registry and the day type: every table the lakehouse holds is declared once, with a
contract that catches what it should; every spelling of a day converts through one module; the
digest that shows two lakehouses hold the same rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail_assets import days, registry
from retail_assets.cli import main
from retail_assets.config import SimulationConfig
from retail_assets.contracts.ledger import ContractLedger
from retail_assets.engine.local import LocalEngine
from retail_assets.registry import Role
from retail_assets.sim import checkpoint, dimensions
from retail_assets.sim.day import DayTables
from retail_assets.storage.delta import Lakehouse
from retail_assets.storage.digest import table_digests


@pytest.fixture(scope="module")
def chain_lakehouse(tmp_path_factory) -> Lakehouse:
    config = SimulationConfig.build(preset="tiny", days=3, lakehouse_path=tmp_path_factory.mktemp("reg") / "lh")
    engine = LocalEngine(config)
    engine.write_dimensions(config.start_date, config.end_date)
    engine.run_all(config.start_date, config.end_date)
    return engine.lakehouse


def test_the_engine_writes_exactly_the_registered_dimensions_facts_and_checkpoint(chain_lakehouse):
    written = set(chain_lakehouse.tables())
    assert written == set(registry.names(Role.DIMENSION, Role.CHAIN_FACT, Role.CHECKPOINT_PART))
    assert set(dimensions.BUILDERS) == set(registry.names(Role.DIMENSION))
    assert {e.day_tables_field for e in registry.entries(Role.CHAIN_FACT)} == set(DayTables.__dataclass_fields__) - {
        "day", "date_key"}
    assert {e.checkpoint_part for e in registry.entries(Role.CHECKPOINT_PART)} == set(checkpoint.CHECKPOINT_SCHEMAS)


def test_every_checkpoint_part_passes_its_contract_and_a_broken_one_fails(chain_lakehouse):
    ledger = ContractLedger(chain_lakehouse)
    for name in registry.names(Role.CHECKPOINT_PART):
        ledger.validate(name, chain_lakehouse.read(name))
        assert ledger.verdict(name).passed, (name, ledger.verdict(name).sample)
    positions = chain_lakehouse.read("inventory_checkpoint")
    broken = positions.set_column(positions.schema.get_field_index("reserved"), "reserved",
                                  pc.add(positions.column("on_hand"), pa.scalar(1, pa.int32())))
    ledger.validate("inventory_checkpoint", broken)
    assert _failures(ledger, "reserved_within_on_hand") == {"reserved_within_on_hand": positions.num_rows}
    ledger.validate("inventory_checkpoint", pa.concat_tables([positions, positions]))  # each position twice
    assert _failures(ledger, "unique_date_key_position") == {"unique_date_key_position": 2 * positions.num_rows}


def _failures(ledger: ContractLedger, check: str) -> dict[str, int]:
    return {check: count for name, count in ledger.verdict("inventory_checkpoint").failures_by_check.items()
            if name.startswith(check)}


def test_each_step_depends_on_what_its_tables_read():
    assert registry.step_upstream(registry.CHAIN_STEP) == registry.names(Role.DIMENSION)
    assert registry.step_assets(registry.CHAIN_STEP)[-1] == registry.CHECKPOINT_ASSET
    assert "gold_location_dim" not in registry.step_upstream(registry.ROLLUPS_STEP)
    checks = [e.contract_check for e in registry.entries(Role.CHECKPOINT_PART)]
    assert len(set(checks)) == len(checks) == 6  # one contract check per part, on one asset


def test_day_spellings_round_trip():
    for day in (dt.date(2024, 2, 29), dt.date(2025, 1, 1), dt.date(2025, 12, 31)):
        assert days.day_of_key(days.date_key(day)) == day
        assert days.day_of_partition(days.partition_key(day)) == day
        assert days.day_of_ordinal(days.ordinal(day, dt.date(2025, 1, 1)), dt.date(2025, 1, 1)) == day
    with pytest.raises(ValueError, match="20250230 is not a YYYYMMDD day"):
        days.day_of_key(20250230)
    assert not days.is_date_key(20251301)


def test_bulk_conversions_agree_with_the_day_by_day_ones():
    start = dt.date(2024, 1, 1)
    ordinals = np.arange(-400, 800)
    expected = [days.date_key(days.day_of_ordinal(o, start)) for o in ordinals]
    assert days.date_keys_of_ordinals(ordinals, start).tolist() == expected
    dates = days.date32_of_ordinals(ordinals, start, valid=ordinals % 2 == 0)
    assert dates[0].as_py() == days.day_of_ordinal(-400, start) and not dates[1].is_valid


def test_every_lakehouse_connection_speaks_day_keys(chain_lakehouse):
    connection = chain_lakehouse.duckdb_connection()
    first, key = connection.execute(
        "SELECT day_of_key(min(date_key)), key_of_day(DATE '2024-02-29') FROM gold_sales_fact").fetchone()
    assert (first, key) == (dt.date(2025, 1, 1), 20240229)


def test_the_digest_tells_equal_rows_from_a_changed_row(chain_lakehouse, tmp_path, capsys):
    again = tmp_path / "again"
    assert main(["run", "--preset", "tiny", "--days", "3", "--lakehouse", str(again)]) == 0
    theirs, ours = table_digests(Lakehouse(again)), table_digests(chain_lakehouse)
    chain_tables = set(chain_lakehouse.tables())
    assert {name: theirs[name] for name in chain_tables} == ours  # another run, other etl_timestamps
    sales = Lakehouse(again).read("gold_sales_fact")
    quantity = sales.column("quantity_sold").to_numpy().copy()
    quantity[0] += 1
    changed = sales.set_column(sales.schema.get_field_index("quantity_sold"), "quantity_sold",
                               pa.array(quantity, pa.int32()))
    Lakehouse(again).write_days("gold_sales_fact", changed, sorted(set(sales.column("date_key").to_pylist())))
    after = table_digests(Lakehouse(again))
    assert after["gold_sales_fact"][0] == ours["gold_sales_fact"][0]  # same row count
    assert after["gold_sales_fact"][1] != ours["gold_sales_fact"][1]
    capsys.readouterr()
    assert main(["digest", "--lakehouse", str(again)]) == 0
    assert "gold_sales_fact" in capsys.readouterr().out
