"""A cluster dump as ``kubectl get ... -o yaml`` prints it loads under strict decoding."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.api.helpers import server

DUMP = Path(__file__).with_name("fixtures") / "kubectl-dump.yaml"


def _state():
    api = server()
    api.apply(yaml.safe_load(DUMP.read_text()), (str(DUMP), 1))
    return api, api.snapshot()


def test_dump_loads_without_errors_or_warnings():
    """Every object of the dump is accepted and none is skipped."""
    api, state = _state()
    assert api.warnings == []
    assert (len(state.nodes), len(state.pods), len(state.services), len(state.endpoints)) == (1, 1, 2, 1)


def test_dump_keeps_allocated_values():
    """The dumped clusterIP and nodePort are kept as chosen values."""
    _, state = _state()
    web = state.service("default", "web")
    assert (web.cluster_ip, web.ports[0].node_port, web.ports[0].target_port) == ("10.96.112.44", 31380, "http")


def test_dump_slices_used_as_is():
    """Dumped slices are used; no controller slices are added and skip-mirror is honoured."""
    _, state = _state()
    assert sorted(s.name for s in state.endpoint_slices) == ["kubernetes", "web-8zqzn"]


def test_dump_pod_fields():
    """The pod keeps its IP, node, readiness and named container port."""
    _, state = _state()
    p = state.pods[0]
    assert (p.pod_ip, p.node_name, p.ready, p.container_ports[0].name) == (
        "10.244.0.5", "kind-control-plane", True, "http")
