"""The real kernel as an oracle: a cluster of network namespaces running the same rule text.

Model
    :class:`KernelCluster` builds, from a :class:`ClusterSpec` (derived from a
    ``sim.model.ClusterState`` by :func:`spec_from_state`), a switch namespace with the node
    LAN bridge, one namespace per node (LAN veth, pod bridge, routes to the other nodes' pod
    CIDRs, a default route covering the service CIDR, the sysctls of
    ../shared/notes/kernel-oracle.md), one per pod (veth with hairpin on) and one per external
    client. One long-lived agent per namespace serves the pod's ports and opens connections on
    request, so probes cost no process start. ``restore``/``save``/``counters``/``conntrack``
    run the real ``iptables-restore``, ``iptables-save -c`` and ``conntrack -L`` inside a node
    (nft backend by default, legacy selectable). Parsers for those outputs are pure
    (:mod:`sim.oracle.parse`) so captured fixtures replay without root.
Scope and limitations
    IPv4 only; TCP and UDP probes (no SCTP); host-network pods are not built. Root is needed
    (:func:`skip_reason` says why not). ``nf_conntrack_max`` cannot be set from a child
    namespace. Namespaces are named ``kns<pid>-...``; every one made is deleted on exit, even
    on failure, and stale ones of dead runs are removed on the next start. Traffic never leaves
    the namespaces: the LAN is a bridge inside the switch namespace.
Validation
    ``tests/oracle`` checks the topology against the reference outcomes of the kernel-oracle
    note (pod/node/outside -> ClusterIP with and without SNAT, REJECT vs DROP, hairpin,
    cleanup on failure). ``tests/kernel`` compares the kernel with the engine.
"""

from sim.oracle.cluster import BACKENDS, KernelCluster, ProbeResult
from sim.oracle.netns import OracleError, cleanup_stale, own_namespaces, run_prefix, skip_reason
from sim.oracle.parse import (
    RuleCounter,
    counter_diff,
    parse_conntrack,
    parse_counters,
    parse_recent,
)
from sim.oracle.topology import ClientSpec, ClusterSpec, NodeSpec, PodSpec, spec_from_state

__all__ = [
    "BACKENDS", "ClientSpec", "ClusterSpec", "KernelCluster", "NodeSpec", "OracleError",
    "PodSpec", "ProbeResult", "RuleCounter", "cleanup_stale", "counter_diff", "own_namespaces",
    "parse_conntrack", "parse_counters", "parse_recent", "run_prefix", "skip_reason",
    "spec_from_state",
]
