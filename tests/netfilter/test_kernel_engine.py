"""The engine and the real kernel agree on hand-written rules beyond kube-proxy's: statistic
nth, recent hitcount and expiry, goto/RETURN with MARK and SNAT, REJECT and DROP, policies,
NOTRACK, limit, connmark/CONNMARK, iprange, UDP, ICMP errors RELATED to a DNATed datagram,
the OUTPUT path.

One oracle cluster (``sim.oracle``): an outside client whose gateway is node-a, three pods on
node-a. Each case restores its rules on node-a, opens connections from the client to
node-a's address (or from node-a itself, OUTPUT path) and compares, connection by connection, which pod answered (or refused /
timed out) and the source address the pod saw with what the engine computes for the same
packets. Kernel results are kept in ``fixtures/kernel_engine.json`` for replay without root
(refresh with ``KNS_CAPTURE=1`` as root).
"""

from __future__ import annotations

import json
import os
import time
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


# name -> (rules, port, connections); see EXTRA for UDP and paused sequences
CASES: dict[str, tuple[str, int, int]] = {
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


CASES.update({
    "multiport-dnat": (f"""*nat
-A PREROUTING -d {NODE}/32 -p tcp -m multiport --dports 9010,9011:9012 {_dnat(2)}
COMMIT
""", 9011, 2),
    "reply-direction-dropped": (f"""*nat
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9005 {_dnat(1)}
COMMIT
*filter
-A FORWARD -m conntrack --ctstate ESTABLISHED --ctdir REPLY -j DROP
COMMIT
""", 9005, 2),
    "syn-ack-dropped-by-flags": (f"""*nat
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9006 {_dnat(1)}
COMMIT
*filter
-A FORWARD -p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK -j DROP
COMMIT
""", 9006, 1),
    "nat-walked-once-per-connection": (f"""*nat
:SVC - [0:0]
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9007 -j SVC
-A SVC -m statistic --mode nth --every 2 --packet 0 -j RETURN
-A SVC -p tcp {_dnat(3)}
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9007 {_dnat(1)}
COMMIT
""", 9007, 4),
    "notrack-skips-nat": (f"""*raw
-A PREROUTING -p tcp -m tcp --dport 9030 -j CT --notrack
COMMIT
*nat
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9030 {_dnat(1)}
COMMIT
""", 9030, 1),
    "limit-burst-then-drop": (f"""*nat
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9031 {_dnat(1)}
COMMIT
*filter
-A FORWARD -p tcp -m tcp --syn -m limit --limit 1/min --limit-burst 2 -j ACCEPT
-A FORWARD -p tcp -m tcp --syn -j DROP
COMMIT
""", 9031, 4),
    "connmark-selects-snat": (f"""*mangle
-A PREROUTING -p tcp -m tcp --dport 9032 -m conntrack --ctstate NEW -j CONNMARK --set-mark 0x7
COMMIT
*nat
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9032 {_dnat(2)}
-A POSTROUTING -m connmark --mark 0x7 -j SNAT --to-source {BRIDGE}
COMMIT
""", 9032, 2),
    # Before conntrack (raw) a packet has no entry: --ctstate INVALID matches it.
    "raw-sees-ctstate-invalid": (f"""*raw
-A PREROUTING -p tcp -m tcp --dport 9036 -m conntrack --ctstate INVALID -j DROP
COMMIT
*nat
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9036 {_dnat(1)}
COMMIT
""", 9036, 1),
    # RETURN in a chain entered by -g has no caller to return to: the hook's policy decides.
    "goto-return-falls-to-policy": (f"""*nat
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9037 {_dnat(1)}
COMMIT
*filter
:FORWARD DROP [0:0]
:X - [0:0]
-A FORWARD -p tcp -m tcp --dport 8080 -g X
-A FORWARD -j ACCEPT
-A X -j RETURN
COMMIT
""", 9037, 1),
    "iprange-picks-endpoint": (f"""*nat
-A PREROUTING -d {NODE}/32 -p tcp -m iprange --src-range 203.0.113.1-203.0.113.9 -m tcp --dport 9033 {_dnat(3)}
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9033 {_dnat(1)}
COMMIT
""", 9033, 1),
})

# name -> (rules, proto, port, [(connections, pause after them in seconds)])
TIMED: dict[str, tuple[str, str, int, list[tuple[int, float]]]] = {
    "recent-seconds-expire": (f"""*nat
-A PREROUTING -d {NODE}/32 -p tcp -m tcp --dport 9008 {_dnat(1)}
COMMIT
*filter
-A FORWARD -p tcp -m conntrack --ctstate NEW -m recent --rcheck --seconds 1 --name W -j REJECT
-A FORWARD -p tcp -m conntrack --ctstate NEW -m recent --set --name W
COMMIT
""", "tcp", 9008, [(2, 1.6), (2, 0.0)]),
    "udp-dnat-and-reply": (f"""*nat
-A PREROUTING -d {NODE}/32 -p udp -m udp --dport 9009 -j DNAT --to-destination 10.244.1.3:5353
COMMIT
""", "udp", 9009, [(2, 0.0)]),
    # No listener on 5354: the pod's ICMP port unreachable is RELATED to the datagram's
    # connection, un-NATed on its way back (the client's socket gets ECONNREFUSED) unless a
    # rule drops RELATED packets; anything not RELATED is dropped.
    "udp-closed-port-error-is-related": (f"""*nat
-A PREROUTING -d {NODE}/32 -p udp -m udp --dport 9034 -j DNAT --to-destination 10.244.1.2:5354
COMMIT
*filter
-A FORWARD -m conntrack --ctstate RELATED -j ACCEPT
-A FORWARD -p icmp -j DROP
COMMIT
""", "udp", 9034, [(2, 0.0)]),
    "udp-closed-port-error-related-dropped": (f"""*nat
-A PREROUTING -d {NODE}/32 -p udp -m udp --dport 9035 -j DNAT --to-destination 10.244.1.2:5354
COMMIT
*filter
-A FORWARD -m conntrack --ctstate RELATED -j DROP
COMMIT
""", "udp", 9035, [(1, 0.0)]),
}
# The UDP ports the pods listen on (the cluster fixture's PodSpec); others answer ICMP.
UDP_LISTEN = {5353}


# Connections opened by the node itself (OUTPUT path): name -> (rules, destination, port, n)
LOCAL: dict[str, tuple[str, str, int, int]] = {
    "output-dnat-then-masquerade-to-bridge": ("""*nat
-A OUTPUT -d 10.96.0.50/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.3:8080
-A POSTROUTING -m addrtype --src-type LOCAL -o cni0 -j MASQUERADE
COMMIT
""", "10.96.0.50", 80, 2),
    "output-dnat-keeps-node-address": ("""*nat
-A OUTPUT -d 10.96.0.52/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.4:8080
COMMIT
""", "10.96.0.52", 80, 1),
    "output-reject": ("""*filter
-A OUTPUT -d 10.96.0.51/32 -p tcp -j REJECT
COMMIT
""", "10.96.0.51", 80, 1),
}


def _connect_local(nf: NodeNetfilter, sport: int, dst: str, port: int, now: float,
                   rng) -> str:
    """The node's own TCP connection: SYN out, SYN-ACK back from the pod, ACK out."""
    first = nf.output(Packet("tcp", NODE, dst, sport, port, "S"), now, rng)
    if first.verdict is not Verdict.NF_ACCEPT:
        return "refused" if first.verdict is Verdict.REJECT else "timeout"
    p = first.packet
    answer = nf.prerouting(Packet("tcp", p.dst, p.src, p.dport, p.sport, "SA"), now, rng,
                           "cni0")
    if not (answer.accepted and answer.local
            and (answer.packet.src, answer.packet.dst) == (dst, NODE)):
        return "timeout"
    if not nf.output(Packet("tcp", NODE, dst, sport, port, "A"), now, rng).accepted:
        return "timeout"
    return f"ok {PODS.get(p.dst, p.dst)} from {p.src}"


def _connect(nf: NodeNetfilter, proto: str, sport: int, port: int, now: float, rng) -> str:
    """One connection as the kernel sees it: the client's first packet, the pod's answer
    (reply direction, arriving on cni0), and for TCP the client's ACK."""
    tcp = proto == "tcp"
    first = nf.prerouting(Packet(proto, CLIENT, NODE, sport, port, "S" if tcp else ""), now,
                          rng, "eth0")
    if first.verdict is Verdict.REJECT:
        return "refused"
    if first.verdict is Verdict.NF_DROP:
        return "timeout"
    if first.local:
        return "refused"  # nothing listens on the node itself
    p = first.packet
    if not tcp and p.dport not in UDP_LISTEN:
        # The pod's ICMP port unreachable quoting the datagram it received.
        err = nf.prerouting(Packet("icmp", p.dst, p.src, 0, 0, "", icmp_type=3,
                                   inner=(proto, p.src, p.sport, p.dst, p.dport)),
                            now, rng, "cni0")
        if err.accepted and (err.packet.src, err.packet.dst, err.packet.inner) == (
                NODE, CLIENT, (proto, CLIENT, sport, NODE, port)):
            return "refused"
        return "timeout"
    answer = nf.prerouting(Packet(proto, p.dst, p.src, p.dport, p.sport, "SA" if tcp else ""),
                           now, rng, "cni0")
    if not answer.accepted or (answer.packet.dst, answer.packet.dport) != (CLIENT, sport):
        return "timeout"
    if tcp and not nf.prerouting(Packet(proto, CLIENT, NODE, sport, port, "A"), now, rng,
                                 "eth0").accepted:
        return "timeout"
    return f"ok {PODS.get(p.dst, p.dst)} from {p.src}"


def _node() -> NodeNetfilter:
    return NodeNetfilter(None, [NODE, BRIDGE],
                         route=lambda dst: Route("cni0", BRIDGE) if dst.startswith("10.244.1.")
                         else Route("eth0", NODE))


def _engine(name: str) -> list[str]:
    if name in LOCAL:
        rules, dst, port, count = LOCAL[name]
        nf = _node()
        nf.load(ruleset(rules))
        rng = np.random.default_rng(0)
        return [_connect_local(nf, 40000 + k, dst, port, 0.01 * k, rng) for k in range(count)]
    if name in TIMED:
        rules, proto, port, batches = TIMED[name]
    else:
        rules, port, count = CASES[name]
        proto, batches = "tcp", [(count, 0.0)]
    nf = _node()
    nf.load(ruleset(rules))
    rng = np.random.default_rng(0)
    out, now, k = [], 0.0, 0
    for count, pause in batches:
        for _ in range(count):
            out.append(_connect(nf, proto, 40000 + k, port, now, rng))
            k += 1
            now += 0.01
        now += pause
    return out


@pytest.fixture(scope="module")
def cluster():
    from sim.oracle import ClientSpec, ClusterSpec, KernelCluster, NodeSpec, PodSpec, skip_reason

    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    spec = ClusterSpec(
        nodes=(NodeSpec("node-a", NODE, "10.244.1.0/24"),),
        pods=tuple(PodSpec(name, "node-a", ip, (("tcp", 8080), ("udp", 5353)))
                   for ip, name in PODS.items()),
        clients=(ClientSpec("ext", (CLIENT,), "node-a"),))
    with KernelCluster(spec) as kc:
        yield kc


ALL = sorted(CASES) + sorted(TIMED) + sorted(LOCAL)


@pytest.mark.kernel
@pytest.mark.parametrize("name", ALL)
def test_engine_agrees_with_kernel(name: str, cluster) -> None:
    """Connection by connection: same pod (or refused / timed out), same source seen."""
    source, dst = "ext", NODE
    if name in LOCAL:
        rules, dst, port, count = LOCAL[name]
        source, proto, batches = "node-a", "tcp", [(count, 0.0)]
    elif name in TIMED:
        rules, proto, port, batches = TIMED[name]
    else:
        rules, port, count = CASES[name]
        proto, batches = "tcp", [(count, 0.0)]
    # Empty blocks delete every table first, filter policies back to ACCEPT: nothing of an
    # earlier case survives.
    cluster.restore("node-a", "*raw\nCOMMIT\n*mangle\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n"
                    ":FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n*nat\nCOMMIT\n")
    cluster.restore("node-a", rules)
    cluster.flush_conntrack("node-a")
    cluster.clear_recent("node-a")
    kernel = []
    for count, pause in batches:
        for r in cluster.probe(source, dst, port, proto=proto, count=count, timeout_s=0.5):
            kernel.append(f"ok {r.pod} from {r.peer_ip}" if r.status == "ok" else r.status)
        time.sleep(pause)
    if CAPTURE:
        data = json.loads(FIXTURE.read_text()) if FIXTURE.exists() else {}
        data[name] = kernel
        FIXTURE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    assert _engine(name) == kernel


@pytest.mark.parametrize("name", ALL)
def test_engine_agrees_with_captured_kernel(name: str) -> None:
    """Replay of the kernel's answers captured above."""
    assert _engine(name) == json.loads(FIXTURE.read_text())[name]
