"""One ``nft -f`` transaction as data (sigs.k8s.io/knftables ``Transaction``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Transaction:
    """An ordered sequence of nft commands, one per line, without trailing newlines.

    ``render()`` is the text ``nft -f`` reads: the commands joined by newlines (knftables
    writes each operation on its own line).

    >>> Transaction(("add table ip kube-proxy", "flush table ip kube-proxy")).render()
    'add table ip kube-proxy\\nflush table ip kube-proxy\\n'
    """

    commands: tuple[str, ...] = ()

    def render(self) -> str:
        """The ``nft -f`` text: one command per line."""
        return "".join(c + "\n" for c in self.commands)
