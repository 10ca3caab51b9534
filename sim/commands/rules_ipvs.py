"""``kube-netsim rules`` in IPVS mode (``spec.kubeProxy.mode: ipvs`` or ``--mode ipvs``).

``--format restore`` (default) prints the iptables-restore payload the IPVS proxier writes;
``save`` what ``iptables-save`` shows after its bootstrap jumps and that payload; ``ipset``
what ``ipset save`` prints; ``ipvsadm`` what ``ipvsadm-save -n`` prints. ``--stats`` counts
rules, sets, members, bound addresses, virtual and real servers.
"""

from __future__ import annotations

from sim.iptables import apply_payload, render_save
from sim.ipset import render_save as render_ipset_save
from sim.ipvs import render_save as render_ipvsadm_save
from sim.kubeproxy.ipvs import DUMMY_DEVICE, IPVSRules, bootstrap_payload, ipvs_stats
from sim.model.errors import SimError

FORMATS = ("restore", "save", "ipset", "ipvsadm")


def render(rules: IPVSRules, fmt: str) -> str:
    """The text of ``rules`` in ``fmt``."""
    if fmt == "restore":
        return rules.payload.render()
    if fmt == "save":
        node = apply_payload(bootstrap_payload(), noflush=True)
        return render_save(apply_payload(rules.payload, node, noflush=True))
    if fmt == "ipset":
        return render_ipset_save(rules.ipsets)
    if fmt == "ipvsadm":
        return render_ipvsadm_save(rules.ipvs)
    raise SimError(f'--format: Unsupported value: "{fmt}": IPVS mode prints '
                   + ", ".join(f'"{f}"' for f in FORMATS))


def format_stats(rules: IPVSRules) -> str:
    """The ``--stats`` report."""
    s = ipvs_stats(rules)
    lines = ["iptables rules: " + ", ".join(f"{t} {n}" for t, n in s.rules),
             f"ipsets: {s.sets}, members {sum(n for _, n in s.members)}"]
    lines += [f"  {name:<32} {n:>7}" for name, n in s.members]
    lines.append(f"{DUMMY_DEVICE} addresses: {s.bound_addresses}")
    lines.append(f"IPVS virtual servers: {s.virtual_servers}, real servers: {s.real_servers}")
    return "\n".join(lines) + "\n"
