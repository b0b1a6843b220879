"""A person's own file shows who the bureau's records say they are, and how the file was linked.

Checked against the warehouse the snapshot was published from, through the API and the page.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from openbureau.service.api import ELSEWHERE
from openbureau.service.merkle import verify_inclusion
from tests.service.conftest import PASSWORD, Served, Service, own_workspace, post_login

IDENTITY_SQL = """
    SELECT r.identity_id, b.furnisher, r.first_name, r.last_name, r.dob::VARCHAR AS dob,
           r.national_id_token IS NOT NULL AS national_id,
           (SELECT min(record_id) FROM identity_record_map m
            WHERE m.identity_id = r.identity_id) AS first_record_id,
           (SELECT count(*) FROM identity_record_map m
            WHERE m.identity_id = r.identity_id) AS rows,
           b.loaded_at::DATE::VARCHAR AS first_reported, r.national_id_token
    FROM person_index p JOIN identity_records r USING (identity_id)
    JOIN ingest_batches b ON b.batch_id = r.first_batch_id
    WHERE p.person_id = ?"""


def _expected(ws: Path, person_id: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        cur = con.execute(IDENTITY_SQL, [person_id])
        cols = [d[0] for d in cur.description or []]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _log_in(client: TestClient, username: str) -> None:
    """Log ``client`` in as ``username`` (and no one else)."""
    client.cookies.clear()
    r = post_login(client, username, PASSWORD)
    assert r.status_code == 303, r.text


def _key(r: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        str(r[k])
        for k in (
            "identity_id",
            "furnisher",
            "first_name",
            "last_name",
            "dob",
            "national_id",
            "rows",
            "first_reported",
        )
    )


def test_a_persons_file_shows_each_identity_reported_for_them_and_no_one_elses(
    service: Service,
) -> None:
    c = service.login("pat")
    r = c.get("/api/v1/me/file")
    assert r.status_code == 200, r.text
    body = r.json()
    mine = _expected(service.served.ws, body["person_id"])
    theirs = _expected(service.served.ws, service.served.other)
    assert len(mine) >= 2 and theirs  # (a file linked from several records)
    got = body["identity"]["records"]
    assert sorted(map(_key, got)) == sorted(map(_key, mine))
    page = c.get("/me/file").text
    card = page.split('id="identity"')[1].split('<div class="card furnisher">')[0]
    assert "Personal information" in card
    for record in mine:
        assert record["identity_id"] in card and record["furnisher"] in card
        assert record["last_name"] in card
    for record in theirs:
        assert record["identity_id"] not in r.text and record["identity_id"] not in page
    # a national ID is said to be held, never shown, not even as its token
    tokens = [t["national_id_token"] for t in mine + theirs if t["national_id_token"]]
    assert any(t["national_id"] for t in got) and tokens
    assert "on file (not shown)" in card
    for token in tokens:
        assert token not in r.text and token not in page
    assert all(
        h["person_id"] == body["person_id"]
        for h in body["identity"]["history"]
        if h["event"] == "new"
    )


def test_a_wrong_merge_undone_gives_each_person_their_own_file_and_no_other_id(
    service: Service, tmp_path: Path
) -> None:
    """Two persons' files merged by a forced link, then forced apart (a dispute about a mixed
    file): each person's account is back on their own file, identities and all, and each sees
    the merge and the split without the other's ID or file size."""
    from openbureau.cli import app as cli
    from openbureau.service.app import create_app
    from openbureau.service.auth import create_account
    from openbureau.service.store import open_store

    ws = Path(shutil.copytree(service.served.ws, tmp_path / "ws"))
    mine, theirs = service.served.person, service.served.other
    before = {pid: _expected(ws, pid) for pid in (mine, theirs)}
    a, b = (min(r["first_record_id"] for r in before[pid]) for pid in (mine, theirs))
    runner = CliRunner()
    for args in (
        ["link", "--force-link", a, b],
        ["link", "--force-split", a, b],
        ["score", "--as-of", "2025-12-31"],
    ):
        res = runner.invoke(cli, [*args, "-w", str(ws)], catch_exceptions=False)
        assert res.exit_code == 0, res.output
    url = f"sqlite:///{tmp_path / 'own-store.sqlite'}"
    with open_store(url)() as session:
        for pid in (mine, theirs):
            create_account(
                session, username=pid.lower(), role="person", password=PASSWORD, person_id=pid
            )
        create_account(session, username="audrey", role="auditor", password=PASSWORD)
        session.commit()
    with TestClient(create_app(ws, store_url=url), base_url="https://testserver") as client:
        seen = {}
        for pid in (mine, theirs):
            _log_in(client, pid.lower())
            api = client.get("/api/v1/me/file")
            assert api.status_code == 200, api.text
            seen[pid] = (api.json(), api.text, client.get("/me/file").text)
        # an auditor investigating the dispute sees both files' IDs in the history
        _log_in(client, "audrey")
        audited = client.get(
            f"/api/v1/persons/{mine}/file", params={"purpose": "dispute_investigation"}
        )
        assert audited.status_code == 200, audited.text
        ids = {
            h[k]
            for h in audited.json()["identity"]["history"]
            for k in ("person_id", "other_person_id")
        }
        assert {mine, theirs} <= ids
        assert (
            theirs
            in client.get(
                "/auditor/file", params={"person_id": mine, "purpose": "dispute_investigation"}
            ).text
        )
    for pid, other in ((mine, theirs), (theirs, mine)):
        body, text, page = seen[pid]
        assert body["person_id"] == pid  # the account's ID is active again
        assert sorted(map(_key, body["identity"]["records"])) == sorted(map(_key, before[pid]))
        events = {h["event"]: h for h in body["identity"]["history"]}
        assert {"merge", "split"} <= set(events)
        for h in body["identity"]["history"]:
            assert {h["person_id"], h["other_person_id"]} - {None} <= {pid}
        # the part that is the other person's is not counted either
        assert events["merge"]["records"] is None or events["merge"]["other_person_id"] == pid
        assert events["split"]["records"] is None or events["split"]["person_id"] == pid
        assert other not in text and other not in page
        assert not any(r["identity_id"] in text for r in before[other])
        history = page.split('id="file-history"')[1].split("</details>")[0]
        assert "another file" in history and "forced split" in history
        assert "None" not in history


def test_a_snapshot_published_before_the_identity_part_still_serves_the_file(
    service: Service, tmp_path: Path
) -> None:
    """A serving copy an earlier version published has no person_identity table: the file
    is served without its personal information, not with an error."""
    from openbureau.service.app import create_app
    from openbureau.service.auth import create_account, issue_api_key
    from openbureau.service.store import open_store

    ws = Path(shutil.copytree(service.served.ws, tmp_path / "ws"))
    current = ws / "serving" / (ws / "serving" / "CURRENT").read_text().strip()
    with duckdb.connect(str(current)) as con:
        con.execute("DROP TABLE person_identity")
    url = f"sqlite:///{tmp_path / 'own-store.sqlite'}"
    with open_store(url)() as session:
        account = create_account(
            session, username="pat", role="person", password=None, person_id=service.served.person
        )
        key = issue_api_key(session, account, with_account=True)
        session.commit()
    with TestClient(create_app(ws, store_url=url), base_url="https://testserver") as client:
        r = client.get("/api/v1/me/file", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    assert r.json()["identity"] is None and r.json()["furnishers"]


def test_a_lender_read_of_a_mixed_file_is_in_each_persons_access_log_once_it_is_undone(
    service: Service, tmp_path: Path
) -> None:
    """While two persons' files were one (a wrong merge), a lender's read of that file read
    both persons' records: after a split undoes the merge, each person's access log shows it,
    without the other's ID. Reads of the other's file before the merge and after the split do
    not show, whichever ID survived the merge. The periods run from publication to
    publication: between a link run and the snapshot published after it, reads were served
    the file as it was before (a second lender reads then)."""
    from openbureau.cli import app as cli
    from openbureau.service.app import create_app
    from openbureau.service.auth import create_account, issue_api_key
    from openbureau.service.store import open_store

    ws = Path(shutil.copytree(service.served.ws, tmp_path / "ws"))
    mine, theirs = service.served.person, service.served.other
    a, b = (min(r["first_record_id"] for r in _expected(ws, pid)) for pid in (mine, theirs))
    url = f"sqlite:///{tmp_path / 'own-store.sqlite'}"
    keys = {}
    with open_store(url)() as session:
        for name, role, pid in (
            ("lee", "lender", None),
            ("lou", "lender", None),
            (mine, "person", mine),
            (theirs, "person", theirs),
        ):
            account = create_account(
                session,
                username=name.lower(),
                role=role,
                password=PASSWORD if pid else None,
                person_id=pid,
                organisation="Bank" if pid is None else None,
            )
            keys[name] = issue_api_key(session, account, with_account=True)
        session.commit()
    runner = CliRunner()

    def cli_run(*args: str) -> None:
        res = runner.invoke(cli, [*args, "-w", str(ws)], catch_exceptions=False)
        assert res.exit_code == 0, res.output

    with TestClient(create_app(ws, store_url=url), base_url="https://testserver") as client:

        def get(path: str, who: str, **params: str) -> Any:
            r = client.get(path, params=params, headers={"Authorization": f"Bearer {keys[who]}"})
            assert r.status_code == 200, r.text
            return r.json()

        def read(pid: str, purpose: str, who: str = "lee") -> str:
            return str(get(f"/api/v1/persons/{pid}/score", who, purpose=purpose)["person_id"])

        read(mine, "employment_with_consent")  # before: each file alone
        read(theirs, "account_review")
        cli_run("link", "--force-link", a, b)
        assert read(mine, "account_review", "lou") != read(theirs, "account_review", "lou")
        cli_run("score", "--as-of", "2025-12-31")
        assert read(mine, "credit_application") == read(theirs, "collection")  # one file
        cli_run("link", "--force-split", a, b)
        assert read(mine, "collection", "lou") == read(theirs, "collection", "lou")
        cli_run("score", "--as-of", "2025-12-31")
        assert read(mine, "insurance_underwriting") == mine  # after: each file alone again
        assert read(theirs, "tenant_screening") == theirs
        proved = {pid: get("/api/v1/me/access", pid) for pid in (mine, theirs)}
        logs = {
            pid: [e for e in proved[pid]["entries"] if e["actor"] == "lee"]
            for pid in (mine, theirs)
        }
        # lou's reads: each person's own before the merge was served, and the mixed file's
        # two after the split run, which was served until the next publication
        lou = {
            pid: [
                e["subject"] is None
                for e in get("/api/v1/me/access", pid)["entries"]
                if e["actor"] == "lou"
            ]
            for pid in (mine, theirs)
        }
        assert sorted(map(sorted, lou.values())) == [[False, False, False], [False, True, True]]
        # (the limit counts the entries shown: not the person's own reads, newer than these)
        for pid in (mine, theirs):
            shown = get("/api/v1/me/access", pid)["entries"]
            assert get("/api/v1/me/access", pid, limit=str(len(shown)))["entries"] == shown
        pages = {}
        for pid in (mine, theirs):
            _log_in(client, pid.lower())
            pages[pid] = client.get("/me").text.split('id="who-looked"')[1]
    purposes = {pid: sorted(e["purpose"] for e in log) for pid, log in logs.items()}
    assert purposes[mine] == [
        "collection",
        "credit_application",
        "employment_with_consent",
        "insurance_underwriting",
    ]
    assert purposes[theirs] == [
        "account_review",
        "collection",
        "credit_application",
        "tenant_screening",
    ]
    # the two reads of the mixed file were logged under the ID that survived the merge: the
    # other person sees them as reads of another file, and neither sees the other's ID
    elsewhere = {pid: [e for e in log if e["subject"] is None] for pid, log in logs.items()}
    assert sorted(map(len, elsewhere.values())) == [0, 2]
    for pid, other in ((mine, theirs), (theirs, mine)):
        assert all(
            e["detail"] == ELSEWHERE and e["hash"] is None and e["seq"] is None
            for e in elsewhere[pid]
        )
        # each with a proof of its place in the signed log, but not its leaf (the other file's
        # ID is in it); the leaf hash is salted, so it does not give the ID away either
        head = proved[pid]["signed_head"]
        for e in elsewhere[pid]:
            p = e["proof"]
            assert p["leaf"] is None and p["tree_size"] == head["tree_size"]
            assert verify_inclusion(
                p["leaf_index"],
                p["tree_size"],
                bytes.fromhex(p["leaf_hash"]),
                [bytes.fromhex(h) for h in p["audit_path"]],
                bytes.fromhex(head["root_hash"]),
            )
        # (an entry of their own shows its leaf, unless a field is reworded for them)
        assert all(
            e["proof"]["leaf"] is not None
            for e in logs[pid]
            if e["subject"] and "another person's" not in e["detail"]
        )
        assert all(other not in str(e) for e in logs[pid])
        assert other not in pages[pid]  # (the proofs on the page included)
        table = pages[pid].split('id="log-proofs"')[0]
        assert ("which then held records of yours" in table) == bool(elsewhere[pid])
        assert table.count("credit_application") == 1


def test_an_auditor_with_a_purpose_sees_the_whole_file_and_it_is_logged_for_the_person(
    service: Service,
) -> None:
    """An auditor investigating a dispute opens a person's file (API and page): only with an
    auditor's purpose, every read and refusal logged, and the person sees the read."""
    pid = service.served.person
    url = f"/api/v1/persons/{pid.lower()}/file"
    for purpose in (None, "credit_application", "curiosity"):
        r = service.client.get(
            url, params={"purpose": purpose} if purpose else {}, headers=service.api("audrey")
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "purpose_required"
    r = service.client.get(
        url, params={"purpose": "dispute_investigation"}, headers=service.api("audrey")
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["person_id"] == pid
    assert sorted(map(_key, body["identity"]["records"])) == sorted(
        map(_key, _expected(service.served.ws, pid))
    )
    own = service.client.get("/api/v1/me/file", headers=service.api("pat")).json()
    assert body["furnishers"] == own["furnishers"] and body["furnishers"]
    missing = service.client.get(
        "/api/v1/persons/P000000000000/file",
        params={"purpose": "legal_order"},
        headers=service.api("audrey"),
    )
    assert missing.status_code == 404
    for user in ("lena", "quinn"):  # refused, and the person sees the attempt
        r = service.client.get(
            url, params={"purpose": "dispute_investigation"}, headers=service.api(user)
        )
        assert r.status_code == 403
    refused = service.client.get(
        "/api/v1/audit",
        params={"subject": pid, "outcome": "denied", "action": "read file"},
        headers=service.api("audrey"),
    ).json()
    assert {e["actor"] for e in refused} >= {"lena", "quinn"}
    log = service.client.get(
        "/api/v1/audit",
        params={"actor": "audrey", "action": "read file"},
        headers=service.api("audrey"),
    ).json()
    assert [(e["subject"], e["purpose"], e["outcome"]) for e in reversed(log)] == [
        (pid, None, "denied"),
        (pid, "credit_application", "denied"),
        (pid, "curiosity", "denied"),
        (pid, "dispute_investigation", "allowed"),
        ("P000000000000", "legal_order", "not_found"),
    ]
    seen = service.client.get("/api/v1/me/access", headers=service.api("pat")).json()["entries"]
    assert ("audrey", "dispute_investigation", "allowed") in {
        (e["actor"], e["purpose"], e["outcome"]) for e in seen
    }
    # the person sees refused purposes only from the list, not a caller's own words
    assert ("audrey", None, "denied") in {(e["actor"], e["purpose"], e["outcome"]) for e in seen}
    assert not any(e["purpose"] == "curiosity" for e in seen)

    c = service.login("audrey")
    assert 'id="open-file"' in c.get("/auditor").text
    page = c.get("/auditor/file", params={"person_id": pid, "purpose": "dispute_investigation"})
    assert page.status_code == 200, page.text
    assert pid in page.text and "Investigating a dispute the person raised" in page.text
    assert all(r["identity_id"] in page.text for r in body["identity"]["records"])
    assert c.get("/auditor/file", params={"person_id": pid}).status_code == 422
    assert c.get("/auditor/file", params={"purpose": "legal_order"}).status_code == 422
    assert (
        service.login("pat")
        .get("/auditor/file", params={"person_id": pid, "purpose": "legal_order"})
        .status_code
        == 403
    )


PERSON_FILE_READS = """
import sys
from pathlib import Path

import openbureau.service.lending
from tests.service.conftest import Served, serve

# (a new snapshot warms the lender lookup up on the lookup pool, and matching identities
# needs Splink: that is the lookup's, not the file's)
openbureau.service.lending.prepare_search = lambda ctx, pub: None
served = Served(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
with serve(served, sys.argv[4]) as service:
    c = service.login("pat")
    for path in ("/api/v1/me/file", "/me/file"):
        assert c.get(path).status_code == 200, path
    audrey = service.api("audrey")
    r = service.client.get(
        f"/api/v1/persons/{served.other}/file",
        headers=audrey,
        params={"purpose": "dispute_investigation"},
    )
    assert r.status_code == 200, r.text
print(sorted(m for m in sys.modules if m.split(".")[0] == "splink"))
"""


def test_opening_a_persons_file_does_not_load_splink(
    served: Served, store_url: str, tmp_path: Path
) -> None:
    # (in a fresh interpreter: other tests have long imported Splink into this one)
    own = own_workspace(served, tmp_path)
    args = [str(own.ws), own.person, own.other, store_url]
    run = [sys.executable, "-c", PERSON_FILE_READS, *args]
    res = subprocess.run(run, capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "[]"
    # and the command line's `person` does not either
    shown = (
        "import sys; from openbureau.cli import app; "
        "from openbureau.identity.person import person_file; print('splink' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", shown], capture_output=True, text=True)
    assert (res.returncode, res.stdout.strip()) == (0, "False"), res.stderr
