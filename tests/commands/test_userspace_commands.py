"""``rules`` and ``trace`` in userspace mode: the portal rules and the proxy's choice."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sim.cli import main
from sim.commands.options import with_mode
from sim.scenario.runner import run
from sim.scenario.spec import load_scenario

ROOT = Path(__file__).resolve().parents[2]
AFFINITY = ROOT / "scenarios" / "userspace" / "affinity.yaml"
ROUND_ROBIN = ROOT / "scenarios" / "userspace" / "round-robin.yaml"


def _ports(text: str) -> set[int]:
    return {int(p) for p in re.findall(r"--to-ports (\d+)", text)}


def test_rules_default_to_iptables_save_form(capsys):
    """In userspace mode ``rules`` prints the nat table as iptables-save shows it."""
    assert main(["rules", str(ROUND_ROBIN), "--mode", "userspace", "--node", "node-3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("*nat\n:PREROUTING ACCEPT [0:0]")
    assert "-A KUBE-PORTALS-CONTAINER -d " in out and "-j REDIRECT --to-ports" in out
    assert "-j DNAT --to-destination 192.168.49.4:" in out


def test_rules_ports_follow_the_seed(capsys):
    """Same seed, same proxy ports; another seed, other ports; per node streams differ."""
    def ports(*extra):
        main(["rules", str(ROUND_ROBIN), "--mode", "userspace", *extra])
        return _ports(capsys.readouterr().out)
    assert ports("--seed", "1") == ports("--seed", "1")
    assert ports("--seed", "1") != ports("--seed", "2")
    assert ports("--node", "node-1") != ports("--node", "node-2")


def test_rules_match_the_world_at_start(capsys):
    """The ports ``rules`` prints are the sockets a run with that seed opens."""
    sc = with_mode(load_scenario(ROUND_ROBIN), "userspace")
    result = run(sc)
    assert result.stats["compiles"] > 0
    main(["rules", str(ROUND_ROBIN), "--mode", "userspace", "--node", "node-2"])
    printed = _ports(capsys.readouterr().out)
    from sim.world.userspace import proxy_ports_for
    state = sc.state()
    assert printed == set(proxy_ports_for(state, "node-2", state.kube_proxy, sc.seed).values())


def test_rules_port_range(tmp_path, capsys):
    """``spec.kubeProxy.portRange`` bounds the proxy ports."""
    text = ROUND_ROBIN.read_text().replace("    clusterCIDR: 10.244.0.0/16",
                                           "    clusterCIDR: 10.244.0.0/16\n    portRange: 40000-40009")
    text = text.replace("../world/manifests", str(ROOT / "scenarios" / "world" / "manifests"))
    path = tmp_path / "ranged.yaml"
    path.write_text(text)
    assert main(["rules", str(path), "--mode", "userspace"]) == 0
    assert all(40000 <= p <= 40009 for p in _ports(capsys.readouterr().out))


def test_rules_commands_format(capsys):
    """``--format commands`` lists one iptables process per rule; iptables mode refuses it."""
    assert main(["rules", str(ROUND_ROBIN), "--mode", "userspace", "--format", "commands"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "iptables -t nat -N KUBE-NODEPORT-CONTAINER"
    assert sum(1 for x in lines if " -C " in x) == sum(1 for x in lines if re.search(" -[AI] ", x))
    assert main(["rules", str(ROUND_ROBIN), "--format", "commands"]) == 1
    assert 'Unsupported value: "commands"' in capsys.readouterr().err
    assert main(["rules", str(ROUND_ROBIN), "--mode", "userspace", "--format", "nft"]) == 1
    assert 'supported values in userspace mode: "save", "restore", "commands"' in capsys.readouterr().err


def test_trace_shows_redirect_then_the_proxys_choice(capsys):
    """The trace ends at the proxy port on the pod bridge's address; the proxy section gives
    the cycle and the endpoint the cursor gives next, which is where the world's first
    connection of that client went (round robin: the cycle, in order)."""
    sc = with_mode(load_scenario(ROUND_ROBIN), "userspace")
    state = sc.state()
    vip = state.service("default", "web").cluster_ip
    assert main(["trace", str(ROUND_ROBIN), "--mode", "userspace", "--node", "node-3",
                 "--from-pod", "client", "--dst", vip, "--dport", "80", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (outcome,) = doc["outcomes"]
    assert outcome["destination"].startswith("10.244.3.1:")
    (proxy,) = doc["proxy"]
    assert proxy["service"] == "default/web:" and proxy["cursor"] == 0
    ips = {p.pod_ip: p.key for p in state.pods}
    served = [c.server for c in run(sc).recorder.connections if c.flow == "load"][:4]
    assert served == [ips[e.split(":")[0]] for e in proxy["cycle"]]
    assert proxy["choice"] == proxy["cycle"][0]


def test_trace_affinity_names_the_pinned_endpoint(capsys):
    """With ClientIP affinity the text names the endpoint the client is pinned to."""
    state = with_mode(load_scenario(AFFINITY), "userspace").state()
    vip = state.service("default", "web").cluster_ip
    main(["trace", str(AFFINITY), "--mode", "userspace", "--node", "node-3", "--from-pod",
          "client", "--dst", vip, "--dport", "80"])
    out = capsys.readouterr().out
    assert "sessionAffinity ClientIP" in out
    assert re.search(r"client 10\.244\.3\.30 is pinned to 10\.244\.1\.14:8080 for 60 s", out)


@pytest.mark.parametrize("fmt", ["restore", "save"])
def test_iptables_mode_rules_unchanged(fmt, capsys):
    """The iptables mode's formats still work with the new option defaults."""
    assert main(["rules", str(ROUND_ROBIN), "--format", fmt]) == 0
    assert "KUBE-SERVICES" in capsys.readouterr().out


def test_rules_restore_and_stats(capsys):
    """``--format restore`` is a --noflush payload of the four chains; ``--stats`` counts the
    nat rules and the proxy sockets."""
    assert main(["rules", str(ROUND_ROBIN), "--mode", "userspace", "--format", "restore"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("*nat\n:KUBE-NODEPORT-CONTAINER - [0:0]") and out.endswith("COMMIT\n")
    assert main(["rules", str(ROUND_ROBIN), "--mode", "userspace", "--stats"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["nat", "4", "6", "1"]
