"""Scale: a 10,000-Service manifest list loads and snapshots within the 5 s budget."""

from __future__ import annotations

import time

from sim.scenario.spec import load_scenario


def _write(tmp_path, n: int):
    docs = []
    for i in range(n):
        kind = "NodePort" if i % 10 == 0 else "ClusterIP"
        docs.append(
            f"apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: default\n"
            f"  labels:\n    app: app-{i % 100}\nspec:\n  type: {kind}\n  selector:\n    app: app-{i % 100}\n"
            "  ports:\n  - name: http\n    protocol: TCP\n    port: 80\n    targetPort: 8080\n"
            "  - name: https\n    protocol: TCP\n    port: 443\n    targetPort: 8443\n")
    (tmp_path / "services.yaml").write_text("---\n".join(docs))
    p = tmp_path / "scenario.yaml"
    p.write_text("apiVersion: kube-netsim/v1\nkind: Scenario\nmetadata: {name: perf}\n"
                 "spec:\n  seed: 3\n  manifests: [services.yaml]\n")
    return p


def test_ten_thousand_services_load_and_snapshot_under_five_seconds(tmp_path):
    """10,000 Services (1,000 of them NodePort) load, allocate and snapshot in < 5 s of CPU.

    CPU time rather than wall time, so that other jobs on a shared CI machine do not make the
    test flaky; on an idle machine the two agree.
    """
    path = _write(tmp_path, 10_000)
    start = time.process_time()
    state = load_scenario(path).state()
    elapsed = time.process_time() - start
    assert len(state.services) == 10_000
    assert len({s.cluster_ip for s in state.services}) == 10_000
    assert len({s.ports[0].node_port for s in state.services if s.ports[0].node_port}) == 1_000
    assert elapsed < 5.0, f"took {elapsed:.2f} s"
