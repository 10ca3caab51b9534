"""An immutable, hashable mapping for labels, selectors and annotations."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class FrozenDict(Mapping[str, str]):
    """A read-only ``dict`` that is hashable and compares equal to plain dicts.

    >>> d = FrozenDict({"b": "2", "a": "1"})
    >>> d["a"], len(d), dict(d) == {"a": "1", "b": "2"}
    ('1', 2, True)
    >>> hash(d) == hash(FrozenDict({"a": "1", "b": "2"}))
    True
    """

    __slots__ = ("_d", "_h")

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._d: dict[str, Any] = dict(sorted((data or {}).items()))
        self._h: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self) -> int:
        if self._h is None:
            self._h = hash(tuple(self._d.items()))
        return self._h

    def __repr__(self) -> str:
        return f"FrozenDict({self._d!r})"

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when every key/value of this selector is present in ``labels``.

        An empty selector matches everything (as a label selector with no requirements).

        >>> FrozenDict({"app": "web"}).matches({"app": "web", "tier": "fe"})
        True
        """
        return all(labels.get(k) == v for k, v in self._d.items())


EMPTY = FrozenDict()
