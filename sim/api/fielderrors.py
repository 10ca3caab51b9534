"""Constructors for apiserver-style field errors (``k8s.io/apimachinery/.../validation/field``).

Each function mirrors one of upstream's ``field.Invalid``/``Required``/``Duplicate``/
``NotSupported``/``Forbidden``/``NotFound`` helpers so messages read exactly as the apiserver's
422 responses (``spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sim.model.errors import FieldError


def invalid(path: str, value: object, detail: str) -> FieldError:
    """``field.Invalid(path, value, detail)``."""
    return FieldError(path, "Invalid value", detail, value, True)


def required(path: str, detail: str = "") -> FieldError:
    """``field.Required(path, detail)``."""
    return FieldError(path, "Required value", detail)


def duplicate(path: str, value: object) -> FieldError:
    """``field.Duplicate(path, value)``."""
    return FieldError(path, "Duplicate value", "", value, True)


def forbidden(path: str, detail: str) -> FieldError:
    """``field.Forbidden(path, detail)``."""
    return FieldError(path, "Forbidden", detail)


def not_found(path: str, value: object) -> FieldError:
    """``field.NotFound(path, value)``."""
    return FieldError(path, "Not found", "", value, True)


def not_supported(path: str, value: object, valid: Iterable[str]) -> FieldError:
    """``field.NotSupported(path, value, validValues)``: lists the supported values quoted.

    >>> not_supported("spec.type", "Foo", ["ClusterIP", "NodePort"]).message()
    'spec.type: Unsupported value: "Foo": supported values: "ClusterIP", "NodePort"'
    """
    quoted = ", ".join(f'"{v}"' for v in valid)
    return FieldError(path, "Unsupported value", f"supported values: {quoted}", value, True)


def unknown_field(path: str) -> FieldError:
    """A field the API type does not declare (``kubectl apply --validate=strict``).

    The apiserver reports ``strict decoding error: unknown field "<path>"``; we keep the field
    path first like every other error so the CLI can point at the line.

    >>> unknown_field("spec.foo").message()
    'spec.foo: Unknown field: strict decoding error: unknown field "spec.foo"'
    """
    return FieldError(path, "Unknown field", f'strict decoding error: unknown field "{path}"')


def wrong_type(path: str, value: object, expected: str) -> FieldError:
    """A value of the wrong JSON type (the apiserver's decoder refuses the whole object).

    >>> wrong_type("spec.ports[0].port", "eighty", "integer").message()
    'spec.ports[0].port: Invalid value: "eighty": must be of type integer'
    """
    return FieldError(path, "Invalid value", f"must be of type {expected}", value, True)


def child(path: str, name: str) -> str:
    """``path.Child(name)``."""
    return f"{path}.{name}" if path else name


def index(path: str, i: int) -> str:
    """``path.Index(i)``."""
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    """``path.Key(k)``."""
    return f"{path}[{k}]"
