"""``kube-netsim show SCENARIO``: the cluster after the apiserver and controllers, as
``kubectl get svc,endpointslices -A -o wide`` shows it, plus one row per endpoint."""

from __future__ import annotations

import argparse
import json
import sys

from sim.api.controllers import services_without_endpoints
from sim.model.cluster import ClusterState
from sim.model.objects import EndpointSlice, Service, ServiceType
from sim.commands.options import add_mode_argument, with_mode
from sim.scenario.spec import load_scenario

HELP = "print Services (allocated IPs, ports, NodePorts) and their EndpointSlices"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    parser.add_argument("--seed", type=int, default=None, help="override spec.seed")
    add_mode_argument(parser)
    parser.add_argument("--json", action="store_true",
                        help="print Services, EndpointSlices and endpoints as one JSON object")


def run(args: argparse.Namespace) -> int:
    scenario = with_mode(load_scenario(args.scenario), args.mode)
    api = scenario.api(args.seed)
    state = api.snapshot()
    for w in api.warnings + services_without_endpoints(state):
        print(f"warning: {w}", file=sys.stderr)
    if args.json:
        print(json.dumps(to_json(state), indent=2))
    else:
        print(render(state), end="")
    return 0


def to_json(state: ClusterState) -> dict:
    """The cluster as ``show --json`` prints it (field names as the Kubernetes API's)."""
    def svc(s: Service) -> dict:
        no_eps = bool(s.selector) and s.type != ServiceType.EXTERNAL_NAME and not any(
            sl.endpoints for sl in state.slices_for(s))
        return {"namespace": s.namespace, "name": s.name, "type": s.type.value,
                "clusterIP": s.cluster_ip or None,
                "externalIP": None if external_ip(s) == "<none>" else external_ip(s),
                "ports": [{"name": p.name, "protocol": p.protocol.value, "port": p.port,
                           "nodePort": p.node_port or None} for p in s.ports],
                "selector": dict(s.selector) if s.selector else None,
                "hasEndpoints": not no_eps if s.selector else None}

    def sl(x: EndpointSlice) -> dict:
        return {"namespace": x.namespace, "name": x.name, "service": x.service_name or None,
                "addressType": x.address_type,
                "ports": [p.port for p in x.ports] if x.ports else None,
                "endpoints": [{"addresses": list(ep.addresses), "ready": ep.ready,
                               "serving": ep.serving, "terminating": ep.terminating,
                               "nodeName": ep.node_name or None, "zone": ep.zone or None,
                               "hostname": ep.hostname or None,
                               "targetRef": (f"{ep.target_ref.kind}/{ep.target_ref.name}"
                                             if ep.target_ref else None)} for ep in x.endpoints]}
    return {"services": [svc(s) for s in state.services],
            "endpointSlices": [sl(x) for x in state.endpoint_slices]}


def render(state: ClusterState) -> str:
    """The three tables (services, endpoint slices, endpoints) as text."""
    svc_rows = [("NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "SELECTOR")]
    svc_rows += [(s.namespace, f"service/{s.name}", s.type.value, _cluster_ip(s), external_ip(s),
                  ports(s), _selector(s)) for s in state.services]
    eps_rows = [("NAMESPACE", "NAME", "SERVICE", "ADDRESSTYPE", "PORTS", "ENDPOINTS")]
    eps_rows += [(sl.namespace, f"endpointslice.discovery.k8s.io/{sl.name}", sl.service_name or "<none>",
                  sl.address_type, slice_ports(sl), slice_endpoints(sl)) for sl in state.endpoint_slices]
    # A Service whose selector matches no pod has no endpoints: one row says so, where
    # kubectl would show its empty placeholder slice.
    eps_rows += [(s.namespace, "<none>", s.name, "<none>", "<unset>", "<none> (selector matches no pod)")
                 for s in state.services
                 if s.selector and s.type != ServiceType.EXTERNAL_NAME
                 and not any(sl.endpoints for sl in state.slices_for(s))]
    ep_rows = [("NAMESPACE", "ENDPOINTSLICE", "ADDRESS", "READY", "SERVING", "TERMINATING",
                "NODE", "ZONE", "HOSTNAME", "TARGET")]
    for sl in state.endpoint_slices:
        for ep in sl.endpoints:
            ep_rows.append((
                sl.namespace, sl.name, ",".join(ep.addresses), _cond(ep.ready), _cond(ep.serving),
                _cond(ep.terminating), ep.node_name or "<none>", ep.zone or "<none>",
                ep.hostname or "<none>",
                f"{ep.target_ref.kind}/{ep.target_ref.name}" if ep.target_ref else "<none>"))
    return "\n".join(table(rows) for rows in (svc_rows, eps_rows, ep_rows))


def table(rows: list[tuple[str, ...]]) -> str:
    """Columns padded like kubectl's tabwriter (three spaces between columns)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n" for r in rows)


def _cluster_ip(s: Service) -> str:
    return s.cluster_ip or "<none>"


def external_ip(s: Service) -> str:
    """kubectl's ``getServiceExternalIP``."""
    if s.type == ServiceType.EXTERNAL_NAME:
        return s.external_name
    ips = list(s.external_ips)
    if s.type == ServiceType.LOAD_BALANCER:
        lb = [i.ip or i.hostname for i in s.load_balancer_ingress]
        if not lb and not ips:
            return "<pending>"
        return ",".join(lb + ips)
    return ",".join(ips) if ips else "<none>"


def ports(s: Service) -> str:
    """kubectl's ``makePortString``: ``80:30036/TCP,443/TCP``."""
    if not s.ports:
        return "<none>"
    return ",".join(f"{p.port}:{p.node_port}/{p.protocol.value}" if p.node_port
                    else f"{p.port}/{p.protocol.value}" for p in s.ports)


def _selector(s: Service) -> str:
    if not s.selector:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in s.selector.items())


def slice_ports(sl: EndpointSlice) -> str:
    """kubectl's ``formatDiscoveryPorts``."""
    if not sl.ports:
        return "<unset>"
    return ",".join(str(p.port) for p in sl.ports)


def slice_endpoints(sl: EndpointSlice, limit: int = 3) -> str:
    """kubectl's ``formatDiscoveryEndpoints``: the first three addresses, then a count."""
    addrs = [a for ep in sl.endpoints for a in ep.addresses]
    if not addrs:
        return "<unset>"
    text = ",".join(addrs[:limit])
    if len(addrs) > limit:
        text += f" + {len(addrs) - limit} more..."
    return text


def _cond(value: bool | None) -> str:
    return "<unset>" if value is None else str(value).lower()
