"""The netfilter engine: runs any iptables ruleset and any nft ruleset on simulated packets
like Linux does.

Model
    One :class:`NodeNetfilter` per node holds the node's iptables tables (a
    :class:`~sim.iptables.ruleset.Ruleset`), its nft ruleset (an
    :class:`~sim.nftables.NftRuleset`, ``nft=`` / :meth:`NodeNetfilter.load_nft`), its
    conntrack table, its ``recent`` lists, and per-rule counters. Both languages register on
    ONE hook pipeline per node (:mod:`sim.netfilter.pipeline`), traversed in the kernel's
    priority order: iptables raw -300, conntrack -200, mangle -150, NAT -100 / 100, filter 0,
    nft base chains at their own priorities; the nat chains of both languages run behind one
    NAT entry per hook, in priority order, until one sets up the connection's mapping
    (``nf_nat_inet_fn``). ``nf.hook_entries()`` lists what runs where. Modules import in one
    direction (checked by import-linter): ``types`` < ``addresses``, ``conntrack``,
    ``recent`` < ``context`` (one packet's state and the shared actions) < ``compiled``
    (iptables) | ``nft`` (nftables) < ``pipeline`` < ``engine`` < ``tracer``.
    Stable API (used by ``sim.world`` and the kernel oracle)::

        from sim.iptables import apply_payload, parse_restore
        from sim.netfilter import NodeNetfilter, Route, Verdict

        nf = NodeNetfilter(ruleset, ["192.168.0.11", "10.244.1.1"],   # primary address first
                           conntrack_max=262144, config=kube_proxy_config,
                           route=lambda dst: Route("eth0", "192.168.0.11"))
        res = nf.prerouting(packet, now, rng, in_iface="eth0")  # arriving packet
        res = nf.output(packet, now, rng)                        # locally generated packet
        action, out, local, walk = nf.prerouting_verdict(packet, now, rng, "eth0")  # no
        nf.output_verdict(packet, now, rng)     # Result built: what a simulation needs
        res.verdict            # Verdict.NF_ACCEPT / NF_DROP / REJECT (res.reject_with)
        res.packet             # after DNAT / SNAT / MASQUERADE / reply un-NAT / MARK
        res.local              # delivered to the node itself (INPUT ran)
        res.masqueraded, res.dnat, res.snat, res.ctstate, res.direction, res.conntrack
        res.trail              # TraceStep(table, chain, rule_number, text, kind)
        res.walk_length        # rules a kernel would have evaluated
        nf.load(new_ruleset)   # atomic swap; conntrack and recent lists survive
        other.adopt(nf.compiled)   # share one compilation (if nf.compiled.shareable)
        nf = NodeNetfilter(ruleset, addrs, ipsets=sim.ipset.parse_restore(ipset_save_text))
        nf.ipsets.load(new_sets)   # -m set membership changes without reloading the rules
        nf.flush_conntrack(); nf.conntrack_entries(now); nf.counters()  # Ruleset with counters

    Time (``now``, float seconds) and randomness (``rng``, a ``numpy.random.Generator``) are
    arguments. ``statistic --mode random`` matches when ``u * 2**31 < P31`` where ``u`` is the
    generator's next ``random()`` value and P31 the kernel's 31-bit probability, i.e. with the
    kernel's exact probability. The engine draws from ``rng`` in blocks: give each engine a
    generator of its own (as the world does, one stream per node) and the values it uses are
    exactly the generator's, in order; a generator shared with other code or other engines
    still gives deterministic but different draws.
    :func:`trace_packet` compiles each chain when the packet first enters it
    (:mod:`sim.netfilter.lazy`: a million-rule dump compiles a few dozen chains) and
    enumerates every branch that ``statistic`` (and ``recent``) creates,
    each an :class:`Outcome` with its exact probability (``fractions.Fraction(P31, 2**31)``
    products; ``None`` for "client already pinned" branches) and the engine ``Result``.
    A SYN on a connection in TIME_WAIT/CLOSE starts a new connection (new NAT), as the
    kernel's TCP tracker does. nft: ``numgen random mod N`` takes ``reciprocal_scale`` of a
    32-bit value from the same draws (:func:`numgen_probability` gives each value's exact
    probability, which the tracer reports); ``update @set`` adds to the engine-owned ruleset's
    dynamic sets (element expiry in the engine's clock); the walk length counts the rules
    evaluated plus the set and map lookups made.
    In IPVS proxy mode a node also has an IPVS stage (:mod:`sim.netfilter.ipvs`, attached with
    ``sim.netfilter.ipvs.attach``): virtual servers, the kernel's schedulers and its own
    connection table at the hooks ``ip_vs_core.c`` uses (not kernel-verified: no IPVS here).
Scope and limitations
    IPv4. No routing table beyond "local address or not" plus the caller's ``route``
    function; no fragments (``-f`` never matches), no TCP options, no ICMP error generation
    (REJECT is a verdict). An ICMP error given to the engine (``Packet.inner`` quoting the
    packet it reports on) is RELATED to that packet's connection and translated with it, or
    INVALID (``nf_conntrack_inet_error``). The TCP state machine is reduced to
    SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE with the
    kernel's default timeouts (established / close-wait from ``KubeProxyConfig.conntrack``);
    window tracking is not modelled (``nf_conntrack_tcp_loose`` = 1 semantics: a non-SYN
    packet without an entry starts one; an RST without an entry is INVALID). DNAT/SNAT
    ranges use their first address; source ports are kept unless taken (then, and always
    with ``--random-fully``, another port in 1024-65535 is chosen). ``recent --rttl``
    ignores the TTL. Only the IPv4 ``filter``, ``nat``, ``mangle`` and ``raw`` tables exist.
    nft: ``ip`` and ``inet`` tables run (``ip6`` tables load but see no IPv4 packet);
    ``type route`` chains re-route at OUTPUT; equal priorities run iptables tables before
    nft chains (registration order: a node's iptables tables come first); the trail names
    an nft rule by ``family table``, chain and position. NAT statements outside nat chains,
    flowtables, named objects and ``ct helper`` are not modelled (refused when parsed).
Validation
    Against the real kernel: the ``iptables-save`` rendering of every supported option
    (``tests/iptables``); hand-written rules beyond kube-proxy's (statistic nth, recent
    hitcount and expiry, goto/RETURN/MARK/SNAT, REJECT, policies, OUTPUT-path DNAT and
    MASQUERADE) connection by connection (``tests/netfilter/test_kernel_engine.py``);
    connection outcomes (which pod answered, refused, timed out, source
    seen), nat/filter rules hit (kernel counter diffs) and conntrack entries through real
    namespaces are compared with the engine by the kernel oracle (``sim.oracle``,
    ``tests/kernel``, with captured fixtures replayed everywhere). The reference outcomes of
    the oracle notes are pinned on a real-format node dump (``tests/netfilter``). The fast
    path (one generated function per chain, chain indexes) equals the linear reference walk
    on random raw/mangle/filter/nat rulesets and packet sequences with replies, ICMP errors
    and the OUTPUT path, with ``-m set`` lookups (hypothesis, ``tests/netfilter/test_fast_path.py``).
    ``-m set`` per rule counters equal the kernel's over every modelled set type
    (``tests/ipset/test_kernel_ipset.py``).
    nft: the fast
    path (generated chain functions, specialised ops) equals the reference walk (each
    statement interpreted) on random nft rulesets beside iptables tables, including set
    contents (``tests/netfilter/test_nft_fast_path.py``); upstream's TestOverallNFTablesRules
    table gives upstream's packet-flow outcomes and the mixed pipeline runs in priority order
    (``tests/netfilter/test_nft_engine.py``); kube-proxy's nftables transaction loaded with
    the real ``nft -f`` into the oracle namespaces gives the engine's outcomes and conntrack
    entries on every world scenario, ClientIP affinity pins and expires as in the kernel
    (``tests/kernel/test_nft_scenarios_kernel.py``; captures replayed without root in
    ``tests/kernel/test_nft_replay.py``).
"""

from sim.netfilter.compiled import CompiledRuleset, compile_ruleset
from sim.netfilter.conntrack import ConntrackTable
from sim.netfilter.engine import NodeNetfilter
from sim.netfilter.nft import NftCompiled, compile_nft, numgen_probability
from sim.netfilter.pipeline import HookEntry
from sim.netfilter.recent import RecentTables
from sim.netfilter.tracer import Outcome, trace_packet
from sim.netfilter.types import (
    ConntrackSnapshot,
    CtDir,
    CtState,
    Hook,
    LogRecord,
    Result,
    Route,
    TcpState,
    TraceStep,
    Verdict,
)

__all__ = [
    "CompiledRuleset", "ConntrackSnapshot", "ConntrackTable", "CtDir", "CtState", "Hook",
    "HookEntry", "LogRecord", "NftCompiled", "NodeNetfilter", "Outcome", "RecentTables",
    "Result", "Route", "TcpState", "TraceStep", "Verdict", "compile_nft", "compile_ruleset",
    "numgen_probability", "trace_packet",
]
