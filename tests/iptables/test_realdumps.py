"""Real nodes' dumps (``tests/iptables/realdumps``, sources in its README) load and trace:
each ``# trace:`` line reaches exactly the backends it names, each with its probability.
A dump whose rules match ipsets is traced with the ``ipset save`` file beside it
(``<name>.ipsets``)."""

from __future__ import annotations

import json
import shlex
from fractions import Fraction
from pathlib import Path

import pytest

from sim.cli import main
from sim.iptables.extensions import MATCHES

DUMPS = Path(__file__).with_name("realdumps")
ROOT = Path(__file__).resolve().parents[2]


def _cases():
    out = []
    for path in sorted(DUMPS.glob("*.rules")):
        head = [ln for ln in path.read_text().splitlines() if ln.startswith("#")]
        needs = [ln.split(":", 1)[1].strip() for ln in head if ln.startswith("# needs:")]
        for i, ln in enumerate(x for x in head if x.startswith("# trace:")):
            args, _, want = ln.split(":", 1)[1].partition("=>")
            out.append(pytest.param(path, shlex.split(args), want.split()[0].split(","), needs,
                                    id=f"{path.stem}-{i}"))
    return out


def test_corpus_covers_the_cnis_of_the_issue():
    """The corpus has a dump for each CNI/tool the issue names."""
    names = {p.stem for p in DUMPS.glob("*.rules")}
    assert {"calico", "cilium-kube-proxy", "flannel", "weave", "aws-vpc-cni", "gke", "k3s",
            "kind", "docker"} <= names


@pytest.mark.parametrize("path,args,want,needs", _cases())
def test_dump_traces_to_its_backends(path, args, want, needs, capsys):
    """The traced packet reaches the named backends, uniformly, and is accepted."""
    assert all(m in MATCHES for m in needs), f"{path.name} needs {needs}"
    ipsets = path.with_suffix(".ipsets")
    extra = ["--ipsets", str(ipsets)] if ipsets.exists() else []
    assert main(["trace", "--rules", str(path), *extra, *args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    got = [o for o in data["outcomes"] if not o["conditions"]]
    assert sorted(o["destination"] for o in got) == sorted(want)
    assert all(o["verdict"] == "ACCEPT" for o in got)
    assert sum(Fraction(o["probability_exact"]) for o in got) == 1


def test_affinity_dump_keeps_its_json_shape(capsys):
    """Conditional (affinity) branches: probability and probability_exact are null and
    conditions name the recent list; the unconditional branches sum to exactly 1."""
    dump = ROOT / "scenarios" / "dumps" / "affinity-node-1.iptables-save"
    assert main(["trace", "--rules", str(dump), "--src", "10.244.3.30", "--dst", "10.105.54.37",
                 "--dport", "80", "--local-ip", "192.168.0.11", "--json"]) == 0
    outcomes = json.loads(capsys.readouterr().out)["outcomes"]
    plain = [o for o in outcomes if not o["conditions"]]
    cond = [o for o in outcomes if o["conditions"]]
    assert len(plain) == 4 and len(cond) == 4
    assert sum(Fraction(o["probability_exact"]) for o in plain) == 1
    assert all(o["probability"] is None and o["probability_exact"] is None for o in cond)
    assert all("recent list" in o["conditions"][0] for o in cond)
    assert {o["destination"] for o in cond} == {o["destination"] for o in plain}
