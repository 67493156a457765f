"""Fault injection: real runs of the CLI killed (SIGKILL to the process group) at chosen
moments, then resumed the way the README says (the same command again), must leave every table
equal to an uninterrupted run's; a lost commit, a second writer and another configuration are
refused before anything is written.

Kill points are the moments a given Delta log version appears (the writer is killed within a
few milliseconds of that commit), so each test lands where it says: between two tables of one
batch, inside the checkpoint, before a batch's ledger row, between two steps, inside the rollups.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from deltalake import DeltaTable

from retail_assets.cli import main
from retail_assets.config import SimulationConfig
from retail_assets.storage.commits import LEDGER_TABLE
from retail_assets.storage.delta import ConfigurationDriftError, Lakehouse, LakehouseStateError
from retail_assets.storage.lock import LakehouseBusyError
from retail_assets_tests.helpers import KILL_TIMEOUT_SECONDS, REPOSITORY, assert_same_tables, log_entry, run_and_kill

DAYS = 12  # tiny: dimensions, then chain batches of days 1-7 and 8-12, rollups, customer insights


def cli_command(lakehouse: Path, *extra: str, days: int = DAYS) -> list[str]:
    return [sys.executable, "-m", "retail_assets.cli", "run", "--preset", "tiny", "--days", str(days),
            "--lakehouse", str(lakehouse), *extra]


def run_to_the_end(command: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, env=env,
                          timeout=KILL_TIMEOUT_SECONDS)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run of every table (the CLI, in this process)."""
    lakehouse = tmp_path_factory.mktemp("reference") / "lakehouse"
    assert main(["run", "--preset", "tiny", "--days", str(DAYS), "--lakehouse", str(lakehouse)]) == 0
    return lakehouse


# (what the kill interrupts, table, Delta version whose log entry triggers the kill)
KILL_POINTS = [
    ("a new table's first commit, in the first batch", "gold_lost_sales_fact", 0),
    ("between two tables of one batch", "gold_sales_fact", 1),
    ("inside the checkpoint (two of its six parts written)", "inventory_checkpoint_locations", 1),
    ("after every table of a batch, before its ledger row", "inventory_checkpoint_transfer_notices", 1),
    ("between the dimensions' commit and the chain", LEDGER_TABLE, 1),
    ("inside the rollups", "gold_sales_daily_agg", 0),
]


@pytest.mark.parametrize("moment, table, version", KILL_POINTS, ids=[point[0] for point in KILL_POINTS])
def test_a_killed_run_resumes_to_the_same_tables(tmp_path, reference, moment, table, version):
    lakehouse = tmp_path / "lakehouse"
    run_and_kill(cli_command(lakehouse), log_entry(lakehouse, table, version), tmp_path / "killed.log")
    if table != LEDGER_TABLE:  # the killed batch is invisible: its table is not at the killed version
        visible = Lakehouse(lakehouse)
        assert not visible.exists(table) or visible.version(table) < version
    output = run_to_the_end(cli_command(lakehouse))
    assert "success=True" in output
    assert_same_tables(lakehouse, reference)


def test_a_timed_kill_resumes_to_the_same_tables(tmp_path, reference):
    """A kill at no chosen moment: 12 s after start (mid-chain on this machine, but wherever it lands)."""
    lakehouse = tmp_path / "lakehouse"
    with (tmp_path / "killed.log").open("w") as output:
        process = subprocess.Popen(cli_command(lakehouse), cwd=REPOSITORY, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        time.sleep(12)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    run_to_the_end(cli_command(lakehouse))
    assert_same_tables(lakehouse, reference)


@pytest.mark.parametrize("how", ["make run", "dagster asset materialize"])
def test_a_killed_persisted_run_does_not_block_the_next(tmp_path, reference, how):
    """`make run` and `dagster asset materialize` record runs in $DAGSTER_HOME, whose pool admits
    one writer step: a killed run kept its slot and the next waited forever. Now the next run fails
    the dead one and goes on. Killing only the `dagster asset materialize` process (not its group)
    leaves nothing writing: its steps run in that process."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPOSITORY / "dagster.yaml").read_text().replace(".dagster_home/", f"{home}/"))
    lakehouse = tmp_path / "lakehouse"
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    if how == "make run":
        first = cli_command(lakehouse, "--persist")
    else:
        env.update(RETAIL_PRESET="tiny", RETAIL_DAYS=str(DAYS), RETAIL_LAKEHOUSE_PATH=str(lakehouse))
        first = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "retail_assets.definitions",
                 "--select", "*", "--partition-range", f"2025-01-01...2025-01-{DAYS:02d}"]
    run_and_kill(first, log_entry(lakehouse, "gold_sales_fact", 1), tmp_path / "killed.log", env,
                 whole_group=how == "make run")
    with Lakehouse(lakehouse).writing():  # nothing of the killed run is still writing
        pass
    output = run_to_the_end(cli_command(lakehouse, "--persist"), env)
    assert "had been killed: marked failed, its pool slot freed" in output and "success=True" in output
    assert_same_tables(lakehouse, reference)


def test_extending_the_range_equals_one_longer_run(tmp_path, reference):
    """The world does not depend on the run length: 8 days, then --days 12, is the 12-day run."""
    lakehouse = tmp_path / "lakehouse"
    assert main(["run", "--preset", "tiny", "--days", "8", "--lakehouse", str(lakehouse)]) == 0
    assert main(["run", "--preset", "tiny", "--days", str(DAYS), "--lakehouse", str(lakehouse)]) == 0
    assert_same_tables(lakehouse, reference)


def versions(root: Path) -> dict[str, int]:
    """Every Delta table's newest version, the ledger's included: what 'unchanged' compares."""
    return {path.name: DeltaTable(str(path)).version() for path in sorted(root.iterdir())
            if (path / "_delta_log").is_dir()}


@pytest.fixture
def short_lakehouse(tmp_path) -> Path:
    """A complete 5-day lakehouse to continue, damage or drift."""
    lakehouse = tmp_path / "lakehouse"
    assert main(["run", "--preset", "tiny", "--days", "5", "--lakehouse", str(lakehouse)]) == 0
    return lakehouse


def test_a_lost_log_entry_is_refused_naming_the_table(short_lakehouse, capsys):
    """Deleting a table's newest log entry silently dropped days; now the next run refuses,
    naming the table and the way out, and writes nothing."""
    assert main(["run", "--preset", "tiny", "--days", "7", "--lakehouse", str(short_lakehouse)]) == 0
    log_entry(short_lakehouse, "gold_sales_fact", 1).unlink()  # days 6 and 7 of the sales
    before = versions(short_lakehouse)
    assert main(["run", "--preset", "tiny", "--days", "9", "--lakehouse", str(short_lakehouse)]) == 2
    error = capsys.readouterr().err
    assert "gold_sales_fact" in error and "lost" in error and "make clean" in error
    assert versions(short_lakehouse) == before
    with pytest.raises(LakehouseStateError, match="gold_sales_fact"):  # readers refuse it too
        Lakehouse(short_lakehouse).read("gold_sales_fact")


def test_a_lost_ledger_entry_rolls_the_tables_back_and_resumes(short_lakehouse, tmp_path):
    """The ledger's newest commit lost: the tables it named are ahead of the ledger (here: new), so
    they are rolled back and that step runs again, to the same rows."""
    expected = tmp_path / "expected"
    assert main(["run", "--preset", "tiny", "--days", "5", "--lakehouse", str(expected)]) == 0
    state = Lakehouse(short_lakehouse).ledger_state()
    newest = [name for name, record in state.tables.items() if record.commit_id == state.commits]
    max((short_lakehouse / LEDGER_TABLE / "_delta_log").glob("*.json")).unlink()
    assert newest and not any(Lakehouse(short_lakehouse).exists(name) for name in newest)
    assert main(["run", "--preset", "tiny", "--days", "5", "--lakehouse", str(short_lakehouse)]) == 0
    assert_same_tables(short_lakehouse, expected)


def test_a_second_writer_is_refused_naming_the_first(short_lakehouse):
    before = versions(short_lakehouse)
    with Lakehouse(short_lakehouse).writing():
        done = subprocess.run(cli_command(short_lakehouse, days=7), cwd=REPOSITORY, capture_output=True, text=True)
        with pytest.raises(LakehouseBusyError, match=f"process {os.getpid()}"):
            with Lakehouse(short_lakehouse).writing():  # another handle in this process is another writer too
                pass
    assert done.returncode == 2 and f"being written by process {os.getpid()}" in done.stderr, done.stderr
    assert versions(short_lakehouse) == before
    assert main(["run", "--preset", "tiny", "--days", "7", "--lakehouse", str(short_lakehouse)]) == 0  # released


@pytest.mark.parametrize("option, value, field", [("--seed", "7", "seed"), ("--start", "2025-01-03", "start_date"),
                                                   ("--preset", "small", "customers")])
def test_the_cli_refuses_another_configuration(short_lakehouse, capsys, option, value, field):
    """`--start` on an existing lakehouse rewrote its dimensions; another seed wrote orphans."""
    before = versions(short_lakehouse)
    options = {"--preset": "tiny", "--days": "7", "--lakehouse": str(short_lakehouse), option: value}
    assert main(["run", *itertools.chain.from_iterable(options.items())]) == 2
    error = capsys.readouterr().err
    assert f"{field}: lakehouse" in error and "requested" in error
    assert versions(short_lakehouse) == before


def test_every_world_field_is_refused_before_anything_is_written(short_lakehouse):
    """Each value of the fingerprint, changed, is refused at the lakehouse's door (the gate every
    writer passes: CLI, assets, schedule runs) naming the field and both values."""
    config = SimulationConfig.build(preset="tiny", days=5, lakehouse_path=short_lakehouse)
    before = versions(short_lakehouse)
    for name, value in config.world_fingerprint().items():
        changed = {**config.world_fingerprint(), name: value + "0"}
        with pytest.raises(ConfigurationDriftError, match=re.escape(f"{name}: lakehouse {value}, requested {value}0")):
            with Lakehouse(short_lakehouse, fingerprint=changed).writing():
                pass
    assert versions(short_lakehouse) == before
