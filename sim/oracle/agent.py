"""The in-namespace agent: one long-lived process per pod, node or client namespace.

Started as ``ip netns exec NS python3 agent.py --name NAME [--serve tcp:80 --serve udp:53]``
(stdlib only, so it starts without importing ``sim``). It serves every given port on
0.0.0.0 and answers each TCP connection or UDP datagram with one JSON line
``{"pod": NAME, "peer": "ip:port", "local": "ip:port"}``: which pod answered and the source
address it saw. It also reads JSON commands on stdin, one per line, and writes one JSON result
line per command on stdout::

    {"op": "probe", "proto": "tcp", "dst": "10.96.0.10", "port": 80, "src": "203.0.113.7",
     "count": 100, "timeout_s": 0.5}
    -> {"results": [{"status": "ok", "pod": "web-1", "peer": "10.0.1.1:40112",
                     "local": "10.244.1.2:80", "sport": 40112}, ...]}

``status`` is ``ok``, ``refused`` (ECONNREFUSED: a REJECT or no listener; or EPERM: a node's
own packet rejected in OUTPUT), ``timeout``
(nothing came back: a DROP), ``unreachable`` (EHOSTUNREACH/ENETUNREACH) or ``error``.
Probes run one after the other, each on a fresh socket (a fresh source port, so a new conntrack
entry and a new pass through the nat table).
"""

from __future__ import annotations

import argparse
import errno
import json
import selectors
import socket
import sys
import threading
import time

MAX_COUNT = 100000
MAX_TIMEOUT_S = 10.0


def _addr(pair) -> str:
    return f"{pair[0]}:{pair[1]}"


class Server(threading.Thread):
    """Serves TCP and UDP ports; each answer names the pod and the peer it saw."""

    def __init__(self, name: str, ports: list[tuple[str, int]]) -> None:
        super().__init__(daemon=True)
        self.name_ = name
        self.sel = selectors.DefaultSelector()
        for proto, port in ports:
            if proto == "tcp":
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("0.0.0.0", port))
                s.listen(4096)
            else:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("0.0.0.0", port))
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ, proto)

    def answer(self, peer, local) -> bytes:
        body = {"pod": self.name_, "peer": _addr(peer), "local": _addr(local)}
        return (json.dumps(body) + "\n").encode()

    def run(self) -> None:
        while True:
            for key, _ in self.sel.select(timeout=1.0):
                sock = key.fileobj
                try:
                    if key.data == "tcp":
                        conn, peer = sock.accept()
                        conn.settimeout(1.0)
                        conn.sendall(self.answer(peer, conn.getsockname()))
                        conn.close()
                    else:
                        _, peer = sock.recvfrom(2048)
                        sock.sendto(self.answer(peer, sock.getsockname()), peer)
                except OSError:
                    continue


def _classify(exc: OSError) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if exc.errno in (errno.ECONNREFUSED, errno.EPERM):
        # EPERM: the node's own packet was rejected in OUTPUT and the kernel fails the send
        # at once (a UDP send to a Service without endpoints); what TCP reports as refused.
        return "refused"
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    if exc.errno == errno.ETIMEDOUT:
        return "timeout"
    return "error"


def probe_once(proto: str, dst: str, port: int, src: str | None, timeout_s: float) -> dict:
    """One connection (TCP) or one request datagram (UDP); never blocks past ``timeout_s``."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.settimeout(timeout_s)
    sport = 0
    try:
        # Bind first so the source port is known even when connect() fails (the conntrack
        # entry of a timed-out or refused connection carries it too).
        s.bind((src or "0.0.0.0", 0))
        sport = s.getsockname()[1]
        deadline = time.monotonic() + timeout_s
        s.connect((dst, port))
        if proto == "udp":
            s.send(b"probe\n")
        data = b""
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out")
            s.settimeout(left)
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        body = json.loads(data.decode())
        return {"status": "ok", "sport": sport, **body}
    except OSError as exc:
        out = {"status": _classify(exc), "sport": sport}
        if out["status"] == "error":
            out["detail"] = f"{exc.__class__.__name__}: {exc}"
        return out
    except ValueError as exc:
        return {"status": "error", "sport": sport, "detail": f"bad answer: {exc}"}
    finally:
        s.close()


def handle(cmd: dict) -> dict:
    """Execute one command line."""
    op = cmd.get("op")
    if op == "ping":
        return {"pong": True}
    if op == "probe":
        count = max(1, min(int(cmd.get("count", 1)), MAX_COUNT))
        timeout_s = max(0.01, min(float(cmd.get("timeout_s", 1.0)), MAX_TIMEOUT_S))
        results = [
            probe_once(cmd["proto"], cmd["dst"], int(cmd["port"]), cmd.get("src"), timeout_s)
            for _ in range(count)
        ]
        return {"results": results}
    return {"error": f"unknown op {op!r}"}


def main(argv: list[str] | None = None) -> int:
    """Serve the ports, then answer stdin commands until stdin closes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--serve", action="append", default=[], help="tcp:PORT or udp:PORT")
    args = parser.parse_args(argv)
    ports = []
    for item in args.serve:
        proto, port = item.split(":")
        ports.append((proto, int(port)))
    Server(args.name, ports).start()
    sys.stdout.write(json.dumps({"ready": args.name}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = handle(json.loads(line))
        except (KeyError, ValueError, TypeError) as exc:
            out = {"error": f"{exc.__class__.__name__}: {exc}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
