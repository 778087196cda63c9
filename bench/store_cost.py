"""The store's cost per run (`store_uri`): the queries and milliseconds the target's durable parts spend in one
run, on the default SQLite files and on PostgreSQL (a local server started for the bench, Debian's packages).

    .venv/bin/python bench/store_cost.py [--records 1000] [--wave 100] [--parked 50] [--runs 5] [--postgres-uri URI]

One "run" replays what the target asks of its store for `--records` upserts of one record type written in waves of
`--wave` synchronous writes, each record changed since the last run (the worst case: nothing skipped): per wave
the ledger lookup of the wave's keys (accepted and refused), the invalidation of changed entries, the in-flight
wave mark and its end, the other runs' waves, the merge history read, the pending values, and after NetSuite's
answers the merge settlement and the ledger record; plus `--parked` children parked and settled, and the end-of-run
listing of parked records. NetSuite itself is not in the loop: only the store's time is measured (wall clock, this
process), and every statement sent to the database is counted (SQLAlchemy's `before_cursor_execute`; SQLite's
`BEGIN IMMEDIATE` included). The first run (tables created) is reported apart; the figure is the median of the
others. Results go to bench/results/store_cost.md.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from connector_kit.store import Store, Stores
from connector_kit.store_accounts import account_schema
from target_netsuite.batches import SubmittedBatches
from target_netsuite.ledger import WriteLedger
from target_netsuite.merge import MergeStore
from target_netsuite.parking import ParkedRecords

#: The sandbox account's schema in a PostgreSQL store (one schema per NetSuite account).
STORE_SCHEMA = account_schema("1234567_SB1")

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ("companyName", "phone", "email")


class Counter:
    def __init__(self) -> None:
        self.statements = 0

    def attach(self, store: Store) -> None:
        sa.event.listen(store.engine(), "before_cursor_execute", self._count)

    def _count(self, *_args: object) -> None:
        self.statements += 1


def one_run(stores: Stores, counter: Counter, run: int, args: argparse.Namespace) -> float:
    for name in ("ledger", "batches", "merge", "parked"):
        counter.attach(stores.part(name))
    ledger = WriteLedger(stores.part("ledger"), "acct")
    nonces = SubmittedBatches(stores.part("batches"), "acct", f"run-{run}")
    merge = MergeStore(stores.part("merge"), "acct")
    parked = ParkedRecords(stores.part("parked"))
    started = time.perf_counter()
    ids = [f"SF{n:06d}" for n in range(args.records)]
    for start in range(0, len(ids), args.wave):
        wave = ids[start : start + args.wave]
        hashes = {eid: f"h{run}-{eid}" for eid in wave}
        ledger.known("customer", wave)
        ledger.refusals("customer", wave)
        ledger.invalidate("customer", wave)
        nonces.others_in_flight(bound_s=120)
        row = nonces.start_wave("customer", dict(hashes))
        merge.merged("customer", wave)
        merge.mark_pending("customer", [(eid, name, f"{name}-{run}") for eid in wave for name in FIELDS])
        merge.settle("customer", [(eid, name, f"{name}-{run}", f"{name}-{run}") for eid in wave for name in FIELDS],
                     [], [])
        ledger.record("customer", list(hashes.items()))
        nonces.end_wave(row)
    for n in range(args.parked):
        parked.park(record_type="contact", external_id=f"C{run}-{n}", stream="contact", record={"n": n},
                    waiting_for="customer SF000000")
    for record in list(parked.all()):
        parked.settle(record.record_type, record.external_id)
    elapsed = time.perf_counter() - started
    stores.close()
    return elapsed


def measure(label: str, make: contextlib.AbstractContextManager[Stores], args: argparse.Namespace) -> dict:
    times, counts = [], []
    with make as stores_factory:
        for run in range(args.runs):
            stores = stores_factory() if callable(stores_factory) else stores_factory
            counter = Counter()
            times.append(one_run(stores, counter, run, args))
            counts.append(counter.statements)
    return {"store": label, "first_ms": times[0] * 1000, "ms": statistics.median(times[1:]) * 1000,
            "statements": statistics.median(counts[1:])}


@contextlib.contextmanager
def sqlite_files() -> Iterator[object]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {"parked": folder / "parked.sqlite3", "ledger": folder / "ledger.sqlite3",
                 "batches": folder / "async_batches.sqlite3", "merge": folder / "merged.sqlite3"}
        yield lambda: Stores(None, schema=STORE_SCHEMA, files=files)


@contextlib.contextmanager
def postgres(uri: str | None) -> Iterator[object]:
    if uri:
        yield lambda: Stores(uri, schema=STORE_SCHEMA, files={})
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from postgres_server import new_database, running_server

    with running_server() as server:
        database = new_database(*server)
        yield lambda: Stores(database, schema=STORE_SCHEMA, files={})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--wave", type=int, default=100)
    parser.add_argument("--parked", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres-uri", help="an existing database (default: a local server started for this)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "store_cost.md")
    args = parser.parse_args()
    rows = [measure("SQLite files (default)", sqlite_files(), args),
            measure("PostgreSQL (local server)", postgres(args.postgres_uri), args)]
    lines = [
        f"# The store's cost per run: {args.records} upserts in waves of {args.wave}, {args.parked} parked and "
        f"settled (median of {args.runs - 1} runs after the first)",
        "",
        "| store | statements per run | ms per run | ms per record | first run (tables created) ms |",
        "|---|---:|---:|---:|---:|",
        *(f"| {r['store']} | {r['statements']:.0f} | {r['ms']:.0f} | {r['ms'] / args.records:.2f} | "
          f"{r['first_ms']:.0f} |" for r in rows),
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
