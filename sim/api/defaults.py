"""Defaulting, as ``pkg/apis/core/v1/defaults.go`` and the Service REST strategy apply it.

Each function takes a manifest (already strictly decoded) and returns a defaulted copy; the
input is never modified.
"""

from __future__ import annotations

from typing import Any

from sim.model.objects import DEFAULT_AFFINITY_TIMEOUT_S


def copy_tree(value: Any) -> Any:
    """A deep copy of plain JSON-like data (faster than ``copy.deepcopy`` for manifests)."""
    if isinstance(value, dict):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_tree(v) for v in value]
    return value


def externally_accessible(spec: dict) -> bool:
    """``apiservice.ExternallyAccessible``: LoadBalancer, NodePort, or ClusterIP with
    externalIPs."""
    t = spec.get("type")
    return t in ("LoadBalancer", "NodePort") or (t == "ClusterIP" and bool(spec.get("externalIPs")))


def default_service(manifest: dict) -> dict:
    """``SetDefaults_Service`` plus the strategy's ``NormalizeClusterIPs``.

    >>> s = default_service({"spec": {"ports": [{"port": 80}]}})["spec"]
    >>> s["type"], s["sessionAffinity"], s["ports"][0], s["internalTrafficPolicy"]
    ('ClusterIP', 'None', {'port': 80, 'protocol': 'TCP', 'targetPort': 80}, 'Cluster')
    """
    m = dict(manifest)  # only spec and status are changed below; metadata is shared
    spec = copy_tree(m.get("spec") or {})
    m["spec"] = spec
    if m.get("status") is not None:
        m["status"] = copy_tree(m["status"])
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        cfg = spec.get("sessionAffinityConfig") or {}
        client = cfg.get("clientIP") or {}
        if client.get("timeoutSeconds") is None:
            client["timeoutSeconds"] = DEFAULT_AFFINITY_TIMEOUT_S
        cfg["clientIP"] = client
        spec["sessionAffinityConfig"] = cfg
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    for port in spec.get("ports") or []:
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        # targetPort of 0 / "" / absent means "same as port" (SetDefaults_Service).
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    # ExternalTrafficPolicy defaults to Cluster wherever it is meaningful; validation then
    # refuses it elsewhere ("may only be set for externally-accessible services").
    if not spec.get("externalTrafficPolicy") and externally_accessible(spec):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and spec["type"] != "ExternalName":
        spec["internalTrafficPolicy"] = "Cluster"
    if spec["type"] == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    # NormalizeClusterIPs: clusterIP and clusterIPs[0] are kept in sync.
    ips = spec.get("clusterIPs") or []
    if spec.get("clusterIP") and not ips:
        spec["clusterIPs"] = [spec["clusterIP"]]
    elif ips and not spec.get("clusterIP"):
        spec["clusterIP"] = ips[0]
    status = m.get("status") or {}
    for ing in ((status.get("loadBalancer") or {}).get("ingress") or []):
        # LoadBalancerIPMode (GA 1.32): an ingress IP without a mode is a VIP.
        if ing.get("ip") and not ing.get("ipMode"):
            ing["ipMode"] = "VIP"
    return m


def default_endpoints(manifest: dict) -> dict:
    """``SetDefaults_EndpointPort`` over every subset: protocol TCP."""
    m = copy_tree(manifest)
    for subset in m.get("subsets") or []:
        for port in subset.get("ports") or []:
            if not port.get("protocol"):
                port["protocol"] = "TCP"
    return m


def default_endpoint_slice(manifest: dict) -> dict:
    """discovery/v1 ``SetDefaults_EndpointPort``: protocol TCP, name ``""``."""
    m = copy_tree(manifest)
    for port in m.get("ports") or []:
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("name") is None:
            port["name"] = ""
    return m


def default_pod_spec(spec: dict) -> dict:
    """Container ports default to TCP; dnsPolicy to ClusterFirst; enableServiceLinks to true."""
    s = copy_tree(spec)
    for c in (s.get("containers") or []) + (s.get("initContainers") or []):
        for p in c.get("ports") or []:
            if not p.get("protocol"):
                p["protocol"] = "TCP"
    if not s.get("dnsPolicy"):
        s["dnsPolicy"] = "ClusterFirst"
    if s.get("enableServiceLinks") is None:
        s["enableServiceLinks"] = True
    return s
