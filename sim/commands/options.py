"""Options shared by several subcommands.

``--mode`` overrides ``spec.kubeProxy.mode`` for every command that compiles rules (``rules``,
``trace``, ``run``, ``show``; ``sweep`` takes the mode as a grid parameter), so one scenario
answers for every proxy mode.
"""

from __future__ import annotations

import argparse
import dataclasses

from sim.kubeproxy.modes import BUILT_MODES, ENGINE_MODES, unsupported_mode_message
from sim.model.config import PROXY_MODES
from sim.model.errors import SimError


def add_mode_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--mode {iptables,nftables,ipvs,userspace}``."""
    parser.add_argument("--mode", choices=PROXY_MODES, default=None,
                        help="kube-proxy mode (overrides spec.kubeProxy.mode; default: the "
                             "scenario's, else iptables)")


def with_mode(scenario, mode: str | None):
    """``scenario`` with ``spec.kubeProxy.mode`` replaced by ``mode`` (unchanged when ``None``)."""
    if not mode or mode == scenario.kube_proxy.mode:
        return scenario
    return dataclasses.replace(scenario, kube_proxy=dataclasses.replace(scenario.kube_proxy, mode=mode))


def require_built_mode(mode: str, where: str) -> None:
    """Refuse a proxy mode that has no compiler here (``where`` names the file or option)."""
    if mode not in BUILT_MODES:
        raise SimError(f'{where}: kubeProxy.mode: Unsupported value: "{mode}": '
                       + unsupported_mode_message(mode))


def require_engine_mode(mode: str, where: str) -> None:
    """Refuse a proxy mode whose rules the packet engine cannot execute yet (``trace``)."""
    if mode not in ENGINE_MODES:
        raise SimError(f'{where}: kubeProxy.mode: Unsupported value: "{mode}": the packet engine '
                       "executes " + ", ".join(f'"{m}"' for m in ENGINE_MODES)
                       + f" rules (use `kube-netsim rules --mode {mode}` to see the {mode} rules)")
