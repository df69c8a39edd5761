"""The benchmark's databases on DATABASE_URL's server: the run's own (``oracode_bench``) and
those a scenario makes beside it (a size each). Plain functions on a URL, so ``bench/run.py``
can use them before Django is set up."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from django.db import connections


def database_url(url: str, name: str) -> str:
    """``url`` with database ``name`` (same server)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def named_after(url: str, suffix: str) -> str:
    """A scenario's own database: the name of ``url``'s, with ``suffix``."""
    return f"{urlsplit(url).path.strip('/')}_{suffix}"


def admin_sql(url: str, statement: str) -> None:
    """``statement`` on the maintenance database of ``url``'s server (CREATE and DROP DATABASE)."""
    import psycopg

    with psycopg.connect(database_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(statement)


def create_database(url: str, name: str, *, template: str = "") -> None:
    """A new database ``name``, empty or a copy of ``template`` (which must have no connections)."""
    copy = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
    admin_sql(url, f'CREATE DATABASE "{name}"{copy}')


def drop_databases(url: str, names: Iterable[str]) -> None:
    for name in names:
        admin_sql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def on_database(name: str) -> Iterator[None]:
    """This process's default database is ``name`` (same server) inside the block; the
    connection is closed on the way in and out (so the first query inside connects)."""
    wrapper = connections["default"]
    before = wrapper.settings_dict["NAME"]
    wrapper.close()
    wrapper.settings_dict["NAME"] = name
    try:
        yield
    finally:
        wrapper.close()
        wrapper.settings_dict["NAME"] = before
