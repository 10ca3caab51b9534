"""Validation with the apiserver's messages (``pkg/apis/core/validation/validation.go``,
``pkg/apis/discovery/validation``, ``pkg/apis/apps/validation``).

Every function takes a *defaulted* manifest and returns a list of
:class:`~sim.model.errors.FieldError`; an empty list means the object is accepted. Field paths
are those of the v1 object (``spec.ports[0].nodePort``).
"""

from __future__ import annotations

import ipaddress

from sim.api import names
from sim.api.defaults import externally_accessible
from sim.api.fielderrors import (
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
)
from sim.model.config import ClusterConfig
from sim.model.errors import FieldError
from sim.model.objects import MAX_AFFINITY_TIMEOUT_S

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")  # sets.List order
AFFINITIES = ("ClientIP", "None")
PROTOCOLS = ("SCTP", "TCP", "UDP")
TRAFFIC_POLICIES = ("Cluster", "Local")
IP_FAMILIES = ("IPv4", "IPv6")
IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")

VALID_IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
VALID_CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


class GoValue:
    """A value rendered the way Go's ``%#v`` shows it inside a field error.

    >>> str(GoValue.strings(["10.0.0.1"]))
    '[]string{"10.0.0.1"}'
    """

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoValue) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    @classmethod
    def strings(cls, values: list[str]) -> "GoValue":
        """``[]string{...}``."""
        return cls("[]string{" + ", ".join(f'"{v}"' for v in values) + "}")

    @classmethod
    def service_port_key(cls, protocol: str, port: int = 0, node_port: int = 0) -> "GoValue":
        """The ``core.ServicePort`` key upstream uses for its duplicate-port checks."""
        return cls(
            f'core.ServicePort{{Name:"", Protocol:"{protocol}", AppProtocol:(*string)(nil), '
            f"Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, "
            f"NodePort:{node_port}}}")


def _ip(text: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_valid_ip(path: str, value: object) -> list[FieldError]:
    """``validation.IsValidIP``."""
    return [] if _ip(value) is not None else [invalid(path, value, VALID_IP_MSG)]


def is_valid_cidr(path: str, value: str) -> list[FieldError]:
    """``validation.IsValidCIDR``."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return [invalid(path, value, VALID_CIDR_MSG)]
    return []


def validate_non_special_ip(value: str, path: str) -> list[FieldError]:
    """``ValidateNonSpecialIP``: refuses unspecified, loopback, link-local and link-local
    multicast addresses (Endpoints, EndpointSlices, externalIPs)."""
    ip = _ip(value)
    if ip is None:
        return [invalid(path, value, "must be a valid IP address")]
    errs = []
    if ip.is_unspecified:
        errs.append(invalid(path, value, f"may not be unspecified ({value})"))
    if ip.is_loopback:
        errs.append(invalid(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
    if ip in _LINK_LOCAL[ip.version]:
        errs.append(invalid(path, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
    if ip in _LINK_LOCAL_MULTICAST[ip.version]:
        errs.append(invalid(
            path, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
    return errs


_LINK_LOCAL = {4: ipaddress.ip_network("169.254.0.0/16"), 6: ipaddress.ip_network("fe80::/10")}
# Go's IsLinkLocalMulticast: 224.0.0.0/24 and ff02::/16 (the message says ff02::/10).
_LINK_LOCAL_MULTICAST = {
    4: ipaddress.ip_network("224.0.0.0/24"), 6: ipaddress.ip_network("ff02::/16")}


def validate_labels(labels: dict | None, path: str) -> list[FieldError]:
    """``ValidateLabels``: qualified-name keys, label values."""
    errs = []
    for k, v in (labels or {}).items():
        for msg in names.is_qualified_name(k):
            errs.append(invalid(path, k, msg))
        for msg in names.is_valid_label_value(v):
            errs.append(invalid(f"{path}[{k}]", v, msg))
    return errs


def validate_object_meta(meta: dict, namespaced: bool, name_fn, path: str = "metadata") -> list[FieldError]:
    """``ValidateObjectMeta``: name required and well-formed, namespace a DNS label, labels."""
    errs: list[FieldError] = []
    name = meta.get("name") or ""
    if not name:
        errs.append(required(f"{path}.name", "name or generateName is required"))
    else:
        errs.extend(invalid(f"{path}.name", name, m) for m in name_fn(name))
    if namespaced:
        ns = meta.get("namespace") or ""
        errs.extend(invalid(f"{path}.namespace", ns, m) for m in names.is_dns1123_label(ns))
    elif meta.get("namespace"):
        errs.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    errs.extend(validate_labels(meta.get("labels"), f"{path}.labels"))
    errs.extend(validate_annotations_size(meta.get("annotations"), f"{path}.annotations"))
    return errs


# apimachinery ValidateAnnotationsSize: keys and values together at most 256 KiB.
TOTAL_ANNOTATION_SIZE_LIMIT_B = 256 * 1024


def validate_annotations_size(annotations: object, path: str) -> list[FieldError]:
    """``ValidateAnnotationsSize``: the summed length of every key and value.

    >>> [e.message() for e in validate_annotations_size({"a": "x" * 262144}, "metadata.annotations")]
    ['metadata.annotations: Too long: may not be more than 262144 bytes']
    """
    if not isinstance(annotations, dict):
        return []
    total = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B:
        return [FieldError(path, "Too long", f"may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT_B} bytes")]
    return []


def _port_num_or_name(value: object, path: str) -> list[FieldError]:
    """``ValidatePortNumOrName``."""
    if isinstance(value, int):
        return [invalid(path, value, m) for m in names.is_valid_port_num(value)]
    return [invalid(path, value, m) for m in names.is_valid_port_name(str(value))]


def _protocol(value: object, path: str, cluster: ClusterConfig) -> list[FieldError]:
    if not value:
        return [required(path)]
    if value not in PROTOCOLS:
        return [not_supported(path, value, PROTOCOLS)]
    if value == "SCTP" and not cluster.gate("SCTPSupport"):
        # v1.12-v1.19 validateServicePort / validateContainerPorts: SCTP only behind the
        # SCTPSupport feature gate; the error lists what is allowed without it.
        return [not_supported(path, value, ("TCP", "UDP"))]
    return []


def validate_service(m: dict, cluster: ClusterConfig) -> list[FieldError]:
    """``ValidateService`` on a defaulted v1 Service (before allocation)."""
    errs = validate_object_meta(m.get("metadata") or {}, True, names.is_dns1035_label)
    spec = m["spec"]
    stype = spec.get("type")
    ports = spec.get("ports") or []
    cluster_ips = spec.get("clusterIPs") or []
    headless = bool(cluster_ips) and cluster_ips[0] == "None"

    if not ports and not headless and stype != "ExternalName":
        errs.append(required("spec.ports"))
    if stype == "LoadBalancer" and headless:
        errs.append(invalid("spec.clusterIPs[0]", "None", "may not be set to 'None' for LoadBalancer services"))
    elif stype == "NodePort" and headless:
        errs.append(invalid("spec.clusterIPs[0]", "None", "may not be set to 'None' for NodePort services"))
    elif stype == "ExternalName":
        if cluster_ips:
            errs.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        if spec.get("ipFamilies"):
            errs.append(forbidden("spec.ipFamilies", "may not be set for ExternalName services"))
        if spec.get("ipFamilyPolicy") is not None:
            errs.append(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
        # The CNAME may carry a trailing dot to mark it fully qualified.
        cname = (spec.get("externalName") or "").removesuffix(".")
        if cname:
            errs.extend(invalid("spec.externalName", cname, msg)
                        for msg in names.is_dns1123_subdomain(cname))
        else:
            errs.append(required("spec.externalName"))

    seen_names: set[str] = set()
    for i, p in enumerate(ports):
        path = f"spec.ports[{i}]"
        pname = p.get("name") or ""
        if len(ports) > 1 and not pname:
            errs.append(required(f"{path}.name"))
        elif pname:
            errs.extend(invalid(f"{path}.name", pname, msg) for msg in names.is_dns1123_label(pname))
            if pname in seen_names:
                errs.append(duplicate(f"{path}.name", pname))
            seen_names.add(pname)
        port = p.get("port") or 0
        errs.extend(invalid(f"{path}.port", port, msg) for msg in names.is_valid_port_num(port))
        errs.extend(_protocol(p.get("protocol"), f"{path}.protocol", cluster))
        errs.extend(_port_num_or_name(p.get("targetPort"), f"{path}.targetPort"))
        if p.get("appProtocol") is not None:
            errs.extend(invalid(f"{path}.appProtocol", p["appProtocol"], msg)
                        for msg in names.is_qualified_name(p["appProtocol"]))

    if spec.get("selector") is not None:
        errs.extend(validate_labels(spec["selector"], "spec.selector"))

    affinity = spec.get("sessionAffinity")
    if affinity not in AFFINITIES:
        errs.append(not_supported("spec.sessionAffinity", affinity, AFFINITIES))
    elif affinity == "ClientIP":
        timeout = spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"]
        if timeout <= 0 or timeout > MAX_AFFINITY_TIMEOUT_S:
            errs.append(invalid(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout,
                f"must be greater than 0 and less than {MAX_AFFINITY_TIMEOUT_S}"))

    errs.extend(validate_cluster_ips_related(spec))

    for i, ip in enumerate(spec.get("externalIPs") or []):
        path = f"spec.externalIPs[{i}]"
        bad = is_valid_ip(path, ip)
        errs.extend(bad or validate_non_special_ip(ip, path))

    if stype not in SERVICE_TYPES:
        errs.append(not_supported("spec.type", stype, SERVICE_TYPES))

    if stype == "ClusterIP":
        for i, p in enumerate(ports):
            if p.get("nodePort"):
                errs.append(forbidden(f"spec.ports[{i}].nodePort", "may not be used when `type` is 'ClusterIP'"))

    node_ports: set[tuple[str, int]] = set()
    for i, p in enumerate(ports):
        if not p.get("nodePort"):
            continue
        k = (p.get("protocol"), p["nodePort"])
        if k in node_ports:
            errs.append(duplicate(f"spec.ports[{i}].nodePort", p["nodePort"]))
        node_ports.add(k)
    port_keys: set[tuple[str, int]] = set()
    for i, p in enumerate(ports):
        k = (p.get("protocol"), p.get("port") or 0)
        if k in port_keys:
            errs.append(duplicate(f"spec.ports[{i}]", GoValue.service_port_key(k[0], port=k[1])))
        port_keys.add(k)

    ranges = spec.get("loadBalancerSourceRanges") or []
    if ranges:
        # Upstream's path really is capitalised here (specPath.Child("LoadBalancerSourceRanges")).
        if stype != "LoadBalancer":
            errs.append(forbidden("spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'"))
        for i, r in enumerate(ranges):
            errs.extend(is_valid_cidr(f"spec.LoadBalancerSourceRanges[{i}]", r.strip()))
    if spec.get("allocateLoadBalancerNodePorts") is not None and stype != "LoadBalancer":
        errs.append(forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'"))

    etp = spec.get("externalTrafficPolicy") or ""
    if not externally_accessible(spec):
        if etp:
            errs.append(invalid("spec.externalTrafficPolicy", etp, "may only be set for externally-accessible services"))
    elif etp not in TRAFFIC_POLICIES:
        errs.append(not_supported("spec.externalTrafficPolicy", etp, TRAFFIC_POLICIES))
    hc = spec.get("healthCheckNodePort") or 0
    if hc and not (stype == "LoadBalancer" and etp == "Local"):
        errs.append(invalid("spec.healthCheckNodePort", hc,
                            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
    elif hc:
        errs.extend(invalid("spec.healthCheckNodePort", hc, msg) for msg in names.is_valid_port_num(hc))
    itp = spec.get("internalTrafficPolicy")
    if itp is not None and itp not in TRAFFIC_POLICIES:
        errs.append(not_supported("spec.internalTrafficPolicy", itp, TRAFFIC_POLICIES))

    status = m.get("status") or {}
    for i, ing in enumerate(((status.get("loadBalancer") or {}).get("ingress") or [])):
        path = f"status.loadBalancer.ingress[{i}]"
        if ing.get("ip"):
            errs.extend(is_valid_ip(f"{path}.ip", ing["ip"]))
        if ing.get("hostname"):
            errs.extend(invalid(f"{path}.hostname", ing["hostname"], msg)
                        for msg in names.is_dns1123_subdomain(ing["hostname"]))
            if _ip(ing["hostname"]) is not None:
                errs.append(invalid(f"{path}.hostname", ing["hostname"], "must be a DNS name, not an IP address"))
        if ing.get("ipMode") and ing["ipMode"] not in ("Proxy", "VIP"):
            errs.append(not_supported(f"{path}.ipMode", ing["ipMode"], ("Proxy", "VIP")))
    return errs


def validate_cluster_ips_related(spec: dict) -> list[FieldError]:
    """``ValidateServiceClusterIPsRelatedFields``."""
    if spec.get("type") == "ExternalName":
        return []
    errs: list[FieldError] = []
    ips = spec.get("clusterIPs") or []
    cip = spec.get("clusterIP") or ""
    if cip:
        if not ips:
            errs.append(required("spec.clusterIPs"))
        elif ips[0] != cip:
            errs.append(invalid("spec.clusterIPs", GoValue.strings(ips), "first value must match `clusterIP`"))
    elif ips:
        errs.append(invalid("spec.clusterIPs", GoValue.strings(ips), "must be empty when `clusterIP` is not specified"))

    families = spec.get("ipFamilies") or []
    seen: set[str] = set()
    for i, fam in enumerate(families):
        if fam not in IP_FAMILIES:
            errs.append(not_supported(f"spec.ipFamilies[{i}]", fam, IP_FAMILIES))
        if fam in seen:
            errs.append(duplicate(f"spec.ipFamilies[{i}]", fam))
        seen.add(fam)
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in IP_FAMILY_POLICIES:
        errs.append(not_supported("spec.ipFamilyPolicy", policy, IP_FAMILY_POLICIES))

    bad_ips = False
    for i, ip in enumerate(ips):
        if i == 0 and ip == "None":
            if len(ips) > 1:
                bad_ips = True
                errs.append(invalid("spec.clusterIPs", GoValue.strings(ips), "'None' must be the first and only value"))
            continue
        e = is_valid_ip(f"spec.clusterIPs[{i}]", ip)
        bad_ips = bad_ips or bool(e)
        errs.extend(e)
    if len(ips) > 2:
        errs.append(invalid("spec.clusterIPs", GoValue.strings(ips), "may only hold up to 2 values"))
    if bad_ips:
        return errs
    if len(ips) > 1:
        versions = {_ip(ip).version for ip in ips}  # type: ignore[union-attr]
        if len(versions) != len(ips):
            errs.append(invalid("spec.clusterIPs", GoValue.strings(ips), "may specify no more than one IP for each IP family"))
    if ips and ips[0] != "None":
        for i, ip in enumerate(ips[: len(families)]):
            v = _ip(ip).version  # type: ignore[union-attr]
            if families[i] == "IPv4" and v == 6:
                errs.append(invalid(f"spec.clusterIPs[{i}]", ip, f"expected an IPv4 value as indicated by `ipFamilies[{i}]`"))
            if families[i] == "IPv6" and v == 4:
                errs.append(invalid(f"spec.clusterIPs[{i}]", ip, f"expected an IPv6 value as indicated by `ipFamilies[{i}]`"))
    return errs


def _endpoint_address(addr: dict, path: str, cluster: ClusterConfig) -> list[FieldError]:
    ip = addr.get("ip") or ""
    errs = is_valid_ip(f"{path}.ip", ip)
    if addr.get("hostname"):
        errs.extend(invalid(f"{path}.hostname", addr["hostname"], m) for m in names.is_dns1123_label(addr["hostname"]))
    if addr.get("nodeName") is not None:
        errs.extend(invalid(f"{path}.nodeName", addr["nodeName"], m) for m in names.is_dns1123_subdomain(addr["nodeName"]))
    if errs:
        return errs
    errs.extend(validate_non_special_ip(ip, f"{path}.ip"))
    errs.extend(_not_service_ip(ip, f"{path}.ip", cluster))
    return errs


def _not_service_ip(ip: str, path: str, cluster: ClusterConfig) -> list[FieldError]:
    # Endpoint addresses may not be cluster IPs: kube-proxy does not support a virtual IP as a
    # destination (documented on the Service concept page; enforced here at admission so the
    # scenario author hears about it rather than seeing silent drops).
    a = _ip(ip)
    for cidr in cluster.service_cidrs:
        net = ipaddress.ip_network(cidr, strict=False)
        if a is not None and a.version == net.version and a in net:
            return [invalid(path, ip, f"may not be in the service IP range ({cidr})")]
    return []


def _endpoint_port(p: dict, require_name: bool, path: str, cluster: ClusterConfig) -> list[FieldError]:
    errs: list[FieldError] = []
    pname = p.get("name") or ""
    if require_name and not pname:
        errs.append(required(f"{path}.name"))
    elif pname:
        errs.extend(invalid(f"{path}.name", pname, m) for m in names.is_dns1123_label(pname))
    port = p.get("port") or 0
    errs.extend(invalid(f"{path}.port", port, m) for m in names.is_valid_port_num(port))
    errs.extend(_protocol(p.get("protocol"), f"{path}.protocol", cluster))
    return errs


def validate_endpoints(m: dict, cluster: ClusterConfig) -> list[FieldError]:
    """``ValidateEndpoints``: every subset needs addresses; no special or service addresses."""
    errs = validate_object_meta(m.get("metadata") or {}, True, names.is_dns1123_subdomain)
    for i, ss in enumerate(m.get("subsets") or []):
        path = f"subsets[{i}]"
        if not ss.get("addresses") and not ss.get("notReadyAddresses"):
            errs.append(required(path, "must specify `addresses` or `notReadyAddresses`"))
        for j, a in enumerate(ss.get("addresses") or []):
            errs.extend(_endpoint_address(a, f"{path}.addresses[{j}]", cluster))
        for j, a in enumerate(ss.get("notReadyAddresses") or []):
            errs.extend(_endpoint_address(a, f"{path}.notReadyAddresses[{j}]", cluster))
        ports = ss.get("ports") or []
        for j, p in enumerate(ports):
            errs.extend(_endpoint_port(p, len(ports) > 1, f"{path}.ports[{j}]", cluster))
    return errs


MAX_SLICE_ENDPOINTS = 1000


def validate_endpoint_slice(m: dict, cluster: ClusterConfig) -> list[FieldError]:
    """discovery ``ValidateEndpointSlice``."""
    errs = validate_object_meta(m.get("metadata") or {}, True, names.is_dns1123_subdomain)
    atype = m.get("addressType") or ""
    if not atype:
        errs.append(required("addressType"))
    elif atype not in ADDRESS_TYPES:
        errs.append(not_supported("addressType", atype, ADDRESS_TYPES))
    endpoints = m.get("endpoints") or []
    if len(endpoints) > MAX_SLICE_ENDPOINTS:
        # discovery validation: maxEndpoints, field.TooMany.
        errs.append(FieldError("endpoints", "Too many", f"must have at most {MAX_SLICE_ENDPOINTS} items",
                               len(endpoints), True))
    for i, ep in enumerate(endpoints):
        path = f"endpoints[{i}]"
        addrs = ep.get("addresses") or []
        if not addrs:
            errs.append(required(f"{path}.addresses", "must contain at least 1 address"))
        elif len(addrs) > 100:
            errs.append(FieldError(f"{path}.addresses", "Too many", "must have at most 100 items",
                                   len(addrs), True))
        for j, a in enumerate(addrs):
            apath = f"{path}.addresses[{j}]"
            ip = _ip(a)
            if atype == "IPv4" and (ip is None or ip.version != 4):
                errs.append(invalid(apath, a, "must be a valid IPv4 address"))
            elif atype == "IPv6" and (ip is None or ip.version != 6):
                errs.append(invalid(apath, a, "must be a valid IPv6 address"))
            elif atype == "FQDN":
                errs.extend(invalid(apath, a, m_) for m_ in names.is_dns1123_subdomain(a))
            else:
                errs.extend(validate_non_special_ip(a, apath))
        if ep.get("hostname"):
            errs.extend(invalid(f"{path}.hostname", ep["hostname"], m_) for m_ in names.is_dns1123_label(ep["hostname"]))
        if ep.get("nodeName"):
            errs.extend(invalid(f"{path}.nodeName", ep["nodeName"], m_) for m_ in names.is_dns1123_subdomain(ep["nodeName"]))
    seen: set[str] = set()
    for i, p in enumerate(m.get("ports") or []):
        path = f"ports[{i}]"
        pname = p.get("name") or ""
        if pname:
            errs.extend(invalid(f"{path}.name", pname, m_) for m_ in names.is_dns1123_label(pname))
        if pname in seen:
            errs.append(duplicate(f"{path}.name", pname))
        seen.add(pname)
        if p.get("port") is not None:
            errs.extend(invalid(f"{path}.port", p["port"], m_) for m_ in names.is_valid_port_num(p["port"]))
        errs.extend(_protocol(p.get("protocol"), f"{path}.protocol", cluster))
    return errs


def validate_namespace(m: dict) -> list[FieldError]:
    """``ValidateNamespace``: the name is a DNS-1123 label."""
    return validate_object_meta(m.get("metadata") or {}, False, names.is_dns1123_label)


def validate_node(m: dict) -> list[FieldError]:
    """``ValidateNode`` (podCIDRs) plus the address checks of ``ValidateNodeUpdate``."""
    errs = validate_object_meta(m.get("metadata") or {}, False, names.is_dns1123_subdomain)
    spec = m.get("spec") or {}
    cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
    for i, c in enumerate(cidrs):
        errs.extend(is_valid_cidr(f"spec.podCIDRs[{i}]", c))
    seen: set[tuple[str, str]] = set()
    for i, a in enumerate(((m.get("status") or {}).get("addresses") or [])):
        k = (a.get("type") or "", a.get("address") or "")
        if k in seen:
            errs.append(duplicate(f"status.addresses[{i}]", GoValue(
                f'core.NodeAddress{{Type:"{k[0]}", Address:"{k[1]}"}}')))
        seen.add(k)
        if k[0] in ("InternalIP", "ExternalIP"):
            errs.extend(is_valid_ip(f"status.addresses[{i}].address", k[1]))
    return errs


def validate_pod_spec(spec: dict, path: str, cluster: ClusterConfig) -> list[FieldError]:
    """The parts of ``ValidatePodSpec`` Service networking depends on: containers and their
    ports (``validateContainerPorts``), hostname/subdomain, dnsPolicy, dnsConfig."""
    errs: list[FieldError] = []
    containers = spec.get("containers") or []
    if not containers:
        errs.append(required(f"{path}.containers"))
    for i, c in enumerate(containers):
        cpath = f"{path}.containers[{i}]"
        if not c.get("name"):
            errs.append(required(f"{cpath}.name"))
        port_names: set[str] = set()
        for j, p in enumerate(c.get("ports") or []):
            ppath = f"{cpath}.ports[{j}]"
            if p.get("name"):
                errs.extend(invalid(f"{ppath}.name", p["name"], m) for m in names.is_valid_port_name(p["name"]))
                if p["name"] in port_names:
                    errs.append(duplicate(f"{ppath}.name", p["name"]))
                port_names.add(p["name"])
            cport = p.get("containerPort") or 0
            if cport == 0:
                errs.append(required(f"{ppath}.containerPort"))
            else:
                errs.extend(invalid(f"{ppath}.containerPort", cport, m) for m in names.is_valid_port_num(cport))
            errs.extend(_protocol(p.get("protocol"), f"{ppath}.protocol", cluster))
    for f in ("hostname", "subdomain"):
        if spec.get(f):
            errs.extend(invalid(f"{path}.{f}", spec[f], m) for m in names.is_dns1123_label(spec[f]))
    policies = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
    if spec.get("dnsPolicy") not in policies:
        errs.append(not_supported(f"{path}.dnsPolicy", spec.get("dnsPolicy"), policies))
    dns = spec.get("dnsConfig") or {}
    if spec.get("dnsPolicy") == "None" and not dns.get("nameservers"):
        errs.append(required(f"{path}.dnsConfig.nameservers", "must provide at least one DNS nameserver when `dnsPolicy` is None"))
    for i, ns in enumerate(dns.get("nameservers") or []):
        errs.extend(is_valid_ip(f"{path}.dnsConfig.nameservers[{i}]", ns))
    return errs


def validate_pod(m: dict, cluster: ClusterConfig) -> list[FieldError]:
    """``ValidatePodCreate`` (networking-relevant parts) plus status IPs."""
    errs = validate_object_meta(m.get("metadata") or {}, True, names.is_dns1123_subdomain)
    errs.extend(validate_pod_spec(m.get("spec") or {}, "spec", cluster))
    status = m.get("status") or {}
    if status.get("podIP"):
        errs.extend(is_valid_ip("status.podIP", status["podIP"]))
    for i, pip in enumerate(status.get("podIPs") or []):
        errs.extend(is_valid_ip(f"status.podIPs[{i}].ip", pip.get("ip")))
    return errs


def validate_workload(m: dict, cluster: ClusterConfig) -> list[FieldError]:
    """apps ``ValidateDeploymentSpec`` / ``ValidateReplicaSetSpec`` (replicas, selector,
    template)."""
    errs = validate_object_meta(m.get("metadata") or {}, True, names.is_dns1123_subdomain)
    spec = m.get("spec") or {}
    replicas = spec.get("replicas", 1)
    if replicas is not None and replicas < 0:
        errs.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    template = spec.get("template") or {}
    tlabels = (template.get("metadata") or {}).get("labels") or {}
    if not selector:
        errs.append(required("spec.selector"))
    elif any(tlabels.get(k) != v for k, v in selector.items()):
        errs.append(invalid("spec.template.metadata.labels", GoValue(
            "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(tlabels.items())) + "}"),
            "`selector` does not match template `labels`"))
    errs.extend(validate_labels(tlabels, "spec.template.metadata.labels"))
    errs.extend(validate_pod_spec(template.get("spec") or {}, "spec.template.spec", cluster))
    return errs
