"""User-facing errors: a message naming file, line and field path, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One apiserver-style error: ``spec.ports[0].nodePort: Invalid value: 80: <detail>``.

    ``kind`` is one of the apiserver's words: ``Invalid value``, ``Required value``,
    ``Duplicate value``, ``Unsupported value``, ``Forbidden``, ``Too long``, ``Not found``.
    """

    field: str
    kind: str
    detail: str = ""
    value: object = None
    has_value: bool = False
    file: str = ""
    line: int | None = None
    object_ref: str = ""  # e.g. "Service default/my-service"

    def message(self) -> str:
        """The apiserver's text for this error (``field.ErrorList`` formatting)."""
        msg = f"{self.field}: {self.kind}"
        if self.has_value:
            msg += f": {_render_value(self.value)}"
        if self.detail:
            msg += f": {self.detail}"
        return msg

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        ref = f"{self.object_ref}: " if self.object_ref else ""
        return f"{where}{ref}{self.message()}"


def quote(value: object) -> str:
    """A value in a message as kubectl and the apiserver show it: strings in double quotes
    (Go's ``%q``), numbers and booleans bare, lists and maps as JSON.

    >>> quote("node-9"), quote(80), quote(True), quote(["a", 1])
    ('"node-9"', '80', 'true', '["a",1]')
    """
    if isinstance(value, list | tuple | dict):
        import json

        return json.dumps(value, separators=(",", ":"), default=str)
    return _render_value(value)


def _render_value(value: object) -> str:
    if isinstance(value, str):
        import json

        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class SimError(Exception):
    """Base of every error shown to a user as a message (the CLI prints it and exits 1)."""


class ValidationError(SimError):
    """One or more field errors (HTTP 422 semantics: nothing is applied)."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))
