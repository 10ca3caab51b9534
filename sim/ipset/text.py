"""``ipset restore`` input and ``ipset save`` output (ipset 7.x).

``ipset save`` prints, set by set in creation order, one ``create`` line then one ``add``
line per member::

    create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x4e45e1d0
    add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
    create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
    add KUBE-NODE-PORT-TCP 30080

Hash sets print ``bucketsize 12`` and an ``initval`` (the jhash seed the kernel draws at random
when the set is created); a set built here has no initval, so :func:`render_save` leaves it
out, and :func:`canonicalise` drops it from both sides of a comparison with a real dump, and
sorts the members of hash sets (the kernel lists them in hash order).
"""

from __future__ import annotations

import shlex
from dataclasses import replace

from sim.ipset.sets import (
    FAMILIES,
    MAX_SET_NAME,
    SET_TYPES,
    EntryError,
    IPSet,
    normalise_entry,
)
from sim.model.errors import SimError

# Create options that take a value / are flags, in the order ipset prints them.
_VALUE_OPTS = ("timeout", "netmask", "markmask")
_FLAG_OPTS = ("counters", "comment", "skbinfo", "forceadd")
_HASH_TAIL = ("bucketsize", "initval")
_COMMANDS = {"create": "create", "-N": "create", "n": "create", "add": "add", "-A": "add",
             "a": "add", "del": "del", "-D": "del", "d": "del", "flush": "flush",
             "-F": "flush", "destroy": "destroy", "-X": "destroy", "x": "destroy"}


def _member_order(s: IPSet, members) -> tuple[str, ...]:
    if s.type == "bitmap:port":
        return tuple(sorted(members, key=int))
    return tuple(sorted(members))


def parse_restore(text: str, source: str = "<ipset>") -> tuple[IPSet, ...]:
    """The sets an ``ipset restore`` of ``text`` leaves (starting with no sets), in creation
    order. Reads ``ipset save`` output as well.

    Errors name the line as ``ipset restore`` would refuse it: unknown type or option, a
    member that does not fit its set, a command on a set not created, a duplicate ``create``
    or ``add`` without ``-exist``.

    >>> sets = parse_restore("create S hash:ip,port family inet hashsize 1024 maxelem 65536\\n"
    ...                      "add S 10.96.0.1,tcp:443\\n")
    >>> sets[0].type, sets[0].members
    ('hash:ip,port', ('10.96.0.1,tcp:443',))
    """
    sets: dict[str, IPSet] = {}
    members: dict[str, dict[str, str]] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue

        def fail(msg: str) -> SimError:
            return SimError(f"{source}:{lineno}: {msg}: {line}")

        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise fail(f"bad quoting ({exc})") from None
        exist = False
        while "-exist" in words or "-!" in words:
            words.remove("-exist" if "-exist" in words else "-!")
            exist = True
        cmd = _COMMANDS.get(words[0])
        if cmd is None:
            raise fail(f"unknown command {words[0]!r}")
        args = words[1:]
        if cmd in ("flush", "destroy"):
            names = args or list(sets)
            for name in names:
                if name not in sets:
                    raise fail(f"The set with the given name {name!r} does not exist")
                members[name] = {}
                if cmd == "destroy":
                    del sets[name], members[name]
            continue
        if not args:
            raise fail("a set name is required")
        name = args[0]
        if cmd == "create":
            try:
                new = _parse_create(name, args[1:])
            except ValueError as exc:
                raise fail(str(exc)) from None
            if name in sets:
                if exist and _same_create(sets[name], new):
                    continue
                raise fail("Set cannot be created: set with the same name already exists")
            sets[name] = new
            members[name] = {}
            continue
        if name not in sets:
            raise fail(f"The set with the given name {name!r} does not exist")
        if len(args) < 2:
            raise fail("an entry is required")
        s = sets[name]
        try:
            entry = normalise_entry(s.type, s.family, args[1], s.port_range)
        except EntryError as exc:
            raise fail(f"Syntax error: {exc}") from None
        current = members[name]
        if cmd == "del":
            if entry not in current and not exist:
                raise fail("Element cannot be deleted from the set: it's not added")
            current.pop(entry, None)
            continue
        try:
            opts = _entry_options(s, args[2:])
        except ValueError as exc:
            raise fail(str(exc)) from None
        if entry in current and not exist:
            raise fail("Element cannot be added to the set: it's already added")
        current[entry] = opts
    out = []
    for name, s in sets.items():
        mem = members[name]
        order = _member_order(s, mem)
        out.append(replace(s, members=order,
                           entry_options=tuple((m, mem[m]) for m in order if mem[m])))
    return tuple(out)


def _same_create(a: IPSet, b: IPSet) -> bool:
    strip = lambda s: replace(s, extra=tuple(e for e in s.extra  # noqa: E731
                                             if not e.startswith(("bucketsize", "initval"))))
    return strip(a) == strip(b)


def _parse_create(name: str, args: list[str]) -> IPSet:
    if len(name) > MAX_SET_NAME:
        raise ValueError(f"set name {name!r} is longer than {MAX_SET_NAME} characters")
    if not args:
        raise ValueError("a set type is required")
    set_type = args[0]
    if set_type not in SET_TYPES:
        raise ValueError(f"Syntax error: unknown or unsupported set type {set_type!r} (modelled: "
                         + ", ".join(SET_TYPES) + ")")
    family, hashsize, maxelem, port_range = "inet", 1024, 65536, None
    values: dict[str, str] = {}
    flags: set[str] = set()
    i = 1
    is_hash = set_type.startswith("hash:")
    while i < len(args):
        opt = args[i]
        takes_value = opt in ("family", "hashsize", "maxelem", "range", *_VALUE_OPTS, *_HASH_TAIL)
        if takes_value and i + 1 >= len(args):
            raise ValueError(f"option {opt!r} needs a value")
        val = args[i + 1] if takes_value else ""
        if opt == "family" and is_hash:
            if val not in FAMILIES:
                raise ValueError(f"Syntax error: unknown family {val!r}")
            family = val
        elif opt in ("hashsize", "maxelem") and is_hash:
            if not val.isdigit() or int(val) == 0:
                raise ValueError(f"Syntax error: bad {opt} {val!r}")
            hashsize, maxelem = (int(val), maxelem) if opt == "hashsize" else (hashsize, int(val))
        elif opt == "range" and set_type == "bitmap:port":
            lo, dash, hi = val.partition("-")
            if not (dash and lo.isdigit() and hi.isdigit()) or int(hi) > 65535:
                raise ValueError(f"Syntax error: bad port range {val!r}")
            a, b = sorted((int(lo), int(hi)))
            port_range = (a, b)
        elif opt in _VALUE_OPTS or (opt in _HASH_TAIL and is_hash):
            values[opt] = val
        elif opt in _FLAG_OPTS:
            flags.add(opt)
        else:
            raise ValueError(f"Syntax error: unknown option {opt!r} for {set_type}")
        i += 2 if takes_value else 1
    if set_type == "bitmap:port" and port_range is None:
        raise ValueError("Syntax error: bitmap:port needs a range")
    extra = [f"{o} {values[o]}" for o in _VALUE_OPTS if o in values]
    extra += [f for f in _FLAG_OPTS if f in flags]
    extra += [f"{o} {values[o]}" for o in _HASH_TAIL if o in values]
    return IPSet(name, set_type, family, hashsize, maxelem, port_range or (0, 65535), tuple(extra))


def _entry_options(s: IPSet, args: list[str]) -> str:
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        opt = args[i]
        if opt == "comment":
            if not s.has_comment:
                raise ValueError(f"Syntax error: set {s.name!r} was created without comment support")
            if i + 1 >= len(args):
                raise ValueError("option 'comment' needs a value")
            out["comment"] = f'comment "{args[i + 1]}"'
        elif opt in ("timeout", "packets", "bytes", "skbmark", "skbprio", "skbqueue"):
            if i + 1 >= len(args):
                raise ValueError(f"option {opt!r} needs a value")
            out[opt] = f"{opt} {args[i + 1]}"
        elif opt == "nomatch":
            raise ValueError("Syntax error: nomatch entries are not modelled")
        else:
            raise ValueError(f"Syntax error: unknown entry option {opt!r}")
        i += 2
    # ipset prints timeout, then counters, then the comment.
    return " ".join(out[k] for k in ("timeout", "packets", "bytes", "comment", "skbmark",
                                       "skbprio", "skbqueue") if k in out)


def create_line(s: IPSet) -> str:
    """The ``create`` line ``ipset save`` prints for ``s`` (without an initval unless ``s``
    was parsed with one)."""
    parts = ["create", s.name, s.type]
    if s.type.startswith("hash:"):
        parts += ["family", s.family, "hashsize", str(s.hashsize), "maxelem", str(s.maxelem)]
    else:
        parts += ["range", f"{s.port_range[0]}-{s.port_range[1]}"]
    extra = list(s.extra)
    if s.type.startswith("hash:") and not any(e.startswith("bucketsize") for e in extra):
        # ipset 7.x prints the default bucket size before the initval.
        tail = [e for e in extra if e.startswith("initval")]
        extra = [e for e in extra if not e.startswith("initval")] + ["bucketsize 12"] + tail
    return " ".join(parts + extra)


def render_save(sets) -> str:
    """What ``ipset save`` prints for ``sets`` (see the module docstring for the initval)."""
    lines: list[str] = []
    for s in sets:
        lines.append(create_line(s))
        opts = dict(s.entry_options)
        head = f"add {s.name} "
        for m in s.members:
            o = opts.get(m)
            lines.append(head + m + (" " + o if o else ""))
    return "\n".join(lines) + "\n" if lines else ""


def render_restore(sets) -> str:
    """``ipset restore`` input that creates ``sets`` (what kube-proxy's ipset calls amount to:
    ``create`` then ``add`` per member); equal to :func:`render_save` without bucketsize."""
    lines: list[str] = []
    for s in sets:
        line = create_line(s)
        if s.type.startswith("hash:"):
            line = line.replace(" bucketsize 12", "", 1) if not any(
                e.startswith("bucketsize") for e in s.extra) else line
        lines.append(line)
        opts = dict(s.entry_options)
        for m in s.members:
            o = opts.get(m)
            lines.append(f"add {s.name} {m}" + (" " + o if o else ""))
    return "\n".join(lines) + "\n" if lines else ""


def canonicalise(text: str) -> str:
    """``ipset save`` text in one form for comparisons: no ``initval``, sets by name, members
    of each set in canonical order."""
    sets = parse_restore(text, "<canonicalise>")
    sets = tuple(replace(s, extra=tuple(e for e in s.extra if not e.startswith("initval")))
                 for s in sorted(sets, key=lambda s: s.name))
    return render_save(sets)


__all__ = ["canonicalise", "create_line", "parse_restore", "render_restore", "render_save"]
