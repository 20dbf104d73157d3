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

What `class Mount(typing.NamedTuple)` gives, made by hand for the same reason: the
records a container's start defines are the start path's, and `minidock-runtime run`
is measured against runc. Importing `typing` costs a start ~5 ms, and NamedTuple
checks every annotation as it defines a class (a compile() for each, the annotations
being strings under `from __future__ import annotations`). `collections.namedtuple`,
which NamedTuple calls, costs ~3.5 ms more: importing `collections` (its OrderedDict,
Counter, ChainMap and User* classes) and an eval() for each class. Here a record is a
subclass of _Record, a tuple whose class holds the field names, their defaults and one
property per field; the annotations are kept on the class, unevaluated, for readers
and type checkers.
"""

from __future__ import annotations

from _operator import itemgetter  # operator's C half: the same itemgetter, 1 ms sooner

# what the class statement puts in a body that is not the record's own
_MACHINERY = {"__dict__", "__weakref__", "__module__", "__qualname__"}


class _Record(tuple):
    """What every record class has: construction by position or by name, repr, and namedtuple's
    _fields, _replace and _asdict. The values are the tuple's items, in the fields' order."""

    __slots__ = ()                      # no __dict__: a record cannot grow attributes
    _fields: tuple[str, ...] = ()
    _field_defaults: dict[str, object] = {}

    def __new__(cls, *args: object, **kwargs: object) -> _Record:
        if len(args) > len(cls._fields):
            raise TypeError(f"{cls.__name__}() takes {len(cls._fields)} arguments but {len(args)} were given")
        values = list(args)
        for name in cls._fields[len(args):]:
            if name in kwargs:
                values.append(kwargs.pop(name))
            elif name in cls._field_defaults:
                values.append(cls._field_defaults[name])
            else:
                raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
        for name in kwargs:  # left over: a field given by position already, or no field at all
            if name in cls._fields:
                raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {name!r}")
        return tuple.__new__(cls, values)

    def __getnewargs__(self) -> tuple:
        return tuple(self)              # pickle: the values, by position

    def __repr__(self) -> str:
        pairs = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields, self))
        return f"{type(self).__name__}({pairs})"

    def _replace(self, **changes: object) -> _Record:
        """A copy with ``changes``; an unknown name is a TypeError."""
        return type(self)(**{**self._asdict(), **changes})

    def _asdict(self) -> dict[str, object]:
        return dict(zip(self._fields, self))


def record(cls: type) -> type:
    """A _Record class of ``cls``'s annotated fields, with its defaults, methods and docstring."""
    body = vars(cls)
    fields = tuple(body.get("__annotations__", {}))
    with_default = [name for name in fields if name in body]
    # as NamedTuple: a field without a default cannot follow one with a default
    if with_default and fields[-len(with_default):] != tuple(with_default):
        raise TypeError(f"{cls.__name__}: the fields with a default must come last ({', '.join(with_default)})")
    namespace = {name: value for name, value in body.items() if name not in fields and name not in _MACHINERY}
    namespace.update(__slots__=(), __module__=cls.__module__, __qualname__=cls.__qualname__,
                     _fields=fields, _field_defaults={name: body[name] for name in with_default})
    for index, name in enumerate(fields):
        namespace[name] = property(itemgetter(index), doc=f"field {index}")
    return type(cls.__name__, (_Record,), namespace)
