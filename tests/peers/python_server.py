"""An independent JSON-RPC server for OUR generated client to call: Python's
`jsonrpcserver` (v5) dispatcher behind the standard library's HTTP server.

    python3 python_server.py

Listens on an ephemeral port of 127.0.0.1, prints "listening PORT" on stdout,
answers POST at any path, and exits when stdin closes (so it cannot outlive
the test that started it).
"""

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jsonrpcserver import Error, Result, Success, dispatch, method

NOTIFICATIONS_SEEN = []


@method
def add(a, b) -> Result:
    return Success(a + b)


@method
def subtract(minuend, subtrahend) -> Result:
    return Success(minuend - subtrahend)


@method
def greet(name, title=None) -> Result:
    return Success(f"Hello, {title} {name}!" if title else f"Hello, {name}!")


@method
def divide(a, b) -> Result:
    if b == 0:
        return Error(-32000, "Division by zero")
    return Success(a / b)


@method
def get_data() -> Result:
    return Success(["hello", 5])


@method
def echo(value) -> Result:
    return Success(value)


@method
def sleep(ms) -> Result:
    time.sleep(ms / 1000)
    return Success(ms)


@method(name="math.multiply")
def multiply(a, b) -> Result:
    return Success(a * b)


@method
def notify_hello(n) -> Result:
    NOTIFICATIONS_SEEN.append(["notify_hello", n])
    return Success(None)


@method
def notifications_seen() -> Result:
    return Success(NOTIFICATIONS_SEEN)


@method
def fail_with_data() -> Result:
    return Error(4000, "custom failure", {"why": "because"})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        response = dispatch(body)
        if response:
            data = response.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        sys.stderr.write("python_server: " + (format % args) + "\n")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening {server.server_address[1]}", flush=True)
    sys.stdin.read()  # until the test closes our stdin (or dies)
    server.shutdown()


if __name__ == "__main__":
    main()
