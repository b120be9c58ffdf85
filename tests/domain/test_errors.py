"""The error tree: distinct exit codes, and docs/exit-codes.md says exactly what the code does."""

from __future__ import annotations

from pathlib import Path

from consentry.domain.errors import ConsentryError, all_error_classes

DOC = Path(__file__).resolve().parents[2] / "docs" / "exit-codes.md"


def exit_code_table() -> str:
    rows = ["| exit code | HTTP status | error | code | meaning |", "|---|---|---|---|---|"]
    for cls in sorted(all_error_classes(), key=lambda c: c.exit_code):
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        rows.append(
            f"| {cls.exit_code} | {cls.http_status} | `{cls.__name__}` | `{cls.code}` | {doc} |"
        )
    return "\n".join(rows) + "\n"


def test_every_error_class_has_its_own_exit_code_and_code() -> None:
    classes = [c for c in all_error_classes() if c is not ConsentryError]
    assert len({c.exit_code for c in classes}) == len(classes)
    assert len({c.code for c in classes}) == len(classes)
    reserved = {0, 2, 5}  # success, click usage errors, `check` denied
    assert not reserved & {c.exit_code for c in all_error_classes()}


def test_the_exit_code_document_is_current() -> None:
    text = DOC.read_text("utf-8")
    assert exit_code_table() in text, "regenerate the table in docs/exit-codes.md"
