"""Kernel side of the kernel-vs-engine comparisons: which probes to send, sending them, and
the JSON capture that replay tests read without root.

A *probe* is a (source host, destination, port, protocol) to try ``count`` times. For every
Service port kube-proxy programs, :func:`probes_for` asks the questions of issue 4: the first
pod of every node, every node and the external client to the ClusterIP; the client and one pod to every node's
NodePort (and each node to its own 127.0.0.1:NodePort); the client to externalIPs and
load-balancer ingress IPs.

A *capture* (:func:`capture`) runs the probes against a :class:`KernelCluster` and records per
probe: the multiset of outcomes ``"status|pod|seen"`` (``seen`` = the source address the pod
saw, ``client`` when it is the probing host's own address), and for the first connections a
*trail* (the per-rule counter diff on the ingress node: exactly the rules the first packet hit
in nat, plus the filter rules it and its replies hit) and the ingress node's conntrack entries
for that one connection. Traced connections start from empty conntrack and ``recent`` state;
ClientIP affinity over consecutive connections is tested on its own (``test_statistics``).
"""

from __future__ import annotations

import platform
import time
from collections import Counter
from dataclasses import asdict, dataclass

from sim.iptables import Payload
from sim.model import ClusterState, Protocol
from sim.oracle import (
    ClientSpec,
    ClusterSpec,
    KernelCluster,
    NodeSpec,
    PodSpec,
    counter_diff,
    spec_from_state,
)
from sim.scenario.spec import load_scenario

CLIENT = "ext"
DEFAULT_CLIENT_IPS = ("198.51.100.7", "198.51.100.8")


@dataclass(frozen=True, slots=True)
class Probe:
    """One question to ask the kernel (and the engine)."""

    label: str
    source: str  # host name: a node, pod or the client
    src_ip: str  # the source address the probe leaves with
    from_kind: str  # "pod", "node" or "external"
    ingress: str  # the node whose netfilter decides the outcome
    proto: str
    dst: str
    port: int


def cluster_spec(state: ClusterState, client_ips: tuple[str, ...] = DEFAULT_CLIENT_IPS,
                 spread: tuple[str, ...] = ()) -> ClusterSpec:
    """The oracle topology of ``state`` plus one external client routed via the first node
    (and to ``spread`` addresses via every node)."""
    first = sorted(n.name for n in state.nodes)[0]
    return spec_from_state(state, (ClientSpec(CLIENT, client_ips, first, spread),))


def probes_for(state: ClusterState, spec: ClusterSpec) -> list[Probe]:
    """Every probe of the module docstring, in a stable order."""
    first_pod: dict[str, tuple[str, str]] = {}
    for pod in spec.pods:
        first_pod.setdefault(pod.node, (pod.name, pod.ip))
    client = spec.clients[0]
    gateway = client.gateway
    # One pod also calls every node's NodePort (a pod's traffic to a Local NodePort
    # short-circuits to the cluster-wide chain on its own node).
    pod_probe = None
    for node in spec.nodes:
        if node.name in first_pod:
            pod_probe = (*first_pod[node.name], node.name)
            break
    out: list[Probe] = []
    for svc in sorted(state.services, key=lambda s: s.key):
        if not svc.has_cluster_ip:
            continue
        for sp in svc.ports:
            if sp.protocol not in (Protocol.TCP, Protocol.UDP):
                continue
            proto = sp.protocol.lower
            name = f"{svc.key}:{sp.name or sp.port}/{proto}"
            for node in spec.nodes:
                if node.name in first_pod:
                    pod, ip = first_pod[node.name]
                    out.append(Probe(f"{name} pod {pod} -> clusterIP", pod, ip, "pod",
                                     node.name, proto, svc.cluster_ip, sp.port))
                out.append(Probe(f"{name} node {node.name} -> clusterIP", node.name, node.ip,
                                 "node", node.name, proto, svc.cluster_ip, sp.port))
            out.append(Probe(f"{name} external -> clusterIP", CLIENT, client.ips[0],
                             "external", gateway, proto, svc.cluster_ip, sp.port))
            if sp.node_port:
                for node in spec.nodes:
                    out.append(Probe(f"{name} external -> {node.name}:nodePort", CLIENT,
                                     client.ips[0], "external", node.name, proto, node.ip,
                                     sp.node_port))
                    if pod_probe is not None:
                        pod, ip, home = pod_probe
                        out.append(Probe(f"{name} pod {pod} -> {node.name}:nodePort", pod, ip,
                                         "pod", home, proto, node.ip, sp.node_port))
                    if proto == "tcp":
                        out.append(Probe(f"{name} node {node.name} -> localhost:nodePort",
                                         node.name, "127.0.0.1", "node", node.name, proto,
                                         "127.0.0.1", sp.node_port))
            extra = list(svc.external_ips) + [i.ip for i in svc.load_balancer_ingress if i.ip]
            for ip in extra:
                out.append(Probe(f"{name} external -> {ip}", CLIENT, client.ips[0], "external",
                                 gateway, proto, ip, sp.port))
    return out


def outcome_key(result, probe: Probe) -> str:
    """``status|pod|seen`` of one probe result (``seen`` is ``client`` when the pod saw the
    probe's own source address)."""
    if result.status != "ok":
        return f"{result.status}||"
    seen = "client" if result.peer_ip == probe.src_ip else result.peer_ip
    return f"ok|{result.pod}|{seen}"


def load_rules(kc: KernelCluster, rules: dict[str, list[str]]) -> None:
    """Restore each node's payload texts in order: the first into clean tables, the rest with
    ``--noflush`` (bootstrap jumps, then kube-proxy's payload, as kube-proxy runs them)."""
    for node, texts in sorted(rules.items()):
        for i, text in enumerate(texts):
            kc.restore(node, text, noflush=i > 0)


def compiled_rules(state: ClusterState, bootstrap: Payload, compile_rules) -> dict[str, list[str]]:
    """Per node: the bootstrap text and the compiler's payload for that node."""
    return {n.name: [bootstrap.render(), compile_rules(state, n.name, state.kube_proxy).render()]
            for n in sorted(state.nodes, key=lambda n: n.name)}


SETTLE_S = 0.05


def _one_connection(rules: list[list]) -> bool:
    """Whether a counter diff can be a single connection's: in nat (where only the first
    packet goes) no rule counted twice, and only one of PREROUTING / OUTPUT entered."""
    nat = [r for r in rules if r[0] == "nat"]
    entries = {r[1] for r in nat} & {"PREROUTING", "OUTPUT"}
    return all(r[3] == 1 for r in nat) and len(entries) <= 1


def _trail(kc: KernelCluster, probe: Probe, timeout_s: float, attempts: int = 3) -> dict:
    for _ in range(attempts):
        # Let the previous connection's closing packets pass before the counters are read,
        # so the diff holds this connection only; retry when other traffic got in anyway.
        # Each traced connection starts without conntrack entries and ClientIP pins.
        time.sleep(SETTLE_S)
        for node in sorted(n.name for n in kc.spec.nodes):
            kc.clear_recent(node)
        kc.flush_conntrack(probe.ingress)
        before = kc.counters(probe.ingress)
        [result] = kc.probe(probe.source, probe.dst, probe.port, proto=probe.proto,
                            src_ip=None if probe.from_kind == "node" else probe.src_ip,
                            timeout_s=timeout_s)
        after = kc.counters(probe.ingress)
        rules = [[c.table, c.chain, c.index, c.packets] for c in counter_diff(before, after)]
        if _one_connection(rules):
            break
    conntrack = [e for e in kc.conntrack(probe.ingress)
                 if e["original"].get("dport") == probe.port
                 and e["original"].get("dst") == probe.dst]
    return {"outcome": outcome_key(result, probe), "sport": result.sport, "rules": rules,
            "conntrack": conntrack}


def capture(kc: KernelCluster, probes: list[Probe], *, count: int = 30, trails: int = 2,
            timeout_s: float = 0.4) -> list[dict]:
    """Run ``probes`` on the kernel; see the module docstring for what is recorded.

    Every traced connection starts from empty ClientIP pins (on every node) and an empty
    conntrack table on the ingress node, so each is independent, as the engine replays it. A
    probe whose traced connections all time out is not repeated (kube-proxy's rules never
    drop at random), which keeps DROP cases cheap.
    """
    out = []
    for probe in probes:
        traced = [_trail(kc, probe, timeout_s) for _ in range(trails)]
        outcomes = Counter(t["outcome"] for t in traced)
        if set(outcomes) != {"timeout||"} and count > trails:
            more = kc.probe(probe.source, probe.dst, probe.port, proto=probe.proto,
                            src_ip=None if probe.from_kind == "node" else probe.src_ip,
                            count=count - trails, timeout_s=timeout_s)
            outcomes.update(outcome_key(r, probe) for r in more)
        out.append({"probe": asdict(probe), "outcomes": dict(sorted(outcomes.items())),
                    "trails": traced})
    return out


def spec_json(spec: ClusterSpec) -> dict:
    """The topology as JSON (enough to rebuild the ClusterSpec)."""
    return asdict(spec)


def spec_from_json(data: dict) -> ClusterSpec:
    """Inverse of :func:`spec_json`."""
    return ClusterSpec(
        nodes=tuple(NodeSpec(**n) for n in data["nodes"]),
        pods=tuple(PodSpec(p["name"], p["node"], p["ip"], tuple(tuple(x) for x in p["ports"]))
                   for p in data["pods"]),
        clients=tuple(ClientSpec(c["name"], tuple(c["ips"]), c["gateway"])
                      for c in data["clients"]),
    )


def scenario_cluster(path: str, lb_spread: bool = False):
    """``(state, spec)`` of a shipped scenario: its ``spec.network.externalHosts`` addresses
    become the external client's (the default client addresses otherwise). With
    ``lb_spread`` the client reaches load-balancer ingress IPs through every node (as the
    world's load balancer does); otherwise through its gateway, like everything else, so
    each probe has one ingress node."""
    scenario = load_scenario(path)
    state = scenario.state()
    hosts = tuple(h["ip"] for h in scenario.network.get("externalHosts", []) if "ip" in h)
    spread = ()
    if lb_spread:
        spread = tuple(sorted({i.ip for s in state.services for i in s.load_balancer_ingress
                               if i.ip}))
    return state, cluster_spec(state, hosts or DEFAULT_CLIENT_IPS, spread)


def capture_fixture(source: str, state: ClusterState, spec: ClusterSpec,
                    rules: dict[str, list[str]], *, backend: str = "nft",
                    count: int = 10) -> dict:
    """Build the cluster, load ``rules``, run :func:`probes_for` and return the fixture."""
    probes = probes_for(state, spec)
    with KernelCluster(spec, backend=backend) as kc:
        load_rules(kc, rules)
        records = capture(kc, probes, count=count)
    return {
        "source": source, "backend": backend, "kernel": platform.release(),
        "spec": spec_json(spec), "rules": rules, "probes": records,
    }
