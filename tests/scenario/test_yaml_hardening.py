"""The shared YAML reader: alias cap (CVE-2019-11253), merge keys, numbers as go-yaml reads
them, non-finite numbers refused."""

from __future__ import annotations

import pytest
import yaml

from sim.model.errors import SimError, ValidationError
from sim.scenario.spec import read_documents


def _load(tmp_path, text: str):
    p = tmp_path / "f.yaml"
    p.write_text(text)
    return [d for d, _ in read_documents(p)]


def test_merge_keys_load_as_safe_load_loads_them(tmp_path):
    """<<: a mapping or a list of mappings (earlier wins); the mapping's own keys win."""
    text = ("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\n"
            "c:\n  <<: [*a, *b]\n  z: 3\nd:\n  <<: *b\n  w: 4\n")
    assert _load(tmp_path, text) == [yaml.safe_load(text)]


def test_go_yaml_floats_are_numbers(tmp_path):
    """1e3, 1.5e3, -2E-1 are numbers (go-yaml and JSON read them so); integral ones ints."""
    (data,) = _load(tmp_path, "a: 1e3\nb: 1.5e3\nc: -2E-1\nd: '1e3'\ne: 443.0\n")
    assert data == {"a": 1000, "b": 1500.0, "c": -0.2, "d": "1e3", "e": 443}
    assert type(data["a"]) is int and type(data["e"]) is int


@pytest.mark.parametrize("value", [".inf", "-.Inf", ".nan", "1e999"])
def test_non_finite_numbers_are_field_errors(tmp_path, value):
    """NaN and infinity are refused with the field path and line."""
    with pytest.raises(ValidationError) as info:
        _load(tmp_path, f"spec:\n  x:\n  - {value}\n")
    (err,) = info.value.errors
    assert (err.field, err.line) == ("spec.x[0]", 3) and "must be a finite number" in str(err)


def test_moderate_anchor_reuse_is_accepted(tmp_path):
    """200 objects sharing one anchored template (ordinary DRY YAML) load."""
    items = "".join(f"- {{<<: *t, name: n{i}}}\n" for i in range(200))
    (data,) = _load(tmp_path, "t: &t {kind: Pod, spec: {containers: [{name: c, image: x}]}}\n"
                              "items:\n" + items)
    assert len(data["items"]) == 200 and data["items"][5]["name"] == "n5"


def test_alias_expansion_over_the_cap_is_refused(tmp_path):
    """Four levels of ten aliases (10,000 leaves from 44 nodes): over go-yaml's 99 %."""
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abc", "bcd"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    with pytest.raises(SimError, match="excessive aliasing.*CVE-2019-11253"):
        _load(tmp_path, "\n".join(lines) + "\n")


def test_recursive_alias_is_refused(tmp_path):
    """An anchor whose value contains an alias to itself is refused."""
    with pytest.raises(SimError, match="recursive alias"):
        _load(tmp_path, "a: &a [1, *a]\n")
