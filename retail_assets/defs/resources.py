"""The engine resource: which engine runs the simulation, with which configuration."""


import json
from typing import Optional

import dagster as dg

from retail_assets.config import SimulationConfig
from retail_assets.contracts.ledger import ContractLedger, checked_lakehouse
from retail_assets.engine.local import LocalEngine
from retail_assets.storage.delta import Lakehouse

try:  # the spark extra: the spark engine's session is dagster-pyspark's resource
    from dagster_pyspark import LazyPySparkResource
except ImportError:  # the base install (no PySpark) runs the local engine only

    class LazyPySparkResource(dg.ConfigurableResource):  # type: ignore[no-redef]
        """The type of the ``pyspark`` field where dagster-pyspark is not installed: always None."""

ENGINES = ("local", "spark", "databricks")


class SimulationResource(dg.ConfigurableResource):
    """Runs the simulation. ``config_json`` is a validated SimulationConfig; ``engine_name``
    selects where every step runs: ``local`` (in-process numpy + delta-rs, the embedded
    default), ``spark`` (the same day step as Spark tasks writing the lakehouse's tables, on the
    ``pyspark`` resource's session) or ``databricks`` (the Spark engine on a cluster, one
    one-time job per step through Pipes, see ``defs.databricks``)."""

    config_json: str
    engine_name: str = "local"
    pyspark: Optional[LazyPySparkResource] = None  # noqa: UP045 - the spark engine's session (None: other engines)
    # spark engine: the catalog and schema its tables are registered in, as catalog.schema.table
    catalog: str = "spark_catalog"
    catalog_schema: str = "retail"

    @classmethod
    def for_config(cls, config: SimulationConfig, engine_name: str = "local") -> "SimulationResource":
        if engine_name not in ENGINES:
            raise ValueError(f"engine {engine_name!r} is not available; allowed: {', '.join(ENGINES)}")
        if engine_name != "spark":
            return cls(config_json=config.model_dump_json(), engine_name=engine_name)
        from retail_assets.engine.spark_session import session_config  # the spark extra

        # Started on first use: a run of other steps never starts a JVM.
        return cls(config_json=config.model_dump_json(), engine_name=engine_name,
                   pyspark=LazyPySparkResource(spark_config=session_config()))

    @property
    def simulation_config(self) -> SimulationConfig:
        return SimulationConfig.build(**json.loads(self.config_json))

    def checked_lakehouse(self) -> tuple[ContractLedger, Lakehouse]:
        """The configured lakehouse, every write validated against its contract by the ledger; it
        refuses to be written with another configuration than the one that made it."""
        config = self.simulation_config
        return checked_lakehouse(config.lakehouse_path, config.world_fingerprint())

    def engine(self, lakehouse: Lakehouse) -> LocalEngine:
        """The engine of every step on this machine: ``spark`` writes every table with Spark (on
        the ``pyspark`` resource's session); otherwise the in-process engine (``databricks`` runs
        every step on the cluster: this is never called there)."""
        if self.engine_name == "spark":
            from retail_assets.engine.spark import SparkEngine  # pyspark comes with the `spark` extra
            from retail_assets.storage.spark_tables import identifier

            catalog = (identifier(self.catalog, "catalog"), identifier(self.catalog_schema, "catalog_schema"))
            return SparkEngine(self.simulation_config, lakehouse, spark=self.pyspark.spark_session, catalog=catalog)
        return LocalEngine(self.simulation_config, lakehouse)
