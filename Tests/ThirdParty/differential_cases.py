"""The table of upstream answers for the differential tests, as the exact bytes the raw upstream sends.

Each is fetched directly and through the gateway by the same client; the two must mean the same: status,
end-to-end headers and body bytes (hop-by-hop fields and the framing may differ).
"""

import random


def _head(status, *fields):
    return (f"HTTP/1.1 {status}\r\n" + "".join(f"{f}\r\n" for f in fields) + "\r\n").encode()


def _chunk(data, extension=b""):
    return b"%x%s\r\n%s\r\n" % (len(data), extension, data)


def _chunked(*pieces, trailers=b""):
    return b"".join(_chunk(p) for p in pieces) + b"0\r\n" + trailers + b"\r\n"


# A chunk whose data is itself a complete chunked ending and a response: it must stay body bytes.
INJECTED = (b"0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 19\r\n\r\n"
            b"<h1>injected</h1>\r\n")

_DATA = random.Random(10).randbytes(3 * 1024 * 1024)
CHUNKED = "Transfer-Encoding: chunked"

# name -> (bytes the upstream sends, whether it closes the connection after them)
CASES = {
    "chunked-extensions-trailers": (
        _head("200 OK", "Content-Type: text/plain", "Trailer: X-Checksum", CHUNKED)
        + _chunk(b"hello", b";name=value") + _chunk(b", world", b';a=b;c="d e"')
        + b"0;last=1\r\nX-Checksum: 0123abcd\r\nX-Other: t\r\n\r\n", False),
    "chunked-hex-forms": (
        _head("200 OK", "Content-Type: text/plain", CHUNKED)
        + b"000A\r\n0123456789\r\na\r\nabcdefghij\r\n00000\r\n\r\n", False),
    "chunked-one-byte-chunks": (
        _head("200 OK", "Content-Type: application/octet-stream", CHUNKED)
        + _chunked(*[bytes([b]) for b in _DATA[:500]]), False),
    "chunked-64k": (
        _head("200 OK", "Content-Type: application/octet-stream", CHUNKED)
        + _chunked(_DATA[:65536], _DATA[65536:65537]), False),
    "chunked-multi-mb": (
        _head("200 OK", "Content-Type: application/octet-stream", CHUNKED)
        + _chunked(*[_DATA[i:i + 8192] for i in range(0, len(_DATA), 8192)]), False),
    "chunked-empty": (_head("200 OK", "Content-Type: text/plain", CHUNKED) + b"0\r\n\r\n", False),
    "chunk-looks-like-response": (
        _head("200 OK", "Content-Type: text/plain", CHUNKED) + _chunked(b"before|", INJECTED, b"|after"), False),
    "close-delimited": (
        _head("200 OK", "Content-Type: application/octet-stream", "Connection: close") + _DATA[:100_000], True),
    "close-delimited-http10": (
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"an HTTP/1.0 body, until close\n" * 1000, True),
    "early-hints": (
        _head("103 Early Hints", "Link: </style.css>; rel=preload; as=style")
        + _head("200 OK", "Content-Type: text/plain", "Link: </style.css>; rel=preload; as=style",
                "Content-Length: 5") + b"hello", False),
    "two-informational-then-chunked": (
        _head("103 Early Hints", "Link: </a.js>; rel=preload; as=script")
        + _head("103 Early Hints", "Link: </b.js>; rel=preload; as=script")
        + _head("200 OK", "Content-Type: text/plain", CHUNKED) + _chunked(b"after ", b"two hints"), False),
    "large-headers": (
        # About 30 KiB of head, under the gateway's 32 KiB limit for a response head.
        _head("200 OK", *[f"X-Large-{i:02}: " + chr(ord("a") + i % 26) * 1000 for i in range(29)],
              "Content-Type: text/plain", "Content-Length: 2") + b"ok", False),
    "many-headers": (
        _head("200 OK", *[f"X-Field-{i}: value {i}" for i in range(90)], "Content-Length: 4") + b"many", False),
    "set-cookies": (
        _head("200 OK", "Set-Cookie: a=1; Path=/", "Set-Cookie: b=2; HttpOnly", "Vary: Accept",
              "Vary: Cookie", "Cache-Control: private", "Content-Length: 7") + b"cookies", False),
    "empty-reason-odd-values": (
        # An empty reason phrase, an empty field value, a tab inside a value and obs-text (RFC 9110 5.5).
        b"HTTP/1.1 299 \r\nX-Empty:\r\nX-Tab: a\tb\r\nX-Obs-Text: caf\xe9\r\nContent-Length: 3\r\n\r\nodd", False),
    "unregistered-status": (_head("599 Whatever", "Content-Length: 1") + b"x", False),
    "no-content": (_head("204 No Content", "X-Case: 204"), False),
    "not-found-chunked": (_head("404 Not Found", "Content-Type: text/plain", CHUNKED) + _chunked(b"nope"), False),
}


def answers():
    return {f"/raw/{name}": answer for name, answer in CASES.items()}
