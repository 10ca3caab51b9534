"""``kube-netsim trace --mode userspace``: the portal rules, then the 1.0 proxy's choice.

The rules are those :mod:`sim.commands.rules_userspace` prints (proxy ports from the run
seed). A packet the rules send to a proxy port reaches that service port's socket on the
node; :func:`proxy_choice` then says what ``LoadBalancerRR`` does with the connection, in the
state a run with that seed starts from: the endpoint list as shuffled at kube-proxy's start,
the cursor at 0, no affinity entries yet. Round robin: the endpoint the cursor gives next
and the whole cycle. ClientIP affinity: the endpoint the client's first connection takes and
keeps for ``stickyMaxAge``.
"""

from __future__ import annotations

from sim.iptables import apply_payload
from sim.kubeproxy.userspace import compile_rules, proxy_services, service_endpoints
from sim.world.rng import component_rng
from sim.world.userspace import LoadBalancerRR, proxy_ports_for


def userspace_ruleset(state, node: str, seed: int):
    """The node's nat table with the portal rules a run with ``seed`` starts from."""
    return apply_payload(compile_rules(state, node, proxy_ports_for(state, node, state.kube_proxy,
                                                                     seed)), noflush=True)


def proxy_choice(state, node: str, seed: int, outcomes, client_ip: str) -> list[dict]:
    """For each outcome delivered to a proxy port of ``node``: the socket's service port and
    the load balancer's choice (see the module docstring)."""
    ports = proxy_ports_for(state, node, state.kube_proxy, seed)
    by_port = {(key[1], port): key for key, port in ports.items()}
    services = {s.key: s for s in proxy_services(state)}
    lb = LoadBalancerRR(component_rng(seed, f"userspace-lb/{node}"))
    lb.on_update(services, service_endpoints(state, node))
    out = []
    for o in outcomes:
        key = by_port.get((o.packet.proto, o.packet.dport)) if o.local else None
        if key is None:
            continue
        svc = services[key]
        cycle = list(lb.endpoints.get(key, ()))
        entry = {"socket": f"{o.packet.proto}/{o.packet.dport}", "service": svc.name,
                 "affinity": svc.affinity, "cycle": cycle, "cursor": lb.index.get(key, 0)}
        if not cycle:
            entry["choice"] = None
            entry["note"] = ("no endpoints: TCP is accepted and reset at once; UDP datagrams "
                             "are dropped")
        else:
            entry["choice"] = cycle[entry["cursor"]]
            if svc.affinity == "ClientIP":
                entry["note"] = (f"client {client_ip} is pinned to {entry['choice']} for "
                                 f"{svc.sticky_max_age_s:g} s after each use")
            else:
                entry["note"] = "round robin: each new connection takes the next of the cycle"
        out.append(entry)
    return out


def render_proxy(choices: list[dict]) -> str:
    """The text lines of :func:`proxy_choice` for the human-readable trace."""
    lines = []
    for c in choices:
        lines.append(f"proxy: socket {c['socket']} serves {c['service']} "
                     f"(sessionAffinity {c['affinity']})")
        if c["choice"] is None:
            lines.append(f"  {c['note']}")
            continue
        lines.append(f"  next: {c['choice']} (cursor {c['cursor']} of "
                     f"{' -> '.join(c['cycle'])})")
        lines.append(f"  {c['note']}")
    return "\n".join(lines) + ("\n" if lines else "")
