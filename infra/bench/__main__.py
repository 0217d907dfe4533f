"""`python -m infra.bench requests|trace|semantic|viral [options]`."""

from __future__ import annotations

import sys

from infra.bench import requests, semantic, trace, viral


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    commands = {"requests": requests.main, "trace": trace.main, "semantic": semantic.main, "viral": viral.main}
    if not args or args[0] not in commands:
        print("usage: python -m infra.bench requests|trace|semantic|viral [--help]", file=sys.stderr)
        return 2
    return commands[args[0]](args[1:])


if __name__ == "__main__":
    sys.exit(main())
