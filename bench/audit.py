"""The audit log as a transparency log at size: append, sign, proofs, and a full check.

    .venv/bin/python bench/audit.py --entries 1000000 --repeat 200

Builds a log of ``--entries`` entries in a fresh store (a SQLite file in ``--dir``, or
``--store URL``, which must be an empty database), through the same append as the service's
group-commit writer (batches of 5,000), then times, each ``--repeat`` times with median and
95th percentile in ms:

- ``append 1``: one entry in its own transaction (``audit.record``, as the CLI writes);
- ``append 100``: a batch of 100 entries in one transaction (what the writer thread commits
  under load);
- ``sign``: a signed tree head (root from the stored nodes, a consistency check against the last
  head, Ed25519, the store and the heads file);
- ``inclusion 1``: one entry's audit path, and its verification;
- ``inclusion 50``: the paths of 50 random entries (a person's access log page);
- ``consistency``: a proof from a random earlier size to the current one, and its verification.

Then ``verify`` once: ``openbureau audit verify``'s full check (every entry, every node, every
head), in seconds. No figure depends on the log's content beyond its size.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from openbureau.service import audit, audit_tree
from openbureau.service.audit_check import verify_log
from openbureau.service.audit_heads import latest_head, sign_head
from openbureau.service.merkle import verify_consistency, verify_inclusion
from openbureau.service.store import open_store
from openbureau.workspace import init_workspace


def _entry(i: int) -> audit._Pending:
    return audit._Pending(
        audit._fields(
            f"lender{i % 50}",
            "lender",
            "read score",
            f"P{i % 100_003:012d}",
            "credit_application",
            "allowed",
            "",
        )
    )


def _times(label: str, repeat: int, fn: Callable[[], object]) -> None:
    fn()  # (warm)
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    runs.sort()
    p95 = runs[min(len(runs) - 1, int(len(runs) * 0.95))]
    print(f"{label:<14} {statistics.median(runs):9.2f} {p95:9.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--store", help="SQLAlchemy URL of an empty store (default: SQLite)")
    ap.add_argument("--dir", type=Path, help="where the workspace goes (default: a temp dir)")
    args = ap.parse_args()
    root = init_workspace((args.dir or Path(tempfile.mkdtemp())) / "ws").root
    store = open_store(args.store or f"sqlite:///{root / 'service' / 'store.sqlite'}")
    rng = random.Random(1)

    t = time.perf_counter()
    done = 0
    while done < args.entries:
        n = min(5000, args.entries - done)
        audit._append(store, [_entry(done + i) for i in range(n)])
        done += n
    build = time.perf_counter() - t
    print(
        f"built a log of {args.entries:,} entries in {build:.1f} s "
        f"({args.entries / build:,.0f} entries/s, batches of 5,000)"
    )
    sign_head(store, root)

    print(f"{'operation':<14} {'median ms':>9} {'p95 ms':>9}")
    _times(
        "append 1",
        args.repeat,
        lambda: audit.record(
            store, actor="lender1", actor_role="lender", action="read score", subject="P1"
        ),
    )
    _times("append 100", args.repeat, lambda: audit._append(store, [_entry(i) for i in range(100)]))
    _times("sign", args.repeat, lambda: sign_head(store, root))
    with store() as s:
        head = latest_head(s)
    assert head is not None
    size = head.tree_size

    def inclusion(k: int) -> None:
        wanted = [rng.randrange(size) for _ in range(k)]
        with store() as s:
            paths = audit_tree.inclusion_proofs(s, wanted, size)
            leaves = audit_tree.fetch_nodes(s, [(0, i) for i in wanted])
        for i in wanted:
            assert verify_inclusion(i, size, leaves[(0, i)], paths[i], head.root_hash)

    def consistency() -> None:
        old = rng.randrange(1, size)
        with store() as s:
            proof = audit_tree.consistency_proof(s, old, size)
            old_root = audit_tree.root_at(s, old)
        assert verify_consistency(old, size, old_root, head.root_hash, proof)

    _times("inclusion 1", args.repeat, lambda: inclusion(1))
    _times("inclusion 50", args.repeat, lambda: inclusion(50))
    _times("consistency", args.repeat, consistency)

    t = time.perf_counter()
    check = verify_log(store, root)
    print(
        f"verify: {check.entries:,} entries, {len(check.heads)} heads, "
        f"{'intact' if check.ok else check.problems[:3]} in {time.perf_counter() - t:.1f} s"
    )
    return 0 if check.ok else 1


if __name__ == "__main__":
    sys.exit(main())
