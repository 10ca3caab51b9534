"""The collector pause around large builds leaves the collector as it found it."""

from __future__ import annotations

import gc

import pytest

from sim.iptables import apply_payload, parse_restore
from sim.iptables.gcpause import gc_paused
from sim.iptables.restore import RestoreError

_TEXT = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.1 -j DROP\nCOMMIT\n"


@pytest.fixture
def restore_gc():
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_collector_is_off_inside_the_block(restore_gc):
    """Inside ``gc_paused`` the cyclic collector is disabled."""
    gc.enable()
    with gc_paused():
        assert not gc.isenabled()


@pytest.mark.parametrize("enabled", [True, False])
def test_apply_payload_restores_the_collector_state(restore_gc, enabled):
    """After ``apply_payload`` the collector is enabled exactly when it was before."""
    (gc.enable if enabled else gc.disable)()
    apply_payload(parse_restore(_TEXT))
    assert gc.isenabled() is enabled


def test_collector_state_is_restored_when_the_build_fails(restore_gc):
    """A refused payload (an unknown chain) still leaves the collector enabled."""
    gc.enable()
    with pytest.raises(RestoreError):
        apply_payload(parse_restore("*filter\n-A NOPE -j DROP\nCOMMIT\n"))
    assert gc.isenabled()
