"""Hypothesis strategies shared by the fuzz tests: JSON values, and edits of a JSON document
as a hand edit, a bit flip or a bug would make them (river's serialised ADWIN windows included).
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from hypothesis import strategies as st

from driftstream.detectors.adwin import _RIVER_HEADER

NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1, 0.5, -0.0, 2**31, 2**53 + 1, 2**63, 1e308, -1e308, 5e-324]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=8))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def _nudged(draw: st.DrawFn, value: Any) -> Any:
    """A value near `value` in kind (what a hand edit or a bit flip would make of it), or any
    JSON value at all."""
    if draw(st.integers(0, 3)) == 0:
        return draw(JSON)
    if isinstance(value, bool):
        return draw(st.sampled_from([not value, int(value), str(value).lower(), None]))
    if isinstance(value, int | float):
        near = [value + 1, value - 1, -value, value * 2, value / 2, float(value), str(value)]
        return draw(st.sampled_from(near))
    if isinstance(value, str) and len(value) > 40:  # a river window: its bytes changed
        return _flipped_window(draw, value)
    if isinstance(value, str):
        return draw(st.sampled_from(["", value[:-1], value + "=", value.upper()]))
    if isinstance(value, list):
        return _list_edit(draw, value)
    if isinstance(value, dict):
        return _dict_edit(draw, value)
    return draw(JSON)


def _flipped_window(draw: st.DrawFn, text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    how = draw(st.sampled_from(["byte", "header", "cut", "grow"]))
    if how == "byte":
        at = draw(st.integers(0, len(raw) - 1))
        raw[at] = draw(st.integers(0, 255))
    elif how == "header":  # one field of river's header, any value of its type
        fields = list(_RIVER_HEADER.unpack_from(raw))
        i = draw(st.integers(0, len(fields) - 1))
        kind = "diQddddddiiiiQ"[i]  # _RIVER_HEADER's format, one letter a field
        fields[i] = draw(
            st.floats(width=64)
            if kind == "d"
            else st.integers(0, 2**64 - 1)
            if kind == "Q"
            else st.integers(-(2**31), 2**31 - 1)
        )
        _RIVER_HEADER.pack_into(raw, 0, *fields)
    elif how == "cut":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    else:
        raw += bytes(draw(st.integers(1, 24)))
    return base64.b64encode(bytes(raw)).decode()


def _list_edit(draw: st.DrawFn, value: list[Any]) -> list[Any]:
    out = list(value)
    how = draw(st.sampled_from(["drop", "repeat", "append", "empty"]))
    if how == "empty":
        return []
    if not out or how == "append":
        return [*out, draw(JSON)]
    i = draw(st.integers(0, len(out) - 1))
    if how == "drop":
        del out[i]
    else:
        out.insert(i, copy.deepcopy(out[i]))
    return out


def _dict_edit(draw: st.DrawFn, value: dict[str, Any]) -> dict[str, Any]:
    out = dict(value)
    if out and draw(st.booleans()):
        del out[draw(st.sampled_from(sorted(out)))]
    else:
        out[draw(st.text(max_size=6))] = draw(JSON)
    return out


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """`document` with one to three edits, each at a node reached by a random walk down from
    the root's children (so inner nodes are edited about as often as the leaves; the document
    as a whole is the random-document tests')."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        parent: Any = None
        key: Any = None
        node = doc
        while (
            isinstance(node, dict | list) and node and (parent is None or draw(st.integers(0, 3)))
        ):
            key = draw(
                st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node)))
            )
            parent, node = node, node[key]
        new = draw(_nudged(node))
        if parent is None:
            doc = new
        else:
            parent[key] = new
    return doc
