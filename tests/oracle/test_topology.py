"""ClusterSpec validation and derivation from a ClusterState (no root needed)."""

from __future__ import annotations

import pytest

from sim.model import (
    ClusterState,
    ContainerPort,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    Node,
    NodeAddress,
    Pod,
    Protocol,
)
from sim.model.errors import SimError
from sim.oracle import ClientSpec, ClusterSpec, NodeSpec, PodSpec, spec_from_state
from sim.oracle.netns import stale_namespaces

NODES = (NodeSpec("a", "192.168.0.2", "10.244.1.0/24"), NodeSpec("b", "192.168.0.3", "10.244.2.0/24"))


def _state() -> ClusterState:
    nodes = tuple(Node(n, addresses=(NodeAddress("InternalIP", ip),), pod_cidr=cidr)
                  for n, ip, cidr in (("b", "192.168.0.3", "10.244.2.0/24"),
                                      ("a", "192.168.0.2", "10.244.1.0/24")))
    pods = (
        Pod("ns", "web-1", node_name="a", pod_ip="10.244.1.2",
            container_ports=(ContainerPort(80), ContainerPort(5000, Protocol.SCTP))),
        Pod("ns", "host", node_name="a", pod_ip="192.168.0.2", host_network=True),
        Pod("ns", "pending", node_name="", pod_ip=""),
    )
    sl = EndpointSlice("ns", "web-x", "web", endpoints=(Endpoint(("10.244.1.2",)),),
                       ports=(EndpointPort(53, Protocol.UDP),))
    return ClusterState(nodes=nodes, pods=pods, endpoint_slices=(sl,))


def test_spec_from_state_nodes_sorted_with_bridge():
    """Nodes come out sorted by name with their InternalIP, CIDR and bridge address."""
    spec = spec_from_state(_state())
    assert [(n.name, n.ip, n.bridge_ip) for n in spec.nodes] == [
        ("a", "192.168.0.2", "10.244.1.1"), ("b", "192.168.0.3", "10.244.2.1")]


def test_spec_from_state_pod_serves_declared_and_routed_ports():
    """A pod serves its TCP/UDP container ports plus ports an EndpointSlice routes to it;
    SCTP is left out, host-network and unscheduled pods are not built."""
    spec = spec_from_state(_state())
    assert spec.pods == (PodSpec("web-1", "a", "10.244.1.2", (("tcp", 80), ("udp", 53))),)


def test_pod_outside_node_cidr_refused():
    """A pod IP outside its node's pod CIDR cannot be wired and is refused."""
    spec = ClusterSpec(NODES, (PodSpec("p", "a", "10.244.2.5"),))
    with pytest.raises(SimError, match="outside 10.244.1.0/24"):
        spec.validate()


def test_duplicate_address_refused():
    """Two hosts with one address are refused."""
    spec = ClusterSpec(NODES, clients=(ClientSpec("c", ("192.168.0.2",), "a"),))
    with pytest.raises(SimError, match="duplicate addresses"):
        spec.validate()


def test_client_gateway_must_be_a_node():
    """A client's gateway must name a node."""
    spec = ClusterSpec(NODES, clients=(ClientSpec("c", ("203.0.113.7",), "nope"),))
    with pytest.raises(SimError, match="gateway"):
        spec.validate()


def test_stale_detection_only_touches_dead_oracle_runs():
    """Only kns<pid>- names whose pid is dead count as stale; other names are never touched."""
    import os

    names = [f"kns{os.getpid()}-0-sw", "kns999999999-0-sw", "knsx-sw", "someone-else"]
    assert stale_namespaces(names) == ["kns999999999-0-sw"]
