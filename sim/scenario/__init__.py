"""sim.scenario (see ARCHITECTURE.md)."""
