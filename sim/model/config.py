"""Cluster-wide and kube-proxy configuration, with the upstream defaults.

``KubeProxyConfig`` mirrors ``KubeProxyConfiguration`` (kubeproxy.config.k8s.io/v1alpha1);
defaults are those of kube-proxy's ``defaults.go`` (see ../shared/notes/kube-proxy-facts.md §6).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.model.frozen import EMPTY, FrozenDict


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """apiserver / controller settings from ``spec.cluster`` of a scenario."""

    service_cidrs: tuple[str, ...] = ("10.96.0.0/12",)
    node_port_range: tuple[int, int] = (30000, 32767)  # inclusive bounds
    cluster_domain: str = "cluster.local"
    feature_gates: FrozenDict = EMPTY
    load_balancer_pool: tuple[str, ...] = ("203.0.113.0/24",)
    dns_service_ip: str = ""  # empty: the 10th address of the service CIDR, as kubeadm does

    @property
    def service_cidr(self) -> str:
        """The primary service CIDR."""
        return self.service_cidrs[0]

    def gate(self, name: str) -> bool:
        """Whether feature gate ``name`` is on (SCTPSupport is GA-on since 1.20, but a scenario
        may model an older cluster, so gates default to off unless listed)."""
        return str(self.feature_gates.get(name, "false")).lower() == "true"


@dataclass(frozen=True, slots=True)
class ConntrackConfig:
    """``conntrack.*`` of KubeProxyConfiguration (durations in seconds)."""

    max_per_core: int = 32768
    min: int = 131072
    tcp_established_timeout_s: float = 86400.0
    tcp_close_wait_timeout_s: float = 3600.0
    tcp_be_liberal: bool = False
    udp_timeout_s: float = 30.0  # kernel nf_conntrack_udp_timeout default
    udp_stream_timeout_s: float = 120.0  # kernel nf_conntrack_udp_timeout_stream default


PROXY_MODES = ("iptables", "nftables", "ipvs", "userspace")
"""Every ``KubeProxyConfiguration.mode`` the simulator knows (``""`` means iptables). Which of
them a command can compile or run is each mode's own module's business (``sim.kubeproxy``)."""


@dataclass(frozen=True, slots=True)
class IPVSConfig:
    """``ipvs.*`` of KubeProxyConfiguration (durations in seconds; 0 = leave the kernel's).

    ``scheduler`` "" means upstream's default, round robin (``rr``).
    """

    scheduler: str = ""
    exclude_cidrs: tuple[str, ...] = ()
    strict_arp: bool = False
    tcp_timeout_s: float = 0.0
    tcp_fin_timeout_s: float = 0.0
    udp_timeout_s: float = 0.0


@dataclass(frozen=True, slots=True)
class KubeProxyConfig:
    """The fields of KubeProxyConfiguration the simulator honours."""

    mode: str = "iptables"
    cluster_cidr: str = ""
    node_port_addresses: tuple[str, ...] = ()
    masquerade_all: bool = False
    masquerade_bit: int = 14
    min_sync_period_s: float = 1.0
    sync_period_s: float = 30.0
    localhost_node_ports: bool = True
    detect_local_mode: str = "ClusterCIDR"
    conntrack: ConntrackConfig = field(default_factory=ConntrackConfig)
    # How kube-proxy renders the mark: upstream formats "%#08x" (0x00004000); its unit tests
    # use "0x4000". Scenarios choose; the default is what a real kube-proxy writes.
    mark_format: str = "%#08x"
    # iptables >= 1.6.2 supports --random-fully and kube-proxy then adds it.
    masquerade_random_fully: bool = True
    # Mode-specific sections. ``masquerade_all``, ``masquerade_bit`` and the sync periods above
    # are the *effective* values: read from ``iptables.*`` (iptables, ipvs and userspace modes:
    # the IPVS proxier takes its masquerade settings from ``iptables.*`` as upstream does) or
    # from ``nftables.*`` in nftables mode.
    ipvs: IPVSConfig = field(default_factory=IPVSConfig)
    # userspace mode (1.0): ``portRange`` ("" = any free port) and ``udpIdleTimeout``
    # (0 = the mode's own default).
    port_range: str = ""
    udp_idle_timeout_s: float = 0.0

    @property
    def masquerade_mark(self) -> str:
        """The mark string written into rules (``0x00004000`` by default)."""
        value = 1 << self.masquerade_bit
        if self.mark_format == "%#08x":
            return "0x" + format(value, "08x")
        return hex(value)
