"""The resolv.conf the kubelet writes for a pod (``pkg/kubelet/network/dns/dns.go``).

``pod_resolv_conf`` follows ``Configurer.GetPodDNS``: start from the node's resolv.conf, replace
it per ``dnsPolicy``, append ``spec.dnsConfig``, then cut to the limits
(``formDNSConfigFitsLimits``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sim.model import Pod
from sim.model.errors import SimError

# pkg/apis/core/validation: MaxDNSNameservers, MaxDNSSearchPaths{Expanded,Legacy},
# MaxDNSSearchListChars{Expanded,Legacy}; DNS1123SubdomainMaxLength.
MAX_NAMESERVERS = 3
MAX_SEARCH_PATHS_EXPANDED, MAX_SEARCH_CHARS_EXPANDED = 32, 2048
MAX_SEARCH_PATHS_LEGACY, MAX_SEARCH_CHARS_LEGACY = 6, 256
MAX_SEARCH_PATH_LEN = 253
# glibc res_init: RES_MAXNDOTS caps ndots; RES_TIMEOUT and RES_DFLRETRY are the defaults.
MAX_NDOTS = 15
DEFAULT_NDOTS, DEFAULT_TIMEOUT_S, DEFAULT_ATTEMPTS = 1, 5, 2

POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")


@dataclass(frozen=True, slots=True)
class ResolvConf:
    """A resolv.conf as data: ``nameserver`` lines, the ``search`` list and ``options``.

    ``warnings`` holds the kubelet's ``DNSConfigForming`` / ``MissingClusterDNS`` event texts
    produced while forming it (they are not part of the file).
    """

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def option(self, name: str) -> str | None:
        """The value of option ``name`` (the last one wins, as in glibc), or None when absent.

        >>> ResolvConf(options=("ndots:2", "ndots:5", "rotate")).option("ndots")
        '5'
        """
        value = None
        for opt in self.options:
            key, _, val = opt.partition(":")
            if key == name:
                value = val
        return value

    def _int_option(self, name: str, default: int, cap: int) -> int:
        raw = self.option(name)
        if raw is None:
            return default
        try:
            return max(0, min(int(raw), cap))
        except ValueError:
            return default

    @property
    def ndots(self) -> int:
        """``options ndots:N`` (default 1, capped at 15 as glibc's RES_MAXNDOTS)."""
        return self._int_option("ndots", DEFAULT_NDOTS, MAX_NDOTS)

    @property
    def timeout_s(self) -> int:
        """``options timeout:N`` (glibc default 5 s, capped at 30 as RES_MAXRETRANS)."""
        return self._int_option("timeout", DEFAULT_TIMEOUT_S, 30)

    @property
    def attempts(self) -> int:
        """``options attempts:N`` (glibc default 2, capped at 5 as RES_MAXRETRY)."""
        return self._int_option("attempts", DEFAULT_ATTEMPTS, 5)

    def render(self) -> str:
        """The file text (``nameserver`` lines, then ``search``, then ``options``).

        >>> print(ResolvConf(("10.96.0.10",), ("a.svc.cluster.local",), ("ndots:5",)).render())
        nameserver 10.96.0.10
        search a.svc.cluster.local
        options ndots:5
        <BLANKLINE>
        """
        lines = [f"nameserver {ns}" for ns in self.nameservers]
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "\n".join(lines) + "\n"


def parse_resolv_conf(text: str) -> ResolvConf:
    """``parseResolvConf``: nameservers accumulate, the last ``search`` and ``options`` win.

    Search entries lose a trailing dot and ``.`` itself is dropped, as the kubelet does.

    >>> parse_resolv_conf("nameserver 1.1.1.1\\nsearch a.example. .\\noptions rotate\\n")
    ResolvConf(nameservers=('1.1.1.1',), searches=('a.example',), options=('rotate',), warnings=())
    """
    nameservers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if line.startswith("#"):
            continue
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "nameserver":
            if len(fields) < 2:
                raise SimError(f"resolv.conf line {lineno}: nameserver list is empty")
            nameservers.append(fields[1])
        elif fields[0] == "search":
            searches = [s.removesuffix(".") for s in fields[1:] if s != "."]
        elif fields[0] == "options":
            options = fields[1:]
    return ResolvConf(tuple(nameservers), tuple(searches), tuple(options))


def _omit_duplicates(items: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _merge_options(existing: Sequence[str], pod_options: Sequence[tuple[str, str | None]]) -> list[str]:
    """``mergeDNSOptions``: by name, pod values override. Upstream goes through a Go map, so
    the order is undefined there; we keep first-seen order for determinism."""
    merged: dict[str, str] = {}
    for op in existing:
        name, sep, value = op.partition(":")
        merged[name] = value if sep else ""
    for name, value in pod_options:
        merged[name] = value or ""
    return [f"{k}:{v}" if v else k for k, v in merged.items()]


def pod_resolv_conf(
    pod: Pod,
    cluster_dns_ips: Sequence[str],
    cluster_domain: str,
    host_resolv_conf: ResolvConf | str | None,
    *,
    node_ips: Sequence[str] = (),
    expanded_dns_config: bool = True,
) -> ResolvConf:
    """``GetPodDNS``: the resolv.conf written into ``pod``.

    Parameters
    ----------
    pod
        The pod (``dns_policy``, ``host_network``, ``dns_config``, ``namespace`` are used).
    cluster_dns_ips
        kubelet ``--cluster-dns`` (usually the kube-dns Service IP); empty means "not set".
    cluster_domain
        kubelet ``--cluster-domain``.
    host_resolv_conf
        The node's resolv.conf (kubelet ``--resolv-conf``) as data or text; ``None`` models
        ``--resolv-conf=""`` (nameserver 127.0.0.1 or ::1 per node IP family, search ``.``).
    node_ips
        The node's IPs (only used with ``host_resolv_conf=None``).
    expanded_dns_config
        The ExpandedDNSConfig feature (GA since 1.28): 32 search paths / 2048 characters
        instead of 6 / 256.

    >>> rc = pod_resolv_conf(Pod("my-ns", "p"), ["10.96.0.10"], "cluster.local",
    ...                      "nameserver 8.8.8.8\\nsearch corp.example\\noptions timeout:1\\n")
    >>> rc.nameservers, rc.searches, rc.options
    (('10.96.0.10',), ('my-ns.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example'), ('ndots:5',))
    """
    if isinstance(host_resolv_conf, str):
        host_resolv_conf = parse_resolv_conf(host_resolv_conf)
    base = host_resolv_conf or ResolvConf()
    servers, searches, options = list(base.nameservers), list(base.searches), list(base.options)
    warnings: list[str] = []

    policy = pod.dns_policy or "ClusterFirst"
    if policy not in POLICIES:
        # getPodDNSType: an invalid policy falls back to ClusterFirst (the apiserver would
        # have refused it).
        warnings.append(f"invalid DNSPolicy={policy}")
        policy = "ClusterFirst"
    if policy == "ClusterFirst" and pod.host_network:
        # getPodDNSType: ClusterFirst on a hostNetwork pod falls back to Default.
        policy = "Default"

    if policy == "None":
        servers, searches, options = [], [], []
    elif policy in ("ClusterFirst", "ClusterFirstWithHostNet") and cluster_dns_ips:
        servers = list(cluster_dns_ips)
        if cluster_domain:
            cluster_search = [f"{pod.namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}",
                              cluster_domain]
            searches = _omit_duplicates(cluster_search + searches)
        options = ["ndots:5"]
    else:
        if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
            warnings.append(
                'kubelet does not have ClusterDNS IP configured and cannot create Pod using '
                '"ClusterFirst" policy. Falling back to "Default" policy.')
        if host_resolv_conf is None:
            servers = ["::1" if ":" in ip else "127.0.0.1" for ip in node_ips] or ["127.0.0.1"]
            searches = ["."]

    if pod.dns_config is not None:
        servers = _omit_duplicates(servers + list(pod.dns_config.nameservers))
        searches = _omit_duplicates(searches + list(pod.dns_config.searches))
        options = _merge_options(options, pod.dns_config.options)

    if len(servers) > MAX_NAMESERVERS:
        servers = servers[:MAX_NAMESERVERS]
        warnings.append("Nameserver limits were exceeded, some nameservers have been omitted, "
                        "the applied nameserver line is: " + " ".join(servers))
    searches, cut = _fit_search(searches, expanded_dns_config)
    if cut:
        warnings.append("Search Line limits were exceeded, some search paths have been omitted, "
                        "the applied search line is: " + " ".join(searches))
    return ResolvConf(tuple(servers), tuple(searches), tuple(options), tuple(warnings))


def _fit_search(searches: list[str], expanded: bool) -> tuple[list[str], bool]:
    """``formDNSSearchFitsLimits``: count limit, drop over-long entries, then cut from the end
    until the joined line fits."""
    max_paths, max_chars = ((MAX_SEARCH_PATHS_EXPANDED, MAX_SEARCH_CHARS_EXPANDED) if expanded
                            else (MAX_SEARCH_PATHS_LEGACY, MAX_SEARCH_CHARS_LEGACY))
    exceeded = False
    if len(searches) > max_paths:
        searches = searches[:max_paths]
        exceeded = True
    kept = [s for s in searches if len(s) <= MAX_SEARCH_PATH_LEN]
    exceeded = exceeded or len(kept) != len(searches)
    line_len = len(" ".join(kept))
    if line_len > max_chars:
        cut_len = cut_num = 0
        for s in reversed(kept):
            cut_len += len(s) + 1
            cut_num += 1
            if line_len - cut_len <= max_chars:
                break
        kept = kept[: len(kept) - cut_num]
        exceeded = True
    return kept, exceeded
