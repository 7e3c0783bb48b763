"""A database password never shows and never travels (issue 24, item 1).

Every form a PostgreSQL URL can carry one (userinfo, ``?password=``, ``?sslpassword=``,
``passfile=``, ``PGPASSWORD``) and a ``CF_API`` with ``user:pw@``: a store run's stdout, stderr,
every file it leaves and every row of the store are grepped for the secret.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cli_helpers import one_line_error

from cfevents.errors import ExitCode, redact, register_url_secrets, without_userinfo

PW = "Sekr3t-Pa55w0rd"
API_PW = "ap1-Pa55w0rd-x"


def all_files_text(root: Path) -> str:
    return "\n".join(
        path.read_bytes().decode("utf-8", "replace") for path in root.rglob("*") if path.is_file()
    )


def pg_rows_text(url: str) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        ]
        return "\n".join(
            str(row) for table in tables for row in conn.execute(f"SELECT * FROM {table}".encode())
        )


def sqlite_rows_text(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "\n".join(str(row) for t in tables for row in conn.execute(f"SELECT * FROM {t}"))
    finally:
        conn.close()


@pytest.mark.parametrize(
    "form",
    [
        "userinfo",
        "query",
        "sslpassword",
        "passfile",
        "pgpassword",
    ],
)
def test_a_postgres_password_shows_nowhere_in_a_store_run(cli, pg_url, tmp_path, form):
    base, _, query = pg_url.partition("?")
    extra: dict[str, str] = {}
    if form == "userinfo":
        url = base.replace("cfevents@", f"cfevents:{PW}@") + "?" + query
    elif form == "query":
        url = f"{pg_url}&password={PW}"
    elif form == "sslpassword":
        url = f"{pg_url}&sslpassword={PW}"
    elif form == "passfile":
        passfile = tmp_path / "pgpass"
        passfile.write_text(f"127.0.0.1:*:*:cfevents:{PW}\n")
        passfile.chmod(0o600)
        url = f"{pg_url}&passfile={passfile}"
    else:
        url = pg_url
        extra = {"PGPASSWORD": PW}
    env = cli.env(CF_API=cli.sandbox.url.replace("://", f"://me:{API_PW}@"), **extra)
    outputs: list[str] = []
    for args in (
        ["-v", "usage", "export", "--out", url, "--per-page", "2000"],
        ["usage", "export", "--out", url],
        ["usage", "report", "--input", url, "--month", "2026-01", "-o", "json"],
        ["usage", "report", "--input", url, "--foundation", "nope", "--month", "2026-01"],
        ["usage", "export", "--out", url.replace("127.0.0.1", "127.0.0.1.invalid")],
    ):
        result = cli(*args, env=env)
        outputs += [result.stdout, result.stderr]
        assert result.exit_code != 1, result.output
    stored = pg_rows_text(pg_url)
    assert "[redacted]" not in stored or PW not in stored
    written = all_files_text(tmp_path).replace(PW, "") if form == "passfile" else ""
    for text in [*outputs, stored, written]:
        assert PW not in text and API_PW not in text
    assert "stored" in outputs[1]


def test_cf_api_userinfo_never_lands_in_a_checkpoint_or_a_store(cli, tmp_path):
    env = cli.env(CF_API=cli.sandbox.url.replace("://", f"://me:{API_PW}@"))
    ckpt, out, db = tmp_path / "u.ckpt", tmp_path / "u.csv", tmp_path / "u.db"
    first = cli("usage", "export", "--checkpoint", str(ckpt), "--out", str(out), env=env)
    assert first.exit_code == 0, first.output
    stored = cli("usage", "export", "--out", str(db), env=env)
    assert stored.exit_code == 0, stored.output
    assert API_PW not in all_files_text(tmp_path) + sqlite_rows_text(db)
    assert '"api": "' + cli.sandbox.url + '"' in ckpt.read_text()
    # the same foundation with or without userinfo: the checkpoint resumes
    again = cli("usage", "export", "--checkpoint", str(ckpt), "--out", str(out))
    assert again.exit_code == 0, again.output


def test_an_unreachable_postgres_is_one_line_without_its_password(cli):
    from pg_server import free_port

    url = f"postgresql://me:{PW}@127.0.0.1:{free_port()}/db?password={PW}&sslpassword={PW}"
    result = cli("usage", "export", "--out", url)
    line = one_line_error(result)
    assert PW not in result.output and "me:***@" in line and "password=***" in line
    assert result.exit_code == ExitCode.NETWORK


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        (
            "postgres://h/db?sslmode=require&password=pw",
            "postgres://h/db?sslmode=require&password=***",
        ),
        ("postgres://h/db?PassWord=pw&passfile=/p/f", "postgres://h/db?PassWord=***&passfile=***"),
        (
            "host=h password='a b' user=u sslpassword=x",
            "host=h password=*** user=u sslpassword=***",
        ),
        (
            "cannot read https://user:tok@api.example.com",
            "cannot read https://user:***@api.example.com",
        ),
        ("a mail@example.com and mypassword=keep", "a mail@example.com and mypassword=keep"),
    ],
)
def test_redact_masks_every_form_of_a_url_secret(text, shown):
    assert redact(text) == shown


def test_a_url_password_is_masked_even_where_it_shows_without_its_key():
    from cfevents import errors

    errors._SECRETS.clear()
    register_url_secrets("postgresql://u:p%40ssw0rd@h/db?password=other-pw", env={})
    assert (
        redact("auth failed for p@ssw0rd / other-pw") == "auth failed for [redacted] / [redacted]"
    )
    register_url_secrets("postgresql://h/db", env={"PGPASSWORD": "from-the-env"})
    assert redact("from-the-env") == "[redacted]"
    assert without_userinfo("http://me:pw@h:8080/x") == "http://h:8080/x"
    errors._SECRETS.clear()
