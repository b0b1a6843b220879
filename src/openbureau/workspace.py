"""A bureau workspace: settings, warehouse, source specs and secrets in one folder.

Layout::

    bureau.toml          settings (see config.py)
    warehouse.duckdb     the warehouse (path set in bureau.toml)
    specs/               source specs, one YAML file per furnisher feed
    secrets/             keys that must never enter the warehouse (mode 0700)
    audit/               protected attributes for fairness audits, apart from the warehouse
                         (governance/protected_attributes.py; made at the first load)
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from openbureau import warehouse
from openbureau.config import DEFAULT_TOML, SETTINGS_FILE, Settings, load_settings
from openbureau.engine import Engine, engine_class
from openbureau.errors import UserError
from openbureau.ingest.spec import SourceSpec, load_spec

SPECS_DIR = "specs"
SECRETS_DIR = "secrets"
AUDIT_DIR = "audit"


@dataclass(frozen=True)
class Workspace:
    root: Path
    settings: Settings

    @classmethod
    def open(cls, root: str | Path) -> Workspace:
        path = Path(root)
        if not path.is_dir():
            raise UserError(f"{path}: workspace folder not found")
        return cls(path, load_settings(path / SETTINGS_FILE))

    @property
    def specs_dir(self) -> Path:
        return self.root / SPECS_DIR

    @property
    def audit_dir(self) -> Path:
        """Where data kept apart from the warehouse for audits lives (never read by scoring)."""
        return self.root / AUDIT_DIR

    @property
    def warehouse_path(self) -> Path:
        return self.root / self.settings.warehouse.path

    @property
    def engine_class(self) -> type[Engine]:
        """The engine ``[warehouse] engine`` names (its capabilities, before opening it)."""
        return engine_class(self.settings.warehouse.engine)

    def engine(self, *, read_only: bool = False) -> Engine:
        """Open the warehouse; use as a context manager so it is closed. A warehouse an
        earlier openbureau wrote is migrated to this one's schema version first (opened
        ``read_only`` too: a reader never sees tables older than the code reading them, so it
        is opened for writing for the migration; if it cannot be, that is refused in one
        line); one a newer openbureau wrote is refused."""
        engine, found = self._open(read_only)
        if not read_only or found == warehouse.SCHEMA_VERSION:
            return engine
        engine.close()
        try:
            self._open(False)[0].close()
        except UserError as exc:
            raise UserError(
                f"{self.warehouse_path}: the warehouse must be upgraded to this openbureau's "
                f"schema version ({warehouse.SCHEMA_VERSION}) before it is read, and cannot be "
                f"opened for writing: {exc}"
            ) from None
        return self._open(True)[0]

    def _open(self, read_only: bool) -> tuple[Engine, int]:
        """The warehouse, and the schema version it was at (brought up to date unless
        ``read_only``)."""
        engine = self.engine_class.open_warehouse(
            self.root, self.settings.warehouse, read_only=read_only
        )
        try:  # (a newer warehouse is refused; an older one brought up to date)
            found = warehouse.upgrade(engine, str(self.warehouse_path), read_only=read_only)
        except BaseException:
            engine.close()
            raise
        return engine, found

    def national_id_key(self) -> bytes:
        """The HMAC key for national-ID tokens, read from the secrets folder."""
        path = self.root / self.settings.secrets.national_id_key
        try:
            text = path.read_text(encoding="ascii").strip()
            key = bytes.fromhex(text)
        except FileNotFoundError:
            raise UserError(
                f"{path}: national-ID key not found; restore it from your backup "
                "(without it, tokens cannot be matched to earlier ones)"
            ) from None
        except (OSError, ValueError, UnicodeDecodeError):
            raise UserError(f"{path}: national-ID key is not a hex string") from None
        if len(key) < 32:
            raise UserError(f"{path}: national-ID key must be at least 32 bytes")
        return key

    def resolve_spec(self, spec: str | Path) -> SourceSpec:
        """A spec given as a path, or as the name of a spec in the workspace's specs folder."""
        p = Path(spec)
        if not p.exists() and p.suffix == "" and len(p.parts) == 1:
            p = self.specs_dir / f"{spec}.yaml"
        return load_spec(p)


def init_workspace(root: str | Path, *, national_id_key: str | None = None) -> Workspace:
    """Create a new workspace in ``root`` (which may exist but must not hold one already).

    Its national-ID key is random unless ``national_id_key`` (64 hex digits) is given: the demo
    derives its key from its seed, so that the same seed gives the same persons and scorecards
    (the key shapes identity ids, and Splink samples pairs for training by them)."""
    path = Path(root)
    if (path / SETTINGS_FILE).exists():
        raise UserError(f"{path / SETTINGS_FILE}: a workspace already exists here")
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / SPECS_DIR).mkdir(exist_ok=True)
        secrets_dir = path / SECRETS_DIR
        secrets_dir.mkdir(mode=0o700, exist_ok=True)
        key_file = secrets_dir / "national_id.key"
        if not key_file.exists():
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write((national_id_key or secrets.token_hex(32)) + "\n")
        (path / ".gitignore").write_text(
            "# never commit secrets or the warehouse\nsecrets/\n*.duckdb\n*.duckdb.wal\n",
            encoding="utf-8",
        )
        (path / SETTINGS_FILE).write_text(DEFAULT_TOML, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot create workspace: {exc.strerror}") from None
    ws = Workspace.open(path)
    from openbureau.ingest import store  # the warehouse schema lives with the stage that owns it

    with ws.engine() as engine:
        store.ensure_schema(engine)
    return ws
