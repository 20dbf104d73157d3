"""JSON for the start path: json's own C scanner and encoder, without importing json.

Implements: spec/runtime.md RT-CLI-005 (a start's imports: chapters/03-runtime.md#start-up-time)
Explained:  chapters/03-runtime.md#start-up-time

    loads(text) -> value         what json.loads(text) returns
    load(file)  -> value         ... of the file's whole text
    dumps(value) -> str          what json.dumps(value) returns (compact, ASCII)
    dump(value, file)

Why: `import json` imports `re` for two regular expressions it needs only when its C
accelerator is missing, and `re` imports `enum`. On a slow machine the three cost a
start ~15 ms, a quarter of runc's whole `run`. The accelerator, `_json`, is a C
module with no imports: json.loads and json.dumps call the very same scanner and
encoder below when it is there, so the answers are json's.

Bad input is json's business: when the scanner stops early, or leaves text after
the value, the text is parsed again by json itself, which raises its
JSONDecodeError (a ValueError) with the line and column. Good input never
imports json.
"""

from __future__ import annotations

try:
    import _json
except ImportError:  # an interpreter without the accelerator: json's pure-Python path
    _json = None

_WHITESPACE = " \t\n\r"  # JSON's four (RFC 8259 section 2)


class _Options:
    """What json.JSONDecoder() hands its scanner: the defaults of json.loads."""

    strict = True                       # no control characters inside strings
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__


def _unsupported(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")  # json's words


if _json is not None:
    _scan = _json.make_scanner(_Options)
    # json.dumps's defaults: separators ", " and ": ", ASCII only, NaN allowed, no cycle check
    # (our values are trees: a dict or list inside itself would recurse until RecursionError)
    _encode = _json.make_encoder(None, _unsupported, _json.encode_basestring_ascii, None,
                                 ": ", ", ", False, False, True)


def _skip_whitespace(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def loads(text: str) -> object:
    """Parse ``text`` as json.loads would; a malformed text raises json.JSONDecodeError."""
    if _json is not None and isinstance(text, str):
        try:
            value, end = _scan(text, _skip_whitespace(text, 0))
        except Exception:  # noqa: BLE001 - StopIteration at no value; an error the scanner can only
            pass           # raise once json.decoder is imported: either way, json says what is wrong
        else:
            if _skip_whitespace(text, end) == len(text):
                return value
    import json

    return json.loads(text)


def load(file) -> object:
    """Parse a text file's whole content."""
    return loads(file.read())


def dumps(value: object) -> str:
    """``value`` as json.dumps(value) writes it."""
    if _json is None:
        import json

        return json.dumps(value)
    return "".join(_encode(value, 0))


def dump(value: object, file) -> None:
    file.write(dumps(value))
