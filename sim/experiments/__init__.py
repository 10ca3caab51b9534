"""sim.experiments (see ARCHITECTURE.md)."""
