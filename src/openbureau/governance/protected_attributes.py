"""Protected attributes for fairness audits, kept apart from the warehouse and read on record.

A fairness audit compares groups (by sex, age, ethnicity...) that a credit score may never use.
The bureau holds these attributes only for that: in their own DuckDB file,
``<workspace>/audit/attributes.duckdb``, which no ledger, feature, scorecard or snapshot reads.
A load replaces the whole content at once (``attribute_loads`` keeps who loaded which file);
every read goes to the audit log with who read, why and how many persons.

Tables of the store::

    protected_attributes(person_id VARCHAR PRIMARY KEY, <one VARCHAR column per ATTRIBUTES>)
    attribute_loads(loaded_at, file_name, sha256, rows, actor)

Values are free text as supplied (trimmed); an empty value is unknown (NULL).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from openbureau.config import ATTRIBUTES
from openbureau.engine import DuckDBEngine, EngineError
from openbureau.engine.sql import ident, literal, path_literal
from openbureau.errors import UserError
from openbureau.warehouse.identity import PERSON_INDEX

if TYPE_CHECKING:
    import pandas as pd

    from openbureau.workspace import Workspace

STORE_FILE = "attributes.duckdb"
LOAD_ACTION = "load protected attributes"
READ_ACTION = "read protected attributes"
COUNT_ACTION = "count protected attributes"
_UPLOAD = "attributes_upload"


def store_path(ws: Workspace) -> Path:
    """The store's file: ``<workspace>/audit/attributes.duckdb``."""
    return ws.audit_dir / STORE_FILE


@contextlib.contextmanager
def _open(path: Path, *, read_only: bool) -> Iterator[DuckDBEngine]:
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: cannot open the protected-attribute store: {first}") from None
    try:
        yield DuckDBEngine.wrap(con, str(path))
    finally:
        con.close()


#: Writes one audit-log entry (keyword arguments as ``service.audit.record`` takes them,
#: without the store): the caller's, so that governance needs no service. A running service
#: hands its own writer; the command line ``service.audit.workspace_log``, the workspace's.
AuditLog = Callable[..., None]


def _log(
    log: AuditLog,
    actor: str,
    action: str,
    purpose: str | None,
    outcome: str,
    detail: str,
    *,
    actor_role: str = "operator",
) -> None:
    """One entry in the audit log, through ``log``."""
    log(
        actor=actor,
        actor_role=actor_role,
        action=action,
        purpose=purpose,
        outcome=outcome,
        detail=detail,
    )


def _refused(path: Path, where: str, problem: str) -> UserError:
    """The one line refusing a file: where in it (the header, or row N counting from the first
    row after the header, and a column) and what is wrong. Rows, not lines: a quoted value may
    span lines."""
    return UserError(f"{path}{', ' + where if where else ''}: {problem}")


def _header(path: Path) -> list[str]:
    """The file's columns, checked: person_id once, then protected attributes, each once."""
    try:
        with path.open("rb") as fh:
            first = fh.readline().decode("utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise _refused(path, "header", "not UTF-8 text") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    wanted = f"person_id and any of {', '.join(ATTRIBUTES)}"
    if not first.strip():
        raise _refused(path, "", f"empty file: the first line is the header ({wanted})")
    names = [n.strip() for n in next(csv.reader([first]))]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise _refused(path, f"header, column {name!r}", "column appears twice")
        if name != "person_id" and name not in ATTRIBUTES:
            raise _refused(
                path,
                f"header, column {name!r}",
                f"not a protected attribute; the columns are {wanted}",
            )
        seen.add(name)
    if "person_id" not in seen:
        raise _refused(path, "header", f"no person_id column; the columns are {wanted}")
    if seen == {"person_id"}:
        raise _refused(path, "header", f"no protected attribute column; the columns are {wanted}")
    return names


def _read_rows(store: DuckDBEngine, path: Path, names: list[str]) -> None:
    """The file's rows into a temp table, in file order (``rowid`` 0 = row 1, the first after
    the header), trimmed, an empty value NULL."""
    columns = "{" + ", ".join(f"{literal(n)}: 'VARCHAR'" for n in names) + "}"
    cells = ", ".join(f"nullif(trim({ident(n)}), '') AS {ident(n)}" for n in names)
    try:
        store.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_UPLOAD} AS SELECT {cells}
            FROM read_csv({path_literal(path)}, header = true, auto_detect = false, delim = ',',
                          quote = '"', escape = '"', columns = {columns})"""
        )
    except EngineError as exc:
        lines = str(exc.__cause__ or exc).strip().splitlines()
        why = "; ".join(ln.strip() for ln in lines[:4] if ln.strip() and "Possible" not in ln)
        why = why.removeprefix("Invalid Input Error: ")
        raise _refused(path, "", f"not a readable CSV file: {why}") from None


def _check_rows(store: DuckDBEngine, path: Path) -> int:
    """Refuse the first bad row (one line naming it); return the number of rows."""
    n = int(store.scalar(f"SELECT count(*) FROM {_UPLOAD}"))
    if n == 0:
        raise _refused(path, "", "no rows: a load replaces the store, and would empty it")
    checks = [
        ("person_id IS NULL", "empty: every row names a person"),
        ("first_row < row", "{pid} is also in row {first}"),
        ("NOT known", "{pid} is not a person ID in the person index"),
    ]
    for where, problem in checks:
        row = store.query(
            f"""SELECT row, person_id, first_row FROM (
                  SELECT rowid + 1 AS row, person_id,
                         min(rowid + 1) OVER (PARTITION BY person_id) AS first_row,
                         person_id IN (SELECT person_id FROM known_persons) AS known
                  FROM {_UPLOAD})
                WHERE {where} ORDER BY row LIMIT 1"""
        )
        if row:
            at, pid, first = row[0]
            raise _refused(
                path, f"row {at}, column 'person_id'", problem.format(pid=pid, first=first)
            )
    return n


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_attributes(ws: Workspace, path: Path, *, actor: str, log: AuditLog) -> int:
    """Replace the store's content with a CSV file's, in one transaction, recorded through
    ``log`` as done by ``actor``.

    The header is ``person_id`` and any of :data:`ATTRIBUTES`; values are free text, empty
    for unknown. Each person_id must be a person of the person index, once.

    Returns:
        The number of persons loaded.

    Raises:
        UserError: one line naming the file, line and column of the first problem; nothing
            is written then.
    """
    path = Path(path)
    names = _header(path)
    with ws.engine(read_only=True) as warehouse:
        if not warehouse.table_exists(PERSON_INDEX.name) or not warehouse.scalar(
            f"SELECT count(*) FROM {PERSON_INDEX.name}"
        ):
            raise UserError(f"{path}: no persons linked yet; run openbureau link first")
        known = warehouse.arrow(f"SELECT DISTINCT person_id FROM {PERSON_INDEX.name}")
    ws.audit_dir.mkdir(exist_ok=True)
    target = store_path(ws)
    digest = _sha256(path)
    with _open(target, read_only=False) as store:
        _read_rows(store, path, names)
        with store.registered("known_persons", known):
            n = _check_rows(store, path)
        given = [a for a in ATTRIBUTES if a in names]
        columns = ", ".join(f"{a} VARCHAR" for a in ATTRIBUTES)
        with store.transaction():
            store.execute(
                "CREATE OR REPLACE TABLE protected_attributes "
                f"(person_id VARCHAR PRIMARY KEY, {columns})"
            )
            store.execute(
                f"INSERT INTO protected_attributes (person_id{''.join(', ' + a for a in given)}) "
                f"SELECT person_id{''.join(', ' + ident(a) for a in given)} FROM {_UPLOAD}"
            )
            store.execute(
                """CREATE TABLE IF NOT EXISTS attribute_loads (loaded_at TIMESTAMP NOT NULL,
                    file_name VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, rows BIGINT NOT NULL,
                    actor VARCHAR NOT NULL)"""
            )
            store.execute(
                "INSERT INTO attribute_loads VALUES (?, ?, ?, ?, ?)",
                [_utcnow(), path.name, digest, n, actor],
            )
    _log(
        log,
        actor,
        LOAD_ACTION,
        None,
        "allowed",
        f"{n:,} persons from {path.name} (sha256 {digest}); columns {', '.join(given) or 'none'}",
    )
    return n


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _has_table(path: Path) -> bool:
    if not path.is_file():
        return False
    with _open(path, read_only=True) as store:
        return store.table_exists("protected_attributes")


def attributes_loaded(ws: Workspace) -> bool:
    """Whether the store holds attributes (a load has been made); not a read of them."""
    path = store_path(ws)
    if not _has_table(path):
        return False
    with _open(path, read_only=True) as store:
        return bool(store.scalar("SELECT count(*) FROM protected_attributes"))


def _empty_frame() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {a: pd.Series([], dtype=object) for a in ATTRIBUTES},
        index=pd.Index([], dtype=object, name="person_id"),
    )


def read_attributes(
    ws: Workspace,
    persons: Sequence[str] | None = None,
    *,
    actor: str,
    purpose: str,
    actor_role: str = "operator",
    log: AuditLog,
) -> pd.DataFrame:
    """Protected attributes of ``persons`` (all when None), recorded through ``log`` (as read
    by ``actor`` in ``actor_role``).

    Returns:
        One row per person the store holds (of those asked), sorted by person_id, indexed by
        ``person_id``, one text column per :data:`ATTRIBUTES` (None where unknown or not
        supplied). Empty when nothing is loaded: callers decide what that means.

    Raises:
        UserError: no purpose was given (the refusal is logged too).
    """
    if not purpose or not purpose.strip():
        _log(log, actor, READ_ACTION, None, "denied", "no purpose stated", actor_role=actor_role)
        raise UserError("reading protected attributes needs a purpose; it is logged")
    path = store_path(ws)
    frame = _empty_frame()
    loaded = _has_table(path)
    if loaded:
        with _open(path, read_only=True) as store:
            have = set(store.columns("protected_attributes"))
            cols = ", ".join(a if a in have else f"NULL::VARCHAR AS {a}" for a in ATTRIBUTES)
            sql = f"SELECT person_id, {cols} FROM protected_attributes"
            if persons is None:
                table = store.arrow(f"{sql} ORDER BY person_id")
            else:
                with store.registered("asked_persons", {"person_id": [str(p) for p in persons]}):
                    table = store.arrow(
                        f"{sql} WHERE person_id IN (SELECT person_id FROM asked_persons) "
                        "ORDER BY person_id"
                    )
        if table.num_rows:
            frame = table.to_pandas().set_index("person_id")
    asked = "all asked" if persons is None else f"{len(persons):,} asked"
    detail = f"{len(frame):,} persons ({asked})" + ("" if loaded else "; none loaded")
    _log(log, actor, READ_ACTION, purpose.strip(), "allowed", detail, actor_role=actor_role)
    return frame


def attribute_counts(
    ws: Workspace, *, actor: str, log: AuditLog
) -> list[tuple[str, str | None, int]]:
    """(attribute, value, persons) for every value held, None for unknown; no person rows.
    Logged through ``log`` as a count, not a read of persons."""
    path = store_path(ws)
    rows: list[tuple[Any, ...]] = []
    if _has_table(path):
        with _open(path, read_only=True) as store:
            have = set(store.columns("protected_attributes"))
            rows = store.query(
                " UNION ALL ".join(
                    f"SELECT {literal(a)} AS attribute, {a if a in have else 'NULL'}::VARCHAR"
                    " AS value,"
                    f" count(*) AS persons, {i} AS k FROM protected_attributes GROUP BY ALL"
                    for i, a in enumerate(ATTRIBUTES)
                )
                + " ORDER BY k, value NULLS LAST"
            )
    _log(log, actor, COUNT_ACTION, None, "allowed", "persons per attribute value; no person rows")
    return [(str(a), v, int(n)) for a, v, n, _ in rows]


def last_load(ws: Workspace) -> dict[str, Any] | None:
    """The latest load (loaded_at, file_name, sha256, rows, actor), or None."""
    path = store_path(ws)
    if not path.is_file():
        return None
    with _open(path, read_only=True) as store:
        if not store.table_exists("attribute_loads"):
            return None
        table = store.arrow("SELECT * FROM attribute_loads ORDER BY loaded_at DESC LIMIT 1")
    return table.to_pylist()[0] if table.num_rows else None
