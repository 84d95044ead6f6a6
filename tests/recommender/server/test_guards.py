"""What a real ``undertone serve`` refuses: missing tokens, oversized, malformed and abandoned uploads."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
import pytest

from recommender import Client, cli
from recommender.errors import AuthenticationError, UploadTooLargeError


def test_token_is_checked_on_every_request(serve, store_copy, speech_clips):
    server = serve(store_copy, "--token", "s3cret-token")
    assert server.token == "s3cret-token"  # recorded for local clients (the record is user-readable only)
    assert (server.store / "vectors" / "server.json").stat().st_mode & 0o077 == 0
    for route in ("/health", "/docs", "/tracks"):
        answer = httpx.get(server.url + route)
        assert answer.status_code == 401 and answer.json()["reason"] == "authentication", route
    answer = httpx.post(server.url + "/search", files={"speech": ("sad.wav", speech_clips["sad"].read_bytes())},
                        headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401
    with Client(server.url, token="s3cret-tokeN") as client, pytest.raises(AuthenticationError):
        client.search(emotion="happy")
    with Client(server.url, token="s3cret-token") as client:
        assert len(client.search(speech_clips["sad"], k=2).results) == 2


def test_without_token_anyone_local_may_call(server):
    assert server.token is None
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    assert httpx.get(server.url + "/openapi.json").json()["info"]["title"] == "Undertone"


def test_listening_beyond_localhost_needs_a_token(store_copy, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("UNDERTONE_TOKEN", raising=False)
    monkeypatch.setenv("UNDERTONE_CONFIG", str(tmp_path / "no-config.toml"))
    assert cli.main(["serve", "--store", str(store_copy), "--host", "0.0.0.0", "--port", "0"]) == 1
    assert "--token" in capsys.readouterr().err


@pytest.fixture
def small_limit_server(serve, store_copy):
    return serve(store_copy, "--max-upload-mb", "0.05")  # 50 kB: a 3 s clip is ~96 kB


def test_oversized_uploads_are_413_declared_or_streamed(small_limit_server, speech_clips):
    url = small_limit_server.url + "/search"
    clip = speech_clips["sad"].read_bytes()
    assert len(clip) > 50_000
    answer = httpx.post(url, files={"speech": ("sad.wav", clip)})
    assert answer.status_code == 413 and answer.json()["type"] == "UploadTooLargeError"

    def chunks():  # no Content-Length: the limit must hold while the body streams in
        for start in range(0, len(clip), 8192):
            yield clip[start:start + 8192]

    answer = httpx.post(url, content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413 and "limit" in answer.json()["error"]
    with Client(small_limit_server.url) as client:
        with pytest.raises(UploadTooLargeError):
            client.search(speech_clips["sad"])
        assert client.search(emotion="calm", k=1).results  # still serving


def test_malformed_uploads_are_clear_4xx(server, speech_clips):
    url = server.url + "/search"
    broken = b"--XYZ\r\nContent-Disposition: form-data; name=\"speech\"; filename=\"a.wav\"\r\n\r\nRIFF...."  # never closed
    answer = httpx.post(url, content=broken, headers={"Content-Type": "multipart/form-data; boundary=XYZ"})
    assert 400 <= answer.status_code < 500 and answer.json()["error"] and "Traceback" not in answer.text
    answer = httpx.post(url, json={"emotion": "happy"})
    assert answer.status_code == 415 and "form" in answer.json()["error"]
    answer = httpx.post(url, files={"speech": ("empty.wav", b"")})
    assert answer.status_code in (415, 422) and answer.json()["reason"] in ("empty", "corrupt")
    answer = httpx.post(url, data={"emotion": "happy", "k": "many"})
    assert answer.status_code == 422 and answer.json()["type"] == "UsageError" and "k" in answer.json()["error"]
    answer = httpx.post(url, data={"emotion": "happy", "where": "{not json"})
    assert answer.status_code == 422 and "where" in answer.json()["error"]


def test_a_client_that_disconnects_mid_upload_harms_nobody(server, speech_clips):
    address = urlsplit(server.url)
    for _ in range(3):
        with socket.create_connection((address.hostname, address.port)) as connection:
            head = (
                "POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XYZ\r\n"
                "Content-Length: 5000000\r\n\r\n--XYZ\r\nContent-Disposition: form-data; name=\"speech\"; filename=\"big.wav\"\r\n\r\n"
            )
            connection.sendall(head.encode() + b"\0" * 200_000)
    # The half-sent uploads went away; the server answers, and searches as before.
    with Client(server.url) as client:
        assert client.health()["status"] == "ok"
        assert len(client.search(speech_clips["happy"], k=3).results) == 3
    assert "Traceback" not in server.log.read_text()
