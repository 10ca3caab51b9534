"""The netfilter engine as a node's :class:`~sim.world.datapath.Datapath`.

Each node gets its own :class:`sim.netfilter.engine.NodeNetfilter` (its own conntrack table
and ``recent`` lists) and its own random stream (``netfilter/<node>``) for ``statistic
--mode random``. MASQUERADE takes the node's primary address (the InternalIP): every route
leaves through ``eth0`` in this topology. Traces are off in runs (the tracer command turns
them on); the walk length is still reported.
"""

from __future__ import annotations

from sim.iptables.ruleset import Ruleset
from sim.model.config import KubeProxyConfig
from sim.model.packet import Packet
from sim.netfilter.engine import NodeNetfilter
from sim.world.datapath import Verdict
from sim.world.rng import component_rng

_EMPTY = Ruleset()


class NetfilterDatapath:
    """A node kernel backed by the netfilter engine."""

    def __init__(self, addresses: tuple[str, ...], config: KubeProxyConfig, rng) -> None:
        self.nf = NodeNetfilter(None, list(addresses), config=config, trace=False)
        self.rng = rng

    def ingress(self, packet: Packet, now: float, in_iface: str) -> Verdict:
        r = self.nf.prerouting(packet, now, self.rng, in_iface)
        return Verdict(r.verdict.value, r.packet, r.local, r.walk_length)

    def local_out(self, packet: Packet, now: float) -> Verdict:
        r = self.nf.output(packet, now, self.rng)
        return Verdict(r.verdict.value, r.packet, r.local, r.walk_length)

    def load(self, ruleset: Ruleset | None) -> None:
        self.nf.load(ruleset if ruleset is not None else _EMPTY)

    def flush_conntrack(self) -> None:
        self.nf.flush_conntrack()


def netfilter_datapath(node, seed: int, config: KubeProxyConfig) -> NetfilterDatapath:
    """The datapath factory a real run uses (see :class:`sim.world.world.World`)."""
    return NetfilterDatapath(node.ips, config, component_rng(seed, f"netfilter/{node.name}"))
