"""``render_save(apply_payload(parse_restore(text)))`` is what a real ``iptables-save`` prints.

Each ``corpus/*.rules`` file is restored into a fresh network namespace; the kernel's
``iptables-save`` output (``#`` lines stripped) is the expected text. The captured outputs are
kept in ``fixtures/<name>.save`` so the replay tests run without root. Refresh them with
``KNS_CAPTURE=1 pytest -m kernel tests/iptables`` (as root) and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sim.iptables import apply_payload, canonicalise, parse_restore, render_save, strip_save_noise

HERE = Path(__file__).parent
CORPUS = sorted((HERE / "corpus").glob("*.rules"))
FIXTURES = HERE / "fixtures"
CAPTURE = os.environ.get("KNS_CAPTURE") == "1"


def _ours(path: Path, counters: bool = False) -> str:
    payload = parse_restore(path.read_text(), str(path))
    return render_save(apply_payload(payload, counters=counters), counters=counters)


@pytest.mark.kernel
@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_render_save_equals_real_iptables_save(path: Path, netns) -> None:
    """Restoring a corpus file into a real namespace and saving it gives our rendering."""
    res = netns.restore(path.read_text())
    assert res.returncode == 0, res.stderr
    kernel = strip_save_noise(netns.save())
    if CAPTURE:
        (FIXTURES / f"{path.stem}.save").write_text(kernel)
    assert _ours(path) == kernel


@pytest.mark.kernel
@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_render_save_with_counters_equals_real_iptables_save_c(path: Path, netns) -> None:
    """``iptables-restore -c`` then ``iptables-save -c``: rule and chain counters survive."""
    res = netns.restore(path.read_text(), "-c")
    assert res.returncode == 0, res.stderr
    kernel = strip_save_noise(netns.save("-c"))
    if CAPTURE:
        (FIXTURES / f"{path.stem}.save-c").write_text(kernel)
    assert _ours(path, counters=True) == kernel


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_render_save_matches_captured_kernel_output(path: Path) -> None:
    """Replay: our rendering equals the kernel output captured in fixtures/."""
    assert _ours(path) == (FIXTURES / f"{path.stem}.save").read_text()


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_render_save_counters_match_captured_kernel_output(path: Path) -> None:
    """Replay with counters: our ``-c`` rendering equals the captured ``iptables-save -c``."""
    assert _ours(path, counters=True) == (FIXTURES / f"{path.stem}.save-c").read_text()


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_saved_text_is_a_fixed_point(path: Path) -> None:
    """Restoring what iptables-save printed and saving again changes nothing."""
    saved = (FIXTURES / f"{path.stem}.save").read_text()
    assert render_save(apply_payload(parse_restore(saved))) == saved


LEGACY = [p for p in CORPUS if p.stem != "limit-iprange-connmark-notrack"]  # CT needs nft here


@pytest.mark.kernel
@pytest.mark.parametrize("path", LEGACY, ids=lambda p: p.stem)
def test_canonical_form_is_the_same_for_legacy_and_nft_saves(path: Path, netns) -> None:
    """iptables-legacy-save lists tables in another order and icmp types by name; the
    canonical form of its output equals that of the nft output."""
    res = netns.run("iptables-legacy-restore", stdin=path.read_text())
    assert res.returncode == 0, res.stderr
    legacy = strip_save_noise(netns.run("iptables-legacy-save").stdout)
    if CAPTURE:
        (FIXTURES / f"{path.stem}.legacy-save").write_text(legacy)
    assert canonicalise(legacy) == canonicalise((FIXTURES / f"{path.stem}.save").read_text())


@pytest.mark.parametrize("path", LEGACY, ids=lambda p: p.stem)
def test_captured_legacy_save_canonicalises_like_nft(path: Path) -> None:
    """Replay of the legacy/nft canonical-form equality."""
    legacy = (FIXTURES / f"{path.stem}.legacy-save").read_text()
    assert canonicalise(legacy) == canonicalise((FIXTURES / f"{path.stem}.save").read_text())
