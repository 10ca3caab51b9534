"""IPVS virtual and real servers as data (what ``ipvsadm-save -n`` prints).

Model
    :class:`IPVSTable` holds :class:`VirtualServer` entries, each with its scheduler,
    persistence timeout and :class:`RealServer` entries (address, port, weight, forwarding
    method). kube-proxy's IPVS proxier always uses masquerading (``-m``) and weight 1, and a
    real server being gracefully terminated has weight 0.
Scope and limitations
    Data types only here; the ``ipvsadm-save -n`` text and the IPVS stage of the engine are
    added beside them.
Validation
    See the modules that use it.
"""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True, slots=True)
class IPVSTable:
    """Every virtual server of one node, in canonical order."""

    virtual_servers: tuple[VirtualServer, ...] = ()


__all__ = ["IPVSTable", "RealServer", "VirtualServer"]
