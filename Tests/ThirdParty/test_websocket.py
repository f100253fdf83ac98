"""A `websockets` server behind a session-protected route, reached by the `websockets` client."""

import os

import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect


def ws_url(gateway, path="/ws/echo"):
    return f"ws://127.0.0.1:{gateway.port}{path}"


def test_upgrade_without_a_session_is_refused(gateway):
    with pytest.raises(InvalidStatus) as refused:
        with connect(ws_url(gateway), open_timeout=10, close_timeout=5):
            pass
    assert refused.value.response.status_code == 401


def test_hundred_messages_one_of_a_megabyte_after_sign_in(gateway, signed_in):
    cookie = f"gatehouse_session={signed_in.cookies['gatehouse_session']}"
    messages = [f"message {i}: " + "x" * (i * 37) for i in range(99)]
    messages.insert(50, os.urandom(1_000_000))  # binary, 1 MB
    with connect(ws_url(gateway), additional_headers={"Cookie": cookie}, max_size=None,
                 open_timeout=10, close_timeout=5) as websocket:
        websocket.send("whoami")
        assert websocket.recv(timeout=10) == "user=alice"  # the gateway's identity header reached the server
        for message in messages:
            websocket.send(message)
            echoed = websocket.recv(timeout=10)
            assert type(echoed) is type(message) and echoed == message, f"message of {len(message)} changed"
    assert len(messages) == 100


def test_a_signed_out_session_cannot_upgrade(gateway):
    session = requests.Session()
    assert gateway.sign_in(session).status_code == 303
    cookie = f"gatehouse_session={session.cookies['gatehouse_session']}"
    assert session.post(gateway.url + "/.gatehouse/logout", timeout=10).status_code == 204
    with pytest.raises(InvalidStatus) as refused:
        with connect(ws_url(gateway), additional_headers={"Cookie": cookie}, open_timeout=10, close_timeout=5):
            pass
    assert refused.value.response.status_code == 401


def test_ping_and_a_close_from_the_server_cross_the_tunnel(gateway, signed_in):
    cookie = f"gatehouse_session={signed_in.cookies['gatehouse_session']}"
    with connect(ws_url(gateway), additional_headers={"Cookie": cookie}, open_timeout=10,
                 close_timeout=5) as websocket:
        assert websocket.ping().wait(10)  # the server's pong came back
        websocket.send("close-me")
        with pytest.raises(ConnectionClosed) as closed:
            websocket.recv(timeout=10)
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "bye")


# Issue 12 part 5: a tunnel opened while signed in is closed when that session ends.

def _closed_within(websocket, seconds):
    """The close frame the client received when the connection ended within `seconds` (None: still open)."""
    try:
        websocket.recv(timeout=seconds)
    except ConnectionClosed as closed:
        return closed
    except TimeoutError:
        return None
    return None


def test_logout_closes_the_open_websocket_of_that_session_only(gateway):
    mine, other = requests.Session(), requests.Session()
    assert gateway.sign_in(mine).status_code == 303
    assert gateway.sign_in(other).status_code == 303
    with connect(ws_url(gateway), additional_headers={"Cookie": f"gatehouse_session={mine.cookies['gatehouse_session']}"},
                 open_timeout=10, close_timeout=2) as signed_out, \
         connect(ws_url(gateway), additional_headers={"Cookie": f"gatehouse_session={other.cookies['gatehouse_session']}"},
                 open_timeout=10, close_timeout=2) as kept:
        signed_out.send("whoami")
        assert signed_out.recv(timeout=10) == "user=alice"
        assert mine.post(gateway.url + "/.gatehouse/logout", timeout=10).status_code == 204
        closed = _closed_within(signed_out, 2)
        assert closed is not None, "the signed-out session's WebSocket is still open"
        # Between whole frames the gateway says why: 1008 (policy violation).
        assert closed.rcvd is not None and (closed.rcvd.code, closed.rcvd.reason) == (1008, "session ended"), closed
        kept.send("still here")
        assert kept.recv(timeout=10) == "still here"
    metrics = requests.get(f"http://127.0.0.1:{gateway.admin_port}/metrics", timeout=10).text
    revoked = [line for line in metrics.splitlines() if line.startswith("gatehouse_tunnels_revoked_total ")]
    assert revoked and int(revoked[0].split()[-1]) >= 1, revoked
