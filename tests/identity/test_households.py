"""People a bureau most often mixes up end in files of their own: a father and son of one name
at one address, twins, and namesakes sharing an email built from their name (issue 21).

On a small population of the hard generator (``openbureau synth --generator hard``) with these
cases made common, through the CLI; who is who comes from the generator's truth.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from openbureau.workspace import Workspace

RATES = ("jr_sr=0.12", "twin=0.08", "namesake=0.12")
# The share of pairs that may still share a main file: where the data leaves two relatives
# as alike as one person (a son's only records without his national ID or birth date beside
# his father's, a twin's national IDs missing), no rule can tell them apart. Before the
# conflict rules were gated on counted pairs (on EM's m values, which twins sway), 46 of the
# 48 twin pairs here shared a file.
FEW = 0.03
# Twins: 2 of the 48 pairs (4.2 %) share a file in synth's version-3 draw of this population
# (the same code; the generator's draw changed when it began writing in chunks), at most 1
# (2 %) in version 2's: at 48 pairs, one pair is 2 points.
TWINS = 0.05
# The share of a father's or son's records that may still lie in the other's file (0.041 before
# such records stood alone, 0.020 after).
MIXED = 0.03


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from typer.testing import CliRunner

    from openbureau.cli import app

    def run(*args: object) -> None:
        res = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
        assert res.exit_code == 0, res.output

    root = tmp_path_factory.mktemp("households")
    pop, ws = root / "incoming", root / "ws"
    rates = [a for r in RATES for a in ("--difficulty", r)]
    run("synth", "--out", pop, "--persons", 1200, "--seed", 11, "--generator", "hard", *rates)
    run("init", ws)
    files = duckdb.sql(f"SELECT DISTINCT feed, file FROM '{pop}/truth/records.parquet'").fetchall()
    for feed, file in files:
        run("ingest", pop / "specs" / f"{feed}.yaml", pop / file, "-w", ws)
    run("link", "-w", ws)
    return ws, pop


def main_files(ws: Path, pop: Path) -> dict[int, str]:
    """Each true person's main file: the file holding most of the person's records."""
    truth = pop / "truth" / "records.parquet"
    with Workspace.open(ws).engine(read_only=True) as engine:
        return dict(
            engine.query(f"""
            SELECT t.person_id, mode(pi.person_id)
            FROM identity_record_map m JOIN ingest_batches b USING (batch_id)
            JOIN person_index pi ON pi.identity_id = m.identity_id
            JOIN read_parquet('{truth}') t
              ON t.feed = b.feed AND parse_filename(t.file) = b.file_name
             AND t.line_no = CAST(split_part(m.record_id, '.', 2) AS BIGINT)
             AND t.seq = coalesce(TRY_CAST(split_part(m.record_id, '.', 3) AS BIGINT), 0)
            GROUP BY 1""")
        )


def pairs(pop: Path, where: str) -> list[tuple[int, int]]:
    """Pairs of true persons (a, b) meeting ``where`` (SQL on persons ``a`` and ``b``)."""
    persons = pop / "truth" / "persons.parquet"
    return duckdb.sql(f"""
        SELECT a.person_id, b.person_id FROM '{persons}' a JOIN '{persons}' b
          ON a.person_id < b.person_id WHERE {where}""").fetchall()


def identified(ws: Path, pop: Path) -> set[int]:
    """The true persons whose loaded records give a birth date and a national ID (on some of
    them): those a bureau can tell from a relative. One known only by name and address (a
    utility account) stays as ambiguous as the data leaves him."""
    truth = pop / "truth" / "records.parquet"
    with Workspace.open(ws).engine(read_only=True) as engine:
        return {
            p
            for (p,) in engine.query(f"""
            SELECT t.person_id
            FROM identity_record_map m JOIN ingest_batches b USING (batch_id)
            JOIN identity_records r ON r.identity_id = m.identity_id
            JOIN read_parquet('{truth}') t
              ON t.feed = b.feed AND parse_filename(t.file) = b.file_name
             AND t.line_no = CAST(split_part(m.record_id, '.', 2) AS BIGINT)
             AND t.seq = coalesce(TRY_CAST(split_part(m.record_id, '.', 3) AS BIGINT), 0)
            GROUP BY 1 HAVING count(r.dob) > 0 AND count(r.national_id_token) > 0""")
        }


def merged(ws: Path, pop: Path, found: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pairs (of identified persons) whose main files are one file."""
    files, known = main_files(ws, pop), identified(ws, pop)
    return [(a, b) for a, b in found if {a, b} <= known and files[a] == files[b]]


def test_a_father_and_son_of_one_name_at_one_address_end_in_two_files(linked) -> None:
    ws, pop = linked
    found = pairs(
        pop,
        "(a.jr_sr_of = b.person_id OR b.jr_sr_of = a.person_id) "
        "AND a.first_name = b.first_name AND a.last_name = b.last_name",
    )
    assert len(found) > 30
    assert len(merged(ws, pop, found)) <= len(found) * FEW


def test_twins_end_in_two_files(linked) -> None:
    ws, pop = linked
    found = pairs(
        pop,
        "a.household_id = b.household_id AND a.dob = b.dob "
        "AND list_contains(a.difficulties, 'twin') AND list_contains(b.difficulties, 'twin')",
    )
    assert len(found) > 20
    assert len(merged(ws, pop, found)) <= len(found) * TWINS


def test_two_people_sharing_an_email_built_from_their_name_end_in_two_files(linked) -> None:
    ws, pop = linked
    # (``shared_email``: the person gives an email address another person gives too)
    found = pairs(
        pop,
        "(a.namesake_of = b.person_id OR b.namesake_of = a.person_id) "
        "AND list_contains(a.difficulties, 'shared_email') "
        "AND list_contains(b.difficulties, 'shared_email')",
    )
    assert len(found) > 20
    assert len(merged(ws, pop, found)) <= len(found) * FEW


def in_relatives_file(ws: Path, pop: Path, found: list[tuple[int, int]]) -> tuple[int, int]:
    """Of the records of the persons of ``found`` (pairs of relatives whose main files differ),
    how many lie in the relative's main file; and how many records there are."""
    files = main_files(ws, pop)
    relative = {
        a: b
        for x, y in found
        if {x, y} <= files.keys() and files[x] != files[y]
        for a, b in ((x, y), (y, x))
    }
    truth = pop / "truth" / "records.parquet"
    with Workspace.open(ws).engine(read_only=True) as engine:
        rows = engine.query(f"""
            SELECT t.person_id, pi.person_id
            FROM identity_record_map m JOIN ingest_batches b USING (batch_id)
            JOIN person_index pi ON pi.identity_id = m.identity_id
            JOIN read_parquet('{truth}') t
              ON t.feed = b.feed AND parse_filename(t.file) = b.file_name
             AND t.line_no = CAST(split_part(m.record_id, '.', 2) AS BIGINT)
             AND t.seq = coalesce(TRY_CAST(split_part(m.record_id, '.', 3) AS BIGINT), 0)""")
    mine = [(p, file) for p, file in rows if p in relative]
    return sum(file == files[relative[p]] for p, file in mine), len(mine)


def test_a_record_that_could_be_the_father_s_or_the_son_s_joins_neither_s_file(linked) -> None:
    # A record of a father or son with neither birth date, national ID nor suffix links as well
    # to one as to the other: it stands alone rather than show one's accounts to the other's
    # lenders (the cluster holding both is split, and it is no part of either).
    ws, pop = linked
    found = pairs(
        pop,
        "(a.jr_sr_of = b.person_id OR b.jr_sr_of = a.person_id) "
        "AND a.first_name = b.first_name AND a.last_name = b.last_name",
    )
    wrong, records = in_relatives_file(ws, pop, found)
    assert records > 100
    assert wrong <= records * MIXED


@pytest.mark.parametrize("record", ["a", "x"])
def test_an_ambiguous_record_stands_alone_whatever_its_id(record) -> None:
    # It links about as strongly to c as to d, who cannot be one person. Its part was
    # labelled by its smallest member: when that was the record itself, its part mates kept
    # its label, and it stayed in their part.
    from openbureau.identity._cluster import constrained_clustering

    edges = [(record, "c", 0.99), (record, "d", 0.98)]
    labels = constrained_clustering([record, "c", "d"], edges, [("c", "d")], ambiguous_alone=True)
    assert len(set(labels.values())) == 3
