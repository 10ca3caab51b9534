"""canonicalise: one form for restore input and iptables-save output of the same rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.iptables import RestoreError, canonicalise

HERE = Path(__file__).parent


def test_restore_input_and_kernel_save_output_have_one_canonical_form() -> None:
    """kube-proxy's restore spelling and the kernel's saved text canonicalise identically."""
    written = (HERE / "corpus" / "kube-proxy-mini.rules").read_text()
    saved = (HERE / "fixtures" / "kube-proxy-mini.save-c").read_text()
    assert canonicalise(written) == canonicalise(saved)


def test_rule_order_matters_unless_sorting_is_asked_for() -> None:
    """Swapping two rules changes the canonical form; ``sort_rules=True`` ignores it."""
    a = "*nat\n:X - [0:0]\n-A X -d 10.0.0.1 -j RETURN\n-A X -d 10.0.0.2 -j RETURN\nCOMMIT\n"
    b = "*nat\n:X - [0:0]\n-A X -d 10.0.0.2 -j RETURN\n-A X -d 10.0.0.1 -j RETURN\nCOMMIT\n"
    assert canonicalise(a) != canonicalise(b)
    assert canonicalise(a, sort_rules=True) == canonicalise(b, sort_rules=True)


def test_chain_declaration_order_does_not_matter() -> None:
    """Chains are listed as iptables-save lists them (sorted), whatever order declared them."""
    a = "*filter\n:B - [0:0]\n:A - [0:0]\nCOMMIT\n"
    b = "*filter\n:A - [0:0]\n:B - [0:0]\nCOMMIT\n"
    assert canonicalise(a) == canonicalise(b)


def test_invalid_text_is_an_error_naming_the_line() -> None:
    """canonicalise validates like iptables-restore."""
    with pytest.raises(RestoreError, match="x.rules:2: "):
        canonicalise("*filter\n-A NOPE -j ACCEPT\nCOMMIT\n", source="x.rules")
