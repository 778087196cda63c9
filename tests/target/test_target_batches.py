"""`write_mode: async | auto` through the real path (the target as a subprocess, the NetSuite stand-in over HTTP):
batch upserts with records refused inside batches, SIGKILL while jobs are pending, a stand-in restarted while a job
is in flight, and dry_run."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sandbox.client import NetSuiteClient
from target_helpers import CUSTOMER_SCHEMA, DEMO_TBA, TARGET_EXE, NetSuiteAdmin, customer, dead_letters, run_target

REJECTED = r"^A\d(07|57)$"  # 2% of A000..A999


def _messages(records: list[dict], every: int = 100) -> list[dict]:
    messages: list[dict] = [CUSTOMER_SCHEMA]
    for index, record in enumerate(records, start=1):
        messages.append(record)
        if index % every == 0 or index == len(records):
            messages.append({"type": "STATE", "value": {"bookmarks": {"customer": {"position": index}}}})
    return messages


def _jobs(base_url: str) -> list[dict]:
    return NetSuiteClient(base_url, timeout=10).jobs()


@pytest.mark.parametrize("mode", ["async", "auto"])
def test_batches_with_refused_records(admin: NetSuiteAdmin, config: dict, tmp_path: Path, netsuite_url: str,
                                      mode: str) -> None:
    """1,000 customers, 2% refused inside their batches: every accepted one in NetSuite once, every refused one
    dead-lettered with its own error, state at the end; `auto` uses both pools."""
    admin.knobs(reject_external_id_pattern=REJECTED, async_processors=4, async_latency_ms=2, write_latency_ms=2)
    records = [customer(f"A{i:03}", phone=f"555-{i:04}") for i in range(1000)]
    run = run_target({**config, "write_mode": mode}, _messages(records), tmp_path)

    assert run.returncode == 0, run.stderr[-3000:]
    assert run.states[-1]["bookmarks"]["customer"]["position"] == 1000
    refused = {f"A{i:03}" for i in range(1000) if i % 50 == 7}
    assert len(refused) == 20
    stored = admin.records("customer")
    assert len(stored) == 980
    assert {r["externalId"] for r in stored} == {f"A{i:03}" for i in range(1000)} - refused
    assert all(r["phone"] == f"555-{int(r['externalId'][1:]):04}" for r in stored)
    letters = dead_letters(config)
    assert sorted(letter["externalId"] for letter in letters) == sorted(refused)
    for letter in letters:  # the account's validation rule, the same words for every refused record
        assert letter["code"] == "USER_ERROR" and "validation rule" in letter["detail"]
    jobs = _jobs(netsuite_url)
    in_jobs = [task["external_id"] for job in jobs for task in job["tasks"]]
    assert len(in_jobs) == len(set(in_jobs))  # no record submitted in two jobs
    assert all(len(job["tasks"]) <= 100 and job["idempotency_key"] for job in jobs)
    synchronous = [e for e in admin.request_log() if e["method"] == "PUT" and "/eid:" in e["path"]]
    if mode == "async":
        assert len(in_jobs) == 1000 and not synchronous
    else:  # both pools took records, and together exactly the input
        assert in_jobs and synchronous
        assert len(in_jobs) + len(synchronous) == 1000
    report = json.loads(Path(config["run_report_path"]).read_text())
    assert report["streams"]["customer"]["written"] == 980
    assert report["streams"]["customer"]["dead_lettered"] == 20


def test_sigkill_while_jobs_are_pending_then_rerun(admin: NetSuiteAdmin, config: dict, tmp_path: Path,
                                                   netsuite_url: str) -> None:
    """Killed while its jobs run, the rerun submits the same batches with the same content-derived keys: NetSuite
    answers IDEMPOTENCY_ERROR with the job already submitted, whose results the target reads. No duplicate, no lost
    record, no job submitted twice for the same content (the stand-in's job log)."""
    admin.knobs(async_processors=1, async_latency_ms=4)
    records = [customer(f"S{i:03}", phone=f"555-{i:04}") for i in range(500)]
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({**config, "write_mode": "async", "batch_size_rows": 1000,
                                       "checkpoint_interval_seconds": 600}))
    stdin_file = tmp_path / "input.jsonl"
    stdin_file.write_text("".join(json.dumps(m) + "\n" for m in _messages(records)))
    rng = random.Random(15)
    for attempt in range(3):
        with stdin_file.open() as stdin:
            process = subprocess.Popen([TARGET_EXE, "--config", str(config_file)], stdin=stdin,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            if attempt < 2:  # kill once this run has a job of its own pending (submitted or found), at random
                before = sum(j["refused_resubmissions"] + 1 for j in _jobs(netsuite_url))
                deadline = time.monotonic() + 60
                while sum(j["refused_resubmissions"] + 1 for j in _jobs(netsuite_url)) == before:
                    assert process.poll() is None and time.monotonic() < deadline
                    time.sleep(0.02)
                time.sleep(rng.uniform(0, 0.3))
                process.send_signal(signal.SIGKILL)
            stdout, _ = process.communicate(timeout=120)
        if attempt < 2:
            assert process.returncode == -signal.SIGKILL
            pending = [t for j in _jobs(netsuite_url) for t in j["tasks"] if t["progress"] != "succeeded"]
            assert pending or attempt == 1, "the first kill came after every job had finished"
        if attempt == 0:
            before_kill = {job["id"] for job in _jobs(netsuite_url)}
    assert process.returncode == 0
    states = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert states[-1]["bookmarks"]["customer"]["position"] == 500
    stored = admin.records("customer")
    assert len(stored) == 500
    assert {r["externalId"]: r["phone"] for r in stored} == {f"S{i:03}": f"555-{i:04}" for i in range(500)}
    jobs = _jobs(netsuite_url)
    in_jobs = sorted(t["external_id"] for job in jobs for t in job["tasks"])
    assert in_jobs == sorted(f"S{i:03}" for i in range(500))  # each batch's content submitted once
    # every job the killed run had submitted was found by the rerun (same batches, same content-derived keys)
    assert before_kill and all(job["refused_resubmissions"] >= 1 for job in jobs if job["id"] in before_kill)
    assert admin.stats()["writes"]["created"] == 500


def _serve(data_dir: Path, ports: tuple[int, int]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--data-dir", str(data_dir), "--salesforce-port", str(ports[0]),
         "--netsuite-port", str(ports[1]), "--log-level", "warning"],
        stdout=(data_dir / "sandbox.log").open("ab"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        if NetSuiteClient(f"http://127.0.0.1:{ports[1]}").health():
            return process
        assert process.poll() is None and time.monotonic() < deadline, (data_dir / "sandbox.log").read_text()
        time.sleep(0.1)


def _free_ports(count: int) -> tuple[int, ...]:
    """Distinct free ports: every socket stays bound until all are chosen."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return tuple(int(sock.getsockname()[1]) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()


def test_sandbox_restarted_while_a_job_is_in_flight(tmp_path: Path) -> None:
    """The stand-in is killed with a job half done and started again on the same data: the target keeps polling
    (its retries outlast the restart) and the job resumes, every record written once."""
    data_dir = tmp_path / "sandbox"
    data_dir.mkdir()
    ports = _free_ports(2)
    url = f"http://127.0.0.1:{ports[1]}"
    sandbox = _serve(data_dir, ports)
    target: subprocess.Popen[str] | None = None
    try:
        NetSuiteAdmin(url).knobs(async_processors=1, async_latency_ms=10)
        config = {**DEMO_TBA, "base_url": url, "dead_letter_path": str(tmp_path / "dead_letters"),
                  "write_mode": "async", "max_retries": 10, "backoff_factor": 0.2, "request_timeout": 10,
                  "lock_path": str(tmp_path / "lock")}
        config_file = tmp_path / "config.json"
        config_file.write_text(json.dumps(config))
        records = [customer(f"R{i:03}") for i in range(200)]
        stdin_file = tmp_path / "input.jsonl"
        stdin_file.write_text("".join(json.dumps(m) + "\n" for m in _messages(records)))
        with stdin_file.open() as stdin:
            target = subprocess.Popen([TARGET_EXE, "--config", str(config_file)], stdin=stdin,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not any(t["progress"] == "succeeded" for j in _jobs(url) for t in j["tasks"]):
            assert time.monotonic() < deadline and target.poll() is None
            time.sleep(0.01)
        sandbox.send_signal(signal.SIGKILL)
        sandbox.wait(timeout=10)
        time.sleep(0.5)
        sandbox = _serve(data_dir, ports)
        stdout, stderr = target.communicate(timeout=120)
        assert target.returncode == 0, stderr[-3000:]
        states = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        assert states[-1]["bookmarks"]["customer"]["position"] == 200
        stored = NetSuiteAdmin(url).records("customer")
        assert sorted(r["externalId"] for r in stored) == [f"R{i:03}" for i in range(200)]
        jobs = _jobs(url)
        in_jobs = sorted(t["external_id"] for job in jobs for t in job["tasks"])
        assert in_jobs == [f"R{i:03}" for i in range(200)]  # polled to the end, nothing submitted again
        assert all(t["progress"] == "succeeded" for j in jobs for t in j["tasks"])
    finally:
        if target is not None and target.poll() is None:
            target.kill()
        sandbox.terminate()
        sandbox.wait(timeout=15)


def test_dry_run_submits_no_batch(admin: NetSuiteAdmin, config: dict, tmp_path: Path, netsuite_url: str) -> None:
    for mode in ("async", "auto"):
        run = run_target({**config, "write_mode": mode, "dry_run": True},
                         _messages([customer(f"D{i:02}") for i in range(50)]), tmp_path)
        assert run.returncode == 0, run.stderr[-2000:]
    assert _jobs(netsuite_url) == []
    assert admin.records("customer") == []
    assert not [e for e in admin.request_log() if e["method"] == "PUT"]


def test_content_sent_again_after_its_batch_settled_is_written_again(admin: NetSuiteAdmin, config: dict,
                                                                     tmp_path: Path, netsuite_url: str) -> None:
    """A replay (or a repair) of content NetSuite ran as a job in an earlier, finished run is a new job, not
    answered from the old job's results; as in `sync`, a person's edit in NetSuite since then stands (the three-way
    merge, merge.py: Salesforce did not change that field)."""
    admin.knobs(async_processors=2, async_latency_ms=1)
    messages = _messages([customer(f"R{i:02}", phone=f"555-{i:04}") for i in range(30)])
    settings = {**config, "write_mode": "async", "ledger": "off"}
    assert run_target(settings, messages, tmp_path).returncode == 0
    first_jobs = len(_jobs(netsuite_url))
    assert first_jobs >= 1
    edited = admin.by_external_id("customer")["R07"]["id"]
    admin.edit_record("customer", str(edited), {"phone": "edited in NetSuite"})

    rerun = run_target(settings, messages, tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert admin.by_external_id("customer")["R07"]["phone"] == "edited in NetSuite"
    jobs = _jobs(netsuite_url)
    assert len(jobs) == 2 * first_jobs and not any(job["refused_resubmissions"] for job in jobs)


CONTACT_SCHEMA = {
    "type": "SCHEMA", "stream": "contact", "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {"externalId": {"type": "string"}, "lastName": {"type": "string"},
                                                "company": {"type": "object"}, "subsidiary": {"type": "object"}}},
}


def test_children_get_parent_ids_from_task_results(admin: NetSuiteAdmin, config: dict, tmp_path: Path,
                                                   netsuite_url: str) -> None:
    """Customers written in a batch, then contacts referencing them: the internal ids come from the task results
    (no SuiteQL lookup besides the start-up check)."""
    customers = [customer(f"PB{i:02}") for i in range(40)]
    contacts = [{"type": "RECORD", "stream": "contact", "record": {
        "externalId": f"CB{i:02}", "lastName": f"Contact {i}", "subsidiary": {"id": "1"},
        "company": {"externalId": f"PB{i % 40:02}", "type": "customer"}}} for i in range(40)]
    messages = [CUSTOMER_SCHEMA, CONTACT_SCHEMA, *customers, *contacts,
                {"type": "STATE", "value": {"bookmarks": {"all": {"done": True}}}}]
    run = run_target({**config, "write_mode": "async", "match_mode": "create"}, messages, tmp_path)

    assert run.returncode == 0, run.stderr[-3000:]
    by_eid = admin.by_external_id("customer")
    written = admin.by_external_id("contact")
    assert len(written) == 40
    for i in range(40):
        assert written[f"CB{i:02}"]["company"]["id"] == by_eid[f"PB{i % 40:02}"]["id"]
    suiteql = [e for e in admin.request_log() if e["path"].endswith("/suiteql")]
    assert len(suiteql) == 1  # the connection check
    assert [job["record_type"] for job in _jobs(netsuite_url)] == ["customer", "contact"]


def test_jobs_stopped_part_way_are_finished_by_new_batches(admin: NetSuiteAdmin, config: dict, tmp_path: Path,
                                                           netsuite_url: str) -> None:
    """NetSuite stops every job after 30 tasks (`UNEXPECTED_ERROR` for the rest, not the records' fault): the
    records of the failed tasks go again in new batches (new attempt, new key) until written; none dead-lettered."""
    admin.knobs(async_fail_after=30)
    records = [customer(f"F{i:03}") for i in range(200)]
    run = run_target({**config, "write_mode": "async"}, _messages(records), tmp_path)

    assert run.returncode == 0, run.stderr[-3000:]
    assert run.states[-1]["bookmarks"]["customer"]["position"] == 200
    assert sorted(r["externalId"] for r in admin.records("customer")) == [f"F{i:03}" for i in range(200)]
    assert dead_letters(config) == []
    jobs = _jobs(netsuite_url)
    succeeded = [t["external_id"] for job in jobs for t in job["tasks"] if t["progress"] == "succeeded"]
    assert sorted(succeeded) == [f"F{i:03}" for i in range(200)]  # each written by exactly one task
    assert any(t["progress"] == "failed" for job in jobs for t in job["tasks"])
    assert len({job["idempotency_key"] for job in jobs}) == len(jobs)


def test_a_job_failing_every_time_fails_the_run_without_state(admin: NetSuiteAdmin, config: dict, tmp_path: Path
                                                              ) -> None:
    admin.knobs(async_fail_after=0)
    run = run_target({**config, "write_mode": "async", "max_retries": 1},
                     _messages([customer(f"G{i:02}") for i in range(30)], every=30), tmp_path)

    assert run.returncode == 1
    assert run.states == []
    assert dead_letters(config) == []  # not the records' fault: the next run sends them again
    assert "failed 2 times for reasons that are not theirs" in run.stderr
    assert "Traceback" not in run.stderr
