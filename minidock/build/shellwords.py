"""Variable substitution in Dockerfile instructions, as Docker's shell lexer does it. Pure.

Implements: spec/build.md BUILD-003
Explained:  chapters/08-build.md#variables
Modelled on: moby/buildkit's frontend/dockerfile/shell/lex.go (ProcessWord, ProcessWords)

    expand_word('"$HOME"/x', {"HOME": "/root"})       -> "/root/x"
    expand_words("a 'b c' ${X:-d}", {})               -> ["a", "b c", "d"]

    $VAR ${VAR}   the value, or "" when unset
    ${VAR:-word}  word when VAR is unset or empty     ${VAR-word}  when unset
    ${VAR:+word}  word when VAR is set and not empty  ${VAR+word}  when set
    ${VAR:?msg}   an error when unset or empty        ${VAR?msg}   when unset
    'single'      nothing expanded, quotes removed
    "double"      variables expanded, quotes removed; \\" \\$ \\\\ escaped
    \\x           x itself (the escape character is \\ or ` per the directive)

Rules: this is not a shell: no globbing, no command substitution, no arithmetic.
RUN, CMD and ENTRYPOINT are not expanded here (their shell does it at run time).
"""

from __future__ import annotations

from minidock.errors import InvalidArgument

_NAME = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class _Lexer:
    def __init__(self, text: str, env: dict[str, str], escape: str) -> None:
        self.text, self.env, self.escape, self.at = text, env, escape, 0

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def next(self) -> str:
        char = self.peek()
        self.at += 1
        return char

    def words(self, split: bool) -> list[str]:
        """Process the whole text: one word, or words split at unquoted blanks."""
        words: list[str] = []
        word, started = "", False
        while self.at < len(self.text):
            char = self.next()
            if split and char in " \t\n":
                if started:
                    words.append(word)
                word, started = "", False
                continue
            started = True
            if char == "'":
                word += self.single_quoted()
            elif char == '"':
                word += self.double_quoted()
            elif char == "$":
                value = self.variable()
                if not split:
                    word += value
                    continue
                # an unquoted value is split too, after substitution (ProcessWords)
                pieces = value.split()
                if not pieces:
                    started = bool(word)
                    continue
                if value[:1].isspace() and word:
                    words.append(word)
                    word = ""
                word += pieces[0]
                for piece in pieces[1:]:
                    words.append(word)
                    word = piece
                if value[-1:].isspace():
                    words.append(word)
                    word, started = "", False
            elif char == self.escape:
                following = self.next()
                word += following if following else self.escape
            else:
                word += char
        if started or not split:
            words.append(word)
        return words

    def single_quoted(self) -> str:
        out = ""
        while True:
            char = self.next()
            if char == "":
                raise InvalidArgument("unexpected end of statement while looking for matching single-quote")
            if char == "'":
                return out
            out += char

    def double_quoted(self) -> str:
        out = ""
        while True:
            char = self.next()
            if char == "":
                raise InvalidArgument("unexpected end of statement while looking for matching double-quote")
            if char == '"':
                return out
            if char == "$":
                out += self.variable()
            elif char == self.escape:
                following = self.next()
                out += following if following in ('"', "$", self.escape) else self.escape + following
            else:
                out += char

    def variable(self) -> str:
        """After a ``$``: the value of what names it (a lone ``$`` stays itself)."""
        char = self.peek()
        if char == "{":
            self.next()
            return self.braced()
        name = ""
        while self.peek() and self.peek() in _NAME:
            name += self.next()
        if not name:
            return "$"
        return self.env.get(name, "")

    def braced(self) -> str:
        name = ""
        while self.peek() and self.peek() in _NAME:
            name += self.next()
        if not name:
            raise InvalidArgument(f"bad substitution in {self.text!r}: missing variable name")
        char = self.next()
        if char == "}":
            return self.env.get(name, "")
        colon = char == ":"
        if colon:
            char = self.next()
        if char not in "-+?":
            raise InvalidArgument(f"unsupported modifier ({char}) in substitution {self.text!r}")
        word = self.until_brace()
        value, is_set = self.env.get(name), name in self.env
        present = is_set and (value != "" or not colon)
        if char == "-":
            return value if present else word
        if char == "+":
            return word if present else ""
        if not present:
            raise InvalidArgument(f"{name}: {word or 'is not allowed to be unset'}")
        return value or ""

    def until_brace(self) -> str:
        """The word of a modifier, itself expanded, up to the closing brace."""
        out = ""
        depth = 0
        while True:
            char = self.next()
            if char == "":
                raise InvalidArgument(f"syntax error: missing '}}' in {self.text!r}")
            if char == "}" and depth == 0:
                return out
            if char == "$":
                out += self.variable()
            elif char == self.escape:
                out += self.next()
            elif char == "'":
                out += self.single_quoted()
            elif char == '"':
                out += self.double_quoted()
            else:
                out += char


def expand_word(text: str, env: dict[str, str], escape: str = "\\") -> str:
    """One word: quotes removed, variables substituted (ENV values, WORKDIR, USER, ...)."""
    return _Lexer(text, env, escape).words(split=False)[0]


def expand_words(text: str, env: dict[str, str], escape: str = "\\") -> list[str]:
    """Words split at unquoted blanks, each expanded (EXPOSE, VOLUME, COPY sources, ...)."""
    return _Lexer(text, env, escape).words(split=True)
