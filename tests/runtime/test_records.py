"""minidock.records.record: the start path's frozen records, as typing.NamedTuple would make them.

Pure: no root, no kernel.
"""

from __future__ import annotations

import pickle

import pytest

from minidock.records import record


@record
class Point:
    """A point, with a method and a classmethod."""

    x: int
    y: int = 0
    label: str = ""

    def moved(self, dx: int) -> Point:
        return self._replace(x=self.x + dx)

    @classmethod
    def origin(cls) -> Point:
        return cls(0)


@pytest.mark.spec("RT-CLI-005")
def test_a_record_is_a_frozen_tuple_with_defaults_methods_and_docstring():
    point = Point(1, label="a")
    assert point == (1, 0, "a") and point == Point(x=1, y=0, label="a")
    assert point.moved(2) == Point(3, 0, "a") and Point.origin() == Point(0)
    assert repr(point) == "Point(x=1, y=0, label='a')"
    assert Point._fields == ("x", "y", "label") and Point.__doc__.startswith("A point")
    assert Point.__qualname__ == "Point" and Point.__annotations__["y"] == "int"  # kept, unevaluated
    assert pickle.loads(pickle.dumps(point)) == point
    with pytest.raises(AttributeError):
        point.x = 5  # frozen
    with pytest.raises(TypeError):
        Point()  # x has no default


@pytest.mark.spec("RT-CLI-005")
def test_a_field_without_a_default_after_one_with_is_refused():
    with pytest.raises(TypeError, match="the fields with a default must come last"):
        @record
        class Bad:
            a: int = 0
            b: str
