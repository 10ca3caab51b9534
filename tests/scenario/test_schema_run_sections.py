"""The run sections are typed in the JSON Schema editors use (issue 14)."""

from __future__ import annotations

from sim.scenario.sections import EVENT_FIELDS, EXPECT_FIELDS
from sim.scenario.spec import schema


def test_every_expectation_parameter_is_in_the_schema():
    """Each parameter of each expectation type is a described property of `expectation`."""
    props = schema()["$defs"]["expectation"]["properties"]
    assert set(schema()["$defs"]["expectation"]["properties"]["type"]["enum"]) == set(EXPECT_FIELDS)
    for fields in EXPECT_FIELDS.values():
        for f in fields:
            assert props[f]["description"], f


def test_every_event_field_is_in_the_schema():
    """Each action and each of its fields is in the `event` definition."""
    ev = schema()["$defs"]["event"]["properties"]
    assert set(ev["action"]["enum"]) == set(EVENT_FIELDS)
    for fields in EVENT_FIELDS.values():
        for f in fields:
            assert ev[f]["description"], f


def test_at_least_states_its_unit_for_each_type():
    """atLeast says it is a fraction for the share types and a count for failures."""
    text = schema()["$defs"]["expectation"]["properties"]["atLeast"]["description"]
    assert "FRACTION" in text and "COUNT" in text


def test_spec_sections_refer_to_the_typed_definitions():
    """spec.network/traffic/events/expect are no longer bare objects."""
    spec = schema()["properties"]["spec"]["properties"]
    assert spec["network"] == {"$ref": "#/$defs/network"}
    assert spec["traffic"] == {"$ref": "#/$defs/traffic"}
    assert spec["events"]["items"] == {"$ref": "#/$defs/event"}
    assert spec["expect"]["items"] == {"$ref": "#/$defs/expectation"}


def test_flow_fields_match_the_checker():
    """The flow definition has exactly the fields sim.scenario.sections accepts."""
    flow = schema()["$defs"]["flow"]["properties"]
    assert set(flow) == {"name", "from", "to", "protocol", "rate", "arrival", "start", "stop",
                         "count", "timeoutSeconds"}
