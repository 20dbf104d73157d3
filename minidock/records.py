"""Records: frozen, typed classes, defined without importing `typing`.

Implements: spec/runtime.md RT-CLI-005 (a start's imports: chapters/03-runtime.md#start-up-time)
Explained:  chapters/03-runtime.md#start-up-time

    @record
    class Mount:
        \"\"\"One entry of config.json's mounts.\"\"\"

        destination: str
        options: tuple[str, ...] = ()      # fields with a default come last

        def is_bind(self) -> bool: ...

    Mount("/proc") == Mount(destination="/proc", options=())    a tuple: immutable, compared
    Mount("/proc")._replace(options=("ro",))                    by value, _replace(), _fields

What `class Mount(typing.NamedTuple)` gives, for the same reason: both are the
tuple class that `collections.namedtuple` makes, with the body's methods and
docstring put on it. Why not NamedTuple itself: the records a container's start
defines are the start path's, and `minidock-runtime run` is measured against runc.
Importing `typing` costs a start ~5 ms, and NamedTuple checks every annotation as
it defines a class (a compile() for each, the annotations being strings under
`from __future__ import annotations`): 0.25 ms a class, 0.1 here. The annotations
are kept on the class, unevaluated, for readers and type checkers.
"""

from __future__ import annotations

from collections import namedtuple

# what the class statement puts in a body that is not the record's own
_MACHINERY = {"__dict__", "__weakref__", "__module__", "__qualname__"}


def record(cls: type) -> type:
    """The namedtuple of ``cls``'s annotated fields, with its defaults, methods and docstring."""
    body = vars(cls)
    fields = tuple(body.get("__annotations__", {}))
    with_default = [name for name in fields if name in body]
    # as NamedTuple: a field without a default cannot follow one with a default
    if with_default and fields[-len(with_default):] != tuple(with_default):
        raise TypeError(f"{cls.__name__}: the fields with a default must come last ({', '.join(with_default)})")
    made = namedtuple(cls.__name__, fields, defaults=[body[name] for name in with_default], module=cls.__module__)
    made.__qualname__ = cls.__qualname__
    for name, value in body.items():
        if name not in fields and name not in _MACHINERY:
            setattr(made, name, value)
    return made
