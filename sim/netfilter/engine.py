"""One node's netfilter: hooks in kernel order, rule walk, NAT, conntrack, recent lists.

Paths (``net/ipv4/ip_input.c``, ``ip_forward.c``, ``ip_output.c``; table priorities from
``enum nf_ip_hook_priorities``: raw -300, conntrack -200, mangle -150, nat dst -100,
filter 0, nat src 100):

* arriving (:meth:`NodeNetfilter.prerouting`): raw PREROUTING, conntrack, mangle PREROUTING,
  nat PREROUTING, routing decision on the (possibly DNATed) destination, then either
  INPUT (mangle, filter, nat INPUT) for a local address, or FORWARD (mangle, filter) then
  POSTROUTING (mangle, nat) and conntrack confirmation;
* locally generated (:meth:`NodeNetfilter.output`): routing, raw OUTPUT, conntrack, mangle
  OUTPUT, nat OUTPUT, filter OUTPUT, re-routing if the destination changed, POSTROUTING
  (mangle, nat) and conntrack confirmation; when the destination is local the packet loops
  back over ``lo``: raw and mangle PREROUTING, then mangle and filter INPUT (nat is not
  consulted again: both NAT manips were set up before the loop).

The nat tables are consulted only for the first packet of a connection; every later packet
(and every reply) is rewritten from the conntrack entry.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import lru_cache

import numpy as np

from sim.iptables.ruleset import Chain, Ruleset, Table
from sim.model.config import ConntrackConfig, KubeProxyConfig
from sim.model.packet import Packet, make_packet
from sim.netfilter.compiled import (
    T_ACCEPT,
    T_DNAT,
    T_DROP,
    T_GOTO,
    T_JUMP,
    T_LOG,
    T_MARK,
    T_CONNMARK,
    T_MASQ,
    T_NONE,
    T_NOTRACK,
    T_REDIRECT,
    T_REJECT,
    T_RETURN,
    T_SNAT,
    CChain,
    CRule,
    CompiledRuleset,
    INDEX_MIN_RULES,
    INDEX_MIN_SHARE,
    _Hooks,
    compile_ruleset,
    PRE_RAW, PRE_MANGLE, PRE_NAT, IN_MANGLE, IN_FILTER, IN_NAT, FWD_MANGLE, FWD_FILTER,
    OUT_RAW, OUT_MANGLE, OUT_NAT, OUT_FILTER, POST_MANGLE, POST_NAT,
    tcp_flag_bits,
)
from sim.ipset import IPSet
from sim.netfilter.setmatch import NodeIPSets
from sim.netfilter.conntrack import ConntrackTable
from sim.netfilter.recent import RecentTables
from sim.netfilter.types import (
    CtDir,
    CtState,
    Hook,
    LogRecord,
    Result,
    Route,
    Verdict,
)
from sim.iptables.extensions import CT_STATES

_P31 = float(1 << 31)
_DRAW_BLOCK = 256  # random values drawn from a generator at a time (NodeNetfilter.draw)
# Enum members are descriptors in Python 3.11: look them up once, not per packet.
_PRE, _IN, _FWD, _OUT, _POST = (Hook.PREROUTING, Hook.INPUT, Hook.FORWARD, Hook.OUTPUT,
                                Hook.POSTROUTING)
_ACCEPT, _DROP, _REJECT = Verdict.NF_ACCEPT, Verdict.NF_DROP, Verdict.REJECT
_ORIGINAL, _REPLY = CtDir.ORIGINAL, CtDir.REPLY
_S_NEW, _S_ESTABLISHED, _S_INVALID, _S_UNTRACKED = (CtState.NEW, CtState.ESTABLISHED,
                                                    CtState.INVALID, CtState.UNTRACKED)
_S_RELATED = CtState.RELATED
_BITS = {s: 1 << i for i, s in enumerate(CT_STATES)}
_B_INVALID, _B_NEW, _B_ESTABLISHED, _B_UNTRACKED, _B_SNAT, _B_DNAT, _B_RELATED = (
    _BITS["INVALID"], _BITS["NEW"], _BITS["ESTABLISHED"], _BITS["UNTRACKED"], _BITS["SNAT"],
    _BITS["DNAT"], _BITS["RELATED"])
# ICMP errors (icmp_is_err): destination unreachable, source quench, redirect, time exceeded,
# parameter problem; they quote the header of the packet they report on.
_ICMP_ERRORS = frozenset({3, 4, 5, 11, 12})
_LOOP_NET, _LOOP_MASK = 0x7F000000, 0xFF000000
_flag_bits = lru_cache(maxsize=256)(tcp_flag_bits)


@lru_cache(maxsize=1 << 18)
def ip_int(text: str) -> int:
    """Integer form of a dotted IPv4 address."""
    # Fast path for the strict form ``ipaddress`` accepts (four ASCII decimal octets, no
    # leading zeros, each <= 255); anything else goes to ``ipaddress`` (its value or error).
    parts = text.split(".")
    if len(parts) == 4:
        value = 0
        for part in parts:
            if not (part.isascii() and part.isdigit() and len(part) <= 3
                    and (part[0] != "0" or part == "0")):
                break
            octet = int(part)
            if octet > 255:
                break
            value = (value << 8) | octet
        else:
            return value
    return int(ipaddress.IPv4Address(text))


@lru_cache(maxsize=1 << 18)
def ip_str(value: int) -> str:
    """Dotted form of an IPv4 address given as an integer."""
    if 0 <= value <= 0xFFFFFFFF:
        return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"
    return str(ipaddress.IPv4Address(value))


class PacketContext:
    """One packet's trip through the hooks: the mutable per-packet state the compiled
    matches read, and the walk's own state (trail, walk length, the new conntrack entry)."""

    # All set by NodeNetfilter._context (slots: the fastest attribute access for the
    # generated chain code, which reads them all the time).
    __slots__ = ("pkt", "proto", "src", "dst", "sport", "dport", "tflags", "mark", "in_iface",
                 "out_iface", "length", "ct", "is_reply", "confirmed", "invalid", "notrack",
                 "now", "rng", "eng", "logs", "inner",
                 # an ICMP error about a tracked connection (ctstate RELATED)
                 "related",
                 # --ctstate bits without SNAT/DNAT: fixed once conntrack has seen the packet
                 "sbits",
                 # the trip through the hooks
                 "trail", "walk", "hooks", "new_entry", "local", "masq", "random_fully", "pk",
                 "by", "reject", "cur_hook",
                 # IPVS handled this packet (skb->ipvs_property; sim.netfilter.ipvs)
                 "ipvs")

    @property
    def flags(self) -> int:
        """The TCP flags as bits (for ``--tcp-flags`` / ``--syn``)."""
        return _flag_bits(self.tflags)

    @property
    def icmp_type(self) -> int | None:
        return self.pkt.icmp_type

    @property
    def recent(self) -> RecentTables:
        return self.eng.recent

    def nfacct(self, name: str) -> bool:
        c = self.eng.nfacct.setdefault(name, [0, 0])
        c[0] += 1
        c[1] += self.length
        return True

    def state_bits(self) -> int:
        """``sbits`` plus the SNAT and DNAT bits of the connection as it is now (for the
        matches that test them: a NAT target earlier on the path changes them)."""
        bits = self.sbits
        ct = self.ct
        if ct is not None and not self.invalid:
            if ct.dnat:
                bits |= _B_DNAT
            if ct.snat:
                bits |= _B_SNAT
        return bits

    def ct_addr(self, idx: tuple[int, int]) -> int:
        t = self.ct.orig if idx[0] == 0 else self.ct.reply
        return ip_int(t[idx[1]])

    def ct_port(self, idx: tuple[int, int]) -> int:
        t = self.ct.orig if idx[0] == 0 else self.ct.reply
        return t[idx[1]]

    def ct_status(self) -> frozenset[str]:
        ct = self.ct
        if ct is None:
            return frozenset()
        s = set()
        if self.confirmed:
            s.add("CONFIRMED")
        if ct.seen_reply:
            s.add("SEEN_REPLY")
        if ct.assured:
            s.add("ASSURED")
        return frozenset(s) if s else frozenset({"NONE"})

    def ct_expire(self) -> int:
        return max(0, int(self.ct.expires_at - self.now)) if self.confirmed else 0

    # -------------------------------------------------------------- paths
    #
    # Each path raises _Stop for a terminal verdict; the caller builds the outcome. ``st`` is
    # the compiled ruleset's built-in chain per (hook, table), None where the table has no
    # such chain (absent tables, raw and mangle usually, are not even called).

    def arriving(self) -> None:
        st = self.eng._compiled.starts
        hooks = self.hooks
        hooks.append(_PRE)
        if st[PRE_RAW] is not None:
            self.table(_PRE, st[PRE_RAW])
        self.conntrack_in()
        if st[PRE_MANGLE] is not None:
            self.table(_PRE, st[PRE_MANGLE])
        self.nat_dst(_PRE, st[PRE_NAT])
        eng = self.eng
        dst = self.dst
        if dst in eng.local or (dst & _LOOP_MASK) == _LOOP_NET:  # is_local, inlined
            self.local = True
            self.input_hooks(st)
        else:
            self.out_iface = eng.route_fn(ip_str(dst)).out_iface
            hooks.append(_FWD)
            if st[FWD_MANGLE] is not None:
                self.table(_FWD, st[FWD_MANGLE])
            self.table(_FWD, st[FWD_FILTER])
            if eng.ipvs is not None:
                eng.ipvs.forward(self)  # ip_vs_reply4 at FORWARD, priority 100
            self.postrouting(st)
        self.confirm()

    def local_out(self) -> None:
        st = self.eng._compiled.starts
        self.route()
        self.hooks.append(_OUT)
        self.table(_OUT, st[OUT_RAW])
        self.conntrack_in()
        self.table(_OUT, st[OUT_MANGLE])
        before = self.dst
        self.nat_dst(_OUT, st[OUT_NAT])
        if self.eng.ipvs is not None:
            self.eng.ipvs.local_out(self)  # ip_vs_local_reply4/_request4, after nat OUTPUT
        if self.dst != before:
            self.route()
        self.table(_OUT, st[OUT_FILTER])
        self.postrouting(st)
        # __nf_conntrack_confirm runs at the end of POSTROUTING: a looped-back packet's
        # connection exists even if INPUT then drops or rejects it.
        self.confirm()
        if self.eng.is_local(self.dst):
            self.loopback(st)

    def loopback(self, st: tuple) -> None:
        """Delivery over ``lo``: PREROUTING (raw, mangle; nat is not consulted again, both
        NAT manips are set up), then INPUT."""
        self.local = True
        self.in_iface = "lo"
        self.hooks.append(_PRE)
        self.table(_PRE, st[PRE_RAW])
        self.table(_PRE, st[PRE_MANGLE])
        self.input_hooks(st)

    def input_hooks(self, st: tuple) -> None:
        self.hooks.append(_IN)
        self.table(_IN, st[IN_MANGLE])
        self.table(_IN, st[IN_FILTER])
        # IPVS at LOCAL_IN (priorities NAT_SRC-2/-1): may take the packet to its real server
        if self.eng.ipvs is not None and self.eng.ipvs.local_in(self):
            return
        self.nat_src(_IN, st[IN_NAT])

    def postrouting(self, st: tuple) -> None:
        self.hooks.append(_POST)
        if st[POST_MANGLE] is not None:
            self.table(_POST, st[POST_MANGLE])
        self.nat_src(_POST, st[POST_NAT])

    def route(self) -> None:
        eng = self.eng
        if eng.is_local(self.dst):
            self.out_iface = "lo"
        else:
            self.out_iface = eng.route_fn(ip_str(self.dst)).out_iface

    # -------------------------------------------------------------- conntrack

    def conntrack_in(self) -> None:
        """``nf_conntrack_in``: find the packet's connection (either direction) or start a
        new, not yet confirmed one; an RST without a connection is INVALID, an ICMP error is
        RELATED or INVALID (:meth:`related_in`); a full table drops the packet."""
        if self.notrack:
            return  # NOTRACK / CT --notrack in raw: ctstate UNTRACKED, no NAT
        proto = self.proto
        if self.inner is not None and proto == "icmp" and self.pkt.icmp_type in _ICMP_ERRORS:
            self.related_in()
            return
        ct = self.eng.conntrack
        now = self.now
        key = (proto, ip_str(self.src), self.sport, ip_str(self.dst), self.dport)
        hit = ct._by_tuple.get(key)  # ConntrackTable.lookup, inlined (hot path)
        if hit is not None:
            entry, direction = hit
            if entry.expires_at <= now:
                ct._remove(entry)
            elif self.tflags == "S" and ct.reopens(entry, direction):
                pass  # the old connection is gone; this SYN starts a new one (and NAT)
            else:
                self.ct = entry
                is_reply = self.is_reply = direction is _REPLY
                self.confirmed = True
                ct.update(entry, direction, self.tflags, now)
                self.sbits = _B_ESTABLISHED if is_reply or entry.seen_reply else _B_NEW
                return
        if proto == "tcp" and "R" in self.tflags:
            self.invalid = True  # tcp_new(): an RST never creates a connection
            self.sbits = _B_INVALID
            return
        if len(ct._entries) >= ct.max_entries and not ct.make_room(now):
            raise _Stop(_DROP, "conntrack-full")
        self.ct = self.new_entry = ct.new_entry(
            key, (proto, key[3], self.dport, key[1], self.sport), now, self.tflags)
        self.sbits = _B_NEW

    def related_in(self) -> None:
        """An ICMP error (``nf_conntrack_inet_error``): the quoted header's tuple, inverted,
        is looked up; a hit whose tuple is addressed to the error's destination makes the
        packet RELATED to that connection (in the direction of the hit), anything else is
        INVALID. The entry's state and timeout are left as they are."""
        inner = self.inner
        hit = self.eng.conntrack.lookup((inner[0], inner[3], inner[4], inner[1], inner[2]),
                                        self.now)
        if hit is not None and ip_int(inner[1]) == self.dst:
            entry, direction = hit
            self.ct = entry
            self.is_reply = direction is _REPLY
            self.confirmed = True
            self.related = True
            self.sbits = _B_RELATED
            return
        self.invalid = True
        self.sbits = _B_INVALID

    def nat_dst(self, hook: Hook, start: CChain | None) -> None:
        c = self
        e = c.ct
        if e is None:
            return
        if self.new_entry is not None:
            self.table(hook, start)
            return
        # Established, reply or related: rewrite the destination from the entry (an ICMP
        # error's own header has no ports). An IPVS connection's reply tuple is IPVS's
        # (ip_vs_update_conntrack): no DST_NAT, IPVS rewrites the original direction itself.
        if e.ipvs and not c.is_reply:
            return
        t = e.orig if c.is_reply else e.reply
        c.dst = ip_int(t[1])
        if not c.related:
            c.dport = t[2]

    def nat_src(self, hook: Hook, start: CChain | None) -> None:
        c = self
        e = c.ct
        if e is None:
            return
        if self.new_entry is not None:
            self.table(hook, start)
            self.bind_source()
            return
        if e.ipvs and c.is_reply:
            return  # IPVS gave the reply its virtual source (ip_vs_out)
        t = e.orig if c.is_reply else e.reply
        c.src = ip_int(t[3])
        if c.related:
            # nf_nat_icmp_reply_translation: the quoted header as its sender sent it.
            c.inner = e.orig if c.is_reply else e.reply
        else:
            c.sport = t[4]

    def bind_source(self) -> None:
        """The source part of the new entry's reply tuple, made unique
        (``nf_nat_l4proto_unique_tuple``): keep the port when free, otherwise (or always
        with ``--random-fully``) pick another port in 1024-65535."""
        c = self
        e = self.new_entry
        assert e is not None
        proto = c.proto
        src = ip_str(c.src)
        reply = (proto, e.reply[1], e.reply[2], src, c.sport)
        ct = self.eng.conntrack
        if proto in ("tcp", "udp", "sctp"):
            random_fully = self.random_fully
            if random_fully or ct.reply_in_use(reply, c.now):
                port = c.sport
                for _ in range(64512):
                    port = 1024 + int(c.eng.draw(c.rng) * 64512) if random_fully else (
                        1024 if port >= 65535 else port + 1)
                    cand = (proto, e.reply[1], e.reply[2], src, port)
                    if not ct.reply_in_use(cand, c.now):
                        break
                c.sport = port
                reply = (proto, e.reply[1], e.reply[2], src, port)
        e.reply = reply

    def confirm(self) -> None:
        e = self.new_entry
        if e is None:
            return
        e.masquerade = self.masq
        self.eng.conntrack.confirm(e)
        self.new_entry = None
        self.confirmed = True

    # -------------------------------------------------------------- tables

    def table(self, hook: Hook, start: CChain | None) -> None:
        """Run the table whose built-in chain at ``hook`` is ``start`` (None: the table
        has no chain there); the path has recorded the hook already."""
        if start is None:
            return
        self.cur_hook = hook
        run = start.run
        if run is None:
            self.walk_chain(start)
            return
        v = run(self)
        if v:
            if v != 1:
                self.stop(v)
        else:
            self._policy(start)

    def stop(self, v: int) -> None:
        """A chain's DROP (2) or REJECT (3) ends the packet's path."""
        if v == 2:
            raise _Stop(_DROP, "rule")
        raise _Stop(_REJECT, "rule", self.reject)

    def log(self, cr: CRule) -> None:
        """LOG: the packet as it is at this rule."""
        self.logs += (LogRecord(cr.arg[0], cr.arg[1], cr.table, cr.chain, cr.number,
                                self.packet(), *cr.arg[2:]),)

    def walk_chain(self, start: CChain) -> None:
        """First-match walk from a built-in chain (``ipt_do_table``), with the jump stack:
        the linear reference walk, rule by rule."""
        c = self
        trail = self.trail
        pk = self.eng.counters_packets
        by = self.eng.counters_bytes
        stack: list[tuple[CChain, int]] = []
        chain = start
        pos = 0
        walk = 0
        while True:
            rules = chain.rules
            n = len(rules)
            for i in range(pos, n):
                r = rules[i]
                m = r.match
                if m is not None and not m(c):
                    continue
                pk[r.rid] += 1
                by[r.rid] += c.length
                if trail is not None:
                    trail.append(r.step)
                kind = r.kind
                if kind == T_JUMP:  # the most common matched kind in kube-proxy's rules
                    walk += i + 1 - pos
                    stack.append((chain, i + 1))
                    chain = r.dest
                    pos = 0
                    break
                if kind == T_NONE:
                    continue
                if kind == T_MARK:
                    v, mk = r.arg
                    c.mark = ((c.mark & ~mk) ^ v) & 0xFFFFFFFF
                    continue
                if kind == T_LOG:
                    self.log(r)
                    continue
                if kind == T_NOTRACK:
                    c.notrack = True  # raw table: conntrack will leave this packet alone
                    c.sbits = _B_UNTRACKED
                    continue
                if kind == T_CONNMARK:
                    self.connmark(r.arg)
                    continue
                walk += i + 1 - pos
                if kind == T_GOTO:
                    chain = r.dest
                    pos = 0
                    break
                if kind == T_RETURN:
                    if stack:
                        chain, pos = stack.pop()
                        break
                    # RETURN with an empty jump stack (in the built-in chain, or in a chain
                    # it reached by -g): the hook's policy decides (ipt_do_table underflow).
                    self.walk += walk
                    self._policy(start)
                    return
                self.walk += walk
                if kind == T_ACCEPT:
                    return
                if kind == T_DROP:
                    raise _Stop(_DROP, "rule")
                if kind == T_REJECT:
                    raise _Stop(_REJECT, "rule", r.arg)
                self.nat_target(kind, r.arg)
                return
            else:
                walk += n - pos
                if chain.builtin:
                    self.walk += walk
                    self._policy(chain)
                    return
                if trail is not None:
                    trail.append(chain.end_step)
                if not stack:
                    # The end of a chain reached by -g from the built-in chain: the hook's
                    # policy decides (ipt_do_table pops to the underflow entry).
                    self.walk += walk
                    self._policy(start)
                    return
                chain, pos = stack.pop()

    def connmark(self, op: tuple[str, int, int]) -> None:
        """CONNMARK (xt_connmark connmark_tg): set, save or restore the connection mark."""
        c = self
        e = c.ct
        if e is None:
            return
        kind, a, b = op
        if kind == "set":
            e.mark = ((e.mark & ~b) ^ a) & 0xFFFFFFFF
        elif kind == "save":
            e.mark = ((e.mark & ~b) ^ (c.mark & a)) & 0xFFFFFFFF
        else:
            c.mark = ((c.mark & ~a) ^ (e.mark & b)) & 0xFFFFFFFF

    def _policy(self, chain: CChain) -> None:
        """The built-in ``chain``'s policy decides (counted like a rule)."""
        if self.trail is not None:
            self.trail.append(chain.end_step)
        pc = self.eng._policy_by_chain.get(chain)
        if pc is not None:
            pc[0] += 1
            pc[1] += self.length
        if chain.policy == "DROP":
            raise _Stop(_DROP, "policy")

    def nat_target(self, kind: int, arg: object) -> None:
        """A NAT target at the current hook sets up the new connection's mapping."""
        _NAT_TARGETS[kind](self, arg)

    def dnat(self, arg: tuple) -> None:
        """DNAT (its first address; ``arg`` from ``compiled._target``)."""
        ip, addr, plo, _phi, _flags = arg
        e = self.new_entry
        if addr is not None:
            self.dst = addr
        else:
            ip = ip_str(self.dst)
        if plo:
            self.dport = plo
        r = e.reply
        e.reply = (self.proto, ip, self.dport, r[3], r[4])

    def redirect(self, arg: tuple) -> None:
        plo, _phi = arg
        e = self.new_entry
        eng = self.eng
        ip = ("127.0.0.1" if self.cur_hook is _OUT
              else eng.iface_addresses.get(self.in_iface, eng.primary))
        self.dst = ip_int(ip)
        if plo:
            self.dport = plo
        e.reply = (self.proto, ip, self.dport, e.reply[3], e.reply[4])

    def snat(self, arg: tuple) -> None:
        _ip, addr, plo, _phi, flags = arg
        if addr is not None:
            self.src = addr
        if plo:
            self.sport = plo
        self.random_fully = "--random-fully" in flags

    def masquerade(self, arg: tuple) -> None:
        (plo, _phi), random_fully = arg
        eng = self.eng
        # The egress interface's address: loopback for a local destination.
        dst = self.dst
        src = "127.0.0.1" if eng.is_local(dst) else eng.route_fn(ip_str(dst)).source
        self.src = ip_int(src)
        if plo:
            self.sport = plo
        self.masq = True
        self.random_fully = random_fully

    # -------------------------------------------------------------- result

    def packet(self) -> Packet:
        """The packet as it is now (after NAT and MARK so far)."""
        return make_packet(*self._pkt_fields())

    def _pkt_fields(self) -> tuple:
        c = self
        return (c.proto, ip_str(c.src), ip_str(c.dst), c.sport, c.dport, c.tflags, c.mark,
                c.length, c.in_iface, c.out_iface, c.pkt.icmp_type, c.inner)

    def result(self, verdict: Verdict, reason: str, reject_with: str | None = None) -> Result:
        c = self
        e = c.ct
        accepted = verdict is _ACCEPT
        if c.invalid:
            state = _S_INVALID
        elif e is None:
            # NOTRACK: untracked; dropped before conntrack saw it: INVALID, as --ctstate says
            state = _S_UNTRACKED if c.notrack else _S_INVALID
        elif c.related:
            state = _S_RELATED
        elif c.is_reply:
            state = _S_ESTABLISHED
        elif self.new_entry is not None or not e.seen_reply:
            state = _S_NEW
        else:
            state = _S_ESTABLISHED
        if e is None:
            ct_state, masq, dnat, snat = None, False, False, False
        else:
            confirmed = self.new_entry is None or accepted
            ct_state = e.state() if confirmed else None
            masq = bool(e.masquerade or self.masq)
            orig, reply = e.orig, e.reply
            dnat = orig[3] != reply[1] or orig[4] != reply[2]
            snat = orig[1] != reply[3] or orig[2] != reply[4]
        return Result(
            verdict, self._pkt_fields(), self.local and accepted, tuple(self.hooks), state,
            _REPLY if c.is_reply else _ORIGINAL, ct_state, masq, dnat, snat,
            tuple(self.trail) if self.trail is not None else (), self.walk, reject_with,
            reason, c.out_iface, tuple(c.logs))


_NAT_TARGETS = {T_DNAT: PacketContext.dnat, T_SNAT: PacketContext.snat,
                T_MASQ: PacketContext.masquerade, T_REDIRECT: PacketContext.redirect}


class NodeNetfilter:
    """The netfilter state of one node: tables, conntrack, recent lists, counters.

    Parameters
    ----------
    ruleset
        The applied tables (``sim.iptables.apply_payload``); ``None`` for empty tables.
    local_addresses
        The node's own addresses (``addrtype LOCAL``; 127.0.0.0/8 is always local). The
        first one given (or the smallest, for an unordered set) is the primary address.
    conntrack_max
        ``nf_conntrack_max``.
    config
        A ``KubeProxyConfig`` or ``ConntrackConfig`` for the conntrack timeouts.
    route
        ``route(dst) -> Route(out_iface, source)`` for non-local destinations; MASQUERADE
        uses ``source``. Default: ``eth0`` with the primary address.
    iface_addresses
        Primary address per interface, for REDIRECT on arriving packets (default: the
        primary address).
    fast
        Use the fast path: each chain one generated function, long chains over their index
        (``False``: the linear reference walk). Both give identical results; the hypothesis
        test in ``tests/netfilter`` holds them to it.
    index
        ``(min_rules, min_share)``: which chains the fast path runs over an index (see
        :func:`~sim.netfilter.compiled.compile_ruleset`).
    trace
        Record the rule trail in each result.
    ipsets
        The node's ipsets for ``-m set`` (:attr:`ipsets`; reload with ``ipsets.load``).
    """

    def __init__(self, ruleset: Ruleset | None, local_addresses: Iterable[str], *,
                 conntrack_max: int = 262144,
                 config: KubeProxyConfig | ConntrackConfig | None = None,
                 route: Callable[[str], Route] | None = None,
                 iface_addresses: dict[str, str] | None = None,
                 fast: bool = True, trace: bool = True,
                 index: tuple[int, float] = (INDEX_MIN_RULES, INDEX_MIN_SHARE),
                 ipsets: Iterable[IPSet] = ()) -> None:
        addrs = list(local_addresses)
        if not isinstance(local_addresses, (list, tuple)):
            addrs = sorted(addrs, key=ip_int)
        self.primary = addrs[0] if addrs else "127.0.0.1"
        self.local = frozenset(ip_int(a) for a in addrs)
        if isinstance(config, KubeProxyConfig):
            config = config.conntrack
        self.conntrack = ConntrackTable(conntrack_max, config)
        self.recent = RecentTables()
        self.nfacct: dict[str, list[int]] = {}
        self.route_fn = route or (lambda dst: Route("eth0", self.primary))
        self.iface_addresses = dict(iface_addresses or {})
        self.fast = fast
        self.index = index
        # -m set / -m ipvs state (sim.netfilter.setmatch): the node's ipsets, and the IPVS
        # stage's connection lookup (None: no IPVS on this node).
        self.ipsets = NodeIPSets(ipsets)
        self.ipvs_info: Callable[[PacketContext], tuple | None] | None = None
        self.trace = trace
        self.counters_packets: list[int] = []
        self.counters_bytes: list[int] = []
        self.policy_counters: dict[tuple[str, str], list[int]] = {}
        self._draws: list[float] = []
        self._draws_rng: np.random.Generator | None = None
        # The node's IPVS stage (sim.netfilter.ipvs.IPVSStage) in IPVS proxy mode
        self.ipvs = None
        self._compiled: CompiledRuleset
        self._hooks: _Hooks
        self.load(ruleset or Ruleset())

    # ------------------------------------------------------------------ management

    def load(self, ruleset: Ruleset) -> None:
        """Swap in a new ruleset atomically (``iptables-restore``). Conntrack entries and
        recent lists survive; rule counters and ``statistic --mode nth`` counters start from
        the ruleset's own values, as for freshly created kernel rules."""
        self._hooks = _Hooks()
        self._compiled = compile_ruleset(ruleset, self._hooks, fast=self.fast,
                                         index_min_rules=self.index[0],
                                         index_min_share=self.index[1])
        self._nth_initial = list(self._hooks.nth_counters)
        self.reset_counters()

    @property
    def compiled(self) -> CompiledRuleset:
        """The compiled form of the loaded ruleset (see :meth:`adopt`)."""
        return self._compiled

    def adopt(self, compiled: CompiledRuleset) -> None:
        """Load a ruleset another engine already compiled (``compiled.shareable`` must hold,
        and it must be compiled with this engine's ``fast`` setting): same effect as
        ``load(compiled.ruleset)`` without compiling again; the index settings are the
        compiling engine's."""
        if not compiled.shareable:
            raise ValueError("a compiled ruleset with statistic nth counters is per engine")
        if compiled.requested_fast != self.fast:
            raise ValueError("a compiled ruleset must match the adopting engine's fast setting")
        assert compiled.hooks is not None
        self._hooks = compiled.hooks
        self._compiled = compiled
        self._nth_initial = []
        self.reset_counters()

    def reset_counters(self) -> None:
        """Rule, policy, nfacct and ``statistic --mode nth`` counters back to their loaded
        values (``iptables -Z`` plus fresh nth state)."""
        ruleset = self._compiled.ruleset
        self._hooks.nth_counters[:] = self._nth_initial
        self.counters_packets = [r.rule.packets for r in self._compiled.rules]
        self.counters_bytes = [r.rule.bytes for r in self._compiled.rules]
        self.policy_counters = {
            (t, c.name): [ruleset.tables[t].chains[c.name].packets,
                          ruleset.tables[t].chains[c.name].bytes]
            for t, tab in self._compiled.tables.items() for c in tab.chains.values() if c.builtin}
        # The same counters by compiled chain (identity-hashed: no string hashing per packet).
        self._policy_by_chain = {c: self.policy_counters[t, c.name]
                                 for t, tab in self._compiled.tables.items()
                                 for c in tab.chains.values() if c.builtin}

    @property
    def ruleset(self) -> Ruleset:
        return self._compiled.ruleset

    def counters(self) -> Ruleset:
        """The ruleset with the current per-rule and policy counters (``iptables -L -v`` /
        ``iptables-save -c``)."""
        tables = {}
        k = 0
        for tname, table in self._compiled.ruleset.tables.items():
            chains = {}
            for cname, chain in table.chains.items():
                rules = []
                for r in chain.rules:
                    rules.append(replace(r, packets=self.counters_packets[k],
                                         bytes=self.counters_bytes[k]))
                    k += 1
                pc = self.policy_counters.get((tname, cname), [chain.packets, chain.bytes])
                chains[cname] = Chain(cname, tuple(rules), chain.policy, pc[0], pc[1])
            tables[tname] = Table(tname, chains)
        return Ruleset(tables)

    def flush_conntrack(self) -> None:
        """``conntrack -F``."""
        self.conntrack.flush()

    def conntrack_entries(self, now: float | None = None) -> list:
        """Snapshots of the live conntrack entries (``conntrack -L``)."""
        return [e.snapshot() for e in self.conntrack.entries(now)]

    def addr_type(self, addr: int) -> str:
        if addr in self.local or (addr & _LOOP_MASK) == _LOOP_NET:
            return "LOCAL"
        if addr == 0xFFFFFFFF:
            return "BROADCAST"
        if (addr & 0xF0000000) == 0xE0000000:
            return "MULTICAST"
        if addr == 0:
            return "UNSPEC"
        return "UNICAST"

    def is_local(self, addr: int) -> bool:
        return addr in self.local or (addr & _LOOP_MASK) == _LOOP_NET

    def chance(self, p31: int, rng: np.random.Generator) -> bool:
        """``statistic --mode random``: ``(prandom_u32() & 0x7FFFFFFF) < p31``."""
        draws = self._draws
        if draws and self._draws_rng is rng:  # draw(), inlined for the commonest case
            return draws.pop() * _P31 < p31
        return self.draw(rng) * _P31 < p31

    def draw(self, rng: np.random.Generator) -> float:
        """The next ``rng.random()``. Drawn in blocks (one call per block instead of one per
        value): the values and their order are those of one ``rng.random()`` call each, as
        long as nothing else draws from ``rng`` (each node's engine has its own stream);
        handing the engine another generator drops what is left of the block."""
        draws = self._draws
        if self._draws_rng is not rng or not draws:
            self._draws_rng = rng
            draws = self._draws = rng.random(_DRAW_BLOCK).tolist()
            draws.reverse()
        return draws.pop()

    # ------------------------------------------------------------------ packet paths

    def prerouting(self, packet: Packet, now: float, rng: np.random.Generator,
                   in_iface: str | None = None) -> Result:
        """A packet arriving on ``in_iface`` (default ``packet.in_iface`` or ``eth0``)."""
        c, stop = self._arriving(packet, now, rng, in_iface or packet.in_iface or "eth0")
        if stop is not None:
            return c.result(stop.verdict, stop.reason, stop.reject_with)
        return c.result(_ACCEPT, "")

    def output(self, packet: Packet, now: float, rng: np.random.Generator) -> Result:
        """A packet generated by a local process."""
        c, stop = self._generated(packet, now, rng)
        if stop is not None:
            return c.result(stop.verdict, stop.reason, stop.reject_with)
        return c.result(_ACCEPT, "")

    def prerouting_verdict(self, packet: Packet, now: float, rng: np.random.Generator,
                           in_iface: str) -> tuple[str, Packet, bool, int]:
        """:meth:`prerouting` reduced to what a simulated network needs, without building a
        :class:`Result`: the verdict's name (``ACCEPT``, ``DROP``, ``REJECT``), the packet
        as it leaves (the one given when not accepted), whether it is delivered to the node
        itself, and the walk length."""
        c, stop = self._arriving(packet, now, rng, in_iface)
        if stop is not None:
            return stop.verdict.value, packet, False, c.walk
        return "ACCEPT", c.packet(), c.local, c.walk

    def output_verdict(self, packet: Packet, now: float,
                       rng: np.random.Generator) -> tuple[str, Packet, bool, int]:
        """:meth:`output` reduced like :meth:`prerouting_verdict`."""
        c, stop = self._generated(packet, now, rng)
        if stop is not None:
            return stop.verdict.value, packet, False, c.walk
        return "ACCEPT", c.packet(), c.local, c.walk

    def _arriving(self, packet: Packet, now: float, rng: np.random.Generator,
                  in_iface: str) -> tuple[PacketContext, _Stop | None]:
        """Run an arriving packet's path; the context and what stopped it (None: accepted)."""
        c = self._context(packet, now, rng, in_iface)
        try:
            c.arriving()
        except _Stop as stop:
            return c, stop
        return c, None

    def _generated(self, packet: Packet, now: float,
                   rng: np.random.Generator) -> tuple[PacketContext, _Stop | None]:
        """Run a locally generated packet's path, like :meth:`_arriving`."""
        c = self._context(packet, now, rng, "")
        try:
            c.local_out()
        except _Stop as stop:
            return c, stop
        return c, None

    def _context(self, p: Packet, now: float, rng: np.random.Generator,
                 in_iface: str) -> PacketContext:
        c = PacketContext()
        c.pkt = p
        proto = c.proto = p.proto.lower()
        c.src = ip_int(p.src)
        c.dst = ip_int(p.dst)
        c.sport = p.sport
        c.dport = p.dport
        c.tflags = p.tcp_flags if proto == "tcp" else ""
        c.mark = p.mark
        c.in_iface = in_iface
        c.length = p.length
        c.now = now
        c.rng = rng
        c.eng = self
        c.hooks = []
        c.pk = self.counters_packets
        c.by = self.counters_bytes
        c.trail = [] if self.trace else None
        c.walk = 0
        # No conntrack entry yet (raw runs before conntrack): xt_conntrack says INVALID for a
        # packet without one unless NOTRACK marked it untracked.
        c.sbits = _B_INVALID
        c.out_iface = ""
        c.ct = c.new_entry = c.reject = None
        c.is_reply = c.confirmed = c.invalid = c.notrack = False
        c.local = c.masq = c.random_fully = False
        c.logs = ()
        c.cur_hook = _PRE
        c.inner = p.inner
        c.related = False
        c.ipvs = False
        return c


class _Stop(Exception):
    """A terminal verdict (DROP/REJECT) or a conntrack drop ends the packet's path."""

    def __init__(self, verdict: Verdict, reason: str, reject_with: str | None = None) -> None:
        self.verdict = verdict
        self.reason = reason
        self.reject_with = reject_with


