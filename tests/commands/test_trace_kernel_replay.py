"""The tracer's branches cover what the real kernel did on every shipped scenario.

The kernel oracle captured, per scenario, the exact restore texts of every node and the
outcomes of repeated real connections (``tests/fixtures/kernel/scenarios``, written by
``python -m tests.kernel.capture`` as root). For each probe, :func:`trace_packet` enumerates
the branches on the ingress node; each branch is turned into the oracle's outcome words by
the oracle's own engine-side mapping (second node, reply routing). Every outcome the kernel
showed must be a traced branch, and when the tracer finds a single certain branch the kernel
must have shown only that.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from sim.model import Packet
from sim.netfilter import trace_packet
from tests.kernel.engine_side import EngineCluster
from tests.kernel.probing import Probe, spec_from_json

FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "kernel" / "scenarios")
                  .glob("*.json"))


@lru_cache(maxsize=None)
def _load(path: Path) -> tuple[dict, EngineCluster]:
    data = json.loads(path.read_text())
    return data, EngineCluster(spec_from_json(data["spec"]), data["rules"])


def _cases() -> list:
    return [pytest.param(path, i, id=f"{path.stem}:{record['probe']['label']}")
            for path in FIXTURES
            for i, record in enumerate(json.loads(path.read_text())["probes"])]


def _traced(ec: EngineCluster, probe: Probe) -> set[str]:
    """The outcome words of every traced branch."""
    in_iface = "cni0" if probe.from_kind == "pod" else "eth0"
    owner = next((n.name for n in ec.spec.nodes if probe.dst in (n.ip, n.bridge_ip)), None)
    if owner is not None and owner != probe.ingress and probe.from_kind != "node":
        # A pod's connection to another node's address (its NodePort): the pod's own node
        # only routes it (its dst is not LOCAL there); the owner of the address decides.
        probe = replace(probe, ingress=owner)
        in_iface = "eth0"
    nf = ec.engines[probe.ingress]
    node = ec.spec.node(probe.ingress)
    flags = "S" if probe.proto == "tcp" else ""
    pkt = Packet(probe.proto, probe.src_ip, probe.dst, 40000, probe.port, tcp_flags=flags)
    local_out = probe.from_kind == "node"
    outs = trace_packet(nf.ruleset, [node.ip, node.bridge_ip], pkt, local_out=local_out,
                        in_iface=in_iface, route=nf.route_fn)
    rng = np.random.default_rng(0)
    return {ec._outcome(probe, o.result, ec.fresh_time(), rng) for o in outs}


def test_fixtures_exist() -> None:
    """The oracle's captures of the shipped scenarios are present."""
    assert len(FIXTURES) >= 10


@pytest.mark.parametrize("path,index", _cases())
def test_tracer_covers_kernel_outcomes(path: Path, index: int) -> None:
    """Kernel outcomes are traced branches; a certain branch is all the kernel showed."""
    data, ec = _load(path)
    record = data["probes"][index]
    probe = Probe(**record["probe"])
    every = _traced(ec, probe)
    kernel = set(record["outcomes"])
    assert kernel <= every, f"kernel showed {kernel - every}, tracer gives {sorted(every)}"
    if len(every) == 1:
        assert kernel == every
