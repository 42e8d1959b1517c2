"""Send one push message from a script.

    python examples/send_one.py SUBSCRIPTION.json "hello" --key private_key.pem \
        --sub mailto:ops@example.com

SUBSCRIPTION.json is what the browser's ``PushSubscription.toJSON()`` gave
you. ``--local`` lets it reach a local test push service (plain http on
loopback); never use it in production. Exit status: 0 delivered, 1 refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from webpush_core import EndpointPolicy, ExpiredSubscription, WebPushException, webpush


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("subscription", help="subscription JSON file")
    parser.add_argument("message")
    parser.add_argument("--key", default="private_key.pem", help="VAPID private key file")
    parser.add_argument("--sub", default="mailto:ops@example.com", help="VAPID sub claim")
    parser.add_argument("--local", action="store_true", help="allow a local test service")
    args = parser.parse_args(argv)

    with open(args.subscription, encoding="utf-8") as f:
        subscription = json.load(f)
    try:
        response = webpush(
            subscription,
            args.message,
            vapid_private_key=args.key,
            vapid_claims={"sub": args.sub},
            ttl=3600,
            endpoint_policy=EndpointPolicy.for_testing() if args.local else None,
        )
    except ExpiredSubscription:
        print("the subscription is gone: delete it", file=sys.stderr)
        return 1
    except WebPushException as ex:
        print(f"not delivered: {ex}", file=sys.stderr)
        return 1
    print(f"delivered: {response.status_code} {response.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
