"""Persistent person IDs over hand-made clusterings (the rules in identity._index).

Each step hands ``apply_assignment`` a full clustering of every record, as a full relink does,
or one person's records, as a forced split does; IDs are named here by the records they stood
for when first made.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openbureau.engine import DuckDBEngine
from openbureau.identity import _index


class Index:
    def __init__(self, engine: DuckDBEngine) -> None:
        self.engine = engine
        self.run = 0
        self.names: dict[str, str] = {}  # person ID -> the name the test gives it

    def step(
        self, clusters: list[str], *, replace_all: bool = True, same_run: bool = False
    ) -> dict[str, int]:
        """Apply a clustering given as strings of record names ("a1 a2", "b1"): one cluster
        each."""
        self.run += 0 if same_run else 1
        rows = [(rec, f"c{i}") for i, cluster in enumerate(clusters) for rec in cluster.split()]
        values = ", ".join(f"('{rec}', '{cid}')" for rec, cid in rows)
        self.engine.execute(
            f"CREATE OR REPLACE TEMP TABLE step AS SELECT * FROM (VALUES "
            f"{values}) t(identity_id, cluster_id)"
        )
        with self.engine.transaction():
            events = _index.apply_assignment(
                self.engine, "step", run_id=self.run, cause="test", replace_all=replace_all
            )
            if not same_run:  # (as link() records its runs)
                self.engine.execute(
                    "INSERT INTO link_runs VALUES (?, now()::TIMESTAMP)", [self.run]
                )
            return events

    def name(self, person_id: str, as_: str) -> None:
        self.names[person_id] = as_

    def files(self) -> dict[str, set[str]]:
        """Each active ID's records, by the ID's name (its person ID if not named)."""
        rows = self.engine.query("SELECT person_id, list(identity_id) FROM person_index GROUP BY 1")
        return {self.names.get(pid, pid): set(recs) for pid, recs in rows}

    def person(self, record: str) -> str:
        return str(
            self.engine.scalar("SELECT person_id FROM person_index WHERE identity_id = ?", [record])
        )

    def status(self, name: str) -> tuple[str, str | None]:
        pid = next(p for p, n in self.names.items() if n == name)
        status, target = self.engine.query(
            "SELECT status, resolves_to FROM person_ids WHERE person_id = ?", [pid]
        )[0]
        return status, self.names.get(target, target) if target else None

    def events(self) -> list[tuple[str, str | None, str | None]]:
        rows = self.engine.query(
            "SELECT event, person_id, other_person_id FROM "
            "person_id_history WHERE run_id = ? ORDER BY ALL",
            [self.run],
        )
        return sorted(
            (e, self.names.get(a, a), self.names.get(b, b) if b else None) for e, a, b in rows
        )

    def members(self) -> int:
        return int(self.engine.scalar("SELECT count(*) FROM person_id_members"))


@pytest.fixture
def ix() -> Iterator[Index]:
    engine = DuckDBEngine()
    _index.ensure_schema(engine)
    engine.execute("CREATE TABLE link_runs (run_id BIGINT, linked_at TIMESTAMP)")
    index = Index(engine)
    yield index
    engine.close()


def start(ix: Index, **files: str) -> None:
    """Link the files given (name="records") as persons of their own, and name their IDs."""
    ix.step(list(files.values()))
    for name, records in files.items():
        ix.name(ix.person(records.split()[0]), name)


@pytest.mark.parametrize("later", ["", "a3 a4 a5"])
def test_a_wrong_merge_taken_apart_gives_each_person_their_id_whichever_part_is_larger(
    ix: Index, later: str
) -> None:
    """A (2 records) merged into B (3); A's later records join the mixed file, so A's part is
    the larger when a split takes the file apart: rule 1 alone would give it B's ID."""
    start(ix, A="a1 a2", B="b1 b2 b3")
    ix.step([f"a1 a2 b1 b2 b3 {later}"])
    assert ix.status("A") == ("retired", "B")
    ix.step([f"a1 a2 {later}", "b1 b2 b3"])
    assert ix.files() == {"A": set(f"a1 a2 {later}".split()), "B": {"b1", "b2", "b3"}}
    assert ix.status("A") == ("active", None)
    assert ix.events() == [("split", "A", "B")]
    assert ix.members() == 0
    ix.step([f"a1 a2 {later}", "b1 b2 b3"])  # and they hold
    assert ix.events() == []


@pytest.mark.parametrize(("first", "second"), [("a", "b"), ("b", "a")])
def test_two_files_of_one_size_merged_and_taken_apart_keep_their_ids(
    ix: Index, first: str, second: str
) -> None:
    """Equal parts: which ID survived the merge decided nothing about who gets which part."""
    start(ix, **{first.upper(): f"{first}1 {first}2", second.upper(): f"{second}1 {second}2"})
    ix.step(["a1 a2 b1 b2"])
    ix.step(["a1 a2", "b1 b2"])
    assert ix.files() == {"A": {"a1", "a2"}, "B": {"b1", "b2"}}
    assert ix.status("A") == ix.status("B") == ("active", None)


def test_a_forced_split_of_one_persons_records_gives_back_the_id_merged_in(ix: Index) -> None:
    """The forced split's way: only that person's records are handed in."""
    start(ix, A="a1 a2", B="b1 b2 b3")
    ix.step(["a1 a2 b1 b2 b3"])
    events = ix.step(["a1 a2", "b1 b2 b3"], replace_all=False)
    assert events == {"split": 1}
    assert ix.files() == {"A": {"a1", "a2"}, "B": {"b1", "b2", "b3"}}


def test_a_chain_of_merges_undone_gives_back_the_last_id_and_redirects_the_first(ix: Index) -> None:
    """X merged into A, then A into B. Taking A's and X's records from B gives that part A
    (more of A's merge-time records there than X's); X, which led to B, leads to A again."""
    start(ix, X="x1", A="a1 a2", B="b1 b2 b3 b4 b5")
    ix.step(["x1 a1 a2", "b1 b2 b3 b4 b5"])
    ix.step(["x1 a1 a2 b1 b2 b3 b4 b5"])
    assert ix.status("X") == ("retired", "B") and ix.status("A") == ("retired", "B")
    ix.step(["x1 a1 a2", "b1 b2 b3 b4 b5"])
    assert ix.files() == {"A": {"x1", "a1", "a2"}, "B": {"b1", "b2", "b3", "b4", "b5"}}
    assert ix.status("X") == ("retired", "A")
    assert ix.events() == [("redirect", "A", "X"), ("split", "A", "B")]


def test_an_id_given_back_and_merged_again_is_given_back_again(ix: Index) -> None:
    start(ix, A="a1 a2", B="b1 b2 b3")
    for _ in range(2):
        ix.step(["a1 a2 b1 b2 b3"])
        assert ix.status("A") == ("retired", "B")
        assert ix.members() == 5  # A's two records and B's three, once each
        ix.step(["a1 a2", "b1 b2 b3"])
        assert ix.status("A") == ("active", None) and ix.members() == 0


@pytest.mark.parametrize(
    ("parts", "big"),
    [
        (["a2 b1 b2 b4", "a1 b3"], "a2 b1 b2 b4"),  # half of A's records in either part
        (["a1 a2 b1 b2 b3", "b4"], "a1 a2 b1 b2 b3"),  # all of A's, but more of B's there
    ],
)
def test_no_id_is_given_back_without_most_of_its_records_and_more_than_its_survivors(
    ix: Index, parts: list[str], big: str
) -> None:
    """A retired ID takes a part back only with more than half of its own records there and
    more of them than of its survivor's merge-time records; otherwise rule 1 stands: the
    survivor keeps its larger part, the other part is a split with a new ID, A stays merged."""
    start(ix, A="a1 a2", B="b1 b2 b3 b4")
    ix.step(["a1 a2 b1 b2 b3 b4"])
    ix.step(parts)
    assert ix.status("A") == ("retired", "B")
    assert ix.files()["B"] == set(big.split())
    assert [e for e, _, _ in ix.events()] == ["split"]


def test_an_id_is_not_given_back_to_pieces_of_its_records(ix: Index) -> None:
    """A's three records split three ways: no part holds more than half of them, so none
    takes A back (nor do two parts both take it)."""
    start(ix, A="a1 a2 a3", B="b1 b2 b3 b4 b5")
    ix.step(["a1 a2 a3 b1 b2 b3 b4 b5"])
    ix.step(["a1 b1 b2 b3 b4 b5", "a2", "a3"])
    assert ix.status("A") == ("retired", "B")
    assert [e for e, _, _ in ix.events()] == ["split", "split"]


def test_records_that_joined_an_id_later_merged_again_are_not_the_later_ids(ix: Index) -> None:
    """A merged into B; A's later records join B's file; B is merged into C. Taking A's
    records out gives them A (B's claim counts only B's own merge-time records, half of them
    there); B, whose own records stay with C's, leads to C."""
    start(ix, A="a1 a2", B="b1 b2 b3", C="c1 c2 c3 c4 c5 c6 c7 c8 c9")
    ix.step(["a1 a2 b1 b2 b3", "c1 c2 c3 c4 c5 c6 c7 c8 c9"])
    ix.step(["a1 a2 a3 a4 a5 b1 b2 b3", "c1 c2 c3 c4 c5 c6 c7 c8 c9"])
    ix.step(["a1 a2 a3 a4 a5 b1 b2 b3 c1 c2 c3 c4 c5 c6 c7 c8 c9"])
    ix.step(["a1 a2 a3 a4 a5", "b1 b2 b3 c1 c2 c3 c4 c5 c6 c7 c8 c9"])
    assert ix.files()["A"] == {"a1", "a2", "a3", "a4", "a5"}
    assert ix.status("B") == ("retired", "C")
    assert ix.events() == [("split", "A", "C")]


def test_a_chain_split_the_other_way_gives_back_the_middle_id_and_merges_no_one(ix: Index) -> None:
    """X merged into A, A into B; a forced split takes A's own records out, and one of B's: A
    comes back; X, whose records stay with B's, is not handed B's cluster (its survivors held
    B's records too by then), and no one is merged by a split."""
    start(ix, X="x1 x2", A="a1 a2 a3", B="b1 b2 b3 b4 b5 b6 b7")
    ix.step(["x1 x2 a1 a2 a3", "b1 b2 b3 b4 b5 b6 b7"])
    ix.step(["x1 x2 a1 a2 a3 b1 b2 b3 b4 b5 b6 b7"])
    events = ix.step(["a1 a2 a3", "x1 x2 b1 b2 b3 b4 b5 b6", "b7"], replace_all=False)
    assert events == {"split": 2}
    files = ix.files()
    assert files["A"] == {"a1", "a2", "a3"}
    assert files["B"] == {"x1", "x2", "b1", "b2", "b3", "b4", "b5", "b6"}
    assert ix.status("X") == ("retired", "B")


def test_no_id_is_given_back_to_a_cluster_another_person_holds_as_much_of(ix: Index) -> None:
    """A merged into B; a relink puts A's records with D's nine: D keeps its ID, and A leads
    to D, where its records now are."""
    start(ix, A="a1 a2", B="b1 b2 b3", D="d1 d2 d3 d4 d5 d6 d7 d8 d9")
    ix.step(["a1 a2 b1 b2 b3", "d1 d2 d3 d4 d5 d6 d7 d8 d9"])
    ix.step(["a1 a2 d1 d2 d3 d4 d5 d6 d7 d8 d9", "b1 b2 b3"])
    assert ix.files()["D"] == {"a1", "a2", *(f"d{i}" for i in range(1, 10))}
    assert ix.status("A") == ("retired", "D") and ix.status("D") == ("active", None)
    assert ix.events() == [("redirect", "D", "A")]


def test_the_person_split_keeps_a_cluster_when_every_one_could_be_given_back(ix: Index) -> None:
    """A and X merged into B; the split's two parts could each go back to one of them. B keeps
    the one where it has most records (a tie: the smaller identity id), X takes the other,
    and A, whose records are in B's part, stays merged."""
    start(ix, A="a1 a2 a3", X="x1 x2 x3", B="b1 b2 b3 b4")
    ix.step(["a1 a2 a3 b1 b2 b3 b4", "x1 x2 x3"])
    ix.step(["a1 a2 a3 b1 b2 b3 b4 x1 x2 x3"])
    ix.step(["a1 a2 a3 b1 b2", "x1 x2 x3 b3 b4"], replace_all=False)
    assert ix.files() == {"B": {"a1", "a2", "a3", "b1", "b2"}, "X": {"x1", "x2", "x3", "b3", "b4"}}
    assert ix.status("A") == ("retired", "B")
    assert [e for e, _, _ in ix.events()] == ["split"]


def test_a_merge_with_a_tie_is_not_redirected_in_the_same_run(ix: Index) -> None:
    """D's two records go one to E's cluster and one to F's: the merge picks E (smaller
    identity id); rule 5's tie keeps it there rather than redirecting D to F."""
    start(ix, D="d1 d2", E="e1 e2 e3", F="f1 f2 f3")
    ix.step(["e1 e2 e3 d1", "f1 f2 f3 d2"])
    assert ix.status("D") == ("retired", "E")
    assert [e for e, _, _ in ix.events()] == ["merge"]


def test_an_id_retired_before_members_were_kept_stays_merged(ix: Index) -> None:
    start(ix, A="a1 a2", B="b1 b2 b3")
    ix.step(["a1 a2 b1 b2 b3"])
    ix.engine.execute("DELETE FROM person_id_members")  # as a workspace from before them
    ix.step(["a1 a2", "b1 b2 b3"])
    assert ix.status("A") == ("retired", "B")
    assert "A" not in ix.files() and len(ix.files()) == 2


def test_each_clustering_of_a_run_counts_its_own_id_changes(ix: Index) -> None:
    """A run applies its clustering, then each forced link or split as a clustering of its
    own: each returns the changes it made, not the run's so far (which `link` adds up)."""
    start(ix, A="a1 a2", B="b1 b2 b3", C="c1")
    assert ix.step(["a1 a2 b1 b2 b3", "c1"]) == {"merge": 1}
    assert ix.step(["a1 a2", "b1 b2 b3"], replace_all=False, same_run=True) == {"split": 1}


def elsewhere(ix: Index, name: str) -> list[tuple[str, int | None, int | None]]:
    """``held_elsewhere`` for the named person: each other file (by name) and the runs its
    period starts and ends at (None: before any run, or still open)."""
    from openbureau.identity.person import held_elsewhere

    run_at = {
        at: run
        for run, at in ix.engine.query(
            "SELECT run_id, linked_at FROM person_id_history UNION SELECT * FROM link_runs"
        )
    }
    pid = next(p for p, n in ix.names.items() if n == name)
    return [
        (
            ix.names.get(p["person_id"], p["person_id"]),
            run_at.get(p["since"]),
            run_at.get(p["until"]),
        )
        for p in held_elsewhere(ix.engine, pid)
    ]


def test_an_id_merged_and_given_back_was_held_by_the_other_file_in_between(ix: Index) -> None:
    """A merged into B (run 2), given back by a split (run 3): B's file held A's records from
    run 2 to run 3; B's records were never anywhere else."""
    start(ix, A="a1 a2", B="b1 b2 b3")
    ix.step(["a1 a2 b1 b2 b3"])
    assert elsewhere(ix, "A") == elsewhere(ix, "B") == []  # A is B's file now
    ix.step(["a1 a2", "b1 b2 b3"])
    assert elsewhere(ix, "A") == [("B", 2, 3)]
    assert elsewhere(ix, "B") == []
    ix.step(["a1 a2", "b1 b2 b3"])  # a run that changes nothing adds nothing
    assert elsewhere(ix, "A") == [("B", 2, 3)]


def test_records_merged_through_a_chain_were_held_by_the_last_file_only(ix: Index) -> None:
    """X merged into A (run 2), A into B (run 3), A given back (run 4) with X led to A: A's
    file (X's records too) was B's from run 3 to run 4, listed once; it held X's records
    from run 2 on, and so did B's from run 3 to run 4."""
    start(ix, X="x1", A="a1 a2", B="b1 b2 b3 b4 b5")
    ix.step(["x1 a1 a2", "b1 b2 b3 b4 b5"])
    ix.step(["x1 a1 a2 b1 b2 b3 b4 b5"])
    ix.step(["x1 a1 a2", "b1 b2 b3 b4 b5"])
    assert ix.status("X") == ("retired", "A")
    assert elsewhere(ix, "A") == elsewhere(ix, "X") == [("B", 3, 4)]
    assert elsewhere(ix, "B") == []


def test_an_id_given_back_from_the_end_of_a_chain_was_held_by_each_file_in_turn(ix: Index) -> None:
    """X merged into A (run 2), A into B (run 3), X's record split out and X given back
    (run 4): A's file held X's record from run 2 to run 3, B's from run 3 to run 4."""
    start(ix, X="x1", A="a1 a2", B="b1 b2 b3 b4 b5")
    ix.step(["x1 a1 a2", "b1 b2 b3 b4 b5"])
    ix.step(["x1 a1 a2 b1 b2 b3 b4 b5"])
    ix.step(["x1", "a1 a2 b1 b2 b3 b4 b5"])
    assert ix.status("X") == ("active", None) and ix.status("A") == ("retired", "B")
    assert elsewhere(ix, "X") == [("A", 2, 3), ("B", 3, 4)]


def test_a_part_split_off_a_mixed_file_was_held_by_it_from_when_it_joined(ix: Index) -> None:
    """B's record b1 linked into A's file (run 2), split off with an ID of its own (run 3),
    then merged into B's older file (run 4): A's file held b1 from run 2 to run 3, not from
    when A's or B's file began."""
    start(ix, A="a1 a2", B="b2 b3 b4")
    ix.step(["a1 a2 b1", "b2 b3 b4"])
    ix.step(["a1 a2", "b1", "b2 b3 b4"])
    ix.name(ix.person("b1"), "N")
    assert elsewhere(ix, "N") == [("A", 2, 3)]
    ix.step(["a1 a2", "b1 b2 b3 b4"])
    assert ix.status("N") == ("retired", "B")
    assert elsewhere(ix, "B") == [("A", 2, 3)]
    assert elsewhere(ix, "A") == []


def test_a_part_split_off_counts_from_when_the_records_of_its_source_joined(ix: Index) -> None:
    """b1, b2 join A's file (run 2); a split (run 3) puts them with c1, a record of C's file
    since run 1, under a new ID split off A: A held its records from run 2, not run 1 (c1's
    own file is not followed back)."""
    start(ix, A="a1 a2 a3 a4", C="c1 c2 c3")
    ix.step(["a1 a2 a3 a4 b1 b2", "c1 c2 c3"])
    ix.step(["a1 a2 a3 a4", "b1 b2 c1", "c2 c3"])
    ix.name(ix.person("b1"), "N")
    assert ix.events() == [("split", "N", "A")]
    assert elsewhere(ix, "N") == [("A", 2, 3)]


def test_a_merge_given_back_in_the_same_run_leaves_nothing_held_elsewhere(ix: Index) -> None:
    """A forced link merges A into B and a forced split of the same run gives A back: the
    merged file was never published, and the events replay in the order they were written."""
    start(ix, A="a1 a2", B="b1 b2 b3")
    ix.step(["a1 a2 b1 b2 b3"], replace_all=False)
    ix.step(["a1 a2", "b1 b2 b3"], replace_all=False, same_run=True)
    assert ix.status("A") == ("active", None)
    assert elsewhere(ix, "A") == elsewhere(ix, "B") == []


def test_a_merge_never_undone_leaves_nothing_held_elsewhere(ix: Index) -> None:
    start(ix, A="a1 a2", B="b1 b2 b3")
    ix.step(["a1 a2 b1 b2 b3"])
    ix.step(["a1 a2 b1 b2 b3 b4"])
    assert elsewhere(ix, "A") == elsewhere(ix, "B") == []
