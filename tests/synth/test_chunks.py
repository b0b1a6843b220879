"""Generation in chunks: the same files whatever the chunk size, consistent across chunks.

(``tests/test_population_ingest.py`` ingests a population written in two chunks: every feed
reconciles, Harbor's Metro 2 trailer included, and only the generator's defects are
quarantined.)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from openbureau.errors import UserError
from openbureau.synth import SynthConfig, generate

PERSONS = 2_500  # three chunks of 1,000 persons, the last one short


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def chunked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chunked") / "out"
    generate(out, SynthConfig(persons=PERSONS, seed=11, defect_rate=0.01, chunk_persons=1_000))
    return out


def test_same_files_whatever_the_chunk_size_and_run_to_run(chunked: Path, tmp_path: Path) -> None:
    again = generate(
        tmp_path / "again",
        SynthConfig(persons=PERSONS, seed=11, defect_rate=0.01, chunk_persons=1_000),
    )
    whole = generate(tmp_path / "whole", SynthConfig(persons=PERSONS, seed=11, defect_rate=0.01))
    assert _digest(chunked) == _digest(again.out) == _digest(whole.out)
    assert len(_digest(chunked)) > 20  # (the files, specs and truth, not an empty folder)


def test_persons_and_ids_are_unique_across_chunks(chunked: Path) -> None:
    persons = f"'{chunked}/truth/persons.parquet'"
    n, ids, ssns, first, last = duckdb.sql(
        f"SELECT count(*), count(DISTINCT person_id), count(DISTINCT ssn), min(person_id), "
        f"max(person_id) FROM {persons}"
    ).fetchall()[0]
    assert n == ids == ssns == PERSONS and (first, last) == (1, PERSONS)
    # an account number belongs to one person in each lender's file
    for feed, path in (
        ("northbank_accounts", "northbank/accounts.csv"),
        ("crestline_tradelines", "crestline/tradelines.jsonl"),
    ):
        owner = dict(
            duckdb.sql(
                f"SELECT line_no, person_id FROM '{chunked}/truth/records.parquet' WHERE feed = ?",
                params=[feed],
            ).fetchall()
        )
        first_line = 2 if path.endswith(".csv") else 1
        holders: dict[str, set[int]] = {}
        for i, line in enumerate((chunked / path).read_bytes().splitlines()[first_line - 1 :]):
            account = line.split(b",")[0]  # (ACCT_NO; {"loanNumber":...)
            holders.setdefault(account.decode("latin-1"), set()).add(owner[i + first_line])
        assert len(holders) > 1_000 and all(len(h) == 1 for h in holders.values()), feed


def test_pairs_and_joint_holders_point_at_real_persons(chunked: Path) -> None:
    persons = f"'{chunked}/truth/persons.parquet'"
    twins = duckdb.sql(f"""
        SELECT count(*), count(*) FILTER (WHERE o.twin_of = p.person_id AND o.dob = p.dob)
        FROM {persons} p JOIN {persons} o ON o.person_id = p.twin_of""").fetchall()[0]
    assert twins is not None and twins[0] >= 2 * 3 * 5 - 6 and twins[0] == twins[1]
    pairs = duckdb.sql(f"""
        SELECT count(*) FILTER (WHERE o.jr_sr_of <> p.person_id OR o.last_name <> p.last_name)
        FROM {persons} p JOIN {persons} o ON o.person_id = p.jr_sr_of""").fetchall()[0]
    assert pairs == (0,)
    joint = duckdb.sql(f"""
        SELECT count(*), count(p.person_id) FROM '{chunked}/truth/records.parquet' r
        LEFT JOIN {persons} p USING (person_id) WHERE r.seq = 1""").fetchall()[0]
    assert joint is not None and joint[0] > 0 and joint[0] == joint[1]


def test_one_harbor_account_sold_and_one_renumbered_in_the_whole_file(chunked: Path) -> None:
    records = (chunked / "harbor" / "accounts.metro2").read_bytes().decode("latin-1")
    lines = records.split("\r\n")[1:-2]
    assert sum("K2" in r[426:] for r in lines) == 1
    assert sum("L1" in r[426:] for r in lines) == 1


@pytest.mark.parametrize("chunk", [0, 999, 1_500, -1_000])
def test_a_bad_chunk_size_is_refused_in_one_line(cli, tmp_path: Path, chunk: int) -> None:
    res = cli("synth", "--persons", "10", "--chunk-persons", chunk, "--out", tmp_path / "x")
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "chunk_persons must be" in res.output
    with pytest.raises(UserError, match="multiple of 1,000"):
        generate(tmp_path / "y", SynthConfig(persons=10, chunk_persons=chunk))


def test_ids_that_run_out_are_one_line_and_leave_no_files(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openbureau.synth import _ids

    # 500 lease numbers: they run out in the second chunk, once the first was written
    monkeypatch.setitem(_ids.ID_RANGES, "lease", (100_000, 100_499, "lease numbers"))
    mine = tmp_path / "x" / "notes.txt"  # (the user's own file in the folder stays)
    mine.parent.mkdir()
    mine.write_text("mine")
    res = cli("synth", "--persons", 3_000, "--chunk-persons", 1_000, "--out", tmp_path / "x")
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1] == (
        "error: too many persons: the lease numbers (500 possible) run out; generate fewer persons"
    )
    left = sorted(str(p.relative_to(tmp_path / "x")) for p in (tmp_path / "x").rglob("*"))
    assert left == ["notes.txt"]
