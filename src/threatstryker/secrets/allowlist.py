"""Deciding that a match is not a secret: the built-in placeholder, environment-reference, fixture-path and
public-test-key checks, and rule or global allowlists compiled for matching.

The built-in checks are facts about what is never a live credential: documentation values (AWS writes
``EXAMPLE`` into its sample keys, jwt.io's default token carries the payload ``sub 1234567890 / John Doe /
iat 1516239022``, Stripe documents one pair of test-mode keys and RFC 6749 one access and one refresh
token, kept here only as SHA-256 digests), placeholder words (``user:password@host``),
template and variable references (``${VAR}``, ``{{ var }}``, ``<token>``, ``%(name)s``, ``$VAR``),
environment look-ups captured as the value (``process.env``, ``os.environ``, ``getenv``), masked or filler
values (``xxxx``, ``****``, one character or one short unit repeated, ``123456``/``abcdef`` runs).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable

from .ruleset import Allowlist

__all__ = ["TEST_FIXTURE_PATH", "CompiledAllowlist", "is_placeholder", "is_public_test_key"]

_MARKERS = re.compile(
    r"example|\$\{[^}]*\}|\{\{.*?\}\}|<[A-Za-z_][^<>]{0,62}>|%\([A-Za-z0-9_]+\)[sdr]|\*{4,}|\u2026"
    r"|changeme|change_me|placeholder|redacted|dummy|your[-_ ]?(?:api[-_ ]?)?(?:key|token|secret|password)",
    re.IGNORECASE,
)
_X_RUN_SHORT = re.compile(r"[xX]{4,}")
_X_RUN_LONG = re.compile(r"[xX]{12,}")
_VARIABLE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*|\$\([^)]*\)|%[A-Za-z_][A-Za-z0-9_]*%"
                       # build-time filter tokens: Maven/Ant ``\$BUILD_TIME\$`` and ``@project.version@``
                       r"|\\?\$[A-Za-z_][A-Za-z0-9_.]*\\?\$|@[A-Za-z_][A-Za-z0-9_.]*@")
#: A word or short phrase in a natural language with a letter outside ASCII: a translation (the value of
#: ``password=`` in a German or Japanese resource bundle is the word for "password"), never a credential.
_NATURAL_WORDS = re.compile(r"(?=.*[^\x00-\x7f])[^\W\d_]+(?:[ '-][^\W\d_]+){0,3}")
_REPEATED_UNIT = re.compile(r"(.{1,4})\1{2,}", re.DOTALL)
_ENV_LOOKUP = re.compile(
    r"process\.env|os\.environ|getenv\s*\(|\bENV\s*\[|\$ENV\{|GetEnvironmentVariable|System\.getenv", re.IGNORECASE
)
_RUNS = ("0123456789", "abcdefghijklmnopqrstuvwxyz")

#: Directories that hold test data by convention; secrets under them are not reported unless asked.
TEST_FIXTURE_PATH = re.compile(r"(?:^|/)(?:fixtures?|__fixtures__|testdata|test[-_]data|__snapshots__|__mocks__)/",
                               re.IGNORECASE)

# SHA-256 of values published as test or sample credentials (the values themselves are not kept here):
_PUBLIC_TEST_KEY_SHA256 = frozenset({
    "2cafc0970149a84f3b9e62eaf169f36f59907a3b3e31f7b82e68c69cd27f7326",  # Stripe docs' sample test secret key
    "b1471f544ceeea31333bde7e1ecbaad6eac0d4a749412ad29bd66ef895b81c6b",  # Stripe docs' sample publishable key
    "6c96130f130ab0d6d158397e24d2bcc1c9a5e73ae081f6e983f1c7b545d24a4c",  # RFC 6749's sample access token
    "00cf4c781dc37003f7c7dd7d4c9a6ef1e0f4c62d9a291aa8bc398774e3fefd32",  # RFC 6749's sample refresh token
})
#: Words that stand in for a value ("user:password@host", password = "changeit").
_PLACEHOLDER_WORDS = frozenset({
    "password", "passwd", "secret", "token", "username", "user", "pass", "admin", "root", "changeit", "test",
    "testing", "sample", "dummy", "foobar", "none", "null", "nil", "undefined", "default", "empty", "apikey",
    "api_key", "access_token", "secret_key", "private_key",
})
_JWT_IO_PAYLOAD = {"sub": "1234567890", "name": "John Doe", "iat": 1516239022}


def _is_jwt_io_sample(secret: str) -> bool:
    parts = secret.split(".")
    if len(parts) != 3 or not parts[0].startswith("eyJ") or len(parts[1]) > 4096:
        return False
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return False
    return isinstance(payload, dict) and payload == _JWT_IO_PAYLOAD


def is_public_test_key(secret: str) -> bool:
    """Whether ``secret`` is a credential published for documentation or testing."""
    if hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest() in _PUBLIC_TEST_KEY_SHA256:
        return True
    return secret.startswith("eyJ") and _is_jwt_io_sample(secret)


def is_placeholder(secret: str) -> bool:
    """Whether ``secret`` is a placeholder, a variable or environment reference, filler, or a public test
    key rather than a credential. Only the secret is looked at: ``os.environ["X"] = "value"`` sets a
    hardcoded value and is reported, ``password = os.environ["X"]`` captures the look-up and is not."""
    if len(set(secret)) <= 1 or _MARKERS.search(secret) or _VARIABLE.fullmatch(secret):
        return True
    if _NATURAL_WORDS.fullmatch(secret):
        return True
    if secret.lower() in _PLACEHOLDER_WORDS:
        return True
    if (_X_RUN_SHORT if len(secret) <= 128 else _X_RUN_LONG).search(secret):
        return True
    if len(secret) <= 64 and _REPEATED_UNIT.fullmatch(secret):
        return True
    folded = secret.lower()
    if len(folded) >= 6 and any(folded in run * (len(folded) // len(run) + 2) for run in _RUNS):
        return True
    if _ENV_LOOKUP.search(secret):
        return True
    return is_public_test_key(secret)


class CompiledAllowlist:
    """An :class:`Allowlist` with its regexes compiled, asked about one match at a time."""

    __slots__ = ("_and", "paths", "regexes", "stopwords", "target")

    def __init__(self, allow: Allowlist) -> None:
        self.regexes = tuple(re.compile(r) for r in allow.regexes)
        self.paths = tuple(re.compile(p) for p in allow.paths)
        self.stopwords = tuple(w.lower() for w in allow.stopwords)
        self.target = allow.target
        self._and = allow.condition == "and"

    def allows_path(self, path: str) -> bool:
        """Whether the path alone allows every match in the file (a path list that decides on its own)."""
        if not self.paths or not any(p.search(path) for p in self.paths):
            return False
        return not self._and or not (self.regexes or self.stopwords)

    def allows(self, path: str, secret: str, text: Callable[[str], str]) -> bool:
        """Whether the match is allowed; ``text(target)`` gives the ``match`` or ``line`` text on demand."""
        results: list[bool] = []
        if self.paths:
            results.append(any(p.search(path) for p in self.paths))
        if self.regexes:
            subject = secret if self.target == "secret" else text(self.target)
            results.append(any(r.search(subject) for r in self.regexes))
        if self.stopwords:
            folded = secret.lower()
            results.append(any(word in folded for word in self.stopwords))
        if not results:
            return False
        return all(results) if self._and else any(results)
