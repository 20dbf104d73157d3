"""The resolver behind `::: code module:Name` (docs/hooks/quote.py), without MkDocs."""

from __future__ import annotations

import pytest

SOURCE = '''\
"""A module's map.

    a ─▶ b
"""

import functools

LIMIT = 3
TIMEOUT: float = 1.5


def plain(x: int) -> int:
    """Add one."""
    return x + 1


@functools.cache
def decorated() -> int:
    return LIMIT


class Box:
    """A box."""

    size = 2

    def open(self) -> str:
        return "open"

    class Lid:
        def lift(self) -> None:
            pass
'''


def reader(modules: dict[str, str]):
    """A read_module over a dict, as the hook's file_reader is over the repository."""

    def read_module(module: str) -> tuple[str, str]:
        if module not in modules:
            raise LookupError(module)
        return f"{module.replace('.', '/')}.py", modules[module]

    return read_module


@pytest.mark.spec("DOCS-020")
def test_function(quote_hook):
    assert quote_hook.quote(SOURCE, "plain") == (
        'def plain(x: int) -> int:\n    """Add one."""\n    return x + 1'
    )


@pytest.mark.spec("DOCS-020")
def test_decorated_function_keeps_its_decorator(quote_hook):
    assert quote_hook.quote(SOURCE, "decorated").splitlines()[:2] == [
        "@functools.cache", "def decorated() -> int:"
    ]


@pytest.mark.spec("DOCS-020")
def test_class(quote_hook):
    text = quote_hook.quote(SOURCE, "Box")
    assert text.startswith('class Box:\n    """A box."""')
    assert text.endswith("            pass")


@pytest.mark.spec("DOCS-020")
def test_method_is_dedented(quote_hook):
    assert quote_hook.quote(SOURCE, "Box.open") == 'def open(self) -> str:\n    return "open"'
    assert quote_hook.quote(SOURCE, "Box.Lid.lift") == "def lift(self) -> None:\n    pass"


@pytest.mark.spec("DOCS-020")
def test_assignments(quote_hook):
    assert quote_hook.quote(SOURCE, "LIMIT") == "LIMIT = 3"
    assert quote_hook.quote(SOURCE, "TIMEOUT") == "TIMEOUT: float = 1.5"
    assert quote_hook.quote(SOURCE, "Box.size") == "size = 2"


@pytest.mark.spec("DOCS-020")
def test_module_docstring(quote_hook):
    assert quote_hook.quote(SOURCE, None) == '"""A module\'s map.\n\n    a ─▶ b\n"""'


@pytest.mark.spec("DOCS-021")
@pytest.mark.parametrize("name", ["missing", "Box.shut", "plain.inner", "Box.Lid.drop"])
def test_missing_name_is_an_error(quote_hook, name):
    with pytest.raises(quote_hook.QuoteError, match=repr(name.split(".")[-1])):
        quote_hook.quote(SOURCE, name)


@pytest.mark.spec("DOCS-021")
def test_module_without_docstring_is_an_error(quote_hook):
    with pytest.raises(quote_hook.QuoteError, match="no docstring"):
        quote_hook.quote("X = 1\n", None)


@pytest.mark.spec("DOCS-020")
def test_expand_replaces_the_line_with_a_titled_block(quote_hook):
    markdown = "Intro.\n\n::: code pkg.mod:plain\n\nAfter."
    out = quote_hook.expand_quotes(markdown, reader({"pkg.mod": SOURCE}))
    assert out == (
        'Intro.\n\n```python title="pkg/mod.py · plain"\ndef plain(x: int) -> int:\n'
        '    """Add one."""\n    return x + 1\n```\n\nAfter.'
    )


@pytest.mark.spec("DOCS-020")
def test_expand_keeps_the_indentation(quote_hook):
    out = quote_hook.expand_quotes("- item\n\n    ::: code pkg.mod:LIMIT", reader({"pkg.mod": SOURCE}))
    assert out.splitlines()[2:] == ['    ```python title="pkg/mod.py · LIMIT"', "    LIMIT = 3", "    ```"]


@pytest.mark.spec("DOCS-022")
def test_expand_leaves_code_blocks_alone(quote_hook):
    markdown = "````text\n```\n::: code pkg.gone:nothing\n```\n````\n~~~\n::: code pkg.gone\n~~~\n"
    assert quote_hook.expand_quotes(markdown, reader({})) == markdown


@pytest.mark.spec("DOCS-021")
def test_expand_names_the_quote_that_failed(quote_hook):
    with pytest.raises(quote_hook.QuoteError, match=r"::: code pkg.mod:gone`.*pkg/mod.py.*'gone'"):
        quote_hook.expand_quotes("::: code pkg.mod:gone", reader({"pkg.mod": SOURCE}))


@pytest.mark.spec("DOCS-021")
def test_file_reader_reports_a_missing_module(quote_hook, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text('"""The package."""\n')
    read_module = quote_hook.file_reader(tmp_path)
    assert read_module("pkg") == ("pkg/__init__.py", '"""The package."""\n')
    with pytest.raises(quote_hook.QuoteError, match="pkg/gone.py"):
        read_module("pkg.gone")


@pytest.mark.spec("DOCS-020")
def test_targets(quote_hook):
    assert quote_hook.parse_target("pkg.mod:Box.open") == ("pkg.mod", "Box.open")
    assert quote_hook.parse_target("pkg.mod") == ("pkg.mod", None)


@pytest.mark.spec("DOCS-020")
@pytest.mark.parametrize("target", ["pkg..mod", "pkg.mod:a-b", "pkg/mod.py:x", "pkg.mod:Box..open"])
def test_bad_targets_are_errors(quote_hook, target):
    with pytest.raises(quote_hook.QuoteError):
        quote_hook.parse_target(target)


@pytest.mark.spec("DOCS-020")
def test_real_error_tree_is_quotable(quote_hook):
    from tests.docs.conftest import REPO

    path, source = quote_hook.file_reader(REPO)("minidock.errors")
    assert path == "minidock/errors.py"
    assert quote_hook.quote(source, "http_status").startswith("def http_status(")
