"""The sink: a batch of one stream's records written to Salesforce, every record to a final outcome before the
batch is done (written, unchanged per the write ledger, or a dead letter with Salesforce's statusCode, message and
fields).

Invariant: `process_batch` returns only after every record of the batch is written or dead-lettered; the SDK emits
STATE only after all sinks drained, so STATE never runs ahead of Salesforce. Anything that leaves a record without
an outcome raises out of the batch, and the run ends without STATE.
"""

from __future__ import annotations

import datetime as dt
import decimal
import typing as t

from singer_sdk.sinks import BatchSink
from typing_extensions import override

if t.TYPE_CHECKING:
    from target_salesforce_custom.services import RunServices
    from target_salesforce_custom.settings import StreamTarget

#: Singer/SDK metadata columns: never sent to Salesforce.
SDC_PREFIX = "_sdc_"


def wire_value(value: t.Any) -> t.Any:
    """A record value as Salesforce's JSON takes it: the SDK parses `date-time` properties into datetimes (sent
    back as ISO 8601 in UTC, a naive one taken as UTC), `date` ones into dates; a Decimal is sent as a number."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: wire_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire_value(v) for v in value]
    return value


class SalesforceSink(BatchSink):
    """Writes one stream through the run's shared services (built by the target, bound by `for_run`)."""

    services: t.ClassVar[RunServices]

    @classmethod
    def for_run(cls, services: RunServices) -> type[SalesforceSink]:
        """This class bound to one run's services (the SDK builds sinks from a class, not an instance)."""
        return type(cls.__name__, (cls,), {"services": services})

    @property
    @override
    def max_size(self) -> int:
        return self.services.settings.batch_size

    @override
    def process_record(self, record: dict, context: dict) -> None:
        context.setdefault("records", []).append(
            {k: wire_value(v) for k, v in record.items() if not k.startswith(SDC_PREFIX)})

    @override
    def process_batch(self, context: dict) -> None:
        records: list[dict[str, t.Any]] = context.get("records", [])
        if not records:
            return
        services = self.services
        target = services.settings.target_of(self.stream_name)
        services.count(self.stream_name, "received", len(records))
        records = self._changed(records, target)
        accepted: dict[str, dict[str, t.Any]] = {}
        for outcome in services.writer.write(target, records):
            if outcome.superseded:
                services.count(self.stream_name, "superseded")
            elif outcome.ok:
                services.count(self.stream_name, "created" if outcome.created else "updated")
                accepted[outcome.key] = outcome.record
            else:
                services.dead_letters.write(self.stream_name, target, outcome)
                services.count(self.stream_name, "dead_lettered")
                self.logger.warning("%s %s %s=%s refused: %s %s", self.stream_name, target.sobject, target.key_field,
                                    outcome.key, outcome.code, outcome.message[:200])
        self._record(target, accepted)

    def _changed(self, records: list[dict[str, t.Any]], target: StreamTarget) -> list[dict[str, t.Any]]:
        """The records to send: those the ledger does not know Salesforce holds (each key's latest record decides;
        the earlier ones of a key are superseded by it, as the writer would). The stale entries of the keys sent
        are removed, committed, before anything is sent (ledger.py)."""
        ledger, services = self.services.ledger, self.services
        latest = {str(r.get(target.key_field) or ""): r for r in records}
        latest.pop("", None)  # a record without a key goes on to the writer, which refuses it (MISSING_KEY)
        if ledger.conn is None or not latest:
            return records
        org = services.client.instance_url
        same = ledger.unchanged(org, target.sobject, target.key_field, latest)
        if same:
            kept = [r for r in records if str(r.get(target.key_field) or "") not in same]
            services.count(self.stream_name, "unchanged", len(same))
            services.count(self.stream_name, "superseded", len(records) - len(kept) - len(same))
            records = kept
        ledger.invalidate(org, target.sobject, target.key_field, {k: r for k, r in latest.items() if k not in same})
        return records

    def _record(self, target: StreamTarget, accepted: dict[str, dict[str, t.Any]]) -> None:
        """Remember what Salesforce accepted (after every outcome of the batch is known)."""
        if accepted and self.services.ledger.conn is not None:
            self.services.ledger.record(self.services.client.instance_url, target.sobject, target.key_field,
                                        accepted)
