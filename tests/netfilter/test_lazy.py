"""Compiling chains when a packet first enters them (``compile_lazy``, what ``trace_packet``
uses) gives the outcomes of the eager compilation: on random rulesets and packets
(hypothesis, with statistic nth, recent, limit and nfacct), on a kube-proxy node's rules, and
for chains nested deeper than Python's stack; chains the packet never enters are never
compiled."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sim.iptables import apply_payload, parse_restore
from sim.model.packet import Packet
from sim.netfilter import trace_packet
from sim.netfilter.lazy import LazyCompiledRuleset, compile_lazy

from tests.netfilter.conftest import NODE1_BRIDGE, NODE1_IP, RULES, ruleset
from tests.netfilter.test_fast_path import packet, ruleset_text


def _outcomes(rs, pkt: Packet, local_out: bool, lazy: bool) -> list:
    out = trace_packet(rs, ["192.168.0.11"], pkt, local_out=local_out, in_iface="eth0",
                       lazy=lazy)
    return [(o.to_json(), o.result.logs, o.result.hooks) for o in out]


@given(text=ruleset_text(), pkt=packet, local_out=st.booleans())
def test_lazy_trace_equals_eager_trace_on_random_rulesets(text: str, pkt: Packet,
                                                          local_out: bool) -> None:
    """Every branch (verdict, NAT, trail, walk length, probability, logs, hooks) is the
    same with lazy and eager compilation."""
    rs = apply_payload(parse_restore(text))
    assert _outcomes(rs, pkt, local_out, True) == _outcomes(rs, pkt, local_out, False)


def test_lazy_trace_equals_eager_trace_on_a_kube_proxy_node() -> None:
    """A Service with endpoints on a kube-proxy node: the same branches both ways, from a
    pod and from the node itself."""
    rs = ruleset((RULES / "node1.save").read_text())
    for local_out, src in ((False, "10.244.1.20"), (True, NODE1_IP)):
        for dst, dport in (("10.96.0.10", 53), ("10.96.0.1", 443)):
            pkt = Packet("tcp", src, dst, 40000, dport, "S")
            lazy = trace_packet(rs, [NODE1_IP, NODE1_BRIDGE], pkt, local_out=local_out,
                                in_iface="cni0")
            eager = trace_packet(rs, [NODE1_IP, NODE1_BRIDGE], pkt, local_out=local_out,
                                 in_iface="cni0", lazy=False)
            assert [o.to_json() for o in lazy] == [o.to_json() for o in eager]


def test_nth_counters_of_lazily_compiled_chains_restart_for_every_branch() -> None:
    """A chain compiled in the first branch has its statistic nth counter reset for the
    next branches, as the eager compilation resets it: every branch sees the first
    evaluation."""
    text = ("*nat\n:SVC - [0:0]\n:NTH - [0:0]\n"
            "-A PREROUTING -j SVC\n"
            "-A SVC -m statistic --mode random --probability 0.5 -j NTH\n"
            "-A SVC -j NTH\n"
            "-A NTH -p tcp -m statistic --mode nth --every 2 --packet 0 "
            "-j DNAT --to-destination 10.0.0.9:80\n"
            "COMMIT\n")
    rs = apply_payload(parse_restore(text))
    pkt = Packet("tcp", "10.1.0.1", "10.0.0.1", 1000, 80, "S")
    lazy = _outcomes(rs, pkt, False, True)
    assert lazy == _outcomes(rs, pkt, False, False)
    assert [o["destination"] for o, _, _ in lazy] == ["10.0.0.9:80", "10.0.0.9:80"]


def test_chains_the_packet_never_enters_are_not_compiled() -> None:
    """Only the chains on the packet's path get rules compiled; the others stay shells."""
    lines = ["*nat", ":KUBE-SERVICES - [0:0]"] + [f":SVC{i} - [0:0]" for i in range(50)]
    lines += ["-A PREROUTING -j KUBE-SERVICES"]
    lines += [f"-A KUBE-SERVICES -d 10.96.0.{i} -p tcp --dport 80 -j SVC{i}" for i in range(50)]
    lines += [f"-A SVC{i} -p tcp -j DNAT --to-destination 10.0.1.{i}:8080" for i in range(50)]
    rs = apply_payload(parse_restore("\n".join(lines + ["COMMIT", ""])))
    compiled = compile_lazy(rs)
    assert isinstance(compiled, LazyCompiledRuleset) and not compiled.shareable
    from sim.netfilter.tracer import _ScriptedNode

    node = _ScriptedNode(rs, ["192.168.0.11"], None, True)
    out = trace_packet(rs, ["192.168.0.11"], Packet("tcp", "10.1.0.1", "10.96.0.7", 1000, 80,
                                                    "S"), local_out=False)
    assert out[0].destination == "10.0.1.7:8080"
    node.prerouting(Packet("tcp", "10.1.0.1", "10.96.0.7", 1000, 80, "S"), 0.0, None)
    compiled_chains = {cr.chain for cr in node.compiled.rules}
    assert compiled_chains == {"PREROUTING", "KUBE-SERVICES", "SVC7"}


def test_chains_nested_deeper_than_the_stack_are_traced_eagerly() -> None:
    """A packet that goes 1,500 chains deep (deeper than the lazy fast path's Python stack)
    is traced again with the eager compilation (reference walk): the same outcome."""
    n = 1500
    lines = ["*filter"] + [f":C{i} - [0:0]" for i in range(n)]
    lines += [f"-A C{i} -j C{i + 1}" for i in range(n - 1)] + [f"-A C{n - 1} -j DROP"]
    rs = apply_payload(parse_restore("\n".join(lines + ["-A INPUT -j C0", "COMMIT", ""])))
    pkt = Packet("tcp", "10.1.0.1", "192.168.0.11", 1000, 80, "S")
    lazy = _outcomes(rs, pkt, False, True)
    assert lazy == _outcomes(rs, pkt, False, False)
    assert lazy[0][0]["verdict"] == "DROP" and lazy[0][0]["walk_length"] == n + 1
