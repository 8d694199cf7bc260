#!/usr/bin/env python3
"""WebSocket echo peer for the interop suite (.ci/peers.sh), built on the `websockets` library.

  ws_echo.py serve HOST PORT       echo every text and binary message back; permessage-deflate
                                   is negotiated when the client offers it (websockets answers
                                   server_max_window_bits=12; client_max_window_bits=12)
  ws_echo.py check URL [--deflate] send a text message and expect it back; with --deflate, offer
                                   permessage-deflate and expect the server to accept it
"""

import asyncio
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

TIMEOUT_S = 5


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def serve_forever(host, port):
    async with serve(echo, host, port, compression="deflate") as server:
        await server.serve_forever()


async def check(url, deflate):
    compression = "deflate" if deflate else None
    async with connect(url, compression=compression, open_timeout=TIMEOUT_S) as websocket:
        agreed = websocket.response.headers.get("Sec-WebSocket-Extensions") or ""
        if deflate and not agreed.startswith("permessage-deflate"):
            sys.exit(f"ws_echo.py: {url} did not accept permessage-deflate: {agreed!r}")
        await websocket.send("towline interop check")
        echoed = await asyncio.wait_for(websocket.recv(), TIMEOUT_S)
        if echoed != "towline interop check":
            sys.exit(f"ws_echo.py: {url} echoed {echoed!r}")
    print(f"ok: {url} echoes" + (f" ({agreed})" if deflate else ""))


def main(argv):
    if len(argv) == 4 and argv[1] == "serve":
        asyncio.run(serve_forever(argv[2], int(argv[3])))
    elif len(argv) in (3, 4) and argv[1] == "check" and argv[3:] in ([], ["--deflate"]):
        asyncio.run(check(argv[2], deflate=len(argv) == 4))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
