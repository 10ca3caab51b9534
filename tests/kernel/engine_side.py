"""Engine side of the kernel-vs-engine comparisons: the same rules on ``sim.netfilter``.

:class:`EngineCluster` gives every node of a :class:`~sim.oracle.ClusterSpec` a
:class:`~sim.netfilter.NodeNetfilter` loaded with the same restore texts the kernel got, with
the oracle topology's addresses and routes (pod CIDR -> ``cni0`` with the bridge address,
everything else -> ``eth0`` with the node's LAN address). :meth:`EngineCluster.connect` sends a
probe's first packet through the ingress node (``output`` for a node's own connection,
``prerouting`` otherwise) and, when it is forwarded to a pod on another node, through that
node's ``prerouting`` too (likewise for a NodePort of another node: that node's
``prerouting`` decides), then maps the result to the kernel's outcome words:

- REJECT -> ``refused``; DROP -> ``timeout``;
- accepted to a pod that serves the port -> ``ok|pod|seen`` (``seen`` = the source the pod
  gets, ``client`` when it is the probe's own source), unless the pod's reply is routed
  around a node that NATed the request (an outside client's un-masqueraded connection to
  a pod on another node: the reply goes straight over the LAN, is never un-DNATed, and the
  client times out); to a pod that does not serve it, or
  delivered to the node itself (nothing listens there) -> ``refused``; to any other address
  (nothing answers in the oracle's LAN) -> ``timeout``.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass

import numpy as np

from sim.iptables import apply_payload, parse_restore
from sim.model import Packet
from sim.netfilter import NodeNetfilter, Route, Verdict
from sim.netfilter.tracer import trace_packet
from sim.oracle import ClusterSpec
from tests.kernel.probing import Probe

# Far enough apart that conntrack entries and `recent` pins of one draw have expired by the
# next (the longest timeouts are 86400 s).
DRAW_SPACING_S = 200000.0


@dataclass(frozen=True, slots=True)
class EngineRun:
    """One connection through the engine: outcome words, the rules hit on the ingress node
    (``(table, chain, rule_number)``) and its conntrack entry there."""

    outcome: str
    nat_trail: frozenset
    filter_trail: frozenset
    conntrack: object


class EngineCluster:
    """One engine per node, loaded like the kernel nodes."""

    def __init__(self, spec: ClusterSpec, rules: dict[str, list[str]]) -> None:
        self.spec = spec
        self.engines: dict[str, NodeNetfilter] = {}
        for node in spec.nodes:
            ruleset = None
            for i, text in enumerate(rules[node.name]):
                ruleset = apply_payload(parse_restore(text, source=f"{node.name}[{i}]"),
                                        ruleset, noflush=i > 0)
            self.engines[node.name] = NodeNetfilter(
                ruleset, [node.ip, node.bridge_ip], route=self._router(node))
        self.clock = 0.0
        self.pod_by_ip = {p.ip: p for p in spec.pods}
        self.node_of_pod = {p.ip: p.node for p in spec.pods}
        self.node_by_ip = {n.ip: n.name for n in spec.nodes}

    @staticmethod
    def _router(node):
        cidr = ipaddress.ip_network(node.pod_cidr, strict=False)

        def route(dst: str) -> Route:
            if ipaddress.ip_address(dst) in cidr:
                return Route("cni0", node.bridge_ip)
            return Route("eth0", node.ip)
        return route

    def _in_iface(self, probe: Probe) -> str:
        return "cni0" if probe.from_kind == "pod" else "eth0"

    def connect(self, probe: Probe, sport: int, now: float,
                rng: np.random.Generator) -> EngineRun:
        """The first packet of one connection (see the module docstring)."""
        flags = "S" if probe.proto == "tcp" else ""
        pkt = Packet(probe.proto, probe.src_ip, probe.dst, sport, probe.port, tcp_flags=flags)
        nf = self.engines[probe.ingress]
        if probe.from_kind == "node":
            res = nf.output(pkt, now, rng)
        else:
            res = nf.prerouting(pkt, now, rng, in_iface=self._in_iface(probe))
        nat = frozenset((s.table, s.chain, s.rule_number) for s in res.trail
                        if s.kind == "rule" and s.table == "nat")
        filt = frozenset((s.table, s.chain, s.rule_number) for s in res.trail
                         if s.kind == "rule" and s.table == "filter")
        outcome = self._outcome(probe, res, now, rng)
        return EngineRun(outcome, nat, filt, res.conntrack)

    def _outcome(self, probe: Probe, res, now: float, rng) -> str:
        # Follow the packet hop by hop: a node address (a NodePort on another node) or a
        # pod on another node is reached over the LAN, arriving on that node's eth0.
        node = probe.ingress
        hops = [(node, res)]
        for _ in range(len(self.spec.nodes) + 1):
            if res.verdict is Verdict.REJECT:
                return "refused||"
            if res.verdict is Verdict.NF_DROP:
                return "timeout||"
            out = res.packet
            if res.local:
                return "refused||"  # nothing listens on the nodes
            nxt = self.node_of_pod.get(out.dst) or self.node_by_ip.get(out.dst)
            if nxt is None:
                return "timeout||"  # nobody on the LAN has that address
            if nxt == node:
                break
            res = self.engines[nxt].prerouting(out.with_(mark=0), now, rng, in_iface="eth0")
            node = nxt
            hops.append((node, res))
        else:
            return "timeout||"
        pod = self.pod_by_ip[out.dst]
        if (probe.proto, out.dport) not in pod.ports:
            return "refused||"
        natted = {n for n, r in hops if r.dnat or r.snat}
        if not natted <= {node, self._reply_hop(node, out.src)}:
            # The reply does not pass a node that NATed the request, so it is never
            # un-NATed: the caller sees an answer from an address it never called.
            return "timeout||"
        seen = "client" if out.src == probe.src_ip else out.src
        return f"ok|{pod.name}|{seen}"

    def _reply_hop(self, owner: str, dst: str) -> str | None:
        """The node a reply from a pod on ``owner`` to ``dst`` is routed through (the node
        owning ``dst`` as its address or pod CIDR), or ``None`` when it goes straight to a
        host on the LAN."""
        addr = ipaddress.ip_address(dst)
        for node in self.spec.nodes:
            if dst in (node.ip, node.bridge_ip) or addr in ipaddress.ip_network(node.pod_cidr,
                                                                                strict=False):
                return node.name
        return None

    def fresh_time(self) -> float:
        """A time :data:`DRAW_SPACING_S` after the previous one: every conntrack entry and
        ``recent`` pin made before has expired."""
        self.clock += DRAW_SPACING_S
        return self.clock

    def distribution(self, probe: Probe, draws: int, seed: int) -> Counter:
        """Outcome counts of ``draws`` independent first connections (each at a
        :meth:`fresh_time`)."""
        rng = np.random.default_rng(seed)
        out: Counter = Counter()
        for k in range(draws):
            run = self.connect(probe, 20000 + k % 40000, self.fresh_time(), rng)
            out[run.outcome] += 1
        return out

    def replay_trails(self, probe: Probe, trails: list[dict], seed: int,
                      tries: int = 400) -> list[EngineRun] | None:
        """Engine runs reproducing the kernel's traced connections of ``probe``, in order.

        A run matches a traced connection when its outcome is the same and, where the kernel
        recorded a conntrack entry, it was DNATed to the same endpoint (several endpoints can
        give one outcome, for example a timeout). The kernel traced each connection from
        empty conntrack and ``recent`` state, so each try runs at a :meth:`fresh_time`.
        ``None`` when a connection never matches within ``tries``.
        """
        rng = np.random.default_rng(seed)
        runs: list[EngineRun] = []
        for trail in trails:
            for _ in range(tries):
                run = self.connect(probe, trail["sport"], self.fresh_time(), rng)
                if run.outcome == trail["outcome"] and _same_endpoint(run, trail):
                    runs.append(run)
                    break
            else:
                return None
        return runs


def _same_endpoint(run: EngineRun, trail: dict) -> bool:
    if not trail["conntrack"] or run.conntrack is None:
        return True
    reply = trail["conntrack"][0]["reply"]
    return (run.conntrack.reply[0], run.conntrack.reply[1]) == (reply["src"], reply["sport"])


def conntrack_mismatch(run: EngineRun, kernel_entry: dict) -> list[str]:
    """Differences between the engine's conntrack entry and the kernel's (``conntrack -L``)
    for one connection: the original tuple, and the reply tuple's source and destination
    address; the reply port too unless the kernel remapped it (MASQUERADE --random-fully)."""
    ct = run.conntrack
    if ct is None:
        return ["engine has no conntrack entry"]
    o, r = kernel_entry["original"], kernel_entry["reply"]
    want = {"orig": (o["src"], o["sport"], o["dst"], o["dport"]),
            "reply.src": (r["src"], r["sport"]), "reply.dst": r["dst"]}
    got = {"orig": tuple(ct.orig), "reply.src": (ct.reply[0], ct.reply[1]),
           "reply.dst": ct.reply[2]}
    if r["dport"] == o["sport"]:
        want["reply.dport"] = r["dport"]
        got["reply.dport"] = ct.reply[3]
    return [f"{k}: kernel {want[k]} engine {got[k]}" for k in want if want[k] != got[k]]


def tracer_branches(ec: EngineCluster, probe: Probe, sport: int) -> list[tuple]:
    """``(verdict, destination, nat rules hit, probability)`` of every fresh-client branch
    (probability not ``None``) that :func:`sim.netfilter.tracer.trace_packet` enumerates for
    ``probe`` on its ingress node."""
    node = next(n for n in ec.spec.nodes if n.name == probe.ingress)
    flags = "S" if probe.proto == "tcp" else ""
    pkt = Packet(probe.proto, probe.src_ip, probe.dst, sport, probe.port, tcp_flags=flags)
    outcomes = trace_packet(ec.engines[node.name].ruleset, [node.ip, node.bridge_ip], pkt,
                            local_out=probe.from_kind == "node",
                            in_iface="cni0" if probe.from_kind == "pod" else "eth0",
                            route=ec._router(node))
    return [(o.verdict, o.destination,
             frozenset((s.table, s.chain, s.rule_number) for s in o.trail
                       if s.kind == "rule" and s.table == "nat"), o.probability)
            for o in outcomes if o.probability is not None]
