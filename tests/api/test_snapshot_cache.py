"""Incremental snapshots (per-Service slice cache, sorted pod view) equal snapshots built from
scratch after the same operations."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from sim.model.errors import SimError
from tests.api.helpers import deployment, server, service, two_node_cluster

OPS = st.lists(st.one_of(
    st.tuples(st.just("scale"), st.integers(0, 5)),
    st.tuples(st.just("ready"), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("terminating"), st.integers(0, 20)),
    st.tuples(st.just("delete_pod"), st.integers(0, 20)),
    st.tuples(st.just("node"), st.sampled_from(["node-1", "node-2"]), st.booleans()),
    st.tuples(st.just("service"), st.sampled_from(["a", "b"]), st.sampled_from(["MyApp", "Other", ""])),
    st.tuples(st.just("delete_service"), st.sampled_from(["a", "b"])),
), max_size=25)


def _run(ops, snapshot_each_step: bool):
    api = two_node_cluster(server(seed=5))
    api.apply(deployment(replicas=3))
    api.apply(deployment(name="other", replicas=2, labels={"app": "Other"}))
    for op in ops:
        pods = api.pods_for("default", {})
        if op[0] == "scale":
            api.scale("Deployment", "default", "web", op[1])
        elif op[0] in ("ready", "terminating", "delete_pod") and pods:
            p = pods[op[1] % len(pods)]
            if op[0] == "ready":
                api.set_pod_ready(p.namespace, p.name, op[2])
            elif op[0] == "terminating":
                api.set_pod_terminating(p.namespace, p.name)
            else:
                api.delete_pod(p.namespace, p.name)
        elif op[0] == "node":
            api.set_node_ready(op[1], op[2])
        elif op[0] == "service":
            api.apply(service(name=op[1], selector={"app": op[2]} if op[2] else {}))
        elif op[0] == "delete_service":
            with contextlib.suppress(SimError):
                api.delete("Service", "default", op[1])
        if snapshot_each_step:
            api.snapshot()
    return api.snapshot()


@given(OPS)
def test_incremental_snapshot_equals_fresh(ops):
    """Snapshotting after every step gives the same final state as snapshotting only at the end."""
    assert _run(ops, True) == _run(ops, False)
