"""Reading nft text and applying it like ``nft -f``: commands and ``nft list ruleset`` blocks.

:func:`apply_nft` applies a whole text atomically to a copy of the current ruleset: the first
error raises a :class:`~sim.model.errors.SimError` naming the source and line, and nothing is
changed. What is refused is what ``nft -f`` refuses (checked against nftables 1.0.6):
unknown table, chain, set or map (at the line that names it: a jump to a chain added
later in the same file is refused, as the kernel refuses it), a key of the wrong data type, a prefix in a set without ``flags interval``, ``create``
of an existing object or element, a map element added again with other data, deleting what
does not exist or what a rule still references, and every expression this parser does not
model (never ignored).
"""

from __future__ import annotations

from sim.model.errors import SimError
from sim.nftables.lexer import NEWLINE, Token, tokenize
from sim.nftables.ruleset import (
    CHAIN_TYPES,
    HOOKS,
    Binop,
    Cmp,
    Concat,
    Const,
    Counter,
    Element,
    Fib,
    Field,
    Log,
    MapLookup,
    Nat,
    NftChain,
    NftRule,
    NftRuleset,
    NftSet,
    NftTable,
    Notrack,
    Numgen,
    Reject,
    SetRef,
    SetStmt,
    SetUpdate,
    Verdict,
    Vmap,
    lookup_key,
    priority_names_for,
)
from sim.nftables.transaction import Transaction
from sim.nftables.types import (
    SELECTORS,
    UNQUALIFIED_META,
    TypeError_,
    parse_duration,
    parse_value,
)

FAMILIES = ("ip", "ip6", "inet", "arp", "bridge", "netdev")
_OPS = ("==", "!=", "<", ">", "<=", ">=")
_BINOPS = {"&": "&", "and": "&", "|": "|", "or": "|", "^": "^", "xor": "^"}
_NAT_FLAGS = ("random", "fully-random", "persistent")
_STOP = frozenset({NEWLINE, ";"})


class NftError(SimError):
    """A refused nft text: ``source:line: Error: message``."""


class _Tokens:
    def __init__(self, toks: list[Token], source: str) -> None:
        self.toks = toks
        self.i = 0
        self.source = source

    def peek(self, k: int = 0) -> Token:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else self.toks[-1]

    def next(self) -> Token:
        t = self.peek()
        self.i += 1
        return t

    def at_end(self) -> bool:
        return self.i >= len(self.toks)

    def line(self) -> int:
        return self.peek().line

    def err(self, msg: str, line: int | None = None) -> NftError:
        return NftError(f"{self.source}:{line or self.line()}: Error: {msg}")

    def expect(self, text: str) -> Token:
        t = self.next()
        if t.text != text or t.quoted:
            shown = "end of line" if t.text == NEWLINE else repr(t.text)
            raise self.err(f"syntax error, unexpected {shown}, expecting '{text}'", t.line)
        return t

    def word(self, what: str) -> str:
        t = self.next()
        if t.text in _STOP or t.text in "{},":
            shown = "end of line" if t.text == NEWLINE else repr(t.text)
            raise self.err(f"syntax error, unexpected {shown}, expecting {what}", t.line)
        return t.text

    def skip_newlines(self) -> None:
        while not self.at_end() and self.peek().text == NEWLINE and not self.peek().quoted:
            self.i += 1

    def stmt_end(self) -> bool:
        t = self.peek()
        return self.at_end() or (not t.quoted and t.text in ("\n", ";", "}"))


class _Applier:
    """Applies parsed commands to a ruleset (a private copy: the caller swaps it in)."""

    def __init__(self, rs: NftRuleset, source: str, now: float) -> None:
        self.rs = rs
        self.source = source
        self.now = now
        self.t: _Tokens
        self.placeholders: set[tuple[int, str]] = set()  # chains a block declares later
        self.family = "ip"  # of the rule being parsed
        self.l4_matched = False  # the rule so far matches a transport protocol

    # ---------------------------------------------------------------- top level

    def run(self, text: str) -> None:
        self.t = _Tokens(tokenize(text, self.source), self.source)
        t = self.t
        while True:
            t.skip_newlines()
            if t.at_end():
                break
            if t.peek().text == ";":
                t.next()
                continue
            self.command()
            if not t.at_end() and t.peek().text not in _STOP:
                raise t.err(f"syntax error, unexpected {t.peek().text!r}")

    def command(self) -> None:
        t = self.t
        line = t.line()
        verb = t.word("a command")
        if verb == "table":
            self.table_cmd("add", line, block=True)
            return
        if verb not in ("add", "create", "insert", "replace", "flush", "delete", "destroy"):
            raise t.err(f"syntax error, unexpected {verb!r}", line)
        obj = t.word("an object")
        if obj == "ruleset" and verb == "flush":
            self.rs.tables.clear()
            return
        if obj == "table":
            self.table_cmd(verb, line)
        elif obj == "chain":
            self.chain_cmd(verb, line)
        elif obj == "rule":
            self.rule_cmd(verb, line)
        elif obj in ("set", "map"):
            self.set_cmd(verb, obj, line)
        elif obj == "element":
            self.element_cmd(verb, line)
        else:
            raise t.err(f"syntax error, unexpected {obj!r}", line)

    def family_name(self) -> tuple[str, str]:
        t = self.t
        first = t.word("a table name")
        if first in FAMILIES and not t.stmt_end() and t.peek().text != "{":
            return first, t.word("a table name")
        return "ip", first

    def get_table(self, fam: str, name: str, line: int) -> NftTable:
        table = self.rs.tables.get((fam, name))
        if table is None:
            raise self.t.err(f"Could not process rule: No such file or directory: table "
                             f"{fam} {name}", line)
        return table

    # ---------------------------------------------------------------- tables

    def table_cmd(self, verb: str, line: int, block: bool = False) -> None:
        t = self.t
        fam, name = self.family_name()
        if fam not in ("ip", "ip6", "inet"):
            raise t.err(f"family {fam} is not supported (ip, ip6, inet)", line)
        key = (fam, name)
        table = self.rs.tables.get(key)
        if verb in ("delete", "destroy"):
            if table is None:
                if verb == "delete":
                    raise t.err(f"Could not process rule: No such file or directory: table "
                                f"{fam} {name}", line)
                return
            del self.rs.tables[key]
            return
        if verb == "flush":
            table = self.get_table(fam, name, line)
            for c in table.chains.values():
                c.rules = []
            for s in table.sets.values():
                s.elements = {}
            return
        if table is not None and verb == "create":
            raise t.err(f"Could not process rule: File exists: table {fam} {name}", line)
        if table is None:
            table = self.rs.tables[key] = NftTable(fam, name)
        if t.peek().text == "{":
            self.table_body(table)
        elif block:
            t.expect("{")

    def table_body(self, table: NftTable) -> None:
        t = self.t
        t.expect("{")
        # nft creates a block's chains before its rules and elements (a listed ruleset
        # prints verdict maps, whose elements name chains, before the chains).
        depth = 0
        for k in range(t.i, len(t.toks) - 1):
            tok = t.toks[k]
            if tok.quoted:
                continue
            if tok.text == "{":
                depth += 1
            elif tok.text == "}":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and tok.text == "chain" and t.toks[k + 1].text not in table.chains:
                name = t.toks[k + 1].text
                table.chains[name] = NftChain(name, handle=table.handle())
                self.placeholders.add((id(table), name))
        while True:
            t.skip_newlines()
            tok = t.peek()
            if tok.text == "}":
                t.next()
                return
            if tok.text == ";":
                t.next()
                continue
            line = tok.line
            kw = t.word("a table statement")
            if kw == "comment":
                table.comment = t.next().text
            elif kw == "flags":
                table.flags = tuple(self.comma_words())
            elif kw == "chain":
                name = t.word("a chain name")
                self.add_chain(table, name, "add", line)
            elif kw in ("set", "map"):
                name = t.word("a set name")
                self.add_set(table, name, kw, "add", line)
            else:
                raise t.err(f"syntax error, unexpected {kw!r} in table", line)

    def comma_words(self) -> list[str]:
        t = self.t
        out = [t.word("a value")]
        while t.peek().text == ",":
            t.next()
            out.append(t.word("a value"))
        return out

    # ---------------------------------------------------------------- chains

    def chain_cmd(self, verb: str, line: int) -> None:
        t = self.t
        fam, tname = self.family_name()
        name = t.word("a chain name")
        table = self.get_table(fam, tname, line)
        chain = table.chains.get(name)
        if verb in ("delete", "destroy"):
            if chain is None:
                if verb == "delete":
                    raise t.err(f"Could not process rule: No such file or directory: chain "
                                f"{name}", line)
                return
            if self.chain_referenced(table, name):
                raise t.err(f"Could not process rule: Device or resource busy: chain {name} "
                            "is referenced", line)
            del table.chains[name]
            return
        if verb == "flush":
            if chain is None:
                raise t.err(f"Could not process rule: No such file or directory: chain "
                            f"{name}", line)
            chain.rules = []
            return
        self.add_chain(table, name, verb, line)

    def chain_referenced(self, table: NftTable, name: str) -> bool:
        for c in table.chains.values():
            if c.name == name:
                continue
            for r in c.rules:
                if name in _rule_chains(r):
                    return True
        for s in table.sets.values():
            if s.data_type == "verdict":
                for e in s.elements.values():
                    if e.data[1] == name:
                        return True
        return False

    def add_chain(self, table: NftTable, name: str, verb: str, line: int) -> None:
        t = self.t
        chain = table.chains.get(name)
        placeholder = (id(table), name) in self.placeholders
        if placeholder:
            self.placeholders.discard((id(table), name))
        if chain is not None and verb == "create":
            raise t.err(f"Could not process rule: File exists: chain {name}", line)
        fresh = chain is None or placeholder
        if fresh:
            chain = NftChain(name, handle=table.handle())
        if t.peek().text != "{":
            if fresh:
                table.chains[name] = chain
            return
        t.expect("{")
        spec: dict[str, object] = {}
        rules: list[NftRule] = []
        while True:
            t.skip_newlines()
            tok = t.peek()
            if tok.text == "}":
                t.next()
                break
            if tok.text == ";":
                t.next()
                continue
            if not tok.quoted and tok.text == "type" and not rules:
                self.base_spec(spec)
            elif not tok.quoted and tok.text == "policy":
                t.next()
                pol = t.word("a policy")
                if pol not in ("accept", "drop"):
                    raise t.err(f"syntax error, unexpected {pol!r}, expecting accept or drop")
                spec["policy"] = pol
            elif not tok.quoted and tok.text == "comment" and t.peek(2).text in (";", NEWLINE, "}"):
                t.next()
                spec["comment"] = t.next().text
            else:
                rules.append(self.parse_rule(table, tok.line))
        if "hook" in spec:
            if not fresh and chain.base and (chain.hook, chain.type, chain.priority) != (
                    spec["hook"], spec["type"], spec["priority"]):
                raise t.err(f"Could not process rule: Device or resource busy: chain {name} "
                            "exists with another hook or priority", line)
            if not fresh and not chain.base:
                raise t.err(f"Could not process rule: Device or resource busy: chain {name} "
                            "exists as a regular chain", line)
            chain.type = spec["type"]  # type: ignore[assignment]
            chain.hook = spec["hook"]  # type: ignore[assignment]
            chain.priority = spec["priority"]  # type: ignore[assignment]
        elif "policy" in spec and not chain.base:
            raise t.err(f"policy is only valid on a base chain ({name})", line)
        if "policy" in spec:
            chain.policy = spec["policy"]  # type: ignore[assignment]
        if "comment" in spec:
            chain.comment = spec["comment"]  # type: ignore[assignment]
        for r in rules:
            chain.rules.append(r)
        if fresh:
            table.chains[name] = chain

    def base_spec(self, spec: dict[str, object]) -> None:
        t = self.t
        line = t.line()
        t.expect("type")
        ctype = t.word("a chain type")
        if ctype not in CHAIN_TYPES:
            raise t.err(f"unknown chain type {ctype!r}", line)
        t.expect("hook")
        hook = t.word("a hook")
        if hook not in HOOKS or hook == "ingress":
            raise t.err(f"unknown chain hook {hook!r}", line)
        if hook == "ingress":
            raise t.err("ingress hooks are not supported", line)
        if ctype == "nat" and hook == "forward":
            raise t.err("Could not process rule: Operation not supported: nat chains cannot "
                        "hook forward", line)
        t.expect("priority")
        spec["type"], spec["hook"] = ctype, hook
        spec["priority"] = self.priority(hook)

    def priority(self, hook: str) -> int:
        t = self.t
        tok = t.next()
        text = tok.text
        names = priority_names_for(hook)
        try:
            base = int(text)
        except ValueError:
            if text not in names:
                raise t.err(f"'{text}' is invalid priority in this context", tok.line) from None
            base = names[text]
            if t.peek().text in ("+", "-"):
                sign = 1 if t.next().text == "+" else -1
                base += sign * int(t.word("a number"))
        return base

    # ---------------------------------------------------------------- sets and maps

    def set_cmd(self, verb: str, kind: str, line: int) -> None:
        t = self.t
        fam, tname = self.family_name()
        name = t.word("a set name")
        table = self.get_table(fam, tname, line)
        s = table.sets.get(name)
        if verb in ("delete", "destroy", "flush"):
            if s is None:
                if verb == "destroy":
                    return
                raise t.err(f"Could not process rule: No such file or directory: {kind} "
                            f"{name}", line)
            if verb == "flush":
                s.elements = {}
                return
            for c in table.chains.values():
                for r in c.rules:
                    if name in _rule_sets(r):
                        raise t.err(f"Could not process rule: Device or resource busy: {kind} "
                                    f"{name} is referenced", line)
            del table.sets[name]
            return
        self.add_set(table, name, kind, verb, line)

    def add_set(self, table: NftTable, name: str, kind: str, verb: str, line: int) -> None:
        t = self.t
        existing = table.sets.get(name)
        if existing is not None and verb == "create":
            raise t.err(f"Could not process rule: File exists: {kind} {name}", line)
        t.expect("{")
        key_types: tuple[str, ...] | None = None
        data_type: str | None = None
        flags: tuple[str, ...] = ()
        timeout = size = comment = None
        elems: list[tuple] = []
        elem_line = line
        while True:
            t.skip_newlines()
            tok = t.peek()
            if tok.text == "}":
                t.next()
                break
            if tok.text == ";":
                t.next()
                continue
            kw = t.word("a set statement")
            if kw == "type":
                key_types = self.type_list()
                if t.peek().text == ":":
                    t.next()
                    data_type = " . ".join(self.type_list())
            elif kw == "typeof":
                raise t.err("'typeof' set declarations are not supported (use 'type')",
                            tok.line)
            elif kw == "flags":
                words = tuple(self.comma_words())
                bad = [f for f in words if f not in _SET_FLAGS]
                if bad:
                    raise t.err(f"unknown set flag {bad[0]!r}", tok.line)
                flags = _set_flags(words)
            elif kw == "timeout":
                timeout = self.duration()
            elif kw == "size":
                size = int(t.word("a number"))
            elif kw == "comment":
                comment = t.next().text
            elif kw in ("policy", "gc-interval"):
                t.word("a value")
            elif kw == "auto-merge":
                pass
            elif kw == "elements":
                t.expect("=")
                elem_line = tok.line
                elems.append(("pending", tok.line, t.i))
                self.skip_braces()
            else:
                raise t.err(f"syntax error, unexpected {kw!r} in {kind}", tok.line)
        if key_types is None:
            raise t.err(f"{kind} {name} needs a type", line)
        if (kind == "map") != (data_type is not None):
            raise t.err(f"{kind} {name}: " + ("a map needs a data type"
                                              if kind == "map" else "a set has no data type"),
                        line)
        if existing is not None:
            if (existing.key_types, existing.data_type) != (key_types, data_type):
                raise t.err(f"Could not process rule: File exists: {kind} {name} exists with "
                            "another type", line)
            s = existing
        else:
            if "timeout" in flags and timeout is None:
                timeout = None
            s = NftSet(name, key_types, data_type, flags, timeout,
                       size if size is not None else (65535 if "dynamic" in flags else None),
                       comment, {}, "interval" in flags, table.handle())
            table.sets[name] = s
        for _, eline, pos in elems:
            end = t.i
            t.i = pos
            self.elements_into(table, s, "add", eline)
            t.i = end
        del elem_line

    def type_list(self) -> tuple[str, ...]:
        t = self.t
        out = [t.word("a data type")]
        while t.peek().text == ".":
            t.next()
            out.append(t.word("a data type"))
        known = {"ipv4_addr", "ipv6_addr", "inet_proto", "inet_service", "mark", "ifname",
                 "integer", "verdict", "ct_state", "ct_status", "fib_addrtype", "icmp_type",
                 "nf_proto", "tcp_flag", "ct_dir"}
        for ty in out:
            if ty not in known:
                raise t.err(f"unknown datatype {ty}")
        return tuple(out)

    def duration(self) -> float:
        t = self.t
        tok = t.next()
        try:
            return parse_duration(tok.text)
        except TypeError_ as exc:
            raise t.err(str(exc), tok.line) from None

    def skip_braces(self) -> None:
        t = self.t
        t.skip_newlines()
        t.expect("{")
        depth = 1
        while depth:
            tok = t.next()
            if t.at_end() and depth:
                raise t.err("syntax error, unexpected end of file, expecting '}'")
            if not tok.quoted:
                if tok.text == "{":
                    depth += 1
                elif tok.text == "}":
                    depth -= 1

    def element_cmd(self, verb: str, line: int) -> None:
        t = self.t
        fam, tname = self.family_name()
        name = t.word("a set name")
        table = self.get_table(fam, tname, line)
        s = table.sets.get(name)
        if s is None:
            raise t.err(f"Could not process rule: No such file or directory: set {name} "
                        f"in table {fam} {tname}", line)
        if verb not in ("add", "create", "delete", "destroy"):
            raise t.err(f"syntax error, unexpected {verb!r}", line)
        self.elements_into(table, s, verb, line)

    def elements_into(self, table: NftTable, s: NftSet, verb: str, line: int) -> None:
        t = self.t
        t.skip_newlines()
        t.expect("{")
        while True:
            t.skip_newlines()
            if t.peek().text == "}":
                t.next()
                return
            eline = t.line()
            elem = self.element(table, s, eline)
            self.put_element(s, elem, verb, eline)
            t.skip_newlines()
            if t.peek().text == ",":
                t.next()
            elif t.peek().text != "}":
                raise t.err(f"syntax error, unexpected {t.peek().text!r}, expecting ',' or '}}'")

    def element(self, table: NftTable, s: NftSet, line: int) -> Element:
        t = self.t
        parts = []
        for k, ty in enumerate(s.key_types):
            if k:
                t.expect(".")
            parts.append(self.value(ty, line))
        timeout = expires = comment = None
        while True:
            w = t.peek().text
            if w == "timeout" and not t.peek().quoted:
                t.next()
                timeout = self.duration()
            elif w == "expires" and not t.peek().quoted:
                t.next()
                expires = self.duration()
            elif w == "comment" and not t.peek().quoted:
                t.next()
                comment = t.next().text
            else:
                break
        data = None
        if s.data_type is not None:
            t.expect(":")
            if s.data_type == "verdict":
                v = self.verdict(table, line)
                data = (v.kind, v.chain)
            else:
                dparts = []
                for k, ty in enumerate(s.data_type.split(" . ")):
                    if k:
                        t.expect(".")
                    dparts.append(self.value(ty, line))
                data = tuple(dparts)
        if (timeout is not None or expires is not None) and "timeout" not in s.flags:
            raise t.err(f"set {s.name}: element timeout requires 'flags timeout'", line)
        ptuple = tuple(parts)
        if not s.interval and any(isinstance(p, tuple) and p[0] != p[1] for p in ptuple):
            raise t.err(f"You must add 'flags interval' to your set {s.name} to use "
                        "ranges or prefixes", line)
        life = expires if expires is not None else (timeout if timeout is not None
                                                   else s.timeout)
        return Element(ptuple, data, comment, timeout,
                       None if life is None else self.now + life)

    def put_element(self, s: NftSet, e: Element, verb: str, line: int) -> None:
        t = self.t
        key = e.key if s.interval else lookup_key(e.key)  # type: ignore[arg-type]
        old = s.elements.get(key)
        if verb in ("delete", "destroy"):
            if old is None:
                if verb == "delete":
                    raise t.err(f"Could not process rule: No such file or directory: element "
                                f"not in {s.name}", line)
                return
            del s.elements[key]
            return
        if old is not None:
            if verb == "create":
                raise t.err(f"Could not process rule: File exists: element already in "
                            f"{s.name}", line)
            if s.is_map and old.data != e.data:
                raise t.err(f"Could not process rule: File exists: element already in "
                            f"{s.name} with other data", line)
            return
        if s.interval:
            for other in s.elements.values():
                if all(_overlap(a, b) for a, b in zip(other.key, e.key)):  # type: ignore[arg-type]
                    raise t.err(f"conflicting intervals specified in {s.name}", line)
        s.elements[key] = e

    # ---------------------------------------------------------------- values

    def value(self, dtype: str, line: int) -> object:
        t = self.t
        tok = t.next()
        if tok.text in _STOP or tok.text in ("{", "}", ","):
            raise t.err(f"syntax error, expecting a {dtype} value", tok.line)
        text = tok.text
        # "established,related" arrives as words separated by commas only in the flag types
        if dtype in ("ct_state", "ct_status", "tcp_flag"):
            while t.peek().text == "," and t.peek(1).text not in _STOP and \
                    _is_value(dtype, t.peek(1).text):
                t.next()
                text += "," + t.next().text
        try:
            return parse_value(dtype, text)
        except TypeError_ as exc:
            raise t.err(f"Could not parse {dtype}: {exc}", tok.line) from None

    def verdict(self, table: NftTable, line: int) -> Verdict:
        t = self.t
        kind = t.word("a verdict")
        if kind in ("jump", "goto"):
            chain = t.word("a chain name")
            if chain not in table.chains:
                raise t.err(f"Could not process rule: No such file or directory: chain "
                            f"{chain} does not exist in table {table.family} {table.name}",
                            line)
            return Verdict(kind, chain)
        if kind in ("accept", "drop", "return", "continue"):
            return Verdict(kind)
        raise t.err(f"syntax error, unexpected {kind!r}, expecting a verdict", line)

    # ---------------------------------------------------------------- rules

    def rule_cmd(self, verb: str, line: int) -> None:
        t = self.t
        fam, tname = self.family_name()
        cname = t.word("a chain name")
        table = self.get_table(fam, tname, line)
        chain = table.chains.get(cname)
        if chain is None:
            raise t.err(f"Could not process rule: No such file or directory: chain {cname} "
                        f"in table {fam} {tname}", line)
        pos_kind = None
        pos = 0
        if t.peek().text in ("handle", "position", "index") and not t.peek().quoted:
            pos_kind = t.next().text
            pos = int(t.word("a number"))
        if verb in ("delete", "destroy"):
            if pos_kind != "handle":
                raise t.err("delete rule needs 'handle N'", line)
            keep = [r for r in chain.rules if r.handle != pos]
            if len(keep) == len(chain.rules) and verb == "delete":
                raise t.err(f"Could not process rule: No such file or directory: rule handle "
                            f"{pos}", line)
            chain.rules = keep
            return
        if verb == "flush":
            raise t.err("syntax error, 'flush rule' is not a command", line)
        rule = self.parse_rule(table, line)
        rules = chain.rules
        if pos_kind is None:
            if verb == "insert":
                rules.insert(0, rule)
            else:
                rules.append(rule)
            return
        if pos_kind == "index":
            if pos > len(rules) - (verb == "replace"):
                raise t.err(f"Could not process rule: No such file or directory: index {pos}",
                            line)
            idx = pos
        else:
            idx = next((k for k, r in enumerate(rules) if r.handle == pos), None)  # type: ignore[assignment]
            if idx is None:
                raise t.err(f"Could not process rule: No such file or directory: rule handle "
                            f"{pos}", line)
        if verb == "replace":
            rules[idx] = rule
        elif verb == "insert":
            rules.insert(idx, rule)
        else:
            rules.insert(idx + 1, rule)

    def parse_rule(self, table: NftTable, line: int) -> NftRule:
        t = self.t
        self.family = table.family
        self.l4_matched = False
        stmts: list = []
        comment = None
        while not t.stmt_end():
            tok = t.peek()
            if tok.quoted:
                raise t.err(f"syntax error, unexpected string {tok.text!r}", tok.line)
            w = tok.text
            if w == "comment":
                t.next()
                comment = t.next().text
                if not t.stmt_end():
                    raise t.err("syntax error, a comment must end the rule", tok.line)
                break
            stmts.append(self.statement(table, tok.line))
            self.l4_matched = self.l4_matched or _l4_match(stmts[-1])
        if not stmts:
            raise t.err("syntax error, empty rule", line)
        _check_order(stmts, t, line)
        return NftRule(tuple(_kill_dependencies(stmts)), comment, table.handle(), line)

    def statement(self, table: NftTable, line: int):
        t = self.t
        w = t.peek().text
        if w in ("accept", "drop", "return", "continue", "jump", "goto"):
            return self.verdict(table, line)
        if w == "counter":
            t.next()
            packets = nbytes = 0
            if t.peek().text == "packets":
                t.next()
                packets = int(t.word("a number"))
                t.expect("bytes")
                nbytes = int(t.word("a number"))
            return Counter(packets, nbytes)
        if w == "reject":
            t.next()
            if t.peek().text != "with":
                return Reject()
            t.next()
            kind = t.word("icmp, icmpx or tcp")
            if kind == "tcp":
                t.expect("reset")
                return Reject("tcp reset")
            if kind not in ("icmp", "icmpx"):
                raise t.err(f"unsupported reject type {kind!r}", line)
            if kind == "icmpx" and table.family != "inet":
                raise t.err("abstracted ICMP unreachable not supported", line)
            if t.peek().text == "type":
                t.next()
            code = t.word("an icmp code")
            allowed = ("port-unreachable", "host-unreachable", "net-unreachable",
                       "prot-unreachable", "admin-prohibited", "net-prohibited",
                       "host-prohibited", "no-route")
            if code not in allowed:
                raise t.err(f"unknown icmp code {code!r}", line)
            if kind == "icmp" and code == "port-unreachable":
                return Reject()
            return Reject(kind, code)
        if w in ("dnat", "snat", "masquerade", "redirect"):
            return self.nat(table, line)
        if w == "log":
            t.next()
            prefix = level = None
            while not t.stmt_end() and t.peek().text in ("prefix", "level"):
                k = t.next().text
                if k == "prefix":
                    prefix = t.next().text
                else:
                    level = t.word("a log level")
                    if level not in ("emerg", "alert", "crit", "err", "warn", "notice",
                                     "info", "debug", "audit"):
                        raise t.err(f"invalid log level {level!r}", line)
            return Log(prefix, None if level == "warn" else level)  # warn: the default
        if w == "notrack":
            t.next()
            return Notrack()
        if w in ("update", "add") and t.peek(1).text.startswith("@"):
            t.next()
            name = t.next().text[1:]
            s = self.named_set(table, name, line)
            if not s.dynamic:
                raise t.err(f"Could not process rule: Operation not supported: set {name} "
                            "is not dynamic (flags dynamic or timeout)", line)
            t.expect("{")
            key = self.selector_expr(line)
            self.check_key(key, s.key_types, name, line)
            timeout = None
            if t.peek().text == "timeout":
                t.next()
                timeout = self.duration()
            t.expect("}")
            if "dynamic" not in s.flags:
                # A set the packet path adds to becomes dynamic (nft sets NFT_SET_EVAL).
                s.flags = _set_flags(s.flags + ("dynamic",))
                if s.size is None:
                    s.size = 65535
            return SetUpdate(w, name, key, timeout)
        left = self.selector_expr(line)
        if isinstance(left, Field) and t.peek().text == "set":
            t.next()
            if (left.kw, left.name) not in (("meta", "mark"), ("ct", "mark")):
                raise t.err(f"setting {left.render()} is not supported", line)
            return SetStmt(left, self.set_value(line))
        if t.peek().text == "vmap":
            t.next()
            return Vmap(left, self.map_ref(table, left, "verdict", line))
        return self.match(table, left, line)

    def set_value(self, line: int):
        """The right side of ``mark set``: a constant, a field, ``field OP const``, or a map
        lookup."""
        t = self.t
        tok = t.peek()
        if _starts_selector(tok.text, t.peek(1).text):
            expr = self.selector_expr(line)
            if t.peek().text == "map":
                raise t.err("'mark set ... map' is not supported", line)
            return expr
        return Const("mark", self.value("mark", line))

    def selector_expr(self, line: int):
        """A selector, a concatenation of selectors, or ``selector OP constant``."""
        t = self.t
        parts = [self.selector(line)]
        while t.peek().text == "." and not t.peek().quoted:
            t.next()
            parts.append(self.selector(line))
        expr = parts[0] if len(parts) == 1 else Concat(tuple(parts))
        if t.peek().text in _BINOPS and not t.peek().quoted and len(parts) == 1:
            op = _BINOPS[t.next().text]
            if expr.dtype not in ("mark", "integer"):
                raise t.err(f"bit operations on {expr.render()} are not supported", line)
            value = self.value(expr.dtype, line)
            expr = Binop(expr, op, value[0])  # type: ignore[index]
        return expr

    def selector(self, line: int):
        t = self.t
        tok = t.next()
        w = tok.text
        if w == "fib":
            keys = [t.word("saddr or daddr")]
            while t.peek().text == ".":
                t.next()
                keys.append(t.word("a fib key"))
            if len(keys) != 1 or keys[0] not in ("saddr", "daddr"):
                raise t.err(f"unsupported fib key {' . '.join(keys)} (only saddr or daddr)",
                            tok.line)
            result = t.word("type")
            if result != "type":
                raise t.err(f"fib result {result!r} is not supported (only 'type')", tok.line)
            return Fib(tuple(keys), result)
        if w == "numgen":
            mode = t.word("random or inc")
            if mode not in ("random", "inc"):
                raise t.err(f"numgen mode {mode!r} is not supported", tok.line)
            t.expect("mod")
            mod = int(t.word("a number"))
            offset = 0
            if t.peek().text == "offset":
                t.next()
                offset = int(t.word("a number"))
            if mod < 1:
                raise t.err("numgen mod must be at least 1", tok.line)
            return Numgen(mode, mod, offset)
        if w in UNQUALIFIED_META and not tok.quoted:
            return Field("meta", w, SELECTORS[("meta", w)])
        if w in ("ip", "ip6", "meta", "th", "tcp", "udp", "sctp", "ct", "icmp"):
            name = t.word("a field")
            key = (w, name)
            if key not in SELECTORS:
                raise t.err(f"unsupported expression '{w} {name}'", tok.line)
            if key == ("meta", "nfproto") and self.family != "inet":
                raise t.err("meta nfproto is only useful in the inet family", tok.line)
            return Field(w, name, SELECTORS[key])
        raise t.err(f"syntax error, unexpected {w!r}: unsupported expression or statement",
                    tok.line)

    def check_key(self, key, types: tuple[str, ...], name: str, line: int) -> None:
        got = key.dtypes if isinstance(key, Concat) else (key.dtype,)
        if tuple(got) != tuple(types):
            raise self.t.err(f"datatype mismatch, expected {' . '.join(types)}, expression has "
                             f"type {' . '.join(got)} (set {name})", line)

    def named_set(self, table: NftTable, name: str, line: int) -> NftSet:
        s = table.sets.get(name)
        if s is None:
            raise self.t.err(f"Could not process rule: No such file or directory: set {name} "
                             f"in table {table.family} {table.name}", line)
        return s

    def map_ref(self, table: NftTable, key, data: str | None, line: int):
        """``@name`` (checked against the key's type) or an anonymous map ``{ k : v, ... }``."""
        t = self.t
        types = key.dtypes if isinstance(key, Concat) else (key.dtype,)
        if t.peek().text.startswith("@"):
            name = t.next().text[1:]
            s = self.named_set(table, name, line)
            if not s.is_map or (data == "verdict") != (s.data_type == "verdict"):
                raise t.err(f"datatype mismatch: {name} is not a "
                            f"{'verdict map' if data == 'verdict' else 'map'}", line)
            self.check_key(key, s.key_types, name, line)
            return SetRef(name)
        anon = NftSet("", tuple(types), data or "", (), interval=False)
        self.anon_elements(table, anon, line)
        return anon

    def anon_elements(self, table: NftTable, s: NftSet, line: int) -> None:
        t = self.t
        t.expect("{")
        elems = []
        while True:
            t.skip_newlines()
            if t.peek().text == "}":
                t.next()
                break
            start = t.i
            # Parse once to learn whether this element is an interval.
            e = self.element_loose(table, s, line)
            elems.append((start, e))
            t.skip_newlines()
            if t.peek().text == ",":
                t.next()
        s.interval = any(isinstance(p, tuple) and p[0] != p[1] for _, e in elems
                         for p in e.key)
        for _, e in elems:
            self.put_element(s, e, "add", line)

    def element_loose(self, table: NftTable, s: NftSet, line: int) -> Element:
        interval = s.interval
        s.interval = True  # prefixes are fine in anonymous sets
        try:
            return self.element(table, s, line)
        finally:
            s.interval = interval

    def match(self, table: NftTable, left, line: int) -> Cmp:
        t = self.t
        op = "=="
        explicit = False
        if t.peek().text in _OPS and not t.peek().quoted:
            op = t.next().text
            explicit = op == "=="
        types = left.dtypes if isinstance(left, Concat) else (left.dtype,)
        nxt = t.peek()
        if nxt.text.startswith("@") and not nxt.quoted:
            name = t.next().text[1:]
            s = self.named_set(table, name, line)
            if s.is_map:
                raise t.err(f"datatype mismatch: {name} is a map, not a set", line)
            self.check_key(left, s.key_types, name, line)
            if op not in ("==", "!="):
                raise t.err(f"operator {op} is not valid with a set", line)
            return Cmp(left, op, SetRef(name), explicit)
        if nxt.text == "{":
            anon = NftSet("", tuple(types))
            self.anon_elements(table, anon, line)
            if op not in ("==", "!="):
                raise t.err(f"operator {op} is not valid with a set", line)
            if len(anon.elements) == 1:
                # nft turns a one-element anonymous set into a plain comparison.
                (e,) = anon.elements.values()
                value = e.key[0] if len(types) == 1 else e.key
                if len(types) == 1:
                    return Cmp(left, op, Const(types[0], value), explicit)
            return Cmp(left, op, anon, explicit)
        if isinstance(left, Concat):
            raise t.err("a concatenation can only be matched against a set", line)
        dtype = left.dtype
        if isinstance(left, Binop):
            dtype = left.left.dtype
        if nxt.text in _STOP or nxt.text in ("}", ",") or (
                not nxt.quoted and _starts_statement(nxt.text, t.peek(1).text)
                and not _is_value(dtype, nxt.text)):
            raise t.err(f"syntax error, {left.render()} needs a value to compare with", line)
        value = self.value(dtype, line)
        if op in ("<", ">", "<=", ">=") and dtype not in ("inet_service", "integer", "mark",
                                                           "ipv4_addr"):
            raise t.err(f"operator {op} is not valid for {dtype}", line)
        return Cmp(left, op, Const(dtype, value), explicit)

    def nat(self, table: NftTable, line: int) -> Nat:
        t = self.t
        kind = t.next().text
        family = ""
        if t.peek().text in ("ip", "ip6") and t.peek(1).text == "to":
            family = t.next().text
        if table.family == "inet" and kind in ("dnat", "snat") and not family:
            raise t.err(f"specify '{kind} ip' or '{kind} ip6' in inet table to disambiguate",
                        line)
        addr = None
        port = None
        if t.peek().text == "to":
            t.next()
            if kind in ("masquerade", "redirect"):
                port = self.port_spec(t.word("a port"), line)
            else:
                tok = t.peek()
                if _starts_selector(tok.text, t.peek(1).text):
                    key = self.selector_expr(line)
                    t.expect("map")
                    m = self.map_ref(table, key, "ipv4_addr", line)
                    if isinstance(m, SetRef) and table.sets[m.name].data_type != "ipv4_addr":
                        raise t.err(f"datatype mismatch: map {m.name} must hold ipv4_addr",
                                    line)
                    addr = MapLookup(key, m)
                else:
                    text = t.word("an address")
                    ip, port = _split_addr_port(text)
                    try:
                        addr = Const("ipv4_addr", parse_value("ipv4_addr", ip))
                    except TypeError_ as exc:
                        raise t.err(f"Could not parse ipv4_addr: {exc}", line) from None
                    if port is not None:
                        port = self.port_spec(port, line)
        elif kind in ("dnat", "snat"):
            raise t.err(f"syntax error, {kind} needs 'to ADDRESS'", line)
        if port is not None and not self.l4_matched:
            raise t.err("transport protocol mapping is only valid after transport protocol "
                        "match", line)
        flags: list[str] = []
        while t.peek().text in _NAT_FLAGS:
            flags.append(t.next().text)
            if t.peek().text == ",":
                t.next()
        return Nat(kind, addr, port, tuple(flags), family)

    def port_spec(self, text: str, line: int) -> tuple[int, int]:
        try:
            return parse_value("inet_service", text.lstrip(":"))  # type: ignore[return-value]
        except TypeError_ as exc:
            raise self.t.err(f"Could not parse port: {exc}", line) from None


def _split_addr_port(text: str) -> tuple[str, str | None]:
    if text.count(":") == 1:
        ip, _, port = text.partition(":")
        return ip, port
    return text, None


def _is_value(dtype: str, word: str) -> bool:
    try:
        parse_value(dtype, word)
        return True
    except TypeError_:
        return False


def _starts_selector(w: str, nxt: str) -> bool:
    return w in ("ip", "ip6", "meta", "th", "tcp", "udp", "sctp", "ct", "fib", "numgen",
                 "icmp") or w in UNQUALIFIED_META


_STATEMENT_WORDS = frozenset({"accept", "drop", "return", "continue", "jump", "goto", "counter",
                              "reject", "dnat", "snat", "masquerade", "redirect", "log",
                              "notrack", "comment", "vmap", "update"})


def _starts_statement(w: str, nxt: str) -> bool:
    return w in _STATEMENT_WORDS or _starts_selector(w, nxt)


_SET_FLAGS = ("constant", "dynamic", "interval", "timeout")  # the order nft prints them


def _set_flags(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f for f in _SET_FLAGS if f in words)


def _kill_dependencies(stmts: list) -> list:
    """Drop a protocol match right before a header match that implies it (``ip protocol
    icmp icmp type ...``, ``meta l4proto tcp tcp dport ...``): nft stores and lists the
    rule without it, as it does for the implicit dependency."""
    out = []
    for k, s in enumerate(stmts):
        nxt = stmts[k + 1] if k + 1 < len(stmts) else None
        if (isinstance(s, Cmp) and isinstance(s.left, Field) and s.op == "=="
                and (s.left.kw, s.left.name) in (("meta", "l4proto"), ("ip", "protocol"))
                and isinstance(s.right, Const) and isinstance(nxt, Cmp)
                and isinstance(nxt.left, Field) and nxt.left.kw == s.right.value):
            continue
        out.append(s)
    return out


def _l4_match(stmt: object) -> bool:
    """Whether ``stmt`` pins the transport protocol (``meta l4proto tcp``, ``tcp dport``,
    a concatenation with ``meta l4proto``...): a NAT port mapping needs one before it."""
    if not isinstance(stmt, (Cmp, Vmap)):
        return False
    left = stmt.left if isinstance(stmt, Cmp) else stmt.key
    parts = left.parts if isinstance(left, Concat) else (left,)
    return any(isinstance(p, Field) and (p.name in ("l4proto", "protocol", "nexthdr")
                                         or p.kw in ("tcp", "udp", "sctp"))
               for p in parts)


def _overlap(a: object, b: object) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return a[0] <= b[1] and b[0] <= a[1]
    return a == b


def _check_order(stmts: list, t: _Tokens, line: int) -> None:
    """A verdict or a terminal NAT/reject must be the last statement (nft refuses
    statements after a terminal one)."""
    for s in stmts[:-1]:
        if isinstance(s, (Verdict, Reject)) or (isinstance(s, Nat)):
            raise t.err(f"syntax error, a statement after '{s.render()}' is never reached",
                        line)


def _rule_chains(rule: NftRule) -> set[str]:
    out = set()
    for s in rule.stmts:
        if isinstance(s, Verdict) and s.chain:
            out.add(s.chain)
        elif isinstance(s, Vmap) and isinstance(s.map, NftSet):
            out.update(e.data[1] for e in s.map.elements.values() if e.data[1])
    return out


def _rule_sets(rule: NftRule) -> set[str]:
    out = set()
    for s in rule.stmts:
        for part in (getattr(s, "right", None), getattr(s, "map", None)):
            if isinstance(part, SetRef):
                out.add(part.name)
        if isinstance(s, SetUpdate):
            out.add(s.name)
        if isinstance(s, Nat) and isinstance(s.addr, MapLookup) and isinstance(s.addr.map, SetRef):
            out.add(s.addr.map.name)
    return out


def apply_nft(text: str | Transaction, current: NftRuleset | None = None, *,
              source: str = "<nft>", now: float = 0.0) -> NftRuleset:
    r"""``nft -f``: apply ``text`` (commands and/or ``table`` blocks) to a copy of
    ``current`` and return it; ``current`` is never changed. ``now`` is the clock for
    element timeouts.

    >>> rs = apply_nft('add table ip t\nadd chain ip t c { type filter hook input priority 0 ; }\n'
    ...                'add rule ip t c tcp dport 22 drop')
    >>> print(rs.render().replace("\t", "  "), end="")
    table ip t {
      chain c {
        type filter hook input priority filter; policy accept;
        tcp dport 22 drop
      }
    }
    """
    if isinstance(text, Transaction):
        text = text.render()
    rs = current.copy() if current is not None else NftRuleset()
    _Applier(rs, source, now).run(text)
    return rs


def parse_ruleset(text: str, source: str = "<nft>", now: float = 0.0) -> NftRuleset:
    """An ``nft list ruleset`` dump (or any ``nft -f`` text) as a ruleset."""
    return apply_nft(text, None, source=source, now=now)


def looks_like_nft(text: str) -> bool:
    """Whether ``text`` is nft text rather than iptables-save text (its first statement
    starts with ``table``, ``add``, ``flush``... instead of ``*table``, ``:CHAIN`` or
    ``-A``)."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word = line.split()[0]
        return word in ("table", "add", "create", "insert", "replace", "flush", "delete",
                        "destroy")
    return False


def canonicalise(text: str, source: str = "<nft>") -> str:
    """The canonical form of an nft text: applied, then listed with elements sorted and
    without expiry times (the kernel lists hash-set elements in hash order)."""
    return parse_ruleset(text, source).render(now=None, sort=True)
