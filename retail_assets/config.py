"""The one validated configuration of a simulation run.

Everything the data depends on lives here: the same ``SimulationConfig`` (and so the same
seed) always produces the same tables. Bad input fails at construction, before any file is
written, with a message naming the field and the allowed values.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from retail_assets import days

PresetName = Literal["tiny", "small", "mid_market", "enterprise", "ecommerce"]


class ScalePreset(BaseModel):
    """Volumes of one preset (the reference system's scale table, plus ``tiny`` for tests)."""

    model_config = ConfigDict(frozen=True)

    customers: int
    products: int
    locations: int
    days: int


PRESETS: dict[str, ScalePreset] = {
    "tiny": ScalePreset(customers=1_500, products=80, locations=13, days=21),
    "small": ScalePreset(customers=5_000, products=500, locations=13, days=90),
    "mid_market": ScalePreset(customers=50_000, products=2_000, locations=25, days=365),
    "enterprise": ScalePreset(customers=500_000, products=10_000, locations=50, days=730),
    "ecommerce": ScalePreset(customers=2_000_000, products=50_000, locations=100, days=730),
}

ENV_PREFIX = "RETAIL_"
REMOVED_FIELDS = {
    "events_per_day": "web traffic follows from the online orders and web_conversion_rate "
                      "(RETAIL_WEB_CONVERSION_RATE, default 0.03); unset it",
}
TUPLE_FIELDS = ("return_delay_days", "stockout_response_shares")  # comma-separated in the environment


class ConfigError(ValueError):
    """Invalid configuration: the message lists each bad field, its value and what is allowed."""


class SimulationConfig(BaseModel):
    """Seed, calendar, scale and inventory-policy parameters of one synthetic lakehouse."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(42, ge=0, le=2**63 - 1, description="Root of every random stream.")
    start_date: dt.date = Field(dt.date(2025, 1, 1), description="First daily partition.")
    preset: PresetName = Field("small", description="Scale preset: tiny, small, mid_market, enterprise, ecommerce.")
    days: int | None = Field(None, ge=1, le=3660, description="Days in the default range (preset's if unset).")
    customers: int | None = Field(None, ge=1, le=50_000_000, description="Override of the preset's customers.")
    products: int | None = Field(None, ge=1, le=1_000_000, description="Override of the preset's products.")
    locations: int | None = Field(
        None, ge=3, le=500, description="Override of the preset's locations (at least 1 store, 1 warehouse, 1 DC)."
    )
    web_conversion_rate: float = Field(
        0.03, gt=0.0, le=1.0,
        description="Share of online sessions that end in an order (2-4% is typical in fashion e-commerce): "
                    "browse-only sessions join the carts' sessions until orders / sessions is this rate.",
    )
    horizon_days: int | None = Field(
        None, ge=1, le=3660,
        description="Days over which customers are acquired and products launched (default: the preset's own "
        "days). Part of the world: extending a lakehouse's range (RETAIL_DAYS) does not change it.",
    )

    target_stockout_rate: float = Field(
        0.075, gt=0.0, lt=1.0,
        description="Share of positions out of stock the policy aims at, strictly between 0 and 1 "
        "(0 leaves no reorder point to plan, 1 no stock).",
    )
    cart_abandonment_increase: float = Field(0.10, ge=0.0, le=1.0)
    return_delay_days: tuple[int, int] = Field((1, 3), description="Restock delay of a return, min and max days.")
    low_inventory_threshold: int = Field(5, ge=0, le=10_000)
    return_rate: float = Field(0.15, ge=0.0, le=1.0, description="Share of sold units that come back.")
    cart_abandonment_base_rate: float = Field(0.68, ge=0.0, le=1.0)
    stockout_response_shares: tuple[float, float, float, float] = Field(
        (0.31, 0.45, 0.15, 0.09),
        description="Shares of customers meeting an empty shelf who buy elsewhere, substitute, come back "
        "later, or do not buy (must sum to 1).",
    )
    shrinkage_rate: float = Field(
        0.0002, ge=0.0, le=0.05, description="Chance per available unit per day of being lost to shrinkage."
    )
    warmup_days: int = Field(56, ge=0, le=730, description="Days simulated before start_date, not written.")

    lakehouse_path: Path = Field(Path("lakehouse"), description="Folder holding the Delta tables.")

    @model_validator(mode="before")
    @classmethod
    def _no_removed_fields(cls, values: object) -> object:
        """A field this version no longer has is named with what replaced it (not just 'extra')."""
        removed = sorted(set(values) & set(REMOVED_FIELDS)) if isinstance(values, dict) else []
        if removed:
            raise ValueError("; ".join(f"{name} was removed: {REMOVED_FIELDS[name]}" for name in removed))
        return values

    @field_validator("return_delay_days")
    @classmethod
    def _delay_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high <= 14:
            raise ValueError(f"must be (min, max) with 1 <= min <= max <= 14, got {value}")
        return value

    @field_validator("stockout_response_shares")
    @classmethod
    def _shares(cls, value: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        if any(share < 0 for share in value) or abs(sum(value) - 1.0) > 1e-6:
            raise ValueError(f"must be 4 non-negative shares summing to 1, got {value}")
        return value

    @field_validator("lakehouse_path")
    @classmethod
    def _writable(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} exists and is not a folder; choose a folder path")
        ancestor = value
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise ValueError(f"{ancestor} is a file, not a folder: the lakehouse folder {value} cannot be created "
                             "under it; choose a folder path")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise ValueError(f"{ancestor} is not writable; choose a folder you can write to")
        return value

    # ----------------------------------------------------------------- derived values
    @property
    def scale(self) -> ScalePreset:
        """The preset with this config's overrides applied."""
        base = PRESETS[self.preset]
        overrides = {
            name: getattr(self, name)
            for name in ("customers", "products", "locations", "days")
            if getattr(self, name) is not None
        }
        return base.model_copy(update=overrides)

    @property
    def horizon(self) -> int:
        """Days over which customers arrive and products launch: ``horizon_days``, else the preset's
        own days, never the overridden ``days``, so a longer range extends the same world."""
        return PRESETS[self.preset].days if self.horizon_days is None else self.horizon_days

    def world_fingerprint(self) -> dict[str, str]:
        """Every resolved value that alters rows already written, as text: configs with equal
        fingerprints write the same rows for the same day, whatever their range.

        Built from ``model_fields`` minus ``NOT_IN_WORLD``, so a new field counts by default; the
        preset counts through its resolved volumes and horizon.
        """
        resolved = {**self.scale.model_dump(exclude={"days"}), "horizon_days": self.horizon}
        return {name: _text(resolved.get(name, getattr(self, name)))
                for name in type(self).model_fields if name not in NOT_IN_WORLD}

    @property
    def end_date(self) -> dt.date:
        """Last day of the default range (inclusive)."""
        return self.start_date + dt.timedelta(days=self.scale.days - 1)

    def day_ordinal(self, day: dt.date) -> int:
        """Days since start_date (0 for the first partition, negative during warm-up)."""
        return days.ordinal(day, self.start_date)

    # ----------------------------------------------------------------- construction
    @classmethod
    def build(cls, **values) -> "SimulationConfig":
        """Validate ``values``; raise ConfigError listing every bad field and its allowed range."""
        try:
            return cls(**values)
        except ValidationError as error:
            raise ConfigError(describe_validation_error(error)) from None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "SimulationConfig":
        """Read ``RETAIL_<FIELD>`` variables (e.g. RETAIL_PRESET=mid_market); unset ones keep
        defaults; ``overrides`` (e.g. a command's flags) win over both."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in [*cls.model_fields, *REMOVED_FIELDS]:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is None or raw == "":
                continue
            values[name] = tuple(raw.split(",")) if name in TUPLE_FIELDS else raw
        return cls.build(**{**values, **overrides})


NOT_IN_WORLD = frozenset({
    "days",  # the range: extending it keeps the rows already written
    "preset",  # counted through its resolved values
    "lakehouse_path",  # where the rows go, not what they are
})


def _text(value: object) -> str:
    """A stable text form of a config value (dates ISO, tuples comma-joined)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def describe_validation_error(error: ValidationError) -> str:
    """One line per bad field: name, value received, and the constraint it broke."""
    lines = ["Invalid retail-assets configuration:"]
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "config"
        received = item.get("input")
        shown = "" if isinstance(received, dict) else f" = {received!r}"
        message = item["msg"].removeprefix("Value error, ")
        hint = SimulationConfig.model_fields.get(str(item["loc"][0]) if item["loc"] else "")
        extra = f" ({hint.description})" if hint is not None and hint.description else ""
        lines.append(f"  - {field}{shown}: {message}{extra}")
    return "\n".join(lines)
