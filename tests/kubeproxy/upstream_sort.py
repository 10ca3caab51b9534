"""Upstream's canonical ordering of a restore payload, re-implemented for comparisons.

Models ``sortIPTablesRules`` and ``orderByCommentServiceName`` of
``pkg/proxy/iptables/proxier_test.go`` together with ``IPTablesDump.String`` of
``pkg/util/iptables/testing/parse.go``: tables by name; chains KUBE-NODEPORTS, KUBE-SERVICES,
other KUBE-* alphabetically, then the rest; every chain's rules grouped under it in written
order, except that the KUBE-NODEPORTS and KUBE-SERVICES chains are stably sorted by the service
name in their comments (the nat KUBE-SERVICES "must be the last rule" rule stays last); ``-X``
lines after all rules. Upstream's expected dumps are written in exactly this form.
"""

from __future__ import annotations

import re

_CHAIN_LINE = re.compile(r"^:([^ ]*) - \[([0-9]*):([0-9]*)\]$")
_WORD = re.compile(r'(?:^|\s)("[^"]*"|[^"]\S*)')


def _comment(rule: str) -> str | None:
    words = [m.group(1).strip('"') for m in _WORD.finditer(rule)]
    for i, w in enumerate(words[:-1]):
        if w == "--comment":
            return words[i + 1]
    return None


def _service_name(comment: str) -> str:
    cut = [i for i in (comment.find(" "), comment.find(":")) if i != -1]
    return comment[: min(cut)] if cut else comment


def _less_by_service(a: str, b: str) -> bool:
    ca, cb = _comment(a), _comment(b)
    if ca is None or cb is None:
        return False
    return _service_name(ca) < _service_name(cb)


def _stable_sort(rules: list[str], less) -> list[str]:
    # Go's sort.SliceStable with a "less" function: an insertion sort keeps equal elements in
    # order even when less() is not a strict weak order (rules without comments).
    out: list[str] = []
    for r in rules:
        i = len(out)
        while i > 0 and less(r, out[i - 1]):
            i -= 1
        out.insert(i, r)
    return out


def _chain_key(name: str) -> tuple[int, str]:
    if name == "KUBE-NODEPORTS":
        return (0, "")
    if name == "KUBE-SERVICES":
        return (1, "")
    return (2 if name.startswith("KUBE-") else 3, name)


def sort_iptables_rules(text: str) -> str:
    """``sortIPTablesRules(text)``; raises ``ValueError`` on data upstream's parser rejects."""
    tables: list[tuple[str, list[str], dict[str, list[str]], set[str]]] = []
    lines = [ln.strip() for ln in text.strip("\n").split("\n")]
    state = "table"
    for line in lines:
        if not line or line.startswith("#"):
            continue
        if state == "table":
            if not line.startswith("*"):
                raise ValueError(f"table starts with {line!r}")
            tables.append((line[1:], [], {}, set()))
            state = "chains"
            continue
        name, chains, rules, deleted = tables[-1]
        if state == "chains":
            m = _CHAIN_LINE.match(line)
            if m:
                chains.append(m.group(1))
                rules[m.group(1)] = []
                continue
            state = "rules"
        if line == "COMMIT":
            state = "table"
        elif line.startswith("-A "):
            chain = line.split(" ", 2)[1]
            if chain not in rules:
                raise ValueError(f"rule for undeclared chain: {line!r}")
            rules[chain].append(line)
        elif line.startswith("-X "):
            deleted.add(line[3:])
        else:
            raise ValueError(f"cannot parse {line!r}")
    if state != "table":
        raise ValueError("no COMMIT line")

    out: list[str] = []
    for name, chains, rules, deleted in sorted(tables, key=lambda t: t[0]):
        order = sorted(chains, key=_chain_key)
        for chain in ("KUBE-NODEPORTS", "KUBE-SERVICES"):
            if chain in rules and not (name == "nat" and chain == "KUBE-SERVICES"):
                rules[chain] = _stable_sort(rules[chain], _less_by_service)
        if name == "nat" and "KUBE-SERVICES" in rules:
            def less(a: str, b: str) -> bool:
                ca, cb = _comment(a), _comment(b)
                if ca is not None and "must be the last rule" in ca:
                    return False
                if cb is not None and "must be the last rule" in cb:
                    return True
                return _less_by_service(a, b)
            rules["KUBE-SERVICES"] = _stable_sort(rules["KUBE-SERVICES"], less)
        out.append(f"*{name}")
        out.extend(f":{c} - [0:0]" for c in order)
        for c in order:
            out.extend(rules[c])
        out.extend(f"-X {c}" for c in order if c in deleted)
        out.append("COMMIT")
    return "\n".join(out) + "\n"


