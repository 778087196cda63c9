"""target-salesforce-custom entry point: settings, the run's services, one sink class per run.

Plugin contract: every setting's type, default, range and secrecy is in `config_jsonschema` and nowhere else; the
settings are read once into `TargetSettings` (settings.py); what a run shares is built once (services.py) and given
to the sinks; a fatal error (bad settings or credentials, a stream the `streams` setting does not list, the quota
guard, retries exhausted) ends the run with one line through `connector_kit.cli.one_line_errors`, exit 1, and no
STATE past the last batch whose every record reached an outcome.

The one use of a private SDK hook: `Target._handle_termination`. On SIGTERM/SIGINT the SDK drains every sink and
emits STATE from inside the signal handler, which can run in the middle of a drain (a Bulk job being polled) and
re-enter it, so STATE could cover records whose outcome is not known (meltano/sdk#3775; target-netsuite does the
same). Here a signal stops the run at once: waits end, nothing more is sent, STATE stays at the last checkpoint, and
the next run sends the rest again (keyed writes make that harmless).
"""

from __future__ import annotations

import datetime as dt
import json
import typing as t
import uuid

from connector_kit.cli import one_line_errors
from connector_kit.salesforce import QuotaGuardStop, SalesforceFatalError
from connector_kit.salesforce_auth import AUTH_PROPERTIES
from connector_kit.settings import numbers_from_strings
from singer_sdk import Target
from singer_sdk import typing as th
from typing_extensions import override

from target_salesforce_custom.ledger import LEDGER_MODES
from target_salesforce_custom.services import RunServices
from target_salesforce_custom.settings import TargetSettings
from target_salesforce_custom.sinks import SalesforceSink

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.sinks import Sink

STREAM_TARGET = th.ObjectType(
    th.Property("sobject", th.StringType, description="sObject API name (default: the stream name)."),
    th.Property("external_id_field", th.StringType,
                description="External id field API name to upsert by; absent: update by Id."),
)


class TargetSalesforceCustom(Target):
    """Singer target for Salesforce: updates by Id, upserts by external id; Collections and Bulk API 2.0."""

    name = "target-salesforce-custom"

    config_jsonschema = th.PropertiesList(
        *AUTH_PROPERTIES,
        th.Property("api_version", th.StringType, default="61.0", description="Salesforce REST API version."),
        th.Property("streams", th.ObjectType(additional_properties=STREAM_TARGET),
                    description='Where each stream goes, e.g. `{"accounts": {"sobject": "Account", "external_id_field":'
                                ' "NetSuite_Id__c"}}`: upsert by that external id field, or update by `Id` when none '
                                "is given. When set, a stream it does not list stops the run with one line, nothing "
                                "written; unset, a stream's name is its sObject and records are updated by Id."),
        th.Property("bulk_threshold", th.IntegerType(minimum=1), default=2000,
                    description="A batch of at least this many records goes through one Bulk API 2.0 ingest job "
                                "(about 7 API calls a job, whatever its size); smaller ones through sObject "
                                "Collections (one call per 200 records, results at once)."),
        th.Property("batch_size", th.IntegerType(minimum=1, maximum=100_000), default=10_000,
                    description="Records a stream collects before they are written (the SDK's batch); STATE follows "
                                "the outcomes of every collected record."),
        th.Property("all_or_none", th.BooleanType, default=False,
                    description="Collections requests with allOrNone: one refused record rolls back (and dead-"
                                "letters) the other records of its request of 200. Off: each record on its own."),
        th.Property("lock_retries", th.IntegerType(minimum=0), default=5,
                    description="Retries of a record Salesforce refused with UNABLE_TO_LOCK_ROW (another transaction "
                                "held the row), with backoff; then it is dead-lettered."),
        th.Property("bulk_poll_seconds", th.NumberType(minimum=0), default=2,
                    description="Seconds between polls of a running Bulk ingest job."),
        th.Property("bulk_timeout_seconds", th.NumberType(exclusive_minimum=0), default=3600,
                    description="A Bulk job still running after this long stops the run without STATE (its records "
                                "are sent again next run; upserts and updates make that harmless)."),
        th.Property("dead_letter_path", th.StringType, default="dead_letters/salesforce",
                    description="Folder of the dead-letter files, one `<run id>.jsonl` per run with refused records."),
        th.Property("ledger", th.StringType, default="use", allowed_values=list(LEDGER_MODES),
                    description="The write ledger: `use` leaves out a record whose values Salesforce already "
                                "accepted (counted `unchanged`: no call, no SystemModstamp bump), `ignore` sends "
                                "everything and still records, `off` neither reads nor records."),
        th.Property("ledger_path", th.StringType,
                    description="SQLite file of the write ledger, one entry per (org, sObject, key field, key, field). "
                                "Default: `ledger.sqlite3` in `dead_letter_path`."),
        th.Property("max_api_usage_percent", th.NumberType(exclusive_minimum=0, maximum=100), default=80,
                    description="Stop cleanly (no STATE past unwritten records) before daily API usage passes this "
                                "share of the quota."),
        th.Property("request_timeout", th.NumberType(exclusive_minimum=0), default=300,
                    description="Seconds before an HTTP call times out."),
        th.Property("max_retries", th.IntegerType(minimum=0), default=5,
                    description="Retries of a call failing with 5xx, SERVER_UNAVAILABLE, a timeout or a reset."),
        th.Property("backoff_factor", th.NumberType(minimum=0), default=0.5,
                    description="Seconds; retry n waits a random time up to `backoff_factor * 2**n` (at most 60 s), "
                                "and at least `Retry-After`."),
        th.Property("ca_bundle", th.StringType,
                    description="CA file to verify TLS with (e.g. a corporate proxy CA). Verification is never off."),
    ).to_dict()

    def __init__(self, *, config: dict | None = None, **kwargs: t.Any) -> None:
        super().__init__(config=numbers_from_strings(config, self.config_jsonschema), **kwargs)
        self.max_parallelism = 1  # one stream at a time: each batch already fills its requests
        self.settings = TargetSettings.from_config(self.config)
        self.run_id = f"{dt.datetime.now(tz=dt.UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        self.services = RunServices.build(self.settings, self.run_id, self.logger)
        self._sink_class = SalesforceSink.for_run(self.services)

    @classmethod
    @override
    def invoke(cls, **kwargs: t.Any) -> None:
        """The SDK's, with every expected fatal error as one line and exit 1."""
        with one_line_errors(cls.logger, cls.name, (SalesforceFatalError, QuotaGuardStop)):
            super().invoke(**kwargs)

    @override
    def get_sink_class(self, stream_name: str) -> type[Sink]:
        self.settings.target_of(stream_name)  # a stream `streams` does not list stops the run here, nothing written
        return self._sink_class

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Stop at once on SIGTERM/SIGINT, never draining from inside the handler (see the module docstring)."""
        self.logger.warning("Received signal %d: stopping; state stays at the last checkpoint", signum)
        self.services.client.transport.stop_retrying()
        raise SystemExit(128 + signum)

    @override
    def process_endofpipe(self) -> None:
        """Drain every sink (each batch to its outcomes, then the last STATE), then log the run summary."""
        super().process_endofpipe()
        self.logger.info("Run summary: %s", json.dumps(self.services.summary(), sort_keys=True))


if __name__ == "__main__":
    TargetSalesforceCustom.cli()
