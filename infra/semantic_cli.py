"""`soul semantic audit|unlink`: the operator's view of semantic merges (shared/keylinks.py, docs/SEMANTIC.md)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from shared.config import Settings

BACKENDS = ["local", "emulators"]
BACKEND_HELP = "local: SQLite under SOUL_DATA_DIR (default); emulators: the Firestore emulator"


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from shared import keylinks
    from shared.bootstrap import build_backend

    links = keylinks.audit(build_backend(settings).store, limit=args.limit)
    print(f"{len(links)} semantic merge(s), lowest score first (unlink with `soul semantic unlink PK`)")
    for link in links:
        print(f"{link.score:.3f}  {link.pk}  {link.text!r} -> {link.target_text!r}  [{link.kind}]  {link.policy}")
    return 0


def cmd_unlink(args: argparse.Namespace, settings: Settings) -> int:
    from shared import keylinks
    from shared.bootstrap import build_backend
    from shared.errors import NotFound

    backend = build_backend(settings)
    try:
        link = keylinks.unlink(backend.store, args.pk, by="cli", now=backend.clock.now())
    except NotFound as exc:
        print(exc)
        return 1
    print(f"unlinked {link.pk} ({link.text!r} no longer served as {link.target_text!r}); its next request generates")
    return 0


def add_parser(sub: argparse._SubParsersAction, settings_of: Callable[[argparse.Namespace], Settings]) -> None:  # type: ignore[type-arg]
    sem = sub.add_parser("semantic", help="audit or undo semantic-cache merges")
    what = sem.add_subparsers(dest="action", required=True, help="audit: list merges; unlink: undo one")
    audit = what.add_parser("audit", help="list merged keys, lowest score first, with what differs")
    audit.add_argument("--limit", type=int, default=100, help="at most this many (default: %(default)s)")
    audit.add_argument("--backend", choices=BACKENDS, default="local", help=BACKEND_HELP)
    audit.set_defaults(fn=lambda a: cmd_audit(a, settings_of(a)))
    unlink = what.add_parser("unlink", help="undo one merge: the key generates its own variant next time")
    unlink.add_argument("pk", help="the merged key (from `soul semantic audit`)")
    unlink.add_argument("--backend", choices=BACKENDS, default="local", help=BACKEND_HELP)
    unlink.set_defaults(fn=lambda a: cmd_unlink(a, settings_of(a)))
