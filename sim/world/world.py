"""The simulated cluster: network, pods, kube-proxies and the control plane, on one clock.

:class:`World` is built from an apiserver (``sim.api.apiserver.ApiServer``) and the network
parameters; :meth:`World.start` starts the processes. Changes to the cluster go through
:meth:`World.change`, which applies them to the apiserver at the current simulated time,
mirrors pods into the data plane at once (a pod's namespace exists when its kubelet started
it, not when kube-proxy learns of it) and delivers the new state to every kube-proxy after the
control-plane delay.
"""

from __future__ import annotations

from typing import Callable

import simpy

from sim.model.cluster import ClusterState
from sim.model.objects import ContainerPort, Pod, ServiceType, TrafficPolicy
from sim.world.datapath import Datapath
from sim.world.kubeproxy import KubeProxy, conntrack_max
from sim.world.proxymodes import proxy_backend
from sim.world.network import Network, NodeHost, PodHost, default_server
from sim.world.params import NetworkParams
from sim.world.recorder import Recorder
from sim.world.restore import load_restore_model
from sim.world.rng import component_rng

DatapathFactory = Callable[[NodeHost, int, object], Datapath]


class World:
    """A cluster under simulation.

    Parameters
    ----------
    api
        The apiserver (``sim.api.apiserver.ApiServer``); the world calls its mutators and
        ``snapshot()``.
    params
        Network and control-plane parameters.
    seed
        The run seed; components draw from streams spawned from it by name.
    datapath_factory
        Builds each node's kernel (``(node, seed, kube_proxy_config) -> Datapath``); the netfilter engine in a
        real run (:func:`sim.world.engine.netfilter_datapaths`). ``None``: nodes without
        rules and without kube-proxy (routing only).
    """

    def __init__(self, api, params: NetworkParams, seed: int,
                 datapath_factory: DatapathFactory | None = None) -> None:
        self.api = api
        self.params = params
        self.seed = seed
        self.env = simpy.Environment()
        self.recorder = Recorder()
        self.net = Network(self.env, params, component_rng(seed, "cloud-lb"))
        self.state: ClusterState = api.snapshot()
        self.config = self.state.kube_proxy
        self.restore_model = load_restore_model(params.restore_backend)
        self.rules = proxy_backend(self.config)
        if hasattr(self.rules, "bind"):
            self.rules.bind(self.env)  # a backend with timers of its own (IPVS)
        if hasattr(self.rules, "attach"):
            self.rules.attach(self)  # a backend with processes of its own (userspace)
        self.pod_hosts: dict[str, PodHost] = {}
        self.pod_labels: dict[str, dict[str, str]] = {}  # every pod that ever ran
        self.kube_proxies: dict[str, KubeProxy] = {}
        self.crashed: set[str] = set()
        self.kube_proxy_enabled = datapath_factory is not None
        for node in self.state.nodes:
            host = self.net.add_node(node.name, node.ips,
                                     node.pod_cidrs or ((node.pod_cidr,) if node.pod_cidr else ()))
            if datapath_factory is not None:
                host.datapath = datapath_factory(host, seed, self.config)
                # kube-proxy sets the sysctl when it starts (ProxyServer.setupConntrack), before
                # any traffic of the run.
                limit = conntrack_max(self.config.conntrack, params.node_cpus)
                if limit is not None:
                    host.datapath.set_conntrack_max(limit)
            host.up = node.ready
            self.kube_proxies[node.name] = KubeProxy(self.env, host, self.rules.config, self.rules,
                                                     self.restore_model, self.recorder)
        self._sync_pods(self.state)
        self._sync_lb(self.state)

    def node_ips(self) -> frozenset[str]:
        """Every node address."""
        return frozenset(ip for n in self.net.nodes.values() for ip in n.ips)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start every kube-proxy on a ready node in steady state: the initial objects are
        programmed at t=0 (the cluster has been running), later changes go through the loop."""
        for name, kp in self.kube_proxies.items():
            if self.net.nodes[name].up and self.kube_proxy_enabled:
                kp.notify(self.state, -1, 0.0)
                kp.pending.clear()  # the initial state is not a change: no programming latency
                kp.start(programmed=True)

    def run(self, until: float) -> None:
        """Advance the clock to ``until``."""
        self.env.run(until=until)

    # ------------------------------------------------------------------ control plane
    def change(self, description: str, mutate: Callable[[object], object]) -> int:
        """Apply ``mutate(api)`` now, mirror pods, and schedule the kube-proxies' watch events."""
        mutate(self.api)
        state = self.api.snapshot()
        self.state = state
        change_id = self.recorder.change(self.env.now, description)
        self._sync_pods(state)
        self._sync_lb(state)
        cp = self.params.control_plane
        delay = cp.endpointslice_delay_s + cp.watch_delay_s
        t = self.env.now
        ev = self.env.timeout(delay)
        ev.callbacks.append(lambda _e: self._deliver(state, change_id, t))
        return change_id

    def _deliver(self, state: ClusterState, change_id: int, t: float) -> None:
        # A stopped kube-proxy keeps the change pending: its first sync after starting covers
        # it, so downtime shows in the programming latency as it does in the upstream SLI.
        for kp in self.kube_proxies.values():
            kp.notify(state, change_id, t)

    def _sync_pods(self, state: ClusterState) -> None:
        """Start namespaces of new pods, tear down those of deleted ones."""
        live = {p.key: p for p in state.pods if p.pod_ip and p.node_name and not p.host_network
                and p.node_name in self.net.nodes}
        for key in [k for k, h in self.pod_hosts.items()
                    if k not in live or h.ips != (live[k].pod_ips or (live[k].pod_ip,))
                    or h.node_name != live[k].node_name]:
            # Gone, or re-created elsewhere (a new IP or node is a new sandbox).
            self.net.remove_pod(self.pod_hosts.pop(key))
        for key, pod in live.items():
            if key not in self.pod_hosts:
                self.pod_hosts[key] = self._start_pod(pod)

    def _start_pod(self, pod: Pod) -> PodHost:
        ips = pod.pod_ips or (pod.pod_ip,)
        host = self.net.add_pod(pod.key, ips, pod.node_name, dict(pod.labels))
        self.pod_labels[pod.key] = dict(pod.labels)
        _listen(host, pod.container_ports)
        return host

    def _sync_lb(self, state: ClusterState) -> None:
        """The cloud load balancer's ingress addresses and the nodes each may send to.

        With ``externalTrafficPolicy: Local`` the provider's health checks (on the
        healthCheckNodePort) pass only on nodes with a ready local endpoint, so only those
        get traffic; otherwise every node does.
        """
        ingress: dict[str, tuple[str, ...]] = {}
        all_nodes = tuple(sorted(self.net.nodes))
        for svc in state.services:
            if svc.type != ServiceType.LOAD_BALANCER:
                continue
            nodes = all_nodes
            if svc.external_traffic_policy == TrafficPolicy.LOCAL:
                nodes = tuple(sorted({ep.node_name for sl in state.slices_for(svc)
                                      for ep in sl.endpoints if ep.is_ready and ep.node_name}))
            for ing in svc.load_balancer_ingress:
                if ing.ip:
                    ingress[ing.ip] = nodes
        self.net.set_lb_ingress(ingress)

    # ------------------------------------------------------------------ faults
    def crash_pod(self, key: str) -> None:
        """The pod's process dies: its ports close (a SYN gets RST) until :meth:`restart_pod`."""
        host = self.pod_hosts.get(key)
        if host is not None:
            host.listeners, host.listen_all = {}, frozenset()
            self.crashed.add(key)

    def restart_pod(self, key: str) -> None:
        """The kubelet restarted the pod's container: it listens again."""
        host = self.pod_hosts.get(key)
        pod = self.state.pods_by_key.get(key)
        if host is not None and pod is not None:
            _listen(host, pod.container_ports)
        self.crashed.discard(key)

    def node_down(self, name: str) -> None:
        """The node stops: it drops every packet and its kube-proxy stops."""
        self.net.nodes[name].up = False
        self.kube_proxies[name].stop()

    def node_up(self, name: str) -> None:
        """The node is back: kube-proxy starts and resyncs."""
        self.net.nodes[name].up = True
        self.kube_proxies[name].start()

    def kube_proxy_stop(self, name: str, flush: bool) -> None:
        """kube-proxy exits; with ``flush`` its rules are removed (``kube-proxy --cleanup``)."""
        self.kube_proxies[name].stop()
        if flush:
            self.net.nodes[name].datapath.load(None)
            if hasattr(self.rules, "cleanup"):  # a mode with state beyond the ruleset (IPVS)
                self.rules.cleanup(self.net.nodes[name])

    def kube_proxy_start(self, name: str) -> None:
        self.kube_proxies[name].start()

    def flush_conntrack(self, name: str) -> None:
        self.net.nodes[name].datapath.flush_conntrack()


def _listen(host: PodHost, ports: tuple[ContainerPort, ...]) -> None:
    """A pod answers on its declared container ports, or on every port when it declares none
    (``containerPort`` is informational in Kubernetes: undeclared ports still work)."""
    if ports:
        host.listeners = {(p.protocol.lower, p.container_port): default_server for p in ports}
        host.listen_all = frozenset()
    else:
        host.listeners = {}
        host.listen_all = frozenset({"tcp", "udp", "sctp"})

