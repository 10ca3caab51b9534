"""What the oracle builds: nodes, pods and external clients as plain data.

A :class:`ClusterSpec` is derived from a ``sim.model.ClusterState`` by :func:`spec_from_state`
(or written by hand in tests). It holds only what the kernel topology needs: node InternalIP
and pod CIDR, pod IP, node and listening ports, and client addresses outside the cluster.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sim.model import ClusterState
from sim.model.errors import SimError


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A node: its LAN address (InternalIP) and pod CIDR."""

    name: str
    ip: str
    pod_cidr: str

    @property
    def bridge_ip(self) -> str:
        """The first address of the pod CIDR, held by the node's pod bridge (``cni0``).

        >>> NodeSpec("n", "192.168.0.2", "10.244.1.0/24").bridge_ip
        '10.244.1.1'
        """
        return str(ipaddress.ip_network(self.pod_cidr, strict=False).network_address + 1)

    @property
    def pod_prefix(self) -> int:
        return ipaddress.ip_network(self.pod_cidr, strict=False).prefixlen


@dataclass(frozen=True, slots=True)
class PodSpec:
    """A pod: name (the agent answers with it), node, IP and ``(proto, port)`` it serves."""

    name: str
    node: str
    ip: str
    ports: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """A host outside the cluster on the node LAN; ``gateway`` is the node its default route
    (and so any ClusterIP traffic) goes through. Several addresses model several clients.

    ``spread`` lists addresses (load-balancer ingress IPs) the client reaches through every
    node by equal-cost multipath with a layer-4 hash: each connection (a new source port)
    enters at a node chosen by the hash, as a cloud load balancer in front of the nodes does.
    """

    name: str
    ips: tuple[str, ...]
    gateway: str
    spread: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """The whole topology."""

    nodes: tuple[NodeSpec, ...]
    pods: tuple[PodSpec, ...] = ()
    clients: tuple[ClientSpec, ...] = ()

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise SimError(f"oracle: no node {name!r}")

    def validate(self) -> None:
        """Refuse specs the kernel topology cannot represent (duplicate names or addresses,
        a pod IP outside its node's pod CIDR, an unknown node)."""
        names = [n.name for n in self.nodes] + [p.name for p in self.pods]
        names += [c.name for c in self.clients]
        dup = sorted({x for x in names if names.count(x) > 1})
        if dup:
            raise SimError(f"oracle: duplicate names {dup}")
        addrs = [n.ip for n in self.nodes] + [p.ip for p in self.pods]
        addrs += [ip for c in self.clients for ip in c.ips]
        dup = sorted({x for x in addrs if addrs.count(x) > 1})
        if dup:
            raise SimError(f"oracle: duplicate addresses {dup}")
        by_name = {n.name: n for n in self.nodes}
        for p in self.pods:
            node = by_name.get(p.node)
            if node is None:
                raise SimError(f"oracle: pod {p.name} on unknown node {p.node!r}")
            if ipaddress.ip_address(p.ip) not in ipaddress.ip_network(node.pod_cidr, strict=False):
                raise SimError(f"oracle: pod {p.name} IP {p.ip} outside {node.pod_cidr}")
            if p.ip == node.bridge_ip:
                raise SimError(f"oracle: pod {p.name} uses the bridge address {p.ip}")
        for c in self.clients:
            if c.gateway not in by_name:
                raise SimError(f"oracle: client {c.name} gateway {c.gateway!r} is not a node")


def _served_ports(state: ClusterState) -> dict[str, set[tuple[str, int]]]:
    """Per pod IP, the ports endpoint slices send traffic to (a pod answers on every port it
    listens on, declared or not)."""
    out: dict[str, set[tuple[str, int]]] = {}
    for sl in state.endpoint_slices:
        for ep in sl.endpoints:
            for addr in ep.addresses:
                for port in sl.ports:
                    out.setdefault(addr, set()).add((port.protocol.lower, port.port))
    return out


def spec_from_state(
    state: ClusterState, clients: tuple[ClientSpec, ...] = (),
) -> ClusterSpec:
    """The topology of ``state``: every node with a pod CIDR, every running pod with an IP
    (host-network pods are left out: they have no namespace of their own).

    Pods serve their TCP/UDP container ports plus every port an EndpointSlice routes to them.
    SCTP ports are not served (the agent speaks TCP and UDP).
    """
    nodes = tuple(
        NodeSpec(n.name, n.internal_ip, n.pod_cidr or (n.pod_cidrs[0] if n.pod_cidrs else ""))
        for n in sorted(state.nodes, key=lambda n: n.name)
    )
    for n in nodes:
        if not n.ip or not n.pod_cidr:
            raise SimError(f"oracle: node {n.name} needs an InternalIP and a podCIDR")
    served = _served_ports(state)
    pods = []
    for p in sorted(state.pods, key=lambda p: p.key):
        if not p.pod_ip or p.host_network or not p.node_name:
            continue
        ports = {(c.protocol.lower, c.container_port) for c in p.container_ports}
        ports |= served.get(p.pod_ip, set())
        ports = {x for x in ports if x[0] in ("tcp", "udp")}
        pods.append(PodSpec(p.name, p.node_name, p.pod_ip, tuple(sorted(ports))))
    spec = ClusterSpec(nodes, tuple(pods), tuple(clients))
    spec.validate()
    return spec
