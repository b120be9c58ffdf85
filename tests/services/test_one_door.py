"""R9 / invariant 1, as a static check: the mail transport is built only by bootstrap, handed
only to the dispatcher, and only the dispatcher calls it."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "consentry"
TRANSPORT_MODULES = {"consentry.mail.smtp", "consentry.mail.smtp_pool", "consentry.mail.outbox",
                     "consentry.mail.smtp_wire"}  # fmt: skip


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(("consentry", *path.relative_to(SRC).with_suffix("").parts))
        out[name.removesuffix(".__init__")] = ast.parse(path.read_text("utf-8"))
    return out


def _imports(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_nothing_but_the_mail_package_and_bootstrap_imports_a_transport() -> None:
    for name, tree in _modules().items():
        imported = _imports(tree)
        assert "smtplib" not in imported, f"{name} imports smtplib: use the dispatcher"
        if name.startswith("consentry.mail") or name == "consentry.bootstrap":
            continue
        assert not imported & TRANSPORT_MODULES, f"{name} imports a mail transport"


def test_only_the_dispatcher_calls_a_transport() -> None:
    callers = set()
    for name, tree in _modules().items():
        if name.startswith("consentry.mail"):
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "send"
                and "transport" in ast.unparse(node.func.value)
            ):
                callers.add(name)
    assert callers == {"consentry.services.dispatch"}


def test_the_cli_hands_the_transport_straight_to_the_dispatcher() -> None:
    tree = _modules()["consentry.cli.campaign_cmds"]
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "open_transport" in names and "send_campaign" in names
    assert "send" not in {
        n.func.attr for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    }  # fmt: skip
