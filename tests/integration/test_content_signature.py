"""Content-Signature as Balrog signs: verified with the public key, via a local Autograph."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from mohawk import Receiver
from mohawk.exc import HawkFail
from starlette.testclient import TestClient

from rulelog.api.content_signature import (
    SIGNATURE_PREFIX,
    Autograph,
    LocalKey,
    SigningSettings,
)
from rulelog.api.public import PublicSettings, create_public_app
from rulelog.services.application import RulelogApp
from tests.stub_http import JsonHandler, StubServer, running

JSON_URL = "/json/1/FirefoxVPN/2.18.0/WINNT_x86_64/release/update.json"
GMP_URL = (
    "/update/3/GMP/53.0/20160101000000/WINNT_x86-msvc/en-US/release/default/default/"
    "default/update.xml"
)
FIREFOX_URL = GMP_URL.replace("/GMP/", "/Firefox/")
X5U = "https://content-signature.example/chains/test.pem"


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def verify(public: ec.EllipticCurvePublicKey, header: str, body: bytes) -> str:
    """Check a ``Content-Signature`` header as a client would; returns its x5u."""
    fields = dict(part.strip().split("=", 1) for part in header.split(";"))
    raw = base64.urlsafe_b64decode(fields["p384ecdsa"] + "=" * (-len(fields["p384ecdsa"]) % 4))
    assert len(raw) == 96
    der = utils.encode_dss_signature(int.from_bytes(raw[:48]), int.from_bytes(raw[48:]))
    public.verify(der, SIGNATURE_PREFIX + body, ec.ECDSA(hashes.SHA384()))
    return fields["x5u"]


class StandIn(StubServer):
    """A small Autograph: ``POST /sign/hash`` with Hawk, signing with its own key."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, user: str, password: str) -> None:
        self.key, self.calls = key, 0
        stand_in = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    Receiver(
                        lambda _id: {"id": user, "key": password, "algorithm": "sha256"},
                        self.headers["Authorization"],
                        f"http://127.0.0.1:{self.server.server_port}{self.path}",
                        "POST",
                        content=body,
                        content_type=self.headers["Content-Type"],
                    )
                except HawkFail:
                    self.send_response(401)
                    self.end_headers()
                    return
                stand_in.calls += 1
                (item,) = json.loads(body)
                digest = base64.b64decode(item["input"])
                der = stand_in.key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA384())))
                r, s = utils.decode_dss_signature(der)
                sig = base64.urlsafe_b64encode(r.to_bytes(48) + s.to_bytes(48)).decode()
                self.send_json(201, [{"signature": sig, "x5u": X5U, "ref": "r1"}])

        self.serve(Handler)
        self.url = f"http://127.0.0.1:{self.port}"


@pytest.fixture
def autograph(key: ec.EllipticCurvePrivateKey) -> Iterator[StandIn]:
    yield from running(StandIn(key, "balrog", "s3cret"))


def client_for(app: RulelogApp, signing: SigningSettings) -> TestClient:
    web = create_public_app(settings=PublicSettings(follow=False, signing=signing), store=app)
    return TestClient(web)


@pytest.fixture
def imported(app: RulelogApp, fixture_snapshot: dict[str, Any]) -> RulelogApp:
    app.import_snapshot(fixture_snapshot, "importer")
    return app


def test_a_local_key_signs_json_and_listed_products(
    imported: RulelogApp, key: ec.EllipticCurvePrivateKey
) -> None:
    signer = LocalKey(pem(key), X5U)
    with client_for(imported, SigningSettings(default=signer, products={"GMP": signer})) as web:
        for url in (JSON_URL, GMP_URL):
            answer = web.get(url)
            assert answer.status_code == 200
            assert verify(key.public_key(), answer.headers["Content-Signature"], answer.content)
            assert answer.headers["Content-Signature"].startswith(f"x5u={X5U}; p384ecdsa=")
        # Firefox is not listed: its XML goes unsigned, as in Balrog
        assert "Content-Signature" not in web.get(FIREFOX_URL).headers


def test_autograph_signs_once_per_answer(imported: RulelogApp, autograph: StandIn) -> None:
    signer = Autograph(autograph.url, "key1", "balrog", "s3cret")
    with client_for(imported, SigningSettings(products={"GMP": signer})) as web:
        first, second = web.get(GMP_URL), web.get(GMP_URL)
        assert first.headers["Content-Signature"] == second.headers["Content-Signature"]
        verify(autograph.key.public_key(), first.headers["Content-Signature"], first.content)
        assert autograph.calls == 1  # the second came from the cache
        assert "Content-Signature" not in web.get(JSON_URL).headers  # no default signer


@pytest.mark.parametrize("down", ["refused", "wrong password"])
def test_autograph_failing_answers_503_to_retry_later(
    imported: RulelogApp, autograph: StandIn, down: str
) -> None:
    if down == "refused":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens here
        signer = Autograph(url, "key1", "balrog", "s3cret")
    else:
        signer = Autograph(autograph.url, "key1", "balrog", "wrong")
    with client_for(imported, SigningSettings(default=signer)) as web:
        answer = web.get(JSON_URL)
        # Balrog crashes (500); rulelog tells the client to retry, never sends it unsigned.
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "60"
        assert answer.headers["Content-Type"].startswith("text/plain")
        assert "Content-Signature" not in answer.headers
        assert web.get("/__lbheartbeat__").status_code == 200  # the rest still serves


def test_settings_from_the_environment(tmp_path: Any, key: ec.EllipticCurvePrivateKey) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(pem(key))
    env = {
        "RULELOG_AUTOGRAPH_URL": "http://autograph:8000",
        "RULELOG_AUTOGRAPH_KEYID": "normandy",
        "RULELOG_AUTOGRAPH_USERNAME": "u",
        "RULELOG_AUTOGRAPH_PASSWORD": "p",
        "RULELOG_CONTENT_SIGNATURE_PRODUCTS": "GMP, SystemAddons",
        "RULELOG_SIGNING_GMP_KEY_FILE": str(key_file),
        "RULELOG_SIGNING_GMP_X5U": X5U,
    }
    settings = SigningSettings.from_env(env)
    assert settings.default == Autograph("http://autograph:8000", "normandy", "u", "p")
    assert settings.products == {"GMP": LocalKey(pem(key), X5U)}  # SystemAddons: no signer
    assert settings.signer_for(GMP_URL) == ("GMP", settings.products["GMP"])
    assert settings.signer_for(FIREFOX_URL) is None


def test_contribute_json(imported: RulelogApp) -> None:
    with client_for(imported, SigningSettings()) as web:
        answer = web.get("/contribute.json")
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "application/json"
        assert {"name", "description", "repository", "participate", "bugs"} <= set(answer.json())
