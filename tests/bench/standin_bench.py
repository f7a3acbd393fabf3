#!/usr/bin/python3
"""tests/lib/fal_standin.py as the benchmark runs it: the same stand-in,
the same arguments and behaviour, with two socket settings that a real
front end has and the test server lacks:

- TCP_NODELAY on each connection. The stand-in writes a response's headers
  and its body as two TLS records; without it, Nagle's algorithm holds the
  second until the client ACKs the first, and the client delays that ACK
  (~40 ms on Linux): every request takes ~44 ms instead of under 1 ms, which
  would add ~44 ms per HTTP request to the miss path of both contenders.
- A listen backlog of 512 instead of socketserver's 5. With 64 or more
  workers connecting at once, the kernel drops SYNs that do not fit
  (TcpExt ListenOverflows) and those clients retry after 1 s.

Both belong in tests/lib/fal_standin.py itself; until then the benchmark
applies them here (bench.py --standin-as-is runs the original)."""
import os
import socket
import sys

# Entry scripts find the shared test modules the same way: tests/lib,
# from the script's own path (no PYTHONPATH, any working directory).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fal_standin  # noqa: E402

_finish = fal_standin.StandinServer.finish_request


def finish_request(self, request, client_address):
    try:
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    return _finish(self, request, client_address)


fal_standin.StandinServer.finish_request = finish_request
fal_standin.StandinServer.request_queue_size = 512

if __name__ == "__main__":
    sys.exit(fal_standin.main())
