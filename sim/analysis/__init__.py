"""Results -> tables and plots (the only package that imports matplotlib; never the world).

Model
    Reads what ``kube-netsim run`` wrote (``results/<scenario>/<run_id>/``: manifest,
    long-format metrics, connections) with the standard library (:mod:`sim.analysis.results`)
    and draws the usual pictures of a run (:mod:`sim.analysis.plots`): connection outcomes
    over time, the distribution of network programming latency. A sweep's table
    (:mod:`sim.analysis.sweeps`: pandas DataFrames, scaling curves, fitted growth laws,
    the baseline comparison of ``kube-netsim regress``) and its standard figures
    (:mod:`sim.analysis.scaling`).
Scope and limitations
    Growth laws are power laws fitted on log-log axes over the upper half of a curve's
    points (the slope's class is what regress guards); below that, fixed costs dominate.
Validation
    ``tests/analysis`` runs a shipped scenario, writes its results, reads them back and
    checks the derived series against the run's own records; the notebooks in
    ``notebooks/`` are executed cell by cell on that small run (``02-scaling`` in a real
    Jupyter kernel on a small sweep, ``tests/analysis/test_sweeps.py``).
"""
