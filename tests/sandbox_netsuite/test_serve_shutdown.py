"""`sandbox serve` runs four servers (both stand-ins, plain HTTP and TLS) in one process; one SIGTERM or SIGINT
stops them all together and the process exits 0 (the demo and the test session stop it this way)."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
from sandbox.pytest_plugin import free_port_block, start_sandbox


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_one_signal_stops_every_server(tmp_path: Path, sig: signal.Signals) -> None:
    sf_port, ns_port = free_port_block(), free_port_block()
    process = start_sandbox(tmp_path, sf_port, ns_port)
    ports = (sf_port, sf_port + 10, ns_port, ns_port + 10)
    try:
        assert all(_listening(port) for port in ports)
        process.send_signal(sig)
        assert process.wait(timeout=60) == 0, (tmp_path / "sandbox.log").read_text()[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
    assert not any(_listening(port) for port in ports)
