"""The destination's migration port is one no other program holds: a busy port is skipped, not handed to QEMU."""

from __future__ import annotations

import subprocess
import sys

import pytest

from virtkernel.enums import DomainMigrateFlags as M, DomainState
from virtkernel_qemu.migration import PORTS

pytestmark = pytest.mark.timeout(60)

HOLD_PORT = """
import socket, sys
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(sys.argv[1])))
server.listen(1)
print("listening", flush=True)
sys.stdin.read()
"""


def test_a_port_another_program_listens_on_is_not_given_to_the_destination(hosts, workdir):
    port = PORTS.acquire()  # the port the driver would take next ...
    PORTS.release(port)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_PORT, str(port)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # ... now held by another program
    try:
        assert holder.stdout.readline().strip() == "listening"
        dom = hosts.boot()
        moved = dom.migrate3(hosts.b, {"migrate_uri": "tcp://127.0.0.1"}, int(M.LIVE))
        assert moved.get_state()[0] == DomainState.RUNNING
        hosts.wait_passes(1)
        assert holder.poll() is None  # the other program kept its port
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert PORTS.in_use() == frozenset()
