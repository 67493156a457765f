"""The configuration on its own: what it refuses, and which of its values make up the world."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest

from retail_assets.cli import main
from retail_assets.config import NOT_IN_WORLD, ConfigError, SimulationConfig

# A value different from the default for every field of the world (a new field fails the test
# until it is given one here, or excluded from the world in config.NOT_IN_WORLD).
CHANGED = {
    "seed": 7,
    "start_date": dt.date(2025, 2, 1),
    "customers": 4_000,
    "products": 300,
    "locations": 20,
    "web_conversion_rate": 0.05,
    "horizon_days": 120,
    "target_stockout_rate": 0.05,
    "cart_abandonment_increase": 0.2,
    "return_delay_days": (2, 4),
    "low_inventory_threshold": 3,
    "return_rate": 0.1,
    "cart_abandonment_base_rate": 0.6,
    "stockout_response_shares": (0.25, 0.5, 0.15, 0.1),
    "shrinkage_rate": 0.001,
    "warmup_days": 28,
}


@pytest.mark.parametrize("rate", [0.0, 1.0, -0.1, 1.5])
def test_the_stockout_target_is_strictly_between_0_and_1(rate):
    with pytest.raises(ConfigError, match="target_stockout_rate") as error:
        SimulationConfig.build(target_stockout_rate=rate)
    assert "strictly between 0 and 1" in str(error.value)


def test_a_removed_field_is_named_with_what_replaced_it_from_the_environment_too():
    with pytest.raises(ConfigError, match="events_per_day was removed: .*web_conversion_rate"):
        SimulationConfig.from_env({"RETAIL_EVENTS_PER_DAY": "1000"})
    with pytest.raises(ConfigError, match="events_per_day was removed"):
        SimulationConfig.build(events_per_day=1000)


def test_a_lakehouse_under_a_file_names_the_file(tmp_path):
    blocker = tmp_path / "somefile"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError) as error:
        SimulationConfig.build(lakehouse_path=blocker / "deeper" / "lake")
    message = str(error.value)
    assert f"{blocker} is a file, not a folder" in message and "cannot be created under it" in message
    assert "not writable" not in message


def test_days_0_on_the_command_line_is_refused(tmp_path, capsys):
    assert main(["run", "--preset", "tiny", "--days", "0", "--lakehouse", str(tmp_path / "lakehouse")]) == 2
    assert "days = 0" in capsys.readouterr().err
    assert not (tmp_path / "lakehouse").exists()


def test_the_horizon_defaults_to_the_presets_days_whatever_the_range():
    assert SimulationConfig.build(preset="tiny").horizon == 21
    assert SimulationConfig.build(preset="tiny", days=200).horizon == 21
    assert SimulationConfig.build(preset="tiny", days=200, horizon_days=60).horizon == 60


def test_every_world_field_is_in_the_fingerprint_and_changes_it():
    base = SimulationConfig.build(preset="small")
    fingerprint = base.world_fingerprint()
    assert set(fingerprint) == set(SimulationConfig.model_fields) - NOT_IN_WORLD
    assert set(CHANGED) == set(fingerprint), "give a new field a changed value here, or exclude it from the world"
    assert all(isinstance(value, str) for value in fingerprint.values())
    for name, value in CHANGED.items():
        changed = SimulationConfig.build(preset="small", **{name: value}).world_fingerprint()
        assert changed[name] != fingerprint[name] and changed != fingerprint, name


def test_the_range_and_the_folder_are_not_part_of_the_world(tmp_path):
    fingerprint = SimulationConfig.build(preset="small").world_fingerprint()
    assert SimulationConfig.build(preset="small", days=400).world_fingerprint() == fingerprint
    elsewhere = SimulationConfig.build(preset="small", lakehouse_path=tmp_path / "elsewhere")
    assert elsewhere.world_fingerprint() == fingerprint


def test_a_preset_counts_through_its_resolved_values():
    small = SimulationConfig.build(preset="small").world_fingerprint()
    assert SimulationConfig.build(preset="small", customers=5_000, horizon_days=90).world_fingerprint() == small
    assert small["customers"] == "5000" and small["horizon_days"] == "90"
    assert small["return_delay_days"] == "1,3" and small["start_date"] == "2025-01-01"
    assert SimulationConfig.build(preset="tiny").world_fingerprint() != small


def test_the_cli_reads_the_code_locations_variables_and_its_flags_win(tmp_path):
    """The CLI is configured as the code location is (RETAIL_* variables), a flag given winning
    over its variable: a bad variable the flags override does not stop it, one they do not
    override is named; nothing is written either way."""
    env = {**os.environ, "RETAIL_SEED": "not-a-number", "RETAIL_PRESET": "enterprise"}
    command = [sys.executable, "-m", "retail_assets.cli", "run", "--preset", "tiny", "--days", "0",
               "--lakehouse", str(tmp_path / "lakehouse")]
    overridden = subprocess.run([*command, "--seed", "7"], env=env, capture_output=True, text=True)
    assert overridden.returncode == 2, overridden.stderr
    assert "days = 0" in overridden.stderr and "seed" not in overridden.stderr  # the option's own error
    read = subprocess.run(command, env=env, capture_output=True, text=True)
    assert read.returncode == 2 and "seed = 'not-a-number'" in read.stderr, read.stderr
    assert not (tmp_path / "lakehouse").exists()
