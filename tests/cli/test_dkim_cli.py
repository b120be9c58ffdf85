"""``consentry dkim keygen`` and ``dkim show``, run through a click group built here the way
``consentry.cli.main`` builds its own (settings in ``ctx.obj``), and the printed TXT record used to
verify a signature with dkimpy."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import click
import dkim
import pytest
from click.testing import CliRunner, Result

from consentry.cli import dkim_cmds
from consentry.domain.errors import InputError, KeyMaterialError, SetupError
from consentry.keys.dkim_keys import load_dkim_keys
from consentry.keys.ring import FileKeyRing
from consentry.mail.dkim import DKIMSigner
from consentry.settings import load_settings


@click.group()
@click.option("--home", required=True)
@click.pass_context
def cli(ctx: click.Context, home: str) -> None:
    ctx.obj = load_settings({}, home=home, database="memory:")


dkim_cmds.register(cli)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    FileKeyRing.create(home, "consentry.local/test")
    return home


def run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--home", str(home), "dkim", *args])


def quoted(output: str) -> list[str]:
    line = next(line for line in output.splitlines() if " IN TXT " in line)
    return re.findall(r'"([^"]*)"', line)


def test_keygen_rsa_prints_the_record_in_255_octet_strings(home: Path) -> None:
    result = run(home, "keygen", "--domain", "Example.COM", "--selector", "cs2026")
    assert result.exit_code == 0, result.output
    assert "cs2026._domainkey.example.com. IN TXT " in result.output
    parts = quoted(result.output)
    assert len(parts) == 2 and all(len(part) <= 255 for part in parts)
    assert "".join(parts).startswith("v=DKIM1; k=rsa; p=MIIBIjAN")
    pem = home / "keys" / "dkim" / "example.com" / "cs2026.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600


def test_keygen_ed25519_and_bits(home: Path) -> None:
    result = run(home, "keygen", "--domain", "example.com", "--selector", "ed",
                 "--algorithm", "ed25519-sha256")  # fmt: skip
    assert result.exit_code == 0, result.output
    (value,) = quoted(result.output)
    assert value.startswith("v=DKIM1; k=ed25519; p=")
    big = run(home, "keygen", "--domain", "example.com", "--selector", "big", "--bits", "3072")
    assert big.exit_code == 0, big.output
    assert len("".join(quoted(big.output))) > 500


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (["--bits", "1024"], InputError, "2048"),
        (["--algorithm", "ed25519-sha256", "--bits", "4096"], InputError, "RSA keys only"),
        (["--selector", "a/b"], InputError, "selector"),
    ],
)
def test_keygen_refuses_bad_options(
    home: Path, args: list[str], error: type[Exception], match: str
) -> None:
    result = run(home, "keygen", "--domain", "example.com", "--selector", "s", *args)
    assert isinstance(result.exception, error)
    assert re.search(match, str(result.exception))
    assert not (home / "keys" / "dkim" / "example.com" / "s.pem").exists()


def test_keygen_never_overwrites(home: Path) -> None:
    assert run(home, "keygen", "--domain", "example.com", "--selector", "s1").exit_code == 0
    pem = home / "keys" / "dkim" / "example.com" / "s1.pem"
    before = pem.read_bytes()
    again = run(home, "keygen", "--domain", "EXAMPLE.com", "--selector", "s1")
    assert isinstance(again.exception, KeyMaterialError)
    assert str(pem) in str(again.exception)
    assert pem.read_bytes() == before


def test_keygen_needs_init(tmp_path: Path) -> None:
    result = run(tmp_path / "new", "keygen", "--domain", "example.com", "--selector", "s1")
    assert isinstance(result.exception, SetupError)
    assert not (tmp_path / "new").exists()


def test_show_lists_keys_and_records(home: Path) -> None:
    assert "no DKIM keys" in run(home, "show").output
    run(home, "keygen", "--domain", "b.example", "--selector", "s1")
    run(home, "keygen", "--domain", "a.example", "--selector", "ed", "--algorithm",
        "ed25519-sha256")  # fmt: skip
    run(home, "keygen", "--domain", "a.example", "--selector", "rsa")
    shown = run(home, "show")
    assert shown.exit_code == 0, shown.output
    lines = [line.split()[:3] for line in shown.output.splitlines() if not line.startswith(" ")]
    assert lines == [["a.example", "rsa", "rsa-sha256"], ["a.example", "ed", "ed25519-sha256"],
                     ["b.example", "s1", "rsa-sha256"]]  # fmt: skip
    assert shown.output.count(" IN TXT ") == 3
    only = json.loads(run(home, "show", "--domain", "B.EXAMPLE.", "--json").output)
    assert [(row["domain"], row["selector"]) for row in only] == [("b.example", "s1")]
    row = only[0]
    assert row["name"] == "s1._domainkey.b.example."
    assert "".join(row["txt"]) == row["value"] and row["file"].endswith("s1.pem")
    assert "no DKIM keys for c.example" in run(home, "show", "--domain", "c.example").output


def test_published_record_verifies_a_signature(home: Path) -> None:
    keygen = run(home, "keygen", "--domain", "news.example", "--selector", "cs1")
    record = "".join(quoted(keygen.output)).encode()

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"cs1._domainkey.news.example." else None

    message = (
        b"From: News <news@news.example>\r\nTo: a@example.org\r\nSubject: Hello\r\n"
        b"List-Unsubscribe: <https://news.example/u/x>\r\n"
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nHi there.\r\n"
    )
    signed = DKIMSigner(load_dkim_keys(home, "news.example")).sign(message) + message
    assert dkim.verify(signed, dnsfunc=dnsfunc)
