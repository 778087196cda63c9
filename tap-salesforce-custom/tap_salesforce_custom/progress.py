"""Progress of a long read: one `Progress: {json}` line per stream at a steady interval.

Each line carries `stream`, `done` (records emitted so far), `expected` (REST `totalSize` of the query, or the
Bulk 2.0 job's `numberRecordsProcessed`; null while unknown), `rate` (records/s since the read began) and
`eta_seconds` (null while the expected count is unknown). The same JSON is what an orchestrator scraping the
log (or `pipeline-ops runs` for a run still going) reads; the SDK's `record_count` metrics keep flowing as well.
A read that finishes within one interval logs nothing, so short incremental runs stay quiet.
"""

from __future__ import annotations

import json
import logging
import time


class Progress:
    """Counts one stream's records and logs a progress line at most every `interval` seconds."""

    def __init__(self, logger: logging.Logger, stream: str, interval: float) -> None:
        """Start the clock; `interval` <= 0 logs after every page (tests)."""
        self.logger = logger
        self.stream = stream
        self.interval = interval
        self.expected: int | None = None
        self.done = 0
        self.started = self.last = time.monotonic()
        self.logged = False

    def add(self, records: int) -> None:
        """Count records just emitted; log when the interval has passed."""
        self.done += records
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._log(now)

    def finish(self) -> None:
        """A last line (done == expected, eta 0) if any progress line was logged for this read."""
        if self.logged:
            self._log(time.monotonic(), final=True)

    def _log(self, now: float, *, final: bool = False) -> None:
        elapsed = max(now - self.started, 1e-6)
        rate = self.done / elapsed
        eta = None
        if final:
            eta = 0
        elif self.expected is not None and rate > 0:
            eta = round(max(self.expected - self.done, 0) / rate)
        line = {"stream": self.stream, "done": self.done, "expected": self.expected, "rate": round(rate, 1),
                "eta_seconds": eta}
        self.logged = True
        self.logger.info("Progress: %s", json.dumps(line))
