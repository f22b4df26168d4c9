"""Parent grouping for FETCH (``runtime._group_parents`` and its compiled twin
``_cvm.group_parents``): parents whose referenced values render the same request share
one group, each parent once, in first-seen order, on both VMs alike."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from msgspec import Raw
from plait.engine import runtime


def grouping(vm: str) -> Any:
    if vm == "py":
        return runtime._group_parents
    from plait.engine import _cvm

    return _cvm.group_parents


def context() -> Any:
    """What grouping reads of a request context: the decoded-value cache and the map
    from each object to the object it was found in."""
    return SimpleNamespace(cache={}, parent_of={})


def ref(*path: str, root: str = "value") -> Any:
    return SimpleNamespace(root=root, path=path)


def posts(count: int, authors: int) -> list[dict[str, Raw]]:
    """Decoded as upstream lists are: objects of raw JSON values."""
    body = msgspec.json.encode([{"id": i, "userId": i % authors} for i in range(count)])
    return msgspec.json.Decoder(list[dict[str, Raw]]).decode(body)


def ids(groups: list[list[Any]]) -> list[list[int]]:
    return [[msgspec.json.decode(parent["id"]) for parent in group] for group in groups]


@pytest.mark.parametrize("count, authors", [(100, 10), (100, 1), (40, 40)])
def test_one_group_per_value_each_parent_once(vm: str, count: int, authors: int) -> None:
    """Parents listed twice (one object reached from two places) are grouped once, in
    small groups and in large ones (more than 16 members)."""
    items = posts(count, authors)
    parents = items + items[::-1] + items[:3]
    groups = grouping(vm)(context(), parents, (ref("userId"),))
    expected = [[i for i in range(count) if i % authors == a] for a in range(authors)]
    assert ids(groups) == expected
    assert sum(map(len, groups)) == count


def test_renderings_that_differ_stay_apart(vm: str) -> None:
    """true, 1 and 1.0 are equal in Python but render differently in a URL."""
    body = b'[{"id":0,"k":1},{"id":1,"k":true},{"id":2,"k":1.0},{"id":3,"k":1},' \
        b'{"id":4,"k":{"a":1}},{"id":5,"k":{"a":1}},{"id":6},{"id":7,"k":null}]'
    parents = msgspec.json.Decoder(list[dict[str, Raw]]).decode(body)
    groups = grouping(vm)(context(), parents, (ref("k"),))
    assert ids(groups) == [[0, 3], [1], [2], [4, 5], [6, 7]]


def test_several_references_and_the_parent_object(vm: str) -> None:
    """Keys over two references; a reference to the enclosing object (``.parent``)."""
    ctx = context()
    items = posts(12, 3)
    owner = {"team": Raw(b'"a"')}
    for item in items:
        ctx.parent_of[id(item)] = owner
    groups = grouping(vm)(ctx, items, (ref("userId"), ref("team", root="parent")))
    assert ids(groups) == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]]

