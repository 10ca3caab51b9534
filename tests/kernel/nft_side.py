"""nftables mode in the kernel-vs-engine comparisons: the same probes and comparison rules as
iptables mode (:mod:`tests.kernel.probing`, :mod:`tests.kernel.compare`), with each node
loaded by the real ``nft -f`` with kube-proxy's nftables transaction and the engine running
that transaction (``sim.nftables.apply_nft``).

Between traced connections the kernel's dynamic sets (kube-proxy's ``affinity-`` sets) are
flushed, as ``recent`` lists are in iptables mode, so each traced connection starts without a
ClientIP pin. The kernel's iptables counters are empty in this mode (kube-proxy writes no
iptables rules), so the trail comparison checks the conntrack entries of traced connections.
"""

from __future__ import annotations

import platform

from sim.kubeproxy.nftables import compile_nft
from sim.model import ClusterState
from sim.netfilter import NodeNetfilter
from sim.nftables import apply_nft
from sim.oracle import ClusterSpec, KernelCluster
from sim.oracle.netns import run
from tests.kernel.engine_side import EngineCluster
from tests.kernel.probing import capture, probes_for, spec_json


def nft_rules(state: ClusterState) -> dict[str, list[str]]:
    """Per node: the nftables transaction kube-proxy's first sync sends there."""
    return {n.name: [compile_nft(state, n.name, state.kube_proxy).render()]
            for n in sorted(state.nodes, key=lambda n: n.name)}


def load_nft(kc: KernelCluster, rules: dict[str, list[str]]) -> None:
    """``nft -f`` each node's transactions in order; flush the dynamic sets instead of the
    ``recent`` lists when the capture asks for fresh ClientIP state."""
    dynamic: dict[str, list[tuple[str, str, str]]] = {}
    for node, texts in sorted(rules.items()):
        for text in texts:
            run(["nft", "-f", "-"], netns=kc.netns(node), input_text=text, timeout_s=600)
        rs = apply_nft("".join(texts))
        dynamic[node] = [(fam, t, s.name) for (fam, t), table in rs.tables.items()
                         for s in table.sets.values() if s.dynamic]

    def flush_sets(node: str) -> None:
        for fam, table, name in dynamic[node]:
            run(["nft", "flush", "set", fam, table, name], netns=kc.netns(node))
    kc.clear_recent = flush_sets  # type: ignore[method-assign]


def capture_nft(source: str, state: ClusterState, spec: ClusterSpec, *,
                count: int = 10) -> dict:
    """The fixture of one scenario in nftables mode (see ``capture_fixture``)."""
    rules = nft_rules(state)
    probes = probes_for(state, spec)
    with KernelCluster(spec) as kc:
        load_nft(kc, rules)
        records = capture(kc, probes, count=count)
    return {"source": source, "mode": "nftables", "kernel": platform.release(),
            "spec": spec_json(spec), "rules": rules, "probes": records}


class NftEngineCluster(EngineCluster):
    """:class:`EngineCluster` with each node's engine running the nft transactions."""

    def __init__(self, spec: ClusterSpec, rules: dict[str, list[str]]) -> None:
        super().__init__(spec, {n.name: [] for n in spec.nodes})
        for node in spec.nodes:
            nft = None
            for i, text in enumerate(rules[node.name]):
                nft = apply_nft(text, nft, source=f"{node.name}[{i}]")
            self.engines[node.name] = NodeNetfilter(None, [node.ip, node.bridge_ip],
                                                    route=self._router(node), nft=nft)


FIXTURES = "tests/fixtures/kernel/nft"


def main(argv: list[str]) -> int:
    """``PYTHONPATH=. .venv/bin/python -m tests.kernel.nft_side [SCENARIO ...]``: capture the
    world scenarios (default: all) in nftables mode as JSON fixtures for the replay test."""
    import json
    from pathlib import Path

    from sim.oracle import skip_reason
    from tests.kernel.capture import ROOT
    from tests.kernel.probing import scenario_cluster

    reason = skip_reason()
    if reason:
        print(f"skipped: {reason}")
        return 2
    from tests.world.test_nftables_world import mode_neutral_world_scenarios

    paths = argv or [str(p.relative_to(ROOT)) for p in mode_neutral_world_scenarios()]
    out = ROOT / FIXTURES
    out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        state, spec = scenario_cluster(str(ROOT / path))
        data = capture_nft(path, state, spec)
        target = out / f"{Path(path).stem}.json"
        target.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        print(f"{path}: {len(data['probes'])} probes -> {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
