"""Partial syncs against upstream ``TestSyncProxyRulesRepeated``: a sequence of syncs where only
changed services' chains are rewritten and stale chains are deleted, each payload compared
(after upstream's sort) with upstream's expected dump."""

from __future__ import annotations

import textwrap

from sim.kubeproxy.iptables import compile_rules
from tests.kubeproxy import fixtures as fx
from tests.kubeproxy.test_upstream_fixture import assert_dump_equal

FILTER = """
    *filter
    :KUBE-NODEPORTS - [0:0]
    :KUBE-SERVICES - [0:0]
    :KUBE-EXTERNAL-SERVICES - [0:0]
    :KUBE-FIREWALL - [0:0]
    :KUBE-FORWARD - [0:0]
    :KUBE-PROXY-FIREWALL - [0:0]
    {reject}-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
    -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
    -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
    -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    COMMIT
"""
NAT_FIXED = """
    -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
    -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
    -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
    -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
"""
NODEPORTS = ('    -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the '
             'last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n')


def cluster_ip_rule(ns: str, ip: str, port: int, chain: str) -> str:
    return (f'    -A KUBE-SERVICES -m comment --comment "{ns}/svc{ns[-1]}:p{port} cluster IP" -m tcp -p tcp '
            f"-d {ip} --dport {port} -j {chain}\n")


def expected(chains: list[str], services: str, rest: str, reject: str = "") -> str:
    text = (FILTER.format(reject=reject) + "    *nat\n    :KUBE-NODEPORTS - [0:0]\n    :KUBE-SERVICES - [0:0]\n"
            "    :KUBE-MARK-MASQ - [0:0]\n    :KUBE-POSTROUTING - [0:0]\n"
            + "".join(f"    :{c} - [0:0]\n" for c in chains) + services + NODEPORTS + NAT_FIXED.lstrip("\n")
            + rest + "    COMMIT\n")
    return textwrap.dedent(text)


SVC1 = cluster_ip_rule("ns1", "172.30.0.41", 80, "KUBE-SVC-XPGD46QRK7WJZT7O")
SVC3 = cluster_ip_rule("ns3", "172.30.0.43", 80, "KUBE-SVC-X27LE4BHSL4DOUIK")
SVC4 = cluster_ip_rule("ns4", "172.30.0.44", 80, "KUBE-SVC-4SW47YFZTEDKD3PK")


def svc_chain(ns: str, chain: str, ip: str, port: int, dests: list[tuple[str, str, str]]) -> str:
    """SVC chain rules: masquerade rule, then the cascade over (endpoint, SEP, probability)."""
    spn = f"{ns}/svc{ns[-1]}:p{port}"
    out = (f'    -A {chain} -m comment --comment "{spn} cluster IP" -m tcp -p tcp -d {ip} --dport {port} '
           f"! -s 10.0.0.0/8 -j KUBE-MARK-MASQ\n")
    for ep, sep, prob in dests:
        stat = f" -m statistic --mode random --probability {prob}" if prob else ""
        out += f'    -A {chain} -m comment --comment "{spn} -> {ep}"{stat} -j {sep}\n'
    return out


def sep_chain(ns: str, sep: str, ip: str, port: int) -> str:
    spn = f"{ns}/svc{ns[-1]}:p{port}"
    return (f"    -A {sep} -m comment --comment {spn} -s {ip} -j KUBE-MARK-MASQ\n"
            f"    -A {sep} -m comment --comment {spn} -m tcp -p tcp -j DNAT --to-destination {ip}:{port}\n")


def test_sync_proxy_rules_repeated_partial_syncs():
    """TestSyncProxyRulesRepeated: add a service, delete one (-X its chains), add one without
    then with endpoints, change and add an endpoint, sync without changes."""
    svc1 = fx.svc("ns1", "svc1", "172.30.0.41", fx.port(80))
    svc2 = fx.svc("ns2", "svc2", "172.30.0.42", fx.port(8080, name="p8080"))
    svc3 = fx.svc("ns3", "svc3", "172.30.0.43", fx.port(80))
    svc4 = fx.svc("ns4", "svc4", "172.30.0.44", fx.port(80))
    eps1 = fx.eps("ns1", "svc1", [fx.ep("10.0.1.1")])
    eps2 = fx.eps("ns2", "svc2", [fx.ep("10.0.2.1")], port_number=8080, port_name="p8080")
    existing: set[str] = set()

    def sync(services, slices, changed):
        payload = compile_rules(fx.state(services, slices), fx.TEST_NODE,
                                existing_nat_chains=frozenset(existing), changed_services=changed)
        nat = payload.table("nat")
        deleted = {ln[3:] for ln in nat.lines if ln.startswith("-X ")}
        existing.update(c.name for c in nat.chains)
        existing.difference_update(deleted)
        return payload.render()

    sync([svc1, svc2], [eps1, eps2], None)

    eps3 = fx.eps("ns3", "svc3", [fx.ep("10.0.3.1")])
    out = sync([svc1, svc2, svc3], [eps1, eps2, eps3], frozenset({"ns3/svc3"}))
    svc2_rule = cluster_ip_rule("ns2", "172.30.0.42", 8080, "KUBE-SVC-2VJB64SDSIJUP5T6")
    assert_dump_equal(expected(
        ["KUBE-SEP-BSWRHOQ77KEXZLNL", "KUBE-SVC-X27LE4BHSL4DOUIK"], SVC1 + svc2_rule + SVC3,
        sep_chain("ns3", "KUBE-SEP-BSWRHOQ77KEXZLNL", "10.0.3.1", 80)
        + svc_chain("ns3", "KUBE-SVC-X27LE4BHSL4DOUIK", "172.30.0.43", 80,
                    [("10.0.3.1:80", "KUBE-SEP-BSWRHOQ77KEXZLNL", "")])), out)

    out = sync([svc1, svc3], [eps1, eps3], frozenset({"ns2/svc2"}))
    assert_dump_equal(expected(["KUBE-SEP-UHEGFW77JX3KXTOV", "KUBE-SVC-2VJB64SDSIJUP5T6"], SVC1 + SVC3,
                               "    -X KUBE-SEP-UHEGFW77JX3KXTOV\n    -X KUBE-SVC-2VJB64SDSIJUP5T6\n"), out)

    out = sync([svc1, svc3, svc4], [eps1, eps3], frozenset({"ns4/svc4"}))
    reject = ('-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 has no endpoints" -m tcp -p tcp '
              "-d 172.30.0.44 --dport 80 -j REJECT\n    ")
    assert_dump_equal(expected([], SVC1 + SVC3, "", reject=reject), out)

    eps4 = fx.eps("ns4", "svc4", [fx.ep("10.0.4.1")])
    out = sync([svc1, svc3, svc4], [eps1, eps3, eps4], frozenset({"ns4/svc4"}))
    assert_dump_equal(expected(
        ["KUBE-SEP-AYCN5HPXMIRJNJXU", "KUBE-SVC-4SW47YFZTEDKD3PK"], SVC1 + SVC3 + SVC4,
        sep_chain("ns4", "KUBE-SEP-AYCN5HPXMIRJNJXU", "10.0.4.1", 80)
        + svc_chain("ns4", "KUBE-SVC-4SW47YFZTEDKD3PK", "172.30.0.44", 80,
                    [("10.0.4.1:80", "KUBE-SEP-AYCN5HPXMIRJNJXU", "")])), out)

    eps3b = fx.eps("ns3", "svc3", [fx.ep("10.0.3.2")])
    out = sync([svc1, svc3, svc4], [eps1, eps3b, eps4], frozenset({"ns3/svc3"}))
    assert_dump_equal(expected(
        ["KUBE-SEP-BSWRHOQ77KEXZLNL", "KUBE-SEP-DKCFIS26GWF2WLWC", "KUBE-SVC-X27LE4BHSL4DOUIK"],
        SVC1 + SVC3 + SVC4,
        sep_chain("ns3", "KUBE-SEP-DKCFIS26GWF2WLWC", "10.0.3.2", 80)
        + svc_chain("ns3", "KUBE-SVC-X27LE4BHSL4DOUIK", "172.30.0.43", 80,
                    [("10.0.3.2:80", "KUBE-SEP-DKCFIS26GWF2WLWC", "")])
        + "    -X KUBE-SEP-BSWRHOQ77KEXZLNL\n"), out)

    eps3c = fx.eps("ns3", "svc3", [fx.ep("10.0.3.2"), fx.ep("10.0.3.3")])
    out = sync([svc1, svc3, svc4], [eps1, eps3c, eps4], frozenset({"ns3/svc3"}))
    assert_dump_equal(expected(
        ["KUBE-SEP-DKCFIS26GWF2WLWC", "KUBE-SEP-JVVZVJ7BSEPPRNBS", "KUBE-SVC-X27LE4BHSL4DOUIK"],
        SVC1 + SVC3 + SVC4,
        sep_chain("ns3", "KUBE-SEP-DKCFIS26GWF2WLWC", "10.0.3.2", 80)
        + sep_chain("ns3", "KUBE-SEP-JVVZVJ7BSEPPRNBS", "10.0.3.3", 80)
        + svc_chain("ns3", "KUBE-SVC-X27LE4BHSL4DOUIK", "172.30.0.43", 80,
                    [("10.0.3.2:80", "KUBE-SEP-DKCFIS26GWF2WLWC", "0.5000000000"),
                     ("10.0.3.3:80", "KUBE-SEP-JVVZVJ7BSEPPRNBS", "")])), out)

    out = sync([svc1, svc3, svc4], [eps1, eps3c, eps4], frozenset())
    assert_dump_equal(expected([], SVC1 + SVC3 + SVC4, ""), out)
