"""A set that remembers at most `size` members, forgetting the least recently added first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["BoundedDict", "BoundedSet"]

K = TypeVar("K", bound=Hashable)


class BoundedSet(Generic[K]):
    """Recent members only: adding one beyond `size` forgets the oldest."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._members: OrderedDict[K, None] = OrderedDict()

    def add(self, member: K) -> None:
        """Remember `member` as the most recent."""
        self._members[member] = None
        self._members.move_to_end(member)
        while len(self._members) > self._size:
            self._members.popitem(last=False)

    def discard(self, member: K) -> None:
        """Forget `member` if remembered."""
        self._members.pop(member, None)

    def __contains__(self, member: object) -> bool:
        return member in self._members

    def __len__(self) -> int:
        return len(self._members)


V = TypeVar("V")


class BoundedDict(Generic[K, V]):
    """Recent keys only, each with a value: setting one beyond `size` forgets the oldest."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def __setitem__(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def get(self, key: K) -> V | None:
        """The value of `key`, None when forgotten or never set."""
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items
