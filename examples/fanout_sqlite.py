"""Send one message to every subscription in a SQLite table; delete the expired ones.

    python examples/fanout_sqlite.py app.db "News!" --key private_key.pem

The table: ``subscriptions(id INTEGER PRIMARY KEY, info TEXT)`` where ``info``
is the JSON of ``PushSubscription.toJSON()``. Rows are read lazily (a cursor),
so memory stays flat however many there are. ``--local`` lets it reach a local
test push service; never use it in production.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Iterator
from typing import Any, Optional

from webpush_core import EndpointPolicy, PushClient


def subscriptions(db: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    for row_id, info in db.execute("SELECT id, info FROM subscriptions"):
        # Keep the row id with the subscription: the result carries it back.
        yield {**json.loads(info), "row_id": row_id}


def fan_out(db: sqlite3.Connection, message: str, client: PushClient) -> dict[str, int]:
    counts = {"delivered": 0, "deleted": 0, "failed": 0}
    expired: list[int] = []
    for result in client.send_many(subscriptions(db), message):
        if result.ok:
            counts["delivered"] += 1
        elif result.expired:
            expired.append(result.subscription["row_id"])
        else:
            counts["failed"] += 1
            print(f"push to {result.endpoint} failed: {result.error}", file=sys.stderr)
    # Deleted after the loop: the cursor above is still reading the table.
    db.executemany("DELETE FROM subscriptions WHERE id = ?", [(i,) for i in expired])
    db.commit()
    counts["deleted"] = len(expired)
    return counts


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database")
    parser.add_argument("message")
    parser.add_argument("--key", default="private_key.pem", help="VAPID private key file")
    parser.add_argument("--sub", default="mailto:ops@example.com", help="VAPID sub claim")
    parser.add_argument("--local", action="store_true", help="allow a local test service")
    args = parser.parse_args(argv)

    db = sqlite3.connect(args.database)
    policy = EndpointPolicy.for_testing() if args.local else None
    with PushClient(args.key, {"sub": args.sub}, ttl=3600, endpoint_policy=policy) as client:
        counts = fan_out(db, args.message, client)
    db.close()
    print(json.dumps(counts))
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
