"""Helpers of the third-party suite: comparing answers, reading framing strictly, running curl."""

import socket
import subprocess
import time

# Fields a proxy may drop, add or change: hop-by-hop (RFC 9110 7.6.1) and the message framing.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
              "content-length"}


def end_to_end(headers, ignore=("date",)):
    """The end-to-end fields of `headers` ((name, value) pairs) as a sorted list, names lowercased.

    `Date` is ignored by default: the direct and the proxied request are not sent in the same second.
    """
    skip = HOP_BY_HOP | set(ignore)
    return sorted((name.lower(), value) for name, value in headers if name.lower() not in skip)


def header(headers, name):
    """The values of `name` in (name, value) pairs."""
    return [value for key, value in headers if key.lower() == name.lower()]


def decode_chunked(data):
    """Strictly decodes a chunked body (RFC 9112 7.1): returns (body, trailer lines, bytes after the end).

    Raises ValueError on any framing error, so a test can tell valid chunked framing from raw body bytes.
    """
    body = bytearray()
    position = 0
    while True:
        end = data.find(b"\r\n", position)
        if end < 0:
            raise ValueError(f"no chunk-size line at offset {position}: {data[position:position + 40]!r}")
        size_text = data[position:end].split(b";", 1)[0].strip()
        if not size_text or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
            raise ValueError(f"bad chunk size {data[position:end][:40]!r} at offset {position}")
        size = int(size_text, 16)
        position = end + 2
        if size == 0:
            break
        if data[position + size:position + size + 2] != b"\r\n":
            raise ValueError(f"chunk of {size} bytes at offset {position} is not followed by CRLF")
        body += data[position:position + size]
        position += size + 2
    trailers = []
    while True:
        end = data.find(b"\r\n", position)
        if end < 0:
            raise ValueError("unterminated trailer section")
        line = data[position:end]
        position = end + 2
        if not line:
            return bytes(body), trailers, data[position:]
        trailers.append(line)


def parse_head(data):
    """(status, version, [(name, value)], rest) of the first head in `data`."""
    head, separator, rest = data.partition(b"\r\n\r\n")
    if not separator:
        raise ValueError(f"incomplete head: {data[:200]!r}")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ")[:2]
    fields = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields.append((name, value.strip()))
    return int(status), version, fields, rest


def read_until_close(port, request, timeout=20):
    """Sends `request` (bytes) on a new connection and returns every byte received until the peer closes."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        received = bytearray()
        while time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                return bytes(received)
            received += data
    raise TimeoutError(f"the connection was still open after {timeout}s; received {bytes(received[:300])!r}")


def curl(*arguments, input=None, timeout=15):
    """Runs curl (never retrying, at most `timeout` s); returns the CompletedProcess (bytes)."""
    return subprocess.run(["curl", "--silent", "--show-error", "--max-time", str(timeout - 5), *arguments],
                          input=input, capture_output=True, timeout=timeout)


def curl_headers(path):
    """The final header block curl wrote with -D (after any 1xx), as (status, [(name, value)])."""
    blocks = [b for b in path.read_bytes().decode("latin-1").split("\r\n\r\n") if b.startswith("HTTP/")]
    lines = blocks[-1].split("\r\n")
    fields = [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines[1:] if line)]
    return int(lines[0].split(" ")[1]), fields


def fetch(client, url, method="GET", headers=None):
    """(status, [(name, value)], body bytes as sent: transfer coding removed, content coding kept) with httpx."""
    with client.stream(method, url, headers=headers) as response:
        body = b"".join(response.iter_raw())
        return response.status_code, response.headers.multi_items(), body


def digest(data):
    """A short description of `data` for comparisons whose failure message should not print megabytes."""
    import hashlib
    return f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}, starting {bytes(data[:32])!r}"
