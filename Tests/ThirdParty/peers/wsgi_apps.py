"""Small WSGI apps that gunicorn serves behind the gateway (and directly, for comparison).

Bodies from generators have no Content-Length, so gunicorn sends them chunked to HTTP/1.1 clients and
close-delimited to HTTP/1.0 ones: the framing most app servers use for streamed or compressed answers.
"""

import hashlib
import json
import os
import random
import time
from urllib.parse import parse_qs


def pattern(seed, size):
    """`size` reproducible pseudo-random bytes (the tests compute the same bytes to compare)."""
    return random.Random(seed).randbytes(size)


def _query(environ):
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _json(start_response, status, value):
    body = json.dumps(value).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _stream(start_response, data, piece):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return (data[i:i + piece] for i in range(0, len(data), piece))


def _sse(environ, start_response):
    # Event 2 is sent only once the test has seen event 1 and created the release file: a gateway that
    # buffers the stream cannot pass, however slow or fast the machine is.
    release = os.path.join(os.environ["SSE_RELEASE_DIR"], _query(environ)["id"])

    def events():
        yield b"id: 1\nevent: tick\ndata: first\n\n"
        deadline = time.monotonic() + 15
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.01)
        yield b"id: 2\nevent: tick\ndata: second (released)\n\n" if os.path.exists(release) else b"data: timeout\n\n"
        yield b"id: 3\nevent: done\ndata: bye\n\n"

    start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
    return events()


def _ticker(environ, start_response):
    # After the release, up to 100 events 20 ms apart, until a write fails: the outcome file says whether the
    # stream was cut off ("aborted": gunicorn closed the iterator when its client went away) or ran to its end.
    directory, stream_id = os.environ["SSE_RELEASE_DIR"], _query(environ)["id"]
    release = os.path.join(directory, stream_id)

    def events():
        outcome = "completed"
        try:
            yield b"data: started\n\n"
            deadline = time.monotonic() + 15
            while not os.path.exists(release) and time.monotonic() < deadline:
                time.sleep(0.01)
            for i in range(100):
                yield b"data: tick %d\n\n" % i
                time.sleep(0.02)
        except GeneratorExit:
            outcome = "aborted"
            raise
        finally:
            with open(os.path.join(directory, stream_id + ".outcome"), "w") as f:
                f.write(outcome)

    start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
    return events()


def app(environ, start_response):
    path = environ["PATH_INFO"]
    query = _query(environ)
    if path == "/gu/health":
        return _json(start_response, "200 OK", {"ok": True})
    if path == "/gu/stream":
        # Streamed, no Content-Length: chunked. `size` bytes in pieces of `piece`.
        size, piece = int(query.get("size", "1000")), int(query.get("piece", "100"))
        return _stream(start_response, pattern(size, size), piece)
    if path == "/gu/sized":
        data = pattern(int(query["size"]), int(query["size"]))
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data)))])
        return [data]
    if path == "/gu/empty-stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter(())
    if path == "/gu/sse":
        return _sse(environ, start_response)
    if path == "/gu/ticker":
        return _ticker(environ, start_response)
    if path == "/gu/upload":
        # gunicorn decodes a chunked request body for the app.
        body = environ["wsgi.input"].read()
        return _json(start_response, "200 OK", {
            "length": len(body), "sha256": hashlib.sha256(body).hexdigest(),
            "content_length": environ.get("CONTENT_LENGTH"),
            "transfer_encoding": environ.get("HTTP_TRANSFER_ENCODING"),
        })
    if path == "/gu/headers":
        return _json(start_response, "200 OK",
                     {k: v for k, v in environ.items() if k.startswith("HTTP_") or k == "SERVER_PROTOCOL"})
    return _json(start_response, "404 Not Found", {"error": "no such path", "path": path})
