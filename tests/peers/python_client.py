"""Python's `jsonrpcclient` (v4: builds requests, parses responses) calling
the calculator example server, over HTTP with `requests` and over TCP with a
plain socket (newline framing).

    python3 python_client.py http PORT
    python3 python_client.py tcp PORT

Prints one line per check and exits 0 only when all passed.
"""

import json
import socket
import sys

import requests
from jsonrpcclient import Error, Ok, notification, notification_json, parse, parse_json, request, request_json

PASSED = 0
FAILED = 0


def check(name, actual, expected):
    global PASSED, FAILED
    if actual == expected:
        PASSED += 1
        print(f"ok   {name}")
    else:
        FAILED += 1
        print(f"FAIL {name}\n     expected: {expected!r}\n     actual:   {actual!r}")


def simplify(response):
    """Ok/Error from jsonrpcclient, without the id."""
    if isinstance(response, Ok):
        return ("ok", response.result)
    if isinstance(response, Error):
        return ("error", response.code, response.message)
    return ("unexpected", response)


DIV_BY_ZERO = ("error", -32000, "Division by zero")

CASES = [
    ("subtract", (42, 23), {"minuend": 42, "subtrahend": 23}, ("ok", 19)),
    ("subtract", (23, 42), {"subtrahend": 42, "minuend": 23}, ("ok", -19)),
    ("add", (1, 2), {"a": 1, "b": 2}, ("ok", 3)),
    ("greet", ("Ann",), {"name": "Ann"}, ("ok", "Hello, Ann!")),
    ("greet", ("Ann", "Dr"), {"name": "Ann", "title": "Dr"}, ("ok", "Hello, Dr Ann!")),
    ("divide", (7, 2), {"a": 7, "b": 2}, ("ok", 3.5)),
    ("divide", (1, 0), {"a": 1, "b": 0}, DIV_BY_ZERO),
    ("get_data", (), {}, ("ok", ["hello", 5])),
    ("math.multiply", (6, 7), {"a": 6, "b": 7}, ("ok", 42)),
    ("echo", ({"k": [1, "two", None]},), {"value": {"k": [1, "two", None]}}, ("ok", {"k": [1, "two", None]})),
]

ERRORS = [
    ("no_such_method", (1,), -32601),
    ("no_such_method", {"a": 1}, -32601),
    ("add", (1,), -32602),
    ("add", {"a": 1}, -32602),
    ("add", ("x", 1), -32602),
]


def calculator_checks(label, call):
    for method, positional, named, expected in CASES:
        for style, params in (("positional", positional), ("named", named)):
            check(f"{label} {method} {style} {params!r}", simplify(call(method, params)), expected)
    for method, params, code in ERRORS:
        got = simplify(call(method, params))
        check(f"{label} {method} {params!r} -> error {code}", got[:2], ("error", code))


def batch():
    return [
        request("add", params=(1, 2), id=1),
        notification("notify_hello", params=(7,)),
        request("subtract", params={"minuend": 42, "subtrahend": 23}, id="2"),
        notification("notify_sum", params=(1, 2, 4)),
        request("divide", params=(1, 0), id=3),
        request("foo.get", params={"name": "myself"}, id=5),
        request("get_data", id=9),
    ]


def check_batch(label, responses):
    by_id = {json.dumps(r.id): simplify(r) for r in responses}
    check(f"{label} batch: one response per request", len(by_id), 5)
    check(f"{label} batch add", by_id.get("1"), ("ok", 3))
    check(f"{label} batch subtract (string id)", by_id.get('"2"'), ("ok", 19))
    check(f"{label} batch divide by zero", by_id.get("3"), DIV_BY_ZERO)
    check(f"{label} batch unknown method", (by_id.get("5") or ())[:2], ("error", -32601))
    check(f"{label} batch get_data", by_id.get("9"), ("ok", ["hello", 5]))


def http(port):
    url = f"http://127.0.0.1:{port}/"
    session = requests.Session()

    def call(method, params):
        response = session.post(url, json=request(method, params=params), timeout=10)
        check(f"python-http {method}: HTTP 200", response.status_code, 200)
        return parse(response.json())

    calculator_checks("python-http", call)

    # The same without any Content-Type header (requests adds none for a str body).
    raw = requests.Request("POST", url, data=request_json("add", params=(2, 3))).prepare()
    check("python-http body without Content-Type: no header sent", "Content-Type" in raw.headers, False)
    response = session.send(raw, timeout=10)
    check("python-http body without Content-Type", simplify(parse_json(response.text)), ("ok", 5))

    # Notifications: 204 and an empty body, even for one that fails.
    for note in (
        notification("notify_hello", params=(1,)),
        notification("update", params=(1, 2, 3, 4, 5)),
        notification("notify_sum", params={"a": 1, "b": 2, "c": 3}),
        notification("no_such_method"),
    ):
        response = session.post(url, json=note, timeout=10)
        check(f"python-http notification {note['method']}: 204 and empty body", (response.status_code, response.content), (204, b""))

    # Batches.
    response = session.post(url, json=batch(), timeout=10)
    check("python-http batch: HTTP 200", response.status_code, 200)
    check_batch("python-http", list(parse(response.json())))
    response = session.post(url, json=[notification("notify_hello", params=(1,)), notification("notify_sum", params=(1, 2, 3))], timeout=10)
    check("python-http all-notification batch: 204 and empty body", (response.status_code, response.content), (204, b""))


class LineConnection:
    """Newline-framed JSON-RPC over TCP: one JSON text per line."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")

    def send(self, text):
        self.sock.sendall(text.encode() + b"\n")

    def receive(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        return line.decode()


def tcp(port):
    conn = LineConnection(port)

    def call(method, params):
        conn.send(request_json(method, params=params))
        return parse_json(conn.receive())

    calculator_checks("python-tcp", call)

    # Notifications get no response: the next line answers the request after them.
    conn.send(notification_json("notify_hello", params=(1,)))
    conn.send(notification_json("no_such_method"))
    conn.send(request_json("add", params=(2, 2), id="after"))
    response = parse_json(conn.receive())
    check("python-tcp notifications get no response", (response.id, simplify(response)), ("after", ("ok", 4)))

    conn.send(json.dumps(batch()))
    check_batch("python-tcp", list(parse_json(conn.receive())))

    # Requests written together, without newlines between them.
    conn.sock.sendall((request_json("add", params=(1, 1), id=101) + request_json("add", params=(2, 2), id=102) + "\n").encode())
    got = sorted((r.id, r.result) for r in (parse_json(conn.receive()), parse_json(conn.receive())))
    check("python-tcp concatenated requests", got, [(101, 2), (102, 4)])

    # Pretty-printed JSON (json.dumps(indent=2)) spans several lines: still one request.
    conn.sock.sendall((json.dumps(request("greet", params={"name": "Py", "title": "Dr"}, id="pretty"), indent=2) + "\n").encode())
    response = parse_json(conn.receive())
    check("python-tcp pretty-printed request", (response.id, simplify(response)), ("pretty", ("ok", "Hello, Dr Py!")))
    conn.sock.close()


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("http", "tcp"):
        print("usage: python3 python_client.py http|tcp PORT", file=sys.stderr)
        sys.exit(2)
    port = int(sys.argv[2])
    try:
        (http if sys.argv[1] == "http" else tcp)(port)
    except Exception as e:  # noqa: BLE001 - report anything as a failure
        global FAILED
        FAILED += 1
        print(f"FAIL uncaught {type(e).__name__}: {e}")
    print(f"{PASSED} passed, {FAILED} failed")
    sys.exit(0 if FAILED == 0 else 1)


if __name__ == "__main__":
    main()
