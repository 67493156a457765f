"""The code location: ``dagster dev -w workspace.yaml`` loads ``defs`` from here.

Configuration comes from ``RETAIL_*`` environment variables (see README), validated before
any asset is defined: a bad value fails the code location load with a message naming it.
"""

import os

from retail_assets.config import SimulationConfig
from retail_assets.defs.location import build_definitions

defs = build_definitions(SimulationConfig.from_env(), os.environ.get("RETAIL_ENGINE", "local"))
