"""The nftables proxier's unit-test fixture (``pkg/proxy/nftables/proxier_test.go``
``NewFakeProxier``): the iptables fixture's conventions plus service CIDR 172.30.0.0/16 and
``--nodeport-addresses 192.168.0.2/32,2001:db8::1/128``."""

from __future__ import annotations

import dataclasses

from sim.model import ClusterConfig, ClusterState, KubeProxyConfig
from tests.kubeproxy import fixtures as fx

NFT_PROXY_CONFIG = KubeProxyConfig(
    mode="nftables",
    cluster_cidr="10.0.0.0/8",
    mark_format="%#x",
    node_port_addresses=(f"{fx.TEST_NODE_IP}/32", "2001:db8::1/128"),
)
NFT_CLUSTER_CONFIG = ClusterConfig(service_cidrs=("172.30.0.0/16",))


def nft_state(state: ClusterState, config: KubeProxyConfig = NFT_PROXY_CONFIG) -> ClusterState:
    """``state`` under the nftables fixture's kube-proxy and cluster configuration."""
    return dataclasses.replace(state, kube_proxy=config, config=NFT_CLUSTER_CONFIG)


def overall_state() -> ClusterState:
    """The cluster of upstream ``TestOverallNFTablesRules``."""
    return nft_state(fx.overall_rules_state())


def changed_services(a: ClusterState, b: ClusterState) -> frozenset[str]:
    """The ``namespace/name`` of every service whose Service or EndpointSlices differ."""
    def index(st: ClusterState):
        out: dict[str, list] = {}
        for svc in st.services:
            out.setdefault(f"{svc.namespace}/{svc.name}", []).append(svc)
        for sl in st.endpoint_slices:
            out.setdefault(f"{sl.namespace}/{sl.service_name}", []).append(sl)
        return out
    ia, ib = index(a), index(b)
    return frozenset(k for k in ia.keys() | ib.keys() if ia.get(k) != ib.get(k))
