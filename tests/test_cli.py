"""The command line: ``webpush-core send | keygen | explain`` and ``python -m webpush_core``.

``send`` goes to a LocalPushService (``--allow-private``), which decrypts and
records what arrived. Exit status: 0 sent, 1 refused or unreachable (the
push service's answer on stderr), 2 bad input (nothing sent).
"""

from __future__ import annotations

import base64
import io
import json
import os
import pathlib
import re
import shutil
import stat
import subprocess
import sys
from typing import Any

import pytest

from servers.loopback import free_port
from unit.test_ece_explain import AES128GCM_NAMES, AESGCM_NAMES
from webpush_core import __version__
from webpush_core._cli import main
from webpush_core._cli_flags import argument_parser, values_attached
from webpush_core.testing import LocalPushService
from webpush_core.vapid import Vapid


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Files:
    """A VAPID key, a subscription and claims, written where the CLI reads them."""

    def __init__(self, tmp: pathlib.Path, service: LocalPushService) -> None:
        self.tmp = tmp
        self.service = service
        self.vapid = Vapid.generate()
        self.key = tmp / "private_key.pem"
        self.vapid.save_key(self.key)
        self.sub = service.subscribe(self.vapid.application_server_key)
        self.info = self.write("subscription.json", self.sub)
        self.claims = self.write("claims.json", {"sub": "mailto:ops@example.com"})

    def write(self, name: str, content: Any) -> str:
        path = self.tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content)
        else:
            path.write_text(json.dumps(content))
        return str(path)

    def send_args(self, *extra: str) -> list[str]:
        return [
            "send",
            "--info", self.info,
            "--key", str(self.key),
            "--claims", self.claims,
            "--allow-private",
            *extra,
        ]  # fmt: skip


@pytest.fixture
def files(tmp_path: pathlib.Path, push_service: LocalPushService) -> Files:
    return Files(tmp_path, push_service)


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return main(argv, out=out), out.getvalue()


# -- send ----------------------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["aes128gcm", "aesgcm"])
def test_send_with_every_option(files: Files, coding: str) -> None:
    head = files.write("head.json", {"X-Request-Id": "r-42"})
    status, out = run(
        files.send_args(
            "--message", "hello from the CLI",
            "--head", head,
            "--ttl", "600",
            "--urgency", "high",
            "--topic", "cli_topic",
            "--encoding", coding,
        )
    )  # fmt: skip
    assert status == 0
    assert out.startswith("201 Created")
    [message] = files.service.messages(files.sub)
    assert message.text == "hello from the CLI"
    assert message.encoding == coding
    assert (message.ttl, message.urgency, message.topic) == (600, "high", "cli_topic")
    assert message.vapid_claims is not None
    assert message.vapid_claims["sub"] == "mailto:ops@example.com"
    assert message.vapid_claims["aud"] == files.service.url
    assert files.service.requests[-1].headers["x-request-id"] == "r-42"


def test_send_data_file_is_sent_byte_for_byte(files: Files) -> None:
    payload = os.urandom(3000)
    data = files.write("payload.bin", payload)
    status, _ = run(files.send_args("--data", data))
    assert status == 0
    assert files.service.messages(files.sub)[0].plaintext == payload


def test_send_key_as_a_string_and_no_message(files: Files) -> None:
    assert files.vapid.private_key is not None
    scalar = files.vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    raw = base64.urlsafe_b64encode(scalar).rstrip(b"=").decode()
    argv = files.send_args()
    at = argv.index("--key")
    # One "--key=" argument: a key string may start with "-" (1 in 64 do), which
    # argparse would read as another option after a separate "--key".
    argv[at : at + 2] = [f"--key={raw}"]
    status, _ = run(argv)
    assert status == 0
    [message] = files.service.messages(files.sub)
    assert message.plaintext == b"" and message.ttl == 0


@pytest.mark.parametrize(
    ("prefix", "begins"),
    [(b"\xf8", "-"), (b"\xfa\x60", "-m"), (b"\xfb\xe0", "--")],  # "-m": like the -m flag
)
def test_a_key_string_beginning_with_a_dash_after_a_separate_key_flag(
    files: Files, prefix: bytes, begins: str
) -> None:
    raw = base64.urlsafe_b64encode(prefix + os.urandom(32 - len(prefix))).rstrip(b"=").decode()
    assert raw.startswith(begins)
    vapid = Vapid.from_raw(raw)
    sub = files.service.subscribe(vapid.application_server_key)
    info = files.write("dash.json", sub)
    argv = ["send", "--info", info, "--key", raw, "--claims", files.claims, "--allow-private"]
    status, _ = run([*argv, "--message", "-5 degrees"])  # a message may begin with "-" too
    assert status == 0
    assert run([*argv, "-m", "-mild"])[0] == 0  # the short flag, a value like its own name
    assert [m.text for m in files.service.messages(sub)] == ["-5 degrees", "-mild"]


@pytest.mark.parametrize(
    ("after_key", "rest"),
    [
        ("--message", ["hello"]),  # a flag itself
        ("--mess", ["hello"]),  # the start of one (argparse reads it as --message)
        ("--allow", []),  # the start of --allow-private
        ("--message=hi", []),
        ("--", ["x"]),
    ],
)
def test_what_reads_as_a_flag_is_never_taken_as_a_value(
    files: Files, after_key: str, rest: list[str]
) -> None:
    argv = files.send_args()
    argv[argv.index("--key") + 1] = after_key  # the key left out: --key --message ...
    argv += rest
    assert values_attached(argument_parser(), argv) == argv  # argparse reads it as ever
    try:
        status = main(argv, out=io.StringIO())
    except SystemExit as usage:
        status = usage.code  # type: ignore[assignment]
    assert status == 2
    assert files.service.requests == []


@pytest.mark.parametrize(("ttl", "expected"), [(None, 86400), ("60", 60)])
def test_send_wns(files: Files, ttl: Any, expected: int) -> None:
    extra = ["--message", "to windows", "--wns"] + (["--ttl", ttl] if ttl else [])
    status, _ = run(files.send_args(*extra))
    assert status == 0
    wire = files.service.requests[-1].headers
    assert wire["x-wns-cache-policy"] == "cache"
    assert int(wire["ttl"]) == expected > 0
    assert files.service.messages(files.sub)[0].text == "to windows"


def test_send_curl_prints_and_sends_nothing(files: Files, tmp_path: pathlib.Path) -> None:
    status, out = run(files.send_args("--message", "curl me", "--curl", "--ttl", "5"))
    assert status == 0
    assert files.service.requests == []
    assert "curl " in out and files.sub["endpoint"] in out
    if shutil.which("curl") and shutil.which("bash") and shutil.which("base64"):
        done = subprocess.run(
            ["bash", "-c", out],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert files.service.messages(files.sub)[0].text == "curl me"


def test_send_verbose_logs_without_secrets(files: Files, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="webpush_core")
    status, _ = run(files.send_args("--message", "v", "--verbose"))
    assert status == 0
    assert files.sub["endpoint"] in caplog.text and "201" in caplog.text
    assert files.sub["keys"]["auth"] not in caplog.text
    assert "vapid t=" not in caplog.text


# -- exit status ---------------------------------------------------------------------------


def test_expired_subscription_exits_1_with_the_services_answer(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    files.service.expire(files.sub)
    status, out = run(files.send_args("--message", "too late"))
    assert status == 1
    err = capsys.readouterr().err
    assert "410" in err
    assert "the subscription has expired or was unsubscribed" in err  # the service's words
    assert out == ""


def test_unreachable_exits_1(files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    sub = dict(files.sub, endpoint=f"http://127.0.0.1:{free_port()}/push/x")  # nothing listens
    files.info = files.write("dead.json", sub)
    status, _ = run(files.send_args("--message", "x", "--timeout", "2"))
    assert status == 1
    assert "connect" in capsys.readouterr().err


def test_vapid_refused_exits_1(files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    Vapid.generate().save_key(files.tmp / "other.pem")
    argv = files.send_args("--message", "x")
    argv[argv.index("--key") + 1] = str(files.tmp / "other.pem")
    assert run(argv)[0] == 1
    assert "403" in capsys.readouterr().err


BAD_INPUTS: list[tuple[str, list[str], str]] = [
    ("ttl-negative", ["--ttl", "-1"], "ttl"),
    ("topic-too-long", ["--topic", "t" * 33], "topic"),
    ("data-too-large", ["--data", "@big"], "3993"),
    ("data-file-missing", ["--data", "/nonexistent/payload"], "cannot read data file"),
    ("head-not-object", ["--head", "@head-list"], "JSON object"),
    ("head-not-json", ["--head", "@not-json"], "not JSON"),
    ("head-computed-header", ["--head", "@head-ce"], "computed"),
    ("claims-plain-email", ["--claims", "@plain-email"], "mailto:"),
    ("key-missing", ["--key", "/nonexistent/key.pem"], "no key file"),
    ("info-missing", ["--info", "/nonexistent/sub.json"], "cannot read info file"),
    ("info-bad-key", ["--info", "@bad-sub"], "keys.auth"),
]


@pytest.mark.parametrize(
    ("flags", "rule"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_exits_2_and_sends_nothing(
    files: Files, capsys: pytest.CaptureFixture[str], flags: list[str], rule: str
) -> None:
    made = {
        "@big": files.write("big.bin", b"x" * 3994),
        "@head-list": files.write("head-list.json", ["X-A", "1"]),
        "@not-json": files.write("not-json.json", "{nope"),
        "@head-ce": files.write("head-ce.json", {"Content-Encoding": "gzip"}),
        "@plain-email": files.write("plain.json", {"sub": "ops@example.com"}),
        "@bad-sub": files.write(
            "bad-sub.json", dict(files.sub, keys=dict(files.sub["keys"], auth="AAAA"))
        ),
    }
    argv = files.send_args("--message", "x")
    for i in range(0, len(flags), 2):
        value = made.get(flags[i + 1], flags[i + 1])
        if flags[i] in argv:
            argv[argv.index(flags[i]) + 1] = value
        else:
            argv += [flags[i], value]
    if "--data" in argv:
        argv.remove("--message")
        argv.remove("x")
    status, out = run(argv)
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("webpush-core: ")
    assert rule in err
    assert "Traceback" not in err and out == ""
    assert files.service.requests == []
    assert files.sub["keys"]["auth"] not in err


def test_http_endpoint_needs_allow_private(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = files.send_args("--message", "x")
    argv.remove("--allow-private")
    assert run(argv)[0] == 2
    err = capsys.readouterr().err
    # The hint names the flag that fixes it, not a Python argument.
    assert "https" in err and "--allow-private" in err
    assert "allow_private=" not in err and "for_testing" not in err
    assert files.service.requests == []


@pytest.mark.parametrize(
    "argv",
    [
        ["send"],  # --info is required
        ["send", "--info", "x.json", "--urgency", "asap"],
        ["send", "--info", "x.json", "--ttl", "soon"],
        ["send", "--info", "x.json", "--message", "a", "--data", "f"],
        ["frobnicate"],
        [],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv, out=io.StringIO())
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


# -- keygen --------------------------------------------------------------------------------


def test_keygen_writes_a_0600_key_matching_what_it_prints(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "vapid.pem"
    status, out = run(["keygen", "--out", str(path)])
    assert status == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = Vapid.from_file(path)
    printed = out.strip().splitlines()[-1]
    assert printed == key.application_server_key
    point = unb64url(printed)
    assert len(point) == 65 and point[0] == 4
    assert "PRIVATE" not in out and path.read_text().split("\n")[1] not in out


def test_keygen_refuses_to_overwrite_without_force(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "vapid.pem"
    assert run(["keygen", "--out", str(path)])[0] == 0
    original = path.read_bytes()
    status, _ = run(["keygen", "--out", str(path)])
    assert status == 2
    assert "--force" in capsys.readouterr().err
    assert path.read_bytes() == original
    status, out = run(["keygen", "--out", str(path), "--force"])
    assert status == 0
    assert path.read_bytes() != original
    assert Vapid.from_file(path).application_server_key == out.strip().splitlines()[-1]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_generated_key_sends(tmp_path: pathlib.Path, push_service: LocalPushService) -> None:
    key_path = tmp_path / "k.pem"
    _, out = run(["keygen", "--out", str(key_path)])
    sub = push_service.subscribe(out.strip().splitlines()[-1])  # the browser side
    (tmp_path / "s.json").write_text(json.dumps(sub))
    (tmp_path / "c.json").write_text(json.dumps({"sub": "mailto:ops@example.com"}))
    argv = ["send", "-i", str(tmp_path / "s.json"), "-m", "hi", "--key", str(key_path)]
    status, _ = run([*argv, "--claims", str(tmp_path / "c.json"), "--allow-private"])
    assert status == 0
    assert push_service.messages(sub)[0].text == "hi"


# -- explain -------------------------------------------------------------------------------


def _values(out: str) -> dict[str, str]:
    """Every ``  name : value`` line of explain's output (the values, in base64url)."""
    found = {}
    for line in out.splitlines():
        name, sep, value = line.partition(" : ")
        if sep and line.startswith("  ") and not line.startswith("   "):
            assert name.strip() not in found, name
            found[name.strip()] = value.strip()
    return found


@pytest.mark.parametrize(
    ("coding", "names"), [("aes128gcm", AES128GCM_NAMES), ("aesgcm", AESGCM_NAMES)]
)
def test_explain_prints_every_step(files: Files, coding: str, names: list[str]) -> None:
    status, out = run(
        ["explain", "--info", files.info, "--message", "audit me", "--encoding", coding]
    )
    assert status == 0
    assert out.splitlines()[0] == f"{coding} encryption for {files.sub['endpoint']}"
    steps = _values(out)
    assert list(steps) == names
    headings = [line for line in out.splitlines()[2:] if not line.startswith(" ")]
    assert headings == ["inputs:", "key schedule:", "header:", "records:", "body:"]
    ua_public = unb64url(files.sub["keys"]["p256dh"])
    assert unb64url(steps["ua_public"]) == ua_public
    if coding == "aes128gcm":
        # RFC 8291 §3.4: key_info = "WebPush: info" || 0x00 || ua_public || as_public.
        key_info = unb64url(steps["key_info"])
        assert key_info[:14] == b"WebPush: info\x00" and key_info[14:79] == ua_public
        assert unb64url(steps["cek_info"]) == b"Content-Encoding: aes128gcm\x00"
        assert unb64url(steps["nonce_info"]) == b"Content-Encoding: nonce\x00"
        assert len(unb64url(steps["CEK"])) == 16 and len(unb64url(steps["NONCE"])) == 12
        # The record: "audit me" + 0x02 delimiter + 16-byte tag.
        assert unb64url(steps["record[0].plaintext"]) == b"audit me\x02"
        assert len(unb64url(steps["ciphertext"])) == len(b"audit me") + 1 + 16
        assert unb64url(steps["body"]) == unb64url(steps["header"]) + unb64url(steps["ciphertext"])
    else:
        assert unb64url(steps["auth_info"]) == b"Content-Encoding: auth\x00"
        assert steps["Encryption"] == f"salt={steps['salt']}"
        assert steps["Crypto-Key"] == f"dh={steps['as_public']}"
        assert unb64url(steps["record[0].plaintext"]) == b"\x00\x00audit me"
    assert files.service.requests == []  # explain sends nothing


def test_explain_from_a_data_file_and_bad_info(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    data = files.write("m.txt", b"from a file")
    status, out = run(["explain", "-i", files.info, "-d", data])
    assert status == 0
    assert len(unb64url(_values(out)["ciphertext"])) == len(b"from a file") + 1 + 16
    bad = files.write("bad.json", {"endpoint": files.sub["endpoint"], "keys": {}})
    assert run(["explain", "-i", bad, "-m", "x"])[0] == 2
    assert "keys.p256dh" in capsys.readouterr().err


# -- python -m webpush_core ----------------------------------------------------------------


def test_python_m_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "webpush_core", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"webpush-core {__version__}"


# -- flags in messages, defaults in --help, pubkey, keygen --format, explain's inputs ------


def test_errors_speak_in_flag_names(files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    claims = files.write("bad-claims.json", {"sub": "mailto:ops@example.com", "aud": "https://x"})
    argv = files.send_args("--message", "x")
    argv[argv.index(files.claims)] = claims
    assert run(argv)[0] == 2
    err = capsys.readouterr().err
    assert "--claims aud" in err and "vapid_claims" not in err
    no_key = [a for a in files.send_args("--message", "x") if a != str(files.key)]
    no_key.remove("--key")
    assert run(no_key)[0] == 2
    err = capsys.readouterr().err
    assert "--key" in err and "--claims" in err and "vapid_" not in err


@pytest.mark.parametrize("command", ["send", "keygen", "pubkey", "explain"])
def test_help_states_every_default(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"], out=io.StringIO())
    text = " ".join(capsys.readouterr().out.split())
    from webpush_core._cli_flags import argument_parser

    sub = next(a for a in argument_parser()._actions if a.dest == "command").choices[command]  # type: ignore[union-attr,index]
    for action in sub._actions:
        if not action.option_strings or action.required or action.dest == "help":
            continue
        if command == "explain" and action.dest in ("data", "message"):
            continue  # one of the two is required
        assert "default" in (action.help or ""), f"{command} {action.option_strings}"
    assert "(default: aes128gcm)" in text or command in ("keygen", "pubkey")


@pytest.mark.parametrize("fmt", ["pem", "der", "raw"])
def test_keygen_formats_and_pubkey(tmp_path: pathlib.Path, fmt: str) -> None:
    path = tmp_path / f"key.{fmt}"
    status, out = run(["keygen", "--out", str(path), "--format", fmt])
    assert status == 0
    printed = out.strip().splitlines()[-1]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    if fmt == "pem":
        assert data.startswith(b"-----BEGIN PRIVATE KEY-----")
    elif fmt == "der":
        assert data[:1] == b"\x30"  # an ASN.1 SEQUENCE
    else:
        assert len(unb64url(data.decode().strip())) == 32  # node web-push's privateKey
    assert Vapid.from_file(path).application_server_key == printed
    status, out = run(["pubkey", str(path)])
    assert status == 0 and out.strip() == printed


@pytest.mark.parametrize("fmt", ["pem", "raw"])
def test_keygen_out_dash_writes_the_key_to_stdout(
    fmt: str,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    status, out = run(["keygen", "--out", "-", "--format", fmt])
    assert status == 0
    assert list(tmp_path.iterdir()) == []  # no file named "-", nor any other
    key = Vapid.from_string(out)  # stdout is the key alone
    assert out.endswith("\n") and out.count("\n") == (5 if fmt == "pem" else 1)
    err = capsys.readouterr().err  # what a person reads goes to stderr
    assert err.splitlines() == [
        f"private key written to stdout ({fmt})",
        "applicationServerKey (for pushManager.subscribe):",
        key.application_server_key,
    ]


def test_keygen_out_dash_der_is_binary_on_stdout(tmp_path: pathlib.Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "webpush_core", "keygen", "--out", "-", "--format", "der"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    key = Vapid(load_der_private_key(done.stdout, None))  # type: ignore[arg-type]
    assert done.stderr.decode().splitlines()[-1] == key.application_server_key
    assert list(tmp_path.iterdir()) == []
    # Where stdout takes text only, the binary key is refused, not mangled.
    assert run(["keygen", "--out", "-", "--format", "der"])[0] == 2


@pytest.mark.parametrize("fmt", ["pem", "der", "raw"])
def test_pubkey_as_pem(tmp_path: pathlib.Path, fmt: str) -> None:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
    )

    path = tmp_path / f"key.{fmt}"
    _, out = run(["keygen", "--out", str(path), "--format", fmt])
    printed = out.strip().splitlines()[-1]
    status, pem = run(["pubkey", str(path), "--format", "pem"])
    assert status == 0
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n") and pem.endswith(
        "-----END PUBLIC KEY-----\n"
    )
    point = load_pem_public_key(pem.encode()).public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint
    )
    assert point == unb64url(printed)
    assert run(["pubkey", str(path), "--format", "raw"])[1] == printed + "\n"


def test_every_text_output_ends_with_a_newline(files: Files, tmp_path: pathlib.Path) -> None:
    """Each command, run as a program: its stdout and stderr end with a newline (or are
    empty), and so does each text file it writes."""
    bad_info = files.write("bad.json", {"endpoint": files.sub["endpoint"]})
    gone = files.service.subscribe(files.vapid.application_server_key)
    files.service.expire(gone)
    gone_info = files.write("gone.json", gone)
    key = str(files.key)
    commands: list[list[str]] = [
        ["--version"],
        files.send_args("--message", "hi"),
        files.send_args("--message", "hi", "--curl"),
        [*files.send_args("--message", "x"), "--info", gone_info],  # 1: refused (410)
        [*files.send_args("--message", "x"), "--info", bad_info],  # 2: bad input
        ["keygen", "--out", str(tmp_path / "k.pem")],
        ["keygen", "--out", str(tmp_path / "k.raw"), "--format", "raw"],
        ["keygen", "--out", str(tmp_path / "k.der"), "--format", "der"],
        ["keygen", "--out", "-"],
        ["keygen", "--out", "-", "--format", "raw"],
        ["pubkey", key],
        ["pubkey", key, "--format", "pem"],
        ["pubkey", str(tmp_path / "missing.pem")],  # 2
        ["explain", "--info", files.info, "--message", "m"],
        ["explain", "--info", files.info, "--message", "m", "--encoding", "aesgcm"],
        ["demo"],
    ]
    # All at once: each is its own process, writing its own file if any (the
    # time is the interpreter starting, 16 times).
    running = [
        subprocess.Popen(
            [sys.executable, "-m", "webpush_core", *argv],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for argv in commands
    ]
    statuses = []
    for argv, process in zip(commands, running):
        try:
            stdout, stderr = process.communicate(timeout=120)
        finally:
            process.kill()
        statuses.append(process.wait())
        for stream in (stdout, stderr):
            assert stream == b"" or stream.endswith(b"\n"), (argv, stream[-80:])
        assert stdout or stderr, argv
    assert statuses == [0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0]
    for name in ("k.pem", "k.raw"):
        assert (tmp_path / name).read_bytes().endswith(b"\n"), name


def test_pubkey_of_a_missing_file_exits_2(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["pubkey", str(tmp_path / "nope.pem")])[0] == 2
    assert "no VAPID key file" in capsys.readouterr().err


def test_explain_reproduces_rfc8291_appendix_a_byte_for_byte() -> None:
    vectors = json.loads(
        (pathlib.Path(__file__).parent / "vectors" / "rfc-vectors.json").read_text()
    )["rfc8291_appendix_a"]
    status, out = run(
        [
            "explain",
            "--message", vectors["plaintext"],
            "--subscription", vectors["ua_public"],
            "--auth", vectors["auth_secret"],
            "--salt", vectors["salt"],
            "--sender-key", vectors["as_private"],
        ]
    )  # fmt: skip
    assert status == 0
    steps = _values(out)
    for name in ("salt", "as_public", "ua_public", "auth_secret", "as_private"):
        assert steps[name] == vectors[name], name
    for name, value in vectors["intermediate"].items():
        assert steps[name] == value, name
    assert steps["body"] == vectors["body"]  # the final body, whole, on one line
    assert steps["header.keyid"] == vectors["as_public"]
    # Each value with its formula and section, the header split, the delimiter shown:
    # what an auditor checks without the RFC open.
    lines = [line.strip() for line in out.splitlines()]
    for expected in (
        "ecdh_secret = ECDH(as_private, ua_public) (RFC 8291 §3.1; 32 octets)",
        "PRK_key = HMAC-SHA-256(auth_secret, ecdh_secret) (RFC 8291 §3.3-3.4; 32 octets)",
        'key_info = "WebPush: info" || 0x00 || ua_public || as_public '
        "(RFC 8291 §3.3-3.4; 144 octets)",
        "IKM = HMAC-SHA-256(PRK_key, key_info || 0x01) (RFC 8291 §3.3-3.4; 32 octets)",
        "PRK = HMAC-SHA-256(salt, IKM) (RFC 8188 §2.2; 32 octets)",
        "CEK = first 16 octets of HMAC-SHA-256(PRK, cek_info || 0x01) (RFC 8188 §2.2; 16 octets)",
        "NONCE = first 12 octets of HMAC-SHA-256(PRK, nonce_info || 0x01) "
        "(RFC 8188 §2.3; 12 octets)",
        "header = salt || rs || idlen || keyid (RFC 8188 §2.1; 86 octets)",
        "header.rs = octets 16-19: uint32 rs = 4096 (RFC 8188 §2.1; 4 octets)",
        "header.idlen = octet 20: uint8 idlen = 65 (RFC 8188 §2.1; 1 octet)",
        "header.keyid = octets 21-85: keyid = as_public (RFC 8291 §4; 65 octets)",
        "record[0].nonce = NONCE XOR 0 (96-bit big-endian) (RFC 8188 §2.3; 12 octets)",
        "record[0].plaintext = data (41 octets) || 0x02 || 0x00 * 0 (RFC 8188 §2; 42 octets)",
        "body = header || ciphertext (RFC 8188 §2, RFC 8291 §4; 144 octets)",
    ):
        assert expected in lines, expected


def test_make_demo_explains_each_value_in_one_line() -> None:
    from webpush_core._demo import run as demo

    out = io.StringIO()
    assert demo(out) == 0
    lines = out.getvalue().splitlines()
    shown = [i for i, line in enumerate(lines) if re.match(r"^  \S+ +: ", line)]
    assert len(shown) == 29  # 1 key, 3 subscription, 17 encryption, 6 on the wire, 2 received
    for i in shown:  # each value, then one line (more indented) on what it is
        explanation = lines[i + 1]
        assert explanation.startswith(" " * 10) and explanation.strip(), lines[i]
        assert i + 2 == len(lines) or not lines[i + 2].startswith(" " * 10), lines[i]
    names = [lines[i].split(" : ")[0].strip() for i in shown]
    for name in ("PRK_key", "IKM", "CEK", "NONCE", "header.rs", "record[0].plaintext"):
        assert name in names
    assert lines[-1] == "Delivered and decrypted."


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (
            ["--subscription", "AAAA", "--auth", "BTBZMqHH6r4Tts7J_aSIgg"],
            "--subscription must be 65",
        ),
        (["--auth", "BTBZMqHH6r4Tts7J_aSIgg"], "--subscription"),
        (["--salt", "abc"], "--info"),
    ],
)
def test_explain_bad_inputs_exit_2(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["explain", "-m", "x", *argv])[0] == 2
    assert words in capsys.readouterr().err
