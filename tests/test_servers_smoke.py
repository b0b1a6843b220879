"""The real-server fixtures work: chromium through Playwright against a live app, and a
fresh PostgreSQL database per test. Skipped without the services, except under
OPENBUREAU_REQUIRE_SERVICES=1 (CI), where a missing service fails."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from tests._servers import serve_in_thread

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# Fixtures (browser, live_server, postgres_db_url, ...) come from tests/conftest.py: one
# browser per session, since Playwright's sync API cannot start twice in one thread.

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>openbureau smoke</title></head>
<body>
  <h1 id="status">Waiting</h1>
  <button id="go" onclick="document.getElementById('status').textContent = 'Clicked'">
    Go
  </button>
</body></html>
"""


def smoke_app() -> FastAPI:
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return PAGE

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def test_serve_in_thread_answers_and_stops() -> None:
    with (
        serve_in_thread(smoke_app()) as base_url,
        urllib.request.urlopen(f"{base_url}/health", timeout=10) as response,
    ):
        assert response.status == 200
        assert response.read() == b'{"status":"ok"}'
    # Stopped: the port no longer answers.
    try:
        urllib.request.urlopen(f"{base_url}/health", timeout=2)
    except OSError:
        pass
    else:
        raise AssertionError("the server still answers after the context closed")


def test_browser_clicks_and_screenshots(
    browser: Browser, live_server: Callable[[FastAPI], str], tmp_path: Path
) -> None:
    base_url = live_server(smoke_app())
    context = browser.new_context(viewport={"width": 640, "height": 360})
    try:
        page = context.new_page()
        page.goto(base_url + "/")
        assert page.title() == "openbureau smoke"
        assert page.text_content("#status") == "Waiting"
        page.click("#go")
        page.wait_for_function(
            "document.getElementById('status').textContent === 'Clicked'", timeout=5000
        )
        assert page.inner_text("#status") == "Clicked"
        shot = tmp_path / "smoke.png"
        page.screenshot(path=str(shot))
    finally:
        context.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 1000


def test_postgres_fresh_database(postgres_db_url: str) -> None:
    from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select

    metadata = MetaData()
    things = Table(
        "things",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(50), nullable=False),
    )
    engine = create_engine(postgres_db_url)
    try:
        with engine.begin() as conn:
            assert conn.dialect.name == "postgresql"
            # Fresh and empty: no tables of ours yet.
            assert (
                conn.exec_driver_sql(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                ).scalar_one()
                == 0
            )
            metadata.create_all(conn)
            conn.execute(things.insert(), [{"name": "alpha"}, {"name": "beta"}])
        with engine.connect() as conn:
            rows = conn.execute(select(things.c.name).order_by(things.c.id)).scalars().all()
            assert rows == ["alpha", "beta"]
            assert (
                conn.exec_driver_sql("SELECT current_database()")
                .scalar_one()
                .startswith("ob_test_")
            )
    finally:
        engine.dispose()


def test_postgres_databases_are_isolated(postgres_db_url: str, postgres_url: str) -> None:
    """Each test gets its own database: the table made by the test above is not here."""
    from sqlalchemy import create_engine, inspect

    engine = create_engine(postgres_db_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    assert postgres_db_url != postgres_url
