"""target-netsuite's dead letters as rows: the table, and taking older JSON Lines files into it.

The target writes and resolves the rows (target_netsuite/dead_letters.py); `pipeline-ops` lists, replays, resolves
and migrates them from any host. Both use this one declaration, so the two can never disagree on a column.

Invariant: a letter's natural key is (run id, seq), its position in its run and its line in the run's JSON Lines
file; importing a folder twice adds nothing, and an import never makes an old payload wait again over a newer one
(a letter a newer one of the same record supersedes is imported resolved, and a waiting row it supersedes is
resolved).
"""

from __future__ import annotations

import json
import typing as t

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

if t.TYPE_CHECKING:
    from pathlib import Path

#: The dead letters' SQLite file when the store is the host's own (no `store_uri`), in the dead-letter folder.
DEAD_LETTERS_FILE = "dead_letters.sqlite3"
RESOLVED_FILE = "resolved.ndjson"  # not `*.jsonl`: it holds no dead letters
#: Control key replay adds to each record: an explicit replay sends a payload NetSuite refused before, unchanged.
REPLAY_KEY = "_sdc_replay"
MAPPING_ERROR = "MAPPING_ERROR"

Key = tuple[str, str]  # (record type, external id)

METADATA = sa.MetaData()
#: One row per dead letter.
DEAD_LETTERS = sa.Table(
    "dead_letters", METADATA,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),  # position in its run (its file line)
    sa.Column("time", sa.Text, nullable=False),  # ISO 8601, UTC: sorts as text
    sa.Column("stream", sa.Text, nullable=False),
    sa.Column("record_type", sa.Text, nullable=False),
    sa.Column("external_id", sa.Text),  # none when the record had no usable external id
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("path", sa.Text),
    sa.Column("record", sa.Text, nullable=False),  # the payload as JSON
    sa.Column("resolved_at", sa.Text),  # none while the letter waits
    sa.Column("resolution", sa.Text),  # "written (run R)", "superseded (run R #n)", "by hand: note"
    sa.Index("dead_letters_by_key", "record_type", "external_id", "resolved_at"),
)


def resolved_keys(directory: Path) -> dict[Key, str]:
    """When each key was last written after a dead letter (ISO times), from `resolved.ndjson`."""
    path = directory / RESOLVED_FILE
    if not path.exists():
        return {}
    resolved: dict[Key, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            key = (str(entry["record_type"]), str(entry["externalId"]))
            resolved[key] = max(resolved.get(key, ""), str(entry["time"]))
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line after a crash: that resolution is simply not known
    return resolved


def letter_key(entry: dict) -> Key | None:
    external_id, record_type = entry.get("externalId"), entry.get("record_type")
    return (record_type, external_id) if isinstance(external_id, str) and isinstance(record_type, str) else None


def as_entry(row: sa.RowMapping) -> dict[str, t.Any]:
    """A row as the JSON Lines files hold a letter (what replay and people read), with its key and resolution."""
    return {"time": row["time"], "run_id": row["run_id"], "seq": row["seq"], "stream": row["stream"],
            "record_type": row["record_type"], "externalId": row["external_id"], "action": row["action"],
            "status": row["status"], "code": row["code"], "detail": row["detail"], "path": row["path"],
            "payload": json.loads(row["record"]), "resolved_at": row["resolved_at"], "resolution": row["resolution"]}


def import_files(conn: sa.Connection, directory: Path, *, skip_runs: t.Container[str] = ()) -> tuple[int, int]:
    """Add the letters of the folder's JSON Lines files (and their resolutions in `resolved.ndjson`) to the rows,
    by natural key (run id, line): a letter the rows hold already is left as it is, so importing twice adds nothing.
    A letter is imported resolved when its file says so (written since, or superseded by a newer letter, counting
    the rows already there); a waiting row that an imported letter supersedes is resolved. Lines that are not
    letters (a torn last line after a crash) are skipped. Returns (letters read, letters added)."""
    entries = []
    for file in sorted(directory.glob("*.jsonl")) if directory.is_dir() else []:
        if file.stem in skip_runs:
            continue
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if (isinstance(entry, dict) and isinstance(entry.get("stream"), str)
                    and isinstance(entry.get("payload"), dict) and isinstance(entry.get("time"), str)):
                entries.append({**entry, "run_id": str(entry.get("run_id") or file.stem), "seq": number})
    if not entries:
        return 0, 0
    written = resolved_keys(directory)
    keys = {key for entry in entries if (key := letter_key(entry))}
    c = DEAD_LETTERS.c
    latest: dict[Key, tuple[str, str, int]] = {}
    rows_by_key: dict[Key, list[sa.Row]] = {}
    for row in conn.execute(sa.select(c.record_type, c.external_id, c.time, c.run_id, c.seq, c.resolved_at,
                                      c.resolution).where(c.external_id.is_not(None))):
        key = (row.record_type, row.external_id)
        if key in keys:
            rows_by_key.setdefault(key, []).append(row)
            latest[key] = max(latest.get(key, ("", "", 0)), (row.time, row.run_id, row.seq))
            if row.resolution and row.resolution.startswith("written") and row.resolved_at:
                written[key] = max(written.get(key, ""), row.resolved_at)
    for entry in entries:
        if (key := letter_key(entry)) is not None:
            latest[key] = max(latest.get(key, ("", "", 0)), (entry["time"], entry["run_id"], entry["seq"]))
    before = conn.execute(sa.select(sa.func.count()).select_from(DEAD_LETTERS)).scalar_one()
    rows = []
    for entry in entries:
        key = letter_key(entry)
        resolved_at = resolution = None
        if key is not None and (entry["time"], entry["run_id"], entry["seq"]) != latest[key]:
            resolved_at, resolution = latest[key][0], f"superseded (run {latest[key][1]} #{latest[key][2]})"
        elif key is not None and written.get(key, "") >= entry["time"]:
            resolved_at, resolution = written[key], "written (resolved.ndjson)"
        rows.append({"run_id": entry["run_id"], "seq": entry["seq"], "time": entry["time"],
                     "stream": entry["stream"], "record_type": str(entry.get("record_type") or entry["stream"]),
                     "external_id": key[1] if key else None, "action": str(entry.get("action") or "upsert"),
                     "status": entry.get("status") if isinstance(entry.get("status"), int) else None,
                     "code": str(entry.get("code")), "detail": str(entry.get("detail") or ""),
                     "path": entry.get("path") if isinstance(entry.get("path"), str) else None,
                     "record": json.dumps(entry["payload"], ensure_ascii=False),
                     "resolved_at": resolved_at, "resolution": resolution})
    insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    conn.execute(insert(DEAD_LETTERS).on_conflict_do_nothing(index_elements=[c.run_id, c.seq]), rows)
    for key, stored in rows_by_key.items():  # waiting rows an imported letter supersedes
        newest = latest[key]
        for row in stored:
            if row.resolved_at is None and (row.time, row.run_id, row.seq) != newest:
                conn.execute(DEAD_LETTERS.update().where(c.run_id == row.run_id, c.seq == row.seq).values(
                    resolved_at=newest[0], resolution=f"superseded (run {newest[1]} #{newest[2]})"))
    return len(entries), conn.execute(sa.select(sa.func.count()).select_from(DEAD_LETTERS)).scalar_one() - before
