"""What a userspace proxy costs against the kernel's DNAT, measured in one run (root only).

Two nodes and two pods in network namespaces (``sim.oracle``): a client pod on n1, an echo
server pod on n2. On n1 the cluster IP's port 80 is DNATed to the server by one nat rule
(what the iptables proxier does), and its port 81 is REDIRECTed to a relay listening on the
node (``sim.oracle.relay``: accept, dial the server from the node, copy both ways: what the
1.0 userspace proxier did). The client then, alternating direct and relay sample by sample
(so a load spike on the shared machine hits both alike), times:

* ``--conns`` new connections, each to the first byte of the echo of one 100-byte request
  (accept + dial + two copies through the relay);
* ``--rtts`` requests over one open connection per path (round trips: two copies each).

Each repeat reports the median sample per kind; the figures are medians over
``--repeats``. Derived: ``per_packet_s`` = (relay - direct round trip) / 2 (one
read and one write in user space per direction); ``setup_s`` = (relay - direct connection) -
2 * ``per_packet_s`` (accept, the load balancer, the dial and its extra kernel handshake).
Also the time of one ``iptables -t nat -C`` process (1.0 ran one per rule, see
``sim.world.userspace``), legacy and nft.

The relay is Python (threads), not Go: its costs are an upper bound of the 1.0 proxy's on the
same machine. The figures feed the defaults of ``sim.world.params.UserspaceParams``.

Usage: ``sudo .venv/bin/python benchmarks/userspace_bench.py [--conns 300 --rtts 1000
--repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.oracle import ClusterSpec, KernelCluster, NodeSpec, PodSpec, skip_reason  # noqa: E402
from sim.oracle.relay import Relay  # noqa: E402

VIP = "10.96.0.10"
SERVER_PORT = 9000
PROXY_PORT = 41000

ECHO = """
import socket, threading
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("0.0.0.0", %d)); ls.listen(4096)
print("ready", flush=True)
def serve(c):
    while True:
        d = c.recv(4096)
        if not d: break
        c.sendall(d)
    c.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
""" % SERVER_PORT

CLIENT = """
import json, socket, statistics, sys, time
dst, direct, relay, n_conns, n_rtts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
msg = b"x" * 100
def conn(port):
    t = time.perf_counter()
    s = socket.create_connection((dst, port)); s.sendall(msg); s.recv(4096)
    took = time.perf_counter() - t
    s.close()
    return took
def rtt(s):
    t = time.perf_counter(); s.sendall(msg); s.recv(4096)
    return time.perf_counter() - t
out = {"conn_direct": [], "conn_relay": [], "rtt_direct": [], "rtt_relay": []}
for _ in range(n_conns):  # alternating, one sample each: load spikes hit both alike
    out["conn_direct"].append(conn(direct)); out["conn_relay"].append(conn(relay))
a, b = socket.create_connection((dst, direct)), socket.create_connection((dst, relay))
for _ in range(n_rtts):
    out["rtt_direct"].append(rtt(a)); out["rtt_relay"].append(rtt(b))
a.close(); b.close()
print(json.dumps({k: statistics.median(v) for k, v in out.items()}))
"""

RULES = f"""*nat
-A PREROUTING -d {VIP}/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.2.20:{SERVER_PORT}
-A PREROUTING -d {VIP}/32 -p tcp -m tcp --dport 81 -j REDIRECT --to-ports {PROXY_PORT}
COMMIT
"""


def _client(kc: KernelCluster, n_conns: int, n_rtts: int) -> dict:
    out = subprocess.run(["ip", "netns", "exec", kc.netns("client"), sys.executable, "-c", CLIENT,
                          VIP, "80", "81", str(n_conns), str(n_rtts)], capture_output=True,
                         text=True, check=True, timeout=300)
    return json.loads(out.stdout)


TIMER = """
import statistics, subprocess, sys, time
n, cmd = int(sys.argv[1]), sys.argv[2:]
tool, base = [], []
for _ in range(n):  # alternating, one sample each
    t = time.perf_counter(); subprocess.run(cmd, capture_output=True); tool.append(time.perf_counter() - t)
    t = time.perf_counter(); subprocess.run(["true"], capture_output=True); base.append(time.perf_counter() - t)
print(statistics.median(tool) - statistics.median(base))
"""


def _iptables_call_s(kc: KernelCluster, tool: str, n: int = 60) -> float | None:
    """One ``TOOL -w -t nat -C`` process in n1: the median of ``n`` timed one by one,
    minus the median of ``true`` timed in between (the fork and exec any command pays)."""
    path = shutil.which(tool)
    if path is None:
        return None
    ns = kc.netns("n1")
    rule = ["-t", "nat", "-C", "PREROUTING", "-d", f"{VIP}/32", "-p", "tcp", "-m", "tcp",
            "--dport", "81", "-j", "REDIRECT", "--to-ports", str(PROXY_PORT)]
    subprocess.run(["ip", "netns", "exec", ns, path, "-w", "-t", "nat", "-A"] + rule[3:],
                   check=False, capture_output=True)
    out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", TIMER, str(n), path,
                          "-w"] + rule, capture_output=True, text=True, check=True, timeout=300)
    return float(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conns", type=int, default=300)
    parser.add_argument("--rtts", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    reason = skip_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    spec = ClusterSpec(
        nodes=(NodeSpec("n1", "192.168.0.1", "10.244.1.0/24"),
               NodeSpec("n2", "192.168.0.2", "10.244.2.0/24")),
        pods=(PodSpec("client", "n1", "10.244.1.10"), PodSpec("server", "n2", "10.244.2.20")))
    rows = {k: [] for k in ("conn_direct", "conn_relay", "rtt_direct", "rtt_relay")}
    with KernelCluster(spec) as kc:
        kc.restore("n1", RULES, noflush=True)
        echo = subprocess.Popen(["ip", "netns", "exec", kc.netns("server"), sys.executable,
                                 "-u", "-c", ECHO], stdout=subprocess.PIPE, text=True)
        try:
            echo.stdout.readline()
            with Relay(kc.netns("n1"), PROXY_PORT, [f"10.244.2.20:{SERVER_PORT}"]):
                _client(kc, 50, 50)  # warm up both paths
                for _ in range(args.repeats):
                    for k, v in _client(kc, args.conns, args.rtts).items():
                        rows[k].append(v)
            legacy = _iptables_call_s(kc, "iptables-legacy")
            nft = _iptables_call_s(kc, "iptables-nft")
        finally:
            echo.kill()
            echo.wait()
    med = {k: statistics.median(v) for k, v in rows.items()}
    per_packet = (med["rtt_relay"] - med["rtt_direct"]) / 2
    setup = med["conn_relay"] - med["conn_direct"] - 2 * per_packet
    print(f"machine: {platform.machine()} {platform.processor() or ''} "
          f"{len(__import__('os').sched_getaffinity(0))} CPUs, Python {platform.python_version()}, "
          f"kernel {platform.release()}; medians of {args.repeats} repeats")
    print(f"new connection + 1 request: direct DNAT {med['conn_direct'] * 1e6:8.1f} us, "
          f"relay {med['conn_relay'] * 1e6:8.1f} us ({med['conn_relay'] / med['conn_direct']:.2f}x)")
    print(f"round trip on an open one:  direct DNAT {med['rtt_direct'] * 1e6:8.1f} us, "
          f"relay {med['rtt_relay'] * 1e6:8.1f} us ({med['rtt_relay'] / med['rtt_direct']:.2f}x)")
    print(f"derived: per_packet_s = {per_packet * 1e6:.1f} us, setup_s = {setup * 1e6:.1f} us")
    for name, v in (("iptables-legacy", legacy), ("iptables-nft", nft)):
        if v is not None:
            print(f"one `{name} -t nat -C` process: {v * 1e3:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
