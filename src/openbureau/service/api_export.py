"""A person's export of their file: ``GET /api/v1/me/export`` (JSON, docs/export.schema.json)
and ``/me/export`` (the same as a printable page). A person exports only their own file (the
routes are ``/me`` only); each export is audited as the person's own action, before it is
built, so the export lists its own read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from openbureau.engine import DuckDBEngine
from openbureau.errors import UserError
from openbureau.service import views
from openbureau.service.api import ERRORS
from openbureau.service.auth import Principal
from openbureau.service.context import ServiceContext
from openbureau.service.deps import Ctx, PersonUser, Snapshot
from openbureau.service.errors import ApiError
from openbureau.service.export import EXPORT_ACTION, Held, build_export, find_person
from openbureau.service.export_schema import FileExport
from openbureau.service.serving import Published

router = APIRouter(prefix="/api/v1", responses=ERRORS)
pages = APIRouter(include_in_schema=False)
HERE = Path(__file__).parent


def my_export(ctx: ServiceContext, pub: Published, who: Principal, as_what: str) -> dict[str, Any]:
    """The person's export from the published snapshot and the store, audited (``as_what``:
    json or html)."""
    pid = views.own_id(pub, who.person_id)
    cur = pub.cursor()
    try:
        engine = DuckDBEngine.wrap(cur)
        try:
            found = find_person(engine, pid)
        except UserError:
            ctx.audit(
                who,
                EXPORT_ACTION,
                subject=pid,
                purpose="consumer_request",
                outcome="not_found",
                detail=f"as {as_what}",
            )
            raise ApiError(
                404, "no_file", f"person {pid} is not in snapshot {pub.snapshot_id}"
            ) from None
        ctx.audit(
            who, EXPORT_ACTION, subject=pid, purpose="consumer_request", detail=f"as {as_what}"
        )
        return build_export(
            Held(engine, ctx.store, found),
            source={
                "kind": "published_snapshot",
                "snapshot_id": pub.snapshot_id,
                "as_of": pub.as_of,
            },
            bureau={"name": ctx.config.bureau_name, "contact": ctx.config.bureau_contact},
        )
    finally:
        cur.close()


@router.get("/me/export", response_model=FileExport, tags=["person"])
def my_export_json(who: PersonUser, ctx: Ctx, pub: Snapshot) -> dict[str, Any]:
    """Everything the bureau holds on me (docs/export.schema.json): every record from every
    furnisher with its versions and batches, the identities linked into my file and why, every
    score with its reasons, my statements, adverse-action notices, and every read of my file
    with reader and purpose. Logged as my own read."""
    return my_export(ctx, pub, who, "json")


@pages.get("/me/export")
def my_export_page(request: Request, who: PersonUser, ctx: Ctx, pub: Snapshot) -> Response:
    """The export as a printable page (print it, or save it as a PDF)."""
    export = my_export(ctx, pub, who, "html")
    return HTMLResponse(render_export(export, standalone=False))


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def render_export(export: dict[str, Any], *, standalone: bool) -> str:
    """The export as one HTML page; ``standalone``: its styles inline (a file handed over on
    its own, as `openbureau export-file --format html` writes), else linked from /static."""
    css = (
        "\n".join(
            (HERE / "static" / n).read_text(encoding="utf-8") for n in ("style.css", "print.css")
        )
        if standalone
        else None
    )
    return _env.get_template("export.html").render(x=export, inline_css=css)
