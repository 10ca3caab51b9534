"""A real DNS server (UDP and TCP on 127.0.0.1) for the records of :class:`ClusterDNS`.

dnspython does the wire format (names, compression, EDNS); this module decides what to answer
to each packet, as CoreDNS's server and miekg/dns do before the plugins run:

- fewer than 12 bytes (no header): dropped; a response (QR set): dropped;
- a header that parses but a message that does not: FORMERR with the same ID;
- opcode other than QUERY: NOTIMP (miekg ``DefaultMsgAcceptFunc``); QDCOUNT != 1,
  ANCOUNT > 1, NSCOUNT > 1 or ARCOUNT > 2: FORMERR (same function);
- EDNS version > 0: BADVERS (RFC 6891); class other than IN: NOTIMP;
- UDP replies larger than 512 bytes (or the client's EDNS payload size) are truncated to
  the header and question with TC set, so the client retries over TCP.

Out-of-zone names are answered from the scenario's ``upstream`` table or NXDOMAIN
(see :class:`ClusterDNS`): the server never forwards anything to the internet.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from sim.dns.cache import DNSCache
from sim.dns.records import RR, Answer, ClusterDNS

UDP_MAX_NO_EDNS = 512  # RFC 1035 4.2.1
EDNS_PAYLOAD = 1232  # the payload size CoreDNS and most resolvers advertise (DNS flag day 2020)
HEADER_LEN = 12


def _header_reply(wire: bytes, rcode: int) -> bytes:
    """A bare reply built from the query header only (ID, opcode, RD echoed; no question)."""
    qid, flags = struct.unpack("!HH", wire[:4])
    opcode = flags & 0x7800
    rd = flags & 0x0100
    out_flags = 0x8000 | opcode | rd | (rcode & 0xF)
    return struct.pack("!HHHHHH", qid, out_flags, 0, 0, 0, 0)


def _rrset(rr: RR) -> dns.rrset.RRset:
    return dns.rrset.from_text(rr.name, rr.ttl, "IN", rr.type, rr.rdata)


def build_response(query: dns.message.Message, answer: Answer) -> dns.message.Message:
    """The reply message for ``query`` carrying ``answer`` (same ID, question, RD)."""
    resp = dns.message.make_response(query, recursion_available=answer.recursion_available)
    resp.set_rcode(dns.rcode.from_text(answer.rcode))
    if answer.authoritative:
        resp.flags |= dns.flags.AA
    for section, rrs in ((resp.answer, answer.answer), (resp.authority, answer.authority),
                         (resp.additional, answer.additional)):
        for rr in rrs:
            rrset = _rrset(rr)
            # Keep one RRset per (name, type) and the order records were produced in.
            for existing in section:
                if existing.rdtype == rrset.rdtype \
                        and existing.name.to_text() == rrset.name.to_text():
                    existing.union_update(rrset)
                    break
            else:
                section.append(rrset)
    return resp


class DNSHandler:
    """Packet in, packet out: the server logic without sockets.

    Parameters
    ----------
    records
        The zone to answer from.
    cache
        Optional cache (CoreDNS ``cache`` plugin) in front of the records.
    clock
        Seconds for the cache (monotonic time by default).
    loadbalance
        Shuffle the records of each RRset on the wire, as the ``loadbalance`` plugin of
        kubeadm's Corefile does; off by default so replies keep CoreDNS's record order.
    """

    def __init__(self, records: ClusterDNS, cache: DNSCache | None = None,
                 clock: Callable[[], float] = time.monotonic, loadbalance: bool = False) -> None:
        self.records = records
        self.loadbalance = loadbalance
        self.cache = cache
        self.clock = clock
        self._lock = threading.Lock()

    def resolve(self, qname: str, qtype: str) -> Answer:
        """The answer for one question, through the cache when there is one."""
        if self.cache is None:
            return self.records.answer(qname, qtype)
        with self._lock:
            now = self.clock()
            hit = self.cache.lookup(qname, qtype, now)
            if hit is not None:
                return hit
            return self.cache.store(qname, qtype, self.records.answer(qname, qtype), now)

    def handle(self, wire: bytes, udp: bool = True) -> bytes | None:
        """The reply to one packet, or None when the packet is to be dropped."""
        if len(wire) < HEADER_LEN:
            return None
        flags = struct.unpack("!H", wire[2:4])[0]
        if flags & 0x8000:
            return None  # a response: never answer those (no reflection loops)
        qdcount, ancount, nscount, arcount = struct.unpack("!HHHH", wire[4:12])
        opcode = (flags >> 11) & 0xF
        if opcode != dns.opcode.QUERY:
            return _header_reply(wire, dns.rcode.NOTIMP)
        if qdcount != 1 or ancount > 1 or nscount > 1 or arcount > 2:
            return _header_reply(wire, dns.rcode.FORMERR)
        try:
            query = dns.message.from_wire(wire, ignore_trailing=False)
        except Exception:  # noqa: BLE001 - any parse failure of hostile input is a FORMERR
            return _header_reply(wire, dns.rcode.FORMERR)
        if query.edns > 0:
            resp = dns.message.make_response(query)
            resp.set_rcode(dns.rcode.BADVERS)
            return resp.to_wire()
        question = query.question[0]
        if question.rdclass != dns.rdataclass.IN:
            resp = dns.message.make_response(query)
            resp.set_rcode(dns.rcode.NOTIMP)
            return resp.to_wire()
        qname = question.name.to_text()
        qtype = dns.rdatatype.to_text(question.rdtype)
        try:
            resp = build_response(query, self.resolve(qname, qtype))
        except (dns.exception.DNSException, ValueError):
            resp = dns.message.make_response(query)
            resp.set_rcode(dns.rcode.SERVFAIL)
        limit = 65535
        if udp:
            limit = max(UDP_MAX_NO_EDNS, query.payload) if query.edns >= 0 else UDP_MAX_NO_EDNS
            if query.edns >= 0:
                resp.use_edns(0, payload=EDNS_PAYLOAD)
        try:
            return resp.to_wire(max_size=limit, want_shuffle=self.loadbalance)
        except dns.exception.TooBig:
            short = dns.message.make_response(query)
            short.set_rcode(resp.rcode())
            short.flags = resp.flags | dns.flags.TC
            return short.to_wire(max_size=limit)


class _UDPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.dns_handler.handle(data, udp=True)  # type: ignore[attr-defined]
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(5.0)
        try:
            while True:
                head = _recv_exact(sock, 2)
                if head is None:
                    return
                (length,) = struct.unpack("!H", head)
                data = _recv_exact(sock, length)
                if data is None:
                    return
                reply = self.server.dns_handler.handle(data, udp=False)  # type: ignore[attr-defined]
                if reply is None:
                    return
                sock.sendall(struct.pack("!H", len(reply)) + reply)
        except (OSError, socket.timeout):
            return


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class _UDPServer(socketserver.UDPServer):
    allow_reuse_address = True
    max_packet_size = 65535


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    # socketserver's default listen backlog (5) drops SYNs under a burst of connections and
    # the client stalls for the 1 s SYN retransmit; Go servers (CoreDNS) use somaxconn.
    request_queue_size = 4096


class DNSServer:
    """UDP and TCP listeners on one port of 127.0.0.1 (or another loopback address).

    ``start()`` runs both in background threads; ``stop()`` shuts them down. ``port=0`` picks a
    free port (the same number for UDP and TCP); ``port`` holds the bound port after start.
    """

    def __init__(self, handler: DNSHandler, host: str = "127.0.0.1", port: int = 5353) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Bind both sockets and serve in daemon threads."""
        for _ in range(20):
            udp = _UDPServer((self.host, self.port), _UDPHandler)
            port = udp.server_address[1]
            try:
                tcp = _TCPServer((self.host, port), _TCPHandler)
            except OSError:
                udp.server_close()
                if self.port:
                    raise
                continue  # the free UDP port was taken for TCP: pick another
            break
        else:
            raise OSError("no port free for both UDP and TCP")
        self.port = port
        for srv in (udp, tcp):
            srv.dns_handler = self.handler  # type: ignore[attr-defined]
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                                 daemon=True)
            t.start()
            self._servers.append(srv)
            self._threads.append(t)

    def stop(self) -> None:
        """Stop serving and close the sockets."""
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> "DNSServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
