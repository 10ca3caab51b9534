"""``kube-netsim trace --rules`` on very large real-node dumps, and 10,000-Service builds.

Real nodes have published ``iptables-save`` dumps of about 700,000 lines (kubernetes#96018:
695,992 lines). This benchmark writes such dumps and traces one Service packet in them:

``clusterip``
    ``--services`` ClusterIP Services (default 31,000) x ``--endpoints`` endpoints (10) from
    :func:`sim.kubeproxy.iptables.compile_rules` plus kube-proxy's bootstrap rules, applied and
    printed exactly as ``iptables-save`` prints them: about 1,000,000 rules.
``96018``
    shaped like the kubernetes#96018 dump: NodePort Services (26,000 x 5 endpoints, so every
    Service also has KUBE-NODEPORTS and KUBE-EXT rules) with ``iptables-save``'s ``#`` header
    lines: about 700,000 lines.

Each dump is written once to ``--cache`` and reused. For each dump it runs, ``--repeats``
times each, in fresh subprocesses:

* the command itself, ``kube-netsim trace --rules FILE --dst IP --dport 80 --src ...``: wall
  time, CPU time (user + system) and peak RSS from ``wait4``'s rusage of that child alone;
* a phase run of the same pipeline (``sim.commands.trace`` internals): read, parse
  (``parse_restore``), apply/validate (``apply_payload``), engine build (time inside
  ``compile_ruleset``) and walk (``trace_packet`` minus the engine build), CPU seconds each,
  and the peak RSS after each phase.

and the 10,000-Service build phases in-process: compile (``compile_rules``), restore text
(``Payload.render``), parse, apply, engine compilation (``NodeNetfilter``).

``--baseline DIR`` runs the same subprocesses with another source tree first on
``PYTHONPATH`` (e.g. ``git archive 5ea2322 | tar -x -C /tmp/base``), so before and after are
measured in one run. Medians of the repeats are printed; the machine line says where.

Usage::

    .venv/bin/python benchmarks/bigrules_bench.py [--shapes clusterip,96018] [--repeats 3]
        [--baseline DIR] [--cache DIR] [--services 31000] [--endpoints 10] [--no-build]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # imported by the build child: its PYTHONPATH tree decides
    sys.path.insert(0, str(ROOT))

from sim.iptables import apply_payload, render_save  # noqa: E402
from sim.kubeproxy.iptables import bootstrap_payload, compile_rules  # noqa: E402
from sim.model import (  # noqa: E402
    ClusterState,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    KubeProxyConfig,
    Node,
    NodeAddress,
    Service,
    ServicePort,
)
from sim.model.objects import ServiceType  # noqa: E402

NODE = "node-0"
NODE_IP = "192.168.0.10"
SRC = "10.200.0.5:40000"


def service_ip(i: int) -> str:
    return f"10.{96 + i // 65536}.{(i // 256) % 256}.{i % 256}"


def build_state(n_services: int, n_endpoints: int, nodeport: bool = False) -> ClusterState:
    """N Services ``bench/svc-i`` (port 80 -> 8080, NodePort 30000+ when ``nodeport``) with E
    endpoints each over 3 nodes."""
    services, slices = [], []
    for i in range(n_services):
        ip = service_ip(i)
        name = f"svc-{i:05d}"
        port = ServicePort(port=80, name="http", target_port=8080,
                           node_port=(30000 + i % 2768) if nodeport else 0)
        services.append(Service(namespace="bench", name=name, cluster_ip=ip, cluster_ips=(ip,),
                                ports=(port,),
                                type=ServiceType.NODE_PORT if nodeport else ServiceType.CLUSTER_IP))
        eps = []
        for j in range(n_endpoints):
            k = i * n_endpoints + j
            eps.append(Endpoint(addresses=(f"10.{128 + (k // 65536) % 128}.{(k // 256) % 256}.{k % 256}",),
                                node_name=f"node-{j % 3}"))
        slices.append(EndpointSlice(namespace="bench", name=f"{name}-x", service_name=name,
                                    endpoints=tuple(eps),
                                    ports=(EndpointPort(port=8080, name="http"),)))
    nodes = tuple(Node(name=f"node-{n}", addresses=(NodeAddress("InternalIP", f"192.168.0.{10 + n}"),))
                  for n in range(3))
    return ClusterState(kube_proxy=KubeProxyConfig(cluster_cidr="10.128.0.0/9"), nodes=nodes,
                        services=tuple(services), endpoint_slices=tuple(slices))


def write_dump(path: Path, n_services: int, n_endpoints: int, nodeport: bool,
               header: bool) -> None:
    """The node's ``iptables-save`` after kube-proxy's bootstrap and a full sync."""
    state = build_state(n_services, n_endpoints, nodeport)
    base = apply_payload(bootstrap_payload(state.kube_proxy), noflush=True)
    ruleset = apply_payload(compile_rules(state, NODE), base, noflush=True)
    text = render_save(ruleset)
    del ruleset, base, state
    if header:  # what iptables-save prints around each table
        stamp = "Mon Feb  8 10:00:00 2021"
        out = []
        for line in text.splitlines(keepends=True):
            if line.startswith("*"):
                out.append(f"# Generated by iptables-save v1.8.4 on {stamp}\n")
            out.append(line)
            if line == "COMMIT\n":
                out.append(f"# Completed on {stamp}\n")
        text = "".join(out)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.rename(path)


# The phase run: executed in a fresh interpreter, prints one JSON line. It uses the same
# functions as ``kube-netsim trace --rules`` at whichever tree is first on PYTHONPATH.
PHASES = r"""
import gc, json, resource, sys, time
import sim.netfilter.engine as engine
import sim.netfilter.tracer as tracer
from sim.commands import trace as cmd
from sim.iptables import apply_payload, parse_restore
from sim.netfilter import trace_packet
from sim.model.packet import Packet

path, dst, src = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
def mark(name, c0):
    out[name] = time.process_time() - c0
    out[name + "_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
build = [0.0]
for mod, attr in ((engine, "compile_ruleset"), (tracer, "compile_lazy")):
    fn = getattr(mod, attr, None)
    if fn is None:
        continue
    def timed(*a, __fn=fn, **k):
        c = time.process_time()
        try:
            return __fn(*a, **k)
        finally:
            build[0] += time.process_time() - c
    setattr(mod, attr, timed)
c0 = time.process_time()
reader = getattr(cmd, "read_rules_file", None)
if reader is not None:  # the streaming reader: read and parse in one pass
    payload = reader(path)
    mark("read+parse", c0)
else:
    data = open(path, "rb").read().decode()
    mark("read", c0)
    c0 = time.process_time()
    payload = parse_restore(data, path)
    del data
    mark("parse", c0)
c0 = time.process_time()
ruleset = apply_payload(payload)
del payload
if reader is not None:
    gc.freeze()  # as the command does after loading the rules
mark("apply", c0)
sip, sport = src.split(":")
pkt = Packet("tcp", sip, dst, int(sport), 80, "S", in_iface="eth0")
c0 = time.process_time()
outcomes = trace_packet(ruleset, ["192.168.0.10"], pkt, local_out=False, in_iface="eth0")
total = time.process_time() - c0
out["engine"] = build[0]
out["walk"] = total - build[0]
out["walk_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["branches"] = len(outcomes)
print(json.dumps(out))
"""


def popen_wait4(argv: list[str], pythonpath: str) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MiB, stdout) of one child, from ``wait4``'s rusage (that
    child alone)."""
    env = dict(os.environ, PYTHONPATH=pythonpath)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        # cwd: ``python -m``/``-c`` put the working directory before PYTHONPATH.
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, text=True,
                                cwd=pythonpath)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(argv[:4])}... failed ({proc.returncode}): "
                               f"{err.read()[-2000:]}")
        return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, out.read()


def bench_dump(label: str, path: Path, dst: str, trees: list[tuple[str, str]],
               repeats: int) -> None:
    lines = sum(1 for _ in path.open())
    rules = sum(1 for line in path.open() if line.startswith("-A "))
    print(f"\n{label}: {path} ({lines:,} lines, {rules:,} rules, "
          f"{path.stat().st_size / 2**20:.0f} MiB); trace tcp {SRC} -> {dst}:80")
    cli = [sys.executable, "-m", "sim.cli", "trace", "--rules", str(path), "--src", SRC,
           "--dst", dst, "--dport", "80", "--local-ip", NODE_IP]
    phases = [sys.executable, "-c", PHASES, str(path), dst, SRC]
    for tree_label, tree in trees:
        walls, cpus, rsss, outs = [], [], [], []
        phase_runs = []
        for _ in range(repeats):
            w, c, r, out = popen_wait4(cli, tree)
            walls.append(w)
            cpus.append(c)
            rsss.append(r)
            outs.append(out)
            phase_runs.append(json.loads(popen_wait4(phases, tree)[3]))
        med = statistics.median
        keys = [k for k in phase_runs[0] if not k.endswith("_rss_mib") and k != "branches"]
        phase_text = ", ".join(f"{k} {med(p[k] for p in phase_runs):.1f}" for k in keys)
        rss_text = ", ".join(f"{k} {med(p[k + '_rss_mib'] for p in phase_runs):.0f}"
                             for k in keys if k + "_rss_mib" in phase_runs[0])
        branches = phase_runs[0]["branches"]
        print(f"  {tree_label:>8}: trace --rules wall {med(walls):.1f} s, CPU {med(cpus):.1f} s, "
              f"peak RSS {med(rsss):.0f} MiB ({max(rsss):.0f} max); "
              f"{branches} branches, output {len(outs[0].splitlines())} lines")
        print(f"  {'':>8}  phases CPU s: {phase_text}")
        print(f"  {'':>8}  peak RSS MiB after: {rss_text}")
        if len(set(outs)) != 1:
            print(f"  {'':>8}  WARNING: outputs differ between repeats")
        bench_dump.outputs.setdefault(label, []).append((tree_label, outs[0]))


bench_dump.outputs = {}  # type: ignore[attr-defined]


BUILD = r"""
import json, sys, time
sys.path.append(sys.argv[1])
from bigrules_bench import build_state, NODE
from sim.iptables import apply_payload, parse_restore
from sim.kubeproxy.iptables import compile_rules
from sim.netfilter import NodeNetfilter
state = build_state(int(sys.argv[2]), int(sys.argv[3]))
out = {}
c0 = time.process_time(); payload = compile_rules(state, NODE); out["compile"] = time.process_time() - c0
c0 = time.process_time(); text = payload.render(); out["render"] = time.process_time() - c0
c0 = time.process_time(); parsed = parse_restore(text); out["parse"] = time.process_time() - c0
c0 = time.process_time(); ruleset = apply_payload(parsed); out["apply"] = time.process_time() - c0
c0 = time.process_time(); NodeNetfilter(ruleset, ["192.168.0.10"]); out["engine"] = time.process_time() - c0
print(json.dumps(out))
"""


def bench_build(n_services: int, n_endpoints: int, trees: list[tuple[str, str]],
                repeats: int) -> None:
    print(f"\n10,000-Service build: {n_services:,} ClusterIP Services x {n_endpoints} endpoints "
          "(compile -> restore text -> parse -> apply -> engine), CPU s")
    for tree_label, tree in trees:
        runs = [json.loads(popen_wait4([sys.executable, "-c", BUILD, str(ROOT / "benchmarks"), str(n_services),
                                        str(n_endpoints)], tree)[3]) for _ in range(repeats)]
        med = statistics.median
        parts = ", ".join(f"{k} {med(r[k] for r in runs):.2f}" for k in runs[0])
        total = med(sum(r.values()) for r in runs)
        print(f"  {tree_label:>8}: {parts}; total {total:.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default="clusterip,96018")
    ap.add_argument("--services", type=int, default=31000)
    ap.add_argument("--endpoints", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", metavar="DIR", help="another source tree to compare with")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "kube-netsim-bigrules"))
    ap.add_argument("--no-build", action="store_true", help="skip the 10,000-Service build")
    ap.add_argument("--write-dump", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.write_dump:  # the generating child (keeps the parent's peak RSS small)
        path, n, e, nodeport, header = args.write_dump
        write_dump(Path(path), int(n), int(e), nodeport == "1", header == "1")
        return 0
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
          f"python={platform.python_version()} kernel={platform.release()} "
          f"load average={os.getloadavg()[0]:.2f}")
    trees = ([("before", str(Path(args.baseline).resolve()))] if args.baseline else [])
    trees.append(("after" if args.baseline else "this", str(ROOT)))
    # A child's ru_maxrss starts from its parent's (kept across exec): the parent stays small.
    shapes = {
        "clusterip": (args.services, args.endpoints, False, False),
        "96018": (26000, 5, True, True),
    }
    for shape in args.shapes.split(","):
        n, e, nodeport, header = shapes[shape]
        path = cache / f"{shape}-{n}x{e}.rules"
        if not path.exists():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--write-dump", str(path), str(n), str(e),
                            str(int(nodeport)), str(int(header))], check=True)
            print(f"wrote {path} in {time.perf_counter() - t0:.0f} s")
        # A Service near the end of KUBE-SERVICES: its rule is among the last ones.
        bench_dump(shape, path, service_ip(n - 1), trees, args.repeats)
        outs = bench_dump.outputs[shape]
        if len(outs) == 2:
            print(f"  {'':>8}  before and after print the same trace: {outs[0][1] == outs[1][1]}")
    if not args.no_build:
        bench_build(10000, 10, trees, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
