"""Reading iptables-save / iptables-restore text and applying it like ``iptables-restore``.

``parse_restore(text)`` checks the block structure (``*table`` ... ``COMMIT``, chain lines,
``#`` comments) and returns a :class:`SourcedPayload` (a :class:`~sim.iptables.ruleset.Payload`
that remembers each line's number in the file). ``apply_payload(payload, current)`` executes
the commands (``-A -I -D -N -X -F -P``), parsing every rule with :func:`parse_rule`, and
returns the new :class:`~sim.iptables.ruleset.Ruleset`.

Validation follows the kernel's ``iptables-restore`` (iptables 1.8.9, measured on a real
kernel): unknown table, chain name over 28 characters, ``-A`` to a missing chain, a jump to a
chain that does not exist (yet) at that line, ``-X`` of a built-in, non-empty or referenced
chain, ``-N`` of an existing chain, unknown match/target/option, a bad option value, a
target used outside its table or built-in chain (``DNAT`` outside nat PREROUTING/OUTPUT), and
``-i``/``-o`` on a hook without that interface. Each error is a :class:`RestoreError` naming the
source and line.

Large payloads (more rule lines than the parse cache holds, e.g. a real node's dump of a
million rules) are parsed through shape plans (:class:`_Plan`: a rule whose tokens differ from
an earlier rule's only in values is built from that rule's structure, every value checked
again; anything else takes the full parser) and equal options, matches, targets and chain
names of different rules are one object. The result and every error are the same as on the
cached path (``tests/iptables/test_large_restore.py``); a file can be streamed with
:func:`parse_restore_lines`.

Atomicity: the caller's ``Ruleset`` is never modified (it is immutable); an error raises and
returns nothing. The kernel commits each ``*table`` block at its ``COMMIT``, so tables that
came *before* the failing block are applied on a real node: ``RestoreError.committed`` holds
that partially applied ruleset for callers that model this (measured with both
iptables-nft-restore and iptables-legacy-restore).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sim.iptables.extensions import (
    IMPLICIT_PROTO_MATCHES,
    MATCHES,
    PROTOCOL_NAMES,
    STANDARD_TARGETS,
    TARGETS,
    Extension,
    ExtensionError,
    RuleContext,
    check_network,
    proto_number,
)
from sim.iptables.gcpause import gc_paused
from sim.iptables.ruleset import (
    BUILTIN_CHAINS,
    MAX_CHAIN_NAME,
    Chain,
    ChainDecl,
    Match,
    Option,
    Payload,
    Rule,
    Ruleset,
    Table,
    TablePayload,
    Target,
)
from sim.iptables.save import TABLE_ORDER, render_rule, render_save
from sim.model.errors import SimError

POLICIES = ("ACCEPT", "DROP")
_NO_IN_IFACE = ("OUTPUT", "POSTROUTING")
_NO_OUT_IFACE = ("PREROUTING", "INPUT")


class RestoreError(SimError):
    """A restore failed at ``source:line``; ``committed`` is what a real kernel would hold
    afterwards (tables of the blocks committed before the failing one)."""

    def __init__(self, message: str, source: str = "", line: int = 0,
                 committed: Ruleset | None = None) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.committed = committed
        where = f"{source or '<rules>'}:{line}: " if line else (f"{source}: " if source else "")
        super().__init__(where + message)


@dataclass(frozen=True, slots=True)
class SourcedPayload(Payload):
    """A payload read from text: ``chain_lines[i]`` / ``command_lines[i]`` are the line
    numbers of ``tables[i].chains`` / ``tables[i].lines``, ``table_lines[i]`` the ``*table``
    line and ``commit_lines[i]`` its ``COMMIT``."""

    source: str = ""
    table_lines: tuple[int, ...] = ()
    chain_lines: tuple[tuple[int, ...], ...] = ()
    command_lines: tuple[tuple[int, ...], ...] = ()
    commit_lines: tuple[int, ...] = ()


# ---------------------------------------------------------------------------- tokens

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|([^\s"]+)|(\S)')
_ESCAPE = re.compile(r"\\(.)")


def tokenize(line: str) -> list[str]:
    """Split a restore line into arguments like iptables-restore's ``add_param_to_argv``:
    blanks separate, ``"..."`` groups (with ``\\"`` and ``\\\\`` escapes inside), single quotes
    are ordinary characters.

    >>> tokenize('-A X -m comment --comment "a \\\\"b\\\\" c" -j ACCEPT')
    ['-A', 'X', '-m', 'comment', '--comment', 'a "b" c', '-j', 'ACCEPT']
    """
    if '"' not in line:
        return line.split()
    out: list[str] = []
    for quoted, bare, stray in _TOKEN.findall(line):
        if stray:
            raise ExtensionError("unterminated quoted string")
        out.append(bare if bare else _ESCAPE.sub(r"\1", quoted))
    return out


# ---------------------------------------------------------------------------- rule parsing

_BUILTIN_OPTS = {
    "-s": "-s", "--source": "-s", "--src": "-s",
    "-d": "-d", "--destination": "-d", "--dst": "-d",
    "-p": "-p", "--protocol": "-p",
    "-i": "-i", "--in-interface": "-i",
    "-o": "-o", "--out-interface": "-o",
}


def _iface_ok(name: str) -> bool:
    return 0 < len(name) < 16 and "/" not in name and " " not in name


def parse_rule(chain: str, text: str, line: int = 0, *, table: str = "filter",
               source: str = "") -> Rule:
    """Parse the rule specification that follows ``-A CHAIN`` (may include ``-c p b``).

    Raises :class:`RestoreError` naming ``source:line`` for anything iptables would refuse:
    unknown match, target or option, a bad value, a missing mandatory option.

    >>> r = parse_rule("KUBE-SERVICES", "-d 10.96.0.1 -p tcp --dport 443 -j KUBE-SVC-X", table="nat")
    >>> [m.module for m in r.matches], r.target.name
    (['', '', 'tcp'], 'KUBE-SVC-X')
    """
    try:
        rule = _parse_rule_cached(chain, text, table)
    except ExtensionError as exc:
        raise RestoreError(str(exc), source, line) from None
    if rule.line == line:
        return rule
    # The constructor, not dataclasses.replace: this runs once per restore line.
    return Rule(rule.chain, rule.matches, rule.target, line, rule.text, rule.packets,
                rule.bytes)


_CACHED_RULES = 1 << 18


@lru_cache(maxsize=_CACHED_RULES)
def _parse_rule_cached(chain: str, text: str, table: str) -> Rule:
    # kube-proxy rewrites mostly the same lines on every sync: parse each distinct line once.
    return _parse_rule(chain, text, 0, table)


def _shared(share: dict | None, key: tuple, make: type, *args: object):
    """``make(*args)``, or the equal object made before under ``key`` in ``share``."""
    if share is None:
        return make(*args)
    obj = share.get(key)
    if obj is None:
        obj = share[key] = make(*args)
    return obj


def _parse_rule(chain: str, text: str, line: int, table: str,
                share: dict | None = None, tokens: list[str] | None = None,
                spans: dict[tuple, int] | None = None) -> Rule:
    """Parse one rule. ``share`` (one restore's): equal strings, options, matches and
    targets of different rules become one object (a million-rule dump repeats most of
    them: protocols, ports, comments, jump targets). ``tokens``: the text already split.
    ``spans``: filled with where each value was taken from (for :class:`_Plan`)."""
    if tokens is None:
        tokens = tokenize(text)
    builtins: dict[str, Match] = {}
    matches: list[tuple[str, list[Option]]] = []  # module ("" = built-in) and its options
    target_name: str | None = None
    target_goto = False
    target_opts: list[Option] = []
    target_ext: Extension | None = None
    packets = bytes_ = 0
    negate = False
    i = 0
    n = len(tokens)

    def take(count: int, what: str) -> tuple[str, ...]:
        nonlocal i
        if i + count > n:
            raise ExtensionError(f"option \"{what}\" requires an argument")
        vals = tuple(tokens[i:i + count])
        i += count
        return vals

    while i < n:
        tok = tokens[i]
        i += 1
        if tok == "!":
            if negate:
                raise ExtensionError("multiple `!' flags not allowed")
            negate = True
            continue
        if tok in _BUILTIN_OPTS:
            key = _BUILTIN_OPTS[tok]
            if key in builtins:
                raise ExtensionError(f"multiple {key} flags not allowed")
            if spans is not None:
                spans["m", len(matches), 0] = i
            (value,) = take(1, tok)
            _check_builtin(key, value)
            opt = _shared(share, (key, value, negate), Option, key, (value,), negate)
            builtins[key] = Match("", (opt,))
            matches.append(("", [opt]))
            negate = False
            continue
        if tok in ("-f", "--fragment"):
            if "-f" in builtins:
                raise ExtensionError("multiple -f flags not allowed")
            opt = Option("-f", (), negate)
            builtins["-f"] = Match("", (opt,))
            matches.append(("", [opt]))
            negate = False
            continue
        if tok in ("-m", "--match"):
            if negate:
                raise ExtensionError("unexpected ! flag before --match")
            (name,) = take(1, tok)
            if name not in MATCHES:
                raise ExtensionError(f"Couldn't load match `{name}': not supported by kube-netsim"
                                     " (supported: " + ", ".join(sorted(MATCHES)) + ")")
            matches.append((name, []))
            continue
        if tok in ("-j", "--jump", "-g", "--goto"):
            if negate:
                raise ExtensionError(f"cannot have ! before {tok}")
            if target_name is not None:
                raise ExtensionError("multiple -j flags not allowed")
            if spans is not None:
                spans["j",] = i
            (target_name,) = take(1, tok)
            target_goto = tok in ("-g", "--goto")
            target_ext = TARGETS.get(target_name)
            if target_goto and target_ext is not None:
                raise ExtensionError(f"goto '{target_name}' is not a chain")
            continue
        if tok in ("-c", "--set-counters"):
            if spans is not None:
                spans["c",] = i
            p, b = take(2, tok)
            if not (p.isdigit() and b.isdigit()):
                raise ExtensionError("-c packet counter not numeric")
            packets, bytes_ = int(p), int(b)
            continue
        if tok.startswith("-") and len(tok) > 1:
            owner = _find_owner(tok, target_ext, target_opts, matches, builtins)
            if owner is None:
                raise ExtensionError(f'unknown option "{tok}"')
            ext, opts = owner
            spec = ext.by_name[tok]
            if negate and not spec.negatable:
                raise ExtensionError(f"{ext.name}: option \"{spec.name}\" cannot be inverted.")
            if any(o.name == spec.name for o in opts):
                raise ExtensionError(f"Only one `{spec.name}' allowed")
            if spans is not None:
                spans[_owner_key(opts, matches, target_opts) + (len(opts),)] = i
            values = take(spec.nargs, tok)
            if spec.check is not None:
                spec.check(values)
            opts.append(_shared(share, (spec.name, values, negate), Option, spec.name, values,
                                negate))
            negate = False
            continue
        raise ExtensionError(f"Bad argument `{tok}'")
    if negate:
        raise ExtensionError("no argument following `!'")

    proto_m = builtins.get("-p")
    proto = ""
    if proto_m:
        num = proto_number(proto_m.options[0].values[0])
        proto = PROTOCOL_NAMES.get(num, str(num))
    ctx = RuleContext(table, chain, "" if proto == "all" else proto,
                      bool(proto_m and proto_m.options[0].negated))
    built: list[Match] = []
    for module, opts in matches:
        if module == "":
            built.append(_shared(share, ("", id(opts[0])), Match, "", tuple(opts)))
            continue
        ext = MATCHES[module]
        if module in IMPLICIT_PROTO_MATCHES and (ctx.proto != module or ctx.proto_negated):
            raise ExtensionError(f"{module} match: only valid for protocol "
                                 f"{proto_number(module)} (needs -p {module})")
        if ext.check is not None:
            ext.check({o.name: o for o in opts}, ctx)
        built.append(_shared(share, (module, *map(id, opts)), Match, module, tuple(opts)))
    if chain in BUILTIN_CHAINS.get(table, ()):
        if chain in _NO_IN_IFACE and "-i" in builtins:
            raise ExtensionError(f"Can't use -i with {chain}")
        if chain in _NO_OUT_IFACE and "-o" in builtins:
            raise ExtensionError(f"Can't use -o with {chain}")
    target = None
    if target_name is not None:
        if target_ext is not None:
            if target_ext.check is not None:
                target_ext.check({o.name: o for o in target_opts}, ctx)
            if target_ext.tables and table not in target_ext.tables:
                raise ExtensionError(f"{target_name} target is only valid in the "
                                     f"{'/'.join(target_ext.tables)} table")
            if (target_ext.hooks and chain in BUILTIN_CHAINS.get(table, ())
                    and chain not in target_ext.hooks):
                raise ExtensionError(f"{target_name} target is not valid in chain {chain}")
        elif target_opts:
            raise ExtensionError(f'unknown option "{target_opts[0].name}"')
        target = _shared(share, (target_name, target_goto, *map(id, target_opts)), Target,
                         target_name, tuple(target_opts), target_goto)
        if target_ext is None and target_name not in STANDARD_TARGETS:
            _check_chain_name(target_name)
    matched = (tuple(built) if share is None
               else _shared(share, tuple(map(id, built)), tuple, built))
    return Rule(chain, matched, target, line, text, packets, bytes_)


def _owner_key(opts: list[Option], matches: list[tuple[str, list[Option]]],
               target_opts: list[Option]) -> tuple:
    if opts is target_opts:
        return ("t",)
    return ("m", next(k for k, (_, o) in enumerate(matches) if o is opts))


class _Plan:
    """How a parsed rule was built from its tokens, to build the next rule whose tokens
    differ only in values (addresses, ports, comments, jump targets...) without parsing it.

    A million-rule dump has a few dozen rule shapes. :meth:`replay` requires every token
    that is not a value to be the template's, takes the values from the same positions and
    runs every check of a value again (option checks, the match and target checks, the
    chain name of a jump); it returns ``None`` (parse normally, for the exact error) when
    anything differs or fails. ``-p``'s protocol, ``-m`` names and an extension target's
    name are not values: they decide how the rest is parsed.
    """

    __slots__ = ("table", "n", "fixed", "matches", "target", "target_fixed", "jump_pos",
                 "counters_pos",
                 "proto", "proto_negated", "packets", "bytes")

    def __init__(self, rule: Rule, table: str, tokens: list[str],
                 spans: dict[tuple, int]) -> None:
        self.table = table
        self.n = len(tokens)
        values: set[int] = set()
        self.matches = []
        for k, m in enumerate(rule.matches):
            ext = MATCHES.get(m.module) if m.module else None
            ops = []
            for j, o in enumerate(m.options):
                start = spans.get(("m", k, j), -1)
                if o.name == "-p" and not m.module:
                    start = -1  # decides the implicit protocol match: structure
                if start >= 0:
                    values.update(range(start, start + len(o.values)))
                check = ext.by_name[o.name].check if ext is not None else None
                ops.append((o, start, check))
            # A match without values is the template's (its checks gave the same answer).
            fixed = m if all(start < 0 for _, start, _ in ops) else None
            self.matches.append((m.module, ext, ops, fixed))
        t = rule.target
        self.target = None
        self.target_fixed: Target | None = None
        self.jump_pos = -1
        if t is not None:
            ext = TARGETS.get(t.name)
            ops = []
            for j, o in enumerate(t.options):
                start = spans.get(("t", j), -1)
                if start >= 0:
                    values.update(range(start, start + len(o.values)))
                check = ext.by_name[o.name].check if ext is not None else None
                ops.append((o, start, check))
            self.target = (t, ext, ops)
            if ext is None and t.name not in STANDARD_TARGETS:
                self.jump_pos = spans["j",]
                values.add(self.jump_pos)
            elif all(start < 0 for _, start, _ in ops):
                self.target_fixed = t  # ACCEPT, MASQUERADE...: the template's

        self.counters_pos = spans.get(("c",), -1)
        if self.counters_pos >= 0:
            values.update((self.counters_pos, self.counters_pos + 1))
        self.packets, self.bytes = rule.packets, rule.bytes
        self.fixed = tuple((i, tokens[i]) for i in range(len(tokens)) if i not in values)
        proto_m = next((m for m in rule.matches if not m.module and m.options[0].name == "-p"),
                       None)
        self.proto = ""
        self.proto_negated = False
        if proto_m is not None:
            num = proto_number(proto_m.options[0].values[0])
            proto = PROTOCOL_NAMES.get(num, str(num))
            self.proto = "" if proto == "all" else proto
            self.proto_negated = proto_m.options[0].negated

    def replay(self, chain: str, tokens: list[str], text: str, line: int,
               share: dict) -> Rule | None:
        if len(tokens) != self.n:
            return None
        for i, tok in self.fixed:
            if tokens[i] != tok:
                return None
        try:
            return self._build(chain, tokens, text, line, share)
        except ExtensionError:
            return None

    def _build(self, chain: str, tokens: list[str], text: str, line: int,
               share: dict) -> Rule | None:
        ctx = None
        built = []
        for module, ext, ops, fixed in self.matches:
            if fixed is not None:
                built.append(fixed)
                continue
            opts = []
            for o, start, check in ops:
                if start < 0:
                    opts.append(o)
                elif not module:
                    value = tokens[start]
                    _check_builtin(o.name, value)
                    key = (o.name, value, o.negated)
                    opt = share.get(key)
                    if opt is None:
                        opt = share[key] = Option(o.name, (value,), o.negated)
                    opts.append(opt)
                else:
                    values = tuple(tokens[start:start + len(o.values)])
                    if check is not None:
                        check(values)
                    key = (o.name, values, o.negated)
                    opt = share.get(key)
                    if opt is None:
                        opt = share[key] = Option(o.name, values, o.negated)
                    opts.append(opt)
            if not module:
                built.append(_shared(share, ("", id(opts[0])), Match, "", tuple(opts)))
                continue
            if ext.check is not None:
                ctx = ctx or RuleContext(self.table, chain, self.proto, self.proto_negated)
                ext.check({o.name: o for o in opts}, ctx)
            built.append(_shared(share, (module, *map(id, opts)), Match, module, tuple(opts)))
        target = self.target_fixed
        if self.target is not None and target is None:
            t, ext, ops = self.target
            name = t.name
            if self.jump_pos >= 0:
                name = tokens[self.jump_pos]
                if name == t.name:
                    target = t  # the template's jump (a user chain target has no options)
                elif name in TARGETS or name in STANDARD_TARGETS:
                    return None
                else:
                    _check_chain_name(name)
            opts = []
            for o, start, check in ops:
                if start < 0:
                    opts.append(o)
                    continue
                values = tuple(tokens[start:start + len(o.values)])
                if check is not None:
                    check(values)
                opts.append(_shared(share, (o.name, values, o.negated), Option, o.name,
                                    values, o.negated))
            if ext is not None and ext.check is not None:
                ctx = ctx or RuleContext(self.table, chain, self.proto, self.proto_negated)
                ext.check({o.name: o for o in opts}, ctx)
            if target is None:
                target = _shared(share, (name, t.goto, *map(id, opts)), Target, name,
                                 tuple(opts), t.goto)
        packets, bytes_ = self.packets, self.bytes
        if self.counters_pos >= 0:
            p, b = tokens[self.counters_pos], tokens[self.counters_pos + 1]
            if not (p.isdigit() and b.isdigit()):
                return None
            packets, bytes_ = int(p), int(b)
        matched = _shared(share, tuple(map(id, built)), tuple, built)
        return Rule(chain, matched, target, line, text, packets, bytes_)


_PLANS_PER_SHAPE = 8
_PLANS = ("plans",)  # the key of a restore's plans in its share dict (no token is a tuple)


def _parse_rule_planned(chain: str, text: str, line: int, table: str, share: dict,
                        plans: dict[tuple, list[_Plan]]) -> Rule:
    """:func:`_parse_rule` through the :class:`_Plan` of an earlier rule of the same shape
    when one fits (``plans``: one restore's, by table, built-in chain, token count and the
    option tokens)."""
    # Tokens are not interned: the values kept are in options shared by value.
    tokens = tokenize(text)
    key = (table, chain if chain in BUILTIN_CHAINS.get(table, ()) else "", len(tokens),
           *[t for t in tokens if t[:1] in "-!"])
    candidates = plans.get(key)
    if candidates is not None:
        for plan in candidates:
            rule = plan.replay(chain, tokens, text, line, share)
            if rule is not None:
                return rule
    spans: dict[tuple, int] = {}
    rule = _parse_rule(chain, text, line, table, share, tokens, spans)
    if candidates is None:
        candidates = plans[key] = []
    if len(candidates) < _PLANS_PER_SHAPE:
        candidates.append(_Plan(rule, table, tokens, spans))
    return rule


def _check_builtin(key: str, value: str) -> None:
    if key in ("-s", "-d"):
        for part in value.split(","):
            check_network(part)
        if "," in value:
            raise ExtensionError("multiple addresses per -s/-d are not supported by kube-netsim")
    elif key == "-p":
        proto_number(value)
    elif not _iface_ok(value):
        raise ExtensionError(f"Invalid interface name `{value}'")


def _find_owner(tok: str, target_ext: Extension | None, target_opts: list[Option],
                matches: list[tuple[str, list[Option]]],
                builtins: dict[str, Match]) -> tuple[Extension, list[Option]] | None:
    """Which extension an option belongs to: the target when it knows the option, else the
    most recent match that does, else the protocol match iptables loads implicitly for
    ``-p tcp --dport 80`` (appended at this position, as ``load_proto`` does)."""
    if target_ext is not None and tok in target_ext.by_name:
        return target_ext, target_opts
    for module, opts in reversed(matches):
        if module and tok in MATCHES[module].by_name:
            return MATCHES[module], opts
    proto_m = builtins.get("-p")
    if proto_m is not None:
        num = proto_number(proto_m.options[0].values[0])
        proto = PROTOCOL_NAMES.get(num, str(num))
        if proto in IMPLICIT_PROTO_MATCHES and tok in MATCHES[proto].by_name:
            opts: list[Option] = []
            matches.append((proto, opts))
            return MATCHES[proto], opts
    return None


def _check_chain_name(name: str) -> None:
    if len(name) > MAX_CHAIN_NAME:
        raise ExtensionError(f"chain name `{name}' too long (must be under 29 chars)")


# ---------------------------------------------------------------------------- restore text

def parse_restore(text: str, source: str = "") -> SourcedPayload:
    """Read iptables-restore (or iptables-save, with or without ``-c`` counters) text.

    Checks the structure only (tables, chain lines, ``COMMIT``); rules are parsed and
    validated by :func:`apply_payload`. ``#`` lines and blank lines are skipped.

    >>> p = parse_restore("*nat\\n:KUBE-SERVICES - [0:0]\\n-A OUTPUT -j KUBE-SERVICES\\nCOMMIT\\n")
    >>> p.tables[0].name, p.tables[0].chains[0].name, p.tables[0].lines
    ('nat', 'KUBE-SERVICES', ('-A OUTPUT -j KUBE-SERVICES',))
    """
    return parse_restore_lines(text.splitlines(), source)


def parse_restore_lines(lines: Iterable[str], source: str = "") -> SourcedPayload:
    """:func:`parse_restore` over the lines of the text (``str.splitlines`` semantics; each
    without its line break), read one at a time: a file can be streamed instead of held
    in memory whole."""
    tables: list[TablePayload] = []
    table_lines: list[int] = []
    chain_lines: list[tuple[int, ...]] = []
    command_lines: list[tuple[int, ...]] = []
    commit_lines: list[int] = []
    cur: str | None = None
    chains: list[ChainDecl] = []
    clines: list[int] = []
    cmds: list[str] = []
    cmdlines: list[int] = []
    lineno = 0
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            if cur is not None:
                raise RestoreError(f"COMMIT expected before table {line}", source, lineno)
            name = line[1:].strip()
            if name not in BUILTIN_CHAINS:
                raise RestoreError(f"table name '{name}' invalid (supported: "
                                   + ", ".join(TABLE_ORDER) + ")", source, lineno)
            cur = name
            table_lines.append(lineno)
            chains, clines, cmds, cmdlines = [], [], [], []
            continue
        if cur is None:
            raise RestoreError("no table specified (a '*table' line must come first)",
                               source, lineno)
        if line == "COMMIT":
            tables.append(TablePayload(cur, tuple(chains), tuple(cmds)))
            chain_lines.append(tuple(clines))
            command_lines.append(tuple(cmdlines))
            commit_lines.append(lineno)
            cur = None
            continue
        if line.startswith(":"):
            decl = _parse_chain_line(cur, line, source, lineno)
            if not cmds:
                chains.append(decl)
                clines.append(lineno)
                continue
            # A chain line after commands takes effect at its position (legacy semantics):
            # keep it among the commands.
        cmds.append(line)
        cmdlines.append(lineno)
    if cur is not None:
        raise RestoreError(f"COMMIT expected at line {lineno + 1}", source, lineno + 1)
    return SourcedPayload(tuple(tables), source, tuple(table_lines), tuple(chain_lines),
                          tuple(command_lines), tuple(commit_lines))


def _parse_chain_line(table: str, line: str, source: str, lineno: int) -> ChainDecl:
    parts = line[1:].split()
    if not parts:
        raise RestoreError("empty chain name", source, lineno)
    name = parts[0]
    if len(name) > MAX_CHAIN_NAME:
        raise RestoreError(f"chain name `{name}' too long (must be under 29 chars)",
                           source, lineno)
    policy = parts[1] if len(parts) > 1 else "-"
    if len(parts) > 3:
        raise RestoreError(f"bad chain line `{line}'", source, lineno)
    packets = bytes_ = 0
    if len(parts) == 3:
        c = parts[2]
        try:
            if not (c.startswith("[") and c.endswith("]")):
                raise ValueError(c)
            p, b = c[1:-1].split(":")
            packets, bytes_ = int(p), int(b)
        except ValueError:
            raise RestoreError(f"invalid counters `{c}' for chain {name}", source, lineno) from None
    builtin = name in BUILTIN_CHAINS[table]
    if builtin and policy not in POLICIES + ("-",):
        raise RestoreError(f"Bad built-in chain policy `{policy}'", source, lineno)
    if not builtin and policy != "-":
        # iptables-legacy-restore refuses it with these words (libiptc iptc_set_policy);
        # iptables-nft-restore 1.8.9 drops the policy without a word, and -P refuses it in
        # both ("Bad built-in chain name"): refused here, never silently ignored.
        raise RestoreError(f"Can't set policy `{policy}' on `{name}' line {lineno}: "
                           "Bad built-in chain name", source, lineno)
    if not builtin and name in STANDARD_TARGETS + tuple(TARGETS):
        raise RestoreError(f"Invalid chain name `{name}'", source, lineno)
    return ChainDecl(name, policy, packets, bytes_)


@dataclass
class _WChain:
    policy: str | None
    rules: list[Rule]
    packets: int = 0
    bytes: int = 0


def _fresh_table(name: str) -> dict[str, _WChain]:
    return {c: _WChain("ACCEPT", []) for c in BUILTIN_CHAINS[name]}


def _working(table: Table) -> dict[str, _WChain]:
    return {n: _WChain(c.policy, list(c.rules), c.packets, c.bytes) for n, c in table.chains.items()}


def _freeze(name: str, chains: dict[str, _WChain]) -> Table:
    return Table(name, {n: Chain(n, tuple(c.rules), c.policy, c.packets, c.bytes)
                        for n, c in chains.items()})


@gc_paused()
def apply_payload(payload: Payload, current: Ruleset | None = None, noflush: bool = False,
                  counters: bool = False) -> Ruleset:
    """Apply a restore payload as ``iptables-restore [--noflush] [--counters]`` would.

    Without ``noflush`` each ``*table`` block replaces that table (user chains deleted, built-in
    policies back to ACCEPT); with it, a chain line flushes (or creates) that user chain and
    everything else is kept. ``counters`` restores ``[p:b]`` prefixes and chain-line counters
    (``-c p b`` inside a rule is always honoured, as iptables does).

    Returns a new ``Ruleset``; ``current`` is untouched. Raises :class:`RestoreError` naming
    the line on the first error.

    >>> rs = apply_payload(parse_restore("*filter\\n:X - [0:0]\\n-A INPUT -j X\\nCOMMIT\\n"))
    >>> list(rs.tables["filter"].chains)
    ['INPUT', 'FORWARD', 'OUTPUT', 'X']
    """
    tables: dict[str, Table] = dict(current.tables) if current is not None else {}
    # More lines than the parse cache holds never hit it (an LRU over a longer sequence):
    # parse them directly, sharing equal parts between rules instead.
    share: dict | None = ({} if sum(len(t.lines) for t in payload.tables) > _CACHED_RULES
                          else None)
    sourced = isinstance(payload, SourcedPayload)
    source = payload.source if sourced else ""
    for ti, tp in enumerate(payload.tables):
        if sourced:
            clines = payload.chain_lines[ti]
            cmdlines = payload.command_lines[ti]
        else:
            # A payload built in code: number lines as in its rendered restore text.
            base = sum(len(t.chains) + len(t.lines) + 2 for t in payload.tables[:ti]) + 1
            clines = tuple(range(base + 1, base + 1 + len(tp.chains)))
            cmdlines = tuple(range(base + 1 + len(tp.chains),
                                   base + 1 + len(tp.chains) + len(tp.lines)))
        if not tp.chains and not tp.lines:
            if not noflush:
                # An empty block: iptables-nft-restore flushes the table and deletes it, so
                # iptables-save no longer lists it (legacy would list it empty).
                tables.pop(tp.name, None)
            continue
        try:
            new = _apply_table(tp, tables.get(tp.name), noflush, counters, source, clines,
                               cmdlines, share)
            commit = (payload.commit_lines[ti] if sourced
                      else (cmdlines[-1] if cmdlines else clines[-1] if clines else base) + 1)
            _check_loops(new, source, commit)
        except RestoreError as exc:
            exc.committed = Ruleset(_ordered_tables(tables))
            raise
        tables[tp.name] = new
    return Ruleset(_ordered_tables(tables))


def _check_loops(table: Table, source: str, commit_line: int) -> None:
    """Refuse a table whose jumps and gotos loop on a path from a built-in chain, as the
    kernel does at COMMIT (``mark_source_chains`` walks from the hook entry points: ELOOP;
    iptables-nft reports "Too many links"). A loop among chains no built-in chain reaches
    is accepted, by both backends alike."""
    builtin = BUILTIN_CHAINS[table.name]
    edges = {name: [r.target.name for r in chain.rules
                    if r.target is not None and r.target.name in table.chains
                    and r.target.name not in builtin]
             for name, chain in table.chains.items()}
    done: set[str] = set()
    for root in builtin:
        if root in done or root not in table.chains:
            continue
        path, on_path, stack = [root], {root}, [iter(edges[root])]
        while stack:  # depth-first, iteratively: chains may nest deeper than Python's stack
            nxt = next(stack[-1], None)
            if nxt is None:
                done.add(path[-1])
                on_path.discard(path.pop())
                stack.pop()
            elif nxt in on_path:
                loop = " -> ".join(path[path.index(nxt):] + [nxt])
                raise RestoreError(f"Too many links: the chains loop ({loop}); the kernel "
                                   "refuses a table whose jumps loop", source, commit_line)
            elif nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(edges[nxt]))


def _ordered_tables(tables: dict[str, Table]) -> dict[str, Table]:
    return {n: tables[n] for n in TABLE_ORDER if n in tables}


def _apply_table(tp: TablePayload, existing: Table | None, noflush: bool, counters: bool,
                 source: str, clines: tuple[int, ...], cmdlines: tuple[int, ...],
                 share: dict | None = None) -> Table:
    name = tp.name
    if noflush and existing is not None:
        chains = _working(existing)
    else:
        chains = _fresh_table(name)
    builtin = BUILTIN_CHAINS[name]
    for decl, lineno in zip(tp.chains, clines):
        if decl.name in builtin:
            ch = chains[decl.name]
            if decl.policy != "-":
                ch.policy = decl.policy
            if counters:
                ch.packets, ch.bytes = decl.packets, decl.bytes
        elif decl.name in chains:
            chains[decl.name].rules = []
        else:
            chains[decl.name] = _WChain(None, [])
    for text, lineno in zip(tp.lines, cmdlines):
        if text.startswith("-A "):  # the common case, as _apply_command reads it
            chain, _, spec = text[3:].strip().partition(" ")
            wc = chains.get(chain)
            if chain and wc is not None:
                if share is not None:
                    chain = share.setdefault(chain, chain)  # one string per chain name
                wc.rules.append(_rule(name, chain, spec.strip(), lineno, source, chains, None,
                                      None, share))
                continue
        _apply_command(name, chains, text, lineno, counters, source, share)
    return _freeze(name, chains)


def _split_counters(text: str, source: str, lineno: int) -> tuple[str, int, int] | None:
    if not text.startswith("["):
        return None
    end = text.find("]")
    try:
        p, b = text[1:end].split(":")
        return text[end + 1:].lstrip(), int(p), int(b)
    except ValueError:
        raise RestoreError(f"invalid counters `{text[:end + 1]}'", source, lineno) from None


_CMDS = {"-A": "-A", "--append": "-A", "-I": "-I", "--insert": "-I", "-D": "-D",
         "--delete": "-D", "-N": "-N", "--new-chain": "-N", "-X": "-X", "--delete-chain": "-X",
         "-F": "-F", "--flush": "-F", "-P": "-P", "--policy": "-P"}


def _apply_command(table: str, chains: dict[str, _WChain], text: str, lineno: int,
                   counters: bool, source: str, share: dict | None = None) -> None:
    def fail(msg: str) -> RestoreError:
        return RestoreError(msg, source, lineno)

    packets = bytes_ = None
    split = _split_counters(text, source, lineno)
    if split is not None:
        text, p, b = split
        if counters:
            packets, bytes_ = p, b
    if text.startswith(":"):
        decl = _parse_chain_line(table, text, source, lineno)
        if decl.name in BUILTIN_CHAINS[table]:
            if decl.policy != "-":
                chains[decl.name].policy = decl.policy
        elif decl.name in chains:
            chains[decl.name].rules = []
        else:
            chains[decl.name] = _WChain(None, [])
        return
    head, _, rest = text.partition(" ")
    cmd = _CMDS.get(head)
    if cmd is None:
        raise fail(f"unknown command `{head}' (supported: -A -I -D -N -X -F -P)")
    rest = rest.strip()
    chain, _, spec = rest.partition(" ")
    if share is not None:
        chain = share.setdefault(chain, chain)  # one string per chain name, not per rule
    spec = spec.strip()
    builtin = BUILTIN_CHAINS[table]
    if cmd in ("-A", "-I", "-D", "-N", "-P") and not chain:
        raise fail(f"option \"{head}\" requires a chain name")
    if cmd == "-N":
        if len(chain) > MAX_CHAIN_NAME:
            raise fail(f"chain name `{chain}' too long (must be under 29 chars)")
        if chain in chains:
            raise fail("Chain already exists.")
        if spec:
            raise fail(f"Bad argument `{spec.split()[0]}'")
        chains[chain] = _WChain(None, [])
        return
    if cmd == "-F":
        if chain and chain not in chains:
            raise fail(f"No chain/target/match by that name: {chain}")
        for n in [chain] if chain else list(chains):
            chains[n].rules = []
        return
    if cmd == "-X":
        doomed = [chain] if chain else [n for n in chains if n not in builtin]
        for n in doomed:
            if n not in chains:
                raise fail(f"No chain/target/match by that name: {n}")
            if n in builtin:
                raise fail(f"Can't delete built-in chain {n}")
            if chains[n].rules:
                raise fail(f"Directory not empty: chain {n} still has rules")
        for n in doomed:
            refs = [c for c, ch in chains.items() if c not in doomed
                    for r in ch.rules if r.target is not None and r.target.name == n]
            if refs:
                raise fail(f"Device or resource busy: chain {n} is referenced from {refs[0]}")
        for n in doomed:
            del chains[n]
        return
    if chain not in chains:
        raise fail(f"No chain/target/match by that name: {chain}")
    if cmd == "-P":
        if chain not in builtin:
            raise fail(f"Can't set policy on user-defined chain {chain}")
        if spec not in POLICIES:
            raise fail(f"Bad policy name `{spec}'")
        chains[chain].policy = spec
        return
    rules = chains[chain].rules
    if cmd == "-I":
        pos = 1
        first, _, after = spec.partition(" ")
        if first.isdigit():
            pos, spec = int(first), after.strip()
            if not 1 <= pos <= len(rules) + 1:
                raise fail(f"Index of insertion too big: {pos}")
        rule = _rule(table, chain, spec, lineno, source, chains, packets, bytes_, share)
        rules.insert(pos - 1, rule)
        return
    if cmd == "-D":
        if spec.isdigit():
            idx = int(spec)
            if not 1 <= idx <= len(rules):
                raise fail(f"Index of deletion too big: {idx}")
            del rules[idx - 1]
            return
        rule = _rule(table, chain, spec, lineno, source, chains, None, None, share)
        key = _rule_key(rule)
        for k, r in enumerate(rules):
            if _rule_key(r) == key:
                del rules[k]
                return
        raise fail("Bad rule (does a matching rule exist in that chain?)")
    rules.append(_rule(table, chain, spec, lineno, source, chains, packets, bytes_, share))


def _rule(table: str, chain: str, spec: str, lineno: int, source: str,
          chains: dict[str, _WChain], packets: int | None, bytes_: int | None,
          share: dict | None = None) -> Rule:
    if share is None:
        rule = parse_rule(chain, spec, lineno, table=table, source=source)
    else:
        try:
            rule = _parse_rule_planned(chain, spec, lineno, table, share,
                                       share.setdefault(_PLANS, {}))
        except ExtensionError as exc:
            raise RestoreError(str(exc), source, lineno) from None
    t = rule.target
    if t is not None and t.name not in TARGETS and t.name not in STANDARD_TARGETS:
        if t.name not in chains:
            raise RestoreError(f"Chain '{t.name}' does not exist (and `{t.name}' is not a "
                               "supported target)", source, lineno)
        if t.name in BUILTIN_CHAINS[table]:
            raise RestoreError(f"cannot jump to built-in chain {t.name}", source, lineno)
    if packets is not None:
        rule = Rule(rule.chain, rule.matches, rule.target, rule.line, rule.text, packets,
                    bytes_ or 0)
    return rule


def _rule_key(rule: Rule) -> str:
    """Semantic identity of a rule for ``-D <rule-spec>`` (its iptables-save form)."""
    return render_rule(rule)


def canonicalise(text: str, sort_rules: bool = False, source: str = "") -> str:
    """A canonical form of restore or save text for comparisons: the text is applied to empty
    tables and rendered as ``iptables-save`` would (so counters, ``#`` lines, spelling and
    option order no longer matter; chains are sorted). Rule order inside a chain is kept
    because it is meaningful; ``sort_rules=True`` also sorts the rules of each chain (for
    comparing outputs that differ only by kube-proxy's map-iteration order, as upstream's
    ``sortIPTablesRules`` does for its tests).

    >>> a = "*nat\\n:X - [0:0]\\n-A X -m comment --comment x -j MARK --or-mark 0x4000\\nCOMMIT\\n"
    >>> b = "*nat\\n:X - [5:6]\\n[1:2] -A X -j MARK --set-xmark 0x4000/0x4000 -m comment --comment x\\nCOMMIT\\n"
    >>> canonicalise(a) == canonicalise(b)
    True
    """
    out = render_save(apply_payload(parse_restore(text, source)))
    if not sort_rules:
        return out
    lines = out.splitlines()
    result: list[str] = []
    rules: list[str] = []
    for line in lines:
        if line.startswith("-A "):
            rules.append(line)
            continue
        result.extend(sorted(rules))
        rules = []
        result.append(line)
    return "".join(line + "\n" for line in result)

