"""The proxy backend of each kube-proxy mode the world can run.

A backend is what one kube-proxy mode does on a sync, shared by the nodes of a world (see
:class:`sim.world.kubeproxy.RulesCache`, the iptables mode's, for the four methods). Each mode
registers its backend here; :class:`~sim.world.kubeproxy.KubeProxy` (the sync loop, rate
limiting and programming-latency records) is the same for every mode.
"""

from __future__ import annotations

from sim.model.config import KubeProxyConfig
from sim.model.errors import SimError
from sim.world.ipvs_backend import IPVSBackend
from sim.world.kubeproxy import RulesCache
from sim.world.nftables_backend import NftBackend
from sim.world.userspace import UserspaceBackend

BACKENDS = {
    "iptables": RulesCache,
    "nftables": NftBackend,
    "ipvs": IPVSBackend,
    "userspace": UserspaceBackend,
}


def proxy_backend(config: KubeProxyConfig):
    """The backend for ``config.mode``."""
    try:
        make = BACKENDS[config.mode]
    except KeyError:
        raise SimError(f'kubeProxy.mode: Unsupported value: "{config.mode}": the world runs '
                       + ", ".join(f'"{m}"' for m in BACKENDS)) from None
    return make(config)
