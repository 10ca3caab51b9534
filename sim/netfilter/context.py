"""One packet's trip through a node's hooks: the per-packet state every rule language reads
and the actions they share (conntrack lookup and confirmation, NAT set-up and translation,
marks, LOG, the result record).

:class:`PacketContext` is what the compiled rules of :mod:`sim.netfilter.compiled`
(iptables) and :mod:`sim.netfilter.nft` (nftables) read and act on; the hook pipeline
(:mod:`sim.netfilter.pipeline`) walks it through the hooks. It knows neither language.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sim.iptables.extensions import CT_STATES
from sim.model.packet import Packet, make_packet
from sim.netfilter.addresses import ip_int, ip_str
from sim.netfilter.recent import RecentTables
from sim.netfilter.types import (
    CtDir,
    CtState,
    Hook,
    LogRecord,
    Result,
    Verdict,
)

# Enum members are descriptors in Python 3.11: look them up once, not per packet.
_PRE, _IN, _FWD, _OUT, _POST = (Hook.PREROUTING, Hook.INPUT, Hook.FORWARD, Hook.OUTPUT,
                                Hook.POSTROUTING)
_ACCEPT, _DROP, _REJECT = Verdict.NF_ACCEPT, Verdict.NF_DROP, Verdict.REJECT
_ORIGINAL, _REPLY = CtDir.ORIGINAL, CtDir.REPLY
_S_NEW, _S_ESTABLISHED, _S_INVALID, _S_UNTRACKED = (CtState.NEW, CtState.ESTABLISHED,
                                                    CtState.INVALID, CtState.UNTRACKED)
_S_RELATED = CtState.RELATED
STATE_BITS = {s: 1 << i for i, s in enumerate(CT_STATES)}
_B_INVALID, _B_NEW, _B_ESTABLISHED, _B_UNTRACKED, _B_SNAT, _B_DNAT, _B_RELATED = (
    STATE_BITS["INVALID"], STATE_BITS["NEW"], STATE_BITS["ESTABLISHED"],
    STATE_BITS["UNTRACKED"], STATE_BITS["SNAT"], STATE_BITS["DNAT"], STATE_BITS["RELATED"])
# ICMP errors (icmp_is_err): destination unreachable, source quench, redirect, time exceeded,
# parameter problem; they quote the header of the packet they report on.
_ICMP_ERRORS = frozenset({3, 4, 5, 11, 12})
LOOP_NET, LOOP_MASK = 0x7F000000, 0xFF000000
TCP_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20}


def tcp_flag_bits(flags: str) -> int:
    """``"SA"`` -> SYN|ACK bits."""
    v = 0
    for c in flags:
        v |= TCP_BITS.get(c, 0)
    return v


_flag_bits = lru_cache(maxsize=256)(tcp_flag_bits)


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
                 # a NAT statement set up this hook's mapping (nf_nat_initialized)
                 "nat_bound",
                 # the chain an nft jump/goto verdict names
                 "nft_dest",
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

    # -------------------------------------------------------------- routing

    def route(self) -> None:
        eng = self.eng
        if eng.is_local(self.dst):
            self.out_iface = "lo"
        else:
            self.out_iface = eng.route_fn(ip_str(self.dst)).out_iface

    # -------------------------------------------------------------- conntrack


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
            raise Stop(_DROP, "conntrack-full")
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


    def nat_dst(self, hook: Hook, entries: tuple) -> None:
        """The destination NAT point of ``hook`` (``nf_nat_ipv4_pre_routing`` /
        ``local_fn``): a new connection runs the nat chains registered there, in priority
        order, until one sets up a mapping; any other packet is translated from its entry."""
        c = self
        e = c.ct
        if e is None:
            return
        if self.new_entry is not None:
            self.nat_lookup(hook, entries)
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

    def nat_src(self, hook: Hook, entries: tuple) -> None:
        """The source NAT point of ``hook`` (POSTROUTING, INPUT), like :meth:`nat_dst`; a
        new connection's source is then made unique (:meth:`bind_source`)."""
        c = self
        e = c.ct
        if e is None:
            return
        if self.new_entry is not None:
            self.nat_lookup(hook, entries)
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

    def nat_lookup(self, hook: Hook, entries: tuple) -> None:
        """``nf_nat_inet_fn`` for a new connection: each nat chain (an iptables nat table,
        an nft ``type nat`` base chain) until one has set up this hook's mapping."""
        self.nat_bound = False
        for run in entries:
            run(self)
            if self.nat_bound:
                return

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

    # -------------------------------------------------------------- verdicts and actions

    def stop(self, v: int) -> None:
        """A chain's DROP (2) or REJECT (3) ends the packet's path."""
        if v == 2:
            raise Stop(_DROP, "rule")
        raise Stop(_REJECT, "rule", self.reject)

    def log(self, cr: Any) -> None:
        """LOG: the packet as it is at this rule."""
        self.logs += (LogRecord(cr.arg[0], cr.arg[1], cr.table, cr.chain, cr.number,
                                self.packet(), *cr.arg[2:]),)

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

    def policy(self, chain: Any) -> None:
        """The built-in (base) ``chain``'s policy decides (counted like a rule)."""
        if self.trail is not None:
            self.trail.append(chain.end_step)
        pc = self.eng._policy_by_chain.get(chain)
        if pc is not None:
            pc[0] += 1
            pc[1] += self.length
        if chain.policy == "DROP":
            raise Stop(_DROP, "policy")

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
        self.nat_bound = True

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
        self.nat_bound = True

    def snat(self, arg: tuple) -> None:
        _ip, addr, plo, _phi, flags = arg
        if addr is not None:
            self.src = addr
        if plo:
            self.sport = plo
        self.random_fully = "--random-fully" in flags
        self.nat_bound = True

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
        self.nat_bound = True

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



class Stop(Exception):
    """A terminal verdict (DROP/REJECT) or a conntrack drop ends the packet's path."""

    def __init__(self, verdict: Verdict, reason: str, reject_with: str | None = None) -> None:
        self.verdict = verdict
        self.reason = reason
        self.reject_with = reject_with



