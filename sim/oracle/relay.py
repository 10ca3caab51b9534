"""A tiny userspace TCP relay, as the 1.0 kube-proxy ran one per service port.

Run inside a node namespace (stdlib only, like :mod:`sim.oracle.agent`)::

    ip netns exec NS python3 relay.py --listen 41000 --backend 10.244.1.11:8080 [--backend ...]

It listens on 0.0.0.0:PORT; for each accepted connection it dials the next backend (round
robin), copies bytes both ways until both sides are done, and writes one JSON line per
connection to stdout: the client's address and the local address it reached (after the
kernel's REDIRECT or DNAT), the backend, and the source address of the dial (what the
backend sees). It prints ``{"ready": PORT}`` once listening and stops when stdin closes.
:class:`Relay` starts one in a :class:`~sim.oracle.cluster.KernelCluster` node.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import subprocess
import sys
import threading
from pathlib import Path

DIAL_TIMEOUT_S = 1.0


def _addr(pair) -> str:
    return f"{pair[0]}:{pair[1]}"


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    """io.Copy then CloseWrite, as upstream's copyBytes."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _serve(conn: socket.socket, out: socket.socket) -> None:
    back = threading.Thread(target=_pipe, args=(out, conn), daemon=True)
    back.start()
    _pipe(conn, out)
    back.join()
    conn.close()
    out.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--backend", action="append", required=True, help="IP:PORT")
    args = parser.parse_args(argv)
    backends = [(b.rsplit(":", 1)[0], int(b.rsplit(":", 1)[1])) for b in args.backend]
    lock = threading.Lock()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", args.listen))
    ls.listen(4096)
    sys.stdout.write(json.dumps({"ready": args.listen}) + "\n")
    sys.stdout.flush()
    cursor = 0
    while True:
        ready, _, _ = select.select([ls, sys.stdin], [], [])
        if sys.stdin in ready and not sys.stdin.readline():
            return 0
        if ls not in ready:
            continue
        conn, peer = ls.accept()
        backend = backends[cursor % len(backends)]
        cursor += 1
        record = {"client": _addr(peer), "local": _addr(conn.getsockname()),
                  "backend": _addr(backend)}
        try:
            out = socket.create_connection(backend, timeout=DIAL_TIMEOUT_S)
            out.settimeout(None)
            record["source"] = _addr(out.getsockname())
        except OSError as exc:
            record["error"] = f"{exc.__class__.__name__}: {exc}"
            conn.close()
            out = None
        with lock:
            sys.stdout.write(json.dumps(record) + "\n")
            sys.stdout.flush()
        if out is not None:
            threading.Thread(target=_serve, args=(conn, out), daemon=True).start()


class Relay:
    """A relay process in namespace ``netns``; a context manager that stops it."""

    def __init__(self, netns: str, listen: int, backends: list[str]) -> None:
        argv = ["ip", "netns", "exec", netns, sys.executable, "-u", str(Path(__file__)),
                "--listen", str(listen)]
        for b in backends:
            argv += ["--backend", b]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        ready, _, _ = select.select([self.proc.stdout], [], [], 15.0)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith('{"ready"'):
            self.proc.kill()
            raise RuntimeError(f"relay did not start: {line or self.proc.stderr.read()}")
        # Drain the records as they come: a full pipe would stall the relay.
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self._lines.append(line)

    def __enter__(self) -> "Relay":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> list[dict]:
        """Stop the relay and return one record per connection it accepted."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._reader.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if not stream.closed:
                stream.close()
        return [json.loads(x) for x in self._lines if x.strip()]


if __name__ == "__main__":
    sys.exit(main())
