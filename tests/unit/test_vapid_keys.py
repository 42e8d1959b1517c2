"""VAPID keys: every format loads to the same key; bad keys are refused; no secret leaks."""

from __future__ import annotations

import base64
import os
import stat
import traceback
from pathlib import Path
from typing import Any, Callable

import py_vapid
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from webpush_core.errors import VapidError
from webpush_core.vapid import Vapid, Vapid01, VapidException

N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
PKCS8 = serialization.PrivateFormat.PKCS8
SEC1 = serialization.PrivateFormat.TraditionalOpenSSL
PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
NOENC = serialization.NoEncryption()


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def scalar(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_numbers().private_value.to_bytes(32, "big")


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def all_formats(key: ec.EllipticCurvePrivateKey, tmp_path: Path) -> dict[str, Callable[[], Vapid]]:
    """Every way a sender may hold the key, each as a loader call."""
    pem8 = key.private_bytes(PEM, PKCS8, NOENC)
    pem1 = key.private_bytes(PEM, SEC1, NOENC)
    der8 = key.private_bytes(DER, PKCS8, NOENC)
    der1 = key.private_bytes(DER, SEC1, NOENC)
    raw = b64u(scalar(key))
    files = {
        "pem8.pem": pem8,
        "pem1.pem": pem1,
        "pem_crlf.pem": pem8.replace(b"\n", b"\r\n"),
        "der.bin": der8,
        "der1.bin": der1,
        "der_b64.txt": b64u(der8).encode() + b"\n",
        "der1_std_b64.txt": base64.b64encode(der1),
        "raw.txt": raw.encode() + b"\n",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    loaders: dict[str, Callable[[], Vapid]] = {
        "from_pem pkcs8": lambda: Vapid.from_pem(pem8),
        "from_pem sec1": lambda: Vapid.from_pem(pem1),
        "from_pem str": lambda: Vapid.from_pem(pem8.decode()),
        "from_der pkcs8": lambda: Vapid.from_der(der8),
        "from_der sec1": lambda: Vapid.from_der(der1),
        "from_der b64 text (py_vapid)": lambda: Vapid.from_der(b64u(der8).encode()),
        "from_raw str": lambda: Vapid.from_raw(raw),
        "from_raw bytes b64": lambda: Vapid.from_raw(raw.encode()),
        "from_raw 32 bytes": lambda: Vapid.from_raw(scalar(key)),
        "from_raw padded std b64": lambda: Vapid.from_raw(base64.b64encode(scalar(key)).decode()),
        "from_string pem8": lambda: Vapid.from_string(pem8.decode()),
        "from_string pem1": lambda: Vapid.from_string("\n  " + pem1.decode() + "\n"),
        "from_string der8 b64url": lambda: Vapid.from_string(b64u(der8)),
        "from_string der1 b64url": lambda: Vapid.from_string(b64u(der1)),
        "from_string der1 std b64 padded": lambda: Vapid.from_string(
            base64.b64encode(der1).decode()
        ),
        "from_string der8 wrapped lines": lambda: Vapid.from_string(
            "\n".join(b64u(der8)[i : i + 64] for i in range(0, len(b64u(der8)), 64))
        ),
        "from_string raw": lambda: Vapid.from_string(raw),
        "from_string raw bytes": lambda: Vapid.from_string(raw.encode()),  # type: ignore[arg-type]
        "from_der b64 str (py_vapid)": lambda: Vapid.from_der(b64u(der8)),
        "from_der wrapped b64 lines": lambda: Vapid.from_der(
            "\n".join(b64u(der1)[i : i + 64] for i in range(0, len(b64u(der1)), 64)).encode()
        ),
        "from_pem with its public key after it": lambda: Vapid.from_pem(
            pem8
            + key.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        ),
        "Vapid(key)": lambda: Vapid(key),
        "Vapid01.from_string raw": lambda: Vapid01.from_string(raw),
    }
    for name in files:
        loaders[f"from_file {name}"] = lambda name=name: Vapid.from_file(tmp_path / name)  # type: ignore[misc]
    loaders["from_file str path"] = lambda: Vapid.from_file(str(tmp_path / "pem8.pem"))
    return loaders


def test_every_format_loads_the_same_key(key: ec.EllipticCurvePrivateKey, tmp_path: Path) -> None:
    expected = point(key)
    for name, load in all_formats(key, tmp_path).items():
        vapid = load()
        assert vapid.private_key is not None, name
        assert scalar(vapid.private_key) == scalar(key), name
        assert point(vapid.private_key) == expected, name
        assert base64.urlsafe_b64decode(vapid.application_server_key + "=") == expected, name
        assert "=" not in vapid.application_server_key, name


def test_constructors_return_the_subclass(key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(PEM, PKCS8, NOENC)
    assert type(Vapid01.from_pem(pem)) is Vapid01
    assert type(Vapid01.generate()) is Vapid01
    assert type(Vapid.from_raw(b64u(scalar(key)))) is Vapid


def test_public_key_round_trips(key: ec.EllipticCurvePrivateKey) -> None:
    vapid = Vapid(key)
    public = Vapid.from_raw_public(vapid.application_server_key)
    assert public.private_key is None
    assert public.application_server_key == vapid.application_server_key
    assert public.public_pem() == vapid.public_pem()
    loaded = serialization.load_pem_public_key(vapid.public_pem())
    assert isinstance(loaded, ec.EllipticCurvePublicKey)
    assert loaded.public_numbers() == key.public_key().public_numbers()
    assert Vapid.from_raw_public(point(key)).application_server_key == vapid.application_server_key
    k = vapid.application_server_key
    assert Vapid.from_raw_public(k.encode()).application_server_key == k  # base64url as bytes
    assert Vapid.from_raw_public(bytearray(point(key))).application_server_key == k
    pem = vapid.private_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert scalar(Vapid.from_pem(pem).private_key) == scalar(key)  # type: ignore[arg-type]


def test_generate_makes_distinct_keys() -> None:
    a, b = Vapid.generate(), Vapid.generate()
    assert a.application_server_key != b.application_server_key
    old = a.application_server_key
    a.generate_keys()
    assert a.application_server_key != old
    assert Vapid().private_key is not None


def test_py_vapid_keys_load(tmp_path: Path) -> None:
    pv = py_vapid.Vapid()
    pv.generate_keys()
    expected = b64u(
        pv.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )
    path = tmp_path / "py_vapid.pem"
    pv.save_key(str(path))
    assert Vapid.from_file(path).application_server_key == expected
    assert Vapid.from_pem(pv.private_pem()).application_server_key == expected
    # The "private_key as base64 DER" string pywebpush users pass around.
    der_b64 = b64u(pv.private_key.private_bytes(DER, PKCS8, NOENC))
    assert Vapid.from_string(der_b64).application_server_key == expected
    assert Vapid.from_der(der_b64.encode()).application_server_key == expected
    # And py_vapid reads what we write.
    ours = Vapid.generate()
    ours.save_key(tmp_path / "ours.pem")
    theirs = py_vapid.Vapid.from_file(str(tmp_path / "ours.pem"))
    assert (
        b64u(
            theirs.public_key.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )
        == ours.application_server_key
    )
    assert py_vapid.Vapid.from_string(b64u(scalar(ours.private_key))).private_pem() == (  # type: ignore[arg-type]
        ours.private_pem()
    )


# --------------------------------------------------------------------------
# Refused keys.


def _p384() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


RSA_KEY = rsa.generate_private_key(65537, 1024)  # noqa: S505 - a wrong key, not a weak one
P384_CURVE = "the key is on curve secp384r1, VAPID needs P-256 (secp256r1)"
OUT_OF_RANGE = "the private scalar is out of range for P-256 (zero or >= n)"
BAD_PEM = "not a valid PEM private key (PKCS#8 or SEC1 EC PRIVATE KEY)"
NOT_A_KEY = "not a key: expected PEM text, base64url DER or a base64url 32-byte scalar"
PUBLIC_B64 = "a public key must be base64url text of a 65-byte P-256 point"
P256_PUBLIC = "the public key must be a P-256 key"


def raw_length(length: int) -> str:
    return f"a raw P-256 private key is 32 bytes, this one is {length}"


# name, loader, the error's words (the field is vapid_public_key for public keys)
BAD_KEYS: list[tuple[str, Callable[[], Any], str]] = [
    ("garbage string", lambda: Vapid.from_string("this is not a key"), NOT_A_KEY),
    (
        "garbage b64",
        lambda: Vapid.from_string(b64u(b"x" * 40)),
        "not a key: 40 bytes decoded, expected a 32-byte scalar or DER",
    ),
    ("empty string", lambda: Vapid.from_string(""), "the key is empty"),
    ("blank string", lambda: Vapid.from_string("  \n"), "the key is empty"),
    ("empty raw", lambda: Vapid.from_raw(""), raw_length(0)),
    ("empty pem", lambda: Vapid.from_pem(b""), BAD_PEM),
    ("empty der", lambda: Vapid.from_der(b""), "the key is empty"),
    (
        "garbage pem",
        lambda: Vapid.from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        BAD_PEM,
    ),
    (
        "garbage der",
        lambda: Vapid.from_der(b"\x30\x03\x02\x01\x01"),
        "not a valid DER private key (PKCS#8 or SEC1)",
    ),
    ("p384 pem", lambda: Vapid.from_pem(_p384().private_bytes(PEM, PKCS8, NOENC)), P384_CURVE),
    ("p384 der", lambda: Vapid.from_der(_p384().private_bytes(DER, SEC1, NOENC)), P384_CURVE),
    (
        "p384 string",
        lambda: Vapid.from_string(b64u(_p384().private_bytes(DER, PKCS8, NOENC))),
        P384_CURVE,
    ),
    ("p384 object", lambda: Vapid(_p384()), P384_CURVE),
    (
        "p384 raw scalar (48 bytes)",
        lambda: Vapid.from_raw(b64u(_p384().private_numbers().private_value.to_bytes(48, "big"))),
        raw_length(48),
    ),
    ("31 bytes raw", lambda: Vapid.from_raw(b64u(b"\x01" * 31)), raw_length(31)),
    (
        "31 bytes string",
        lambda: Vapid.from_string(b64u(b"\x01" * 31)),
        "not a key: 31 bytes decoded, expected a 32-byte scalar or DER",
    ),
    ("33 bytes raw", lambda: Vapid.from_raw(b64u(b"\x01" * 33)), raw_length(33)),
    (
        "31 raw octets",  # not the scalar itself: read as base64url text, which it is not
        lambda: Vapid.from_raw(b"\x01" * 31),
        "a raw key must be base64url text of a 32-byte scalar",
    ),
    ("zero scalar raw", lambda: Vapid.from_raw(b64u(bytes(32))), OUT_OF_RANGE),
    ("zero scalar string", lambda: Vapid.from_string(b64u(bytes(32))), OUT_OF_RANGE),
    ("scalar n", lambda: Vapid.from_raw(b64u(N.to_bytes(32, "big"))), OUT_OF_RANGE),
    ("scalar n+1", lambda: Vapid.from_raw(b64u((N + 1).to_bytes(32, "big"))), OUT_OF_RANGE),
    ("scalar 2^256-1", lambda: Vapid.from_raw(b64u(b"\xff" * 32)), OUT_OF_RANGE),
    ("zero scalar bytes", lambda: Vapid.from_raw(bytes(32)), OUT_OF_RANGE),
    (
        "non-b64 raw",
        lambda: Vapid.from_raw("!!!!"),
        "a raw key must be base64url text of a 32-byte scalar",
    ),
    (
        "public key pem",
        lambda: Vapid.from_pem(Vapid.generate().public_pem()),
        "this PEM holds a public key; signing needs the private key",
    ),
    (
        "encrypted pem",
        lambda: Vapid.from_pem(
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                PEM, PKCS8, serialization.BestAvailableEncryption(b"pw")
            )
        ),
        "the PEM key is encrypted; export it without a password",
    ),
    (
        "encrypted der",
        lambda: Vapid.from_der(
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                DER, PKCS8, serialization.BestAvailableEncryption(b"pw")
            )
        ),
        "the DER key is encrypted; export it without a password",
    ),
    (
        "rsa pem",
        lambda: Vapid.from_pem(RSA_KEY.private_bytes(PEM, PKCS8, NOENC)),
        f"the key is a {type(RSA_KEY).__name__}, not an EC P-256 private key",
    ),
    (
        "point off the curve",
        lambda: Vapid.from_raw_public(b64u(b"\x04" + b"\x01" * 64)),
        "invalid VAPID public key: the point is not on the P-256 curve",
    ),
    (
        "compressed point",
        lambda: Vapid.from_raw_public(b64u(b"\x02" + b"\x01" * 32)),
        "invalid VAPID public key: expected a 65-byte uncompressed P-256 point (0x04||X||Y), "
        "got 33 bytes",
    ),
    ("public garbage", lambda: Vapid.from_raw_public("%%%"), PUBLIC_B64),
    ("wrong types", lambda: Vapid.from_string(12345), "a key string must be str, got int"),  # type: ignore[arg-type]
    # Text that is not ASCII is refused as a key, not with a UnicodeError.
    ("non-ASCII pem", lambda: Vapid.from_pem("-----BEGIN PRIVATE KEY-----\né\n"), BAD_PEM),
    ("non-ASCII der text", lambda: Vapid.from_der("MIGHAgEAé"), "not DER, nor base64 text of DER"),
    ("non-ASCII key bytes", lambda: Vapid.from_string(b"\xffkey"), NOT_A_KEY),  # type: ignore[arg-type]
    (
        "der of a wrong type",
        lambda: Vapid.from_der(12345),  # type: ignore[arg-type]
        "a DER key must be bytes or str, got int",
    ),
    (
        "pem of a wrong type",
        lambda: Vapid.from_pem(12345),  # type: ignore[arg-type]
        "a PEM key must be bytes or str, got int",
    ),
    (
        "raw of a wrong type",
        lambda: Vapid.from_raw(12345),  # type: ignore[arg-type]
        "a raw key must be str or bytes, got int",
    ),
    (
        "public of a wrong type",
        lambda: Vapid.from_raw_public(12345),  # type: ignore[arg-type]
        "a public key must be str or bytes, got int",
    ),
    # 64 raw octets starting 0x04 are not a point (and not base64url text either).
    ("64 raw octets", lambda: Vapid.from_raw_public(b"\x04" + bytes(63)), PUBLIC_B64),
    ("65 raw octets, not 0x04", lambda: Vapid.from_raw_public(b"\x05" + bytes(64)), PUBLIC_B64),
    ("public key object on P-384", lambda: Vapid(public_key=_p384().public_key()), P256_PUBLIC),
    ("public key not a key", lambda: Vapid(public_key="BPk"), P256_PUBLIC),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(
    ("load", "message"), [(f, m) for _, f, m in BAD_KEYS], ids=[n for n, *_ in BAD_KEYS]
)
def test_bad_keys_are_refused(load: Callable[[], Any], message: str) -> None:
    with pytest.raises(VapidError) as info:
        load()
    assert isinstance(info.value, VapidException)
    public = "public key" in message and "private" not in message
    field = "vapid_public_key" if public else "vapid_private_key"
    assert (str(info.value), info.value.field) == (message, field)


def test_p384_message_names_the_curve() -> None:
    with pytest.raises(VapidError, match="secp384r1"):
        Vapid.from_pem(_p384().private_bytes(PEM, PKCS8, NOENC))


def test_from_file_missing_path_raises_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing.pem"
    with pytest.raises(VapidError) as info:
        Vapid.from_file(path)
    assert (str(info.value), info.value.field) == (
        f"no VAPID key file at {str(path)!r}",
        "vapid_private_key",
    )
    assert not path.exists()
    with pytest.raises(VapidError) as info:
        Vapid.from_file(tmp_path)  # a directory
    assert str(info.value) == f"cannot read the VAPID key file {str(tmp_path)!r}: Is a directory"
    # py_vapid's trap, for the record: it would have created a key there.
    py_vapid.Vapid.from_file(str(path))
    assert path.exists()


def test_verify_only_object_cannot_sign() -> None:
    k = Vapid.generate().application_server_key
    public = Vapid.from_raw_public(k)
    for attempt in (
        lambda: public.sign({"sub": "mailto:ops@example.com", "aud": "https://push.example.net"}),
        public.private_pem,
    ):
        with pytest.raises(VapidError) as info:
            attempt()
        assert (str(info.value), info.value.field) == (
            "this Vapid object has only a public key; it can verify, not sign",
            "vapid_private_key",
        )
    assert repr(public) == f"Vapid(application_server_key={k!r}, verify-only)"
    signer = Vapid01.from_raw(b64u(scalar(ec.generate_private_key(ec.SECP256R1()))))
    assert repr(signer) == f"Vapid01(application_server_key={signer.application_server_key!r})"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_from_string_raises_only_vapid_error(text: str) -> None:
    try:
        vapid = Vapid.from_string(text)
    except VapidError as exc:
        assert exc.field == "vapid_private_key"
    else:  # the rare valid key: usable
        assert len(vapid.application_server_key) == 87


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_from_der_raises_only_vapid_error(data: bytes) -> None:
    try:
        vapid = Vapid.from_der(data)
    except VapidError as exc:
        assert exc.field == "vapid_private_key"
    else:  # the rare valid key: usable
        assert len(vapid.application_server_key) == 87


# --------------------------------------------------------------------------
# Files.


def test_save_key_is_0600_atomic_and_loads(
    key: ec.EllipticCurvePrivateKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "vapid.pem"
    path.write_text("old, world-readable")
    path.chmod(0o644)
    seen: list[int] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        # The temporary file is already private before it takes the name, and sits
        # beside it (a rename, never a copy across file systems), hidden.
        seen.append(stat.S_IMODE(os.stat(src).st_mode))
        assert os.path.dirname(src) == os.path.dirname(os.path.abspath(dst))
        assert Path(src).name.startswith(".vapid-") and Path(src).name.endswith(".tmp")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    old_umask = os.umask(0)  # the most permissive umask must not widen the mode
    try:
        Vapid(key).save_key(path)
    finally:
        os.umask(old_umask)
    assert seen == [0o600]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert scalar(Vapid.from_file(path).private_key) == scalar(key)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vapid.pem"]


def test_save_public_key(key: ec.EllipticCurvePrivateKey, tmp_path: Path) -> None:
    path = tmp_path / "public.pem"
    old_umask = os.umask(0o077)  # the mode is set, not left to the umask
    try:
        Vapid(key).save_public_key(path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    loaded = serialization.load_pem_public_key(path.read_bytes())
    assert isinstance(loaded, ec.EllipticCurvePublicKey)
    assert loaded.public_numbers() == key.public_key().public_numbers()


def test_save_errors_are_vapid_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "no" / "such" / "dir.pem"
    with pytest.raises(VapidError) as info:
        Vapid.generate().save_key(target)
    assert (str(info.value), info.value.field) == (
        f"cannot write the key file {str(target)!r}: No such file or directory",
        "vapid_private_key",
    )
    # The name is taken by a directory: the rename fails, the temporary file goes.
    (tmp_path / "taken").mkdir()
    with pytest.raises(VapidError) as info:
        Vapid.generate().save_key(tmp_path / "taken")
    assert str(info.value) == (
        f"cannot write the key file {str(tmp_path / 'taken')!r}: Is a directory"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    # ... and if even that removal fails, the error is still the write's.
    monkeypatch.setattr(os, "unlink", lambda path: (_ for _ in ()).throw(OSError("busy")))
    with pytest.raises(VapidError, match="Is a directory"):
        Vapid.generate().save_key(tmp_path / "taken")
    monkeypatch.undo()
    for leftover in tmp_path.glob(".vapid-*.tmp"):
        leftover.unlink()
    (tmp_path / "taken").rmdir()
    with pytest.raises(VapidError):
        Vapid.from_raw_public(Vapid.generate().application_server_key).save_key(tmp_path / "k")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# No private key material in repr/str of keys or errors.


def _error_texts(exc: BaseException) -> list[str]:
    texts = [repr(exc), str(exc), "".join(traceback.format_exception(type(exc), exc, None))]
    # Even the suppressed context (raise ... from None keeps it) must be clean.
    inner = exc.__context__
    while inner is not None:
        texts += [repr(inner), str(inner)]
        inner = inner.__context__
    return texts


def test_no_private_material_in_repr_or_errors(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(PEM, PKCS8, NOENC).decode()
    pem1 = key.private_bytes(PEM, SEC1, NOENC).decode()
    der_b64 = b64u(key.private_bytes(DER, PKCS8, NOENC))
    der1_b64 = b64u(key.private_bytes(DER, SEC1, NOENC))
    raw = b64u(scalar(key))
    secrets = [raw, scalar(key).hex(), str(int.from_bytes(scalar(key), "big"))]
    secrets += [line for line in (pem + pem1).splitlines() if "-----" not in line]
    secrets += [der_b64[i : i + 24] for i in range(0, len(der_b64) - 24, 8)]
    secrets += [der1_b64[i : i + 24] for i in range(0, len(der1_b64) - 24, 8)]

    broken: list[Callable[[], Any]] = [
        lambda: Vapid.from_pem(pem[:-40]),
        lambda: Vapid.from_pem(pem.replace("PRIVATE KEY", "PUBLIC KEY")),
        lambda: Vapid.from_string(pem.replace("-----END PRIVATE KEY-----", "")),
        lambda: Vapid.from_string(pem1[:100]),
        lambda: Vapid.from_string(der_b64[:-6]),
        lambda: Vapid.from_string(der_b64[:40] + "!" + der_b64[41:]),
        lambda: Vapid.from_der(der_b64[:-10].encode()),
        lambda: Vapid.from_der(der1_b64[5:]),
        lambda: Vapid.from_string(raw[:-1]),
        lambda: Vapid.from_string(raw + "AA"),
        lambda: Vapid.from_raw(raw[:-2]),
        lambda: Vapid.from_raw(raw + "*"),
        lambda: Vapid.from_raw(raw[:-1] + "=="),
        lambda: Vapid.from_raw_public(raw),
    ]
    for i, content in enumerate([pem[:-30], der_b64[3:], raw[:-3], "x" + raw]):
        (tmp_path / f"broken{i}").write_text(content)
        broken.append(lambda i=i: Vapid.from_file(tmp_path / f"broken{i}"))  # type: ignore[misc]

    texts: list[str] = []
    for load in broken:
        with pytest.raises(VapidError) as info:
            load()
        texts += _error_texts(info.value)
    for cls in (Vapid, Vapid01):
        vapid = cls(key)
        texts += [repr(vapid), str(vapid), format(vapid)]
        # Errors raised while using a good key object are clean too.
        for claims in ({"sub": "nope", "aud": "https://a.example"}, {"sub": "mailto:a@b.example"}):
            with pytest.raises(VapidError) as info:
                vapid.sign(claims)
            texts += _error_texts(info.value)
        with pytest.raises(VapidError) as info:
            vapid.verify("vapid t=a.b.c, k=" + raw)
        texts += _error_texts(info.value)
    assert len(texts) > 60
    for text in texts:
        for secret in secrets:
            assert secret not in text, (secret, text)
