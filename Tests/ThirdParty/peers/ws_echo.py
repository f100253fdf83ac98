"""A `websockets` echo server: prints `listening PORT` once bound (port 0: the system picks one).

Every message comes back unchanged, except the text `whoami`, answered with the X-Auth-User header the
gateway injected into the upgrade request, and `close-me`, answered by a close with code 4001.
"""

import asyncio
from websockets.asyncio.server import serve


async def echo(websocket):
    async for message in websocket:
        if message == "whoami":
            await websocket.send("user=" + (websocket.request.headers.get("X-Auth-User") or ""))
        elif message == "close-me":
            await websocket.close(4001, "bye")
        else:
            await websocket.send(message)


async def main():
    async with serve(echo, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening {port}", flush=True)
        await asyncio.Future()  # until SIGTERM


asyncio.run(main())
