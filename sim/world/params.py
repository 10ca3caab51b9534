"""The world's tunable parameters, with documented defaults.

``sim.scenario`` reads ``spec.network`` (Kubernetes camelCase) into these dataclasses; the world
never sees YAML. Durations are float seconds, bandwidths bits per second.

Defaults and where they come from:

Links are edges of the topology graph and a path adds them up: a node reaches another node
through the fabric switch (two node links), an outside host reaches a node through its
external link and the node's link.

* ``pod_link``: veth between a pod and its node, 10 µs one way, 10 Gbit/s (a veth is a
  memory copy; measured container RTTs are tens of microseconds).
* ``node_link``: a node to the fabric switch, 50 µs one way, 10 Gbit/s, so node to node is
  100 µs (a same-zone data-centre RTT of about 0.2 ms).
* ``external_link``: an outside client or the cloud load balancer to the fabric, 1 ms one
  way, 1 Gbit/s.
* ``watch_delay_s``: apiserver change to a kube-proxy informer seeing it, 50 ms (watch events
  arrive within tens of milliseconds on an idle control plane).
* ``endpointslice_delay_s``: pod change to the EndpointSlice controller writing the slice,
  20 ms (``--endpoint-updates-batch-period`` defaults to 0, so only processing time).
* ``node_cpus``: CPUs of every node, 4 (a common general-purpose node size). kube-proxy
  scales ``nf_conntrack_max`` with it: ``max(conntrack.maxPerCore * cpus, conntrack.min)``,
  131072 with the defaults (32768 x 4 = the minimum); see
  :func:`sim.world.kubeproxy.conntrack_max`.
* ``connect_timeout_s`` (per client, see ``sim.world.workload``) defaults to 1 s.
* ``userspace``: what the 1.0 userspace proxy costs (:class:`UserspaceParams`,
  ``spec.network.userspaceProxy``), measured by ``benchmarks/userspace_bench.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class LinkParams:
    """One class of link: one-way latency and bandwidth."""

    latency_s: float
    bandwidth_bps: float

    def transit_s(self, length_bytes: int) -> float:
        """Time for a packet of ``length_bytes`` to cross the link (latency + serialisation)."""
        return self.latency_s + length_bytes * 8.0 / self.bandwidth_bps


@dataclass(frozen=True, slots=True)
class ExternalHost:
    """A host outside the cluster: a client, or a server that manual Endpoints point at.

    ``listen`` holds ``(protocol, port)`` pairs it answers on (empty: answers on no port).
    """

    name: str
    ip: str
    listen: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    """A route the network outside the nodes holds: traffic for ``cidr`` goes to ``via`` (a node).

    This is how externalIPs reach a node: the cluster operator routes them there (Kubernetes
    does not; see the Service docs on externalIPs).
    """

    cidr: str
    via: str


@dataclass(frozen=True, slots=True)
class ControlPlaneParams:
    """Delays between an apiserver change and a kube-proxy seeing it."""

    watch_delay_s: float = 0.05
    endpointslice_delay_s: float = 0.02


@dataclass(frozen=True, slots=True)
class UserspaceParams:
    """What the userspace proxy costs, in simulated seconds.

    ``setup_s``: from accept to the dial's SYN (accept, the load balancer, socket and
    ``connect`` syscalls, a goroutine). ``per_packet_s``: one relayed packet (a read and a
    write through user space). ``iptables_call_s``: one ``iptables`` command (process start,
    table read, commit). Defaults: ``benchmarks/userspace_bench.py`` on the shared 2-core
    machine (README, "The 1.0 userspace proxy"): a Python relay in a node namespace against
    one DNAT rule on the same path, samples alternating, medians; over five runs the set-up
    cost was 155-225 us (median 178), the per-packet cost 6-13 us (median 11), one
    ``iptables-legacy -C`` process 0.37-0.38 ms on a small table (1.0's nodes ran legacy
    iptables; each call reads the whole table, so it grows with the rules). The relay is
    Python, not 1.0's Go: the two proxy costs are an upper bound for Go on this machine.
    """

    setup_s: float = 180e-6
    per_packet_s: float = 11e-6
    iptables_call_s: float = 0.0004


@dataclass(frozen=True, slots=True)
class NetworkParams:
    """Everything ``spec.network`` can set."""

    pod_link: LinkParams = field(default_factory=lambda: LinkParams(10e-6, 10e9))
    node_link: LinkParams = field(default_factory=lambda: LinkParams(50e-6, 10e9))
    external_link: LinkParams = field(default_factory=lambda: LinkParams(1e-3, 1e9))
    external_hosts: tuple[ExternalHost, ...] = ()
    routes: tuple[Route, ...] = ()
    control_plane: ControlPlaneParams = field(default_factory=ControlPlaneParams)
    restore_backend: str = "legacy"
    node_cpus: int = 4
    userspace: UserspaceParams = field(default_factory=lambda: UserspaceParams())
