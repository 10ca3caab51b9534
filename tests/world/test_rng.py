"""Per-component random streams."""

import hashlib

from sim.world.rng import component_rng, name_key


def test_same_seed_and_name_give_the_same_stream():
    """A component's draws depend only on the seed and its name."""
    a = component_rng(3, "client/x").random(5)
    b = component_rng(3, "client/x").random(5)
    assert (a == b).all()


def test_other_names_and_seeds_give_other_streams():
    """Different names, or different seeds, give different draws."""
    base = component_rng(3, "client/x").random(5)
    assert (base != component_rng(3, "client/y").random(5)).any()
    assert (base != component_rng(4, "client/x").random(5)).any()


def test_name_key_is_the_sha256_prefix_of_the_name():
    """The spawn key is the first 16 bytes of SHA-256(name) as four words (never hash())."""
    digest = hashlib.sha256(b"node/n1").hexdigest()
    assert name_key("node/n1") == tuple(int(digest[i:i + 8], 16) for i in range(0, 32, 8))
