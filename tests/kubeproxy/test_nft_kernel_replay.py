"""Replay of the nftables kernel capture (``tests/fixtures/kernel/nft_capture.json``) without root.

The capture holds, per case, the transaction we sent and what ``nft list ruleset`` printed
after it on a real kernel (recorded by ``test_nft_kernel.test_capture_for_replay``). Here the
compiler must still produce the same transaction, and the captured listing must hold exactly
our predicted table's chains (with their rule counts), sets and maps (with their element
counts), read with a small parser of the listing's block structure.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sim.commands.options import with_mode
from sim.kubeproxy.nftables import compile_nft
from sim.scenario.spec import load_scenario
from tests.kubeproxy import fixtures as fx
from tests.kubeproxy import nft_fake
from tests.kubeproxy.nft_fixtures import overall_state
from tests.kubeproxy.test_goldens import SCENARIOS

CAPTURE = Path(__file__).resolve().parent.parent / "fixtures" / "kernel" / "nft_capture.json"
CASES = json.loads(CAPTURE.read_text())


def _compile(name: str):
    if name == "upstream-overall":
        return compile_nft(overall_state(), fx.TEST_NODE)
    state = with_mode(load_scenario(SCENARIOS / name), "nftables").state()
    return compile_nft(state, state.nodes[0].name)


def listing_shape(text: str) -> tuple[dict[str, int], dict[str, int]]:
    """(rules per chain, elements per set/map) of an ``nft list ruleset`` listing."""
    chains: dict[str, int] = {}
    sets: dict[str, int] = {}
    current, kind, in_elements = None, None, False
    for raw in text.splitlines():
        line = raw.strip()
        m = re.match(r"(chain|set|map) (\S+) \{$", line)
        if m:
            kind, current = m.group(1), m.group(2)
            (chains if kind == "chain" else sets)[current] = 0
            continue
        if line == "}":
            current, in_elements = None, False
            continue
        if current is None or not line:
            continue
        if kind == "chain":
            if not line.startswith(("type ", "comment ")):
                chains[current] += 1
        else:
            if line.startswith("elements = {"):
                in_elements = True
                line = line[len("elements = {"):]
            if in_elements:
                sets[current] += line.count(",") + (1 if line.endswith("}") else 0)
                in_elements = not line.endswith("}")
    return chains, sets


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiler_still_sends_the_captured_transaction(name):
    """The transaction recorded against the kernel is what the compiler sends today."""
    assert _compile(name).render() == CASES[name]["transaction"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_captured_kernel_table_has_the_predicted_shape(name):
    """The kernel's listing holds our predicted chains with the same number of rules, and our
    sets and maps with the same number of elements (a comment-free count: element comments in
    this capture hold no commas)."""
    table = nft_fake.apply(_compile(name))
    chains, sets = listing_shape(CASES[name]["nft_list_ruleset"])
    assert chains == {c: len(r) for c, r in table.rules.items()}
    assert sets == {s: len(e) for s, e in table.elements.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_parsed_transaction_lists_as_the_kernel_listed_it(name):
    """Our transaction, applied by the nftables parser (``sim.nftables.apply_nft``) and rendered
    as ``nft list ruleset``, equals the captured kernel listing after ``canonicalise``."""
    import sim.nftables as nft

    listed = nft.apply_nft(_compile(name)).render()
    assert nft.canonicalise(listed) == nft.canonicalise(CASES[name]["nft_list_ruleset"])
