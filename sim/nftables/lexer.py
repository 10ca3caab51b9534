"""Tokens of nft text (``nft -f`` input and ``nft list ruleset`` output).

Words are split on white space and on ``{ } ; ,`` (always their own tokens); quoted strings
are one token. ``#`` starts a comment outside strings. Each token carries its 1-based line.
"""

from __future__ import annotations

from dataclasses import dataclass

_PUNCT = frozenset("{};,")


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``text`` (a string's text without its quotes), ``line``, ``quoted``."""

    text: str
    line: int
    quoted: bool = False

    def __repr__(self) -> str:
        return f"Token({self.text!r}@{self.line})"


NEWLINE = "\n"


def tokenize(text: str, source: str = "<nft>") -> list[Token]:
    """Tokens of ``text``, with a ``"\\n"`` token at each line end (statements end there
    unless a brace is open).

    >>> [t.text for t in tokenize('add rule ip t c ip daddr { 1.2.3.4, 5.6.7.8 } comment "a b"')]
    ['add', 'rule', 'ip', 't', 'c', 'ip', 'daddr', '{', '1.2.3.4', ',', '5.6.7.8', '}', 'comment', 'a b', '\\n']
    """
    from sim.model.errors import SimError

    out: list[Token] = []
    line = 1
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            out.append(Token(NEWLINE, line))
            line += 1
            i += 1
        elif ch in " \t\r":
            i += 1
        elif ch == "\\" and i + 1 < n and text[i + 1] == "\n":
            line += 1  # line continuation
            i += 2
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif ch in _PUNCT:
            out.append(Token(ch, line))
            i += 1
        elif ch == '"':
            j = i + 1
            buf = []
            while j < n and text[j] != '"':
                if text[j] == "\n":
                    raise SimError(f"{source}:{line}: Error: unterminated string")
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise SimError(f"{source}:{line}: Error: unterminated string")
            out.append(Token("".join(buf), line, True))
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in " \t\r\n\"#" and text[j] not in _PUNCT:
                j += 1
            out.append(Token(text[i:j], line))
            i = j
    out.append(Token(NEWLINE, line))
    return out
