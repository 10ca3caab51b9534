"""The ``recent`` match's address lists (``net/netfilter/xt_recent.c``), one set per node.

Each list (``--name``) maps a masked address to its last ``ip_pkt_list_tot`` = 20 timestamps;
a list holds at most ``ip_list_tot`` = 100 addresses and forgets the least recently seen one
when a new address arrives (the module parameters' defaults). Times are simulated seconds.
Lists outlive rule reloads, as in the kernel (the new rules take a reference on the existing
list before the old rules drop theirs).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

IP_LIST_TOT = 100
IP_PKT_LIST_TOT = 20


@dataclass(slots=True)
class RecentEntry:
    stamps: list[float] = field(default_factory=list)


class RecentTables:
    """All ``recent`` lists of one node, keyed by name."""

    def __init__(self, list_size: int = IP_LIST_TOT) -> None:
        self.list_size = list_size
        self._tables: dict[str, OrderedDict[int, RecentEntry]] = {}

    def table(self, name: str) -> OrderedDict[int, RecentEntry]:
        t = self._tables.get(name)
        if t is None:
            t = self._tables[name] = OrderedDict()
        return t

    def names(self) -> list[str]:
        return sorted(self._tables)

    def addresses(self, name: str) -> list[int]:
        """Addresses in a list, least recently updated first (``/proc/net/xt_recent/NAME``)."""
        return list(self._tables.get(name, {}))

    def match(self, name: str, addr: int, cmd: str, seconds: int, hitcount: int, reap: bool,
              invert: bool, now: float) -> bool:
        """Evaluate one ``recent`` match (``recent_mt``) and apply its side effect."""
        t = self.table(name)
        ret = invert
        e = t.get(addr)
        if e is None:
            if cmd != "--set":
                return ret
            if len(t) >= self.list_size:
                t.popitem(last=False)
            e = t[addr] = RecentEntry()
            e.stamps.append(now)
            return not ret
        if cmd == "--set":
            self._touch(t, addr, e, now)
            return not ret
        if cmd == "--remove":
            del t[addr]
            return not ret
        if seconds or hitcount:
            oldest_ok = now - seconds
            hits = 0
            for s in e.stamps:
                if seconds and s < oldest_ok:
                    continue
                hits += 1
                if not hitcount or hits >= hitcount:
                    ret = not ret
                    break
            if reap:
                self._reap(t, oldest_ok, e, cmd == "--update")
        else:
            ret = not ret
        if cmd == "--update" and ret and addr in t:
            self._touch(t, addr, e, now)
        return ret

    @staticmethod
    def _touch(t: OrderedDict[int, RecentEntry], addr: int, e: RecentEntry, now: float) -> None:
        e.stamps.append(now)
        if len(e.stamps) > IP_PKT_LIST_TOT:
            del e.stamps[0]
        t.move_to_end(addr)

    @staticmethod
    def _reap(t: OrderedDict[int, RecentEntry], oldest_ok: float, working: RecentEntry,
              update: bool) -> None:
        # recent_entry_reap: drop the least recently seen entry (only that one) when its
        # newest stamp is older than the window, unless it is the entry about to be updated.
        addr, e = next(iter(t.items()))
        if e is working and update:
            return
        if e.stamps[-1] < oldest_ok:
            del t[addr]
