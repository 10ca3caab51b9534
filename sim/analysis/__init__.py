"""sim.analysis (see ARCHITECTURE.md)."""
