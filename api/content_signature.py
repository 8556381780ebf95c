"""``Content-Signature`` on the public answers Balrog signs, and ``/contribute.json``.

Balrog signs an update answer by asking an Autograph server (``POST
/sign/hash``, Hawk-authenticated) to sign the SHA-384 of
``"Content-Signature:\\x00" + body`` with a named key, and sends
``Content-Signature: x5u=<chain URL>; p384ecdsa=<signature>``; it keeps each
signature per (hash, key), so a popular answer is signed once. Which answers:

* XML (``/update/...``) of the products listed in ``CONTENT_SIGNATURE_PRODUCTS``,
  with that product's Autograph (``AUTOGRAPH_<PRODUCT>_URL``, ...);
* JSON (``/json/...``) with the default Autograph (``AUTOGRAPH_URL``, ...).

rulelog reads the same settings as ``RULELOG_AUTOGRAPH[_<PRODUCT>]_{URL,KEYID,
USERNAME,PASSWORD}`` and ``RULELOG_CONTENT_SIGNATURE_PRODUCTS``; a deployment
without Autograph may instead name a P-384 private key (PEM) and the URL of its
certificate chain: ``RULELOG_SIGNING[_<PRODUCT>]_KEY_FILE`` and ``..._X5U``.
When Autograph cannot sign, Balrog's request crashes (a 500). rulelog answers
503 with ``Retry-After`` instead: the failure is the signer's and temporary, an
unsigned answer would be refused by the client, and a 503 is neither cached by
the CDN nor mistaken for a bug in the update server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rulelog.api.logs import get_logger

if TYPE_CHECKING:
    from rulelog.api.settings import Settings

log = get_logger("rulelog.signing")

SIGNATURE_PREFIX = b"Content-Signature:\x00"
#: Balrog's retry of a signing call: three attempts, backing off.
ATTEMPTS = 3
CACHE_SIZE = 4096

#: Balrog's ``contribute.json`` content (what the file says about the project),
#: pointing at rulelog.
CONTRIBUTE = {
    "name": "rulelog",
    "description": (
        "An event-sourced update-rules engine and update server, wire-compatible with Balrog."
    ),
    "repository": {"url": "https://github.com/mozilla-releng/balrog", "license": "MPL-2.0"},
    "participate": {"home": "https://github.com/mozilla-releng/balrog"},
    "bugs": {"list": "https://github.com/mozilla-releng/balrog/issues"},
    "urls": {},
    "keywords": ["python", "update server", "event sourcing"],
}


def make_hash(content: bytes) -> bytes:
    """What gets signed: the SHA-384 of the prefix and the body (Balrog's make_hash)."""
    return hashlib.sha384(SIGNATURE_PREFIX + content).digest()


def header_value(x5u: str, signature: str) -> str:
    return f"x5u={x5u}; p384ecdsa={signature}"


class SigningError(Exception):
    """The signer could not sign (Autograph down, refused, or answered nonsense)."""


@dataclass(frozen=True)
class Autograph:
    url: str
    keyid: str
    username: str
    password: str

    def sign(self, digest: bytes) -> tuple[str, str]:
        """``(signature, x5u)`` from ``POST /sign/hash``, Hawk-authenticated as Balrog."""
        from mohawk import Sender

        body = json.dumps(
            [{"input": base64.b64encode(digest).decode("ascii"), "keyid": self.keyid}]
        ).encode()
        target = self.url.rstrip("/") + "/sign/hash"
        credentials = {"id": self.username, "key": self.password, "algorithm": "sha256"}
        sender = Sender(
            credentials, target, "POST", content=body, content_type="application/json"
        )
        request = urllib.request.Request(
            target,
            data=body,
            method="POST",
            headers={"Authorization": sender.request_header, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                signed = json.loads(answer.read())
        except (OSError, ValueError) as error:  # URLError and HTTPError are OSErrors
            raise SigningError(f"autograph at {self.url}: {error}") from error
        if not isinstance(signed, list) or len(signed) != 1:
            raise SigningError("Response is not length 1, cannot parse it")
        try:
            return str(signed[0]["signature"]), str(signed[0]["x5u"])
        except (KeyError, TypeError) as error:
            raise SigningError(f"autograph answered without a signature: {error}") from error


@dataclass(frozen=True)
class LocalKey:
    """An operator's own P-384 key, for deployments without Autograph."""

    key_pem: bytes
    x5u: str

    def sign(self, digest: bytes) -> tuple[str, str]:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, utils

        key = serialization.load_pem_private_key(self.key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp384r1":
            raise SigningError("the signing key must be an EC P-384 private key")
        der = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA384())))
        r, s = utils.decode_dss_signature(der)
        raw = r.to_bytes(48, "big") + s.to_bytes(48, "big")
        # Autograph's encoding of the signature: r||s, base64url.
        return base64.urlsafe_b64encode(raw).decode("ascii"), self.x5u


Signer = Autograph | LocalKey


def _signer(env: Mapping[str, str], scope: str) -> Signer | None:
    """The signer ``RULELOG_AUTOGRAPH{scope}_*`` or ``RULELOG_SIGNING{scope}_*`` names."""
    url = env.get(f"RULELOG_AUTOGRAPH{scope}_URL")
    if url:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"RULELOG_AUTOGRAPH{scope}_URL: not a http(s) URL: {url[:80]!r}")
        return Autograph(
            url=url,
            keyid=env.get(f"RULELOG_AUTOGRAPH{scope}_KEYID", ""),
            username=env.get(f"RULELOG_AUTOGRAPH{scope}_USERNAME", ""),
            password=env.get(f"RULELOG_AUTOGRAPH{scope}_PASSWORD", ""),
        )
    key_file = env.get(f"RULELOG_SIGNING{scope}_KEY_FILE")
    if key_file:
        prefix = f"RULELOG_SIGNING{scope}"
        x5u = env.get(f"{prefix}_X5U", "")
        if not x5u:
            raise ValueError(f"{prefix}_KEY_FILE is set but {prefix}_X5U is not")
        try:
            pem = Path(key_file).read_bytes()
        except OSError as error:
            message = f"{prefix}_KEY_FILE: cannot read {key_file}: {error.strerror}"
            raise ValueError(message) from None
        return LocalKey(pem, x5u)
    return None


PRODUCTS = "RULELOG_CONTENT_SIGNATURE_PRODUCTS"
FAMILIES = {
    "RULELOG_AUTOGRAPH": ("URL", "KEYID", "USERNAME", "PASSWORD"),
    "RULELOG_SIGNING": ("KEY_FILE", "X5U"),
}


def _refuse_unlisted(env: Mapping[str, str], scopes: set[str]) -> None:
    """A product's signer variable names a listed product: else it would be silently unused."""
    known = {
        f"{family}{scope}_{suffix}"
        for family, suffixes in FAMILIES.items()
        for suffix in suffixes
        for scope in scopes
    }
    for name in env:
        if name.startswith(tuple(FAMILIES)) and name.upper() not in known:
            raise ValueError(f"{name}: its product is not listed in {PRODUCTS}")


@dataclass(frozen=True)
class SigningSettings:
    #: The signer of JSON answers (Balrog's ``AUTOGRAPH_URL`` ...).
    default: Signer | None = None
    #: Products whose XML answers are signed, each with its own signer.
    products: Mapping[str, Signer] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SigningSettings:
        """From the variables in ``env``, validated as a process start validates them."""
        from rulelog.api.settings import load_settings

        return cls.from_settings(load_settings(env))

    @classmethod
    def from_settings(cls, settings: Settings) -> SigningSettings:
        """The signers ``settings`` names (``Settings`` validates them through this at start)."""
        return cls._parse(settings.signing_env())

    @classmethod
    def _parse(cls, env: Mapping[str, str]) -> SigningSettings:
        listed = [p.strip() for p in env.get(PRODUCTS, "").split(",") if p.strip()]
        _refuse_unlisted(env, {"", *(f"_{product.upper()}" for product in listed)})
        products: dict[str, Signer] = {}
        for product in listed:
            signer = _signer(env, f"_{product.upper()}")
            if signer is not None:
                products[product] = signer
        return cls(default=_signer(env, ""), products=products)

    @property
    def enabled(self) -> bool:
        return self.default is not None or bool(self.products)

    def signer_for(self, path: str) -> tuple[str, Signer] | None:
        """Which key signs the answer to ``path``, if any (with its cache name)."""
        parts = path.split("/")
        if len(parts) > 3 and parts[1] == "update":
            product = parts[3]
            signer = self.products.get(product)
            return (product, signer) if signer is not None else None
        if len(parts) > 3 and parts[1] == "json" and self.default is not None:
            return ("", self.default)
        return None


class SignatureCache:
    """Signatures per (hash, key): Balrog's ``content_signatures`` cache."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[tuple[bytes, str], tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[bytes, str], make: Callable[[], tuple[str, str]]) -> tuple[str, str]:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        made = make()
        with self._lock:
            self._items[key] = made
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return made


def sign_with_retries(signer: Signer, digest: bytes) -> tuple[str, str]:
    for attempt in range(ATTEMPTS):
        try:
            return signer.sign(digest)
        except SigningError:
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.05 * 2**attempt)  # back off before asking again, as Balrog does
    raise AssertionError("unreachable")


class ContentSignature:
    """Adds ``Content-Signature`` to the 200 answers Balrog signs (one place, one middleware)."""

    def __init__(self, app: ASGIApp, settings: SigningSettings | None = None) -> None:
        self.app = app
        self.settings = settings or SigningSettings()
        self.cache = SignatureCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chosen = (
            self.settings.signer_for(scope.get("path", ""))
            if scope["type"] == "http" and self.settings.enabled
            else None
        )
        if chosen is None:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, hold)
        assert start is not None
        body = b"".join(chunks)
        headers = list(start.get("headers", []))
        if start["status"] == 200:
            name, signer = chosen
            digest = make_hash(body)
            try:
                import anyio

                signature, x5u = await anyio.to_thread.run_sync(
                    self.cache.get, (digest, name), lambda: sign_with_retries(signer, digest)
                )
            except SigningError as error:
                log.error("signing.failed", key=name or "default", problem=str(error))
                await Response(
                    SIGNER_UNAVAILABLE,
                    503,
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                    media_type="text/plain",
                )(scope, receive, send)
                return
            headers.append((b"content-signature", header_value(x5u, signature).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})


#: The answer when no signature can be had: the client is told to come back later.
SIGNER_UNAVAILABLE = "The answer cannot be signed right now; try again later.\n"
RETRY_AFTER_SECONDS = 60


async def contribute_json(request: Request) -> Response:
    """``/contribute.json``, as Balrog serves its static file."""
    return Response(json.dumps(CONTRIBUTE, indent=4) + "\n", 200, media_type="application/json")
