"""Deterministic generator of the labelled accuracy corpus for the secret scanner.

Writes a few hundred realistic files (``.env``, YAML, JSON, INI/TOML, source code in several
languages, notebooks, shell history, Terraform, XML, Dockerfiles, key files, lockfiles, docs)
into a directory, with true secrets in the right formats in natural contexts and hard negatives
(placeholders, documented example keys, hashes, UUIDs, integrity strings, data URIs, test
vectors, environment look-ups, public keys and certificates, malformed tokens) around them.

Every secret value is generated here from a seeded :class:`random.Random`: random characters in
the alphabet and length the provider documents (plus a valid checksum where the format has one),
key material with a correct DER/wire structure (see :func:`rsa_key`). None is a real credential.

Next to the files it writes:

* ``labels.json``: one record per true secret occurrence, ``{path, line, family, kind: "secret",
  value_sha256}``: ``line`` is the 1-based line where the value starts and ``value_sha256`` the
  SHA-256 of the exact text a scanner should extract (the clear value is only in the file);
* ``negatives.json``: one record per hard negative, ``{path, line, kind}`` (for diagnostics and
  the size report only: a finding anywhere that matches no label is a false positive).

Usage: ``python tests/secrets/corpus/generate.py OUT_DIR [--seed N]``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import re
import string
import struct
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_SEED", "FAMILIES", "Corpus", "Label", "Negative", "generate"]

DEFAULT_SEED = 20240611

#: The rule families labelled, as the rule files name them (``family:`` key).
FAMILIES: tuple[str, ...] = (
    "aws",
    "gcp",
    "azure",
    "github",
    "gitlab",
    "bitbucket",
    "slack",
    "discord",
    "telegram",
    "stripe",
    "square",
    "paypal",
    "twilio",
    "sendgrid",
    "mailgun",
    "mailchimp",
    "shopify",
    "atlassian",
    "npm",
    "pypi",
    "dockerhub",
    "hashicorp",
    "heroku",
    "digitalocean",
    "openai",
    "anthropic",
    "huggingface",
    "datadog",
    "newrelic",
    "sentry",
    "private-key",
    "jwt",
    "database",
    "generic",
)

#: Fewest true secrets each family gets (the generator tops up families below it).
MIN_PER_FAMILY = 12

UPPER = string.ascii_uppercase
LOWER = string.ascii_lowercase
DIGITS = string.digits
ALNUM = UPPER + LOWER + DIGITS
BASE62 = DIGITS + UPPER + LOWER
HEX = "0123456789abcdef"
B32 = UPPER + "234567"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
#: Characters a generated password may hold: no quote, backslash, ``$``, ``#``, ``;``, ``%``, ``!``,
#: ``&``, ``<`` or space, so it can sit in every file format below without escaping.
PASSWORD_CHARS = ALNUM + "-_.@*+~^"
#: URL-unreserved characters, for passwords inside connection URLs.
URL_PASSWORD_CHARS = ALNUM + "-_.~"

_SENTINEL = re.compile(r"@@(SEC|NEG)(\d{5})@@")


# --------------------------------------------------------------------------------------------
# Labels and the corpus being built
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    """A true secret occurrence; ``value`` is kept in memory only (labels.json has its hash)."""

    path: str
    line: int
    family: str
    value: str

    @property
    def value_sha256(self) -> str:
        return hashlib.sha256(self.value.encode("utf-8")).hexdigest()

    def record(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "family": self.family,
            "kind": "secret",
            "value_sha256": self.value_sha256,
        }


@dataclass(frozen=True)
class Negative:
    """A hard negative occurrence: something that looks like a secret and is not one."""

    path: str
    line: int
    kind: str
    value: str

    def record(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "kind": self.kind}


@dataclass
class Item:
    """One ``name = value`` a renderer writes; ``text`` may hold sentinels; ``raw`` values are
    expressions (an environment look-up, a call) written unquoted in code."""

    key: str
    text: str
    resolved: str
    raw: bool = False


class Corpus:
    """The files and labels being generated from one seed."""

    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.files: dict[str, bytes] = {}
        self.labels: list[Label] = []
        self.negatives: list[Negative] = []
        self._pending: dict[str, tuple[str, str, str]] = {}
        self._counter = 0

    # ---- sentinels -------------------------------------------------------------------------

    def secret(self, family: str, value: str) -> str:
        """A placeholder for a true secret of ``family``, resolved (and labelled) when written."""
        assert family in FAMILIES, family
        return self._sentinel("SEC", family, value)

    def neg(self, kind: str, value: str) -> str:
        """A placeholder for a hard negative, resolved (and recorded) when written."""
        return self._sentinel("NEG", kind, value)

    def _sentinel(self, tag: str, what: str, value: str) -> str:
        self._counter += 1
        token = f"@@{tag}{self._counter:05d}@@"
        self._pending[token] = (tag, what, value)
        return token

    def resolve(self, text: str) -> str:
        """``text`` with its sentinels replaced by their values (nothing recorded)."""
        return _SENTINEL.sub(lambda m: self._pending[m.group(0)][2], text)

    def item(self, key: str, text: str, raw: bool = False) -> Item:
        return Item(key, text, self.resolve(text), raw)

    # ---- writing ---------------------------------------------------------------------------

    def write(self, path: str, text: str) -> None:
        """Add a file: sentinels are replaced by their values and the lines they land on recorded."""
        assert path not in self.files, path
        out: list[str] = []
        line = 1
        pos = 0
        for m in _SENTINEL.finditer(text):
            chunk = text[pos : m.start()]
            out.append(chunk)
            line += chunk.count("\n")
            tag, what, value = self._pending[m.group(0)]
            if tag == "SEC":
                self.labels.append(Label(path, line, what, value))
            else:
                self.negatives.append(Negative(path, line, what, value))
            out.append(value)
            line += value.count("\n")
            pos = m.end()
        out.append(text[pos:])
        self.files[path] = "".join(out).encode("utf-8")

    def counts(self) -> Counter[str]:
        return Counter(label.family for label in self.labels)

    # ---- random helpers --------------------------------------------------------------------

    def chars(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def pick(self, seq):  # type: ignore[no-untyped-def]
        return self.rng.choice(seq)

    def randbytes(self, n: int) -> bytes:
        return bytes(self.rng.getrandbits(8) for _ in range(n))

    def uuid4(self) -> str:
        b = bytearray(self.randbytes(16))
        b[6] = (b[6] & 0x0F) | 0x40
        b[8] = (b[8] & 0x3F) | 0x80
        h = b.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def digits(self, lo: int, hi: int) -> str:
        n = self.rng.randint(lo, hi)
        return self.pick("123456789") + self.chars(DIGITS, n - 1)


# --------------------------------------------------------------------------------------------
# Encodings and key material (structure only: DER, SSH wire format, OpenPGP packets)
# --------------------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64url_nopad(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)]


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(content)) + content


def der_int(i: int) -> bytes:
    raw = i.to_bytes(max(1, (i.bit_length() + 8) // 8), "big")
    return der(0x02, raw)


def der_seq(*parts: bytes) -> bytes:
    return der(0x30, b"".join(parts))


def der_oid(dotted: str) -> bytes:
    nums = [int(x) for x in dotted.split(".")]
    body = bytearray([nums[0] * 40 + nums[1]])
    for n in nums[2:]:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        body.extend(reversed(chunk))
    return der(0x06, bytes(body))


def der_octets(data: bytes) -> bytes:
    return der(0x04, data)


def der_bits(data: bytes) -> bytes:
    return der(0x03, b"\x00" + data)


DER_NULL = b"\x05\x00"
OID_RSA = "1.2.840.113549.1.1.1"
OID_SHA256_RSA = "1.2.840.113549.1.1.11"
OID_EC = "1.2.840.10045.2.1"
OID_P256 = "1.2.840.10045.3.1.7"
OID_ED25519 = "1.3.101.112"
OID_DSA = "1.2.840.10040.4.1"
OID_PBES2 = "1.2.840.113549.1.5.13"
OID_PBKDF2 = "1.2.840.113549.1.5.12"
OID_HMAC_SHA256 = "1.2.840.113549.2.9"
OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"
OID_CN = "2.5.4.3"
OID_O = "2.5.4.10"


@dataclass(frozen=True)
class RsaKey:
    n: int
    e: int
    d: int
    p: int
    q: int

    @property
    def dp(self) -> int:
        return self.d % (self.p - 1)

    @property
    def dq(self) -> int:
        return self.d % (self.q - 1)

    @property
    def qinv(self) -> int:
        return pow(self.q, -1, self.p)

    def pkcs1(self) -> bytes:
        return der_seq(*(der_int(x) for x in (0, self.n, self.e, self.d, self.p, self.q, self.dp, self.dq, self.qinv)))

    def pkcs8(self) -> bytes:
        return der_seq(der_int(0), der_seq(der_oid(OID_RSA), DER_NULL), der_octets(self.pkcs1()))

    def spki(self) -> bytes:
        return der_seq(der_seq(der_oid(OID_RSA), DER_NULL), der_bits(der_seq(der_int(self.n), der_int(self.e))))


def rsa_key(rng: random.Random, bits: int = 2048) -> RsaKey:
    """An RSA-shaped key: every PKCS#1 field present with the sizes and relations of a real key
    (n = p·q, the CRT values derived from d, p and q), but p and q are random odd numbers rather
    than primes: searching real 1024-bit primes in pure Python takes a second a key here, and a
    scanner never looks at the numbers, only at the armour and the DER structure."""
    e = 65537
    while True:
        p = rng.getrandbits(bits // 2) | (3 << (bits // 2 - 2)) | 1
        q = rng.getrandbits(bits // 2) | (3 << (bits // 2 - 2)) | 1
        try:
            pow(q, -1, p)
        except ValueError:
            continue
        n = p * q
        d = rng.getrandbits(bits - 8) | (1 << (bits - 9))
        return RsaKey(n, e, d, max(p, q), min(p, q))


# NIST P-256 domain parameters (FIPS 186-4, D.1.2.3).
_P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
_P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_P256_G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _p256_add(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    p = _P256_P
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % p == 0:
        return None
    num, den = (3 * a[0] * a[0] - 3, 2 * a[1]) if a == b else (b[1] - a[1], b[0] - a[0])
    lam = num * pow(den, -1, p) % p
    x = (lam * lam - a[0] - b[0]) % p
    return x, (lam * (a[0] - x) - a[1]) % p


def p256_public(k: int) -> bytes:
    """The uncompressed public point ``k·G`` (``04 || X || Y``)."""
    result, addend = None, _P256_G
    while k:
        if k & 1:
            result = _p256_add(result, addend)
        addend = _p256_add(addend, addend)
        k >>= 1
    assert result is not None
    return b"\x04" + result[0].to_bytes(32, "big") + result[1].to_bytes(32, "big")


def pem(label: str, der_bytes: bytes, headers: str = "", sep: str = "\n") -> str:
    body = sep.join(wrap(b64(der_bytes), 64))
    head = f"-----BEGIN {label}-----{sep}"
    if headers:
        head += headers.replace("\n", sep) + sep + sep
    return f"{head}{body}{sep}-----END {label}-----"


def _ssh_string(data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return struct.pack(">I", len(raw)) + raw


def _ssh_mpint(i: int) -> bytes:
    raw = i.to_bytes((i.bit_length() + 8) // 8, "big") if i else b""
    return _ssh_string(raw)


def openssh_private(c: Corpus, kind: str = "ed25519", encrypted: bool = False, comment: str = "") -> str:
    """An ``openssh-key-v1`` private key file (PROTOCOL.key layout), base64 wrapped at 70."""
    check = c.randbytes(4)
    if kind == "ed25519":
        seed, pub = c.randbytes(32), c.randbytes(32)
        pub_blob = _ssh_string("ssh-ed25519") + _ssh_string(pub)
        priv = _ssh_string("ssh-ed25519") + _ssh_string(pub) + _ssh_string(seed + pub)
    else:
        key = rsa_key(c.rng, 2048)
        pub_blob = _ssh_string("ssh-rsa") + _ssh_mpint(key.e) + _ssh_mpint(key.n)
        priv = _ssh_string("ssh-rsa") + b"".join(_ssh_mpint(x) for x in (key.n, key.e, key.d, key.qinv, key.p, key.q))
    section = check + check + priv + _ssh_string(comment)
    block = 16 if encrypted else 8
    pad = 1
    while len(section) % block:
        section += bytes([pad])
        pad += 1
    if encrypted:
        cipher, kdf = "aes256-ctr", "bcrypt"
        kdfopts = _ssh_string(c.randbytes(16)) + struct.pack(">I", 16)
        section = c.randbytes(len(section))
    else:
        cipher, kdf, kdfopts = "none", "none", b""
    blob = (
        b"openssh-key-v1\x00"
        + _ssh_string(cipher)
        + _ssh_string(kdf)
        + _ssh_string(kdfopts)
        + struct.pack(">I", 1)
        + _ssh_string(pub_blob)
        + _ssh_string(section)
    )
    body = "\n".join(wrap(b64(blob), 70))
    return f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----"


def ssh_public_line(c: Corpus, kind: str, comment: str) -> str:
    if kind == "ed25519":
        blob = _ssh_string("ssh-ed25519") + _ssh_string(c.randbytes(32))
        return f"ssh-ed25519 {b64(blob)} {comment}"
    n = c.rng.getrandbits(2048) | (1 << 2047) | 1
    blob = _ssh_string("ssh-rsa") + _ssh_mpint(65537) + _ssh_mpint(n)
    return f"ssh-rsa {b64(blob)} {comment}"


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def _pgp_mpi(data: bytes) -> bytes:
    i = int.from_bytes(data, "big")
    return struct.pack(">H", i.bit_length()) + data.lstrip(b"\x00")


def pgp_armor(c: Corpus, private: bool, uid: str) -> str:
    """An ASCII-armoured OpenPGP v4 EdDSA key (secret-key or public-key packet plus a user ID)."""
    created = struct.pack(">I", c.rng.randint(1_500_000_000, 1_700_000_000))
    ed_oid = bytes([0x09, 0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01])
    public = b"\x04" + created + b"\x16" + ed_oid + _pgp_mpi(b"\x40" + c.randbytes(32))
    if private:
        secret = _pgp_mpi(b"\x01" + c.randbytes(31))
        checksum = struct.pack(">H", sum(secret) & 0xFFFF)
        body, tag = public + b"\x00" + secret + checksum, 5
    else:
        body, tag = public, 6
    packets = bytes([0xC0 | tag, len(body)]) + body
    uid_raw = uid.encode()
    packets += bytes([0xC0 | 13, len(uid_raw)]) + uid_raw
    crc = b64(_crc24(packets).to_bytes(3, "big"))
    kind = "PRIVATE" if private else "PUBLIC"
    lines = "\n".join(wrap(b64(packets), 64))
    return f"-----BEGIN PGP {kind} KEY BLOCK-----\n\n{lines}\n={crc}\n-----END PGP {kind} KEY BLOCK-----"


def private_key_pem(c: Corpus, kind: str) -> str:
    """A private key in PEM of ``kind``: rsa, pkcs8, ec, ec-pkcs8, ed25519, dsa, rsa-encrypted,
    pkcs8-encrypted, openssh, openssh-rsa, openssh-encrypted, pgp."""
    if kind == "rsa":
        return pem("RSA PRIVATE KEY", rsa_key(c.rng).pkcs1())
    if kind == "pkcs8":
        return pem("PRIVATE KEY", rsa_key(c.rng).pkcs8())
    if kind in ("ec", "ec-pkcs8"):
        k = c.rng.randrange(1, _P256_N)
        point = p256_public(k)
        if kind == "ec":
            sec1 = der_seq(
                der_int(1),
                der_octets(k.to_bytes(32, "big")),
                der(0xA0, der_oid(OID_P256)),
                der(0xA1, der_bits(point)),
            )
            return pem("EC PRIVATE KEY", sec1)
        inner = der_seq(der_int(1), der_octets(k.to_bytes(32, "big")), der(0xA1, der_bits(point)))
        return pem("PRIVATE KEY", der_seq(der_int(0), der_seq(der_oid(OID_EC), der_oid(OID_P256)), der_octets(inner)))
    if kind == "ed25519":
        return pem(
            "PRIVATE KEY", der_seq(der_int(0), der_seq(der_oid(OID_ED25519)), der_octets(der_octets(c.randbytes(32))))
        )
    if kind == "dsa":
        p = c.rng.getrandbits(2048) | (1 << 2047) | 1
        q = c.rng.getrandbits(256) | (1 << 255) | 1
        g, x = c.rng.randrange(2, p - 1), c.rng.randrange(2, q - 1)
        return pem("DSA PRIVATE KEY", der_seq(*(der_int(v) for v in (0, p, q, g, pow(g, x, p), x))))
    if kind == "rsa-encrypted":
        iv = c.randbytes(16).hex().upper()
        headers = f"Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,{iv}"
        return pem("RSA PRIVATE KEY", c.randbytes(1200 + 16 * c.rng.randint(0, 8)), headers)
    if kind == "pkcs8-encrypted":
        params = der_seq(
            der_oid(OID_PBES2),
            der_seq(
                der_seq(
                    der_oid(OID_PBKDF2),
                    der_seq(der_octets(c.randbytes(16)), der_int(2048), der_seq(der_oid(OID_HMAC_SHA256), DER_NULL)),
                ),
                der_seq(der_oid(OID_AES256_CBC), der_octets(c.randbytes(16))),
            ),
        )
        return pem("ENCRYPTED PRIVATE KEY", der_seq(params, der_octets(c.randbytes(1232))))
    if kind == "openssh":
        return openssh_private(c, "ed25519", comment=f"{c.pick(USERS)}@{c.pick(HOSTS)}")
    if kind == "openssh-rsa":
        return openssh_private(c, "rsa", comment=f"{c.pick(USERS)}@{c.pick(HOSTS)}")
    if kind == "openssh-encrypted":
        return openssh_private(c, "ed25519", encrypted=True)
    if kind == "pgp":
        return pgp_armor(c, True, f"{c.pick(USERS).title()} <{c.pick(USERS)}@example.org>")
    raise ValueError(kind)


PRIVATE_KEY_KINDS = (
    "rsa",
    "pkcs8",
    "ec",
    "ec-pkcs8",
    "ed25519",
    "dsa",
    "rsa-encrypted",
    "pkcs8-encrypted",
    "openssh",
    "openssh-rsa",
    "openssh-encrypted",
    "pgp",
)


def certificate_pem(c: Corpus, cn: str) -> str:
    """A self-signed-shaped X.509 certificate (structure right, signature random)."""

    def name(cn: str) -> bytes:
        return der_seq(
            der(0x31, der_seq(der_oid(OID_O), der(0x0C, b"Example Org"))),
            der(0x31, der_seq(der_oid(OID_CN), der(0x0C, cn.encode()))),
        )

    n = c.rng.getrandbits(2048) | (1 << 2047) | 1
    spki = der_seq(der_seq(der_oid(OID_RSA), DER_NULL), der_bits(der_seq(der_int(n), der_int(65537))))
    alg = der_seq(der_oid(OID_SHA256_RSA), DER_NULL)
    validity = der_seq(der(0x17, b"240101000000Z"), der(0x17, b"260101000000Z"))
    tbs = der_seq(der(0xA0, der_int(2)), der_int(c.rng.getrandbits(120)), alg, name(cn), validity, name(cn), spki)
    return pem("CERTIFICATE", der_seq(tbs, alg, der_bits(c.randbytes(256))))


def public_key_pem(c: Corpus) -> str:
    if c.rng.random() < 0.5:
        n = c.rng.getrandbits(2048) | (1 << 2047) | 1
        spki = der_seq(der_seq(der_oid(OID_RSA), DER_NULL), der_bits(der_seq(der_int(n), der_int(65537))))
    else:
        spki = der_seq(der_seq(der_oid(OID_EC), der_oid(OID_P256)), der_bits(p256_public(c.rng.randrange(1, _P256_N))))
    return pem("PUBLIC KEY", spki)


# --------------------------------------------------------------------------------------------
# Secret values, in each provider's documented format
# --------------------------------------------------------------------------------------------


def _base62_checksum(payload: str) -> str:
    n = zlib.crc32(payload.encode())
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = BASE62[r] + out
    return out.rjust(6, "0")


def checksummed(c: Corpus, prefix: str) -> str:
    """``prefix`` + 30 base62 characters + their CRC32 in 6 base62 characters (GitHub, npm)."""
    body = c.chars(ALNUM, 30)
    return prefix + body + _base62_checksum(body)


def jwt(c: Corpus) -> str:
    alg = c.pick(["HS256", "HS256", "RS256", "ES256"])
    header = {"alg": alg, "typ": "JWT"}
    if alg != "HS256":
        header["kid"] = c.chars(B64URL, 16)
    iat = c.rng.randint(1_690_000_000, 1_720_000_000)
    payload: dict[str, object] = {
        "sub": c.pick([c.uuid4(), c.digits(6, 9), f"user:{c.digits(3, 6)}"]),
        "iat": iat,
        "exp": iat + c.pick([900, 3600, 86400, 31536000]),
    }
    if c.rng.random() < 0.6:
        payload["iss"] = f"https://{c.pick(['auth', 'login', 'sso', 'id'])}.{c.pick(DOMAINS)}"
    if c.rng.random() < 0.5:
        payload["roles"] = c.rng.sample(["admin", "reader", "writer", "billing", "ops"], 2)
    if c.rng.random() < 0.4:
        payload["email"] = f"{c.pick(USERS)}@{c.pick(DOMAINS)}"
    sig_len = {"HS256": 32, "RS256": 256, "ES256": 64}[alg]
    enc = [json.dumps(x, separators=(",", ":")).encode() for x in (header, payload)]
    return ".".join([*(b64url_nopad(e) for e in enc), b64url_nopad(c.randbytes(sig_len))])


def pypi_token(c: Corpus, host: str = "pypi.org") -> str:
    ident = c.uuid4().encode()
    caveat = json.dumps({"version": 1, "permissions": c.pick(["user", {"projects": [c.pick(PROJECTS)]}])})
    raw = (
        b"\x02\x01"
        + bytes([len(host)])
        + host.encode()
        + b"\x02"
        + bytes([len(ident)])
        + ident
        + b"\x00\x02"
        + bytes([len(caveat)])
        + caveat.encode()
        + b"\x00\x00\x06\x20"
        + c.randbytes(32)
    )
    return "pypi-" + b64url_nopad(raw)


def sentry_org_token(c: Corpus) -> str:
    org = c.pick(PROJECTS).split("-")[0]
    claims = {
        "iat": float(c.rng.randint(1_690_000_000, 1_720_000_000)),
        "url": "https://sentry.io",
        "region_url": c.pick(["https://us.sentry.io", "https://de.sentry.io"]),
        "org": org,
    }
    body = base64.b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"sntrys_{body}_{c.chars(B64URL.replace('-', ''), 43)}"


def discord_bot_token(c: Corpus) -> str:
    user_id = str(c.rng.randint(10**17, 13 * 10**17))
    head = base64.b64encode(user_id.encode()).decode().rstrip("=")
    return f"{head}.{c.chars(B64URL, 6)}.{c.chars(B64URL, c.pick([27, 38]))}"


def openai_key(c: Corpus) -> str:
    kind = c.pick(["proj", "proj", "svcacct", "legacy"])
    if kind == "legacy":
        return "sk-" + c.chars(ALNUM, 20) + "T3BlbkFJ" + c.chars(ALNUM, 20)
    return f"sk-{kind}-" + c.chars(B64URL, 74) + "T3BlbkFJ" + c.chars(B64URL, 74)


def atlassian_token(c: Corpus, prefix: str = "ATATT3xFfGF0") -> str:
    return prefix + c.chars(B64URL, c.rng.randint(170, 190)) + "=" + c.chars("0123456789ABCDEF", 8)


#: family -> (variant name, generator) — every generator returns one value in its documented format.
VALUE_GENERATORS: dict[str, list[tuple[str, Callable[[Corpus], str]]]] = {
    "aws": [
        ("access_key_id", lambda c: "AKIA" + c.chars(B32, 16)),
        ("secret_access_key", lambda c: c.chars(B64, 40)),
    ],
    "gcp": [
        ("api_key", lambda c: "AIza" + c.chars(B64URL, 35)),
        ("oauth_client_secret", lambda c: "GOCSPX-" + c.chars(B64URL, 28)),
    ],
    "azure": [
        ("storage_account_key", lambda c: b64(c.randbytes(64))),
        (
            "ad_client_secret",
            lambda c: c.chars(ALNUM + "_~.-", 3) + c.pick(DIGITS) + "Q~" + c.chars(ALNUM + "_~.-", 34),
        ),
        ("shared_access_key", lambda c: b64(c.randbytes(32))),
    ],
    "github": [
        ("pat_classic", lambda c: checksummed(c, "ghp_")),
        ("oauth", lambda c: checksummed(c, "gho_")),
        ("user_to_server", lambda c: checksummed(c, "ghu_")),
        ("server_to_server", lambda c: checksummed(c, "ghs_")),
        ("refresh", lambda c: checksummed(c, "ghr_")),
        ("pat_fine_grained", lambda c: "github_pat_" + c.chars(ALNUM, 22) + "_" + c.chars(ALNUM, 59)),
    ],
    "gitlab": [
        ("pat", lambda c: "glpat-" + c.chars(B64URL, 20)),
        ("runner", lambda c: "glrt-" + c.chars(B64URL, 20)),
        ("runner_registration", lambda c: "GR1348941" + c.chars(B64URL, 20)),
        ("pipeline_trigger", lambda c: "glptt-" + c.chars(HEX, 40)),
        ("deploy", lambda c: "gldt-" + c.chars(B64URL, 20)),
    ],
    "bitbucket": [
        ("app_password", lambda c: "ATBB" + c.chars(ALNUM, 32)),
        ("access_token", lambda c: atlassian_token(c, "ATCTT3xFfGN0")),
    ],
    "slack": [
        ("bot", lambda c: f"xoxb-{c.digits(11, 13)}-{c.digits(11, 13)}-{c.chars(ALNUM, 24)}"),
        ("user", lambda c: f"xoxp-{c.digits(11, 13)}-{c.digits(11, 13)}-{c.digits(11, 13)}-{c.chars(HEX, 32)}"),
        ("app", lambda c: f"xapp-1-A{c.chars(UPPER + DIGITS, 10)}-{c.digits(13, 13)}-{c.chars(HEX, 64)}"),
        (
            "webhook",
            lambda c: (
                "https://hooks.slack.com/services/"
                f"T{c.chars(UPPER + DIGITS, 10)}/B{c.chars(UPPER + DIGITS, 10)}/{c.chars(ALNUM, 24)}"
            ),
        ),
    ],
    "discord": [
        ("bot", discord_bot_token),
        (
            "webhook",
            lambda c: f"https://discord.com/api/webhooks/{c.digits(18, 19)}/{c.chars(B64URL, 68)}",
        ),
    ],
    "telegram": [("bot", lambda c: f"{c.digits(9, 10)}:AA{c.chars(B64URL, 33)}")],
    "stripe": [
        ("secret_live", lambda c: "sk_live_" + c.chars(ALNUM, c.pick([24, 99]))),
        ("restricted_live", lambda c: "rk_live_" + c.chars(ALNUM, c.pick([24, 99]))),
        ("webhook_secret", lambda c: "whsec_" + c.chars(ALNUM, 32)),
    ],
    "square": [
        ("access_token", lambda c: "EAAA" + c.chars(B64URL, 60)),
        ("legacy_access_token", lambda c: "sq0atp-" + c.chars(B64URL, 22)),
        ("oauth_secret", lambda c: "sq0csp-" + c.chars(B64URL, 43)),
    ],
    "paypal": [
        (
            "braintree_access_token",
            lambda c: f"access_token$production${c.chars(LOWER + DIGITS, 16)}${c.chars(HEX, 32)}",
        ),
    ],
    "twilio": [
        ("api_key_sid", lambda c: "SK" + c.chars(HEX, 32)),
        ("auth_token", lambda c: c.chars(HEX, 32)),
    ],
    "sendgrid": [("api_key", lambda c: f"SG.{c.chars(B64URL, 22)}.{c.chars(B64URL, 43)}")],
    "mailgun": [
        ("legacy_key", lambda c: "key-" + c.chars(HEX, 32)),
        ("private_key", lambda c: f"{c.chars(HEX, 32)}-{c.chars(HEX, 8)}-{c.chars(HEX, 8)}"),
    ],
    "mailchimp": [("api_key", lambda c: f"{c.chars(HEX, 32)}-us{c.rng.randint(1, 21)}")],
    "shopify": [
        ("access_token", lambda c: "shpat_" + c.chars(HEX, 32)),
        ("custom_app", lambda c: "shpca_" + c.chars(HEX, 32)),
        ("private_app", lambda c: "shppa_" + c.chars(HEX, 32)),
        ("shared_secret", lambda c: "shpss_" + c.chars(HEX, 32)),
    ],
    "atlassian": [("api_token", atlassian_token)],
    "npm": [("access_token", lambda c: checksummed(c, "npm_"))],
    "pypi": [("upload_token", pypi_token)],
    "dockerhub": [
        ("pat", lambda c: "dckr_pat_" + c.chars(B64URL, 27)),
        ("oat", lambda c: "dckr_oat_" + c.chars(B64URL, 32)),
    ],
    "hashicorp": [
        ("vault_service", lambda c: "hvs." + c.chars(ALNUM, 24)),
        ("vault_service_long", lambda c: "hvs.CAESI" + c.chars(B64URL, 82)),
        ("vault_batch", lambda c: "hvb.AAAAAQ" + c.chars(B64URL, 128)),
        ("terraform_cloud", lambda c: f"{c.chars(ALNUM, 14)}.atlasv1.{c.chars(ALNUM, 67)}"),
    ],
    "heroku": [
        ("api_key_v2", lambda c: "HRKU-AA" + c.chars(B64URL, 58)),
        ("api_key_uuid", lambda c: c.uuid4()),
    ],
    "digitalocean": [
        ("pat", lambda c: "dop_v1_" + c.chars(HEX, 64)),
        ("oauth", lambda c: "doo_v1_" + c.chars(HEX, 64)),
        ("refresh", lambda c: "dor_v1_" + c.chars(HEX, 64)),
    ],
    "openai": [("api_key", openai_key)],
    "anthropic": [
        ("api_key", lambda c: "sk-ant-api03-" + c.chars(B64URL, 93) + "AA"),
        ("admin_key", lambda c: "sk-ant-admin01-" + c.chars(B64URL, 93) + "AA"),
    ],
    "huggingface": [
        ("user_token", lambda c: "hf_" + c.chars(UPPER + LOWER, 34)),
        ("org_token", lambda c: "api_org_" + c.chars(UPPER + LOWER, 34)),
    ],
    "datadog": [
        ("api_key", lambda c: c.chars(HEX, 32)),
        ("app_key", lambda c: c.chars(HEX, 40)),
    ],
    "newrelic": [
        ("user_api_key", lambda c: "NRAK-" + c.chars(UPPER + DIGITS, 27)),
        ("license_key", lambda c: c.chars(HEX, 36) + "NRAL"),
        ("insights_insert", lambda c: "NRII-" + c.chars(B64URL, 32)),
    ],
    "sentry": [
        ("user_token", lambda c: "sntryu_" + c.chars(HEX, 64)),
        ("org_token", sentry_org_token),
    ],
    "jwt": [("token", jwt)],
    "generic": [("password", lambda c: c.chars(PASSWORD_CHARS, c.rng.randint(16, 40)))],
    "database": [("password", lambda c: c.chars(URL_PASSWORD_CHARS, c.rng.randint(14, 32)))],
}


def value(c: Corpus, family: str, variant: str | None = None) -> str:
    options = VALUE_GENERATORS[family]
    if variant is None:
        return c.pick(options)[1](c)
    return dict(options)[variant](c)


# --------------------------------------------------------------------------------------------
# Vocabulary for filler
# --------------------------------------------------------------------------------------------

USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"]
HOSTS = ["build-01", "ci-runner", "laptop", "bastion", "deploy-box", "dev-vm", "worker-3"]
DOMAINS = ["example.com", "example.org", "acme-corp.example", "internal.example.net", "shop.example"]
PROJECTS = [
    "billing-api",
    "web-frontend",
    "data-pipeline",
    "notifier",
    "auth-service",
    "inventory",
    "ml-training",
    "mobile-backend",
    "ops-tools",
    "search-indexer",
    "payments-gateway",
    "chat-bot",
    "report-builder",
    "edge-proxy",
    "analytics",
    "crm-sync",
]
REGIONS = ["us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2", "eu-central-1"]
DB_HOSTS = ["db.internal", "postgres-primary.svc.cluster.local", "10.0.3.17", "mysql.prod.example.net", "localhost"]
PLAIN_SETTINGS = [
    ("APP_ENV", ["production", "staging", "development"]),
    ("LOG_LEVEL", ["info", "debug", "warning"]),
    ("PORT", ["8080", "3000", "5000", "8000"]),
    ("WORKERS", ["2", "4", "8"]),
    ("TIMEZONE", ["UTC", "Europe/Berlin", "America/New_York"]),
    ("FEATURE_NEW_CHECKOUT", ["true", "false"]),
    ("CACHE_TTL_SECONDS", ["300", "3600", "60"]),
    ("MAX_UPLOAD_MB", ["10", "25", "100"]),
    ("SMTP_HOST", ["smtp.example.com", "mail.internal"]),
    ("PUBLIC_URL", ["https://app.example.com", "https://shop.example"]),
    ("ENABLE_METRICS", ["1", "0"]),
    ("RETRY_LIMIT", ["3", "5"]),
]


def plain_items(c: Corpus, n: int) -> list[Item]:
    chosen = c.rng.sample(PLAIN_SETTINGS, min(n, len(PLAIN_SETTINGS)))
    return [c.item(k, c.pick(vals)) for k, vals in chosen]


# --------------------------------------------------------------------------------------------
# Bundles: a family's natural group of settings (true secrets, identifiers next to them)
# --------------------------------------------------------------------------------------------


def bundle(c: Corpus, family: str) -> list[Item]:
    """The settings a project holds for one provider, with the true secret(s) among them."""
    s = c.secret
    it = c.item
    if family == "aws":
        items = [
            it("AWS_ACCESS_KEY_ID", s("aws", value(c, "aws", "access_key_id"))),
            it("AWS_SECRET_ACCESS_KEY", s("aws", value(c, "aws", "secret_access_key"))),
        ]
        if c.rng.random() < 0.6:
            items.append(it("AWS_DEFAULT_REGION", c.pick(REGIONS)))
        return items
    if family == "gcp":
        if c.rng.random() < 0.55:
            return [
                it(
                    c.pick(["GOOGLE_API_KEY", "GOOGLE_MAPS_API_KEY", "FIREBASE_API_KEY", "GCP_API_KEY"]),
                    s("gcp", value(c, "gcp", "api_key")),
                )
            ]
        client_id = f"{c.digits(12, 12)}-{c.chars(LOWER + DIGITS, 32)}.apps.googleusercontent.com"
        return [
            it("GOOGLE_CLIENT_ID", c.neg("identifier", client_id)),
            it("GOOGLE_CLIENT_SECRET", s("gcp", value(c, "gcp", "oauth_client_secret"))),
        ]
    if family == "azure":
        r = c.rng.random()
        if r < 0.4:
            account = c.pick(PROJECTS).replace("-", "") + "store"
            conn = (
                f"DefaultEndpointsProtocol=https;AccountName={account};AccountKey="
                + s("azure", value(c, "azure", "storage_account_key"))
                + ";EndpointSuffix=core.windows.net"
            )
            return [it("AZURE_STORAGE_CONNECTION_STRING", conn)]
        if r < 0.75:
            return [
                it("AZURE_TENANT_ID", c.neg("uuid", c.uuid4())),
                it("AZURE_CLIENT_ID", c.neg("uuid", c.uuid4())),
                it("AZURE_CLIENT_SECRET", s("azure", value(c, "azure", "ad_client_secret"))),
            ]
        ns = c.pick(PROJECTS)
        conn = (
            f"Endpoint=sb://{ns}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
            "SharedAccessKey=" + s("azure", value(c, "azure", "shared_access_key"))
        )
        return [it(c.pick(["SERVICEBUS_CONNECTION_STRING", "EVENTHUB_CONNECTION_STRING"]), conn)]
    if family == "github":
        key = c.pick(["GITHUB_TOKEN", "GH_TOKEN", "GITHUB_PAT", "GITHUB_API_TOKEN", "GH_ACCESS_TOKEN"])
        return [it(key, s("github", value(c, "github")))]
    if family == "gitlab":
        variant = c.pick([v for v, _ in VALUE_GENERATORS["gitlab"]])
        key = {
            "pat": c.pick(["GITLAB_TOKEN", "GITLAB_PRIVATE_TOKEN", "GL_TOKEN"]),
            "runner": "RUNNER_TOKEN",
            "runner_registration": "REGISTRATION_TOKEN",
            "pipeline_trigger": "GITLAB_TRIGGER_TOKEN",
            "deploy": "GITLAB_DEPLOY_TOKEN",
        }[variant]
        return [it(key, s("gitlab", value(c, "gitlab", variant)))]
    if family == "bitbucket":
        if c.rng.random() < 0.6:
            return [
                it("BITBUCKET_USERNAME", c.pick(USERS) + "-ci"),
                it("BITBUCKET_APP_PASSWORD", s("bitbucket", value(c, "bitbucket", "app_password"))),
            ]
        return [it("BITBUCKET_ACCESS_TOKEN", s("bitbucket", value(c, "bitbucket", "access_token")))]
    if family == "slack":
        variant = c.pick(["bot", "bot", "user", "app", "webhook", "webhook"])
        key = {
            "bot": "SLACK_BOT_TOKEN",
            "user": "SLACK_USER_TOKEN",
            "app": "SLACK_APP_TOKEN",
            "webhook": "SLACK_WEBHOOK_URL",
        }[variant]
        return [it(key, s("slack", value(c, "slack", variant)))]
    if family == "discord":
        if c.rng.random() < 0.5:
            return [it("DISCORD_BOT_TOKEN", s("discord", value(c, "discord", "bot")))]
        return [it("DISCORD_WEBHOOK_URL", s("discord", value(c, "discord", "webhook")))]
    if family == "telegram":
        return [
            it(c.pick(["TELEGRAM_BOT_TOKEN", "TG_BOT_TOKEN", "TELEGRAM_TOKEN"]), s("telegram", value(c, "telegram"))),
            it("TELEGRAM_CHAT_ID", "-100" + c.digits(10, 10)),
        ]
    if family == "stripe":
        variant = c.pick(["secret_live", "secret_live", "restricted_live", "webhook_secret"])
        key = {
            "secret_live": "STRIPE_SECRET_KEY",
            "restricted_live": "STRIPE_RESTRICTED_KEY",
            "webhook_secret": "STRIPE_WEBHOOK_SECRET",
        }[variant]
        items = [it(key, s("stripe", value(c, "stripe", variant)))]
        if c.rng.random() < 0.4:
            items.insert(0, it("STRIPE_PUBLISHABLE_KEY", c.neg("publishable-key", "pk_live_" + c.chars(ALNUM, 24))))
        return items
    if family == "square":
        variant = c.pick(["access_token", "access_token", "legacy_access_token", "oauth_secret"])
        key = {
            "access_token": "SQUARE_ACCESS_TOKEN",
            "legacy_access_token": "SQUARE_ACCESS_TOKEN",
            "oauth_secret": "SQUARE_OAUTH_SECRET",
        }[variant]
        return [
            it("SQUARE_APPLICATION_ID", c.neg("identifier", "sq0idp-" + c.chars(B64URL, 22))),
            it(key, s("square", value(c, "square", variant))),
        ]
    if family == "paypal":
        return [
            it("BRAINTREE_ENVIRONMENT", "production"),
            it(c.pick(["BRAINTREE_ACCESS_TOKEN", "PAYPAL_ACCESS_TOKEN"]), s("paypal", value(c, "paypal"))),
        ]
    if family == "twilio":
        if c.rng.random() < 0.6:
            return [
                it("TWILIO_ACCOUNT_SID", c.neg("identifier", "AC" + c.chars(HEX, 32))),
                it("TWILIO_AUTH_TOKEN", s("twilio", value(c, "twilio", "auth_token"))),
            ]
        return [it("TWILIO_API_KEY", s("twilio", value(c, "twilio", "api_key_sid")))]
    if family == "sendgrid":
        return [it(c.pick(["SENDGRID_API_KEY", "SENDGRID_KEY", "EMAIL_API_KEY"]), s("sendgrid", value(c, "sendgrid")))]
    if family == "mailgun":
        return [
            it("MAILGUN_DOMAIN", "mg." + c.pick(DOMAINS)),
            it(c.pick(["MAILGUN_API_KEY", "MAILGUN_KEY"]), s("mailgun", value(c, "mailgun"))),
        ]
    if family == "mailchimp":
        return [
            it(c.pick(["MAILCHIMP_API_KEY", "MAILCHIMP_KEY"]), s("mailchimp", value(c, "mailchimp"))),
            it("MAILCHIMP_LIST_ID", c.chars(HEX, 10)),
        ]
    if family == "shopify":
        variant = c.pick([v for v, _ in VALUE_GENERATORS["shopify"]])
        key = {
            "access_token": "SHOPIFY_ACCESS_TOKEN",
            "custom_app": "SHOPIFY_ADMIN_TOKEN",
            "private_app": "SHOPIFY_PASSWORD",
            "shared_secret": "SHOPIFY_API_SECRET",
        }[variant]
        return [
            it("SHOPIFY_SHOP", c.pick(PROJECTS) + ".myshopify.com"),
            it(key, s("shopify", value(c, "shopify", variant))),
        ]
    if family == "atlassian":
        return [
            it(c.pick(["JIRA_USER", "CONFLUENCE_USER", "ATLASSIAN_EMAIL"]), f"{c.pick(USERS)}@{c.pick(DOMAINS)}"),
            it(
                c.pick(["JIRA_API_TOKEN", "CONFLUENCE_API_TOKEN", "ATLASSIAN_API_TOKEN"]),
                s("atlassian", value(c, "atlassian")),
            ),
        ]
    if family == "npm":
        return [it(c.pick(["NPM_TOKEN", "NPM_AUTH_TOKEN", "NODE_AUTH_TOKEN"]), s("npm", value(c, "npm")))]
    if family == "pypi":
        return [it(c.pick(["PYPI_API_TOKEN", "TWINE_PASSWORD", "PYPI_TOKEN"]), s("pypi", value(c, "pypi")))]
    if family == "dockerhub":
        return [
            it(c.pick(["DOCKERHUB_USERNAME", "DOCKER_USERNAME"]), c.pick(USERS) + "ci"),
            it(
                c.pick(["DOCKERHUB_TOKEN", "DOCKER_PASSWORD", "DOCKERHUB_ACCESS_TOKEN"]),
                s("dockerhub", value(c, "dockerhub")),
            ),
        ]
    if family == "hashicorp":
        variant = c.pick([v for v, _ in VALUE_GENERATORS["hashicorp"]])
        if variant == "terraform_cloud":
            return [
                it(
                    c.pick(["TFE_TOKEN", "TF_API_TOKEN", "TERRAFORM_CLOUD_TOKEN"]),
                    s("hashicorp", value(c, "hashicorp", variant)),
                )
            ]
        return [
            it("VAULT_ADDR", f"https://vault.{c.pick(DOMAINS)}:8200"),
            it("VAULT_TOKEN", s("hashicorp", value(c, "hashicorp", variant))),
        ]
    if family == "heroku":
        return [it("HEROKU_API_KEY", s("heroku", value(c, "heroku")))]
    if family == "digitalocean":
        return [
            it(
                c.pick(["DIGITALOCEAN_TOKEN", "DIGITALOCEAN_ACCESS_TOKEN", "DO_API_TOKEN"]),
                s("digitalocean", value(c, "digitalocean")),
            )
        ]
    if family == "openai":
        return [it("OPENAI_API_KEY", s("openai", value(c, "openai")))]
    if family == "anthropic":
        return [it("ANTHROPIC_API_KEY", s("anthropic", value(c, "anthropic")))]
    if family == "huggingface":
        return [
            it(
                c.pick(["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_TOKEN"]),
                s("huggingface", value(c, "huggingface")),
            )
        ]
    if family == "datadog":
        items = [it(c.pick(["DD_API_KEY", "DATADOG_API_KEY"]), s("datadog", value(c, "datadog", "api_key")))]
        if c.rng.random() < 0.5:
            items.append(it(c.pick(["DD_APP_KEY", "DATADOG_APP_KEY"]), s("datadog", value(c, "datadog", "app_key"))))
        items.append(it("DD_SITE", c.pick(["datadoghq.com", "datadoghq.eu"])))
        return items
    if family == "newrelic":
        variant = c.pick([v for v, _ in VALUE_GENERATORS["newrelic"]])
        key = {
            "user_api_key": "NEW_RELIC_API_KEY",
            "license_key": "NEW_RELIC_LICENSE_KEY",
            "insights_insert": "NEW_RELIC_INSERT_KEY",
        }[variant]
        return [it("NEW_RELIC_APP_NAME", c.pick(PROJECTS)), it(key, s("newrelic", value(c, "newrelic", variant)))]
    if family == "sentry":
        return [
            it("SENTRY_ORG", c.pick(PROJECTS).split("-")[0]),
            it("SENTRY_AUTH_TOKEN", s("sentry", value(c, "sentry"))),
        ]
    if family == "jwt":
        return [
            it(
                c.pick(["API_JWT", "SERVICE_ACCOUNT_JWT", "ACCESS_TOKEN", "AUTH_BEARER_TOKEN"]),
                s("jwt", value(c, "jwt")),
            )
        ]
    if family == "database":
        return [it(db_key(c), db_url(c))]
    if family == "generic":
        key = c.pick(GENERIC_KEYS)
        # a JWT signing secret is the jwt family's (rule jwt-signing-secret), like a JWT itself
        return [it(key, s("jwt" if "JWT" in key else "generic", value(c, "generic")))]
    raise ValueError(family)


GENERIC_KEYS = [
    "DB_PASSWORD",
    "DATABASE_PASSWORD",
    "POSTGRES_PASSWORD",
    "MYSQL_ROOT_PASSWORD",
    "REDIS_PASSWORD",
    "SECRET_KEY",
    "APP_SECRET",
    "JWT_SECRET",
    "SESSION_SECRET",
    "CLIENT_SECRET",
    "API_SECRET",
    "ADMIN_PASSWORD",
    "SMTP_PASSWORD",
    "ENCRYPTION_KEY",
    "WEBHOOK_SECRET",
    "API_TOKEN",
    "AUTH_TOKEN",
    "SIGNING_SECRET",
    "KEYSTORE_PASSWORD",
]


def db_key(c: Corpus) -> str:
    return c.pick(
        ["DATABASE_URL", "DB_URL", "MONGO_URI", "REDIS_URL", "POSTGRES_DSN", "BROKER_URL", "SQLALCHEMY_DATABASE_URI"]
    )


def db_url(c: Corpus) -> str:
    """A connection URL with the password as the labelled secret."""
    pw = c.secret("database", value(c, "database"))
    user = c.pick(["app", "admin", "svc_billing", "reporting", "root", "etl"])
    host = c.pick(DB_HOSTS)
    db = c.pick(["app", "billing", "analytics", "orders", "users"])
    scheme = c.pick(
        ["postgres", "postgresql", "mysql", "mongodb", "mongodb+srv", "redis", "amqp", "postgresql+psycopg2"]
    )
    if c.rng.random() < 0.15:
        return f"jdbc:postgresql://{host}:5432/{db}?user={user}&password={pw}&ssl=true"
    if scheme == "redis":
        return f"redis://default:{pw}@{host}:6379/0"
    if scheme == "amqp":
        return f"amqp://{user}:{pw}@{host}:5672/%2F"
    if scheme == "mongodb+srv":
        cluster = f"cluster0.{c.chars(LOWER + DIGITS, 5)}.mongodb.net"
        return f"mongodb+srv://{user}:{pw}@{cluster}/{db}?retryWrites=true&w=majority"
    port = {"mysql": 3306, "mongodb": 27017}.get(scheme, 5432)
    return f"{scheme}://{user}:{pw}@{host}:{port}/{db}"


# --------------------------------------------------------------------------------------------
# Hard negatives
# --------------------------------------------------------------------------------------------

PLACEHOLDERS = [
    "YOUR_API_KEY",
    "<token>",
    "<your-secret-here>",
    "changeme",
    "xxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "****",
    "********************",
    "REPLACE_ME",
    "TODO",
    "your-password",
    "dummy",
    "<redacted>",
    "[REDACTED]",
    "insert-token-here",
    "secret",
    "password",
    "...",
]

AWS_EXAMPLE_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def prefixed_placeholder(c: Corpus) -> tuple[str, str]:
    """A documentation placeholder that keeps the provider prefix: ``ghp_xxxx…``, ``sk_live_XXXX…``."""
    options = [
        ("GITHUB_TOKEN", "ghp_" + "x" * 36),
        ("STRIPE_SECRET_KEY", "sk_live_" + "X" * 24),
        ("SLACK_BOT_TOKEN", "xoxb-your-bot-token"),
        ("OPENAI_API_KEY", "sk-..."),
        ("OPENAI_API_KEY", "sk-proj-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
        ("ANTHROPIC_API_KEY", "sk-ant-api03-" + "x" * 20),
        ("AWS_ACCESS_KEY_ID", "AKIA" + "X" * 16),
        ("GITLAB_TOKEN", "glpat-xxxxxxxxxxxxxxxxxxxx"),
        ("HF_TOKEN", "hf_" + "x" * 34),
        ("SENDGRID_API_KEY", "SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
        ("NPM_TOKEN", "npm_" + "0" * 36),
        ("DIGITALOCEAN_TOKEN", "dop_v1_" + "0" * 64),
        ("VAULT_TOKEN", "hvs.XXXXXXXXXXXXXXXXXXXXXXXX"),
        ("DOCKERHUB_TOKEN", "dckr_pat_" + "x" * 27),
    ]
    return c.pick(options)


def doc_sample(c: Corpus) -> tuple[str, str]:
    """A sample value as documentation writes it: the format's prefix with an EXAMPLE body."""
    options = [
        ("GITHUB_TOKEN", "ghp_EXAMPLE" + "0123456789abcdef" + "EXAMPLE" + "012345678"),
        ("STRIPE_SECRET_KEY", "sk_live_EXAMPLEKEY000000000000"),
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
        ("DATADOG_API_KEY", "<DATADOG_API_KEY>"),
        ("SENTRY_AUTH_TOKEN", "sntryu_" + "0" * 64),
        ("TELEGRAM_BOT_TOKEN", "123456789:ABCdefGhIJKlmNoPQRsTUVwxyZ"),
        ("DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/000000000000000000/EXAMPLE-webhook-token"),
        ("DATABASE_URL", "postgres://user:password@localhost:5432/mydb"),
        ("DATABASE_URL", "mysql://USER:PASSWORD@HOST:3306/DBNAME"),
        ("TWILIO_AUTH_TOKEN", "your_auth_token"),
        ("MAILCHIMP_API_KEY", "00000000000000000000000000000000-us1"),
        ("SHOPIFY_ACCESS_TOKEN", "shpat_00000000000000000000000000000000"),
    ]
    return c.pick(options)


def malformed_token(c: Corpus) -> str:
    """A token-shaped string with the wrong length or alphabet for its prefix."""
    return c.pick(
        [
            lambda: "ghp_" + c.chars(ALNUM, 35),
            lambda: "ghp_" + c.chars(ALNUM, 20),
            lambda: "glpat-" + c.chars(ALNUM, 11),
            lambda: "AKIA" + c.chars(LOWER, 16),
            lambda: "AKIA" + c.chars(B32, 12),
            lambda: "xoxb-" + c.digits(6, 6),
            lambda: "sk_live_" + c.chars(ALNUM, 9),
            lambda: "npm_" + c.chars(ALNUM, 20),
            lambda: "dop_v1_" + c.chars(HEX, 40),
            lambda: "hf_" + c.chars(DIGITS, 12),
            lambda: "SG." + c.chars(ALNUM, 10),
            lambda: "shpat_" + c.chars("ghijklmnopqrstuvwxyz", 32),
            lambda: "AIza" + c.chars(B64URL, 20),
            lambda: "sk-ant-" + c.chars(ALNUM, 12),
        ]
    )()


def secret_named_setting(c: Corpus) -> tuple[str, str]:
    """A setting whose name says password, secret, token or key but whose value is no credential."""
    return c.pick(
        [
            ("PASSWORD_MIN_LENGTH", str(c.rng.randint(8, 16))),
            ("TOKEN_EXPIRY_SECONDS", c.pick(["900", "3600", "86400"])),
            ("TOKEN_URL", "https://oauth2.googleapis.com/token"),
            ("PASSWORD_RESET_URL", f"https://app.{c.pick(DOMAINS)}/account/reset"),
            ("SECRET_NAME", f"prod/{c.pick(PROJECTS)}/db-password"),
            ("SECRETS_BACKEND", c.pick(["vault", "aws-secretsmanager", "env"])),
            ("CACHE_KEY_PREFIX", f"{c.pick(PROJECTS)}:v{c.rng.randint(1, 4)}:"),
            ("IDEMPOTENCY_KEY", c.uuid4()),
            ("SIGNING_KEY_ID", c.chars(LOWER + DIGITS, 8)),
            ("PUBLIC_KEY_PATH", "/etc/app/keys/public.pem"),
            ("PRIVATE_KEY_PATH", "/run/secrets/signing_key"),
            ("API_KEY_HEADER", "X-Api-Key"),
            ("AUTH_TOKEN_TTL", "3600"),
            ("PASSWORD_HASHER", "argon2"),
            ("SECRET_KEY_FALLBACKS", "[]"),
        ]
    )


def hash_like(c: Corpus) -> tuple[str, str]:
    """A digest or identifier: (kind, value)."""
    kind = c.pick(["git-sha", "sha256", "md5", "sha1", "uuid", "sha512-integrity"])
    if kind == "git-sha":
        return kind, c.chars(HEX, 40)
    if kind == "sha256":
        return kind, c.chars(HEX, 64)
    if kind == "md5":
        return kind, c.chars(HEX, 32)
    if kind == "sha1":
        return kind, c.chars(HEX, 40)
    if kind == "uuid":
        return kind, c.uuid4()
    return "integrity", "sha512-" + b64(c.randbytes(64))


def png_data_uri(c: Corpus) -> str:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    w, h = c.rng.randint(8, 24), c.rng.randint(8, 24)
    rows = b"".join(b"\x00" + c.randbytes(w * 3) for _ in range(h))
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + b64(png)


ENV_LOOKUP = {
    "python": lambda k: c_py_env(k),
    "js": lambda k: f"process.env.{k}",
    "go": lambda k: f'os.Getenv("{k}")',
    "java": lambda k: f'System.getenv("{k}")',
    "ruby": lambda k: f'ENV["{k}"]',
    "php": lambda k: f"getenv('{k}')",
    "shell": lambda k: f"${{{k}}}",
    "terraform": lambda k: f"var.{k.lower()}",
    "env": lambda k: f"${{{k}}}",
    "yaml": lambda k: (
        f"${{{{ secrets.{k} }}}}"
        if len(k) % 3 == 0
        else (f"${{{k}}}" if len(k) % 3 == 1 else f"{{{{ .Values.{style(k, 'camel')} }}}}")
    ),
    "xml": lambda k: f"${{env.{k}}}",
    "dockerfile": lambda k: f"${{{k}}}",
}


def c_py_env(k: str) -> str:
    return f'os.environ["{k}"]' if len(k) % 2 else f'os.getenv("{k}")'


SECRET_KEYS_FOR_NEG = [
    "AWS_SECRET_ACCESS_KEY",
    "STRIPE_SECRET_KEY",
    "GITHUB_TOKEN",
    "OPENAI_API_KEY",
    "DB_PASSWORD",
    "SLACK_BOT_TOKEN",
    "SENDGRID_API_KEY",
    "ANTHROPIC_API_KEY",
    "DATADOG_API_KEY",
    "TWILIO_AUTH_TOKEN",
    "JWT_SECRET",
    "HF_TOKEN",
    "VAULT_TOKEN",
    "CLIENT_SECRET",
]


def neg_items(c: Corpus, lang: str, n: int) -> list[Item]:
    """``n`` hard negatives written as settings of a file in ``lang``."""
    out: list[Item] = []
    for _ in range(n):
        r = c.rng.random()
        if r < 0.22:
            key = c.pick(SECRET_KEYS_FOR_NEG)
            out.append(c.item(key, c.neg("placeholder", c.pick(PLACEHOLDERS))))
        elif r < 0.32:
            key, val = prefixed_placeholder(c)
            out.append(c.item(key, c.neg("placeholder", val)))
        elif r < 0.40:
            key, val = doc_sample(c)
            out.append(c.item(key, c.neg("doc-sample", val)))
        elif r < 0.46:
            if c.rng.random() < 0.5:
                out.append(c.item("AWS_ACCESS_KEY_ID", c.neg("aws-example", AWS_EXAMPLE_KEY_ID)))
            else:
                out.append(c.item("AWS_SECRET_ACCESS_KEY", c.neg("aws-example", AWS_EXAMPLE_SECRET)))
        elif r < 0.62 and lang in ENV_LOOKUP:
            key = c.pick(SECRET_KEYS_FOR_NEG)
            out.append(c.item(key, c.neg("env-lookup", ENV_LOOKUP[lang](key)), raw=True))
        elif r < 0.70 and lang in ("python", "js", "go", "java", "ruby", "php"):
            key = c.pick(SECRET_KEYS_FOR_NEG)
            call = {
                "python": f'get_secret("{key.lower()}")',
                "js": f"await secrets.get('{key.lower()}')",
                "go": f'mustSecret(ctx, "{key.lower()}")',
                "java": f'vault.read("secret/{key.lower()}")',
                "ruby": f"Rails.application.credentials.{key.lower()}",
                "php": f"$vault->get('{key.lower()}')",
            }[lang]
            out.append(c.item(key, c.neg("function-call", call), raw=True))
        elif r < 0.78:
            key, val = secret_named_setting(c)
            out.append(c.item(key, c.neg("secret-word-setting", val)))
        elif r < 0.82:
            user = c.pick(["app", "postgres", "svc"])
            url = c.pick(
                [
                    f"postgres://{user}:${{DB_PASSWORD}}@db:5432/app",
                    f"postgresql://{user}:%(DB_PASSWORD)s@db.internal/app",
                    "postgres://postgres:postgres@localhost:5432/app_test",
                    f"mysql://{user}@localhost:3306/app",
                    f"redis://{c.pick(DB_HOSTS)}:6379/0",
                    "mongodb://localhost:27017/dev",
                ]
            )
            out.append(
                c.item(c.pick(["DATABASE_URL", "TEST_DATABASE_URL", "CACHE_URL"]), c.neg("url-without-secret", url))
            )
        elif r < 0.92:
            kind, val = hash_like(c)
            key = {
                "git-sha": c.pick(["GIT_COMMIT", "BUILD_SHA", "REVISION", "SOURCE_VERSION"]),
                "sha256": c.pick(["ARTIFACT_SHA256", "CHECKSUM", "IMAGE_DIGEST", "CONTENT_HASH"]),
                "md5": c.pick(["ETAG", "FILE_MD5", "CACHE_BUSTER"]),
                "sha1": c.pick(["PARENT_COMMIT", "TREE_HASH"]),
                "uuid": c.pick(["REQUEST_ID", "TENANT_ID", "INSTALLATION_ID", "TRACE_ID", "PROJECT_UUID"]),
                "integrity": "BUNDLE_INTEGRITY",
            }[kind]
            out.append(c.item(key, c.neg(kind, val)))
        else:
            # named so that no "token"/"key" setting name vouches for them: only their shape could
            key = c.pick(["MALFORMED_SAMPLE", "TRUNCATED_VALUE", "INVALID_SAMPLE", "REJECTED_INPUT"])
            out.append(c.item(key, c.neg("malformed-token", malformed_token(c))))
    return out


# --------------------------------------------------------------------------------------------
# Name styles and quoting
# --------------------------------------------------------------------------------------------


def style(key: str, how: str) -> str:
    words = key.lower().split("_")
    if how == "upper":
        return key
    if how == "snake":
        return "_".join(words)
    if how == "camel":
        return words[0] + "".join(w.title() for w in words[1:])
    if how == "pascal":
        return "".join(w.title() for w in words)
    if how == "kebab":
        return "-".join(words)
    if how == "dotted":
        return ".".join(words)
    raise ValueError(how)


_YAML_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+=:-]*$")


def yaml_scalar(item: Item) -> str:
    v = item.resolved
    if _YAML_SAFE.match(v) and ": " not in v and v not in ("true", "false", "null", "yes", "no") and not v.isdigit():
        return item.text
    return f'"{item.text}"'


def sh_quote(item: Item) -> str:
    return f"'{item.text}'" if "$" in item.resolved and not item.raw else f'"{item.text}"'


def code_str(item: Item, quote: str = '"') -> str:
    return item.text if item.raw else f"{quote}{item.text}{quote}"


def interleave(c: Corpus, *groups: list[Item]) -> list[Item]:
    """The items of ``groups`` in one list, each group kept in order, groups shuffled together."""
    pools = [list(g) for g in groups if g]
    out: list[Item] = []
    while pools:
        pool = c.pick(pools)
        out.append(pool.pop(0))
        if not pool:
            pools.remove(pool)
    return out


# --------------------------------------------------------------------------------------------
# Renderers: one file of a given format holding ``items``
# --------------------------------------------------------------------------------------------

Renderer = Callable[[Corpus, str, list[Item]], str]


def r_env(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = [f"# {proj}: {c.pick(['production', 'staging', 'local'])} settings", ""]
    exported = c.rng.random() < 0.25
    for item in items:
        v = item.text
        if not item.raw and ("$" in item.resolved):
            v = f"'{v}'"
        elif c.rng.random() < 0.3:
            v = f'"{v}"'
        lines.append(f"{'export ' if exported else ''}{item.key}={v}")
        if c.rng.random() < 0.1:
            lines.append("")
    return "\n".join(lines) + "\n"


def r_compose(c: Corpus, proj: str, items: list[Item]) -> str:
    listed = c.rng.random() < 0.5
    lines = [
        "services:",
        "  app:",
        f"    image: registry.{c.pick(DOMAINS)}/{proj}:{c.rng.randint(1, 4)}.{c.rng.randint(0, 20)}.0",
        "    restart: unless-stopped",
        "    ports:",
        f'      - "{c.pick(["8080", "3000", "5000"])}:8080"',
        "    environment:",
    ]
    for item in items:
        if listed:
            lines.append(
                f'      - "{item.key}={item.text}"' if c.rng.random() < 0.4 else f"      - {item.key}={item.text}"
            )
        else:
            lines.append(f"      {item.key}: {yaml_scalar(item)}")
    lines += [
        "    depends_on:",
        "      - db",
        "  db:",
        "    image: postgres:16-alpine",
        "    volumes:",
        "      - pgdata:/var/lib/postgresql/data",
        "volumes:",
        "  pgdata: {}",
    ]
    return "\n".join(lines) + "\n"


def r_k8s_secret(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = [
        "apiVersion: v1",
        "kind: Secret",
        "metadata:",
        f"  name: {proj}-credentials",
        f"  namespace: {c.pick(['default', 'prod', 'payments', 'platform'])}",
        "  labels:",
        f"    app.kubernetes.io/name: {proj}",
        "type: Opaque",
        "stringData:",
    ]
    for item in items:
        lines.append(f"  {style(item.key, 'kebab')}: {yaml_scalar(item)}")
    return "\n".join(lines) + "\n"


def r_k8s_deployment(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = [
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        f"  name: {proj}",
        "spec:",
        f"  replicas: {c.rng.randint(1, 5)}",
        "  selector:",
        "    matchLabels:",
        f"      app: {proj}",
        "  template:",
        "    metadata:",
        "      labels:",
        f"        app: {proj}",
        "    spec:",
        "      containers:",
        f"        - name: {proj}",
        f"          image: ghcr.io/acme/{proj}@sha256:{c.neg('image-digest', c.chars(HEX, 64))}",
        "          env:",
    ]
    for item in items:
        lines.append(f"            - name: {item.key}")
        lines.append(f"              value: {yaml_scalar(item)}")
    key = c.pick(SECRET_KEYS_FOR_NEG)
    lines += [
        f"            - name: {key}",
        "              valueFrom:",
        "                secretKeyRef:",
        f"                  name: {proj}-credentials",
        f"                  key: {c.neg('secret-reference', style(key, 'kebab'))}",
    ]
    return "\n".join(lines) + "\n"


def r_github_actions(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = [
        f"name: {c.pick(['CI', 'Deploy', 'Release', 'Nightly'])}",
        "on:",
        "  push:",
        "    branches: [main]",
        "jobs:",
        "  build:",
        "    runs-on: ubuntu-latest",
        "    env:",
    ]
    for item in items:
        lines.append(f"      {item.key}: {yaml_scalar(item)}")
    for key in c.rng.sample(SECRET_KEYS_FOR_NEG, 2):
        lines.append(f"      {key}: {c.neg('var-reference', '${{ secrets.' + key + ' }}')}")
    lines += [
        "    steps:",
        f"      - uses: actions/checkout@{c.neg('git-sha', c.chars(HEX, 40))}",
        "      - uses: actions/setup-python@v5",
        "        with:",
        "          python-version: '3.11'",
        "      - run: pip install -e .[dev]",
        "      - run: pytest -q",
    ]
    return "\n".join(lines) + "\n"


def r_gitlab_ci(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = ["stages: [test, deploy]", "", "variables:"]
    for item in items:
        lines.append(f"  {item.key}: {yaml_scalar(item)}")
    lines += [
        "",
        "test:",
        "  stage: test",
        "  image: python:3.11",
        "  script:",
        "    - pip install -r requirements.txt",
        "    - pytest",
        "",
        "deploy:",
        "  stage: deploy",
        "  script:",
        f"    - ./scripts/deploy.sh {proj}",
        "  only: [main]",
    ]
    return "\n".join(lines) + "\n"


def r_spring_yaml(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = [
        "server:",
        f"  port: {c.pick(['8080', '8443', '9000'])}",
        "spring:",
        "  application:",
        f"    name: {proj}",
        "app:",
        "  integrations:",
    ]
    for item in items:
        lines.append(f"    {style(item.key, 'kebab')}: {yaml_scalar(item)}")
    lines += ["management:", "  endpoints:", "    web:", "      exposure:", "        include: health,info"]
    return "\n".join(lines) + "\n"


def r_helm_values(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = [
        f"replicaCount: {c.rng.randint(1, 4)}",
        "image:",
        f"  repository: ghcr.io/acme/{proj}",
        f'  tag: "{c.rng.randint(1, 3)}.{c.rng.randint(0, 30)}.0"',
        "config:",
    ]
    for item in items:
        lines.append(f"  {style(item.key, 'camel')}: {yaml_scalar(item)}")
    lines += ["resources:", "  limits:", "    cpu: 500m", "    memory: 512Mi"]
    return "\n".join(lines) + "\n"


def r_json_config(c: Corpus, proj: str, items: list[Item]) -> str:
    body = {
        "name": proj,
        "environment": c.pick(["production", "staging"]),
        "port": int(c.pick(["8080", "3000"])),
        "integrations": {style(i.key, "camel"): (i.text) for i in items},
        "features": {"newCheckout": c.rng.random() < 0.5},
    }
    return json.dumps(body, indent=2) + "\n"


def r_appsettings(c: Corpus, proj: str, items: list[Item]) -> str:
    body: dict[str, object] = {
        "Logging": {"LogLevel": {"Default": "Information", "Microsoft.AspNetCore": "Warning"}},
        "AllowedHosts": "*",
    }
    if c.rng.random() < 0.6:
        pw = c.secret("database", value(c, "database"))
        body["ConnectionStrings"] = {
            "Default": f"Server=tcp:{proj}.database.windows.net,1433;Initial Catalog={proj.replace('-', '')};"
            f"User ID=appuser;Password={pw};Encrypt=True;"
        }
    body["Integrations"] = {style(i.key, "pascal"): i.text for i in items}
    return json.dumps(body, indent=2) + "\n"


def r_ini(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = ["[app]", f"name = {proj}", f"debug = {c.pick(['false', 'no'])}", "", "[credentials]"]
    for item in items:
        lines.append(f"{style(item.key, 'snake')} = {item.text}")
    lines += ["", "[logging]", "level = INFO"]
    return "\n".join(lines) + "\n"


def r_toml(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = ["[app]", f'name = "{proj}"', f"workers = {c.rng.randint(1, 8)}", "", "[secrets]"]
    for item in items:
        v = item.text if not item.raw else item.text.replace('"', "'")
        lines.append(f'{style(item.key, "snake")} = "{v}"')
    return "\n".join(lines) + "\n"


def r_properties(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = [f"# {proj} configuration", f"spring.application.name={proj}", "server.port=8080"]
    for item in items:
        lines.append(f"app.{style(item.key, 'dotted')}={item.text}")
    return "\n".join(lines) + "\n"


def r_python(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = [f'"""Settings for {proj}."""', "", "import os", "", "from .secrets import get_secret", "", "DEBUG = False"]
    as_dict = c.rng.random() < 0.35
    if as_dict:
        lines.append("INTEGRATIONS = {")
        for item in items:
            lines.append(f'    "{style(item.key, "snake")}": {code_str(item)},')
        lines.append("}")
    else:
        for item in items:
            lines.append(f"{item.key} = {code_str(item)}")
    lines += [
        "",
        "",
        "def client_settings():",
        '    return {"timeout": 30, "retries": 3}',
    ]
    return "\n".join(lines) + "\n"


def r_js(c: Corpus, proj: str, items: list[Item]) -> str:
    q = c.pick(["'", '"'])
    lines = ["'use strict';", "", f"// configuration for {proj}", "module.exports = {"]
    for item in items:
        lines.append(f"  {style(item.key, 'camel')}: {code_str(item, q)},")
    lines += ["  timeoutMs: 5000,", "};"]
    return "\n".join(lines) + "\n"


def r_ts(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = [
        f"// {proj} service configuration",
        "export interface Settings {",
        "  [key: string]: string | undefined;",
        "}",
        "",
    ]
    for item in items:
        lines.append(f"export const {item.key}: string | undefined = {code_str(item, chr(39))};")
    lines += ["", "export const settings: Settings = {"]
    lines.append("  region: 'eu-west-1',")
    lines.append("};")
    return "\n".join(lines) + "\n"


def r_go(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = ["package config", "", 'import "os"', "", "var ("]
    for item in items:
        lines.append(f"\t{style(item.key, 'camel')} = {code_str(item)}")
    lines += [
        ")",
        "",
        "// Env reports the deployment environment.",
        "func Env() string {",
        '\treturn os.Getenv("APP_ENV")',
        "}",
    ]
    return "\n".join(lines) + "\n"


def r_java(c: Corpus, proj: str, items: list[Item]) -> str:
    cls = style(proj.replace("-", "_").upper(), "pascal") + "Config"
    lines = [f"package com.acme.{proj.replace('-', '')};", "", f"public final class {cls} {{"]
    for item in items:
        lines.append(f"    static final String {item.key} = {code_str(item)};")
    lines += ["", f"    private {cls}() {{", "    }", "}"]
    return "\n".join(lines) + "\n"


def r_ruby(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = [f"# {proj} integrations", "Rails.application.configure do"]
    for item in items:
        lines.append(f"  config.x.{style(item.key, 'snake')} = {code_str(item, chr(39))}")
    lines += ["end"]
    return "\n".join(lines) + "\n"


def r_php(c: Corpus, proj: str, items: list[Item]) -> str:
    if c.rng.random() < 0.5:
        lines = ["<?php", f"// {proj} configuration", ""]
        for item in items:
            lines.append(f"define('{item.key}', {code_str(item, chr(39))});")
        return "\n".join(lines) + "\n"
    lines = ["<?php", "", "return ["]
    for item in items:
        lines.append(f"    '{style(item.key, 'snake')}' => {code_str(item, chr(39))},")
    lines += ["];"]
    return "\n".join(lines) + "\n"


def r_shell(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = ["#!/usr/bin/env bash", "set -euo pipefail", f"# deploys {proj}", ""]
    for item in items:
        lines.append(f"export {item.key}={sh_quote(item)}")
    lines += ["", f'echo "deploying {proj} to ${{APP_ENV:-staging}}"', "./bin/migrate && ./bin/release"]
    return "\n".join(lines) + "\n"


def r_dockerfile(c: Corpus, proj: str, items: list[Item]) -> str:
    base = c.pick(["python:3.11-slim", "node:20-alpine", "golang:1.22", "eclipse-temurin:21-jre"])
    lines = [f"FROM {base}@sha256:{c.neg('image-digest', c.chars(HEX, 64))}", "WORKDIR /app", "COPY . ."]
    for item in items:
        word = "ARG" if c.rng.random() < 0.25 else "ENV"
        v = f'"{item.text}"' if "$" in item.resolved and not item.raw else item.text
        if "$" in item.resolved and not item.raw:
            continue  # a literal "$" would be expanded by the builder: keep such values out of Dockerfiles
        lines.append(f"{word} {item.key}={v}")
    lines += ["EXPOSE 8080", 'CMD ["./start.sh"]']
    return "\n".join(lines) + "\n"


def r_terraform(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = [
        "terraform {",
        '  required_version = ">= 1.5"',
        "}",
        "",
        "locals {",
        f'  project = "{proj}"',
    ]
    for item in items:
        lines.append(f"  {style(item.key, 'snake')} = {code_str(item)}")
    lines += [
        "}",
        "",
        'resource "null_resource" "bootstrap" {',
        "  triggers = {",
        "    project = local.project",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def r_tfvars(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = [f'project = "{proj}"', f'region  = "{c.pick(REGIONS)}"']
    for item in items:
        lines.append(f"{style(item.key, 'snake')} = {code_str(item)}")
    return "\n".join(lines) + "\n"


#: Kinds of negative that stand where a credential would (and so may fill a password field).
CREDENTIAL_STAND_INS = ("placeholder", "doc-sample", "aws-example", "env-lookup", "var-reference", "function-call")


def stands_for_credential(c: Corpus, item: Item) -> bool:
    """Whether ``item`` holds a secret or something written in a credential's place."""
    for m in _SENTINEL.finditer(item.text):
        tag, what, _ = c._pending[m.group(0)]
        if tag == "SEC" or what in CREDENTIAL_STAND_INS:
            return True
    return False


def r_maven_settings(c: Corpus, proj: str, items: list[Item]) -> str:
    """Credentials as server passwords, everything else as profile properties."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<settings xmlns="http://maven.apache.org/SETTINGS/1.2.0">',
        "  <servers>",
    ]
    others = []
    for item in items:
        if not stands_for_credential(c, item):
            others.append(item)
            continue
        lines += [
            "    <server>",
            f"      <id>{style(item.key, 'kebab')}</id>",
            f"      <username>{c.pick(USERS)}</username>",
            f"      <password>{item.text.replace('&', '&amp;')}</password>",
            "    </server>",
        ]
    lines += ["  </servers>", "  <profiles>", "    <profile>", f"      <id>{proj}</id>", "      <properties>"]
    for item in others:
        tag = style(item.key, "dotted")
        lines.append(f"        <{tag}>{item.text.replace('&', '&amp;')}</{tag}>")
    lines += ["      </properties>", "    </profile>", "  </profiles>", "</settings>"]
    return "\n".join(lines) + "\n"


def r_web_config(c: Corpus, proj: str, items: list[Item]) -> str:
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<configuration>", "  <appSettings>"]
    for item in items:
        lines.append(f'    <add key="{style(item.key, "pascal")}" value="{item.text.replace("&", "&amp;")}" />')
    lines += ["  </appSettings>", "</configuration>"]
    return "\n".join(lines) + "\n"


def r_notebook(c: Corpus, proj: str, items: list[Item]) -> str:
    setup = ["import os\n", "import requests\n", "\n"]
    for item in items:
        if item.raw:
            # the cell source is a JSON string: the expression's quotes are written escaped
            setup.append(f"{style(item.key, 'snake')} = {json_escaped(c, item.text)}\n")
        else:
            setup.append(f'os.environ["{item.key}"] = "{item.text}"\n')
    cells: list[dict[str, object]] = [
        {
            "cell_type": "markdown",
            "metadata": {},
            "source": [f"# {proj}: exploration\n", "\n", "Quick look at the data."],
        },
        {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [], "source": setup},
    ]
    shown = [i for i in items if not i.raw and "@@SEC" in i.text]
    if shown and c.rng.random() < 0.7:
        item = c.pick(shown)
        # The notebook printed the value: a second occurrence, in the stored output.
        cells.append(
            {
                "cell_type": "code",
                "execution_count": 2,
                "metadata": {},
                "outputs": [
                    {"name": "stdout", "output_type": "stream", "text": [f"{item.key}={echo(c, item.text)}\n"]}
                ],
                "source": [f"!env | grep {item.key}"],
            }
        )
    cells.append(
        {
            "cell_type": "code",
            "execution_count": 3,
            "metadata": {},
            "outputs": [
                {
                    "data": {
                        "image/png": c.neg("png-base64", png_data_uri(c).split(",", 1)[1]),
                        "text/plain": ["<Figure>"],
                    },
                    "metadata": {},
                    "output_type": "display_data",
                }
            ],
            "source": ["df.plot()"],
        }
    )
    nb = {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1) + "\n"


def json_escaped(c: Corpus, text: str) -> str:
    """``text`` with each value in it replaced by a new occurrence escaped for a JSON string."""

    def again(m: re.Match[str]) -> str:
        tag, what, val = c._pending[m.group(0)]
        return c._sentinel(tag, what, json.dumps(val)[1:-1])

    return _SENTINEL.sub(again, text)


def echo(c: Corpus, text: str) -> str:
    """``text`` again, each secret in it a new occurrence (labelled where it is written)."""

    def again(m: re.Match[str]) -> str:
        tag, what, val = c._pending[m.group(0)]
        return c.secret(what, val) if tag == "SEC" else val

    return _SENTINEL.sub(again, text)


#: name -> (file name pattern, language of negatives, renderer)
GENERAL: dict[str, tuple[list[str], str, Renderer]] = {
    "env": ([".env", ".env.production", ".env.local", "deploy/.env.staging", "config/app.env"], "env", r_env),
    "compose": (["docker-compose.yml", "docker-compose.prod.yml", "compose.yaml"], "yaml", r_compose),
    "k8s-secret": (["k8s/secret.yaml", "deploy/k8s/credentials.yaml", "manifests/secrets.yml"], "none", r_k8s_secret),
    "k8s-deployment": (["k8s/deployment.yaml", "deploy/k8s/app.yaml"], "yaml", r_k8s_deployment),
    "github-actions": ([".github/workflows/ci.yml", ".github/workflows/deploy.yml"], "yaml", r_github_actions),
    "gitlab-ci": ([".gitlab-ci.yml"], "yaml", r_gitlab_ci),
    "spring": (
        ["src/main/resources/application.yml", "src/main/resources/application-prod.yml"],
        "yaml",
        r_spring_yaml,
    ),
    "helm": (["chart/values.yaml", "helm/values-prod.yaml"], "yaml", r_helm_values),
    "json": (["config/production.json", "config/default.json", "settings.json"], "none", r_json_config),
    "appsettings": (["appsettings.json", "appsettings.Production.json"], "none", r_appsettings),
    "ini": (["config.ini", "settings.cfg", "app.ini"], "none", r_ini),
    "toml": (["config.toml", "secrets.toml", ".streamlit/secrets.toml"], "none", r_toml),
    "properties": (["src/main/resources/application.properties", "gradle.properties"], "none", r_properties),
    "python": (["settings.py", "config.py", "app/settings/production.py", "scripts/sync.py"], "python", r_python),
    "js": (["config.js", "src/config/index.js", "server/keys.js"], "js", r_js),
    "ts": (["src/config.ts", "src/env.ts", "lib/settings.ts"], "js", r_ts),
    "go": (["internal/config/config.go", "config/keys.go"], "go", r_go),
    "java": (["src/main/java/com/acme/Config.java", "src/main/java/com/acme/Keys.java"], "java", r_java),
    "ruby": (["config/initializers/integrations.rb", "config/environments/production.rb"], "ruby", r_ruby),
    "php": (["config/services.php", "wp-config.php", "includes/config.php"], "php", r_php),
    "shell": (["scripts/deploy.sh", "bin/bootstrap.sh", "ops/release.sh"], "shell", r_shell),
    "dockerfile": (["Dockerfile", "docker/Dockerfile.prod"], "dockerfile", r_dockerfile),
    "terraform": (["infra/main.tf", "terraform/locals.tf"], "terraform", r_terraform),
    "tfvars": (["infra/terraform.tfvars", "terraform/prod.auto.tfvars"], "terraform", r_tfvars),
    "maven": (["settings.xml", ".mvn/settings.xml"], "xml", r_maven_settings),
    "webconfig": (["Web.config", "web.config"], "none", r_web_config),
    "notebook": (["notebooks/explore.ipynb", "analysis.ipynb", "notebooks/train.ipynb"], "python", r_notebook),
}


# --------------------------------------------------------------------------------------------
# Commands with credentials (shell scripts, history, docs)
# --------------------------------------------------------------------------------------------

CURL_FAMILIES = (
    "github",
    "gitlab",
    "bitbucket",
    "slack",
    "discord",
    "telegram",
    "stripe",
    "square",
    "twilio",
    "sendgrid",
    "mailgun",
    "mailchimp",
    "shopify",
    "atlassian",
    "hashicorp",
    "heroku",
    "digitalocean",
    "openai",
    "anthropic",
    "huggingface",
    "datadog",
    "newrelic",
    "sentry",
    "jwt",
    "dockerhub",
    "pypi",
    "npm",
    "database",
)


def command(c: Corpus, family: str) -> str:
    """A shell command that carries a ``family`` credential inline."""
    s = lambda variant=None: c.secret(family, value(c, family, variant))  # noqa: E731
    if family == "github":
        if c.rng.random() < 0.5:
            return f'curl -H "Authorization: token {s()}" https://api.github.com/user/repos'
        return f"git clone https://{c.pick(USERS)}:{s()}@github.com/acme/{c.pick(PROJECTS)}.git"
    if family == "gitlab":
        if c.rng.random() < 0.5:
            return f'curl --header "PRIVATE-TOKEN: {s("pat")}" "https://gitlab.com/api/v4/projects?owned=true"'
        return f"git clone https://oauth2:{s('pat')}@gitlab.com/acme/{c.pick(PROJECTS)}.git"
    if family == "bitbucket":
        if c.rng.random() < 0.5:
            return f"curl -u {c.pick(USERS)}:{s('app_password')} https://api.bitbucket.org/2.0/repositories/acme"
        return f"git clone https://x-token-auth:{s('access_token')}@bitbucket.org/acme/{c.pick(PROJECTS)}.git"
    if family == "slack":
        if c.rng.random() < 0.5:
            return f"curl -X POST -H 'Content-type: application/json' --data '{{\"text\":\"deployed\"}}' {s('webhook')}"
        return f'curl -H "Authorization: Bearer {s("bot")}" https://slack.com/api/auth.test'
    if family == "discord":
        return f"curl -H 'Content-Type: application/json' -d '{{\"content\":\"build green\"}}' {s('webhook')}"
    if family == "telegram":
        return f'curl "https://api.telegram.org/bot{s()}/sendMessage?chat_id=-100{c.digits(10, 10)}&text=done"'
    if family == "stripe":
        return f"curl https://api.stripe.com/v1/charges -u {s('secret_live')}: -d limit=3"
    if family == "square":
        return f'curl https://connect.squareup.com/v2/locations -H "Authorization: Bearer {s("access_token")}"'
    if family == "twilio":
        sid = c.neg("identifier", "AC" + c.chars(HEX, 32))
        return (
            f"curl -X POST https://api.twilio.com/2010-04-01/Accounts/{sid}/Messages.json "
            f"-u {sid}:{s('auth_token')} --data-urlencode 'Body=hi'"
        )
    if family == "sendgrid":
        return f'curl -X POST https://api.sendgrid.com/v3/mail/send -H "Authorization: Bearer {s()}" -d @mail.json'
    if family == "mailgun":
        return f"curl -s --user 'api:{s()}' https://api.mailgun.net/v3/mg.example.com/messages -F to=ops@example.com"
    if family == "mailchimp":
        return f'curl -u "anystring:{s()}" https://us6.api.mailchimp.com/3.0/lists'
    if family == "shopify":
        return (
            f'curl -H "X-Shopify-Access-Token: {s("access_token")}" '
            f"https://{c.pick(PROJECTS)}.myshopify.com/admin/api/2024-01/shop.json"
        )
    if family == "atlassian":
        return f"curl -u {c.pick(USERS)}@example.com:{s()} https://acme.atlassian.net/rest/api/3/myself"
    if family == "hashicorp":
        if c.rng.random() < 0.5:
            return f"vault login {s('vault_service')}"
        return (
            f'curl --header "Authorization: Bearer {s("terraform_cloud")}" '
            "https://app.terraform.io/api/v2/organizations"
        )
    if family == "heroku":
        return (
            f'curl -n https://api.heroku.com/apps -H "Accept: application/vnd.heroku+json; version=3" '
            f'-H "Authorization: Bearer {s("api_key_v2")}"'
        )
    if family == "digitalocean":
        return f'curl -X GET -H "Authorization: Bearer {s("pat")}" "https://api.digitalocean.com/v2/droplets"'
    if family == "openai":
        return f'curl https://api.openai.com/v1/models -H "Authorization: Bearer {s()}"'
    if family == "anthropic":
        return (
            f'curl https://api.anthropic.com/v1/messages -H "x-api-key: {s("api_key")}" '
            '-H "anthropic-version: 2023-06-01" -d @req.json'
        )
    if family == "huggingface":
        return f'curl https://huggingface.co/api/whoami-v2 -H "Authorization: Bearer {s("user_token")}"'
    if family == "datadog":
        return (
            f'curl -X GET "https://api.datadoghq.com/api/v1/validate" -H "DD-API-KEY: {s("api_key")}" '
            f'-H "DD-APPLICATION-KEY: {s("app_key")}"'
        )
    if family == "newrelic":
        return f"curl https://api.newrelic.com/graphql -H 'API-Key: {s('user_api_key')}' -d @query.json"
    if family == "sentry":
        return f'curl -H "Authorization: Bearer {s()}" https://sentry.io/api/0/organizations/'
    if family == "jwt":
        return f'curl -H "Authorization: Bearer {s()}" https://api.{c.pick(DOMAINS)}/v1/me'
    if family == "dockerhub":
        return f"docker login -u {c.pick(USERS)}ci -p {s('pat')}"
    if family == "pypi":
        return f"twine upload -u __token__ -p {s()} dist/*"
    if family == "npm":
        return f"npm config set //registry.npmjs.org/:_authToken {s()}"
    if family == "database":
        return f"psql {db_url(c)} -c 'select count(*) from orders'"
    raise ValueError(family)


def neg_command(c: Corpus) -> str:
    options = [
        lambda: f'curl -H "Authorization: Bearer {c.neg("var-reference", "$TOKEN")}" https://api.example.com/v1/me',
        lambda: (
            f'curl -H "Authorization: token {c.neg("var-reference", "${GITHUB_TOKEN}")}" https://api.github.com/user'
        ),
        lambda: f'curl -H "Authorization: Bearer {c.neg("placeholder", "<token>")}" https://api.openai.com/v1/models',
        lambda: f"export OPENAI_API_KEY={c.neg('command-substitution', '$(pass show api/openai)')}",
        lambda: f"export GITHUB_TOKEN={c.neg('command-substitution', '$(gh auth token)')}",
        lambda: f"git checkout {c.neg('git-sha', c.chars(HEX, 40))}",
        lambda: f"git show {c.neg('git-sha', c.chars(HEX, 12))}",
        lambda: "echo $AWS_SECRET_ACCESS_KEY | wc -c",
        lambda: f"sha256sum release.tar.gz  # {c.neg('sha256', c.chars(HEX, 64))}",
        lambda: f"docker pull ghcr.io/acme/api@sha256:{c.neg('image-digest', c.chars(HEX, 64))}",
        lambda: "aws configure --profile staging",
        lambda: f"kubectl logs deploy/api | grep {c.neg('uuid', c.uuid4())}",
        lambda: f"docker login -u ci -p {c.neg('var-reference', '$DOCKERHUB_TOKEN')}",
        lambda: f"vault login -method=oidc role={c.pick(['dev', 'ops'])}",
    ]
    return c.pick(options)()


PLAIN_COMMANDS = [
    "ls -la",
    "cd ~/src",
    "git status",
    "git pull --rebase",
    "make test",
    "docker compose up -d",
    "kubectl get pods -n prod",
    "python -m venv .venv",
    "source .venv/bin/activate",
    "pip install -r requirements.txt",
    "npm ci",
    "terraform plan -out plan.tfplan",
    "htop",
    "vim config.yaml",
    "ssh bastion",
    "tail -f /var/log/app.log",
]


# --------------------------------------------------------------------------------------------
# Files with a fixed shape
# --------------------------------------------------------------------------------------------


def f_bash_history(c: Corpus, path: str) -> None:
    lines = []
    fams = c.rng.sample(CURL_FAMILIES, c.rng.randint(2, 4))
    events = [command(c, f) for f in fams] + [neg_command(c) for _ in range(c.rng.randint(2, 4))]
    for b in c.rng.sample(ALL_BUNDLE_FAMILIES, 1):
        events += [f"export {i.key}={sh_quote(i)}" for i in bundle(c, b)]
    events += c.rng.sample(PLAIN_COMMANDS, 8)
    c.rng.shuffle(events)
    zsh = path.endswith("zsh_history")
    t = c.rng.randint(1_690_000_000, 1_710_000_000)
    for e in events:
        t += c.rng.randint(5, 4000)
        lines.append(f": {t}:0;{e}" if zsh else e)
    c.write(path, "\n".join(lines) + "\n")


def f_script_with_commands(c: Corpus, path: str) -> None:
    lines = ["#!/bin/sh", "# smoke-test the third-party integrations", "set -e", ""]
    for fam in c.rng.sample(CURL_FAMILIES, c.rng.randint(2, 4)):
        lines += [f"echo 'checking {fam}'", command(c, fam), ""]
    lines.append(neg_command(c))
    c.write(path, "\n".join(lines) + "\n")


def f_makefile(c: Corpus, path: str) -> None:
    fam = c.pick(["github", "dockerhub", "pypi", "npm", "digitalocean", "hashicorp"])
    lines = [
        ".PHONY: build release",
        "",
        "build:",
        "\tdocker build -t acme/app .",
        "",
        "release:",
        f"\t{command(c, fam)}",
        f'\tcurl -H "Authorization: Bearer $(RELEASE_TOKEN)" https://releases.{c.pick(DOMAINS)}/upload',
    ]
    c.write(path, "\n".join(lines) + "\n")


def f_npmrc(c: Corpus, path: str) -> None:
    lines = ["registry=https://registry.npmjs.org/"]
    if c.rng.random() < 0.75:
        lines.append(f"//registry.npmjs.org/:_authToken={c.secret('npm', value(c, 'npm'))}")
    else:
        lines.append(f"//registry.npmjs.org/:_authToken={c.neg('var-reference', '${NPM_TOKEN}')}")
    if c.rng.random() < 0.5:
        lines += [
            "@acme:registry=https://npm.pkg.github.com",
            f"//npm.pkg.github.com/:_authToken={c.secret('github', value(c, 'github', 'pat_classic'))}",
        ]
    lines.append("save-exact=true")
    c.write(path, "\n".join(lines) + "\n")


def f_pypirc(c: Corpus, path: str) -> None:
    lines = [
        "[distutils]",
        "index-servers =",
        "    pypi",
        "    testpypi",
        "",
        "[pypi]",
        "username = __token__",
        f"password = {c.secret('pypi', pypi_token(c))}",
        "",
        "[testpypi]",
        "repository = https://test.pypi.org/legacy/",
        "username = __token__",
    ]
    if c.rng.random() < 0.5:
        lines.append(f"password = {c.secret('pypi', pypi_token(c, 'test.pypi.org'))}")
    else:
        lines.append(f"password = {c.neg('placeholder', c.pick(['<your test token>', 'pypi-XXXXXXXX']))}")
    c.write(path, "\n".join(lines) + "\n")


def f_aws_credentials(c: Corpus, path: str) -> None:
    lines = [
        "[default]",
        f"aws_access_key_id = {c.secret('aws', value(c, 'aws', 'access_key_id'))}",
        f"aws_secret_access_key = {c.secret('aws', value(c, 'aws', 'secret_access_key'))}",
        "",
    ]
    if c.rng.random() < 0.5:
        lines += [
            "[sandbox]",
            f"aws_access_key_id = {c.neg('aws-example', AWS_EXAMPLE_KEY_ID)}",
            f"aws_secret_access_key = {c.neg('aws-example', AWS_EXAMPLE_SECRET)}",
            "",
        ]
    lines += ["[sso]", "sso_start_url = https://acme.awsapps.com/start", f"sso_region = {c.pick(REGIONS)}"]
    c.write(path, "\n".join(lines) + "\n")


def f_terraformrc(c: Corpus, path: str) -> None:
    tok = c.secret("hashicorp", value(c, "hashicorp", "terraform_cloud"))
    c.write(path, f'credentials "app.terraform.io" {{\n  token = "{tok}"\n}}\n')


def f_netrc(c: Corpus, path: str) -> None:
    user = f"{c.pick(USERS)}@{c.pick(DOMAINS)}"
    heroku = value(c, "heroku")
    lines = [
        "machine api.heroku.com",
        f"  login {user}",
        f"  password {c.secret('heroku', heroku)}",
        "machine git.heroku.com",
        f"  login {user}",
        f"  password {c.secret('heroku', heroku)}",
    ]
    if c.rng.random() < 0.5:
        lines += [
            "machine github.com",
            f"  login {c.pick(USERS)}",
            f"  password {c.secret('github', value(c, 'github'))}",
        ]
    c.write(path, "\n".join(lines) + "\n")


def f_git_credentials(c: Corpus, path: str) -> None:
    lines = []
    for fam in c.rng.sample(["github", "gitlab", "bitbucket", "bitbucket-app"], c.rng.randint(1, 3)):
        if fam == "github":
            lines.append(f"https://{c.pick(USERS)}:{c.secret('github', value(c, 'github'))}@github.com")
        elif fam == "gitlab":
            lines.append(f"https://oauth2:{c.secret('gitlab', value(c, 'gitlab', 'pat'))}@gitlab.com")
        elif fam == "bitbucket":
            lines.append(
                f"https://x-token-auth:{c.secret('bitbucket', value(c, 'bitbucket', 'access_token'))}@bitbucket.org"
            )
        else:
            lines.append(
                f"https://{c.pick(USERS)}:{c.secret('bitbucket', value(c, 'bitbucket', 'app_password'))}@bitbucket.org"
            )
    c.write(path, "\n".join(lines) + "\n")


def f_service_account(c: Corpus, path: str) -> None:
    project = f"{c.pick(PROJECTS)}-{c.digits(6, 6)}"
    name = c.pick(["deployer", "ci", "exporter", "terraform"])
    key = private_key_pem(c, "pkcs8").replace("\n", "\\n")
    doc = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": c.neg("identifier", c.chars(HEX, 40)),
        # the whole JSON string value (with its trailing escaped newline) is the secret
        "private_key": c.secret("gcp", key + "\\n"),
        "client_email": f"{name}@{project}.iam.gserviceaccount.com",
        "client_id": c.digits(21, 21),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{name}%40{project}.iam.gserviceaccount.com",
        "universe_domain": "googleapis.com",
    }
    c.write(path, json.dumps(doc, indent=2) + "\n")


def f_key_file(c: Corpus, path: str, kind: str) -> None:
    key = private_key_pem(c, kind)
    pre = ""
    if kind == "pkcs8" and c.rng.random() < 0.4:
        pre = "Bag Attributes\n    localKeyID: 01 00 00 00 \nKey Attributes: <No Attributes>\n"
    text = pre + c.secret("private-key", key) + "\n"
    if kind in ("rsa", "pkcs8", "ec", "ec-pkcs8") and c.rng.random() < 0.3:
        # a combined PEM: the certificate first, then its key
        text = c.neg("certificate", certificate_pem(c, c.pick(DOMAINS))) + "\n" + text
    c.write(path, text)


def f_embedded_key(c: Corpus, root: str) -> None:
    """A private key inside another file: YAML block, Python string, Terraform heredoc, .env."""
    how = c.pick(["k8s-tls", "python", "terraform", "dotenv", "helm"])
    kind = c.pick(["rsa", "pkcs8", "ec", "ec-pkcs8", "openssh"])
    key = private_key_pem(c, kind)
    if how in ("k8s-tls", "helm"):
        indent = "    "
        block = key.replace("\n", "\n" + indent)
        cert = certificate_pem(c, c.pick(DOMAINS)).replace("\n", "\n" + indent)
        if how == "k8s-tls":
            text = (
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ingress-tls\ntype: kubernetes.io/tls\nstringData:\n"
                f"  tls.crt: |\n{indent}{c.neg('certificate', cert)}\n"
                f"  tls.key: |\n{indent}{c.secret('private-key', block)}\n"
            )
            c.write(f"{root}/k8s/tls-secret.yaml", text)
        else:
            text = (
                "ingress:\n  enabled: true\n  tls:\n"
                f"    certificate: |\n{indent}  {c.neg('certificate', cert.replace(chr(10), chr(10) + '  '))}\n"
                f"    key: |\n{indent}  {c.secret('private-key', block.replace(chr(10), chr(10) + '  '))}\n"
            )
            c.write(f"{root}/helm/values-tls.yaml", text)
    elif how == "python":
        text = (
            '"""JWT signing for the internal API."""\n\nimport jwt\n\n'
            f'SIGNING_KEY = """{c.secret("private-key", key)}\n"""\n\n\n'
            'def sign(claims):\n    return jwt.encode(claims, SIGNING_KEY, algorithm="RS256")\n'
        )
        c.write(f"{root}/app/signing.py", text)
    elif how == "terraform":
        text = (
            'resource "tls_locally_signed_cert" "example" {\n  ca_key_algorithm = "RSA"\n}\n\n'
            'variable "deploy_key" {\n  type      = string\n  sensitive = true\n'
            f"  default   = <<-EOT\n{c.secret('private-key', key)}\n  EOT\n}}\n"
        )
        c.write(f"{root}/infra/keys.tf", text)
    else:
        flat = key.replace("\n", "\\n")
        text = (
            f"APP_NAME={root.rsplit('/', 1)[-1]}\n"
            f'JWT_PRIVATE_KEY="{c.secret("private-key", flat)}"\n'
            f"JWT_ISSUER=https://auth.{c.pick(DOMAINS)}\n"
        )
        c.write(f"{root}/.env.keys", text)


def f_kubeconfig(c: Corpus, path: str) -> None:
    ca = b64(certificate_pem(c, "kubernetes").encode() + b"\n")
    token = c.secret("jwt", jwt(c)) if c.rng.random() < 0.7 else c.neg("placeholder", "<service-account-token>")
    text = (
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {c.neg('base64-certificate', ca)}\n"
        f"    server: https://k8s.{c.pick(DOMAINS)}:6443\n  name: prod\n"
        "contexts:\n- context:\n    cluster: prod\n    user: deployer\n  name: prod\ncurrent-context: prod\n"
        f"users:\n- name: deployer\n  user:\n    token: {token}\n"
    )
    c.write(path, text)


# ---- hard-negative-only files --------------------------------------------------------------


def n_readme(c: Corpus, path: str, proj: str) -> None:
    key, sample = doc_sample(c)
    pkey, ph = prefixed_placeholder(c)
    text = (
        f"# {proj}\n\n## Configuration\n\nCopy `.env.example` to `.env` and fill in:\n\n```sh\n"
        f"OPENAI_API_KEY={c.neg('placeholder', c.pick(['YOUR_API_KEY', 'sk-...', '<your-openai-key>']))}\n"
        f"{pkey}={c.neg('placeholder', ph)}\n"
        f"{key}={c.neg('doc-sample', sample)}\n"
        f"AWS_ACCESS_KEY_ID={c.neg('aws-example', AWS_EXAMPLE_KEY_ID)}\n"
        f"AWS_SECRET_ACCESS_KEY={c.neg('aws-example', AWS_EXAMPLE_SECRET)}\n"
        "```\n\nIn code, read them from the environment:\n\n```python\n"
        f"api_key = {c.neg('env-lookup', 'os.environ[' + chr(34) + 'OPENAI_API_KEY' + chr(34) + ']')}\n"
        "```\n\n```js\n"
        f"const stripe = require('stripe')({c.neg('env-lookup', 'process.env.STRIPE_SECRET_KEY')});\n"
        "```\n\nCall the API:\n\n```sh\n"
        f'curl -H "Authorization: Bearer {c.neg("var-reference", "$API_TOKEN")}" https://api.{c.pick(DOMAINS)}/v1/items\n'
        "```\n\nTokens look like `eyJhbGciOi…` (a JWT) and expire after an hour.\n"
        f"\nBuilt from commit {c.neg('git-sha', c.chars(HEX, 40))}.\n"
    )
    c.write(path, text)


def n_env_example(c: Corpus, path: str) -> None:
    lines = ["# copy to .env"]
    for key in c.rng.sample(SECRET_KEYS_FOR_NEG, 6):
        lines.append(f"{key}={c.neg('placeholder', c.pick([*PLACEHOLDERS, '', '']))}")
    c.write(path, "\n".join(lines) + "\n")


def n_package_lock(c: Corpus, path: str, proj: str) -> None:
    names = c.rng.sample(
        [
            "express",
            "lodash",
            "react",
            "axios",
            "chalk",
            "commander",
            "debug",
            "ms",
            "semver",
            "uuid",
            "yargs",
            "zod",
            "dotenv",
            "jsonwebtoken",
            "stripe",
            "pg",
        ],
        8,
    )
    packages: dict[str, object] = {"": {"name": proj, "version": "1.0.0"}}
    for n in names:
        ver = f"{c.rng.randint(0, 9)}.{c.rng.randint(0, 20)}.{c.rng.randint(0, 9)}"
        packages[f"node_modules/{n}"] = {
            "version": ver,
            "resolved": f"https://registry.npmjs.org/{n}/-/{n}-{ver}.tgz",
            "integrity": c.neg("integrity", "sha512-" + b64(c.randbytes(64))),
        }
    doc = {"name": proj, "version": "1.0.0", "lockfileVersion": 3, "requires": True, "packages": packages}
    c.write(path, json.dumps(doc, indent=2) + "\n")


def n_go_sum(c: Corpus, path: str) -> None:
    lines = []
    for mod in c.rng.sample(
        [
            "github.com/spf13/cobra",
            "golang.org/x/sys",
            "github.com/google/uuid",
            "gopkg.in/yaml.v3",
            "github.com/stretchr/testify",
            "go.uber.org/zap",
        ],
        4,
    ):
        ver = f"v{c.rng.randint(0, 2)}.{c.rng.randint(0, 20)}.{c.rng.randint(0, 9)}"
        lines.append(f"{mod} {ver} h1:{c.neg('go-sum', b64(c.randbytes(32)))}")
        lines.append(f"{mod} {ver}/go.mod h1:{c.neg('go-sum', b64(c.randbytes(32)))}")
    c.write(path, "\n".join(lines) + "\n")


def n_requirements(c: Corpus, path: str) -> None:
    lines = []
    for pkg in c.rng.sample(["requests", "urllib3", "certifi", "idna", "flask", "pyyaml", "boto3"], 3):
        ver = f"{c.rng.randint(1, 6)}.{c.rng.randint(0, 30)}.{c.rng.randint(0, 5)}"
        lines.append(f"{pkg}=={ver} \\")
        lines.append(f"    --hash=sha256:{c.neg('sha256', c.chars(HEX, 64))} \\")
        lines.append(f"    --hash=sha256:{c.neg('sha256', c.chars(HEX, 64))}")
    c.write(path, "\n".join(lines) + "\n")


def n_html(c: Corpus, path: str, proj: str) -> None:
    text = (
        f"<!doctype html>\n<html>\n<head><title>{proj}</title>\n"
        f'<link rel="icon" href="{c.neg("data-uri", png_data_uri(c))}">\n'
        f'<meta name="csrf-token" content="{c.neg("csrf-token", b64url_nopad(c.randbytes(32)))}">\n</head>\n<body>\n'
        '<form method="post" action="/login">\n  <input type="text" name="username">\n'
        '  <input type="password" name="password" autocomplete="current-password">\n</form>\n'
        f'<img alt="logo" src="{c.neg("data-uri", png_data_uri(c))}">\n'
        f'<script src="/static/app.js" integrity="{c.neg("integrity", "sha384-" + b64(c.randbytes(48)))}" '
        'crossorigin="anonymous"></script>\n'
        f"<script>Stripe({c.neg('publishable-key', chr(39) + 'pk_live_' + c.chars(ALNUM, 24) + chr(39))});</script>\n"
        "</body>\n</html>\n"
    )
    c.write(path, text)


def n_css(c: Corpus, path: str) -> None:
    text = (
        f'.logo {{\n  background-image: url("{c.neg("data-uri", png_data_uri(c))}");\n}}\n.btn {{ color: #1a2b3c; }}\n'
    )
    c.write(path, text)


def n_log(c: Corpus, path: str) -> None:
    lines = []
    t = c.rng.randint(0, 86000)
    for _ in range(c.rng.randint(6, 10)):
        t += c.rng.randint(1, 60)
        ts = f"2024-05-{c.rng.randint(10, 28)}T{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}Z"
        kind = c.pick(["req", "req", "masked", "auth", "commit"])
        if kind == "req":
            lines.append(f"{ts} INFO request_id={c.neg('uuid', c.uuid4())} status=200 path=/api/v1/items")
        elif kind == "masked":
            lines.append(
                f"{ts} DEBUG loaded config "
                f"token={c.neg('masked', c.pick(['****', '********', 'sk-...REDACTED', '[FILTERED]']))}"
            )
        elif kind == "auth":
            lines.append(
                f'{ts} WARN auth failed header="Authorization: Bearer {c.neg("masked", "***")}" '
                f"ip=10.0.0.{c.rng.randint(2, 250)}"
            )
        else:
            lines.append(f"{ts} INFO deployed revision {c.neg('git-sha', c.chars(HEX, 40))}")
    c.write(path, "\n".join(lines) + "\n")


def n_changelog(c: Corpus, path: str) -> None:
    lines = ["# Changelog", ""]
    for v in range(c.rng.randint(3, 5), 0, -1):
        lines.append(f"## 1.{v}.0")
        for _ in range(2):
            lines.append(
                f"- {c.pick(['Fix retry loop', 'Rotate credentials via vault', 'Bump deps', 'Add token refresh'])} "
                f"({c.neg('git-sha', c.chars(HEX, 7))}, {c.neg('git-sha', c.chars(HEX, 40))})"
            )
        lines.append("")
    c.write(path, "\n".join(lines))


def n_test_vectors(c: Corpus, path: str) -> None:
    text = (
        '"""Known-answer tests for the envelope cipher (vectors generated for these tests)."""\n\n'
        f'PLAINTEXT_B64 = "{c.neg("test-vector", b64(c.randbytes(48)))}"\n'
        f'NONCE_B64 = "{c.neg("test-vector", b64(c.randbytes(12)))}"\n'
        f'CIPHERTEXT_B64 = "{c.neg("test-vector", b64(c.randbytes(64)))}"\n'
        f'EXPECTED_DIGEST_HEX = "{c.neg("test-vector", c.chars(HEX, 64))}"\n'
        f'EXPECTED_MAC = "{c.neg("test-vector", b64url_nopad(c.randbytes(32)))}"\n\n\n'
        "def test_roundtrip(cipher):\n    assert cipher.decrypt(CIPHERTEXT_B64) == PLAINTEXT_B64\n"
    )
    c.write(path, text)


def n_token_format_tests(c: Corpus, path: str) -> None:
    lines = [
        '"""Our token validator rejects malformed tokens."""',
        "",
        "import pytest",
        "",
        "from app.tokens import looks_valid",
        "",
        "",
        "@pytest.mark.parametrize(",
        '    "candidate",',
        "    [",
    ]
    for _ in range(c.rng.randint(4, 7)):
        lines.append(f'        "{c.neg("malformed-token", malformed_token(c))}",')
    lines += ["    ],", ")", "def test_rejects_malformed(candidate):", "    assert not looks_valid(candidate)"]
    c.write(path, "\n".join(lines) + "\n")


def n_pem_utils(c: Corpus, path: str) -> None:
    text = (
        '"""Helpers to tell key files apart."""\n\n'
        "PRIVATE_MARKERS = (\n"
        f'    "{c.neg("pem-header", "-----BEGIN RSA PRIVATE KEY-----")}",\n'
        f'    "{c.neg("pem-header", "-----BEGIN OPENSSH PRIVATE KEY-----")}",\n'
        f'    "{c.neg("pem-header", "-----BEGIN PRIVATE KEY-----")}",\n'
        ")\n\n\n"
        "def is_private_key(text: str) -> bool:\n"
        "    return any(text.lstrip().startswith(m) for m in PRIVATE_MARKERS)\n"
    )
    c.write(path, text)


def n_mongoose_model(c: Corpus, path: str) -> None:
    text = (
        "const mongoose = require('mongoose');\n\n"
        "const UserSchema = new mongoose.Schema({\n"
        "  email: { type: String, required: true, unique: true },\n"
        "  password: { type: String, required: true, minlength: 12 },\n"
        "  apiKeyHash: { type: String },\n"
        "});\n\n"
        f"const PASSWORD_RESET_SECRET = {c.neg('env-lookup', 'process.env.PASSWORD_RESET_SECRET')};\n"
        "module.exports = mongoose.model('User', UserSchema);\n"
    )
    c.write(path, text)


def n_public_keys(c: Corpus, root: str, user: str) -> None:
    kind = c.pick(["ed25519", "rsa"])
    c.write(
        f"{root}/.ssh/id_{kind}.pub",
        c.neg("ssh-public-key", ssh_public_line(c, kind, f"{user}@{c.pick(HOSTS)}")) + "\n",
    )
    lines = [
        c.neg("ssh-public-key", ssh_public_line(c, c.pick(["ed25519", "rsa"]), f"{u}@{c.pick(HOSTS)}"))
        for u in c.rng.sample(USERS, 3)
    ]
    c.write(f"{root}/.ssh/authorized_keys", "\n".join(lines) + "\n")
    hosts = []
    for h in c.rng.sample(["github.com", "gitlab.com", "bastion.example.com", "10.0.0.12"], 2):
        blob = b64(_ssh_string("ssh-ed25519") + _ssh_string(c.randbytes(32)))
        hosts.append(f"{h} ssh-ed25519 {c.neg('ssh-public-key', blob)}")
    c.write(f"{root}/.ssh/known_hosts", "\n".join(hosts) + "\n")


def n_pem_public(c: Corpus, root: str) -> None:
    c.write(f"{root}/certs/ca.crt", c.neg("certificate", certificate_pem(c, "Acme Root CA")) + "\n")
    c.write(f"{root}/keys/public.pem", c.neg("public-key", public_key_pem(c)) + "\n")
    if c.rng.random() < 0.5:
        c.write(
            f"{root}/keys/release-signing.pub.asc",
            c.neg("pgp-public-key", pgp_armor(c, False, "Release Bot <release@example.org>")) + "\n",
        )


def n_gha_only(c: Corpus, path: str) -> None:
    lines = [
        "name: Release",
        "on:",
        "  release:",
        "    types: [published]",
        "jobs:",
        "  publish:",
        "    runs-on: ubuntu-latest",
        "    steps:",
        "      - uses: actions/checkout@v4",
        "      - run: make release",
        "        env:",
    ]
    for key in c.rng.sample(SECRET_KEYS_FOR_NEG, 4):
        lines.append(f"          {key}: {c.neg('var-reference', '${{ secrets.' + key + ' }}')}")
    c.write(path, "\n".join(lines) + "\n")


def n_terraform_refs(c: Corpus, path: str) -> None:
    text = (
        'resource "aws_db_instance" "main" {\n  engine   = "postgres"\n  username = "app"\n'
        f"  password = {c.neg('var-reference', 'random_password.db.result')}\n}}\n\n"
        'resource "random_password" "db" {\n  length  = 32\n  special = true\n}\n\n'
        'provider "github" {\n'
        f"  token = {c.neg('var-reference', 'var.github_token')}\n}}\n\n"
        'variable "github_token" {\n  type      = string\n  sensitive = true\n}\n'
    )
    c.write(path, text)


# --------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------

ALL_BUNDLE_FAMILIES = tuple(f for f in FAMILIES if f != "private-key")


def general_file(c: Corpus, root: str, kind: str, families: Iterable[str], used: set[str]) -> None:
    names, lang, render = GENERAL[kind]
    name = c.pick(names)
    path = f"{root}/{name}"
    n = 2
    while path in used or path in c.files:
        stem, dot, ext = name.rpartition(".")
        path = f"{root}/{stem}-{n}.{ext}" if dot and stem else f"{root}/{name}-{n}"
        n += 1
    used.add(path)
    secret_items = [item for fam in families for item in bundle(c, fam)]
    taken = {i.key for i in secret_items}
    others = []
    for item in plain_items(c, c.rng.randint(1, 3)) + neg_items(c, lang, c.rng.randint(1, 3)):
        if item.key not in taken:  # one key once per file: a negative never shadows a secret
            taken.add(item.key)
            others.append(item)
    c.rng.shuffle(others)
    items = interleave(c, others, secret_items)
    c.write(path, render(c, root.rsplit("/", 1)[-1], items))


def build(c: Corpus) -> None:
    deck: list[str] = []

    def draw() -> str:
        if not deck:
            deck.extend(ALL_BUNDLE_FAMILIES * 2)
            c.rng.shuffle(deck)
        return deck.pop()

    key_kinds = list(PRIVATE_KEY_KINDS)
    c.rng.shuffle(key_kinds)
    key_paths = {
        "rsa": "certs/server.key",
        "pkcs8": "secrets/jwt-signing.pem",
        "ec": "tls/ec.key",
        "ec-pkcs8": "tls/tls.key",
        "ed25519": "keys/ed25519.pem",
        "dsa": "legacy/dsa.key",
        "rsa-encrypted": "keys/backup.key",
        "pkcs8-encrypted": "keys/encrypted.pem",
        "openssh": "deploy/deploy_key",
        "openssh-rsa": "deploy/id_rsa",
        "openssh-encrypted": "deploy/ci_key",
        "pgp": "keys/signing-key.asc",
    }

    n_projects = 26
    for i in range(n_projects):
        proj = PROJECTS[i % len(PROJECTS)] + ("" if i < len(PROJECTS) else f"-{i // len(PROJECTS) + 1}")
        root = f"projects/{proj}"
        used: set[str] = set()
        for kind in c.rng.sample(sorted(GENERAL), c.rng.randint(6, 9)):
            fams = {draw() for _ in range(c.rng.randint(1, 3))}
            general_file(c, root, kind, sorted(fams), used)
        # files with a fixed shape
        if c.rng.random() < 0.5:
            f_script_with_commands(c, f"{root}/scripts/smoke.sh")
        if c.rng.random() < 0.3:
            f_makefile(c, f"{root}/Makefile")
        if c.rng.random() < 0.3:
            f_npmrc(c, f"{root}/.npmrc")
        if c.rng.random() < 0.2:
            f_service_account(c, f"{root}/credentials/service-account.json")
        if key_kinds:
            kind = key_kinds.pop()
            f_key_file(c, f"{root}/{key_paths[kind]}", kind)
        if c.rng.random() < 0.35:
            f_embedded_key(c, root)
        if c.rng.random() < 0.3:
            f_kubeconfig(c, f"{root}/deploy/kubeconfig.yaml")
        # hard negatives only
        n_readme(c, f"{root}/README.md", proj)
        n_env_example(c, f"{root}/.env.example")
        for fn, p in c.rng.sample(
            [
                (lambda p: n_package_lock(c, p, proj), "package-lock.json"),
                (lambda p: n_go_sum(c, p), "go.sum"),
                (lambda p: n_requirements(c, p), "requirements.txt"),
                (lambda p: n_html(c, p, proj), "public/index.html"),
                (lambda p: n_css(c, p), "static/site.css"),
                (lambda p: n_log(c, p), "logs/app.log"),
                (lambda p: n_changelog(c, p), "CHANGELOG.md"),
                (lambda p: n_test_vectors(c, p), "tests/test_vectors.py"),
                (lambda p: n_token_format_tests(c, p), "tests/test_token_format.py"),
                (lambda p: n_pem_utils(c, p), "app/pem_utils.py"),
                (lambda p: n_mongoose_model(c, p), "models/user.js"),
                (lambda p: n_pem_public(c, f"{root}/{p}"), "pki"),
                (lambda p: n_gha_only(c, p), ".github/workflows/release.yml"),
                (lambda p: n_terraform_refs(c, p), "infra/database.tf"),
            ],
            c.rng.randint(3, 5),
        ):
            fn(f"{root}/{p}")

    # home directories
    for user in USERS[:10]:
        home = f"home/{user}"
        f_bash_history(c, f"{home}/.bash_history")
        if c.rng.random() < 0.4:
            f_bash_history(c, f"{home}/.zsh_history")
        if c.rng.random() < 0.5:
            f_aws_credentials(c, f"{home}/.aws/credentials")
        if c.rng.random() < 0.4:
            f_pypirc(c, f"{home}/.pypirc")
        if c.rng.random() < 0.3:
            f_terraformrc(c, f"{home}/.terraformrc")
        if c.rng.random() < 0.4:
            f_netrc(c, f"{home}/.netrc")
        if c.rng.random() < 0.5:
            f_git_credentials(c, f"{home}/.git-credentials")
        if c.rng.random() < 0.4:
            f_npmrc(c, f"{home}/.npmrc")
        if c.rng.random() < 0.6:
            kind = c.pick(["openssh", "openssh-rsa", "openssh-encrypted", "rsa"])
            f_key_file(c, f"{home}/.ssh/id_{'rsa' if 'rsa' in kind else 'ed25519'}", kind)
        n_public_keys(c, home, user)

    # every kind of private key at least once, and every family up to the minimum
    for kind in key_kinds:
        f_key_file(c, f"misc/keys/{kind}.key", kind)
    extra = 0
    for fam in FAMILIES:
        while c.counts()[fam] < MIN_PER_FAMILY:
            extra += 1
            root = f"misc/extra-{extra:03d}"
            if fam == "private-key":
                f_key_file(c, f"{root}/id.key", c.pick(PRIVATE_KEY_KINDS))
            else:
                general_file(c, root, c.pick(sorted(GENERAL)), [fam], set())


def generate(out_dir: str | Path, seed: int = DEFAULT_SEED) -> Corpus:
    """Build the corpus from ``seed`` and write it, ``labels.json`` and ``negatives.json`` into ``out_dir``."""
    c = Corpus(seed)
    build(c)
    out = Path(out_dir)
    for rel, data in sorted(c.files.items()):
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    labels = sorted((lb.record() for lb in c.labels), key=lambda r: (r["path"], r["line"], r["value_sha256"]))
    negs = sorted((n.record() for n in c.negatives), key=lambda r: (r["path"], r["line"], r["kind"]))
    (out / "labels.json").write_text(json.dumps(labels, indent=1) + "\n", encoding="utf-8")
    (out / "negatives.json").write_text(json.dumps(negs, indent=1) + "\n", encoding="utf-8")
    return c


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = ap.parse_args(argv)
    c = generate(args.out_dir, args.seed)
    counts = c.counts()
    print(f"{len(c.files)} files, {len(c.labels)} secrets, {len(c.negatives)} hard negatives")
    for fam in FAMILIES:
        print(f"  {fam:14} {counts[fam]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
