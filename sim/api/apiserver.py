"""``ApiServer``: a mutable store that behaves like the apiserver plus its controllers.

``apply`` does what ``kubectl apply --validate=strict`` against a real apiserver does to one
manifest: strict decoding, defaulting, validation (HTTP 422: nothing is stored on error),
ClusterIP/NodePort allocation and, for LoadBalancer Services, a simulated cloud provider that
fills ``status.loadBalancer.ingress``. Deployments and ReplicaSets create pods from their
template (deterministic names, node choice and pod IPs from the node's podCIDR).
``snapshot`` runs the EndpointSlice and EndpointSliceMirroring controllers and returns an
immutable :class:`~sim.model.ClusterState`.

Everything random (ClusterIPs, NodePorts, pod-name suffixes) draws from numpy Generators
spawned from ``seed`` by component name, so the same calls with the same seed give the same
snapshot.
"""

from __future__ import annotations

import contextlib
import gc
import bisect
import hashlib
import heapq
import ipaddress
import itertools
from dataclasses import replace
import numpy as np

from sim.api import schema
from sim.api.allocators import AllocationError, ClusterIPAllocator, NodePortAllocator
from sim.api.controllers import (
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    MIRROR_CONTROLLER_NAME,
    compute_slices,
    mirror_endpoints,
)
from sim.api.defaults import (
    default_endpoint_slice,
    default_endpoints,
    default_pod_spec,
    default_service,
)
from sim.api.fielderrors import duplicate, invalid, not_found, required
from sim.api.kinds import no_match_detail, skipped_summary
from sim.api.validation import (
    GoValue,
    validate_endpoint_slice,
    validate_endpoints,
    validate_namespace,
    validate_node,
    validate_pod,
    validate_service,
    validate_workload,
)
from sim.model.cluster import ClusterState
from sim.model.config import ClusterConfig, KubeProxyConfig
from sim.model.errors import FieldError, SimError, ValidationError, quote
from sim.model.frozen import EMPTY, FrozenDict
from sim.model.ip import parse_cidr
from sim.model.objects import (
    ContainerPort,
    DNSConfig,
    Endpoint,
    EndpointAddress,
    EndpointPort,
    EndpointSlice,
    Endpoints,
    EndpointSubset,
    LoadBalancerIngress,
    Namespace,
    Node,
    NodeAddress,
    ObjectRef,
    Pod,
    PodTemplate,
    Protocol,
    Service,
    ServicePort,
    ServiceType,
    SessionAffinity,
    TrafficPolicy,
    Workload,
)

Source = tuple[str, "int | None"]
Key = tuple[str, str]

BUILTIN_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
_POD_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while building many small acyclic objects (manifest
    trees, model objects, snapshots): its generational passes otherwise dominate the time to
    load and snapshot a 10,000-Service cluster. The previous state is restored on exit."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def component_rng(seed: int, name: str) -> np.random.Generator:
    """A Generator for one named component, independent of every other component's stream."""
    tag = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy=seed, spawn_key=(tag,))))


class ApiServer:
    """The apiserver's object store with defaulting, validation, allocation and controllers.

    Parameters
    ----------
    cluster
        apiserver settings (service CIDRs, NodePort range, feature gates, LB pool).
    kube_proxy
        Carried into every snapshot unchanged.
    seed
        Seeds the allocators and pod-name generator.
    """

    def __init__(self, cluster: ClusterConfig, kube_proxy: KubeProxyConfig, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            # numpy's SeedSequence takes non-negative integers only (spec.seed's schema agrees).
            raise SimError(f"seed: Invalid value: {quote(seed)}: must be an integer greater than or equal to 0")
        self.cluster = cluster
        self.kube_proxy = kube_proxy
        self.seed = seed
        self.version = 0
        self._warnings: list[str] = []
        self._skipped: dict[str, int] = {}  # "Kind (apiVersion)" -> objects skipped
        self._ip_allocs: dict[str, ClusterIPAllocator] = {}
        for cidr in cluster.service_cidrs:
            alloc = ClusterIPAllocator(parse_cidr(cidr), component_rng(seed, f"api.clusterip.{cidr}"))
            self._ip_allocs.setdefault(alloc.family, alloc)
        self._default_family = next(iter(self._ip_allocs))
        low, high = cluster.node_port_range
        self._node_ports = NodePortAllocator(low, high, component_rng(seed, "api.nodeport"))
        self._pod_rng = component_rng(seed, "api.podnames")
        self._lb_used: set[str] = set()
        self._creation = itertools.count(1)
        self._namespaces: dict[str, Namespace] = {n: Namespace(n) for n in BUILTIN_NAMESPACES}
        self._nodes: dict[str, Node] = {}
        self._unschedulable: set[str] = set()
        self._pods: dict[Key, Pod] = {}
        self._services: dict[Key, Service] = {}
        self._endpoints: dict[Key, Endpoints] = {}
        self._slices: dict[Key, EndpointSlice] = {}
        self._workloads: dict[tuple[str, str, str], Workload] = {}
        self._current_rs: dict[tuple[str, str, str], str] = {}  # workload -> "ReplicaSet/<name>"
        self._pod_ips: dict[str, set[str]] = {}  # node name -> pod IPs taken on that node
        self._ip_owner: dict[str, Key] = {}  # pod IP -> the pod (not hostNetwork, not finished)
        self._ns_pods: dict[str, set[Key]] = {}
        self._node_pods: dict[str, set[Key]] = {}
        self._owned: dict[str, set[Key]] = {}  # "ReplicaSet/<name>" -> pods
        self._ipam_cursor: dict[tuple[str, str], int] = {}
        self._sched_heap: list[tuple[int, str]] = []
        self._sched_candidates: set[str] = set()
        self._sched_version = -1
        self._label_index: dict[tuple[str, str, str], set[Key]] = {}
        # Snapshot caches: each Service's computed slices until a change marks it dirty, and
        # the effective pods (node readiness applied) until any pod or node changes.
        self._slice_cache: dict[Key, tuple[Service, tuple[EndpointSlice, ...]]] = {}
        self._dirty: set[Key] = set()
        self._service_index: dict[tuple, set[Key]] = {}
        self._pod_keys: list[Key] = []  # sorted; _pod_view holds the effective pods alongside
        self._pod_view: list[Pod] = []
        self._view_nodes_version = -1
        self._nodes_version = 0
        self._snapshot: ClusterState | None = None

    @property
    def warnings(self) -> list[str]:
        """Every warning so far; objects of kinds not modelled are summed up in one line."""
        if not self._skipped:
            return self._warnings
        return self._warnings + [skipped_summary(self._skipped)]

    # ------------------------------------------------------------------ apply

    def apply(self, manifest: dict, source: Source = ("", None)) -> None:
        """Create or update one object from a manifest (``kind: List`` applies its items).

        Raises
        ------
        ValidationError
            With every field error of the object; nothing is stored.
        """
        file, line = source
        if not isinstance(manifest, dict):
            raise ValidationError([FieldError("", "Invalid value", "a manifest must be a mapping",
                                              type(manifest).__name__, True, file, line)])
        api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
        missing = [required(f) for f, v in (("apiVersion", api_version), ("kind", kind)) if not v]
        if missing:
            raise ValidationError([replace(e, file=file, line=line) for e in missing])
        spec = schema.KINDS.get((str(api_version), str(kind)))
        name = (manifest.get("metadata") or {}).get("name", "") if isinstance(manifest.get("metadata"), dict) else ""
        ref = f"{kind} {name}" if kind in ("Namespace", "Node", "List") else \
            f"{kind} {(manifest.get('metadata') or {}).get('namespace') or 'default'}/{name}"
        if spec is None:
            detail = no_match_detail(str(api_version), str(kind), set(schema.KINDS))
            if detail is not None:
                # kubectl: resource mapping not found ... no matches for kind "K" in version "V".
                self._fail([FieldError("kind", "Invalid value", detail, str(kind), True)], file, line, ref)
            label = f"{kind} ({api_version})"
            self._skipped[label] = self._skipped.get(label, 0) + 1
            return
        errs = schema.check(manifest, spec)
        if errs:
            self._fail(errs, file, line, ref)
        if kind == "List":
            for item in manifest.get("items") or []:
                self.apply(item, source)
            return
        m = dict(manifest)
        meta = dict(m.get("metadata") or {})
        if kind not in ("Namespace", "Node"):
            meta["namespace"] = meta.get("namespace") or "default"
        m["metadata"] = meta
        handler = getattr(self, f"_apply_{kind.lower()}")
        errs = handler(m)
        if errs:
            self._fail(errs, file, line, ref)
        self._changed()

    @staticmethod
    def _fail(errs: list[FieldError], file: str, line: int | None, ref: str) -> None:
        raise ValidationError([replace(e, file=file, line=line, object_ref=ref) for e in errs])

    def _changed(self) -> None:
        self.version += 1
        self._snapshot = None

    def _check_namespace(self, meta: dict) -> list[FieldError]:
        ns = meta["namespace"]
        if ns in self._namespaces:
            return []
        # The apiserver answers NotFound: namespaces "<ns>" not found.
        return [not_found("metadata.namespace", ns)]

    # -- Namespace / Node

    def _apply_namespace(self, m: dict) -> list[FieldError]:
        errs = validate_namespace(m)
        if errs:
            return errs
        meta = m["metadata"]
        self._namespaces[meta["name"]] = Namespace(meta["name"], FrozenDict(meta.get("labels") or {}))
        return []

    def _apply_node(self, m: dict) -> list[FieldError]:
        errs = validate_node(m)
        if errs:
            return errs
        meta, spec, status = m["metadata"], m.get("spec") or {}, m.get("status") or {}
        cidrs = tuple(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))
        ready = True
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Ready":
                ready = cond.get("status") == "True"
        errs = self._impossible_node(meta["name"], cidrs, spec, status)
        if errs:
            return errs
        node = Node(
            name=meta["name"],
            addresses=tuple(NodeAddress(a.get("type") or "", a.get("address") or "")
                            for a in status.get("addresses") or []),
            pod_cidr=cidrs[0] if cidrs else "",
            pod_cidrs=cidrs,
            labels=FrozenDict(meta.get("labels") or {}),
            ready=ready,
        )
        self._nodes[node.name] = node
        if spec.get("unschedulable"):
            self._unschedulable.add(node.name)
        else:
            self._unschedulable.discard(node.name)
        self._nodes_version += 1
        return []

    def _impossible_node(self, name: str, cidrs: tuple[str, ...], spec: dict,
                         status: dict) -> list[FieldError]:
        """A node that cannot exist beside the others: its podCIDR overlaps another node's
        (node IPAM hands each node its own range) or the service CIDR, or one of its
        addresses is inside the service CIDR (packets to it would be taken for a Service)."""
        errs: list[FieldError] = []
        path = "spec.podCIDRs" if spec.get("podCIDRs") else "spec.podCIDR"
        services = [(c, ipaddress.ip_network(c, strict=False)) for c in self.cluster.service_cidrs]
        for i, cidr in enumerate(cidrs):
            p = f"{path}[{i}]" if path == "spec.podCIDRs" else path
            try:
                net = ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                continue  # validate_node reported it
            for other in sorted(self._nodes.values(), key=lambda n: n.name):
                if other.name == name:
                    continue
                for oc in other.pod_cidrs or ((other.pod_cidr,) if other.pod_cidr else ()):
                    onet = ipaddress.ip_network(oc, strict=False)
                    if onet.version == net.version and net.overlaps(onet):
                        errs.append(invalid(p, cidr, f'overlaps podCIDR "{oc}" of node "{other.name}": '
                                            "node IPAM gives every node a range of its own"))
            for sc, snet in services:
                if snet.version == net.version and net.overlaps(snet):
                    errs.append(invalid(p, cidr, f'overlaps the service CIDR "{sc}" '
                                        "(spec.cluster.serviceCIDR): pod and Service addresses would collide"))
        for i, a in enumerate(status.get("addresses") or []):
            try:
                addr = ipaddress.ip_address(a.get("address") or "")
            except ValueError:
                continue  # a hostname, or validate_node reported it
            for sc, snet in services:
                if addr in snet:
                    errs.append(invalid(f"status.addresses[{i}].address", str(addr),
                                        f'is inside the service CIDR "{sc}" (spec.cluster.serviceCIDR): '
                                        "packets to the node would be taken for a Service"))
        return errs

    def _impossible_pod_ips(self, key: Key, ips: tuple[str, ...], status: dict, node_name: str,
                            host_network: bool, phase: str) -> list[FieldError]:
        """Pod IPs that cannot be: another live pod's IP, or outside its node's podCIDRs."""
        if host_network or phase in ("Succeeded", "Failed"):
            return []
        errs: list[FieldError] = []
        listed = bool(status.get("podIPs"))
        node = self._nodes.get(node_name)
        nets = [ipaddress.ip_network(c, strict=False)
                for c in (node.pod_cidrs or ((node.pod_cidr,) if node.pod_cidr else ()))] if node else []
        for i, ip in enumerate(ips):
            path = f"status.podIPs[{i}].ip" if listed else "status.podIP"
            owner = self._ip_owner.get(ip)
            if owner is not None and owner != key:
                errs.append(replace(duplicate(path, ip),
                                    detail=f'already the IP of pod "{owner[0]}/{owner[1]}"'))
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                continue
            same_family = [n for n in nets if n.version == addr.version]
            if same_family and not any(addr in n for n in same_family):
                shown = ", ".join(f'"{n}"' for n in same_family)
                errs.append(invalid(path, ip, f'is outside podCIDR {shown} of node "{node_name}" '
                                    "(only hostNetwork pods use other addresses)"))
        return errs

    # -- Service

    def _apply_service(self, manifest: dict) -> list[FieldError]:
        m = default_service(manifest)
        errs = validate_service(m, self.cluster)
        errs.extend(self._check_namespace(m["metadata"]))
        if errs:
            return errs
        meta, spec = m["metadata"], m["spec"]
        key = (meta["namespace"], meta["name"])
        old = self._services.get(key)
        txn = _Txn()
        try:
            errs = self._allocate_service(spec, old, txn)
        except _Refused as exc:
            txn.revert()
            return exc.errors
        if errs:
            txn.revert()
            return errs
        txn.commit()
        svc = self._build_service(m, old)
        if old is not None:
            self._unindex_service(old)
        self._services[key] = svc
        self._index_service(svc)
        return []

    def _selector_slot(self, svc: Service) -> tuple[str, str, str] | tuple[str]:
        # Services are indexed by one (key, value) of their selector: a pod can only match a
        # Service if it carries that label. Empty selectors match every pod of the namespace.
        if not svc.selector:
            return (svc.namespace,)
        k, v = next(iter(svc.selector.items()))
        return (svc.namespace, k, v)

    def _index_service(self, svc: Service) -> None:
        if svc.selector is not None:
            self._service_index.setdefault(self._selector_slot(svc), set()).add((svc.namespace, svc.name))
        self._dirty.add((svc.namespace, svc.name))

    def _unindex_service(self, svc: Service) -> None:
        if svc.selector is not None:
            self._service_index.get(self._selector_slot(svc), set()).discard((svc.namespace, svc.name))
        self._dirty.add((svc.namespace, svc.name))

    def _touch_pod(self, pod: Pod) -> None:
        """Mark the Services whose selector matches ``pod`` for recomputation."""
        slots = [(pod.namespace,)] + [(pod.namespace, k, v) for k, v in pod.labels.items()]
        for slot in slots:
            for key in self._service_index.get(slot, ()):
                svc = self._services.get(key)
                if svc is not None and svc.selector is not None and svc.selector.matches(pod.labels):
                    self._dirty.add(key)

    def _init_ip_families(self, spec: dict, old: Service | None) -> list[FieldError]:
        """``initIPFamilyFields``: default ipFamilyPolicy and ipFamilies from the cluster."""
        if spec["type"] == "ExternalName":
            return []
        errs: list[FieldError] = []
        ips = spec.get("clusterIPs") or []
        headless_selectorless = bool(ips) and ips[0] == "None" and not spec.get("selector")
        if spec.get("ipFamilyPolicy") is None:
            if old is not None and old.type != ServiceType.EXTERNAL_NAME:
                spec["ipFamilyPolicy"] = old.ip_family_policy
            elif headless_selectorless:
                spec["ipFamilyPolicy"] = "RequireDualStack"
            else:
                spec["ipFamilyPolicy"] = "SingleStack"
        policy = spec["ipFamilyPolicy"]
        families = list(spec.get("ipFamilies") or [])
        if policy == "SingleStack":
            if len(ips) == 2:
                errs.append(invalid("spec.ipFamilyPolicy", policy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"))
            if len(families) == 2:
                errs.append(invalid("spec.ipFamilyPolicy", policy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"))
        for i, ip in enumerate(ips):
            if ip == "None":
                break
            fam = "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
            if i >= len(families):
                if fam not in self._ip_allocs:
                    errs.append(invalid(f"spec.clusterIPs[{i}]", GoValue.strings(ips), f"{fam} is not configured on this cluster"))
                else:
                    families.append(fam)
        if errs:
            return errs
        if headless_selectorless:
            if not families:
                families = [self._default_family]
            if len(families) < 2 and policy != "SingleStack":
                families.append("IPv6" if families[0] == "IPv4" else "IPv4")
            spec["ipFamilies"] = families
            return []
        if policy == "RequireDualStack" and len(self._ip_allocs) < 2:
            errs.append(invalid("spec.ipFamilyPolicy", policy, "this cluster is not configured for dual-stack services"))
        for i, fam in enumerate(families):
            if fam not in self._ip_allocs:
                errs.append(invalid(f"spec.ipFamilies[{i}]", fam, "not configured on this cluster"))
        if errs:
            return errs
        if not families:
            families = [self._default_family]
        if policy != "SingleStack" and len(families) == 1 and len(self._ip_allocs) == 2:
            families.append("IPv6" if families[0] == "IPv4" else "IPv4")
        spec["ipFamilies"] = families
        return []

    def _allocate_service(self, spec: dict, old: Service | None, txn: "_Txn") -> list[FieldError]:
        """Allocate ClusterIPs and NodePorts (``allocateCreate`` / ``allocateUpdate``)."""
        errs = self._init_ip_families(spec, old)
        if errs:
            return errs
        stype = spec["type"]
        ips = list(spec.get("clusterIPs") or [])
        old_ips = [ip for ip in (old.cluster_ips if old else ()) if ip != "None"]
        if stype == "ExternalName":
            for ip in old_ips:
                txn.on_commit(self._ip_release(ip))
            spec["clusterIPs"] = []
        elif ips and ips[0] == "None":
            spec["clusterIPs"] = ["None"]
        elif old is not None and old_ips:
            # ValidateServiceUpdate: clusterIP is immutable (except to/from ExternalName).
            if ips and ips[0] != old_ips[0]:
                raise _Refused([invalid("spec.clusterIP", ips[0], "field is immutable")])
            kept = list(old_ips)
            for i, fam in enumerate(spec["ipFamilies"][len(kept):], start=len(kept)):
                kept.append(self._alloc_ip(fam, ips[i] if i < len(ips) else "", i, txn))
            spec["clusterIPs"] = kept
        else:
            spec["clusterIPs"] = [self._alloc_ip(fam, ips[i] if i < len(ips) else "", i, txn)
                                  for i, fam in enumerate(spec["ipFamilies"])]
        spec["clusterIP"] = spec["clusterIPs"][0] if spec["clusterIPs"] else ""
        self._allocate_node_ports(spec, old, txn)
        return []

    def _ip_release(self, ip: str):
        fam = "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
        alloc = self._ip_allocs.get(fam)
        return (lambda: alloc.release(ip)) if alloc else (lambda: None)

    def _alloc_ip(self, family: str, ip: str, i: int, txn: "_Txn") -> str:
        alloc = self._ip_allocs[family]
        path = "spec.clusterIP" if i == 0 else f"spec.clusterIPs[{i}]"
        try:
            if ip:
                alloc.allocate(ip)
                got = ip
            else:
                got = alloc.allocate_next()
        except AllocationError as exc:
            if not ip:
                # allocIPs: failure of AllocateNext is an internal error (HTTP 500).
                raise SimError(f"Internal error occurred: failed to allocate a serviceIP: {exc}") from None
            raise _Refused([invalid(path, ip, str(exc))]) from None
        txn.on_revert(lambda: alloc.release(got))
        return got

    def _allocate_node_ports(self, spec: dict, old: Service | None, txn: "_Txn") -> None:
        """``initNodePorts`` / ``updateNodePorts`` and the health-check NodePort."""
        stype = spec["type"]
        ports = spec.get("ports") or []
        old_numbers = {p.node_port for p in old.ports if p.node_port} if old else set()
        old_by_port = {(p.port, p.protocol.value): p.node_port for p in old.ports if p.node_port} if old else {}
        kept: set[int] = set()
        if stype in ("NodePort", "LoadBalancer"):
            allocate_new = stype == "NodePort" or spec.get("allocateLoadBalancerNodePorts", True)
            by_port: dict[int, int] = {}
            for i, p in enumerate(ports):
                np_ = p.get("nodePort") or old_by_port.get((p["port"], p["protocol"]), 0)
                if not np_ and not allocate_new:
                    continue
                if not np_ and p["port"] in by_port:
                    # A TCP and a UDP port with the same number share one NodePort.
                    np_ = by_port[p["port"]]
                elif not np_:
                    np_ = self._take_next_port(txn)
                elif np_ not in old_numbers and np_ not in kept:
                    self._take_port(np_, i, txn)
                p["nodePort"] = np_
                by_port.setdefault(p["port"], np_)
                kept.add(np_)
        else:
            for p in ports:
                p.pop("nodePort", None)
        needs_hc = stype == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"
        old_hc = old.health_check_node_port if old else 0
        if needs_hc:
            hc = spec.get("healthCheckNodePort") or old_hc
            if not hc:
                hc = self._take_next_port(txn)
            elif hc != old_hc:
                try:
                    self._node_ports.allocate(hc)
                except AllocationError as exc:
                    raise SimError(
                        f"Internal error occurred: failed to allocate requested HealthCheck NodePort {hc}: {exc}") from None
                txn.on_revert(lambda: self._node_ports.release(hc))
            spec["healthCheckNodePort"] = hc
            kept.add(hc)
        for n in (old_numbers | ({old_hc} if old_hc else set())) - kept:
            txn.on_commit(lambda n=n: self._node_ports.release(n))

    def _take_port(self, port: int, i: int, txn: "_Txn") -> None:
        try:
            self._node_ports.allocate(port)
        except AllocationError as exc:
            raise _Refused([invalid(f"spec.ports[{i}].nodePort", port, str(exc))]) from None
        txn.on_revert(lambda: self._node_ports.release(port))

    def _take_next_port(self, txn: "_Txn") -> int:
        try:
            port = self._node_ports.allocate_next()
        except AllocationError as exc:
            raise SimError(f"Internal error occurred: failed to allocate a nodePort: {exc}") from None
        txn.on_revert(lambda: self._node_ports.release(port))
        return port

    def _build_service(self, m: dict, old: Service | None) -> Service:
        meta, spec = m["metadata"], m["spec"]
        stype = ServiceType(spec["type"])
        ingress = tuple(
            LoadBalancerIngress(ip=i.get("ip") or "", hostname=i.get("hostname") or "", ip_mode=i.get("ipMode"))
            for i in (((m.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []))
        old_lb = [i.ip for i in old.load_balancer_ingress] if old else []
        if stype == ServiceType.LOAD_BALANCER and not ingress:
            if old is not None and old.type == ServiceType.LOAD_BALANCER and old.load_balancer_ingress:
                ingress = old.load_balancer_ingress
            else:
                address = self._lb_address(spec.get("loadBalancerIP") or "")
                if address:
                    ingress = (LoadBalancerIngress(ip=address, ip_mode="VIP"),)
                else:
                    # A real cloud controller that cannot provision leaves status.loadBalancer
                    # empty (EXTERNAL-IP <pending>) and kube-proxy writes no LB rules for it.
                    self._warnings.append(
                        f'Service {meta["namespace"]}/{meta["name"]}: the simulated load-balancer '
                        f"pool is exhausted ({', '.join(self.cluster.load_balancer_pool)}, "
                        "spec.cluster.loadBalancerPool): no ingress address, EXTERNAL-IP <pending>")
        for ip in old_lb:
            if ip not in {i.ip for i in ingress}:
                self._lb_used.discard(ip)
        if stype != ServiceType.LOAD_BALANCER:
            for ip in {i.ip for i in ingress}:
                self._lb_used.discard(ip)
            ingress = ()
        for i in ingress:
            if i.ip:
                self._lb_used.add(i.ip)
        affinity = SessionAffinity(spec["sessionAffinity"])
        timeout = spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] if affinity == SessionAffinity.CLIENT_IP else 0
        headless = spec["clusterIPs"][:1] == ["None"]
        return Service(
            namespace=meta["namespace"],
            name=meta["name"],
            type=stype,
            ports=tuple(
                ServicePort(port=p["port"], protocol=Protocol(p["protocol"]), name=p.get("name") or "",
                            target_port=p["targetPort"], node_port=p.get("nodePort") or 0,
                            app_protocol=p.get("appProtocol"))
                for p in spec.get("ports") or []),
            selector=FrozenDict(spec["selector"]) if spec.get("selector") is not None else None,
            cluster_ip="None" if headless else spec.get("clusterIP") or "",
            cluster_ips=tuple(spec.get("clusterIPs") or ()),
            ip_families=tuple(spec.get("ipFamilies") or ()),
            ip_family_policy=spec.get("ipFamilyPolicy") or "",
            session_affinity=affinity,
            affinity_timeout_s=timeout,
            external_ips=tuple(spec.get("externalIPs") or ()),
            load_balancer_ip=spec.get("loadBalancerIP") or "",
            load_balancer_source_ranges=tuple(r.strip() for r in spec.get("loadBalancerSourceRanges") or ()),
            load_balancer_ingress=ingress,
            external_traffic_policy=TrafficPolicy(spec.get("externalTrafficPolicy") or "Cluster"),
            internal_traffic_policy=TrafficPolicy(spec.get("internalTrafficPolicy") or "Cluster"),
            health_check_node_port=spec.get("healthCheckNodePort") or 0,
            external_name=spec.get("externalName") or "",
            publish_not_ready_addresses=bool(spec.get("publishNotReadyAddresses")),
            labels=FrozenDict(meta.get("labels") or {}),
            annotations=FrozenDict(meta.get("annotations") or {}),
            creation_index=old.creation_index if old else next(self._creation),
        )

    def _lb_address(self, requested: str) -> str:
        """The simulated cloud provider: honour ``loadBalancerIP`` when given (as providers
        that support it do), else hand out the next free address of the pool; ``""`` when the
        pool is exhausted (the Service stays pending)."""
        if requested:
            return requested
        for cidr in self.cluster.load_balancer_pool:
            net = parse_cidr(cidr)
            hosts = net.hosts() if net.num_addresses > 2 else iter(net)
            for addr in hosts:
                if str(addr) not in self._lb_used:
                    return str(addr)
        return ""

    # -- Endpoints / EndpointSlice

    def _apply_endpoints(self, manifest: dict) -> list[FieldError]:
        m = default_endpoints(manifest)
        errs = validate_endpoints(m, self.cluster) + self._check_namespace(m["metadata"])
        if errs:
            return errs
        meta = m["metadata"]

        def addr(a: dict) -> EndpointAddress:
            return EndpointAddress(ip=a["ip"], hostname=a.get("hostname") or "",
                                   node_name=a.get("nodeName") or "", target_ref=_ref(a.get("targetRef")))

        ep = Endpoints(
            namespace=meta["namespace"], name=meta["name"],
            subsets=tuple(EndpointSubset(
                addresses=tuple(addr(a) for a in s.get("addresses") or []),
                not_ready_addresses=tuple(addr(a) for a in s.get("notReadyAddresses") or []),
                ports=tuple(EndpointPort(port=p["port"], protocol=Protocol(p["protocol"]),
                                         name=p.get("name") or "", app_protocol=p.get("appProtocol"))
                            for p in s.get("ports") or []),
            ) for s in m.get("subsets") or []),
            labels=FrozenDict(meta.get("labels") or {}),
        )
        self._endpoints[(ep.namespace, ep.name)] = ep
        return []

    def _apply_endpointslice(self, manifest: dict) -> list[FieldError]:
        m = default_endpoint_slice(manifest)
        errs = validate_endpoint_slice(m, self.cluster) + self._check_namespace(m["metadata"])
        if errs:
            return errs
        meta = m["metadata"]
        labels = meta.get("labels") or {}

        def endpoint(e: dict) -> Endpoint:
            cond = e.get("conditions") or {}
            return Endpoint(
                addresses=tuple(e["addresses"]), ready=cond.get("ready"), serving=cond.get("serving"),
                terminating=cond.get("terminating"), hostname=e.get("hostname") or "",
                node_name=e.get("nodeName") or "", zone=e.get("zone") or "", target_ref=_ref(e.get("targetRef")))

        sl = EndpointSlice(
            namespace=meta["namespace"], name=meta["name"],
            service_name=labels.get(LABEL_SERVICE_NAME, ""),
            address_type=m["addressType"],
            endpoints=tuple(endpoint(e) for e in m.get("endpoints") or []),
            ports=tuple(EndpointPort(port=p.get("port") or 0, protocol=Protocol(p["protocol"]),
                                     name=p.get("name") or "", app_protocol=p.get("appProtocol"))
                        for p in m.get("ports") or []),
            labels=FrozenDict(labels),
            managed_by=labels.get(LABEL_MANAGED_BY, ""),
        )
        self._slices[(sl.namespace, sl.name)] = sl
        return []

    # -- Pods and workloads

    def _apply_pod(self, manifest: dict) -> list[FieldError]:
        m = dict(manifest)
        m["spec"] = default_pod_spec(m.get("spec") or {})
        errs = validate_pod(m, self.cluster) + self._check_namespace(m["metadata"])
        if errs:
            return errs
        meta, spec, status = m["metadata"], m["spec"], m.get("status") or {}
        key = (meta["namespace"], meta["name"])
        old = self._pods.get(key)
        ips = tuple(p["ip"] for p in status.get("podIPs") or [] if p.get("ip"))
        if status.get("podIP") and not ips:
            ips = (status["podIP"],)
        ready = None
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Ready":
                ready = cond.get("status") == "True"
        phase = status.get("phase") or "Running"
        if ready is None:
            ready = phase == "Running"
        node_name = spec.get("nodeName") or (old.node_name if old else "")
        errs = self._impossible_pod_ips(key, ips, status, node_name, bool(spec.get("hostNetwork")), phase)
        if errs:
            return errs
        template = _template_from_spec(meta.get("labels") or {}, spec)
        if old is not None:
            self._remove_pod(key)
        pod = self._place_pod(
            meta["namespace"], meta["name"], template,
            node_name=spec.get("nodeName") or (old.node_name if old else ""),
            ips=ips or ((old.pod_ips or (old.pod_ip,)) if old and old.pod_ip else ()),
            host_network=bool(spec.get("hostNetwork")),
            ready=ready, phase=phase,
            terminating=meta.get("deletionTimestamp") is not None,
            creation_index=old.creation_index if old else 0,
            owner="",
        )
        self._add_pod(pod)
        return []

    def _apply_deployment(self, manifest: dict) -> list[FieldError]:
        return self._apply_workload("Deployment", manifest)

    def _apply_replicaset(self, manifest: dict) -> list[FieldError]:
        return self._apply_workload("ReplicaSet", manifest)

    def _apply_workload(self, kind: str, manifest: dict) -> list[FieldError]:
        m = dict(manifest)
        spec = dict(m.get("spec") or {})
        template = dict(spec.get("template") or {})
        template["spec"] = default_pod_spec(template.get("spec") or {})
        spec["template"] = template
        m["spec"] = spec
        errs = validate_workload(m, self.cluster) + self._check_namespace(m["metadata"])
        if errs:
            return errs
        meta = m["metadata"]
        replicas = spec.get("replicas")
        w = Workload(
            kind=kind, namespace=meta["namespace"], name=meta["name"],
            replicas=1 if replicas is None else replicas,
            selector=FrozenDict(spec["selector"]["matchLabels"]),
            template=_template_from_spec((template.get("metadata") or {}).get("labels") or {}, template["spec"]),
            labels=FrozenDict(meta.get("labels") or {}),
        )
        self._workloads[(kind, w.namespace, w.name)] = w
        self._reconcile(w)
        return []

    def _replicaset_name(self, w: Workload) -> str:
        if w.kind == "ReplicaSet":
            return w.name
        # Deployment -> ReplicaSet "<name>-<pod-template-hash>" (a hash of the template).
        return f"{w.name}-{_template_hash(w.template)}"

    def _reconcile(self, w: Workload) -> None:
        """The ReplicaSet controller: make or remove pods until ``replicas`` match."""
        rs = self._replicaset_name(w)
        owner = f"ReplicaSet/{rs}"
        previous = self._current_rs.get((w.kind, w.namespace, w.name))
        self._current_rs[(w.kind, w.namespace, w.name)] = owner
        if previous is not None and previous != owner:
            # A rollout: pods of the Deployment's previous ReplicaSet are replaced.
            for key in sorted(self._owned.get(previous, ())):
                self._remove_pod(key)
        mine = [self._pods[k] for k in sorted(self._owned.get(owner, ()))]
        # getPodsToDelete ranks not-ready pods first, then the newest.
        mine.sort(key=lambda p: (p.ready, -p.creation_index))
        for pod in mine[: max(0, len(mine) - w.replicas)]:
            self._remove_pod((pod.namespace, pod.name))
        labels = dict(w.template.labels)
        if w.kind == "Deployment":
            labels["pod-template-hash"] = rs.rsplit("-", 1)[1]
        template = replace(w.template, labels=FrozenDict(labels))
        for _ in range(w.replicas - len(mine)):
            name = self._new_pod_name(w.namespace, rs)
            self._add_pod(self._place_pod(
                w.namespace, name, template, node_name=template.node_name, ips=(),
                host_network=False, ready=True, phase="Running", terminating=False,
                creation_index=0, owner=owner))

    def _new_pod_name(self, namespace: str, rs: str) -> str:
        while True:
            suffix = "".join(_POD_NAME_ALPHABET[i] for i in self._pod_rng.integers(len(_POD_NAME_ALPHABET), size=5))
            name = f"{rs}-{suffix}"
            if (namespace, name) not in self._pods:
                return name

    def _schedule(self) -> str:
        """A deterministic stand-in for the scheduler: the ready, schedulable node with the
        fewest pods (ties broken by name)."""
        if len(self._sched_heap) > 8 * len(self._nodes) + 4096:
            self._sched_version = -1  # too many stale entries: rebuild
        if self._sched_version != self._nodes_version:
            # Rebuild the (pod count, node name) heap when nodes change; pod changes push
            # fresh entries and stale ones are skipped here.
            self._sched_candidates = {n for n, node in self._nodes.items()
                                      if node.ready and n not in self._unschedulable}
            self._sched_heap = [(len(self._node_pods.get(n, ())), n) for n in self._sched_candidates]
            heapq.heapify(self._sched_heap)
            self._sched_version = self._nodes_version
        heap = self._sched_heap
        while heap:
            count, name = heap[0]
            if name in self._sched_candidates and count == len(self._node_pods.get(name, ())):
                return name
            heapq.heappop(heap)
        return ""

    def _place_pod(self, namespace: str, name: str, template: PodTemplate, *, node_name: str,
                   ips: tuple[str, ...], host_network: bool, ready: bool, phase: str,
                   terminating: bool, creation_index: int, owner: str) -> Pod:
        node_name = node_name or self._schedule()
        node = self._nodes.get(node_name)
        if not ips and node is not None:
            if host_network:
                ips = tuple(ip for ip in (node.internal_ip,) if ip)
            else:
                ips = self._allocate_pod_ips(node)
        if not node_name:
            phase, ready = "Pending", False
        return Pod(
            namespace=namespace, name=name, labels=template.labels, node_name=node_name,
            pod_ip=ips[0] if ips else "", pod_ips=ips, ready=ready and phase == "Running",
            phase=phase, terminating=terminating, container_ports=template.container_ports,
            hostname=template.hostname, subdomain=template.subdomain,
            dns_policy=template.dns_policy, dns_config=template.dns_config,
            enable_service_links=template.enable_service_links, host_network=host_network,
            creation_index=creation_index or next(self._creation), owner=owner,
        )

    def _allocate_pod_ips(self, node: Node) -> tuple[str, ...]:
        """host-local IPAM: the next free address of each podCIDR after the last one handed
        out (round-robin, as host-local's "last reserved IP"), skipping the gateway (.1)."""
        used = self._pod_ips.setdefault(node.name, set())
        out = []
        for cidr in node.pod_cidrs or ((node.pod_cidr,) if node.pod_cidr else ()):
            net = parse_cidr(cidr)
            first, last = 2, min(net.num_addresses - (1 if net.version == 4 else 0), 1 << 20)
            width = last - first
            start = self._ipam_cursor.get((node.name, cidr), first)
            for i in range(max(width, 0)):
                n = first + (start - first + i) % width
                ip = str(net.network_address + n)
                if ip not in used:
                    out.append(ip)
                    used.add(ip)
                    self._ipam_cursor[(node.name, cidr)] = n + 1
                    break
        return tuple(out)

    def _add_pod(self, pod: Pod) -> None:
        key = (pod.namespace, pod.name)
        self._pods[key] = pod
        if pod.node_name and not pod.host_network:
            self._pod_ips.setdefault(pod.node_name, set()).update(pod.pod_ips or ((pod.pod_ip,) if pod.pod_ip else ()))
        if not pod.host_network and pod.phase not in ("Succeeded", "Failed"):
            for ip in pod.pod_ips or ((pod.pod_ip,) if pod.pod_ip else ()):
                self._ip_owner[ip] = key
        self._ns_pods.setdefault(pod.namespace, set()).add(key)
        on_node = self._node_pods.setdefault(pod.node_name, set())
        on_node.add(key)
        heapq.heappush(self._sched_heap, (len(on_node), pod.node_name))
        if pod.owner:
            self._owned.setdefault(pod.owner, set()).add(key)
        for k, v in pod.labels.items():
            self._label_index.setdefault((pod.namespace, k, v), set()).add(key)
        self._touch_pod(pod)
        self._view_put(key, pod)

    def _remove_pod(self, key: Key) -> Pod | None:
        pod = self._pods.pop(key, None)
        if pod is None:
            return None
        if pod.node_name and not pod.host_network:
            self._pod_ips.get(pod.node_name, set()).difference_update(pod.pod_ips or (pod.pod_ip,))
        for ip in pod.pod_ips or (pod.pod_ip,):
            if self._ip_owner.get(ip) == key:
                del self._ip_owner[ip]
        self._ns_pods.get(pod.namespace, set()).discard(key)
        on_node = self._node_pods.get(pod.node_name, set())
        on_node.discard(key)
        heapq.heappush(self._sched_heap, (len(on_node), pod.node_name))
        self._owned.get(pod.owner, set()).discard(key)
        for k, v in pod.labels.items():
            self._label_index.get((pod.namespace, k, v), set()).discard(key)
        self._touch_pod(pod)
        i = bisect.bisect_left(self._pod_keys, key)
        if i < len(self._pod_keys) and self._pod_keys[i] == key:
            del self._pod_keys[i]
            del self._pod_view[i]
        return pod

    def _view_put(self, key: Key, pod: Pod) -> None:
        """Insert or replace ``pod`` in the sorted view of effective pods."""
        i = bisect.bisect_left(self._pod_keys, key)
        if i < len(self._pod_keys) and self._pod_keys[i] == key:
            self._pod_view[i] = self._effective(pod)
        else:
            self._pod_keys.insert(i, key)
            self._pod_view.insert(i, self._effective(pod))

    # ------------------------------------------------------------- mutations

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete one object (``kubectl delete``); deleting a Service releases its ClusterIPs,
        NodePorts and load-balancer address; deleting a workload deletes its pods."""
        key = (namespace, name)
        if kind == "Service":
            svc = self._services.pop(key, None)
            if svc is None:
                raise self._not_found(kind, namespace, name)
            self._unindex_service(svc)
            for ip in svc.cluster_ips:
                if ip != "None":
                    self._ip_release(ip)()
            for p in svc.ports:
                if p.node_port:
                    self._node_ports.release(p.node_port)
            if svc.health_check_node_port:
                self._node_ports.release(svc.health_check_node_port)
            for i in svc.load_balancer_ingress:
                self._lb_used.discard(i.ip)
        elif kind == "Pod":
            if self._remove_pod(key) is None:
                raise self._not_found(kind, namespace, name)
        elif kind in ("Deployment", "ReplicaSet"):
            w = self._workloads.pop((kind, namespace, name), None)
            if w is None:
                raise self._not_found(kind, namespace, name)
            owner = self._current_rs.pop((kind, namespace, name))
            for k in sorted(self._owned.get(owner, ())):
                self._remove_pod(k)
        elif kind == "Namespace":
            if self._namespaces.pop(namespace or name, None) is None:
                raise self._not_found(kind, "", name)
            ns = namespace or name
            for store in (self._services, self._endpoints, self._slices):
                for k in [k for k in store if k[0] == ns]:
                    if store is self._services:
                        self.delete("Service", *k)
                    else:
                        store.pop(k)
            for k in [k for k in self._workloads if k[1] == ns]:
                self.delete(k[0], k[1], k[2])
            for k in [k for k in self._pods if k[0] == ns]:
                self._remove_pod(k)
        elif kind == "Node":
            if self._nodes.pop(name, None) is None:
                raise self._not_found(kind, "", name)
            self._nodes_version += 1
        else:
            store = {"Endpoints": self._endpoints, "EndpointSlice": self._slices}.get(kind)
            if store is None or store.pop(key, None) is None:
                raise self._not_found(kind, namespace, name)
        self._changed()

    @staticmethod
    def _not_found(kind: str, namespace: str, name: str) -> SimError:
        plural = {"Endpoints": "endpoints"}.get(kind, kind.lower() + "s")
        where = f" in namespace {namespace}" if namespace else ""
        return SimError(f'{plural} "{name}" not found{where}')

    def scale(self, kind: str, namespace: str, name: str, replicas: int) -> None:
        """``kubectl scale``: pods are made from, or removed down to, the template."""
        w = self._workloads.get((kind, namespace, name))
        if w is None:
            raise self._not_found(kind, namespace, name)
        if replicas < 0:
            raise ValidationError([replace(invalid("spec.replicas", replicas, "must be greater than or equal to 0"),
                                           object_ref=f"{kind} {namespace}/{name}")])
        w = replace(w, replicas=replicas)
        self._workloads[(kind, namespace, name)] = w
        self._reconcile(w)
        self._changed()

    def _pod(self, namespace: str, name: str) -> Pod:
        pod = self._pods.get((namespace, name))
        if pod is None:
            raise self._not_found("Pod", namespace, name)
        return pod

    def set_pod_ready(self, namespace: str, name: str, ready: bool) -> None:
        """The kubelet reports the pod's Ready condition."""
        pod = self._pod(namespace, name)
        self._pods[(namespace, name)] = new = replace(pod, ready=bool(ready) and pod.phase == "Running")
        self._touch_pod(pod)
        self._view_put((namespace, name), new)
        self._changed()

    def set_pod_terminating(self, namespace: str, name: str) -> None:
        """The pod got a deletionTimestamp (graceful deletion started)."""
        pod = self._pod(namespace, name)
        self._pods[(namespace, name)] = new = replace(pod, terminating=True)
        self._touch_pod(pod)
        self._view_put((namespace, name), new)
        self._changed()

    def delete_pod(self, namespace: str, name: str) -> None:
        """The pod object is gone (grace period over). A workload does not replace it until
        ``scale`` or ``apply`` reconciles it again."""
        self.delete("Pod", namespace, name)

    def set_node_ready(self, name: str, ready: bool) -> None:
        """The node's Ready condition; pods on a not-ready node are reported not ready in
        snapshots (the node lifecycle controller's ``MarkPodsNotReady``)."""
        node = self._nodes.get(name)
        if node is None:
            raise self._not_found("Node", "", name)
        self._nodes[name] = replace(node, ready=bool(ready))
        self._nodes_version += 1
        self._changed()

    # --------------------------------------------------------------- queries

    def pods_for(self, namespace: str, selector: FrozenDict) -> list[Pod]:
        """Pods of ``namespace`` whose labels match ``selector`` (empty selects all)."""
        return [self._pods[k] for k in self._select(namespace, selector)]

    def _select(self, namespace: str, selector: FrozenDict) -> list[Key]:
        keys: set[Key] | None = None
        for k, v in selector.items():
            hit = self._label_index.get((namespace, k, v), set())
            keys = set(hit) if keys is None else keys & hit
            if not keys:
                return []
        if keys is None:
            keys = self._ns_pods.get(namespace, set())
        return sorted(keys)

    def _effective(self, pod: Pod) -> Pod:
        node = self._nodes.get(pod.node_name)
        if node is not None and not node.ready and pod.ready:
            return replace(pod, ready=False)
        return pod

    def snapshot(self) -> ClusterState:
        """An immutable state with controller-computed EndpointSlices (cached per version)."""
        if self._snapshot is not None:
            return self._snapshot
        with gc_paused():
            self._snapshot = self._build_snapshot()
        return self._snapshot

    def _build_snapshot(self) -> ClusterState:
        if self._view_nodes_version != self._nodes_version:
            # Node readiness and zones feed every endpoint: recompute everything.
            self._pod_view = [self._effective(self._pods[k]) for k in self._pod_keys]
            self._slice_cache.clear()
            self._view_nodes_version = self._nodes_version
        given_for: dict[Key, list[EndpointSlice]] = {}
        for sl in self._slices.values():
            given_for.setdefault((sl.namespace, sl.service_name), []).append(sl)
        slices: list[EndpointSlice] = list(self._slices.values())
        cache: dict[Key, tuple[Service, tuple[EndpointSlice, ...]]] = {}
        for key, svc in self._services.items():
            if svc.selector is not None:
                if key in given_for:
                    continue
                hit = self._slice_cache.get(key)
                if hit is not None and hit[0] is svc and key not in self._dirty:
                    computed = hit[1]
                else:
                    matched = [self._effective(self._pods[k]) for k in self._select(svc.namespace, svc.selector)]
                    computed = compute_slices(svc, matched, self._nodes)
                cache[key] = (svc, computed)
                slices.extend(computed)
            else:
                ep = self._endpoints.get(key)
                if ep is None or any(s.managed_by == MIRROR_CONTROLLER_NAME for s in given_for.get(key, ())):
                    continue
                slices.extend(mirror_endpoints(ep, svc))
        self._slice_cache = cache
        self._dirty.clear()
        by_key = lambda o: (o.namespace, o.name)  # noqa: E731
        return ClusterState(
            config=self.cluster,
            kube_proxy=self.kube_proxy,
            namespaces=tuple(sorted(self._namespaces.values(), key=lambda n: n.name)),
            nodes=tuple(sorted(self._nodes.values(), key=lambda n: n.name)),
            pods=tuple(self._pod_view),
            services=tuple(sorted(self._services.values(), key=by_key)),
            endpoints=tuple(sorted(self._endpoints.values(), key=by_key)),
            endpoint_slices=tuple(sorted(slices, key=by_key)),
            workloads=tuple(sorted(self._workloads.values(), key=lambda w: (w.namespace, w.name, w.kind))),
        )


class _Refused(Exception):
    """Allocation refused with field errors (422)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__()
        self.errors = errors


class _Txn:
    """Allocation transaction: undo on revert, deferred releases on commit (as upstream's
    ``metaTransaction`` keeps the old values until the new object is stored)."""

    def __init__(self) -> None:
        self._revert: list = []
        self._commit: list = []

    def on_revert(self, fn) -> None:
        self._revert.append(fn)

    def on_commit(self, fn) -> None:
        self._commit.append(fn)

    def revert(self) -> None:
        for fn in reversed(self._revert):
            fn()

    def commit(self) -> None:
        for fn in self._commit:
            fn()


def _ref(data: dict | None) -> ObjectRef | None:
    if not data:
        return None
    return ObjectRef(data.get("kind") or "", data.get("namespace") or "", data.get("name") or "")


def _template_from_spec(labels: dict, spec: dict) -> PodTemplate:
    dns = spec.get("dnsConfig")
    return PodTemplate(
        labels=FrozenDict(labels) if labels else EMPTY,
        container_ports=tuple(
            ContainerPort(container_port=p["containerPort"], protocol=Protocol(p["protocol"]), name=p.get("name") or "")
            for c in spec.get("containers") or [] for p in c.get("ports") or []),
        hostname=spec.get("hostname") or "",
        subdomain=spec.get("subdomain") or "",
        dns_policy=spec["dnsPolicy"],
        dns_config=DNSConfig(
            nameservers=tuple(dns.get("nameservers") or ()),
            searches=tuple(dns.get("searches") or ()),
            options=tuple((o.get("name") or "", o.get("value")) for o in dns.get("options") or ()),
        ) if dns else None,
        enable_service_links=spec["enableServiceLinks"],
        node_name=spec.get("nodeName") or "",
    )


def _template_hash(template: PodTemplate) -> str:
    # pod-template-hash: upstream hashes the template with fnv32a and renders it with
    # rand.SafeEncodeString; a stable digest rendered in the same alphabet serves the same
    # purpose (identical templates share a ReplicaSet, changed ones roll to a new one).
    digest = hashlib.sha256(repr(template).encode()).digest()
    return "".join(_POD_NAME_ALPHABET[b % len(_POD_NAME_ALPHABET)] for b in digest[:10])

