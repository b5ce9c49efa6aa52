"""`dreamlite serve` makes no outbound connection while it starts and serves a request: the server process runs
with an audit hook that records every socket connect and name lookup."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx

from .serve_helpers import free_port, wait

HOOK = """
import ipaddress, json, sys
log = open(sys.argv[1], "a")
def local(host):
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
def hook(event, args):
    if event == "socket.connect":
        address = args[1]
        host = address[0] if isinstance(address, tuple) else str(address)
        log.write(json.dumps({"event": event, "host": host, "local": local(host)}) + "\\n"); log.flush()
    elif event == "socket.getaddrinfo":
        log.write(json.dumps({"event": event, "host": str(args[0]), "local": local(args[0])}) + "\\n"); log.flush()
sys.addaudithook(hook)
from dreamlite.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_no_outbound_connection_while_starting_and_serving(tmp_path):
    port, log = free_port(), tmp_path / "connections.jsonl"
    log.touch()
    proc = subprocess.Popen([sys.executable, "-c", HOOK, str(log), "serve", "--port", str(port), "--out",
                             str(tmp_path / "out")], stderr=subprocess.PIPE, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.time() + 120
            while True:
                try:
                    client.get("/api/model")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stderr.read()
                    assert time.time() < deadline, "the server did not start"
                    time.sleep(0.2)
            assert client.get("/").status_code == 200
            job = client.post("/api/generate", json={"prompt": "a red circle", "steps": 2}).json()
            assert wait(client, job["id"])["state"] == "done"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    outbound = [r for r in records if not r["local"]]
    assert not outbound, outbound
