"""A raw-socket upstream that answers each path with exact bytes from a table (the differential tests).

It reads a request head (and a Content-Length body), looks the path up, writes the bytes as they are, and
then keeps the connection for the next request or, for answers whose body runs until close, closes it.
"""

import socket
import threading


class RawUpstream:
    def __init__(self, answers):
        """`answers`: path -> (bytes, close_after) sent for a request of that path."""
        self.answers = answers
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.listener.getsockname()[1]
        self.requests = []  # (path, head bytes) in arrival order
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, name="raw-upstream", daemon=True)
        self._thread.start()

    def stop(self):
        self._stopped = True
        self.listener.close()

    def _accept(self):
        while not self._stopped:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection):
        connection.settimeout(30)
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = connection.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(buffer) < length:
                    data = connection.recv(65536)
                    if not data:
                        return
                    buffer += data
                buffer = buffer[length:]
                path = head.split(b" ")[1].split(b"?")[0].decode()
                self.requests.append((path, head))
                answer, close_after = self.answers.get(
                    path, (b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found", False))
                connection.sendall(answer)
                if close_after:
                    connection.shutdown(socket.SHUT_WR)
                    return
        except OSError:
            return
        finally:
            connection.close()
