"""The ``kube-netsim`` command line: a thin dispatcher.

Each subcommand lives in ``sim/commands/<name>.py`` and provides ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Whatever goes wrong, a user sees a message,
never a traceback: a :class:`~sim.model.errors.SimError` raised anywhere and a usage error both
exit 1; an interrupt (Ctrl-C) exits 130, the shell's convention for SIGINT.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sim.model.errors import SimError

COMMANDS = ("validate", "show", "rules", "trace", "run", "dns", "env", "demo")


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; the house rule for bad input is exit 1."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kube-netsim",
        description="Simulate Kubernetes Service networking: kube-proxy rules, netfilter, DNS.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    for name in COMMANDS:
        mod = importlib.import_module(f"sim.commands.{name}")
        help_text = getattr(mod, "HELP", "")
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except SimError as exc:
        # One "error:" line per problem (a ValidationError holds one per field).
        for line in str(exc).splitlines() or [""]:
            print(f"error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
