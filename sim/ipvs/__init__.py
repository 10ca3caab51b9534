"""IPVS virtual and real servers as data (what ``ipvsadm-save -n`` prints).

Model
    :class:`IPVSTable` holds :class:`VirtualServer` entries, each with its scheduler,
    persistence timeout and :class:`RealServer` entries (address, port, weight, forwarding
    method). kube-proxy's IPVS proxier always uses masquerading (``-m``) and weight 1, and a
    real server being gracefully terminated has weight 0.
    :mod:`sim.ipvs.text` prints a table exactly as ``ipvsadm-save -n`` does and reads that
    text back (errors name the line).
Scope and limitations
    IPv4 and IPv6 services keyed by (protocol, address, port); firewall-mark services
    (``-f``), persistence netmasks (``-M``) and tunnel options are not modelled. The kernel
    lists services in its hash-table order; ours are in canonical order (protocol, address,
    port), real servers by address and port.
Validation
    ``tests/ipvs/test_text.py``: render/parse round trips and the line forms of ipvsadm's
    ``print_service_entry`` / ``print_title`` in save mode. This machine's kernel has no IPVS
    (CONFIG_IP_VS is off), so the text is not checked against a live ``ipvsadm-save``.
"""

from __future__ import annotations

from dataclasses import dataclass

PROTOCOL_OPTIONS = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}


@dataclass(frozen=True, slots=True)
class RealServer:
    """``-a -t VIP:PORT -r IP:PORT -m -w WEIGHT``."""

    address: str
    port: int
    weight: int = 1
    forward: str = "m"  # m: masquerading (NAT), g: gatewaying (direct routing), i: ipip


@dataclass(frozen=True, slots=True)
class VirtualServer:
    """``-A -t|-u|--sctp-service VIP:PORT -s SCHEDULER [-p TIMEOUT]``.

    ``protocol`` is ``tcp``, ``udp`` or ``sctp``; ``persistence_s`` 0 means not persistent.
    """

    protocol: str
    address: str
    port: int
    scheduler: str = "rr"
    persistence_s: int = 0
    real_servers: tuple[RealServer, ...] = ()
    # scheduler flags (``-b``), e.g. ("mh-port",): kube-proxy sets FlagSourceHash for "mh".
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IPVSTable:
    """Every virtual server of one node, in canonical order."""

    virtual_servers: tuple[VirtualServer, ...] = ()


__all__ = ["IPVSTable", "RealServer", "VirtualServer"]

from sim.ipvs.text import parse_save, render_save  # noqa: E402  (text over the types above)

__all__ += ["PROTOCOL_OPTIONS", "parse_save", "render_save"]
