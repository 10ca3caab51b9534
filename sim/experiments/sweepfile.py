"""The sweep file (``kind: Sweep``): load, check, expand into points.

A sweep names a base (a scenario file, or the built-in generated cluster of
:mod:`sim.experiments.cluster`) and a grid. The grid's axes are ``services``,
``endpointsPerService``, ``nodes``, ``affinityShare`` (generated cluster only), ``mode``,
``kubeProxy`` (dotted KubeProxyConfiguration fields, each with its list of values) and
``seed``; the points are their cartesian product. Errors carry file, line and field path, as
a scenario's do (the JSON Schema is ``sim/experiments/schema/sweep.schema.json``).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from sim.experiments.cluster import SERVICE_TYPES
from sim.kubeproxy.modes import BUILT_MODES
from sim.model.errors import SimError, ValidationError
from sim.api.fielderrors import FieldError, invalid, not_supported
from sim.scenario.spec import (
    kube_proxy_config,
    line_of,
    load_scenario,
    parse_duration,
    read_documents,
    schema as scenario_schema,
    schema_errors,
)

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "sweep.schema.json"

# Defaults of the generated cluster and of the measurements (the sweep file overrides them).
CLUSTER_DEFAULTS = {"nodes": 3, "services": 100, "endpointsPerService": 10, "portsPerService": 1,
                    "serviceTypes": {"ClusterIP": 1.0}, "affinityShare": 0.0}
MEASURE_DEFAULTS = {"connections": 2000, "churnEvents": 4, "churnInterval": "2s",
                    "compileRepeats": 3}
CLUSTER_AXES = ("services", "endpointsPerService", "nodes", "affinityShare")


@lru_cache(maxsize=1)
def schema() -> dict:
    """The shipped JSON Schema of the sweep format."""
    return json.loads(SCHEMA_PATH.read_text())


@dataclass(frozen=True)
class Point:
    """One point of a sweep: everything a worker needs to measure it (picklable).

    ``params`` are the point's parameters in column order (the same keys on every point of a
    sweep; ``scenario`` as the sweep file writes it, so ids do not depend on where the tree
    is); ``scenario`` is the resolved base scenario path, or None for the generated cluster.
    """

    sweep: str
    point_id: str
    params: dict[str, Any]
    scenario: str | None
    cluster: dict[str, Any]
    kube_proxy: dict[str, Any]
    measure: dict[str, Any]
    source: str


@dataclass(frozen=True)
class Sweep:
    """A loaded sweep file."""

    name: str
    path: Path
    sha256: str
    scenario: str | None  # as written in the file (relative to it)
    cluster: dict[str, Any]
    kube_proxy: dict[str, Any]
    grid: dict[str, list]
    measure: dict[str, Any]
    data: dict = field(default_factory=dict, repr=False)

    @property
    def sweep_id(self) -> str:
        """The results directory name: 12 hex digits of the hash of the sweep without its
        grid and description, so that a grid grown or narrowed later reuses the points it
        shares (each point's directory is keyed by the hash of its own settings)."""
        data = copy.deepcopy(self.data)
        data.get("spec", {}).pop("grid", None)
        data.get("metadata", {}).pop("description", None)
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]

    def points(self) -> list[Point]:
        """Every point of the grid, in grid order (cluster axes, mode, kubeProxy, seed)."""
        axes = [(k, self.grid[k]) for k in CLUSTER_AXES if k in self.grid]
        axes.append(("mode", self.grid["mode"]))
        axes += [(f"kubeProxy.{k}", v) for k, v in sorted(self.grid.get("kubeProxy", {}).items())]
        axes.append(("seed", self.grid["seed"]))
        out = []
        for combo in itertools.product(*(v for _, v in axes)):
            chosen = dict(zip((k for k, _ in axes), combo))
            cluster = dict(self.cluster)
            for k in CLUSTER_AXES:
                if k in chosen:
                    cluster[k] = chosen[k]
            section = copy.deepcopy(self.kube_proxy)
            for k, v in chosen.items():
                if k.startswith("kubeProxy."):
                    _set_dotted(section, k[len("kubeProxy."):], v)
            section["mode"] = chosen["mode"]
            params: dict[str, Any] = {"scenario": self.scenario or "generated"}
            if self.scenario is None:
                params.update({"nodes": cluster["nodes"], "services": cluster["services"],
                               "endpointsPerService": cluster["endpointsPerService"],
                               "portsPerService": cluster["portsPerService"],
                               "serviceTypes": _types_label(cluster["serviceTypes"]),
                               "affinityShare": cluster["affinityShare"]})
            params["mode"] = chosen["mode"]
            for k, v in chosen.items():
                if k.startswith("kubeProxy."):
                    params[k] = v
            params["seed"] = chosen["seed"]
            key = json.dumps({"params": params, "cluster": cluster, "kubeProxy": section,
                              "measure": self.measure}, sort_keys=True, default=str)
            pid = hashlib.sha256(key.encode()).hexdigest()[:12]
            resolved = str((self.path.parent / self.scenario).resolve()) if self.scenario else None
            out.append(Point(self.name, pid, params, resolved, cluster, section,
                             dict(self.measure), str(self.path)))
        return out


def _types_label(types: dict[str, float]) -> str:
    """``ClusterIP=0.8,NodePort=0.2`` (the serviceTypes column)."""
    return ",".join(f"{t}={float(types[t]):g}" for t in SERVICE_TYPES if t in types)


def _merged(base: dict, top: dict) -> dict:
    """``top`` over ``base``, mappings merged key by key.

    >>> _merged({"iptables": {"minSyncPeriod": "1s", "syncPeriod": "30s"}},
    ...         {"iptables": {"minSyncPeriod": "0s"}})
    {'iptables': {'minSyncPeriod': '0s', 'syncPeriod': '30s'}}
    """
    out = copy.deepcopy(base)
    for k, v in top.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _set_dotted(section: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    d = section
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


def _kube_proxy_field(dotted: str) -> dict | None:
    """The scenario schema of a dotted KubeProxyConfiguration field, or None if unknown."""
    s = scenario_schema()
    node = s["$defs"]["kubeProxy"]
    for part in dotted.split("."):
        props = node.get("properties") or {}
        if part not in props:
            return None
        node = props[part]
        if "$ref" in node:
            node = s["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _kube_proxy_schema() -> dict:
    s = scenario_schema()
    return {**s["$defs"]["kubeProxy"], "$defs": s["$defs"]}


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file.

    Raises
    ------
    SimError
        Missing file or malformed YAML; a :class:`ValidationError` listing every problem
        with its file, line and field path.
    """
    p = Path(path)
    file = str(path)
    docs = read_documents(p)
    if len(docs) != 1:
        raise SimError(f"{file}: a sweep file holds exactly one YAML document (found {len(docs)})")
    data, root = docs[0]
    if not isinstance(data, dict):
        raise ValidationError([FieldError("", "Invalid value", "a sweep is a mapping", file=file, line=1)])
    errors = schema_errors(data, root, file, schema())
    if errors:
        raise ValidationError(errors)
    spec = data.get("spec") or {}
    errors = []

    def err(path_: str, e: FieldError) -> None:
        line = line_of(root, path_)
        if path_.startswith("spec.grid.kubeProxy."):  # dotted keys: find the key itself
            line = _key_line(root, "spec.grid.kubeProxy", path_[len("spec.grid.kubeProxy."):]) or line
        errors.append(replace(e, file=file, line=line))

    grid = dict(spec.get("grid") or {})
    scenario = spec.get("scenario")
    if scenario is not None and "cluster" in spec:
        err("spec.cluster", invalid("spec.cluster", "{...}", "may not be set together with spec.scenario"))
    if scenario is not None:
        for k in CLUSTER_AXES:
            if k in grid:
                err(f"spec.grid.{k}", invalid(f"spec.grid.{k}", _short(grid[k]),
                                              "a base scenario fixes the cluster; vary it with the generated cluster (spec.cluster)"))
        scenario_path = (p.parent / scenario).resolve()
        if not scenario_path.is_file():
            err("spec.scenario", invalid("spec.scenario", scenario, f"no such file: {scenario_path}"))
    cluster = {**CLUSTER_DEFAULTS, **(spec.get("cluster") or {})}
    if sum((cluster.get("serviceTypes") or {}).values()) <= 0:
        err("spec.cluster.serviceTypes", invalid("spec.cluster.serviceTypes", _short(cluster["serviceTypes"]),
                                                 "the shares must not all be zero"))
    modes = grid.get("mode", ["iptables"])
    if modes == "built":
        modes = list(BUILT_MODES)
    for i, m in enumerate(modes):
        if m not in BUILT_MODES:
            err(f"spec.grid.mode[{i}]", not_supported(f"spec.grid.mode[{i}]", m, list(BUILT_MODES)))
    grid["mode"] = list(modes)
    grid.setdefault("seed", [1])
    kp = spec.get("kubeProxy") or {}
    kp_schema = _kube_proxy_schema()
    errors += schema_errors(kp, root, file, kp_schema, prefix="spec.kubeProxy")
    if scenario is not None and (p.parent / scenario).is_file():
        # The base scenario's own KubeProxyConfiguration, with the sweep's on top of it.
        docs = read_documents(p.parent / scenario)
        base_kp = ((docs[0][0] or {}).get("spec") or {}).get("kubeProxy") or {} if docs else {}
        base_kp = {k: v for k, v in base_kp.items() if k != "mode"}
        kp = _merged(base_kp, kp)
    if "mode" in kp:
        err("spec.kubeProxy.mode", invalid("spec.kubeProxy.mode", kp["mode"], "the mode is a grid axis: use spec.grid.mode"))
    for key, values in sorted((grid.get("kubeProxy") or {}).items()):
        where = f"spec.grid.kubeProxy.{key}"
        if key == "mode":
            err(where, invalid(where, _short(values), "the mode is a grid axis: use spec.grid.mode"))
            continue
        if _kube_proxy_field(key) is None or isinstance(_kube_proxy_field(key).get("properties"), dict):
            err(where, FieldError(where, "Unsupported value", f'"{key}": not a KubeProxyConfiguration field '
                                  "(dotted, e.g. iptables.minSyncPeriod)"))
            continue
        for i, v in enumerate(values):
            section = copy.deepcopy(kp)
            _set_dotted(section, key, v)
            for e in schema_errors(section, None, file, kp_schema):
                err(where, replace(e, field=f"{where}[{i}]"))
    measure = {**MEASURE_DEFAULTS, **(spec.get("measure") or {})}
    try:
        measure["churnIntervalSeconds"] = parse_duration(str(measure["churnInterval"]))
    except ValueError:
        err("spec.measure.churnInterval", invalid("spec.measure.churnInterval", measure["churnInterval"],
                                                  'must be a duration such as "1s" or "500ms"'))
    if errors:
        raise ValidationError(sorted(errors, key=lambda e: e.line or 0))
    sweep = Sweep(data["metadata"]["name"], p, hashlib.sha256(
        json.dumps(data, sort_keys=True, default=str).encode()).hexdigest(),
        scenario, cluster, kp, grid, measure, data)
    _check_points(sweep, root, file)
    return sweep


def _check_points(sweep: Sweep, root: yaml.Node, file: str) -> None:
    """Parse every point's kube-proxy configuration once here, so that a bad value fails the
    whole sweep before it starts (with its line) rather than each point after it."""
    seen: set[str] = set()
    for point in sweep.points():
        key = json.dumps(point.kube_proxy, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        kube_proxy_config(point.kube_proxy, file, root)
    if sweep.scenario is not None:
        load_scenario(sweep.path.parent / sweep.scenario)


def _key_line(root: yaml.Node, path: str, key: str) -> int | None:
    """The line of mapping key ``key`` (which may contain dots) under ``path``."""
    node = root
    for part in path.split("."):
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if k.value == part), None)
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if k.value == key:
                return k.start_mark.line + 1
    return None


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
