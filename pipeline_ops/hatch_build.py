"""This connector's `connector-kit` requirement, by the one rule in ../connector_kit/kit_requirement.py.

Hatchling runs it when it builds the connector from a checkout. A build from the connector's sdist does not: the
sdist's PKG-INFO already holds the requirement (and the sdist holds no connector_kit/ beside it).
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from hatchling.metadata.plugin.interface import MetadataHookInterface


class ConnectorKitRequirement(MetadataHookInterface):
    def update(self, metadata: dict[str, Any]) -> None:
        rule = Path(self.root).resolve().parent / "connector_kit" / "kit_requirement.py"
        if not rule.is_file():
            raise RuntimeError(f"{rule} is missing: build this connector from its repository or from its sdist")
        metadata["dependencies"] = [*self.config["dependencies"], runpy.run_path(str(rule))["requirement"](self.root)]
