"""Results -> tables and plots (the only package that imports matplotlib; never the world).

Model
    Reads what ``kube-netsim run`` wrote (``results/<scenario>/<run_id>/``: manifest,
    long-format metrics, connections) with the standard library (:mod:`sim.analysis.results`)
    and draws the usual pictures of a run (:mod:`sim.analysis.plots`): connection outcomes
    over time, the distribution of network programming latency.
Scope and limitations
    One run at a time; no sweeps yet (``sim.experiments`` is empty).
Validation
    ``tests/analysis`` runs a shipped scenario, writes its results, reads them back and
    checks the derived series against the run's own records; the notebooks in
    ``notebooks/`` are executed cell by cell on that small run.
"""
