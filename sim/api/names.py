"""Name, label and port-name checks with the messages of ``k8s.io/apimachinery/pkg/util/validation``.

Each function returns a list of messages (empty when valid), as upstream's ``IsDNS1123Label``
and friends do; callers wrap them in ``field.Invalid``.
"""

from __future__ import annotations

import re

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + r")*"
_DNS1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"

_RE_DNS1123_LABEL = re.compile(f"^{_DNS1123_LABEL}$")
_RE_DNS1123_SUBDOMAIN = re.compile(f"^{_DNS1123_SUBDOMAIN}$")
_RE_DNS1035_LABEL = re.compile(f"^{_DNS1035_LABEL}$")
_RE_QUALIFIED_NAME = re.compile(f"^{_QUALIFIED_NAME}$")
_RE_LABEL_VALUE = re.compile(f"^{_LABEL_VALUE}$")
_RE_PORT_NAME_CHARSET = re.compile(r"^[-a-z0-9]+$")
_RE_PORT_NAME_ONE_LETTER = re.compile(r".*[a-z].*")


def max_len_error(n: int) -> str:
    """``validation.MaxLenError``."""
    return f"must be no more than {n} characters"


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # validation.RegexError: examples are joined with ",  or " (two spaces, as upstream writes).
    if examples:
        msg += " (e.g. '" + "',  or '".join(examples) + "', "
    else:
        msg += " ("
    return msg + f"regex used for validation is '{fmt}')"


def is_dns1123_label(value: str) -> list[str]:
    """``IsDNS1123Label``.

    >>> is_dns1123_label("my-name")
    []
    >>> is_dns1123_label("My_Name")[0][:44]
    'a lowercase RFC 1123 label must consist of l'
    """
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _RE_DNS1123_LABEL.match(value):
        errs.append(_regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
            "'-', and must start and end with an alphanumeric character",
            _DNS1123_LABEL, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """``IsDNS1123Subdomain``.

    >>> is_dns1123_subdomain("my.database.example.com")
    []
    """
    errs = []
    if len(value) > 253:
        errs.append(max_len_error(253))
    if not _RE_DNS1123_SUBDOMAIN.match(value):
        errs.append(_regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character",
            _DNS1123_SUBDOMAIN, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    """``IsDNS1035Label`` (Service names).

    >>> is_dns1035_label("my-service")
    []
    >>> is_dns1035_label("1abc") != []
    True
    """
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _RE_DNS1035_LABEL.match(value):
        errs.append(_regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
            "start with an alphabetic character, and end with an alphanumeric character",
            _DNS1035_LABEL, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """``IsQualifiedName``: ``[prefix/]name`` as label keys and appProtocol use."""
    errs = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [_regex_error(
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and "
            "must start and end with an alphanumeric character",
            _QUALIFIED_NAME, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + max_len_error(63))
    if name and not _RE_QUALIFIED_NAME.match(name):
        errs.append("name part " + _regex_error(
            "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character", _QUALIFIED_NAME, "MyName", "my.name", "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    """``IsValidLabelValue``."""
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _RE_LABEL_VALUE.match(value):
        errs.append(_regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', "
            "'_' or '.', and must start and end with an alphanumeric character",
            _LABEL_VALUE, "MyValue", "my_value", "12345"))
    return errs


def is_valid_port_num(port: int) -> list[str]:
    """``IsValidPortNum``.

    >>> is_valid_port_num(0)
    ['must be between 1 and 65535, inclusive']
    """
    if 1 <= port <= 65535:
        return []
    return ["must be between 1 and 65535, inclusive"]


def is_valid_port_name(port: str) -> list[str]:
    """``IsValidPortName`` (an IANA_SVC_NAME).

    >>> is_valid_port_name("http")
    []
    >>> is_valid_port_name("a--b")
    ['must not contain consecutive hyphens']
    """
    errs = []
    if len(port) > 15:
        errs.append(max_len_error(15))
    if not _RE_PORT_NAME_CHARSET.match(port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _RE_PORT_NAME_ONE_LETTER.match(port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs
