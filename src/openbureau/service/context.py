"""What every request can reach: settings, the store, the published snapshot, audit logging."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from openbureau.service import audit
from openbureau.service.audit_signing import HeadSigner
from openbureau.service.auth import Principal, audit_detail
from openbureau.service.consent import ConsentBook
from openbureau.service.disputes import Desk, DisputeBook
from openbureau.service.limits import AddressLimit, LookupPool, LookupQuota
from openbureau.service.login_guard import LoginThrottle
from openbureau.service.serving import Published, ServingStore
from openbureau.service.statements import StatementBook
from openbureau.service.store import utcnow

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
    login_failures_per_account: int
    login_failures_per_address: int
    login_window_minutes: int
    # lender lookups and anonymous calls (service/limits.py; defaults as in config.py)
    lookups_per_minute: int = 60
    lookups_at_once_per_lender: int = 2
    lookup_threads: int = 4
    verify_per_minute_per_address: int = 30
    verify_per_minute: int = 600
    proxy_headers: bool = False
    forwarded_allow_ips: str = "127.0.0.1"
    audit_sign_every: int = 1000
    audit_sign_interval: int = 10
    # how to reach the bureau, printed on adverse-action notices ([bureau] contact)
    bureau_contact: str = ""


class CredentialCache:
    """Recently checked API keys and session tokens (by their hash), for a few seconds: a
    busy lender's key is checked against the store once per ``ttl``, not per request. A
    disabled account or ended session in this process is forgotten at once; another
    process's change is seen within ``ttl``."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        # bumped by clear(): a store read begun before it must not be cached after it
        self.generation = 0

    @staticmethod
    def _key(kind: str, secret: str) -> str:
        return kind + hashlib.sha256(secret.encode("utf-8")).hexdigest()

    def get(self, kind: str, secret: str) -> Principal | None:
        hit = self._entries.get(self._key(kind, secret))
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, kind: str, secret: str, who: Principal, generation: int) -> None:
        """Cache what the store said, unless the cache was cleared since the read began
        (``generation`` as it was then)."""
        with self._lock:
            if generation != self.generation:
                return
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[self._key(kind, secret)] = (time.monotonic() + self.ttl, who)

    def forget(self, kind: str, secret: str) -> None:
        with self._lock:
            self._entries.pop(self._key(kind, secret), None)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()


class ServiceContext:
    """One per app: shared, thread-safe parts."""

    def __init__(self, config: ServiceConfig, store: sessionmaker[Session]) -> None:
        self.config = config
        self.store = store
        self.disputes = DisputeBook(store)
        self.serving = ServingStore(config.workspace, on_open=self._laid_over)
        self.heads = HeadSigner(
            store, config.workspace, config.audit_sign_every, config.audit_sign_interval
        )
        self.audit_writer = audit.AuditWriter(store, on_append=self.heads.after_append)
        self.credentials = CredentialCache()
        self.statements = StatementBook(store)
        self.consents = ConsentBook(store)
        self.clock = utcnow  # (tests set a given "now": a dispute's clock reads it)
        self.logins = LoginThrottle(
            store,
            config.login_failures_per_account,
            config.login_failures_per_address,
            config.login_window_minutes,
        )
        self.lookup_quota = LookupQuota(store, config.lookups_per_minute)
        self.lookups = LookupPool(config.lookup_threads, config.lookups_at_once_per_lender)
        self.verifications = AddressLimit(
            config.verify_per_minute_per_address, config.verify_per_minute
        )

    def published(self) -> Published | None:
        pub = self.serving.current()
        if pub is not None and self.disputes.stale():
            self.disputes.refresh()
        return pub

    def _laid_over(self, pub: Published) -> None:
        """A snapshot just opened shows the persons rescored on it since it was published; its
        lookup index is loaded on the lookup pool meanwhile."""
        from openbureau.service.lending import prepare_search

        pub.overlay = self.disputes.overlay(pub.snapshot_id)
        self.lookups.submit(prepare_search, self, pub)

    def dispute_desk(self) -> Desk:
        """Dispute work in this process: audited as the service, told to the book at once."""

        def audit(
            actor: str, role: str, action: str, *, subject: str | None = None, detail: str = ""
        ) -> None:
            self.audit_writer.record(
                actor=actor,
                actor_role=role,
                action=action,
                subject=subject,
                purpose="consumer_request" if role == "person" else "dispute_investigation",
                detail=detail,
            )

        return Desk(self.store, self.config.workspace, audit, self.disputes, self.clock)

    def consent(self, pub: Published | None, person_id: str) -> bool:
        """Whether the person's file (under any of its IDs) consents to alternative data now,
        and ``pub``'s score with it may be served (not when the file's alternative data was
        erased after the snapshot was made: :meth:`alternative_erased`)."""
        ids = [person_id, *(pub.merged.get(person_id, []) if pub is not None else [])]
        return self.consents.given(ids) and not self.alternative_erased(pub, person_id)

    def erased_until(self, pub: Published | None, person_id: str) -> dt.datetime | None:
        """See :meth:`ConsentBook.erased_until` (the file under any of its IDs)."""
        ids = [person_id, *(pub.merged.get(person_id, []) if pub is not None else [])]
        return self.consents.erased_until(ids)

    def alternative_erased(self, pub: Published | None, person_id: str) -> bool:
        """Whether the file's alternative data was erased (or is to be) after ``pub``'s
        snapshot was made: its bills and its score with them, still in that copy until the
        next snapshot, are not shown to anyone."""
        until = self.erased_until(pub, person_id)
        return until is not None and (pub is None or pub.made_at is None or pub.made_at <= until)

    async def audit_async(
        self,
        who: Principal | None,
        action: str,
        *,
        subject: str | None = None,
        purpose: str | None = None,
        outcome: str = "allowed",
        detail: str = "",
    ) -> None:
        await self.audit_writer.record_async(
            actor=who.username if who else "anonymous",
            actor_role=who.role if who else "anonymous",
            action=action,
            subject=subject,
            purpose=purpose,
            outcome=outcome,
            detail=audit_detail(who, detail),
        )

    def audit(
        self,
        who: Principal | None,
        action: str,
        *,
        subject: str | None = None,
        purpose: str | None = None,
        outcome: str = "allowed",
        detail: str = "",
    ) -> None:
        self.audit_writer.record(
            actor=who.username if who else "anonymous",
            actor_role=who.role if who else "anonymous",
            action=action,
            subject=subject,
            purpose=purpose,
            outcome=outcome,
            detail=audit_detail(who, detail),
        )

    def audit_many(
        self, who: Principal, action: str, entries: list[tuple[str | None, str]]
    ) -> None:
        """One entry of ``action`` by ``who`` for each ``(subject, detail)``, written together."""
        self.audit_writer.record_many(
            [
                {
                    "actor": who.username,
                    "actor_role": who.role,
                    "action": action,
                    "subject": subject,
                    "purpose": None,
                    "outcome": "allowed",
                    "detail": audit_detail(who, detail),
                }
                for subject, detail in entries
            ]
        )
