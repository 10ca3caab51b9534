"""The large-restore path of ``apply_payload`` (a payload longer than the parse cache: rules
parsed through shape plans, equal parts shared) gives exactly what the cached path gives:
the same rulesets, the same errors at the same lines (corpus, error cases, hypothesis over
rule shapes with valid and invalid values); the fast address checks agree with ipaddress."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.iptables import RestoreError, apply_payload, parse_restore, parse_restore_lines
from sim.iptables import extensions, restore
from sim.iptables.extensions import (
    ExtensionError,
    check_network,
    is_dotted_quad,
    parse_nat_range,
    parse_network,
)

from tests.iptables.test_restore_errors import CASES

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.rules"))


def _both(text: str) -> tuple[object, object]:
    """(cached path, large path) results of applying ``text``: a Ruleset or the error."""
    out = []
    for limit in (restore._CACHED_RULES, 0):
        with mock.patch.object(restore, "_CACHED_RULES", limit):
            try:
                out.append(apply_payload(parse_restore(text, "f.rules")))
            except RestoreError as exc:
                out.append((str(exc), exc.line))
    return out[0], out[1]


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_large_path_applies_the_corpus_like_the_cached_path(path: Path) -> None:
    """Every corpus file (kernel-checked rules, every supported option) gives an equal
    ruleset on both paths."""
    cached, large = _both(path.read_text())
    assert not isinstance(cached, tuple)
    assert large == cached


@pytest.mark.parametrize("name", sorted(CASES))
def test_large_path_refuses_like_the_cached_path(name: str) -> None:
    """Every kernel-checked error case is refused with the same message at the same line."""
    cached, large = _both(CASES[name])
    assert large == cached


# Rule shapes with value slots {v0}, {v1}...: a first rule seeds the shape's plan, the next
# one is parsed through it (or falls back to the full parse).
SHAPES = [
    ("KUBE-SEP-X", "-s {v0} -m comment --comment {v1} -j KUBE-MARK-MASQ"),
    ("KUBE-SEP-X", "-p tcp -m comment --comment {v1} -m tcp -j DNAT --to-destination {v2}"),
    ("KUBE-SVC-X", "-m comment --comment {v1} -m statistic --mode random --probability {v3} "
                   "-j {v4}"),
    ("KUBE-SERVICES", "-d {v0} -p tcp -m comment --comment {v1} -m tcp --dport {v5} -j {v4}"),
    ("KUBE-NODEPORTS", "-p udp -m udp --dport {v5} -j {v4}"),
    ("INPUT", "-i {v6} ! -s {v0} -m conntrack --ctstate {v7} -j ACCEPT"),
    ("KUBE-SEP-X", "-c {v8} {v8} -s {v0} -j {v4}"),
    ("PREROUTING", "-m addrtype --dst-type {v9} -j KUBE-MARK-MASQ"),
]
VALUES = {
    "v0": st.sampled_from(["10.0.0.1", "10.0.0.1/32", "10.1.2.3/24", "10.0.0.0/255.255.0.0",
                           "300.1.1.1", "10.01.0.1", "10.0.0.1/33", "0.0.0.0/0", "-x",
                           "10.0.0.1,10.0.0.2", "host"]),
    "v1": st.sampled_from(['"ns/svc:http"', "plain", '"a \\"q\\" b"', '"-j"', '"!"', '""']),
    "v2": st.sampled_from(["10.0.0.1:8080", "10.0.0.1:65536", "10.0.0.1", "10.0.0.1:0",
                           "10.0.0.1-10.0.0.9:80-90", "x:80", "10.0.0.1:080", ":80"]),
    "v3": st.sampled_from(["0.5", "0.33333333349", "1.5", "abc", "0"]),
    "v4": st.sampled_from(["KUBE-SEP-Y", "KUBE-SEP-X", "ACCEPT", "MASQUERADE", "DNAT",
                           "KUBE-MARK-MASQ", "A" * 29, "NOPE", "RETURN", "INPUT"]),
    "v5": st.sampled_from(["80", "65536", "0x50", "http", "80:90", "-1"]),
    "v6": st.sampled_from(["eth0", "cni+", "a" * 16, "x/y"]),
    "v7": st.sampled_from(["NEW", "NEW,ESTABLISHED", "BOGUS"]),
    "v8": st.sampled_from(["0", "12", "x"]),
    "v9": st.sampled_from(["LOCAL", "BOGUS", "UNICAST"]),
}
HEAD = ["*nat", ":KUBE-SEP-X - [0:0]", ":KUBE-SEP-Y - [0:0]", ":KUBE-SVC-X - [0:0]",
        ":KUBE-SERVICES - [0:0]", ":KUBE-NODEPORTS - [0:0]", ":KUBE-MARK-MASQ - [0:0]"]
SEED = {"v0": "10.9.9.9", "v1": "seed", "v2": "10.9.9.9:80", "v3": "0.25", "v4": "KUBE-SEP-Y",
        "v5": "53", "v6": "eth9", "v7": "NEW", "v8": "1", "v9": "LOCAL"}


@given(shape=st.sampled_from(SHAPES), values=st.fixed_dictionaries(VALUES),
       table=st.sampled_from(["nat", "filter"]))
def test_plans_parse_any_values_like_the_full_parse(shape, values, table) -> None:
    """A rule parsed through the plan of a rule of the same shape gives the same rule, or
    the same error at the same line, as the full parse; whatever its values."""
    chain, spec = shape
    head = [f"*{table}"] + HEAD[1:]
    if table == "filter":
        head = [f"*{table}"] + [h for h in HEAD[1:] if h != ":KUBE-MARK-MASQ - [0:0]"]
        head.append(":KUBE-MARK-MASQ - [0:0]")
    text = "\n".join(head + [f"-A {chain} {spec.format(**SEED)}",
                             f"-A {chain} {spec.format(**values)}", "COMMIT", ""])
    cached, large = _both(text)
    assert large == cached


def test_large_path_shares_equal_parts_between_rules(monkeypatch) -> None:
    """On the large path two rules with the same comment and target hold one option and
    one target object; the chain name is one string."""
    monkeypatch.setattr(restore, "_CACHED_RULES", 0)
    rs = apply_payload(parse_restore(
        "*nat\n:KUBE-SEP-A - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n"
        '-A KUBE-SEP-A -s 10.0.0.1/32 -m comment --comment "ns/a:http" -j KUBE-MARK-MASQ\n'
        '-A KUBE-SEP-A -s 10.0.0.2/32 -m comment --comment "ns/a:http" -j KUBE-MARK-MASQ\n'
        "COMMIT\n"))
    a, b = rs.tables["nat"].chains["KUBE-SEP-A"].rules
    assert a.matches[1] is b.matches[1] and a.target is b.target and a.chain is b.chain
    assert a.matches[0] != b.matches[0]


def test_streamed_lines_parse_like_the_whole_text() -> None:
    """parse_restore_lines over a file's lines (split at newlines only, then as
    str.splitlines splits each) numbers lines as parse_restore does on the whole text,
    with carriage returns, form feeds and blank lines."""
    text = ("# c\r\n*filter\r\n:X - [0:0]\n\x0c\n-A X -j ACCEPT\r\n\n-A INPUT -j X\nCOMMIT\n")
    whole = parse_restore(text, "f")
    chunks = [part for line in text.encode().splitlines(keepends=True)
              for part in line.decode().splitlines()]
    assert parse_restore_lines(chunks, "f") == whole


quads = st.one_of(
    st.tuples(*[st.integers(0, 300)] * 4).map(lambda t: ".".join(map(str, t))),
    st.text(alphabet="0123456789./ x:-", max_size=20))


def _ipaddress_ok(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


@given(quads)
def test_dotted_quad_check_agrees_with_ipaddress(text: str) -> None:
    """The fast dotted-quad check accepts exactly what ipaddress accepts."""
    assert is_dotted_quad(text) == _ipaddress_ok(text)


@given(st.one_of(quads, st.tuples(quads, st.integers(0, 40)).map(lambda t: f"{t[0]}/{t[1]}")))
def test_network_check_agrees_with_parse_network(text: str) -> None:
    """check_network refuses exactly what parse_network refuses, with its message."""
    def outcome(fn):
        try:
            fn(text)
        except ExtensionError as exc:
            return str(exc)
        return None
    assert outcome(check_network) == outcome(parse_network)


@given(st.tuples(quads, st.one_of(st.integers(0, 70000).map(str), st.just("080"),
                                  st.just(""))).map(lambda t: f"{t[0]}:{t[1]}"))
def test_nat_range_fast_path_agrees_with_the_full_parse(text: str) -> None:
    """``ip:port`` parsed by the fast path equals the full parse (cache bypassed)."""
    def outcome(fn):
        try:
            return fn(text, need_ip=False)
        except ExtensionError as exc:
            return str(exc)
    full = parse_nat_range.__wrapped__
    assert outcome(full) == outcome(_without_fast_path(full))


def _without_fast_path(fn):
    never = mock.Mock(fullmatch=lambda _text: None)

    def call(text: str, need_ip: bool):
        with mock.patch.object(extensions, "_QUAD_PORT", never):
            return fn(text, need_ip=need_ip)
    return call
