"""Shared engine fixtures: a kube-proxy node dump and small hand-written rulesets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.iptables import apply_payload, parse_restore
from sim.netfilter import NodeNetfilter, Route

RULES = Path(__file__).parent / "rules"
NODE1_IP = "192.168.0.11"
NODE1_BRIDGE = "10.244.1.1"


def ruleset(text: str):
    """Parse and apply restore text."""
    return apply_payload(parse_restore(text))


def engine(text: str, local=(NODE1_IP,), **kw) -> NodeNetfilter:
    """An engine on a node with ``local`` addresses loaded with ``text``."""
    kw.setdefault("route", lambda dst: Route("eth0", local[0]))
    return NodeNetfilter(ruleset(text), list(local), **kw)


def node1(**kw) -> NodeNetfilter:
    """Node 1 of the kube-proxy dump ``rules/node1.save``."""
    return engine((RULES / "node1.save").read_text(), (NODE1_IP, NODE1_BRIDGE), **kw)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
