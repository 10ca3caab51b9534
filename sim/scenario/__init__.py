"""Scenarios: load, check, build the world, run with a seed, evaluate expectations, report.

Model
    ``spec.py`` (loader and schema) turns a scenario file into objects and plain run
    sections; :mod:`sim.scenario.sections` checks ``spec.network``, ``spec.traffic``,
    ``spec.events`` and ``spec.expect`` into world parameters, flows, events and
    expectations; :func:`sim.scenario.runner.run` builds the world, runs it and evaluates
    the expectations (:mod:`sim.scenario.expect`, statistics in :mod:`sim.scenario.stats`);
    :mod:`sim.scenario.results` writes ``results/<scenario>/<run_id>/`` and
    :mod:`sim.scenario.report` the text report.
Scope and limitations
    Expectations judge recorded outcomes only (which pod answered, refused, timed out, the
    source the server saw, programming latency); they do not inspect rules.
Validation
    ``tests/scenario``: every field error names file and path; expectations on hand-built
    records; chi-square against scipy; the shipped world scenarios pass; reruns are
    byte-identical.
"""
