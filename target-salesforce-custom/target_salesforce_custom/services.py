"""What a run shares, built once by the target and handed to every sink: the Salesforce client, the batch writer,
the dead letters, the write ledger and the run's counters. A sink receives these; it never imports the target."""

from __future__ import annotations

import dataclasses
import logging
import typing as t

from target_salesforce_custom.client import SalesforceWriter
from target_salesforce_custom.dead_letters import DeadLetters
from target_salesforce_custom.ledger import WriteLedger
from target_salesforce_custom.writes import BatchWriter

if t.TYPE_CHECKING:
    from target_salesforce_custom.settings import TargetSettings


@dataclasses.dataclass
class RunServices:
    settings: TargetSettings
    client: SalesforceWriter
    writer: BatchWriter
    dead_letters: DeadLetters
    ledger: WriteLedger
    #: per stream: records received, written (created/updated), unchanged (the ledger), superseded in their batch,
    #: dead-lettered
    streams: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)

    @classmethod
    def build(cls, settings: TargetSettings, run_id: str, logger: logging.Logger) -> RunServices:
        client = SalesforceWriter(settings, logger)
        return cls(settings=settings, client=client, writer=BatchWriter(client, settings),
                   dead_letters=DeadLetters(settings.dead_letter_path, run_id),
                   ledger=WriteLedger(settings.ledger_path, settings.ledger))

    def count(self, stream: str, what: str, number: int = 1) -> None:
        counters = self.streams.setdefault(stream, {"received": 0, "created": 0, "updated": 0, "unchanged": 0,
                                                    "superseded": 0,
                                                    "dead_lettered": 0})
        counters[what] += number

    def summary(self) -> dict[str, t.Any]:
        self.dead_letters.close()
        self.ledger.close()
        return {"streams": self.streams, "api_calls": self.client.calls, **self.writer.counts,
                "dead_letters": self.dead_letters.count, "dead_letter_codes": self.dead_letters.codes,
                "dead_letter_file": str(self.dead_letters.path) if self.dead_letters.count else None}
