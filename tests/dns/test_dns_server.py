"""The wire server on 127.0.0.1: answers checked with dig and with dnspython; robustness."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import time

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import numpy as np
import pytest
from dns_cluster import spec_cluster

from sim.dns.cache import DNSCache
from sim.dns.records import ClusterDNS
from sim.dns.server import DNSHandler, DNSServer

HOST = "127.0.0.1"
DIG = shutil.which("dig")
needs_dig = pytest.mark.skipif(DIG is None, reason="dig not installed (apt-get install dnsutils)")


@pytest.fixture(scope="module")
def server():
    records = ClusterDNS(spec_cluster(), upstream={"www.example.com": ["192.0.2.53"]})
    srv = DNSServer(DNSHandler(records), host=HOST, port=0)
    srv.start()
    yield srv
    srv.stop()


def dig(server, *args):
    out = subprocess.run([DIG, f"@{HOST}", "-p", str(server.port), "+time=2", "+tries=1", *args],
                         capture_output=True, text=True, timeout=20, check=True)
    return out.stdout


def dig_lines(server, *args):
    """dig +noall +answer output as normalised 'name ttl IN type rdata' lines, sorted."""
    text = dig(server, "+noall", "+answer", *args)
    return sorted(" ".join(line.split()) for line in text.splitlines() if line.strip())


def query(server, name, qtype, tcp=False):
    q = dns.message.make_query(name, qtype)
    fn = dns.query.tcp if tcp else dns.query.udp
    return fn(q, HOST, port=server.port, timeout=3)


@needs_dig
def test_dig_clusterip_a(server):
    """dig A of a ClusterIP service prints the one record."""
    assert dig_lines(server, "kubernetes.default.svc.cluster.local", "A") == [
        "kubernetes.default.svc.cluster.local. 5 IN A 10.96.0.1"]


@needs_dig
def test_dig_headless_srv_with_additional(server):
    """dig SRV of a headless named port prints three SRV and three glue A records."""
    lines = dig_lines(server, "+additional", "_https._tcp.headless.default.svc.cluster.local",
                      "SRV")
    assert lines == sorted(
        [f"_https._tcp.headless.default.svc.cluster.local. 5 IN SRV 0 33 443 "
         f"{t}.headless.default.svc.cluster.local." for t in ("my-pet", "my-pet-2", "10-3-0-102")]
        + [f"{t}.headless.default.svc.cluster.local. 5 IN A {ip}" for t, ip in
           (("my-pet", "10.3.0.100"), ("my-pet-2", "10.3.0.101"), ("10-3-0-102", "10.3.0.102"))])


@needs_dig
def test_dig_ptr_and_txt_and_cname_over_tcp(server):
    """dig -x, TXT and (over TCP) the ExternalName CNAME chain."""
    assert dig_lines(server, "-x", "10.96.0.1") == [
        "1.0.96.10.in-addr.arpa. 5 IN PTR kubernetes.default.svc.cluster.local."]
    assert dig_lines(server, "dns-version.cluster.local", "TXT") == [
        'dns-version.cluster.local. 28800 IN TXT "1.1.0"']
    assert dig_lines(server, "+tcp", "foo.default.svc.cluster.local", "A") == [
        "foo.default.svc.cluster.local. 5 IN CNAME www.example.com.",
        "www.example.com. 30 IN A 192.0.2.53"]


@needs_dig
def test_dig_nxdomain_shows_soa(server):
    """dig of a missing service shows status NXDOMAIN, flag aa and the SOA."""
    out = dig(server, "missing.default.svc.cluster.local", "A")
    assert "status: NXDOMAIN" in out and " aa" in out
    assert "cluster.local.\t\t5\tIN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local. " \
           "1 7200 1800 86400 5" in out


def test_dnspython_udp_and_tcp_same_answer(server):
    """dnspython over UDP and TCP gets the same authoritative answer."""
    for tcp in (False, True):
        r = query(server, "headless.default.svc.cluster.local.", "A", tcp=tcp)
        assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
        assert sorted(rd.address for rd in r.answer[0]) == ["10.3.0.100", "10.3.0.101",
                                                             "10.3.0.102"]


def test_dnspython_nodata(server):
    """AAAA on an IPv4 service: NOERROR, no answer, the SOA in authority."""
    r = query(server, "kubernetes.default.svc.cluster.local.", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer
    assert r.authority[0].rdtype == dns.rdatatype.SOA


def test_owner_case_preserved_on_the_wire(server):
    """The answer's owner name keeps the query's case."""
    r = query(server, "KUBERNETES.Default.svc.cluster.local.", "A")
    assert r.answer[0].name.to_text() == "KUBERNETES.Default.svc.cluster.local."


def _raw_udp(port, payload, timeout=1.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, (HOST, port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def test_malformed_packet_gets_formerr(server):
    """A header that parses followed by garbage gets FORMERR with the same ID."""
    payload = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0) + b"\x05abc"
    reply = _raw_udp(server.port, payload)
    assert reply[:2] == b"\xbe\xef" and reply[3] & 0xF == dns.rcode.FORMERR


def test_unsupported_opcode_gets_notimp(server):
    """An UPDATE (opcode 5) is answered NOTIMP."""
    q = dns.message.make_query("kubernetes.default.svc.cluster.local.", "A")
    wire = bytearray(q.to_wire())
    wire[2] = (wire[2] & 0x87) | (5 << 3)
    reply = _raw_udp(server.port, bytes(wire))
    assert reply[3] & 0xF == dns.rcode.NOTIMP


def test_chaos_class_gets_notimp(server):
    """A CH-class question is answered NOTIMP."""
    q = dns.message.make_query("version.bind.", "TXT", rdclass="CH")
    r = dns.query.udp(q, HOST, port=server.port, timeout=3)
    assert r.rcode() == dns.rcode.NOTIMP


def test_two_questions_formerr_and_short_packet_dropped(server):
    """QDCOUNT 2 is FORMERR; fewer than 12 bytes get no reply at all."""
    payload = struct.pack("!HHHHHH", 7, 0x0100, 2, 0, 0, 0)
    assert _raw_udp(server.port, payload)[3] & 0xF == dns.rcode.FORMERR
    assert _raw_udp(server.port, b"\x00\x01\x02", timeout=0.3) is None


def test_large_udp_answer_truncated_then_full_over_tcp():
    """More than 512 bytes without EDNS: TC set over UDP; TCP carries every record."""
    from dns_cluster import ep, eslice, svc

    from sim.model import ClusterState, Namespace
    many = tuple(ep(f"10.9.{i // 250}.{i % 250 + 1}") for i in range(60))
    state = ClusterState(namespaces=(Namespace("default"),),
                         services=(svc("default", "big", "None"),),
                         endpoint_slices=(eslice("default", "big", *many),))
    with DNSServer(DNSHandler(ClusterDNS(state)), host=HOST, port=0) as srv:
        q = dns.message.make_query("big.default.svc.cluster.local.", "A", use_edns=False)
        r = dns.query.udp(q, HOST, port=srv.port, timeout=3)
        assert r.flags & dns.flags.TC and not r.answer
        r = dns.query.tcp(q, HOST, port=srv.port, timeout=3)
        assert len(r.answer[0]) == 60


def test_server_cache_ttl_counts_down():
    """With a server cache, a second query within the TTL is served with the remaining TTL."""
    now = [1000.0]
    handler = DNSHandler(ClusterDNS(spec_cluster(), ttl_s=30), cache=DNSCache(),
                         clock=lambda: now[0])
    q = dns.message.make_query("kubernetes.default.svc.cluster.local.", "A")
    first = dns.message.from_wire(handler.handle(q.to_wire()))
    now[0] += 12
    second = dns.message.from_wire(handler.handle(q.to_wire()))
    assert first.answer[0].ttl == 30 and second.answer[0].ttl == 18


def test_fuzz_random_packets_then_still_correct(server):
    """Thousands of random and mutated packets (bounded in count and time) never stop the
    server: afterwards it still answers exactly."""
    rng = np.random.default_rng(20260521)
    good = dns.message.make_query("kubernetes.default.svc.cluster.local.", "A").to_wire()
    deadline = time.monotonic() + 20
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        while sent < 3000 and time.monotonic() < deadline:
            kind = sent % 3
            if kind == 0:
                pkt = rng.integers(0, 256, int(rng.integers(0, 120)), dtype=np.uint8).tobytes()
            else:
                arr = np.frombuffer(good, dtype=np.uint8).copy()
                idx = rng.integers(0, len(arr), int(rng.integers(1, 6)))
                arr[idx] = rng.integers(0, 256, len(idx), dtype=np.uint8)
                pkt = arr.tobytes() if kind == 1 else arr.tobytes()[: int(rng.integers(0, len(arr)))]
            try:
                s.sendto(pkt, (HOST, server.port))
            except BlockingIOError:
                time.sleep(0.001)
                continue
            sent += 1
            if sent % 200 == 0:
                time.sleep(0.01)  # let the single-threaded UDP loop drain its socket buffer
    assert sent >= 1000
    r = None
    for _ in range(10):  # the flood may still be queued in the socket buffer: retry a while
        try:
            r = query(server, "kubernetes.default.svc.cluster.local.", "A")
            break
        except dns.exception.Timeout:
            continue
    assert r is not None, "server stopped answering after the fuzz flood"
    assert [rd.address for rd in r.answer[0]] == ["10.96.0.1"]
    r = query(server, "missing.default.svc.cluster.local.", "A", tcp=True)
    assert r.rcode() == dns.rcode.NXDOMAIN


def test_edns_version_1_gets_badvers(server):
    """An EDNS version other than 0 is answered BADVERS (RFC 6891)."""
    q = dns.message.make_query("kubernetes.default.svc.cluster.local.", "A", use_edns=1)
    r = dns.query.udp(q, HOST, port=server.port, timeout=3)
    assert r.rcode() == dns.rcode.BADVERS


def test_edns_query_gets_opt_back(server):
    """An EDNS(0) query gets an OPT record in the reply."""
    q = dns.message.make_query("kubernetes.default.svc.cluster.local.", "A", use_edns=0)
    r = dns.query.udp(q, HOST, port=server.port, timeout=3)
    assert r.edns == 0 and r.answer


def test_tcp_garbage_then_still_correct(server):
    """Hundreds of TCP connections carrying random length-prefixed garbage (or a short read)
    never stop the TCP listener: afterwards a TCP query is answered exactly."""
    rng = np.random.default_rng(7)
    for i in range(300):
        with socket.create_connection((HOST, server.port), timeout=2) as s:
            body = rng.integers(0, 256, int(rng.integers(0, 80)), dtype=np.uint8).tobytes()
            declared = len(body) if i % 2 else int(rng.integers(0, 65536))
            s.sendall(struct.pack("!H", declared) + body)
    r = query(server, "kubernetes.default.svc.cluster.local.", "A", tcp=True)
    assert [rd.address for rd in r.answer[0]] == ["10.96.0.1"]
