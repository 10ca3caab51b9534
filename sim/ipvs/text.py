"""``ipvsadm-save -n`` text: print an :class:`~sim.ipvs.IPVSTable` and read one back.

ipvsadm's save mode (``ipvsadm.c`` ``print_service_entry`` with ``FMT_RULE | FMT_NUMERIC``)
writes one ``-A`` line per virtual service then one ``-a`` line per real server::

    -A -t 10.96.0.10:53 -s rr
    -a -t 10.96.0.10:53 -r 10.244.1.3:53 -m -w 1
    -A -u 10.96.0.10:53 -s rr -p 10800
    -A --sctp-service 10.96.0.20:9000 -s mh -b mh-port

IPv6 addresses are bracketed (``[fd00::1]:80``). Forwarding: ``-m`` masquerading, ``-g``
gatewaying (direct routing), ``-i`` ipip tunnelling.
"""

from __future__ import annotations

import ipaddress

# sim.ipvs defines the types before it imports this module.
from sim.ipvs import PROTOCOL_OPTIONS, IPVSTable, RealServer, VirtualServer
from sim.model.errors import SimError

_FORWARD = {"-m": "m", "--masquerading": "m", "-g": "g", "--gatewaying": "g", "-i": "i",
            "--ipip": "i"}
_PROTO_BY_OPTION = {"-t": "tcp", "--tcp-service": "tcp", "-u": "udp", "--udp-service": "udp",
                    "--sctp-service": "sctp"}


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _sort_key(address: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(address)
    return (ip.version, int(ip))


def canonical_order(table: IPVSTable) -> IPVSTable:
    """``table`` with services by (protocol, address, port) and real servers by (address,
    port): the order :func:`render_save` prints."""
    vss = []
    for vs in sorted(table.virtual_servers, key=lambda v: (v.protocol, _sort_key(v.address), v.port)):
        rs = tuple(sorted(vs.real_servers, key=lambda r: (_sort_key(r.address), r.port)))
        vss.append(VirtualServer(vs.protocol, vs.address, vs.port, vs.scheduler,
                                 vs.persistence_s, rs, vs.flags))
    return IPVSTable(tuple(vss))


def render_save(table: IPVSTable) -> str:
    """What ``ipvsadm-save -n`` prints for ``table`` (services in the table's order)."""
    lines: list[str] = []
    for vs in table.virtual_servers:
        head = f"{PROTOCOL_OPTIONS[vs.protocol]} {_endpoint(vs.address, vs.port)}"
        line = f"-A {head} -s {vs.scheduler}"
        if vs.flags:
            line += " -b " + ",".join(vs.flags)
        if vs.persistence_s:
            line += f" -p {vs.persistence_s}"
        lines.append(line)
        for rs in vs.real_servers:
            lines.append(f"-a {head} -r {_endpoint(rs.address, rs.port)} -{rs.forward} -w {rs.weight}")
    return "\n".join(lines) + "\n" if lines else ""


def _split_endpoint(text: str) -> tuple[str, int]:
    if text.startswith("["):
        addr, sep, port = text[1:].partition("]:")
    else:
        addr, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"bad address:port {text!r}")
    return str(ipaddress.ip_address(addr)), int(port)


def parse_save(text: str, source: str = "<ipvsadm>") -> IPVSTable:
    """Read ``ipvsadm-save -n`` (or ``ipvsadm-restore``) text into an IPVSTable, in the
    order written. Errors name the line."""
    services: dict[tuple[str, str, int], dict] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        try:
            cmd = words[0]
            if cmd not in ("-A", "-a"):
                raise ValueError(f"unknown command {cmd!r} (expected -A or -a)")
            proto = _PROTO_BY_OPTION.get(words[1])
            if proto is None:
                raise ValueError(f"unknown service type {words[1]!r} (-t, -u, --sctp-service)")
            addr, port = _split_endpoint(words[2])
            key = (proto, addr, port)
            opts: dict[str, str] = {}
            i = 3
            while i < len(words):
                w = words[i]
                if w in _FORWARD:
                    opts["forward"] = _FORWARD[w]
                    i += 1
                    continue
                if w not in ("-s", "--scheduler", "-p", "--persistent", "-r", "--real-server",
                             "-w", "--weight", "-b", "--sched-flags"):
                    raise ValueError(f"unknown option {w!r}")
                if i + 1 >= len(words):
                    raise ValueError(f"option {w!r} needs a value")
                opts[w.lstrip("-")[0]] = words[i + 1]
                i += 2
            if cmd == "-A":
                if key in services:
                    raise ValueError("Service already exists")
                persistence = opts.get("p", "0")
                if not persistence.isdigit():
                    raise ValueError(f"bad persistence timeout {persistence!r}")
                services[key] = {"vs": (opts.get("s", "wlc"), int(persistence),
                                        tuple(opts["b"].split(",")) if "b" in opts else ()),
                                 "rs": {}}
            else:
                if key not in services:
                    raise ValueError("No such service")
                if "r" not in opts:
                    raise ValueError("a real server (-r) is required")
                raddr, rport = _split_endpoint(opts["r"])
                weight = opts.get("w", "1")
                if not weight.isdigit():
                    raise ValueError(f"bad weight {weight!r}")
                rs = services[key]["rs"]
                if (raddr, rport) in rs:
                    raise ValueError("Destination already exists")
                rs[(raddr, rport)] = RealServer(raddr, rport, int(weight), opts.get("forward", "g"))
        except (ValueError, IndexError) as exc:
            detail = str(exc) if isinstance(exc, ValueError) else "incomplete line"
            raise SimError(f"{source}:{lineno}: {detail}: {line}") from None
    out = []
    for (proto, addr, port), entry in services.items():
        sched, persistence, flags = entry["vs"]
        out.append(VirtualServer(proto, addr, port, sched, persistence,
                                 tuple(entry["rs"].values()), flags))
    return IPVSTable(tuple(out))


__all__ = ["canonical_order", "parse_save", "render_save"]
