"""sim.netfilter (see ARCHITECTURE.md)."""
