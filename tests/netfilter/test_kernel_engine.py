"""The engine and the real kernel agree on hand-written rules beyond kube-proxy's: statistic
nth, recent hitcount, goto/RETURN with MARK and SNAT, REJECT and DROP, policies.

One oracle cluster (``sim.oracle``): an outside client whose gateway is node-a, three pods on
node-a. Each case restores its rules on node-a, opens connections from the client to
node-a's address and compares, connection by connection, which pod answered (or refused /
timed out) and the source address the pod saw with what the engine computes for the same
packets. Kernel results are kept in ``fixtures/kernel_engine.json`` for replay without root
(refresh with ``KNS_CAPTURE=1`` as root).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from sim.model.packet import Packet
from sim.netfilter import NodeNetfilter, Route, Verdict
from tests.netfilter.conftest import ruleset

FIXTURE = Path(__file__).parent / "fixtures" / "kernel_engine.json"
CAPTURE = os.environ.get("KNS_CAPTURE") == "1"
NODE, BRIDGE, CLIENT = "192.168.0.2", "10.244.1.1", "203.0.113.7"
PODS = {"10.244.1.2": "p1", "10.244.1.3": "p2", "10.244.1.4": "p3"}


def _dnat(n: int) -> str:
    return f"-j DNAT --to-destination 10.244.1.{n + 1}:8080"


CASES: dict[str, tuple[str, int, int]] = {  # name -> (rules, port, connections)
    "nth-round-robin": (f"""*nat
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9000 -m statistic --mode nth --every 3 --packet 0 {_dnat(1)}
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9000 -m statistic --mode nth --every 2 --packet 1 {_dnat(2)}
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9000 {_dnat(3)}
COMMIT
""", 9000, 7),
    "recent-hitcount-rejects": (f"""*nat
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9001 {_dnat(1)}
COMMIT
*filter
-A FORWARD -p tcp -m conntrack --ctstate NEW -m recent --update --seconds 60 --hitcount 3 --name RL -j REJECT --reject-with tcp-reset
-A FORWARD -p tcp -m conntrack --ctstate NEW -m recent --set --name RL
COMMIT
""", 9001, 5),
    "goto-return-mark-snat": (f"""*mangle
:M1 - [0:0]
:M2 - [0:0]
-A PREROUTING -p tcp -m tcp --dport 9002 -j M1
-A PREROUTING -m mark --mark 0x1 -j MARK --or-mark 0x10
-A M1 -s {CLIENT}/32 -g M2
-A M1 -j MARK --set-mark 0x2
-A M2 -j MARK --set-mark 0x1
COMMIT
*nat
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9002 {_dnat(2)}
-A POSTROUTING -m mark --mark 0x11 -j SNAT --to-source {BRIDGE}
COMMIT
""", 9002, 2),
    "reject-port-unreachable-then-policy-drop": (f"""*nat
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9003 {_dnat(3)}
COMMIT
*filter
:FORWARD DROP [0:0]
:U - [0:0]
-A FORWARD -j U
-A FORWARD -p tcp -m statistic --mode nth --every 2 --packet 1 -j REJECT
-A U -p udp -j ACCEPT
-A U -j RETURN
COMMIT
""", 9003, 4),
    "masquerade-to-bridge": (f"""*nat
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9004 {_dnat(1)}
-A POSTROUTING -o cni0 -j MASQUERADE
COMMIT
""", 9004, 2),
}


def _status(res) -> str:
    if res.verdict is Verdict.NF_DROP:
        return "timeout"
    if res.verdict is Verdict.REJECT:
        return "refused"
    return f"ok {PODS.get(res.packet.dst, res.packet.dst)} from {res.packet.src}"


def _engine(name: str) -> list[str]:
    rules, port, count = CASES[name]
    nf = NodeNetfilter(ruleset(rules), [NODE, BRIDGE],
                       route=lambda dst: Route("cni0", BRIDGE) if dst.startswith("10.244.1.")
                       else Route("eth0", NODE))
    rng = np.random.default_rng(0)
    return [_status(nf.prerouting(Packet("tcp", CLIENT, NODE, 40000 + k, port), float(k), rng,
                                  "eth0")) for k in range(count)]


@pytest.fixture(scope="module")
def cluster():
    from sim.oracle import ClientSpec, ClusterSpec, KernelCluster, NodeSpec, PodSpec, skip_reason

    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    spec = ClusterSpec(
        nodes=(NodeSpec("node-a", NODE, "10.244.1.0/24"),),
        pods=tuple(PodSpec(name, "node-a", ip, (("tcp", 8080),)) for ip, name in PODS.items()),
        clients=(ClientSpec("ext", (CLIENT,), "node-a"),))
    with KernelCluster(spec) as kc:
        yield kc


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(CASES))
def test_engine_agrees_with_kernel(name: str, cluster) -> None:
    """Connection by connection: same pod (or refused / timed out), same source seen."""
    rules, port, count = CASES[name]
    cluster.restore("node-a", rules)
    cluster.flush_conntrack("node-a")
    cluster.clear_recent("node-a")
    kernel = []
    for r in cluster.probe("ext", NODE, port, count=count, timeout_s=0.5):
        kernel.append(f"ok {r.pod} from {r.peer_ip}" if r.status == "ok" else r.status)
    if CAPTURE:
        data = json.loads(FIXTURE.read_text()) if FIXTURE.exists() else {}
        data[name] = kernel
        FIXTURE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    assert _engine(name) == kernel


@pytest.mark.parametrize("name", sorted(CASES))
def test_engine_agrees_with_captured_kernel(name: str) -> None:
    """Replay of the kernel's answers captured above."""
    assert _engine(name) == json.loads(FIXTURE.read_text())[name]
