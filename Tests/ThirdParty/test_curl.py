"""curl as the client: the framing it sees (--raw), chunked uploads (-T -), HTTP/1.0."""

import hashlib
import json
import os

import pytest

import wsgi_apps
from httpcheck import curl, curl_headers, decode_chunked, digest, header


@pytest.mark.parametrize("size,piece", [(1, 1), (65536, 1000), (5 * 1024 * 1024, 65536)])
def test_raw_framing_of_a_streamed_body(gateway, tmp_path, size, piece):
    # --raw: curl writes the body exactly as it arrived, framing included: it must be valid chunked framing
    # (or a body of exactly Content-Length bytes), decoding to what the app sent, with nothing after it.
    head, body = tmp_path / "head", tmp_path / "body"
    done = curl("--raw", "-D", head, "-o", body, gateway.url + f"/gu/stream?size={size}&piece={piece}")
    assert done.returncode == 0, done.stderr.decode()
    status, fields = curl_headers(head)
    assert status == 200
    raw = body.read_bytes()
    if header(fields, "transfer-encoding"):
        assert header(fields, "transfer-encoding") == ["chunked"]
        assert not header(fields, "content-length")
        decoded, trailers, rest = decode_chunked(raw)
        assert (trailers, rest) == ([], b"")
    else:
        assert header(fields, "content-length") == [str(size)]
        decoded = raw
    assert digest(decoded) == digest(wsgi_apps.pattern(size, size))


@pytest.mark.parametrize("size,piece", [(1000, 10), (5 * 1024 * 1024, 65536)])
def test_streamed_body_without_raw(gateway, tmp_path, size, piece):
    body = tmp_path / "body"
    done = curl("-o", body, gateway.url + f"/gu/stream?size={size}&piece={piece}")
    assert done.returncode == 0, done.stderr.decode()  # e.g. 56: "Illegal or missing hexadecimal sequence"
    assert digest(body.read_bytes()) == digest(wsgi_apps.pattern(size, size))


@pytest.mark.parametrize("size", [0, 1, 100_000, 3 * 1024 * 1024])
def test_chunked_upload_from_stdin(gateway, gunicorn_app, size):
    data = os.urandom(size)
    expected = {"length": size, "sha256": hashlib.sha256(data).hexdigest()}
    for base in (gunicorn_app, gateway.url):
        # -T - reads stdin of unknown length: curl sends it with Transfer-Encoding: chunked.
        done = curl("-T", "-", "-H", "Expect:", base + "/gu/upload", input=data)
        assert done.returncode == 0, f"{base}: {done.stderr.decode()}"
        seen = json.loads(done.stdout)
        assert {k: seen[k] for k in expected} == expected, base


def test_chunked_upload_with_expect_100_continue(gateway):
    data = os.urandom(200_000)
    done = curl("-T", "-", "-H", "Expect: 100-continue", gateway.url + "/gu/upload", input=data)
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("path", ["/gu/stream?size=70000&piece=1000", "/gu/empty-stream", "/raw/chunked-64k",
                                  "/raw/chunk-looks-like-response", "/raw/chunked-extensions-trailers"])
def test_http10_client_is_never_sent_chunked(gateway, gunicorn_app, raw_upstream, tmp_path, path):
    # RFC 9112 6.1: no Transfer-Encoding to an HTTP/1.0 client; the body is close-delimited (as gunicorn
    # answers such a client itself) or sized. The expected bytes: the body fetched directly over HTTP/1.1.
    upstream = gunicorn_app if path.startswith("/gu/") else f"http://127.0.0.1:{raw_upstream.port}"
    expected = tmp_path / "expected"
    done = curl("-o", expected, upstream + path)
    assert done.returncode == 0, done.stderr.decode()
    head, body = tmp_path / "head", tmp_path / "body"
    done = curl("--http1.0", "--raw", "-D", head, "-o", body, gateway.url + path)
    assert done.returncode == 0, done.stderr.decode()
    status, fields = curl_headers(head)
    assert status == 200
    assert not header(fields, "transfer-encoding"), f"Transfer-Encoding sent to an HTTP/1.0 client: {fields}"
    assert digest(body.read_bytes()) == digest(expected.read_bytes())
