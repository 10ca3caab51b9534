"""Packet: built by ``__new__`` (not a generated ``__init__``), still a frozen dataclass."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from sim.model.packet import Packet, make_packet


def _syn() -> Packet:
    return Packet("tcp", "10.1.0.10", "10.96.0.10", 40000, 80, tcp_flags="S", length=60)


def test_packet_fields_take_positional_and_keyword_arguments_with_defaults():
    """Positional, keyword and defaulted arguments land in the named fields."""
    p = Packet("udp", "10.1.0.10", "10.96.0.10", 5353, 53, "", 0x4000, 80, "eth0", "", 3)
    assert (p.proto, p.src, p.dst, p.sport, p.dport, p.tcp_flags, p.mark, p.length,
            p.in_iface, p.out_iface, p.icmp_type) == (
        "udp", "10.1.0.10", "10.96.0.10", 5353, 53, "", 0x4000, 80, "eth0", "", 3)
    d = Packet("tcp", "a", "b")
    assert (d.sport, d.dport, d.tcp_flags, d.mark, d.length, d.in_iface, d.out_iface,
            d.icmp_type) == (0, 0, "S", 0, 60, "", "", None)
    assert type(p) is Packet


def test_packet_cannot_be_mutated():
    """Assigning a field raises FrozenInstanceError, as for any frozen dataclass."""
    p = _syn()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.dst = "10.1.1.5"  # type: ignore[misc]


def test_packets_with_equal_fields_are_equal_and_hash_alike():
    """Equality and hash follow the fields (conntrack and caches key on packets)."""
    assert _syn() == _syn() and hash(_syn()) == hash(_syn())
    assert _syn() != _syn().with_(sport=40001)


def test_with_replace_copy_and_pickle_rebuild_an_equal_packet():
    """with_, dataclasses.replace, copy, deepcopy and pickle all give working packets."""
    p = _syn()
    assert p.with_(dst="10.1.1.5").dst == "10.1.1.5"
    assert dataclasses.replace(p, mark=1).mark == 1
    assert [f.name for f in dataclasses.fields(Packet)][:3] == ["proto", "src", "dst"]
    for clone in (copy.copy(p), copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert clone == p and type(clone) is Packet


def test_make_packet_equals_the_class_call_and_is_frozen():
    """make_packet (all fields positional) builds the same frozen Packet as Packet(...)."""
    fields = ("udp", "10.1.0.10", "10.96.0.10", 5353, 53, "", 0x4000, 80, "eth0", "cni0", 3)
    p = make_packet(*fields)
    assert type(p) is Packet and p == Packet(*fields) and hash(p) == hash(Packet(*fields))
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.mark = 0  # type: ignore[misc]


def test_the_fast_constructors_follow_the_dataclass_fields():
    """__new__'s parameters and defaults, make_packet's parameters and the slot layout the
    constructors fill are the dataclass's fields in order: a field added to one and not the
    others fails here."""
    import inspect

    from sim.model.packet import _PACKET_FIELDS

    fields = dataclasses.fields(Packet)
    names = tuple(f.name for f in fields)
    assert _PACKET_FIELDS == names
    params = list(inspect.signature(Packet.__new__).parameters.values())[1:]
    assert tuple(p.name for p in params) == names
    assert [p.default for p in params[3:]] == [f.default for f in fields[3:]]
    assert tuple(inspect.signature(make_packet).parameters) == names


def test_copy_and_pickle_keep_every_field_set():
    """copy and pickle keep non-default values in every field, the last ones included (an
    ICMP error's type and quoted header)."""
    p = Packet("icmp", "10.244.1.5", "10.1.0.7", 1, 2, "", 0x10, 88, "cni0", "eth0", 3,
               ("udp", "10.1.0.7", 40000, "10.96.0.10", 53))
    for clone in (copy.copy(p), copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert dataclasses.astuple(clone) == dataclasses.astuple(p) and type(clone) is Packet
