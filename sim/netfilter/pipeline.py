"""One node's hook pipeline: what runs at each netfilter hook, in priority order.

The kernel keeps, per hook, one list of functions sorted by priority
(``nf_hook_entries``); iptables tables and nft base chains register into the same lists
(``enum nf_ip_hook_priorities``: raw -300, conntrack -200, mangle -150, NAT dst -100,
filter 0, security 50, NAT src 100). :func:`build_pipeline` builds those lists for the
loaded iptables tables (:mod:`sim.netfilter.compiled`) and nft base chains
(:mod:`sim.netfilter.nft`); equal priorities keep registration order, iptables' tables
first (a node's iptables tables exist from boot, kube-proxy's nft table comes later).

NAT is one entry per hook, as in the kernel (``nf_nat_inet_fn``, registered at -100 in
PREROUTING/OUTPUT and 100 in INPUT/POSTROUTING whatever the priorities of the nat chains
behind it): a connection's first packet runs the nat chains of every language in their
priority order until one sets up the mapping; every later packet is translated from its
conntrack entry.

Paths (``net/ipv4/ip_input.c``, ``ip_forward.c``, ``ip_output.c``):

* arriving (:func:`arriving`): PREROUTING, routing on the (possibly DNATed) destination,
  then INPUT for a local address or FORWARD and POSTROUTING, then conntrack confirmation;
* locally generated (:func:`local_out`): routing, OUTPUT (re-routing after NAT or a
  ``type route`` chain changed the destination), POSTROUTING, confirmation; a local
  destination loops back over ``lo``: PREROUTING without conntrack and NAT (both are set
  up), then INPUT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.netfilter.addresses import ip_str
from sim.netfilter.compiled import (
    FWD_FILTER,
    FWD_MANGLE,
    IN_FILTER,
    IN_MANGLE,
    IN_NAT,
    OUT_FILTER,
    OUT_MANGLE,
    OUT_NAT,
    OUT_RAW,
    POST_MANGLE,
    POST_NAT,
    PRE_MANGLE,
    PRE_NAT,
    PRE_RAW,
    CompiledRuleset,
    run_table,
)
from sim.netfilter.context import LOOP_MASK, LOOP_NET, PacketContext
from sim.netfilter.nft import NftCompiled, run_base, run_route
from sim.netfilter.types import Hook

_PRE, _IN, _FWD, _OUT, _POST = (Hook.PREROUTING, Hook.INPUT, Hook.FORWARD, Hook.OUTPUT,
                                Hook.POSTROUTING)
PRIO_RAW, PRIO_CONNTRACK, PRIO_MANGLE, PRIO_NAT_DST, PRIO_FILTER, PRIO_NAT_SRC = (
    -300, -200, -150, -100, 0, 100)
_XT_PRIORITY = {"raw": PRIO_RAW, "mangle": PRIO_MANGLE, "filter": PRIO_FILTER}
_HOOKS = {"PREROUTING": _PRE, "INPUT": _IN, "FORWARD": _FWD, "OUTPUT": _OUT,
          "POSTROUTING": _POST}
_NFT_HOOKS = {"prerouting": _PRE, "input": _IN, "forward": _FWD, "output": _OUT,
              "postrouting": _POST}

Stage = Callable[[PacketContext], None]


@dataclass(frozen=True, slots=True)
class HookEntry:
    """One registration at a hook: ``kind`` is ``iptables``, ``nft``, ``conntrack`` or
    ``nat``; ``name`` the table (``nat``) or ``family table chain`` (nft)."""

    hook: Hook
    priority: int
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class Pipeline:
    """The stages of each hook in priority order (``pre_loop``: PREROUTING for a packet
    looped back over ``lo``, without conntrack and NAT) and the registrations they come
    from (``entries``, for ``NodeNetfilter.hook_entries``)."""

    pre: tuple
    pre_loop: tuple
    inp: tuple
    fwd: tuple
    out: tuple
    post: tuple
    entries: tuple


def _xt_stage(hook: Hook, start) -> Stage:
    def stage(c: PacketContext) -> None:
        run_table(c, hook, start)
    return stage


def _nft_stage(hook: Hook, ch) -> Stage:
    if ch.type == "route" and hook is _OUT:
        def route_stage(c: PacketContext) -> None:
            run_route(c, hook, ch)
        return route_stage

    def stage(c: PacketContext) -> None:
        run_base(c, hook, ch)
    return stage


def _nat_stage(hook: Hook, runs: tuple, ipvs=None) -> Stage:
    if hook is _PRE:
        def nat_pre(c: PacketContext) -> None:
            c.nat_dst(hook, runs)
        return nat_pre
    if hook is _OUT:
        if ipvs is not None:
            def nat_out_ipvs(c: PacketContext) -> None:
                before = c.dst
                c.nat_dst(hook, runs)
                ipvs.local_out(c)  # ip_vs_local_reply4/_request4 (-99/-98), then re-routing
                if c.dst != before:
                    c.route()
            return nat_out_ipvs

        def nat_out(c: PacketContext) -> None:
            before = c.dst
            c.nat_dst(hook, runs)
            if c.dst != before:
                c.route()
        return nat_out

    def nat_src(c: PacketContext) -> None:
        c.nat_src(hook, runs)
    return nat_src


def build_pipeline(xt: CompiledRuleset, nft: NftCompiled | None, ipvs=None) -> Pipeline:
    """The per-hook stage lists for the loaded iptables tables and nft ruleset, and the IPVS
    stage's hooks when the node has one (``sim.netfilter.ipvs``: ``ip_vs_reply4`` at FORWARD
    after filter, ``ip_vs_remote_request4`` at INPUT before source NAT, which may take the
    packet away from INPUT; its OUTPUT hooks run right after the nat chains)."""
    st = xt.starts
    # (hook, priority, order, kind, name, stage or nat run)
    regs: list[tuple] = []
    order = 0

    def reg(hook: Hook, prio: int, kind: str, name: str, item: object) -> None:
        nonlocal order
        regs.append((hook, prio, order, kind, name, item))
        order += 1

    for hook, idx, table in ((_PRE, PRE_RAW, "raw"), (_PRE, PRE_MANGLE, "mangle"),
                             (_IN, IN_MANGLE, "mangle"), (_IN, IN_FILTER, "filter"),
                             (_FWD, FWD_MANGLE, "mangle"), (_FWD, FWD_FILTER, "filter"),
                             (_OUT, OUT_RAW, "raw"), (_OUT, OUT_MANGLE, "mangle"),
                             (_OUT, OUT_FILTER, "filter"), (_POST, POST_MANGLE, "mangle")):
        if st[idx] is not None:
            reg(hook, _XT_PRIORITY[table], "iptables", table, _xt_stage(hook, st[idx]))
    nat_runs: dict[Hook, list[tuple[int, int, str, Stage]]] = {h: [] for h in
                                                               (_PRE, _OUT, _IN, _POST)}
    for hook, idx in ((_PRE, PRE_NAT), (_OUT, OUT_NAT), (_IN, IN_NAT), (_POST, POST_NAT)):
        if st[idx] is not None:
            nat_runs[hook].append((PRIO_NAT_DST if hook in (_PRE, _OUT) else PRIO_NAT_SRC,
                                   len(nat_runs[hook]), "iptables nat",
                                   _xt_stage(hook, st[idx])))
    if nft is not None:
        for ch in nft.base:
            hook = _NFT_HOOKS[ch.hook]
            name = f"{ch.table} {ch.name}"
            if ch.type == "nat":
                if hook not in nat_runs:
                    continue  # nat chains cannot hook forward (refused when loading)
                nat_runs[hook].append((ch.priority, len(nat_runs[hook]), f"nft {name}",
                                       _nft_stage(hook, ch)))
            else:
                reg(hook, ch.priority, "nft", name, _nft_stage(hook, ch))
    for hook in (_PRE, _OUT):
        reg(hook, PRIO_CONNTRACK, "conntrack", "conntrack", PacketContext.conntrack_in)
    for hook, runs in nat_runs.items():
        runs.sort(key=lambda r: (r[0], r[1]))
        prio = PRIO_NAT_DST if hook in (_PRE, _OUT) else PRIO_NAT_SRC
        label = ", ".join(r[2] for r in runs) or "no nat chains"
        reg(hook, prio, "nat", label, _nat_stage(hook, tuple(r[3] for r in runs), ipvs))
    if ipvs is not None:
        reg(_FWD, PRIO_NAT_SRC, "ipvs", "ip_vs_reply4", ipvs.forward)
        reg(_IN, PRIO_NAT_SRC - 2, "ipvs", "ip_vs_reply4, ip_vs_remote_request4", ipvs.local_in)
    regs.sort(key=lambda r: (int(r[0]), r[1], r[2]))

    def stages(hook: Hook, skip: tuple[str, ...] = ()) -> tuple:
        return tuple(r[5] for r in regs if r[0] is hook and r[3] not in skip)

    entries = tuple(HookEntry(r[0], r[1], r[3], r[4]) for r in regs)
    return Pipeline(stages(_PRE), stages(_PRE, ("conntrack", "nat")), stages(_IN),
                    stages(_FWD), stages(_OUT), stages(_POST), entries)


def arriving(c: PacketContext, p: Pipeline) -> None:
    """A packet arriving on an interface (raises ``Stop`` on a terminal verdict)."""
    hooks = c.hooks
    hooks.append(_PRE)
    for stage in p.pre:
        stage(c)
    eng = c.eng
    dst = c.dst
    if dst in eng.local or (dst & LOOP_MASK) == LOOP_NET:  # is_local, inlined
        c.local = True
        input_hook(c, p)
    else:
        c.out_iface = eng.route_fn(ip_str(dst)).out_iface
        hooks.append(_FWD)
        for stage in p.fwd:
            stage(c)
        hooks.append(_POST)
        for stage in p.post:
            stage(c)
    c.confirm()


def local_out(c: PacketContext, p: Pipeline) -> None:
    """A packet a local process sends (raises ``Stop`` on a terminal verdict)."""
    c.route()
    hooks = c.hooks
    hooks.append(_OUT)
    for stage in p.out:
        stage(c)
    hooks.append(_POST)
    for stage in p.post:
        stage(c)
    # __nf_conntrack_confirm runs at the end of POSTROUTING: a looped-back packet's
    # connection exists even if INPUT then drops or rejects it.
    c.confirm()
    if c.eng.is_local(c.dst):
        c.local = True
        c.in_iface = "lo"
        hooks.append(_PRE)
        for stage in p.pre_loop:
            stage(c)
        input_hook(c, p)


def input_hook(c: PacketContext, p: Pipeline) -> None:
    """LOCAL_IN; a stage that returns True took the packet elsewhere (IPVS to a real server
    on another node) and ends the hook."""
    c.hooks.append(_IN)
    for stage in p.inp:
        if stage(c):
            return


def postrouting(c: PacketContext) -> None:
    """POSTROUTING for a packet a stage sends out again (IPVS's ``ip_vs_nat_xmit``)."""
    c.hooks.append(_POST)
    for stage in c.eng._pipeline.post:
        stage(c)
