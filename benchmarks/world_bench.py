"""World benchmark (not a timed test): simulated packet hops per second, and a large cluster.

Part ``hops``: a 10-node cluster (20 ClusterIP Services x 5 endpoints, 50 client pods) carries
100,000 TCP connections (4 packets each, up to 3 hops each); the wall time of the simulation
gives hops per second. In the same process a bare SimPy loop performs the same number of
timeouts: that is the ceiling (the world schedules one SimPy event per hop, each at its own
time). Goal: at least a third of the ceiling. The machine is shared, so the ratio is given
both in wall time and in CPU time (``cpu_ratio_to_ceiling``, steadier under other load).
The same traffic aimed at pod addresses through nodes without rules (``no_rules_*``)
separates the world's own cost from the netfilter engine's, and through nodes whose kernel
does no work at all (``noop_*``: every packet ACCEPTed as it is, never local, which holds
for traffic to pod addresses) gives the world's floor: what a hop costs with a free
datapath. ``*_us_per_hop`` are CPU microseconds per hop, the ceiling's included.

Part ``large``: 100 nodes, 10,000 ClusterIP Services of 10 endpoints each (1,000 pods in 100
groups; each Service selects one group), 10,000 connections from 100 client pods. Reports
build time (apiserver, compile, restore parse/apply, per-node engine load), run time and peak
resident memory. Goal: under 2 minutes and 4 GiB in total.

Each part runs in its own subprocess so peak memory is per part. Usage::

    .venv/bin/python benchmarks/world_bench.py            # both parts
    .venv/bin/python benchmarks/world_bench.py --part hops --connections 20000
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import subprocess
import sys
import time

import simpy

from sim.api.apiserver import ApiServer
from sim.model.config import ClusterConfig, KubeProxyConfig
from sim.world.datapath import ACCEPT, Verdict
from sim.world.engine import netfilter_datapaths
from sim.world.params import NetworkParams
from sim.world.rng import component_rng
from sim.world.workload import AddressTarget, Client, FlowSpec, ServiceTarget
from sim.world.world import World


def build_api(nodes: int, services: int, endpoints: int, groups: int, clients: int) -> ApiServer:
    """A cluster built through the apiserver: pods in ``groups`` label groups of ``endpoints``
    pods, Service i selecting group i % groups, client pods spread over the nodes."""
    api = ApiServer(ClusterConfig(), KubeProxyConfig(cluster_cidr="10.0.0.0/8"), 1)
    for i in range(nodes):
        api.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{i}"},
                   "spec": {"podCIDR": f"10.{1 + i // 256}.{i % 256}.0/24"},
                   "status": {"addresses": [{"type": "InternalIP",
                                             "address": f"172.16.{i // 250}.{i % 250 + 1}"}]}})
    used: dict[int, int] = {}  # pods placed per node (round robin)
    placed = [0]

    def pod(name: str, labels: dict, ports: list) -> None:
        n = placed[0] % nodes
        placed[0] += 1
        used[n] = used.get(n, 0) + 1
        api.apply({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": name, "namespace": "default", "labels": labels},
                   "spec": {"nodeName": f"node-{n}",
                            "containers": [{"name": "c", "ports": ports}]},
                   "status": {"phase": "Running",
                              "podIP": f"10.{1 + n // 256}.{n % 256}.{9 + used[n]}",
                              "conditions": [{"type": "Ready", "status": "True"}]}})
    for g in range(groups):
        for e in range(endpoints):
            pod(f"p-{g}-{e}", {"grp": f"g{g}"}, [{"containerPort": 8080}])
    for c in range(clients):
        pod(f"client-{c}", {"role": "client"}, [])
    for s in range(services):
        api.apply({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": f"svc-{s}", "namespace": "default"},
                   "spec": {"selector": {"grp": f"g{s % groups}"},
                            "ports": [{"port": 80, "targetPort": 8080}]}})
    return api


_tuple_new = tuple.__new__  # Verdict(...) without the named tuple's Python-level __new__


class NoopDatapath:
    """A node kernel that does nothing: every packet accepted unchanged, none local."""

    def ingress(self, packet, now, in_iface):
        return _tuple_new(Verdict, (ACCEPT, packet, False, 0))

    def local_out(self, packet, now):
        return _tuple_new(Verdict, (ACCEPT, packet, False, 0))


def run_world(api: ApiServer, clients: int, services: int, connections: int,
              rules: bool = True, noop: bool = False) -> dict:
    """Build the world, start one flow per client, run until every connection finished.

    ``rules=False``: nodes without rules and clients aimed at pod addresses, which measures
    the world's own cost per hop (routing, scheduling, endpoints) without the engine;
    ``noop=True`` as well: the nodes' kernels do nothing (:class:`NoopDatapath`).
    """
    t0 = time.perf_counter()
    world = World(api, NetworkParams(), 1, netfilter_datapaths() if rules else None)
    if noop:
        for node in world.net.nodes.values():
            node.datapath = NoopDatapath()
    world.start()
    gc.collect()
    gc.freeze()  # as `kube-netsim run` does: the built world is long-lived
    build_s = time.perf_counter() - t0
    per_client = connections // clients
    rate = 1000.0
    pods = sorted(p.pod_ip for p in world.state.pods if p.labels.get("grp"))
    for c in range(clients):
        target = (ServiceTarget("default", f"svc-{(c * 7919) % services}", 80) if rules
                  else AddressTarget(pods[(c * 7919) % len(pods)], 8080))
        spec = FlowSpec(f"f{c}", "pod", f"default/client-{c}", target, rate_per_s=rate,
                        count=per_client)
        Client(world, spec, component_rng(1, f"client/{c}")).start(world.env)
    t1 = time.perf_counter()
    c1 = time.process_time()
    world.run(until=per_client / rate + 2.0)
    run_cpu_s = time.process_time() - c1
    run_s = time.perf_counter() - t1
    outcomes: dict[str, int] = {}
    for rec in world.recorder.connections:
        outcomes[rec.outcome] = outcomes.get(rec.outcome, 0) + 1
    return {"world_build_s": build_s, "run_s": run_s, "run_cpu_s": run_cpu_s,
            "hops": world.net.hops,
            "connections": len(world.recorder.connections), "outcomes": outcomes,
            "compiles": world.rules.compiles, "distinct_rulesets": world.rules.applies}


def bare_simpy(timeouts: int) -> tuple[float, float]:
    """Wall and CPU seconds for one SimPy process doing ``timeouts`` timeouts (the ceiling)."""
    env = simpy.Environment()

    def loop():
        for _ in range(timeouts):
            yield env.timeout(1e-6)
    env.process(loop())
    t = time.perf_counter()
    c = time.process_time()
    env.run()
    return time.perf_counter() - t, time.process_time() - c


def part_hops(connections: int) -> dict:
    api = build_api(nodes=10, services=20, endpoints=5, groups=20, clients=50)
    r = run_world(api, clients=50, services=20, connections=connections)
    # The machine is shared: the ratio is also given in CPU time, which load disturbs less.
    ceiling = [bare_simpy(r["hops"]) for _ in range(3)]
    r["hops_per_s"] = r["hops"] / r["run_s"]
    r["ceiling_hops_per_s"] = r["hops"] / min(w for w, _ in ceiling)
    r["ratio_to_ceiling"] = r["hops_per_s"] / r["ceiling_hops_per_s"]
    r["hops_per_cpu_s"] = r["hops"] / r["run_cpu_s"]
    r["ceiling_hops_per_cpu_s"] = r["hops"] / min(c for _, c in ceiling)
    r["cpu_ratio_to_ceiling"] = r["hops_per_cpu_s"] / r["ceiling_hops_per_cpu_s"]
    r["us_per_hop"] = r["run_cpu_s"] / r["hops"] * 1e6
    r["ceiling_us_per_hop"] = min(c for _, c in ceiling) / r["hops"] * 1e6
    for prefix, noop in (("no_rules", False), ("noop", True)):
        bare = run_world(build_api(nodes=10, services=20, endpoints=5, groups=20, clients=50),
                         clients=50, services=20, connections=connections, rules=False,
                         noop=noop)
        bare_ceiling = [bare_simpy(bare["hops"]) for _ in range(3)]
        r[f"{prefix}_hops_per_s"] = bare["hops"] / bare["run_s"]
        r[f"{prefix}_ratio_to_ceiling"] = r[f"{prefix}_hops_per_s"] / (bare["hops"] / min(
            w for w, _ in bare_ceiling))
        r[f"{prefix}_hops_per_cpu_s"] = bare["hops"] / bare["run_cpu_s"]
        r[f"{prefix}_cpu_ratio_to_ceiling"] = r[f"{prefix}_hops_per_cpu_s"] / (
            bare["hops"] / min(c for _, c in bare_ceiling))
        r[f"{prefix}_us_per_hop"] = bare["run_cpu_s"] / bare["hops"] * 1e6
        r[f"{prefix}_outcomes"] = bare["outcomes"]
    return r


def part_large(connections: int) -> dict:
    t0 = time.perf_counter()
    api = build_api(nodes=100, services=10000, endpoints=10, groups=100, clients=100)
    api.snapshot()
    api_s = time.perf_counter() - t0
    r = run_world(api, clients=100, services=10000, connections=connections)
    r["api_build_s"] = api_s
    r["total_s"] = time.perf_counter() - t0
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("hops", "large"))
    ap.add_argument("--connections", type=int)
    args = ap.parse_args()
    if args.part:
        n = args.connections or (100_000 if args.part == "hops" else 10_000)
        r = part_hops(n) if args.part == "hops" else part_large(n)
        use = resource.getrusage(resource.RUSAGE_SELF)
        r["peak_rss_mib"] = use.ru_maxrss / 1024
        r["cpu_s"] = use.ru_utime + use.ru_stime  # the machine is shared: CPU time is steadier
        print(json.dumps(r, sort_keys=True))
        return
    print(f"machine: {platform.platform()}, python {platform.python_version()}")
    for part in ("hops", "large"):
        cmd = [sys.executable, __file__, "--part", part]
        if args.connections:
            cmd += ["--connections", str(args.connections)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"--- {part}")
        for k in sorted(r):
            v = r[k]
            print(f"  {k}: {v:.3f}" if isinstance(v, float) else f"  {k}: {v}")


if __name__ == "__main__":
    main()
