"""Parsers for what the kernel tools print: ``conntrack -L`` and ``iptables-save -c``.

Pure functions on text, so captured fixtures replay without root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CT_KEYS = ("src", "dst", "sport", "dport")


def parse_conntrack(text: str) -> list[dict]:
    """Parse ``conntrack -L`` output into one dict per entry.

    Each dict has ``proto``, ``timeout_s``, ``state`` (TCP only, else ``None``), ``original``
    and ``reply`` (``src``, ``dst``, ``sport``, ``dport``), ``flags`` (``ASSURED``,
    ``UNREPLIED``, ...), ``mark``. Lines that are not entries (the summary line) are skipped.

    >>> line = ("tcp      6 119 TIME_WAIT src=203.0.113.7 dst=10.96.0.10 sport=40000 dport=80 "
    ...         "src=10.244.1.2 dst=192.168.0.2 sport=80 dport=40000 [ASSURED] mark=0 use=1")
    >>> e = parse_conntrack(line)[0]
    >>> e["proto"], e["state"], e["original"]["dst"], e["reply"]["src"], e["flags"]
    ('tcp', 'TIME_WAIT', '10.96.0.10', '10.244.1.2', ['ASSURED'])
    """
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 4 or not words[1].isdigit() or not words[2].isdigit():
            continue
        entry: dict = {
            "proto": words[0], "timeout_s": int(words[2]), "state": None,
            "original": {}, "reply": {}, "flags": [], "mark": None,
        }
        side = "original"
        for word in words[3:]:
            if word.startswith("[") and word.endswith("]"):
                entry["flags"].append(word[1:-1])
            elif "=" in word:
                key, value = word.split("=", 1)
                if key in _CT_KEYS:
                    if key in entry[side]:
                        side = "reply"
                    entry[side][key] = int(value) if key in ("sport", "dport") else value
                elif key == "mark":
                    entry["mark"] = int(value, 0)
            elif word.isupper() and entry["state"] is None and not entry["original"]:
                entry["state"] = word
        out.append(entry)
    return out


@dataclass(frozen=True, slots=True)
class RuleCounter:
    """One rule of ``iptables-save -c``: its position and counters."""

    table: str
    chain: str
    index: int  # 1-based position in the chain, as `iptables -L --line-numbers` shows
    packets: int
    bytes: int
    text: str  # the rule after "-A CHAIN "


_COUNTED = re.compile(r"^\[(\d+):(\d+)\] -A (\S+) ?(.*)$")


def parse_counters(text: str) -> list[RuleCounter]:
    """Per-rule counters from ``iptables-save -c`` text, in file order.

    >>> t = "*nat\\n:PREROUTING ACCEPT [0:0]\\n[3:180] -A PREROUTING -j KUBE-SERVICES\\nCOMMIT\\n"
    >>> parse_counters(t)[0]
    RuleCounter(table='nat', chain='PREROUTING', index=1, packets=3, bytes=180, text='-j KUBE-SERVICES')
    """
    out = []
    table = ""
    positions: dict[tuple[str, str], int] = {}
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            continue
        m = _COUNTED.match(line)
        if not m:
            continue
        chain = m.group(3)
        idx = positions.get((table, chain), 0) + 1
        positions[(table, chain)] = idx
        out.append(RuleCounter(table, chain, idx, int(m.group(1)), int(m.group(2)), m.group(4)))
    return out


def counter_diff(before: list[RuleCounter], after: list[RuleCounter]) -> list[RuleCounter]:
    """Rules whose packet counter grew between two snapshots of the same ruleset, with the
    growth as ``packets``/``bytes``: an exact trace of the rules new connections hit (only the
    first packet of a connection traverses nat).

    >>> a = [RuleCounter("nat", "X", 1, 1, 60, "-j A"), RuleCounter("nat", "X", 2, 0, 0, "-j B")]
    >>> b = [RuleCounter("nat", "X", 1, 2, 120, "-j A"), RuleCounter("nat", "X", 2, 0, 0, "-j B")]
    >>> [(r.chain, r.index, r.packets) for r in counter_diff(a, b)]
    [('X', 1, 1)]
    """
    old = {(r.table, r.chain, r.index): r for r in before}
    out = []
    for r in after:
        prev = old.get((r.table, r.chain, r.index))
        p0, b0 = (prev.packets, prev.bytes) if prev else (0, 0)
        if r.packets > p0:
            out.append(RuleCounter(r.table, r.chain, r.index, r.packets - p0, r.bytes - b0, r.text))
    return out


def parse_recent(text: str) -> list[dict]:
    """Entries of ``/proc/net/xt_recent/<name>``: ``src``, ``ttl``, ``last_seen`` (jiffies),
    ``oldest_pkt`` and the list of hit timestamps.

    >>> parse_recent("src=203.0.113.7 ttl: 64 last_seen: 4295 oldest_pkt: 1 4295\\n")
    [{'src': '203.0.113.7', 'ttl': 64, 'last_seen': 4295, 'oldest_pkt': 1, 'hits': [4295]}]
    """
    out = []
    for line in text.splitlines():
        m = re.match(r"src=(\S+) ttl: (\d+) last_seen: (\d+) oldest_pkt: (\d+)(.*)$", line)
        if m:
            out.append({
                "src": m.group(1), "ttl": int(m.group(2)), "last_seen": int(m.group(3)),
                "oldest_pkt": int(m.group(4)),
                "hits": [int(x) for x in m.group(5).replace(",", " ").split()],
            })
    return out
