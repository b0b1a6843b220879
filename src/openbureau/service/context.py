"""What every request can reach: settings, the store, the published snapshot, audit logging."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from openbureau.service import audit
from openbureau.service.auth import Principal
from openbureau.service.serving import Published, ServingStore

# Permissible purposes (after FCRA s.604): a lender states one for every lookup.
LENDER_PURPOSES = {
    "credit_application": "A credit application the person made",
    "account_review": "Review of an account the person holds",
    "collection": "Collection of a debt the person owes",
    "tenant_screening": "A tenancy the person applied for",
    "insurance_underwriting": "Insurance the person applied for",
    "employment_with_consent": "Employment screening with the person's written consent",
}
AUDITOR_PURPOSES = {
    "dispute_investigation": "Investigating a dispute the person raised",
    "regulatory_examination": "An examination by a supervisory authority",
    "legal_order": "A court order or subpoena",
}
PURPOSES = {**LENDER_PURPOSES, **AUDITOR_PURPOSES}


@dataclass
class ServiceConfig:
    workspace: Path
    bureau_name: str
    store_url: str
    secure_cookies: bool
    session_minutes: int
    attestation_days: int
    linkage_model: Path
    national_id_key: bytes | None
    country: str


class ServiceContext:
    """One per app: shared, thread-safe parts."""

    def __init__(self, config: ServiceConfig, store: sessionmaker[Session]) -> None:
        self.config = config
        self.store = store
        self.serving = ServingStore(config.workspace)

    def published(self) -> Published | None:
        return self.serving.current()

    def audit(self, who: Principal | None, action: str, *, subject: str | None = None,
              purpose: str | None = None, outcome: str = "allowed", detail: str = "") -> None:
        audit.record(self.store, actor=who.username if who else "anonymous",
                     actor_role=who.role if who else "anonymous", action=action,
                     subject=subject, purpose=purpose, outcome=outcome, detail=detail)
