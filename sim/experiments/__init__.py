"""Scaling sweeps: a grid of cluster sizes, proxy modes and kube-proxy settings, measured.

Model
    A sweep file (:mod:`sim.experiments.sweepfile`, ``kind: Sweep``) names a base scenario or
    the built-in generated cluster (:mod:`sim.experiments.cluster`) and a grid; each point
    (:mod:`sim.experiments.point`) builds the cluster through the apiserver, compiles and
    loads kube-proxy's rules into a simulated world, measures rule counts, walk lengths,
    compile and load times, modelled sync times, engine throughput, programming latency
    under endpoint churn and peak memory. Per-mode measurements come from
    :mod:`sim.experiments.modemetrics`. :mod:`sim.experiments.runner` runs the points on
    local processes or a Dask cluster, resumably, into ``results/<sweep>/<sweep_id>/``.
Scope and limitations
    iptables, nftables and IPVS have per-mode sweep metrics; other built modes are sized from
    what their world backend installs, and a mode without a world backend gets its
    compiler's measurements only (no walks, throughput, sync or programming latency).
    Restore times are the kernel calibration's model, not measured per point; the walk and
    throughput figures are for one node (the first) and each Service's first port.
Validation
    ``tests/experiments``: schema errors with file:line:field, the rule law
    5 + S(2 + 3E) at every point, a sweep killed with SIGKILL and rerun equals an
    uninterrupted one, local processes and a Dask LocalCluster give equal tables, a failing
    point is recorded; ``tests/commands/test_regress.py``: the committed baseline reruns
    identically and a doubled or quadratic rule count fails.
"""
