"""Which proxy modes have a compiler here.

kube-proxy keeps one proxier per mode (``pkg/proxy/iptables``, ``nftables``, ``ipvs``; the 1.0
userspace proxier in ``pkg/proxy``) over shared helpers; so do we: one module per mode in
``sim.kubeproxy``, all over :mod:`sim.kubeproxy.endpoints` (``CategorizeEndpoints``). A mode is
listed in :data:`BUILT_MODES` once its compiler (and, for ``run``, its world backend) exists;
:data:`sim.model.config.PROXY_MODES` lists every mode a scenario may name.
"""

from __future__ import annotations

from sim.model.config import PROXY_MODES

BUILT_MODES: tuple[str, ...] = ("iptables", "nftables", "ipvs", "userspace")

# Modes whose rules the packet engine (sim.netfilter) can execute: ``trace`` refuses the others
# (userspace mode's portal rules are iptables rules).
ENGINE_MODES: tuple[str, ...] = ("iptables", "nftables", "ipvs", "userspace")

__all__ = ["BUILT_MODES", "ENGINE_MODES", "PROXY_MODES", "unsupported_mode_message"]


def unsupported_mode_message(mode: str) -> str:
    """The ``Unsupported value`` detail for a mode with no compiler here."""
    return "supported values: " + ", ".join(f'"{m}"' for m in BUILT_MODES)
