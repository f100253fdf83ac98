"""gunicorn as the upstream: streamed (chunked) bodies of every size, 5 MB, Server-Sent Events."""

import hashlib
import os
import socket
import uuid

import httpx
import pytest
import requests

import wsgi_apps
from conftest import wait_until
from httpcheck import digest, end_to_end, fetch

# (size, piece): tiny, small, 64 KiB, 5 MB; gunicorn sends each piece as one chunk.
STREAMS = [(1, 1), (1000, 7), (65536, 4096), (5 * 1024 * 1024, 65536)]


@pytest.mark.parametrize("size,piece", STREAMS)
def test_streamed_body_with_requests(gateway, gunicorn_app, size, piece):
    path = f"/gu/stream?size={size}&piece={piece}"
    direct = requests.get(gunicorn_app + path, timeout=30)
    assert direct.headers.get("Transfer-Encoding") == "chunked", "gunicorn should stream this chunked"
    proxied = requests.get(gateway.url + path, timeout=30)
    assert proxied.status_code == 200
    assert digest(proxied.content) == digest(wsgi_apps.pattern(size, size))
    assert end_to_end(proxied.headers.items()) == end_to_end(direct.headers.items())


@pytest.mark.parametrize("size,piece", STREAMS)
def test_streamed_body_with_httpx(gateway, gunicorn_app, size, piece):
    path = f"/gu/stream?size={size}&piece={piece}"
    with httpx.Client(timeout=30) as client:
        direct = fetch(client, gunicorn_app + path)
        proxied = fetch(client, gateway.url + path)
    assert proxied[0] == direct[0] == 200
    assert digest(proxied[2]) == digest(wsgi_apps.pattern(size, size))
    assert end_to_end(proxied[1]) == end_to_end(direct[1])


def test_five_megabytes_with_content_length(gateway):
    size = 5 * 1024 * 1024
    proxied = requests.get(gateway.url + f"/gu/sized?size={size}", timeout=30)
    assert proxied.status_code == 200
    assert proxied.headers["Content-Length"] == str(size)
    assert digest(proxied.content) == digest(wsgi_apps.pattern(size, size))


def test_empty_streamed_body(gateway):
    with httpx.Client(timeout=10) as client:
        status, _, body = fetch(client, gateway.url + "/gu/empty-stream")
    assert (status, body) == (200, b"")


def test_keep_alive_connection_survives_chunked_answers(gateway):
    # One client connection, many chunked answers in a row: each must end exactly where it ends, or the
    # next answer on the connection is read from the previous one's leftovers.
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=1)) as client:
        for size in (1, 10, 100, 1000, 10_000, 3, 70_000, 2):
            response = client.get(gateway.url + f"/gu/stream?size={size}&piece=33")
            assert response.status_code == 200
            assert digest(response.content) == digest(wsgi_apps.pattern(size, size))
        assert client.get(gateway.url + "/gu/health").json() == {"ok": True}


def read_event(lines):
    """The next Server-Sent Event (its lines up to the blank line)."""
    event = []
    for line in lines:
        if not line:
            return event
        event.append(line)
    raise AssertionError(f"the stream ended inside an event: {event}")


def test_server_sent_events_arrive_one_by_one(gateway, sse_release_dir):
    # The app sends event 2 only after the client has received event 1 and released it: a gateway that
    # holds the stream back (until the end, or until a buffer fills) makes the client time out on event 1.
    stream_id = uuid.uuid4().hex
    with httpx.Client(timeout=httpx.Timeout(10)) as client:
        with client.stream("GET", gateway.url + f"/gu/sse?id={stream_id}",
                           headers={"Accept": "text/event-stream"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/event-stream"
            lines = response.iter_lines()
            assert read_event(lines) == ["id: 1", "event: tick", "data: first"]
            (sse_release_dir / stream_id).touch()
            assert read_event(lines) == ["id: 2", "event: tick", "data: second (released)"]
            assert read_event(lines) == ["id: 3", "event: done", "data: bye"]


def test_head_of_a_streamed_answer_then_get_on_the_same_connection(gateway, gunicorn_app):
    # gunicorn answers HEAD of a streamed body with no body at all; the gateway must not wait for one, and
    # the next answer on the connection must be the GET's.
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=1)) as client:
        direct = client.head(gunicorn_app + "/gu/stream?size=5000")
        head = client.head(gateway.url + "/gu/stream?size=5000")
        assert (head.status_code, head.content) == (200, b"")
        assert end_to_end(head.headers.multi_items()) == end_to_end(direct.headers.multi_items())
        get = client.get(gateway.url + "/gu/stream?size=5000&piece=500")
        assert digest(get.content) == digest(wsgi_apps.pattern(5000, 5000))


def test_a_client_leaving_a_stream_ends_it_upstream(gateway, sse_release_dir):
    # A stream nobody reads any more must not go on upstream (an app thread and a connection held for
    # nothing): once the client has gone, the gateway closes the upstream connection and gunicorn's next
    # writes fail.
    stream_id = uuid.uuid4().hex
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as client:
        client.sendall(f"GET /gu/ticker?id={stream_id} HTTP/1.1\r\nHost: gw.test\r\n\r\n".encode())
        received = b""
        while b"data: started" not in received:
            data = client.recv(65536)
            assert data, f"the gateway closed the stream: {received!r}"
            received += data
    (sse_release_dir / stream_id).touch()
    outcome = sse_release_dir / f"{stream_id}.outcome"
    wait_until(outcome.exists, "the app's stream to end", timeout=15)
    assert outcome.read_text() == "aborted"


def test_chunked_uploads_from_requests_and_httpx(gateway):
    # Both send a generator body as Transfer-Encoding: chunked; gunicorn must receive the same bytes.
    pieces = [os.urandom(n) for n in (1, 100, 65536, 7, 300_000)]
    expected = {"length": sum(map(len, pieces)), "sha256": hashlib.sha256(b"".join(pieces)).hexdigest()}
    seen = requests.post(gateway.url + "/gu/upload", data=iter(pieces), timeout=30).json()
    assert {k: seen[k] for k in expected} == expected
    assert seen["transfer_encoding"] == "chunked" or seen["content_length"] == str(expected["length"])
    with httpx.Client(timeout=30) as client:
        seen = client.post(gateway.url + "/gu/upload", content=iter(pieces)).json()
    assert {k: seen[k] for k in expected} == expected
