"""Fixtures for tests that need real servers: PostgreSQL, a browser, a live HTTP server.

Bring them into a conftest by importing them by name (``from tests._servers import browser,
...  # noqa: F401``), or into a test module by binding them (``browser = _servers.browser``:
ruff's F811 flags a test argument named like an imported fixture). ``pytest_plugins =
["tests._servers"]`` works only in tests/conftest.py, and warns if the module was imported
before.

- ``postgres_url`` (session): the SQLAlchemy URL of the test PostgreSQL server, from
  ``OPENBUREAU_TEST_POSTGRES_URL`` (``make test`` starts the server and sets it).
- ``postgres_db_url`` (function): the URL of a fresh, empty database on that server, created
  for the test and dropped after it.
- ``chromium_path`` (session): Debian's chromium (``OPENBUREAU_CHROMIUM`` overrides).
- ``browser`` (session): a headless Playwright Browser on that chromium.
- ``page`` (function): a new page in its own browser context, closed after the test.
- ``serve_in_thread(app)``: a context manager that serves an ASGI app with uvicorn on
  127.0.0.1 in a background thread and yields its base URL; ``live_server`` (function) is
  the same as a fixture: ``base_url = live_server(app)``, stopped after the test.

A missing service skips the test, unless ``OPENBUREAU_REQUIRE_SERVICES=1`` (CI sets it):
then it fails, so that CI never passes by skipping the browser and store tests.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page
    from sqlalchemy.engine import URL

POSTGRES_URL_ENV = "OPENBUREAU_TEST_POSTGRES_URL"
CHROMIUM_ENV = "OPENBUREAU_CHROMIUM"
REQUIRE_ENV = "OPENBUREAU_REQUIRE_SERVICES"
DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Without the background-networking flags chromium keeps trying to reach Google's hosts,
# which a closed network refuses, many connections at a time.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def services_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0", "false", "no")


def missing_service(reason: str) -> NoReturn:
    """Skip the test, or fail it when the services are required (CI)."""
    if services_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: the service is required)", pytrace=False)
    pytest.skip(reason)


# --- PostgreSQL -------------------------------------------------------------------------


def _conninfo(url: URL, database: str | None = None) -> str:
    """A libpq connection string for psycopg from a SQLAlchemy URL."""
    from psycopg.conninfo import make_conninfo

    params: dict[str, Any] = {}
    for key, value in url.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    if url.host:
        params["host"] = url.host
    if url.port:
        params["port"] = url.port
    if url.username:
        params["user"] = url.username
    if url.password:
        params["password"] = url.password
    params["dbname"] = database or url.database or "postgres"
    params.setdefault("connect_timeout", 10)
    return make_conninfo(**params)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The SQLAlchemy URL of the test PostgreSQL server (its maintenance database)."""
    raw = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not raw:
        missing_service(
            f"no PostgreSQL server: {POSTGRES_URL_ENV} is not set "
            "(`make pg-start` starts one; `make test` sets it)"
        )
    try:
        import psycopg
        from sqlalchemy.engine import make_url
    except ImportError as exc:  # pragma: no cover - the dev extra has both
        missing_service(f"PostgreSQL tests need psycopg and SQLAlchemy: {exc}")
    url = make_url(raw)
    if url.get_backend_name() != "postgresql":
        pytest.fail(f"{POSTGRES_URL_ENV}={raw!r} is not a PostgreSQL URL", pytrace=False)
    try:
        with psycopg.connect(_conninfo(url), autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        # The URL was given, so the server is wanted: an unreachable one is an error.
        pytest.fail(
            f"cannot connect to the PostgreSQL server at {POSTGRES_URL_ENV}="
            f"{url.render_as_string(hide_password=True)} (is it running? `make pg-start`): "
            f"{exc}",
            pytrace=False,
        )
    return url.render_as_string(hide_password=False)


@pytest.fixture
def postgres_db_url(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database for this test; dropped after it (even if connections stay)."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    name = f"ob_test_{secrets.token_hex(6)}"
    admin = _conninfo(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        # template0: nobody is ever connected to it, unlike template1, so creation cannot
        # fail on a concurrent session there.
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(name)
            )
        )
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# --- Chromium through Playwright --------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium: $OPENBUREAU_CHROMIUM, else /usr/bin/chromium, else on PATH."""
    override = os.environ.get(CHROMIUM_ENV, "").strip()
    if override:
        if not (Path(override).is_file() and os.access(override, os.X_OK)):
            pytest.fail(f"{CHROMIUM_ENV}={override!r} is not an executable file", pytrace=False)
        return override
    if Path(DEFAULT_CHROMIUM).is_file() and os.access(DEFAULT_CHROMIUM, os.X_OK):
        return DEFAULT_CHROMIUM
    found = shutil.which("chromium")
    if found:
        return found
    missing_service(
        f"no chromium: {DEFAULT_CHROMIUM} is missing and {CHROMIUM_ENV} is not set "
        "(`make system-packages` installs Debian's chromium)"
    )


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Browser]:
    """A headless chromium driven by Playwright's sync API, shared by the session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - the dev extra has it
        missing_service(f"browser tests need playwright: {exc}")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh browser context (own cookies and storage), closed after the test."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


# --- A live HTTP server -----------------------------------------------------------------


@contextmanager
def serve_in_thread(app: Any, *, host: str = "127.0.0.1", timeout: float = 15.0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a background thread; yield its base URL.

    The socket is bound before the server starts (to a free port chosen by the kernel), so
    there is no race for the port. Returns once the server accepts connections; stops it on
    exit.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="auto")
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the test server on port {port} stopped while starting") from (
                    failure[0] if failure else None
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"the test server on port {port} did not start in {timeout}s")
            time.sleep(0.02)
        with socket.create_connection((host, port), timeout=timeout):
            pass
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
        if thread.is_alive():  # pragma: no cover - a hung shutdown
            server.force_exit = True
            thread.join(5)


@pytest.fixture
def live_server() -> Iterator[Callable[[Any], str]]:
    """``live_server(app)`` serves the app until the end of the test and returns its URL."""
    with ExitStack() as stack:

        def start(app: Any) -> str:
            return stack.enter_context(serve_in_thread(app))

        yield start
