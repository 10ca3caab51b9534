"""Per-component random streams spawned from one run seed.

Each component (a node's netfilter engine, a client, the cloud load balancer...) draws from its
own :class:`numpy.random.Generator`. The stream is derived from the run seed and a *stable* hash
of the component's name (SHA-256, never Python's salted ``hash()``), so adding a component does
not perturb the draws of the others (ns-3 assigns RNG streams per component for the same reason).
"""

from __future__ import annotations

import hashlib

import numpy as np


def name_key(name: str) -> tuple[int, ...]:
    """Four 32-bit words of SHA-256(``name``): a stable spawn key for a component name.

    >>> name_key("client/a") == name_key("client/a"), name_key("a") == name_key("b")
    (True, False)
    """
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return tuple(int.from_bytes(digest[i : i + 4], "big") for i in range(0, 16, 4))


def component_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of component ``name`` in a run seeded with ``seed``.

    >>> a = component_rng(7, "node/n1").random()
    >>> a == component_rng(7, "node/n1").random(), a == component_rng(7, "node/n2").random()
    (True, False)
    """
    seq = np.random.SeedSequence(entropy=int(seed), spawn_key=name_key(name))
    return np.random.Generator(np.random.PCG64(seq))
