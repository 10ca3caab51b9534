"""IPVS mode in the world: the shipped scenarios, round robin's evenness, graceful
termination, the sync-duration model."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.commands.options import with_mode
from sim.scenario.runner import build_world, run
from sim.scenario.spec import load_scenario
from sim.world.ipvs_backend import IPSET_EXEC_S, NETLINK_OP_S, IPVSBackend, IPVSProgram
from sim.world.restore import load_restore_model
from sim.netfilter.ipvs import ip_int

ROOT = Path(__file__).resolve().parents[2]
WORLD = ROOT / "scenarios" / "world"
SCENARIOS = sorted(p for p in WORLD.glob("*.yaml") if p.stem != "ipvs-round-robin")
# Where IPVS differs from iptables on purpose (a kernel behaviour, see the test below).
IPVS_DIFFERS = {("affinity", "a new choice after each idle gap longer than the timeout")}


def _failed(result) -> set[str]:
    return {e.name for e in result.expectations if not e.passed}


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_world_scenario_in_ipvs_mode_meets_its_expectations(path) -> None:
    """Every shipped world scenario run with kubeProxy.mode ipvs meets its own expectations,
    except the one IPVS answers differently (listed in IPVS_DIFFERS)."""
    result = run(with_mode(load_scenario(path), "ipvs"))
    assert result.expectations
    expected = {name for stem, name in IPVS_DIFFERS if stem == path.stem}
    assert _failed(result) == expected


def test_ipvs_affinity_holds_while_the_client_has_connections() -> None:
    """ClientIP affinity in IPVS is a persistence template that outlives its timeout while it
    controls connections (ip_vs_conn_expire: n_control): a client returning every 15 s with
    a 10 s timeout keeps its pod, where iptables' recent match lets it choose again."""
    sc = load_scenario(WORLD / "affinity.yaml")
    ipvs = run(with_mode(sc, "ipvs"))
    ipt = run(sc)
    name = "a new choice after each idle gap longer than the timeout"
    assert name in _failed(ipvs) and name not in _failed(ipt)
    served = {c.server for c in ipvs.recorder.connections if c.flow == "returning"}
    assert len(served) == 1


def test_round_robin_is_exactly_even_where_iptables_is_random() -> None:
    """The IPVS scenario's rr flow gives each pod exactly a third; the same traffic in
    iptables mode (statistic random) does not."""
    sc = load_scenario(WORLD / "ipvs-round-robin.yaml")
    assert not _failed(run(sc))
    name = "round robin gives every pod exactly a third"
    assert _failed(run(with_mode(sc, "iptables"))) == {name}


def test_removed_real_server_stays_at_weight_zero_until_drained() -> None:
    """graceful_termination.go: after roll-1 leaves the endpoints the client's node keeps its
    real server at weight 0 (its connections hold it: tcpTimeout 20 s) and tryDeleteRs
    (every 60 s) deletes it once they expired."""
    sc = load_scenario(WORLD / "ipvs-round-robin.yaml")
    world, _plan = build_world(sc, sc.seed)
    stage = world.net.nodes["node-3"].datapath.nf.ipvs

    def weight_of(address: str) -> int | None:
        for vs in stage.table().virtual_servers:
            for rs in vs.real_servers:
                if rs.address == address:
                    return rs.weight
        return None

    world.run(until=14.0)
    assert weight_of("10.244.1.31") == 0
    assert weight_of("10.244.1.41") == 1
    drained_at = max(c.expires_at for c in stage.conns_in.values()
                     if c.dest.address == "10.244.1.31")
    check = 60.0 * (drained_at // 60.0 + 1)  # the first tryDeleteRs after that
    world.run(until=check - 0.5)
    assert weight_of("10.244.1.31") == 0
    world.run(until=check + 0.5)
    assert weight_of("10.244.1.31") is None


def test_sync_duration_counts_member_and_server_changes() -> None:
    """The duration model: restore of the payload's rules, IPSET_EXEC_S per changed member,
    NETLINK_OP_S per changed server or address; the first sync counts everything."""
    backend = IPVSBackend(load_scenario(WORLD / "ipvs-round-robin.yaml").kube_proxy)
    restore = load_restore_model()

    def prog(members, servers, bound, rules=10):
        return IPVSProgram(None, rules, frozenset(), (), frozenset(members), None,
                           frozenset(servers), tuple(bound))

    first = prog({("S", "a"), ("S", "b")}, {("vs",), ("rs",)}, ["10.96.0.1"])
    assert backend.written(None, first, True) == 2 + 3
    expect = restore.duration_s(10) + 2 * IPSET_EXEC_S + 3 * NETLINK_OP_S
    assert backend.duration_s(restore, 5) == pytest.approx(expect)
    second = prog({("S", "a"), ("S", "c")}, {("vs",), ("rs",)}, ["10.96.0.1"])
    assert backend.written(first, second, False) == 2  # b removed, c added


def test_kube_proxy_cleanup_removes_virtual_servers_and_addresses() -> None:
    """restartKubeProxy with flush (kube-proxy --cleanup) flushes the IPVS table and unbinds
    kube-ipvs0's addresses: the cluster IP is no longer the node's."""
    sc = load_scenario(WORLD / "ipvs-round-robin.yaml")
    world, _plan = build_world(sc, sc.seed)
    nf = world.net.nodes["node-3"].datapath.nf
    vip = nf.ipvs.table().virtual_servers[0].address
    assert nf.addr_type(ip_int(vip)) == "LOCAL"
    world.kube_proxy_stop("node-3", flush=True)
    assert nf.ipvs.table().virtual_servers == ()
    assert nf.addr_type(ip_int(vip)) == "UNICAST"


def test_ipvs_runs_are_byte_identical(tmp_path) -> None:
    """Same scenario and seed in IPVS mode write identical manifest, metrics and connections
    (the stage has no randomness; its tables iterate in insertion order)."""
    from sim.scenario.results import write_results

    sc = with_mode(load_scenario(WORLD / "rolling-replacement.yaml"), "ipvs")
    dirs = [write_results(run(sc, seed=4), tmp_path / str(i)) for i in range(2)]
    for name in ("manifest.json", "metrics.csv", "connections.csv"):
        assert (dirs[0] / name).read_bytes() == (dirs[1] / name).read_bytes(), name
    assert dirs[0].name.endswith("-ipvs")


def test_run_refuses_a_scheduler_the_engine_does_not_model(tmp_path) -> None:
    """``mh`` (maglev, per-boot random hash keys) is not modelled: check_runnable names the
    field and its line instead of failing inside the run."""
    from sim.scenario.sections import check_runnable

    text = (WORLD / "ipvs-round-robin.yaml").read_text().replace("scheduler: rr", "scheduler: mh")
    text = text.replace("manifests/cluster.yaml", str(WORLD / "manifests" / "cluster.yaml"))
    path = tmp_path / "mh.yaml"
    path.write_text(text)
    (err,) = check_runnable(load_scenario(path))
    assert "spec.kubeProxy.ipvs.scheduler" in str(err) and '"mh"' in str(err)
    assert f"{path}:{text.splitlines().index('      scheduler: mh') + 1}:" in str(err)
