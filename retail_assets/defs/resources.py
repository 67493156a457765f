"""The engine resource: which engine runs the simulation, with which configuration."""


import json

import dagster as dg

from retail_assets.config import SimulationConfig
from retail_assets.engine.local import LocalEngine


class SimulationResource(dg.ConfigurableResource):
    """Runs the simulation. ``config_json`` is a validated SimulationConfig; ``engine`` selects
    where the work happens (``local``: in-process numpy + delta-rs, the embedded default)."""

    config_json: str
    engine_name: str = "local"

    @classmethod
    def for_config(cls, config: SimulationConfig, engine_name: str = "local") -> "SimulationResource":
        return cls(config_json=config.model_dump_json(), engine_name=engine_name)

    @property
    def simulation_config(self) -> SimulationConfig:
        return SimulationConfig.build(**json.loads(self.config_json))

    def engine(self) -> LocalEngine:
        if self.engine_name != "local":
            raise ValueError(f"engine_name={self.engine_name!r} is not available; allowed: 'local'")
        return LocalEngine(self.simulation_config)
