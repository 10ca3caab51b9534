"""The run sections of a scenario: ``spec.network``, ``spec.traffic``, ``spec.events``,
``spec.expect``.

The loader (``sim.scenario.spec``) keeps these sections as plain data; this module checks
them and turns them into the world's parameters, flows, timed events and expectations.
Every mistake is a :class:`~sim.model.errors.SimError` naming the file and the field path,
for example ``scenario.yaml: spec.traffic.flows[2].rate: Invalid value: -1: must be > 0``.

Field names are Kubernetes camelCase; times are seconds.

``spec.network`` (all optional)
    ``podLink`` / ``nodeLink`` / ``externalLink``: ``{latencySeconds, bandwidthBps}``;
    ``externalHosts``: ``[{name, ip, listen: [{port, protocol}]}]``; ``routes``:
    ``[{cidr, via: <node>}]`` (how outside traffic for externalIPs reaches a node);
    ``controlPlane``: ``{watchDelaySeconds, endpointSliceDelaySeconds}``;
    ``restoreBackend``: ``legacy`` or ``nft``; ``nodeCPUs``: CPUs per node (default 4), which
    kube-proxy's ``nf_conntrack_max`` scales with.
``spec.traffic``
    ``durationSeconds`` (required when there are flows) and ``flows``: each
    ``{name, from: {pod: ns/name | node: name | external: name}, to: {address: "ip:port"} |
    {service: ns/name, port, via: clusterIP|nodePort|externalIP|loadBalancer, node} |
    {dns: name, port, cache: none|ttl|forever, resolver: glibc|musl, family},
    protocol, rate, arrival: constant|poisson, start, stop, count, timeoutSeconds}``.
    ``via: nodePort`` with ``node: "*"`` makes one flow per node, named ``<name>@<node>``.
``spec.events``
    ``[{at, action, ...}]`` with ``action`` one of :data:`EVENT_FIELDS`.
``spec.expect``
    ``[{type, name?, ...}]`` with ``type`` one of :data:`EXPECT_FIELDS`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.kubeproxy.modes import BUILT_MODES, unsupported_mode_message
from sim.model.config import PROXY_MODES
from sim.netfilter.ipvs import SCHEDULERS as IPVS_SCHEDULERS
from sim.model.errors import FieldError, SimError, quote
from sim.scenario.spec import line_of, read_documents
from sim.world.params import (
    ControlPlaneParams,
    ExternalHost,
    LinkParams,
    NetworkParams,
    Route,
    UserspaceParams,
)
from sim.world.dns import DNS_TARGET_FIELDS, dns_target
from sim.world.events import EventSpec
from sim.world.workload import AddressTarget, FlowSpec, ServiceTarget, constant_arrivals

VIAS = ("clusterIP", "nodePort", "externalIP", "loadBalancer")
# The longest simulated time a run accepts (durationSeconds, event times): a week. Every node's
# kube-proxy resyncs each syncPeriod, so simulated time always costs work even without traffic.
MAX_SIMULATED_S = 7 * 86400.0
# The most connection attempts a run may plan: each is a record in memory and a results row
# (about 200 bytes each), and the benchmark scale is 100,000.
MAX_CONNECTIONS = 5_000_000
OUTCOMES = {"reachable": "ok", "rejected": "refused", "dropped": "timeout", "reset": "reset"}

EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "scale": ("kind", "name", "replicas"),
    "deletePod": ("pod", "gracePeriodSeconds", "exitAfterSeconds"),
    "crashPod": ("pod", "notReadyAfterSeconds", "restartAfterSeconds"),
    "setPodReady": ("pod", "ready"),
    "apply": ("manifest",),
    "delete": ("kind", "name"),
    "nodeDown": ("node", "notReadyAfterSeconds"),
    "nodeUp": ("node",),
    "restartKubeProxy": ("node", "downSeconds", "flush"),
    "flushConntrack": ("node",),
}

EXPECT_FIELDS: dict[str, tuple[str, ...]] = {
    "reachable": ("flow", "atLeast", "selector", "window"),
    "rejected": ("flow", "atLeast", "withinSeconds", "window"),
    "dropped": ("flow", "atLeast", "window"),
    "reset": ("flow", "atLeast", "window"),
    "latency": ("flow", "percentile", "atLeast", "atMost", "window"),
    "failures": ("flow", "atLeast", "atMost", "window"),
    "spread": ("flow", "significance", "maxImbalance", "minImbalance", "selector", "window"),
    "affinity": ("flow", "timeoutSeconds", "minShare", "switchAfterTimeout", "window"),
    "sourceSeen": ("flow", "seen", "atLeast", "window"),
    "programmingLatency": ("p50", "p99", "node"),
    "nodePortMatrix": ("flow", "expect"),
}


@dataclass(frozen=True)
class ExpectSpec:
    """One expectation: ``type``, a display name and its checked parameters."""

    type: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    path: str = ""


@dataclass(frozen=True)
class RunPlan:
    """Everything a run needs besides the cluster objects."""

    network: NetworkParams
    duration_s: float
    flows: tuple[FlowSpec, ...]
    events: tuple[EventSpec, ...]
    expectations: tuple[ExpectSpec, ...]


class _Checker:
    """Builds SimErrors that name the file, the line (when the YAML node tree is given) and
    the field path."""

    def __init__(self, file: str, root: Any = None) -> None:
        self.file = file
        self.root = root

    def fail(self, path: str, kind: str, value: Any = None, detail: str = "") -> SimError:
        line = line_of(self.root, path) if self.root is not None else None
        where = f"{self.file}:{line}: " if self.file and line else (f"{self.file}: " if self.file else "")
        shown = f": {quote(value)}" if value is not None else ""
        more = f": {detail}" if detail else ""
        return SimError(f"{where}{path}: {kind}{shown}{more}")

    def mapping(self, value: Any, path: str, allowed: tuple[str, ...]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, "Invalid value", _short(value), "must be a mapping")
        for key in value:
            if key not in allowed:
                raise self.fail(f"{path}.{key}", "Unsupported value", None,
                                f"unknown field; supported: {', '.join(allowed)}")
        return value

    def seq(self, value: Any, path: str) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(path, "Invalid value", _short(value), "must be a list")
        return value

    def number(self, m: dict, key: str, path: str, default: float | None = None, *,
               minimum: float = 0.0, strict: bool = False, required: bool = False) -> float | None:
        if key not in m or m[key] is None:
            if required:
                raise self.fail(f"{path}.{key}", "Required value")
            return default
        v = m[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(f"{path}.{key}", "Invalid value", v, "must be a number")
        if v < minimum or (strict and v == minimum):
            rel = ">" if strict else ">="
            raise self.fail(f"{path}.{key}", "Invalid value", v, f"must be {rel} {minimum:g}")
        return float(v)

    def fraction(self, m: dict, key: str, path: str, default: float) -> float:
        v = self.number(m, key, path, default)
        if v is not None and v > 1.0:
            raise self.fail(f"{path}.{key}", "Invalid value", m[key], "must be a fraction in [0, 1]")
        return float(v)

    def string(self, m: dict, key: str, path: str, default: str | None = None, *,
               choices: tuple[str, ...] = ()) -> str:
        if key not in m or m[key] is None:
            if default is None:
                raise self.fail(f"{path}.{key}", "Required value")
            return default
        v = m[key]
        if not isinstance(v, str) or not v:
            raise self.fail(f"{path}.{key}", "Invalid value", v, "must be a non-empty string")
        if choices and v not in choices:
            raise self.fail(f"{path}.{key}", "Unsupported value", v,
                            f"supported values: {', '.join(choices)}")
        return v

    def nsname(self, m: dict, key: str, path: str) -> tuple[str, str]:
        v = self.string(m, key, path)
        parts = v.split("/")
        if len(parts) == 1:
            return "default", v
        if len(parts) != 2 or not all(parts):
            raise self.fail(f"{path}.{key}", "Invalid value", v, "must be <namespace>/<name> or <name>")
        return parts[0], parts[1]


def _short(value: Any) -> Any:
    text = repr(value)
    return value if len(text) <= 60 else text[:57] + "..."


def _ip(c: _Checker, value: Any, path: str) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise c.fail(path, "Invalid value", value, "must be an IP address") from None


def parse_network(raw: Any, file: str = "", path: str = "spec.network",
                  root: Any = None) -> NetworkParams:
    """Check ``spec.network`` and return the world's :class:`NetworkParams`."""
    c = _Checker(file, root)
    m = c.mapping(raw, path, ("podLink", "nodeLink", "externalLink", "externalHosts", "routes",
                              "controlPlane", "restoreBackend", "nodeCPUs", "userspaceProxy"))
    base = NetworkParams()

    def link(key: str, default: LinkParams) -> LinkParams:
        lm = c.mapping(m.get(key), f"{path}.{key}", ("latencySeconds", "bandwidthBps"))
        return LinkParams(c.number(lm, "latencySeconds", f"{path}.{key}", default.latency_s),
                          c.number(lm, "bandwidthBps", f"{path}.{key}", default.bandwidth_bps,
                                   strict=True))

    hosts = []
    names: set[str] = set()
    for i, h in enumerate(c.seq(m.get("externalHosts"), f"{path}.externalHosts")):
        hp = f"{path}.externalHosts[{i}]"
        hm = c.mapping(h, hp, ("name", "ip", "listen"))
        name = c.string(hm, "name", hp)
        if name in names:
            raise c.fail(f"{hp}.name", "Duplicate value", name)
        names.add(name)
        listen = []
        for j, lst in enumerate(c.seq(hm.get("listen"), f"{hp}.listen")):
            lp = f"{hp}.listen[{j}]"
            lm = c.mapping(lst, lp, ("port", "protocol"))
            port = int(c.number(lm, "port", lp, required=True, minimum=1))
            proto = c.string(lm, "protocol", lp, "TCP", choices=("TCP", "UDP", "SCTP"))
            listen.append((proto.lower(), port))
        hosts.append(ExternalHost(name, _ip(c, hm.get("ip"), f"{hp}.ip"), tuple(listen)))
    routes = []
    for i, r in enumerate(c.seq(m.get("routes"), f"{path}.routes")):
        rp = f"{path}.routes[{i}]"
        rm = c.mapping(r, rp, ("cidr", "via"))
        cidr = c.string(rm, "cidr", rp)
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise c.fail(f"{rp}.cidr", "Invalid value", cidr, "must be a CIDR") from None
        routes.append(Route(cidr, c.string(rm, "via", rp)))
    cpm = c.mapping(m.get("controlPlane"), f"{path}.controlPlane",
                    ("watchDelaySeconds", "endpointSliceDelaySeconds"))
    cp0 = ControlPlaneParams()
    cp = ControlPlaneParams(
        c.number(cpm, "watchDelaySeconds", f"{path}.controlPlane", cp0.watch_delay_s),
        c.number(cpm, "endpointSliceDelaySeconds", f"{path}.controlPlane", cp0.endpointslice_delay_s))
    backend = c.string(m, "restoreBackend", path, base.restore_backend, choices=("legacy", "nft"))
    cpus = m.get("nodeCPUs", base.node_cpus)
    if isinstance(cpus, bool) or not isinstance(cpus, int) or cpus < 1:
        raise c.fail(f"{path}.nodeCPUs", "Invalid value", cpus, "must be an integer >= 1")
    um = c.mapping(m.get("userspaceProxy"), f"{path}.userspaceProxy",
                   ("setupSeconds", "perPacketSeconds", "iptablesCallSeconds"))
    up = f"{path}.userspaceProxy"
    u0 = base.userspace
    userspace = UserspaceParams(c.number(um, "setupSeconds", up, u0.setup_s),
                                c.number(um, "perPacketSeconds", up, u0.per_packet_s),
                                c.number(um, "iptablesCallSeconds", up, u0.iptables_call_s))
    return NetworkParams(link("podLink", base.pod_link), link("nodeLink", base.node_link),
                         link("externalLink", base.external_link), tuple(hosts), tuple(routes),
                         cp, backend, cpus, userspace)


def parse_traffic(raw: Any, node_names: tuple[str, ...], file: str = "",
                  path: str = "spec.traffic", root: Any = None) -> tuple[float, tuple[FlowSpec, ...]]:
    """Check ``spec.traffic``; returns (duration, flows) with ``node: "*"`` expanded."""
    c = _Checker(file, root)
    if isinstance(raw, (list, tuple)) and len(raw) == 1 and isinstance(raw[0], dict):
        raw = raw[0]  # the loader keeps a mapping section as a one-element tuple
    if isinstance(raw, (list, tuple)) and not raw:
        raw = None
    m = c.mapping(raw, path, ("durationSeconds", "flows"))
    flows_raw = c.seq(m.get("flows"), f"{path}.flows")
    duration = c.number(m, "durationSeconds", path, None, strict=True, required=bool(flows_raw))
    if duration is not None and duration > MAX_SIMULATED_S:
        raise c.fail(f"{path}.durationSeconds", "Invalid value", m["durationSeconds"],
                     f"must be at most {MAX_SIMULATED_S:g} (one week of simulated time)")
    out: list[FlowSpec] = []
    seen: set[str] = set()
    for i, f in enumerate(flows_raw):
        fp = f"{path}.flows[{i}]"
        fm = c.mapping(f, fp, ("name", "from", "to", "protocol", "rate", "arrival", "start",
                               "stop", "count", "timeoutSeconds"))
        name = c.string(fm, "name", fp)
        if name in seen:
            raise c.fail(f"{fp}.name", "Duplicate value", name)
        seen.add(name)
        frm = c.mapping(fm.get("from"), f"{fp}.from", ("pod", "node", "external"))
        if len(frm) != 1:
            raise c.fail(f"{fp}.from", "Required value", None, "exactly one of pod, node, external")
        kind = next(iter(frm))
        if kind == "pod":
            ns, pn = c.nsname(frm, "pod", f"{fp}.from")
            client = f"{ns}/{pn}"
        else:
            client = c.string(frm, kind, f"{fp}.from")
        by_name = isinstance(fm.get("to"), dict) and "dns" in fm["to"]
        to = c.mapping(fm.get("to"), f"{fp}.to", DNS_TARGET_FIELDS if by_name
                       else ("address", "service", "port", "via", "node"))
        proto = c.string(fm, "protocol", fp, "TCP", choices=("TCP", "UDP")).lower()
        common = dict(
            proto=proto,
            rate_per_s=c.number(fm, "rate", fp, 10.0, strict=True),
            arrival=c.string(fm, "arrival", fp, "constant", choices=("constant", "poisson")),
            start_s=c.number(fm, "start", fp, 0.0),
            stop_s=c.number(fm, "stop", fp, float("inf")),
            count=int(c.number(fm, "count", fp, None, minimum=1)) if fm.get("count") is not None else None,
            connect_timeout_s=c.number(fm, "timeoutSeconds", fp, 1.0, strict=True),
        )
        if "dns" in to:  # a name resolved by the client pod through cluster DNS (sim.world.dns)
            out.append(FlowSpec(name, kind, client, dns_target(to, f"{fp}.to", file), **common))
            continue
        if "address" in to:
            addr = c.string(to, "address", f"{fp}.to")
            host, _, port = addr.rpartition(":")
            if not host or not port.isdigit():
                raise c.fail(f"{fp}.to.address", "Invalid value", addr, "must be ip:port")
            target = AddressTarget(_ip(c, host.strip("[]"), f"{fp}.to.address"), int(port))
            out.append(FlowSpec(name, kind, client, target, **common))
            continue
        if "service" not in to:
            raise c.fail(f"{fp}.to", "Required value", None, "address or service")
        ns, sn = c.nsname(to, "service", f"{fp}.to")
        if "port" not in to:
            raise c.fail(f"{fp}.to.port", "Required value")
        port = to["port"]
        if not isinstance(port, (int, str)) or isinstance(port, bool):
            raise c.fail(f"{fp}.to.port", "Invalid value", port, "a port number or name")
        via = c.string(to, "via", f"{fp}.to", "clusterIP", choices=VIAS)
        node = to.get("node", "")
        if via == "nodePort":
            node = c.string(to, "node", f"{fp}.to")
            targets = node_names if node == "*" else (node,)
            for n in targets:
                if n not in node_names:
                    raise c.fail(f"{fp}.to.node", "Not found", n, "no such node")
                fname = f"{name}@{n}" if node == "*" else name
                out.append(FlowSpec(fname, kind, client, ServiceTarget(ns, sn, port, via, n), **common))
            continue
        if node:
            raise c.fail(f"{fp}.to.node", "Forbidden", node, "only with via: nodePort")
        out.append(FlowSpec(name, kind, client, ServiceTarget(ns, sn, port, via), **common))
    planned = sum(_planned_connections(f, duration or 0.0) for f in out)
    if planned > MAX_CONNECTIONS:
        raise c.fail(f"{path}.flows", "Invalid value", None,
                     f"about {planned:.3g} connections planned (rate x time, or count); "
                     f"at most {MAX_CONNECTIONS:,} per run: every attempt is recorded")
    return (duration or 0.0), tuple(out)


def _planned_connections(f: FlowSpec, duration: float) -> float:
    """Connections a flow opens: ``count``, or fewer when rate x active time is less (the
    arrival semantics of :func:`sim.world.workload.constant_arrivals`)."""
    by_rate = float(constant_arrivals(f.rate_per_s, f.start_s, min(f.stop_s, duration)))
    return by_rate if f.count is None else min(float(f.count), by_rate)


def parse_events(raw: Any, file: str = "", path: str = "spec.events",
                 root: Any = None) -> tuple[EventSpec, ...]:
    """Check ``spec.events``; returns the events sorted by time (stable for equal times)."""
    c = _Checker(file, root)
    out = []
    for i, e in enumerate(c.seq(raw, path)):
        ep = f"{path}[{i}]"
        if not isinstance(e, dict):
            raise c.fail(ep, "Invalid value", _short(e), "must be a mapping")
        action = c.string(e, "action", ep, choices=tuple(EVENT_FIELDS))
        em = c.mapping(e, ep, ("at", "action") + EVENT_FIELDS[action])
        at = c.number(em, "at", ep, required=True)
        if at > MAX_SIMULATED_S:
            raise c.fail(f"{ep}.at", "Invalid value", em["at"],
                         f"must be at most {MAX_SIMULATED_S:g} (one week of simulated time)")
        params: dict[str, Any] = {}
        for key in EVENT_FIELDS[action]:
            if key not in em:
                continue
            v = em[key]
            if key in ("pod", "name"):
                params[key] = "/".join(c.nsname(em, key, ep))
            elif key in ("replicas",):
                params[key] = int(c.number(em, key, ep))
            elif key.endswith("Seconds"):
                params[key] = c.number(em, key, ep)
            elif key in ("ready", "flush"):
                if not isinstance(v, bool):
                    raise c.fail(f"{ep}.{key}", "Invalid value", v, "must be true or false")
                params[key] = v
            elif key == "manifest":
                if not isinstance(v, dict):
                    raise c.fail(f"{ep}.manifest", "Invalid value", _short(v), "must be a mapping")
                params[key] = v
            else:
                params[key] = c.string(em, key, ep)
        required = {"scale": ("kind", "name", "replicas"), "deletePod": ("pod",),
                    "crashPod": ("pod",), "setPodReady": ("pod", "ready"), "apply": ("manifest",),
                    "delete": ("kind", "name"), "nodeDown": ("node",), "nodeUp": ("node",)}
        for key in required.get(action, ()):
            if key not in params:
                raise c.fail(f"{ep}.{key}", "Required value")
        out.append(EventSpec(at, action, params, ep))
    return tuple(sorted(out, key=lambda ev: ev.at_s))


def parse_expect(raw: Any, flow_names: tuple[str, ...], file: str = "",
                 path: str = "spec.expect", root: Any = None) -> tuple[ExpectSpec, ...]:
    """Check ``spec.expect`` against the known flow names."""
    c = _Checker(file, root)
    out = []
    names: set[str] = set()
    for i, e in enumerate(c.seq(raw, path)):
        ep = f"{path}[{i}]"
        if not isinstance(e, dict):
            raise c.fail(ep, "Invalid value", _short(e), "must be a mapping")
        typ = c.string(e, "type", ep, choices=tuple(EXPECT_FIELDS))
        em = c.mapping(e, ep, ("type", "name", "mode") + EXPECT_FIELDS[typ])
        p: dict[str, Any] = {}
        if "mode" in em:
            # Only checked in runs of that kube-proxy mode (one scenario, several modes).
            p["mode"] = c.string(em, "mode", ep, choices=PROXY_MODES)
        if typ != "programmingLatency":
            flow = c.string(em, "flow", ep)
            known = flow in flow_names or any(f.startswith(flow + "@") for f in flow_names)
            if not known:
                raise c.fail(f"{ep}.flow", "Not found", flow, "no flow of that name in spec.traffic")
            p["flow"] = flow
        if "window" in em:
            w = em["window"]
            if (not isinstance(w, list) or len(w) != 2
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in w)
                    or w[0] > w[1]):
                raise c.fail(f"{ep}.window", "Invalid value", w, "must be [start, end] seconds")
            p["window"] = (float(w[0]), float(w[1]))
        if typ in ("reachable", "rejected", "dropped", "reset", "sourceSeen"):
            p["atLeast"] = c.fraction(em, "atLeast", ep, 1.0)
        if typ == "latency":
            p["atLeast"] = c.number(em, "atLeast", ep, None)
            p["atMost"] = c.number(em, "atMost", ep, None)
            if p["atLeast"] is None and p["atMost"] is None:
                raise c.fail(f"{ep}.atMost", "Required value", None, "atLeast and/or atMost")
        if typ == "latency":
            p["percentile"] = c.number(em, "percentile", ep, 50.0)
            if not 0 < p["percentile"] <= 100:
                raise c.fail(f"{ep}.percentile", "Invalid value", p["percentile"], "must be in (0, 100]")
        if typ == "failures":
            p["atLeast"] = int(c.number(em, "atLeast", ep, 0))
            p["atMost"] = c.number(em, "atMost", ep, None)
        if typ in ("reachable", "spread") and "selector" in em:
            sel = em["selector"]
            if not isinstance(sel, dict) or not all(isinstance(v, str) for v in sel.values()):
                raise c.fail(f"{ep}.selector", "Invalid value", _short(sel), "labels as a mapping")
            p["selector"] = dict(sel)
        if typ == "spread":
            if "selector" not in p:
                raise c.fail(f"{ep}.selector", "Required value", None, "the pods the load should spread over")
        if typ == "spread":
            p["significance"] = c.fraction(em, "significance", ep, 0.01)
            p["maxImbalance"] = c.number(em, "maxImbalance", ep, None)
            p["minImbalance"] = c.number(em, "minImbalance", ep, None)
        if typ == "rejected":
            p["withinSeconds"] = c.number(em, "withinSeconds", ep, None)
        if typ == "affinity":
            p["timeoutSeconds"] = c.number(em, "timeoutSeconds", ep, None, strict=True, required=True)
            p["minShare"] = c.fraction(em, "minShare", ep, 1.0)
            sw = em.get("switchAfterTimeout", False)
            if not isinstance(sw, bool):
                raise c.fail(f"{ep}.switchAfterTimeout", "Invalid value", sw, "must be true or false")
            p["switchAfterTimeout"] = sw
        if typ == "sourceSeen":
            seen = c.string(em, "seen", ep)
            if seen not in ("client", "node"):
                seen = _ip(c, seen, f"{ep}.seen")
            p["seen"] = seen
        if typ == "programmingLatency":
            p["p50"] = c.number(em, "p50", ep, None, strict=True)
            p["p99"] = c.number(em, "p99", ep, None, strict=True)
            if p["p50"] is None and p["p99"] is None:
                raise c.fail(f"{ep}.p50", "Required value", None, "p50 and/or p99 bound")
            p["node"] = em.get("node", "")
        if typ == "nodePortMatrix":
            exp = c.mapping(em.get("expect"), f"{ep}.expect", tuple(
                ["*"] + [f.split("@", 1)[1] for f in flow_names if f.startswith(p["flow"] + "@")]))
            if not exp:
                raise c.fail(f"{ep}.expect", "Required value", None, "node -> reachable|rejected|dropped")
            for node, outcome in exp.items():
                if outcome not in OUTCOMES:
                    raise c.fail(f"{ep}.expect.{node}", "Unsupported value", outcome,
                                 f"supported values: {', '.join(OUTCOMES)}")
            p["expect"] = dict(exp)
        name = em.get("name") or f"{typ} {p.get('flow', '')}".strip()
        if name in names:
            name = f"{name} #{i}"
        names.add(name)
        out.append(ExpectSpec(typ, str(name), p, ep))
    return tuple(out)


def parse_plan(network: Any, traffic: Any, events: Any, expect: Any, node_names: tuple[str, ...],
               file: str = "", root: Any = None) -> RunPlan:
    """All four sections at once; ``root`` (the scenario's YAML node) adds line numbers."""
    net = parse_network(network, file, root=root)
    for i, r in enumerate(net.routes):
        if r.via not in node_names:
            raise _Checker(file, root).fail(f"spec.network.routes[{i}].via", "Not found", r.via, "no such node")
    duration, flows = parse_traffic(traffic, node_names, file, root=root)
    for f in flows:
        if f.client_kind == "external" and f.client not in {h.name for h in net.external_hosts}:
            raise _Checker(file, root).fail("spec.traffic.flows", "Not found", f.client,
                                            f"flow {f.name}: no external host of that name in spec.network.externalHosts")
        if f.client_kind == "node" and f.client not in node_names:
            raise _Checker(file, root).fail("spec.traffic.flows", "Not found", f.client,
                                            f"flow {f.name}: no such node")
    evs = parse_events(events, file, root=root)
    for ev in evs:
        node = ev.params.get("node")
        if node is not None and node not in node_names and not (
                node == "*" and ev.action in ("restartKubeProxy", "flushConntrack")):
            raise _Checker(file, root).fail(f"{ev.path}.node", "Not found", node, "no such node")
    exps = parse_expect(expect, tuple(f.name for f in flows), file, root=root)
    return RunPlan(net, duration, flows, evs, exps)


SEED_LIMIT = 2**63  # seeds are stored and printed as signed 64-bit integers


def seed_error(seed: Any, field_path: str, file: str = "", line: int | None = None) -> FieldError | None:
    """The error for a run seed outside ``[0, 2**63)`` (or not an integer), else ``None``."""
    if isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < SEED_LIMIT:
        return None
    return FieldError(field_path, "Invalid value", "must be an integer in [0, 2^63)", seed, True,
                      file, line)


def check_runnable(scenario, state=None) -> list[FieldError]:
    """What ``kube-netsim run`` refuses in a scenario that loads and validates: every error.

    * ``spec.kubeProxy.mode`` not in :data:`sim.kubeproxy.modes.BUILT_MODES`;
    * in IPVS mode, a ``spec.kubeProxy.ipvs.scheduler`` the IPVS engine does not model (``mh``);
    * ``spec.seed`` outside ``[0, 2**63)``;
    * a flow ``to: {service: ns/name}`` naming a Service that neither exists at the start nor
      is created by an ``apply`` event of ``spec.events``, or a port that Service does not
      have (checked when no event re-applies the Service).

    ``state`` is the cluster at the start (default: built from the scenario; a scenario whose
    objects the apiserver refuses skips the Service checks, ``validate`` reports those).
    Malformed run sections are left to :func:`parse_plan`, which raises at the first one.
    """
    file = str(scenario.path)
    try:
        root = read_documents(Path(scenario.path))[0][1]
    except (SimError, OSError, IndexError):
        root = None

    def at(path: str) -> int | None:
        return line_of(root, path) if root is not None else None

    errors = []
    mode = scenario.kube_proxy.mode
    if mode not in BUILT_MODES:
        errors.append(FieldError("spec.kubeProxy.mode", "Unsupported value",
                                 unsupported_mode_message(mode),
                                 mode, True, file, at("spec.kubeProxy.mode")))
    scheduler = scenario.kube_proxy.ipvs.scheduler or "rr"
    if mode == "ipvs" and scheduler not in IPVS_SCHEDULERS:
        errors.append(FieldError("spec.kubeProxy.ipvs.scheduler", "Unsupported value",
                                 "the IPVS engine models " + ", ".join(
                                     f'"{n}"' for n in IPVS_SCHEDULERS),
                                 scheduler, True, file, at("spec.kubeProxy.ipvs.scheduler")))
    bad_seed = seed_error(scenario.seed, "spec.seed", file, at("spec.seed"))
    if bad_seed is not None:
        errors.append(bad_seed)
    if state is None:
        try:
            state = scenario.state()
        except SimError:
            return errors
    created = set()
    for e in scenario.events if isinstance(scenario.events, (list, tuple)) else ():
        man = e.get("manifest") if isinstance(e, dict) and e.get("action") == "apply" else None
        if isinstance(man, dict) and man.get("kind") == "Service" and isinstance(man.get("metadata"), dict):
            meta = man["metadata"]
            created.add((str(meta.get("namespace") or "default"), str(meta.get("name"))))
    traffic = scenario.traffic
    if isinstance(traffic, (list, tuple)) and len(traffic) == 1:
        traffic = traffic[0]
    flows = traffic.get("flows") if isinstance(traffic, dict) else None
    for i, f in enumerate(flows if isinstance(flows, list) else ()):
        to = f.get("to") if isinstance(f, dict) else None
        if not isinstance(to, dict) or not isinstance(to.get("service"), str):
            continue
        ns, _, name = to["service"].rpartition("/")
        ns = ns or "default"
        if (ns, name) in created:
            continue
        path = f"spec.traffic.flows[{i}].to"
        svc = state.service(ns, name)
        if svc is None:
            errors.append(FieldError(f"{path}.service", "Not found",
                                     "no such Service, and no apply event in spec.events creates it",
                                     f"{ns}/{name}", True, file, at(f"{path}.service")))
            continue
        port = to.get("port")
        if port is not None and not any(p.port == port or (p.name and p.name == port) for p in svc.ports):
            errors.append(FieldError(f"{path}.port", "Not found",
                                     f"Service {ns}/{name} has no port of that number or name",
                                     port, True, file, at(f"{path}.port")))
    return errors
