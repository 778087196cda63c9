"""The Salesforce stand-in's state: store, knobs (`Realism`), auth, metadata, query engine, Bulk jobs and the
request log of one server. No HTTP here: the wire handlers (`responses.py`, `bulk_v1.py`), the admin handlers
(`admin.py`) and the route table (`routes.py`) reach the state through one `Sandbox`, which `app.py` builds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.salesforce import bulk_v1
from sandbox.salesforce.auth import Auth
from sandbox.salesforce.bulk import BulkJobs
from sandbox.salesforce.dml import Writes
from sandbox.salesforce.knobs import CREDENTIAL_DEFAULTS, Realism, check_config, volumes_from
from sandbox.salesforce.metadata import Metadata
from sandbox.salesforce.query import QueryEngine
from sandbox.salesforce.scale import RequestLog
from sandbox.salesforce.store import Store


class Sandbox:
    """Everything one Salesforce stand-in holds: store, knobs, auth, query engine, Bulk jobs."""

    def __init__(self, data_dir: Path, config: dict[str, Any]) -> None:
        check_config(config)
        self.config = dict(config)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(data_dir / "salesforce.sqlite3")
        self.realism = Realism(self.config)
        self.metadata = Metadata(self.store)
        if self.store.seeded:
            self.metadata.load()
        else:
            self.metadata.seed(volumes_from(self.config))
        self.request_log = RequestLog()
        credentials = {key: self.config.get(key, default) for key, default in CREDENTIAL_DEFAULTS.items()}
        self.auth = Auth(self.store, self.realism, credentials)
        self.engine = QueryEngine(self.store, self.realism)
        self.bulk = BulkJobs(self.store, self.realism)
        self.writes = Writes(self.store, self.realism)
        self.bulk_v1 = bulk_v1.BulkV1(self)
