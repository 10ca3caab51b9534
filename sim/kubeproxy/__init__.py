"""sim.kubeproxy (see ARCHITECTURE.md)."""
