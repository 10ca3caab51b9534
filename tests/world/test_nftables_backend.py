"""The nftables proxy backend: what a sync sends, how long it takes, and what survives it."""

from __future__ import annotations

import dataclasses

import numpy as np

from sim.model.objects import SessionAffinity
from sim.model.packet import Packet
from sim.world.engine import NetfilterDatapath
from sim.world.nftables_backend import NftBackend
from sim.world.rng import component_rng

from worldkit import small_cluster


class _Node:
    def __init__(self, datapath) -> None:
        self.datapath = datapath


def _affinity_state():
    state = small_cluster().snapshot()
    svc = state.service("default", "web")
    sticky = dataclasses.replace(svc, session_affinity=SessionAffinity.CLIENT_IP,
                                 affinity_timeout_s=10800)
    return dataclasses.replace(state, services=tuple(sticky if s is svc else s
                                                     for s in state.services))


def test_affinity_entries_survive_a_later_sync():
    """A client pinned by ``update @affinity-...`` stays in the set after the next sync's
    transaction is installed, as the kernel keeps a set's elements."""
    state = _affinity_state()
    backend = NftBackend(state.kube_proxy)
    node = _Node(NetfilterDatapath(("192.168.0.1",), state.kube_proxy, component_rng(1, "x")))
    backend.install(node, backend.program(state, "n1", frozenset()))
    vip = state.service("default", "web").cluster_ip
    node.datapath.nf.prerouting(Packet("tcp", "10.244.1.10", vip, 40000, 80, tcp_flags="S"),
                                0.0, np.random.default_rng(0), "eth0")
    before = node.datapath.nft_ruleset().render(now=1.0)
    assert "10.244.1.10 expires" in before
    backend.install(node, backend.program(state, "n1", frozenset()))
    assert "10.244.1.10 expires" in node.datapath.nft_ruleset().render(now=1.0)


def test_partial_sync_writes_only_what_changed_and_costs_less():
    """An unchanged state writes nothing new; a full sync writes every line and costs more
    than the partial sync of the same table."""
    state = small_cluster().snapshot()
    backend = NftBackend(state.kube_proxy)
    prog = backend.program(state, "n1", frozenset())
    full = backend.written(None, prog, True)
    full_s = backend.duration_s(None, full)
    assert full == len(prog.lines)
    partial = backend.written(prog, prog, False)
    assert partial == 0
    assert backend.duration_s(None, partial) < full_s
