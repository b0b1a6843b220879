"""The auditor's fairness view of the current snapshot (governance/fairness.py).

Approval rates and adverse impact ratios per protected group, at the cut-offs in use: those
lenders used in the decisions the store records, and those ``[model_risk]`` configures. A
current snapshot has no outcomes yet (defaults happen in the months after it), so AUC and
default rates by band are left to the model report, on held-out persons with outcomes.
Groups are read from the audit store on record, as done by the auditor.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy import func, select

from openbureau.errors import UserError
from openbureau.service.api import report_path
from openbureau.service.auth import Principal
from openbureau.service.context import ServiceContext
from openbureau.service.deps import AuditorUser, Ctx, Snapshot
from openbureau.service.pages import render
from openbureau.service.serving import Published
from openbureau.service.store import Lookup
from openbureau.workspace import Workspace

router = APIRouter(include_in_schema=False)

MAX_USED = 6  # lenders' own cut-offs shown besides the configured ones (most used first)


def cutoffs_in_use(ctx: ServiceContext, configured: list[int]) -> tuple[dict[int, str], str]:
    """Cut-off -> where it comes from (configured, used in N decisions), and a note on the
    lenders' cut-offs left out (the least used, past :data:`MAX_USED`)."""
    with ctx.store() as session:
        rows = session.execute(
            select(Lookup.cutoff, func.count())
            .where(Lookup.cutoff.is_not(None), Lookup.decision.is_not(None))
            .group_by(Lookup.cutoff)
            .order_by(func.count().desc(), Lookup.cutoff)
        ).all()
    used = [(int(c), int(n)) for c, n in rows if c is not None]
    sources = {c: "configured ([model_risk] fairness_cutoffs)" for c in configured}
    shown = [(c, n) for c, n in used if c not in sources][:MAX_USED]
    for c, n in used:
        if c in sources:
            sources[c] = f"configured, and used in {n:,} lender decision(s)"
    sources |= {c: f"used in {n:,} lender decision(s)" for c, n in shown}
    rest = [(c, n) for c, n in used if c not in sources]
    note = (
        f"{len(rest)} other cut-off(s) used in {sum(n for _, n in rest):,} decision(s) "
        "are not shown."
        if rest
        else ""
    )
    return dict(sorted(sources.items())), note


def _snapshot_scores(pub: Published) -> Any:
    """The snapshot's scores by person (float, NaN where unscorable), with the persons
    rescored since (a dispute's resolution) laid over."""
    import pandas as pd

    if pub.scores is None:
        pub.load_scores()
    assert pub.scores is not None
    cols = [c for c in ("score", "alt_score") if c in pub.scores.column_names]
    frame = pub.scores.select(["person_id", *cols]).to_pandas().set_index("person_id")
    if pub.overlay:
        over = pd.DataFrame.from_dict(
            {pid: {c: row.get(c) for c in cols} for pid, row in pub.overlay.items()},
            orient="index",
        )
        frame = pd.concat([frame.drop(over.index, errors="ignore"), over])
    return frame.astype(float)


def fairness_view(ctx: ServiceContext, pub: Published, who: Principal) -> dict[str, Any]:
    """What the page shows; the read of attributes is in the audit log as by ``who``."""
    from openbureau.governance import _fairness_html, fairness
    from openbureau.governance.protected_attributes import attributes_loaded, read_attributes

    ws = Workspace.open(ctx.config.workspace)
    mr = ws.settings.model_risk
    cutoffs, left_out = cutoffs_in_use(ctx, list(mr.fairness_cutoffs))
    view: dict[str, Any] = {"cutoffs": cutoffs, "left_out": left_out, "body": None}
    if not attributes_loaded(ws):
        view["why_not"] = fairness.NOT_LOADED
        return view

    def log(**entry: Any) -> None:
        ctx.audit(
            who,
            entry["action"],
            purpose=entry["purpose"],
            outcome=entry["outcome"],
            detail=entry["detail"],
        )

    attributes = read_attributes(
        ws, actor=who.username, purpose=fairness.PURPOSE, actor_role=who.role, log=log
    )
    frame = _snapshot_scores(pub)
    # (what the scorecards give, not what each lender was served: that depends on each
    # person's consent at the time; the alternative column is as if everyone with alternative
    # data had consented)
    scores = {"core (credit data)": frame["score"].to_numpy()}
    if "alt_score" in frame and frame["alt_score"].notna().any():
        scores["with alternative data, if all consented"] = frame["alt_score"].to_numpy()
    result = fairness.assess(
        attributes,
        list(frame.index),
        scores,
        list(cutoffs),
        min_persons=mr.fairness_min_group,
        sample=f"the {len(frame):,} persons of snapshot {pub.snapshot_id} (as of {pub.as_of})",
    )
    view["body"] = Markup(_fairness_html.body_html(result))
    return view


@router.get("/auditor/fairness")
def auditor_fairness(request: Request, who: AuditorUser, ctx: Ctx, pub: Snapshot) -> Response:
    """Approval rates and adverse impact ratios per protected group, current snapshot."""
    try:
        view = fairness_view(ctx, pub, who)
    except ImportError as exc:  # fairlearn and pandas are the `train` extra
        raise UserError(
            f"the fairness view needs the train extra ({exc.name} is missing): "
            "pip install 'openbureau[train]'"
        ) from exc
    return render(
        request,
        "auditor_fairness.html",
        me=who,
        pub=pub,
        has_report=bool(report_path(ctx, pub.card.version)),
        **view,
    )
