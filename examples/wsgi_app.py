"""A minimal web app (WSGI, standard library only) that stores subscriptions and pushes.

    python examples/wsgi_app.py --key private_key.pem --port 8000

* ``GET /vapid-public-key``: the applicationServerKey for ``pushManager.subscribe``;
* ``POST /subscribe``: the JSON of ``PushSubscription.toJSON()``, stored in memory
  (checked first: a bad subscription gets a 400 naming the problem);
* ``POST /notify``: the request body is pushed to every stored subscription;
  the answer counts the deliveries; expired subscriptions are dropped.

``--local`` lets it reach a local test push service; never use it in production.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterable
from typing import Any, Callable, Optional
from wsgiref.simple_server import make_server

from webpush_core import EndpointPolicy, InvalidInput, PushClient, Subscription
from webpush_core.vapid import Vapid

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class PushApp:
    def __init__(self, key_path: str, sub: str, policy: Optional[EndpointPolicy] = None) -> None:
        self.public_key = Vapid.from_file(key_path).application_server_key
        self.client = PushClient(key_path, {"sub": sub}, ttl=3600, endpoint_policy=policy)
        self.subscriptions: dict[str, dict[str, Any]] = {}  # endpoint -> subscription
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(min(length, 65536)) if length else b""
        if method == "GET" and path == "/vapid-public-key":
            return self.answer(start_response, "200 OK", {"publicKey": self.public_key})
        if method == "POST" and path == "/subscribe":
            try:
                info = json.loads(body)
                Subscription.from_info(info)  # refuse a bad one now, not at send time
            except (ValueError, InvalidInput) as e:
                return self.answer(start_response, "400 Bad Request", {"error": str(e)})
            with self.lock:
                self.subscriptions[info["endpoint"]] = info
            return self.answer(start_response, "201 Created", {"stored": True})
        if method == "POST" and path == "/notify":
            with self.lock:
                targets = list(self.subscriptions.values())
            delivered = 0
            for result in self.client.send_many(targets, body):
                if result.ok:
                    delivered += 1
                elif result.expired:
                    with self.lock:
                        self.subscriptions.pop(result.subscription["endpoint"], None)
            return self.answer(start_response, "200 OK", {"delivered": delivered})
        return self.answer(start_response, "404 Not Found", {"error": "no such route"})

    @staticmethod
    def answer(start_response: StartResponse, status: str, data: Any) -> list[bytes]:
        payload = json.dumps(data).encode("utf-8")
        start_response(status, [("Content-Type", "application/json")])
        return [payload]


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", default="private_key.pem", help="VAPID private key file")
    parser.add_argument("--sub", default="mailto:ops@example.com", help="VAPID sub claim")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--local", action="store_true", help="allow a local test service")
    args = parser.parse_args(argv)
    policy = EndpointPolicy.for_testing() if args.local else None
    app = PushApp(args.key, args.sub, policy)
    with make_server("127.0.0.1", args.port, app) as server:
        print(f"serving on http://127.0.0.1:{server.server_port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
