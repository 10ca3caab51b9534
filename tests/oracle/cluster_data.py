"""A two-node kernel cluster and hand-written kube-proxy-style rules for the harness tests.

The rules below are written by hand in the shape the iptables proxier writes
(pkg/proxy/iptables/proxier.go) so the harness is tested independently of our compiler:

- ``10.96.0.10:80/tcp`` -> web-1 (node-a) or web-2 (node-b), p=0.5; NodePort 30080
- ``10.96.0.11:53/udp`` -> web-1:53
- ``10.96.0.12:80`` has no endpoints -> REJECT in filter KUBE-SERVICES
- ``10.96.0.13:80`` -> web-1 only (hairpin when web-1 calls it)
- ``10.96.0.14:80`` -> DROP in filter (what "has no local endpoints" does)
"""

from __future__ import annotations

from sim.oracle import ClientSpec, ClusterSpec, NodeSpec, PodSpec

SPEC = ClusterSpec(
    nodes=(NodeSpec("node-a", "192.168.0.2", "10.244.1.0/24"),
           NodeSpec("node-b", "192.168.0.3", "10.244.2.0/24")),
    pods=(PodSpec("web-1", "node-a", "10.244.1.2", (("tcp", 8080), ("udp", 53))),
          PodSpec("web-2", "node-b", "10.244.2.2", (("tcp", 8080), ("udp", 53)))),
    clients=(ClientSpec("ext", ("203.0.113.7", "203.0.113.8"), "node-a"),),
)

RULES = """\
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -m comment --comment "ns1/none:p80 has no endpoints" -m tcp -p tcp -d 10.96.0.12 --dport 80 -j REJECT --reject-with icmp-port-unreachable
-A KUBE-SERVICES -m comment --comment "ns1/drop:p80 has no local endpoints" -m tcp -p tcp -d 10.96.0.14 --dport 80 -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-EXT-WEB - [0:0]
:KUBE-SEP-WEB1 - [0:0]
:KUBE-SEP-WEB2 - [0:0]
:KUBE-SVC-DNS - [0:0]
:KUBE-SEP-DNS1 - [0:0]
:KUBE-SVC-SELF - [0:0]
:KUBE-SEP-SELF1 - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "ns1/web:p80 cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j KUBE-SVC-WEB
-A KUBE-SERVICES -m comment --comment "ns1/dns:dns cluster IP" -m udp -p udp -d 10.96.0.11 --dport 53 -j KUBE-SVC-DNS
-A KUBE-SERVICES -m comment --comment "ns1/self:p80 cluster IP" -m tcp -p tcp -d 10.96.0.13 --dport 80 -j KUBE-SVC-SELF
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -m comment --comment ns1/web:p80 -m tcp -p tcp --dport 30080 -j KUBE-EXT-WEB
-A KUBE-EXT-WEB -m comment --comment "masquerade traffic for ns1/web:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-WEB -j KUBE-SVC-WEB
-A KUBE-SVC-WEB -m comment --comment "ns1/web:p80 cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-WEB -m comment --comment "ns1/web:p80 -> 10.244.1.2:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-WEB1
-A KUBE-SVC-WEB -m comment --comment "ns1/web:p80 -> 10.244.2.2:8080" -j KUBE-SEP-WEB2
-A KUBE-SEP-WEB1 -m comment --comment ns1/web:p80 -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-WEB1 -m comment --comment ns1/web:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SEP-WEB2 -m comment --comment ns1/web:p80 -s 10.244.2.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-WEB2 -m comment --comment ns1/web:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.2.2:8080
-A KUBE-SVC-DNS -m comment --comment "ns1/dns:dns cluster IP" -m udp -p udp -d 10.96.0.11 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-DNS -m comment --comment "ns1/dns:dns -> 10.244.1.2:53" -j KUBE-SEP-DNS1
-A KUBE-SEP-DNS1 -m comment --comment ns1/dns:dns -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-DNS1 -m comment --comment ns1/dns:dns -m udp -p udp -j DNAT --to-destination 10.244.1.2:53
-A KUBE-SVC-SELF -m comment --comment "ns1/self:p80 cluster IP" -m tcp -p tcp -d 10.96.0.13 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-SELF -m comment --comment "ns1/self:p80 -> 10.244.1.2:8080" -j KUBE-SEP-SELF1
-A KUBE-SEP-SELF1 -m comment --comment ns1/self:p80 -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-SELF1 -m comment --comment ns1/self:p80 -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080
COMMIT
"""
