"""``kube-netsim validate``: every error with file, line and field path; exit codes."""

from __future__ import annotations

from pathlib import Path

from sim.cli import main
from sim.model.config import PROXY_MODES

ROOT = Path(__file__).resolve().parents[2] / "scenarios"


def _errors(capsys) -> str:
    """The ``error:`` lines validate printed on stderr, without the prefix."""
    err = capsys.readouterr().err
    return "".join(line[len("error: "):] + "\n" for line in err.splitlines()
                   if line.startswith("error: "))


def test_valid_scenarios_exit_0(capsys):
    """All seed scenarios validate: exit 0, one 'valid' line each."""
    seeds = sorted(str(p) for p in (ROOT / "seed").glob("*.yaml"))
    assert main(["validate", *seeds]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(seeds) and all(": valid (" in line for line in out)


def test_invalid_scenario_prints_error_with_file_line_and_path(capsys):
    """A refused object prints file:line, the object and the apiserver message; exit 1."""
    path = ROOT / "invalid" / "duplicate-nodeport.yaml"
    assert main(["validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"error: {path}:33: Service default/second: spec.ports[0].nodePort: Invalid value: "
        "30036: provided port is already allocated", f"{path}: 1 error"]


def test_every_error_is_printed(capsys):
    """All errors of a scenario are printed, not only the first."""
    path = ROOT / "invalid" / "endpoints-link-local.yaml"
    assert main(["validate", str(path)]) == 1
    assert len(_errors(capsys).splitlines()) == 3


def test_warning_goes_to_stderr(capsys):
    """A skipped unknown kind is a warning on stderr."""
    main(["validate", str(ROOT / "invalid" / "unknown-field.yaml")])
    assert 'warning: ' in capsys.readouterr().err


def test_malformed_yaml_is_reported_without_traceback(tmp_path, capsys):
    """Malformed YAML: one line with file:line:column, exit 1."""
    p = tmp_path / "bad.yaml"
    p.write_text("apiVersion: kube-netsim/v1\nkind: [Scenario\n")
    assert main(["validate", str(p)]) == 1
    out = _errors(capsys)
    assert out.startswith(f"{p}:3:1: malformed YAML") and "Traceback" not in out


def test_missing_file_exit_1(tmp_path, capsys):
    """A missing scenario file is an error line and exit 1."""
    assert main(["validate", str(tmp_path / "none.yaml")]) == 1
    assert "none.yaml: no such file" in _errors(capsys)


def test_schema_errors_printed_with_lines(tmp_path, capsys):
    """Scenario-format errors are printed one per line with their line numbers, in file order,
    in the apiserver's words."""
    p = tmp_path / "s.yaml"
    p.write_text("apiVersion: kube-netsim/v1\nkind: Scenario\nmetadata: {name: s}\nspec:\n  seed: -1\n  foo: 1\n")
    assert main(["validate", str(p)]) == 1
    out = _errors(capsys).splitlines()
    assert out == [f"{p}:5: spec.seed: Invalid value: -1: must be greater than or equal to 0",
                   f'{p}:6: spec.foo: Unknown field: strict decoding error: unknown field "spec.foo"']


def test_mixed_valid_and_invalid_exit_1(capsys):
    """One bad scenario among good ones makes the exit code 1."""
    assert main(["validate", str(ROOT / "seed" / "headless.yaml"), str(ROOT / "invalid" / "nodeport-80.yaml")]) == 1


def _scenario(tmp_path, spec: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text("apiVersion: kube-netsim/v1\nkind: Scenario\nmetadata: {name: s}\nspec:\n" + spec)
    return p


def test_duplicate_key_in_manifest_file_refused_with_its_line(tmp_path, capsys):
    """A key repeated inside a manifest file is refused (strict decoding) with that file's
    line and the field path, not silently resolved to the last value."""
    (tmp_path / "m.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
                                     "  name: b\nspec:\n  ports: [{port: 80}]\n")
    p = _scenario(tmp_path, "  manifests: [m.yaml]\n")
    assert main(["validate", str(p)]) == 1
    assert _errors(capsys) == (
        f'{tmp_path / "m.yaml"}:5: metadata.name: Duplicate value: "name": strict decoding error: '
        'yaml: key "name" already set in map (first set at line 4)\n')


def test_schema_errors_do_not_hide_apiserver_errors(capsys):
    """An unknown scenario field and a refused nodePort in one file: both are printed."""
    path = ROOT / "invalid" / "schema-and-apiserver.yaml"
    assert main(["validate", str(path)]) == 1
    out = _errors(capsys).splitlines()
    assert [line.split(": ", 2)[1] for line in out] == ["spec.bogusField", "Service default/my-nodeport-service"]


def test_unsupported_kube_proxy_mode_is_an_error(tmp_path, capsys):
    """``mode: kernelspace`` (Windows' mode, which the simulator has no model of) is refused by
    validate with its line and the modes a scenario may name."""
    p = _scenario(tmp_path, "  kubeProxy:\n    mode: kernelspace\n")
    assert main(["validate", str(p)]) == 1
    assert _errors(capsys) == (
        f'{p}:6: spec.kubeProxy.mode: Unsupported value: "kernelspace": supported values: '
        + ", ".join(f'"{m}"' for m in PROXY_MODES) + "\n")


def test_unsupported_detect_local_mode_is_an_error(tmp_path, capsys):
    """``detectLocalMode: BridgeInterface`` (refused when compiling rules) is refused by validate."""
    p = _scenario(tmp_path, "  kubeProxy:\n    detectLocalMode: BridgeInterface\n")
    assert main(["validate", str(p)]) == 1
    assert _errors(capsys) == (
        f'{p}:6: spec.kubeProxy.detectLocalMode: Unsupported value: "BridgeInterface": '
        'supported values: "ClusterCIDR", "NodeCIDR"\n')


def test_load_balancer_pool_exhaustion_is_a_warning(tmp_path, capsys):
    """More LoadBalancer Services than pool addresses: valid (exit 0), and a warning names the
    Service left pending."""
    svc = ("  - {apiVersion: v1, kind: Service, metadata: {name: %s}, "
           "spec: {type: LoadBalancer, ports: [{port: 80}]}}\n")
    p = _scenario(tmp_path, "  cluster: {loadBalancerPool: [203.0.113.7/32]}\n  objects:\n"
                  + svc % "first" + svc % "second")
    assert main(["validate", str(p)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{p}: valid (2 objects)\n"
    assert captured.err == ("warning: Service default/second: the simulated load-balancer pool is "
                            "exhausted (203.0.113.7/32, spec.cluster.loadBalancerPool): no ingress "
                            "address, EXTERNAL-IP <pending>\n")


def test_wrong_api_version_is_an_unsupported_value(tmp_path, capsys):
    """A wrong apiVersion reads as the apiserver's NotSupported error."""
    p = tmp_path / "s.yaml"
    p.write_text("apiVersion: kube-netsim/v2\nkind: Scenario\nmetadata: {name: s}\nspec: {}\n")
    assert main(["validate", str(p)]) == 1
    assert _errors(capsys) == \
        f'{p}:1: apiVersion: Unsupported value: "kube-netsim/v2": supported values: "kube-netsim/v1"\n'


def test_wrong_type_in_apiserver_words(tmp_path, capsys):
    """A value of the wrong type: ``Invalid value: 5: must be an array``, no jsonschema text."""
    p = _scenario(tmp_path, "  objects: 5\n")
    assert main(["validate", str(p)]) == 1
    assert _errors(capsys) == f"{p}:5: spec.objects: Invalid value: 5: must be an array\n"


def test_bad_duration_in_apiserver_words(tmp_path, capsys):
    """A bad duration names the expected form with examples, not the schema's regex."""
    p = _scenario(tmp_path, "  kubeProxy:\n    iptables: {minSyncPeriod: 5x}\n")
    assert main(["validate", str(p)]) == 1
    assert _errors(capsys) == (
        f'{p}:6: spec.kubeProxy.iptables.minSyncPeriod: Invalid value: "5x": must be a duration '
        'such as "1s", "500ms", "2m"\n')


def test_bad_dns_section_is_reported_with_its_line(tmp_path, capsys):
    """validate checks spec.dns as `dns` does: a bad nodeResolvConf nameserver is an error
    with its line and field path."""
    p = _scenario(tmp_path, "  dns:\n    nodeResolvConf:\n      nameservers: [bogus]\n")
    assert main(["validate", str(p)]) == 1
    assert _errors(capsys) == (
        f'{p}:7: spec.dns.nodeResolvConf.nameservers[0]: Invalid value: "bogus": must be an IP address\n')


def test_run_section_errors_are_reported(tmp_path, capsys):
    """validate refuses what ``run`` would: an expectation naming no flow is an error with
    its line and field path."""
    p = _scenario(tmp_path, "  expect:\n  - {type: reachable, flow: ghost}\n")
    assert main(["validate", str(p)]) == 1
    out = _errors(capsys)
    assert out.startswith(f"{p}:6: spec.expect[0].flow: Not found:")
    assert "ghost" in out


def test_flow_to_a_missing_service_is_reported(tmp_path, capsys):
    """validate runs run's own pre-flight check (check_runnable): a flow to a Service that
    never exists is an error with its line."""
    p = _scenario(tmp_path, "  traffic:\n    durationSeconds: 1\n    flows:\n"
                  "    - {name: f, from: {external: client}, to: {service: default/nope, port: 80}}\n")
    assert main(["validate", str(p)]) == 1
    out = _errors(capsys)
    assert out.startswith(f'{p}:8: spec.traffic.flows[0].to.service: Not found: "default/nope"')


def test_duplicate_key_does_not_hide_apiserver_errors(tmp_path, capsys):
    """A repeated key in the scenario file and a refused nodePort: both are printed."""
    p = _scenario(tmp_path, "  seed: 1\n  seed: 2\n  objects:\n"
                  "  - {apiVersion: v1, kind: Service, metadata: {name: s},"
                  " spec: {type: NodePort, ports: [{port: 80, nodePort: 80}]}}\n")
    assert main(["validate", str(p)]) == 1
    out = _errors(capsys).splitlines()
    assert [line.split(": ")[1] for line in out] == ["spec.seed", "Service default/s"]
    assert 'key "seed" already set in map' in out[0]


def test_validate_prints_progress_on_large_inputs(tmp_path, capsys, monkeypatch):
    """Progress lines go to stderr while objects are applied (forced here with a clock that
    jumps a second per call)."""
    import itertools

    import sim.commands.validate as validate

    ticks = itertools.count(0.0, 1.0)
    monkeypatch.setattr(validate.time, "perf_counter", lambda: next(ticks))
    objs = "".join(f"---\n{{apiVersion: v1, kind: Service, metadata: {{name: s{i}}}, "
                   f"spec: {{ports: [{{port: 80}}]}}}}\n" for i in range(2500))
    (tmp_path / "services.yaml").write_text(objs)
    p = tmp_path / "big.yaml"
    p.write_text("apiVersion: kube-netsim/v1\nkind: Scenario\nmetadata: {name: big}\nspec:\n"
                 "  manifests: [services.yaml]\n")
    assert main(["validate", str(p)]) == 0
    err = capsys.readouterr().err
    assert "services.yaml: 2,500 documents" in err
    assert "applied 1,000/2,500 objects" in err and "applied 2,000/2,500 objects" in err
