"""Every script in examples/ runs against the local push service (as its own process)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from webpush_core.testing import LocalPushService
from webpush_core.vapid import Vapid

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def key(tmp_path: Path) -> tuple[str, Vapid]:
    vapid = Vapid.generate()
    path = tmp_path / "private_key.pem"
    vapid.save_key(path)
    return str(path), vapid


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_example_is_tested() -> None:
    tested = {"send_one.py", "fanout_sqlite.py", "wsgi_app.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_send_one(push_service: LocalPushService, key: tuple[str, Vapid], tmp_path: Path) -> None:
    path, vapid = key
    sub = push_service.subscribe(vapid.application_server_key)
    info = tmp_path / "sub.json"
    info.write_text(json.dumps(sub))
    done = run("send_one.py", str(info), "hello from a script", "--key", path, "--local")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("delivered: 201")
    assert push_service.wait_for_message(sub).text == "hello from a script"
    push_service.expire(sub)
    done = run("send_one.py", str(info), "again", "--key", path, "--local")
    assert done.returncode == 1 and "delete it" in done.stderr
    # Without --local the strict default policy refuses the loopback endpoint.
    done = run("send_one.py", str(info), "x", "--key", path)
    assert done.returncode == 1 and "for_testing" in done.stderr


def test_fanout_sqlite(
    push_service: LocalPushService, key: tuple[str, Vapid], tmp_path: Path
) -> None:
    path, vapid = key
    subs = [push_service.subscribe(vapid.application_server_key) for _ in range(5)]
    for gone in subs[:2]:
        push_service.expire(gone)
    db_path = tmp_path / "app.db"
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE subscriptions (id INTEGER PRIMARY KEY, info TEXT)")
    db.executemany("INSERT INTO subscriptions (info) VALUES (?)", [(json.dumps(s),) for s in subs])
    db.commit()
    done = run("fanout_sqlite.py", str(db_path), "News!", "--key", path, "--local")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"delivered": 3, "deleted": 2, "failed": 0}
    left = [
        json.loads(info)["endpoint"] for (info,) in db.execute("SELECT info FROM subscriptions")
    ]
    assert left == [s["endpoint"] for s in subs[2:]]
    for sub in subs[2:]:
        assert push_service.wait_for_message(sub).text == "News!"
    db.close()


def call(url: str, data: Any = None, raw: bytes = b"") -> tuple[int, Any]:
    body = json.dumps(data).encode() if data is not None else raw
    request = urllib.request.Request(url, data=body if (data is not None or raw) else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_wsgi_app(push_service: LocalPushService, key: tuple[str, Vapid]) -> None:
    path, vapid = key
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "wsgi_app.py"), "--key", path, "--port", "0", "--local"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("serving on "), line
        base = line.split()[-1]
        assert call(base + "/vapid-public-key") == (
            200,
            {"publicKey": vapid.application_server_key},
        )
        status, answer = call(base + "/subscribe", {"endpoint": "https://e.example/x", "keys": {}})
        assert status == 400 and "p256dh" in answer["error"]
        sub = push_service.subscribe(vapid.application_server_key)
        assert call(base + "/subscribe", sub) == (201, {"stored": True})
        assert call(base + "/notify", raw=b"ping") == (200, {"delivered": 1})
        assert push_service.wait_for_message(sub).text == "ping"
        push_service.expire(sub)
        assert call(base + "/notify", raw=b"gone") == (200, {"delivered": 0})
        assert call(base + "/notify", raw=b"none left") == (200, {"delivered": 0})
        assert len(push_service.requests) == 2  # the expired subscription was dropped
    finally:
        server.terminate()
        server.wait(timeout=10)
