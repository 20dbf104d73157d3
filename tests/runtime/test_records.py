"""minidock.records.record: the start path's frozen records, as typing.NamedTuple would make them
(without collections.namedtuple, which costs a start ~3.5 ms).

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
    with pytest.raises(AttributeError):
        point.z = 5  # no attributes beyond the fields
    assert hash(point) == hash((1, 0, "a")) and {point: 1}[Point(1, 0, "a")] == 1
    assert point._asdict() == {"x": 1, "y": 0, "label": "a"}


@pytest.mark.spec("RT-CLI-005")
@pytest.mark.parametrize("make, message", [
    (lambda: Point(), "Point() missing required argument: 'x'"),
    (lambda: Point(1, 2, "a", 4), "Point() takes 3 arguments but 4 were given"),
    (lambda: Point(1, x=2), "Point() got multiple values for argument 'x'"),
    (lambda: Point(1, z=2), "Point() got an unexpected keyword argument 'z'"),
    (lambda: Point(1)._replace(z=2), "Point() got an unexpected keyword argument 'z'"),
])
def test_wrong_arguments_are_refused_as_a_class_would_refuse_them(make, message):
    with pytest.raises(TypeError) as refused:
        make()
    assert str(refused.value) == message


@pytest.mark.spec("RT-CLI-005")
def test_defining_a_record_imports_neither_typing_nor_collections():
    import os
    import subprocess
    import sys
    from pathlib import Path

    probe = (f"import sys; sys.path.append({str(Path(__file__).resolve().parents[2])!r});"
             "from minidock.records import record\n"
             "@record\nclass A:\n    x: int\n    y: str = ''\n"
             "print(A(1), 'typing' in sys.modules, 'collections' in sys.modules)")
    # without coverage.py (make test measures every process), which imports collections itself
    unmeasured = {key: value for key, value in os.environ.items() if not key.startswith("COVERAGE_")}
    out = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, env=unmeasured,
                         check=True).stdout
    assert out.strip() == "A(x=1, y='') False False"


@pytest.mark.spec("RT-CLI-005")
def test_a_field_without_a_default_after_one_with_is_refused():
    with pytest.raises(TypeError, match="the fields with a default must come last"):
        @record
        class Bad:
            a: int = 0
            b: str
