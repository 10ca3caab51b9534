"""Rule data: the contract between the compilers (``sim.kubeproxy``) and the engine
(``sim.netfilter``).

Three levels, each immutable:

``Payload``
    iptables-restore text as data: per table, the chain lines (``:NAME POLICY [p:b]``) and the
    command lines (``-A ...``, ``-I ...``, ``-X ...``, ``-F ...``) exactly as written. Compilers
    return a ``Payload`` (kube-proxy writes line buffers and hands them to ``RestoreAll``; ours
    hands back the buffers); ``Payload.render()`` gives byte-identical restore text.
``Rule`` / ``Match`` / ``Target`` / ``Option``
    One parsed ``-A`` line: matches in written order (built-in ``-s -d -p -i -o`` each as a
    ``Match`` with ``module == ""``), the target and its options, the source line number.
``Ruleset`` / ``Table`` / ``Chain``
    The state of the tables after a restore was applied: what the engine executes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
}

MAX_CHAIN_NAME = 28  # XT_EXTENSION_MAXNAMELEN - 1 in the kernel; iptables refuses longer names


@dataclass(frozen=True, slots=True)
class ChainDecl:
    """A chain line of a restore payload: ``:NAME POLICY [packets:bytes]``."""

    name: str
    policy: str = "-"
    packets: int = 0
    bytes: int = 0

    def render(self) -> str:
        return f":{self.name} {self.policy} [{self.packets}:{self.bytes}]"


@dataclass(frozen=True, slots=True)
class TablePayload:
    """One ``*table`` ... ``COMMIT`` block."""

    name: str
    chains: tuple[ChainDecl, ...] = ()
    lines: tuple[str, ...] = ()

    def render(self) -> str:
        parts = [f"*{self.name}"]
        parts.extend(c.render() for c in self.chains)
        parts.extend(self.lines)
        parts.append("COMMIT")
        return "\n".join(parts) + "\n"


@dataclass(frozen=True, slots=True)
class Payload:
    """An iptables-restore payload: tables in written order."""

    tables: tuple[TablePayload, ...] = ()

    def render(self) -> str:
        """The restore text (what ``iptables-restore`` reads)."""
        return "".join(t.render() for t in self.tables)

    def table(self, name: str) -> TablePayload | None:
        for t in self.tables:
            if t.name == name:
                return t
        return None


@dataclass(frozen=True, slots=True)
class Option:
    """One option of a match or target: ``! --dport 80`` is ``Option("--dport", ("80",), True)``.

    Names are the canonical long form (``--dport`` for ``--destination-port``); built-in
    matches use their short form (``-s -d -p -i -o -f``).
    """

    name: str
    values: tuple[str, ...] = ()
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """A match: ``module == ""`` for a built-in (``-s``, ``-d``, ``-p``, ``-i``, ``-o``)."""

    module: str
    options: tuple[Option, ...] = ()

    def option(self, name: str) -> Option | None:
        for o in self.options:
            if o.name == name:
                return o
        return None


@dataclass(frozen=True, slots=True)
class Target:
    """``-j NAME opts`` or ``-g NAME`` (``goto``). A user chain target has no options."""

    name: str
    options: tuple[Option, ...] = ()
    goto: bool = False

    def option(self, name: str) -> Option | None:
        for o in self.options:
            if o.name == name:
                return o
        return None


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of a chain. ``target`` is ``None`` for a rule without ``-j`` (it only counts)."""

    chain: str
    matches: tuple[Match, ...] = ()
    target: Target | None = None
    line: int = 0
    text: str = ""  # the rule as written after "-A CHAIN " (for traces and errors)
    packets: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class Chain:
    """A chain and its rules; ``policy`` is ``None`` for user-defined chains."""

    name: str
    rules: tuple[Rule, ...] = ()
    policy: str | None = None
    packets: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Table:
    """A table: its chains by name, in declaration order."""

    name: str
    chains: dict[str, Chain] = field(default_factory=dict)


@dataclass(frozen=True)
class Ruleset:
    """All tables of one node after a restore was applied."""

    tables: dict[str, Table] = field(default_factory=dict)

    def table(self, name: str) -> Table | None:
        return self.tables.get(name)
