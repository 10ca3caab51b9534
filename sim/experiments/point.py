"""Measuring one sweep point: build the cluster, compile, load, walk, churn.

Steps, each timed in CPU seconds of the worker process (``time.process_time``: steadier than
wall time on a shared machine; ``point_wall_seconds`` is the exception):

1. the cluster through the apiserver (generated, or the base scenario's manifests);
2. the mode's compiler for the first node (``compile_seconds``: median of warm compiles after
   a first one, as in a running sync loop) and the size of its output (:mod:`modemetrics`);
3. the world (:class:`sim.world.world.World`) started in steady state: the proxy backend
   compiles, renders and parses the payload (``ruleset_build_seconds``) and every node's
   engine loads it (``engine_load_seconds``, shared compilation);
4. one first packet (TCP SYN from a pod on the first node) to every Service's first port
   through that node's datapath: the walk length (rules the kernel would evaluate) to the
   first, median and last Service in kube-proxy's order (namespace/name) and p50/p99 over
   Services; then ``connections`` new connections spread over the Services, timed in CPU
   seconds (``engine_new_connections_per_cpu_second``);
5. the modelled ``iptables-restore`` time of a full sync (the kernel calibration,
   :mod:`sim.world.restore`), and a short world run with ``churnEvents`` endpoint readiness
   changes: partial sync durations and network programming latency (p50/p99, simulated);
6. peak resident memory of the point (``VmHWM``, reset before the point where the kernel
   allows, ``/proc/self/clear_refs``).

Counts, walk lengths and the modelled or simulated times are deterministic; the others are
timings of this machine (:data:`TIMING_METRICS`).
"""

from __future__ import annotations

import dataclasses
import gc
import ipaddress
import resource
import statistics
import time
import traceback
from dataclasses import dataclass

import numpy as np

from sim.experiments.cluster import GeneratedCluster, build_api, slice_manifest
from sim.experiments.modemetrics import Row, metrics_for
from sim.experiments.sweepfile import Point
from sim.kubeproxy.modes import BUILT_MODES
from sim.model.errors import SimError
from sim.model.packet import Packet
from sim.scenario.spec import kube_proxy_config, load_scenario
from sim.world.engine import netfilter_datapaths
from sim.world.events import EventSpec, schedule_events
from sim.world.params import NetworkParams
from sim.world.proxymodes import BACKENDS
from sim.world.rng import component_rng
from sim.world.world import World

TIMING_METRICS = frozenset({
    "cluster_build_seconds", "compile_seconds", "ruleset_build_seconds", "engine_load_seconds",
    "engine_new_connections_per_cpu_second", "peak_rss_bytes", "point_wall_seconds",
    "point_cpu_seconds",
    "reference_benchmark_seconds",
})
SETTLE_S = 3.0  # simulated time after the last churn event for the last sync to finish


@dataclass
class PointOutcome:
    """What a worker returns: the rows (metric, table, label, value), facts for the point's
    manifest, and the error text when the point failed."""

    rows: list[Row]
    facts: dict
    error: str | None = None


def reference_benchmark() -> float:
    """CPU seconds (median of 5) of a fixed pure-Python workload: string building, hashing
    into dicts, sorting. Timings are compared as ratios to it, measured in the same process."""
    def work() -> float:
        t = time.process_time()
        d: dict[str, int] = {}
        for i in range(40000):
            d[f"KUBE-SEP-{i:08d}"] = i * 7 % 1009
        sorted(d.items(), key=lambda kv: (kv[1], kv[0]))
        "\n".join(f"-A KUBE-SERVICES -d 10.96.{i >> 8 & 255}.{i & 255} -j X{i}" for i in range(20000))
        return time.process_time() - t
    return statistics.median(work() for _ in range(5))


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


class _TimedLoads:
    """Wraps the world's datapath factory so every ``load`` (engine compilation) is timed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.make = netfilter_datapaths()

    def __call__(self, node, seed, config):
        dp = self.make(node, seed, config)
        inner = dp.load

        def load(ruleset) -> None:
            t = time.process_time()
            inner(ruleset)
            self.seconds += time.process_time() - t
        dp.load = load
        return dp


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile (linear interpolation, numpy's default); NaN when empty.

    >>> quantile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.5
    """
    return float(np.quantile(values, q)) if values else float("nan")


def measure_point(point: Point) -> PointOutcome:
    """Measure ``point``; a failure becomes :attr:`PointOutcome.error` (never raised), so
    that the rest of the sweep goes on."""
    try:
        return _measure(point)
    except SimError as exc:
        return PointOutcome([], {}, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a bug in one point must not stop the sweep: record where
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return PointOutcome([], {}, f"{type(exc).__name__}: {exc} (at {frame.filename}:"
                                    f"{frame.lineno} in {frame.name})")


def _measure(point: Point) -> PointOutcome:
    gc.collect()
    hwm_reset = _reset_peak_rss()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    rows: list[Row] = []
    mode = point.params["mode"]
    if mode not in BUILT_MODES:
        raise SimError(f'kubeProxy.mode: Unsupported value: "{mode}": no compiler for this mode here')
    seed = int(point.params["seed"])
    config = kube_proxy_config(point.kube_proxy, point.source)
    rows.append(("reference_benchmark_seconds", "", "", reference_benchmark()))

    t = time.process_time()
    if point.scenario is None:
        c = point.cluster
        shape = GeneratedCluster(c["nodes"], c["services"], c["endpointsPerService"],
                                 tuple((k, float(v)) for k, v in c["serviceTypes"].items()),
                                 float(c["affinityShare"]), int(c["portsPerService"]))
        api = build_api(shape, config, seed)
    else:
        scenario = load_scenario(point.scenario)
        scenario = dataclasses.replace(scenario, kube_proxy=config)
        api = scenario.api(seed)
    state = api.snapshot()
    rows.append(("cluster_build_seconds", "", "", time.process_time() - t))
    if not state.nodes:
        raise SimError("the cluster has no nodes")
    node = sorted(n.name for n in state.nodes)[0]
    config = state.kube_proxy

    hook = metrics_for(mode)
    if hook is not None:
        output = hook.compile(state, node, config)
        warm = []
        for _ in range(int(point.measure["compileRepeats"]) if len(state.services) < 5000 else 1):
            t = time.process_time()
            output = hook.compile(state, node, config)
            warm.append(time.process_time() - t)
        rows.append(("compile_seconds", "", "", statistics.median(warm)))
        rows += hook.counts(output)
        del output

    facts = {"node": node, "services": len(state.services),
             "endpoints": sum(len(sl.endpoints) for sl in state.endpoint_slices),
             "nodes": len(state.nodes),
             "peakRssSince": "point start" if hwm_reset else "worker process start"}
    if mode not in BACKENDS:
        # A compiler without a world backend yet: its sizes and compile time only.
        facts["world"] = f"not measured: no world backend for {mode} mode yet"
        _finish(rows, wall0, cpu0)
        return PointOutcome(rows, facts)
    loads = _TimedLoads()
    t = time.process_time()
    world = World(api, NetworkParams(), seed, loads)
    world.start()
    build = time.process_time() - t
    rows.append(("engine_load_seconds", "", "", loads.seconds))
    rows.append(("ruleset_build_seconds", "", "", build - loads.seconds))

    rows += _walks(world, state, node, int(point.measure["connections"]))

    kp = world.kube_proxies[node]
    if hook is None:  # a mode without sweep metrics: the size of what its backend installed
        rows.append(("rules_total", "all", "", float(kp.loaded.rules)))
    full_written = world.rules.written(None, kp.loaded, True)
    rows.append(("sync_proxy_rules_written_lines", "", "full", float(full_written)))
    rows.append(("sync_proxy_rules_duration_seconds", "", "full",
                 world.rules.duration_s(world.restore_model, full_written)))

    # No traffic follows: the churn run measures the control plane (sync times, programming
    # latency), so the syncs need not build kernel programs (the mode's control-plane backend)
    # and the engines stop compiling what is installed.
    if hook is not None and hook.control_plane is not None:
        backend = hook.control_plane(config)
        world.rules = backend
        for proxy in world.kube_proxies.values():
            proxy.rules = backend
    for host in world.net.nodes.values():
        host.datapath.load = _skip_load
    rows += _churn(world, state, seed, int(point.measure["churnEvents"]),
                   float(point.measure["churnIntervalSeconds"]))
    facts["restoreModel"] = world.restore_model.source
    _finish(rows, wall0, cpu0)
    return PointOutcome(rows, facts)


def _finish(rows: list[Row], wall0: float, cpu0: float) -> None:
    rows.append(("peak_rss_bytes", "", "", _peak_rss_bytes()))
    rows.append(("point_cpu_seconds", "", "", time.process_time() - cpu0))
    rows.append(("point_wall_seconds", "", "", time.perf_counter() - wall0))


def _skip_load(ruleset) -> None:
    """A datapath ``load`` that keeps the engine as it is (see the churn run)."""


def _client_ip(state, node: str) -> str:
    """An address in ``node``'s pod CIDR (a pod on that node), else an outside address."""
    n = state.node(node)
    for cidr in (n.pod_cidrs or ((n.pod_cidr,) if n.pod_cidr else ())):
        net = ipaddress.ip_network(cidr, strict=False)
        if net.version == 4 and net.num_addresses > 8:
            return str(net.network_address + min(200, net.num_addresses - 2))
    return "192.0.2.10"


def _targets(state) -> list[tuple[str, str, int]]:
    """(protocol, ClusterIP, port) of every Service's first port, in kube-proxy's order."""
    out = []
    for svc in sorted(state.services, key=lambda s: (s.namespace, s.name)):
        ip = svc.cluster_ip
        if not ip or ip == "None" or not svc.ports or ":" in ip:
            continue
        p = svc.ports[0]
        out.append((p.protocol.lower, ip, p.port))
    return out


def _walks(world, state, node: str, connections: int) -> list[Row]:
    """First-packet walk lengths per Service and new connections per CPU-second."""
    targets = _targets(state)
    if not targets:
        return []
    dp = world.net.nodes[node].datapath
    host = world.net.nodes[node]
    src_base = int(ipaddress.ip_address(_client_ip(state, node)))
    iface = "cni0" if src_base != int(ipaddress.ip_address("192.0.2.10")) else host.uplink
    walks = []
    now = 0.0
    for i, (proto, ip, port) in enumerate(targets):
        v = dp.ingress(Packet(proto, str(ipaddress.ip_address(src_base)), ip, 1024 + i % 60000, port,
                              "S" if proto == "tcp" else ""), now, iface)
        walks.append(float(v[3]))
    n = len(walks)
    rows: list[Row] = [
        ("first_packet_walk_length", "", "first", walks[0]),
        ("first_packet_walk_length", "", "median", walks[(n - 1) // 2]),
        ("first_packet_walk_length", "", "last", walks[-1]),
        ("first_packet_walk_length", "", "p50", quantile(walks, 0.5)),
        ("first_packet_walk_length", "", "p99", quantile(walks, 0.99)),
    ]
    # New connections: fresh source ports from a second client address, Services in a
    # stride so that every part of the ruleset is visited.
    count = max(connections, 1)
    stride = max(1, n // 7) if n > 7 else 1
    packets = []
    for i in range(count):
        proto, ip, port = targets[(i * stride + i // n) % n]
        src = str(ipaddress.ip_address(src_base + 1 + i // 60000))
        packets.append(Packet(proto, src, ip, 1024 + i % 60000, port, "S" if proto == "tcp" else ""))
    ingress = dp.ingress
    c0 = time.process_time()
    for pkt in packets:
        ingress(pkt, now, iface)
    cpu = time.process_time() - c0
    rows.append(("engine_new_connections_per_cpu_second", "", "", count / cpu if cpu > 0 else float("nan")))
    return rows


def _churn(world, state, seed: int, events: int, interval_s: float) -> list[Row]:
    """Endpoint readiness churn; partial sync time and programming latency from the world."""
    if events <= 0:
        return []
    rng = component_rng(seed, "sweep/churn")
    slices = [sl for sl in sorted(state.endpoint_slices, key=lambda s: (s.namespace, s.name))
              if sl.endpoints]
    if not slices:
        return []
    specs = []
    t = 1.0
    for _ in range(events):
        sl = slices[int(rng.integers(len(slices)))]
        j = int(rng.integers(len(sl.endpoints)))
        ep = sl.endpoints[j]
        ref = ep.target_ref
        if ref is not None and getattr(ref, "kind", "") == "Pod":
            pod = f"{ref.namespace or sl.namespace}/{ref.name}"
            specs.append(EventSpec(t, "setPodReady", {"pod": pod, "ready": False}, "churn"))
            specs.append(EventSpec(t + interval_s / 2, "setPodReady", {"pod": pod, "ready": True}, "churn"))
        else:
            specs.append(EventSpec(t, "apply", {"manifest": _slice_with(sl, j, False)}, "churn"))
            specs.append(EventSpec(t + interval_s / 2, "apply", {"manifest": _slice_with(sl, j, True)}, "churn"))
        t += interval_s
    schedule_events(world, tuple(specs))
    world.run(until=t + SETTLE_S + max((s.duration_s for s in world.recorder.syncs), default=0.0))
    lat = sorted(r.latency_s for r in world.recorder.programming)
    partial = [s for s in world.recorder.syncs if not s.full]
    rows: list[Row] = [
        ("network_programming_duration_seconds", "", "p50", quantile(lat, 0.5)),
        ("network_programming_duration_seconds", "", "p99", quantile(lat, 0.99)),
        ("network_programming_samples", "", "", float(len(lat))),
    ]
    if partial:
        rows.append(("sync_proxy_rules_duration_seconds", "", "partial",
                     quantile([s.duration_s for s in partial], 0.5)))
        rows.append(("sync_proxy_rules_written_lines", "", "partial",
                     quantile([float(s.written) for s in partial], 0.5)))
    return rows


def _slice_with(sl, j: int, ready: bool) -> dict:
    """The manifest of EndpointSlice ``sl`` with endpoint ``j``'s readiness set."""
    eps = []
    for i, ep in enumerate(sl.endpoints):
        r = ready if i == j else ep.is_ready
        e = {"addresses": list(ep.addresses),
             "conditions": {"ready": r, "serving": r, "terminating": False}}
        if ep.node_name:
            e["nodeName"] = ep.node_name
        eps.append(e)
    m = slice_manifest(sl.service_name, eps, [])
    m["metadata"]["name"] = sl.name
    m["metadata"]["namespace"] = sl.namespace
    m["ports"] = [{"name": p.name, "port": p.port, "protocol": p.protocol.value} for p in sl.ports]
    return m
