"""Tokens of nft text (``nft -f`` input and ``nft list ruleset`` output).

Words are split on white space and on ``{ } ; ,`` (always their own tokens); quoted strings
are one token. ``#`` starts a comment outside strings. Each token carries its 1-based line.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_PUNCT = frozenset("{};,")


class Token(NamedTuple):
    """One token: ``text`` (a string's text without its quotes), ``line``, ``quoted``."""

    text: str
    line: int
    quoted: bool = False


NEWLINE = "\n"


_TOKEN = re.compile(r'(\n)|[ \t\r]+|\\\n|#[^\n]*|"((?:[^"\\\n]|\\.)*)"|([{};,])|([^\s"#{};,]+)|(")')
_UNESCAPE = re.compile(r"\\(.)")


def tokenize(text: str, source: str = "<nft>") -> list[Token]:
    """Tokens of ``text``, with a ``"\\n"`` token at each line end (statements end there
    unless a brace is open).

    >>> [t.text for t in tokenize('add rule ip t c ip daddr { 1.2.3.4, 5.6.7.8 } comment "a b"')]
    ['add', 'rule', 'ip', 't', 'c', 'ip', 'daddr', '{', '1.2.3.4', ',', '5.6.7.8', '}', 'comment', 'a b', '\\n']
    """
    from sim.model.errors import SimError

    out: list[Token] = []
    append = out.append
    new = tuple.__new__
    line = 1
    for m in _TOKEN.finditer(text):
        nl, string, punct, word, bad = m.groups()
        if word is not None:
            append(new(Token, (word, line, False)))
        elif punct is not None:
            append(new(Token, (punct, line, False)))
        elif nl is not None:
            append(Token(NEWLINE, line))
            line += 1
        elif string is not None:
            append(Token(_UNESCAPE.sub(r"\1", string) if "\\" in string else string, line, True))
        elif bad is not None:
            raise SimError(f"{source}:{line}: Error: unterminated string")
        elif m.group(0).startswith("\\"):
            line += 1  # line continuation
    append(Token(NEWLINE, line))
    return out
