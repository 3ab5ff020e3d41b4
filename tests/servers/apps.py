"""The Python apps of the real-server tests (tests/real_*.rs), with no framework.

    gunicorn --chdir tests/servers apps:wsgi_app     (WSGI: sync or gthread workers)
    uvicorn --app-dir tests/servers apps:asgi_app    (ASGI)

Both serve the same routes as tests/servers/nginx.conf, so one scenario runs
against every server:

    /ok               200 "ok\\n"
    /missing          404
    /error            500
    /redirect         302 to /ok (a relative Location, same origin)
    /post             200 "posted\\n" after reading the request body
    /static/big.bin   BIG_SIZE bytes with a Content-Length
    /chunked/big.bin  the same bytes without a length: chunked over HTTP/1.1
    /echo             200, the JSON record below

Every request, whatever its route, is appended as one JSON line to the file
named by REQUEST_LOG (when set), with what the server handed the app:

    {"server", "method", "target" (path and query as sent), "headers" [[name, value], ...],
     "raw_headers" (true: the list as received, duplicates kept; false: WSGI's
     environ, where a repeated header arrives as one value joined by ","),
     "body_length", "body" (as text), "sha256" (of the body), "client_port", "status"}

The tests compare these records with what capplan says it sent.
"""
import hashlib
import json
import os

BIG_SIZE = int(os.environ.get("BIG_SIZE", "1500000"))
# Not all one byte, so a body cut short or repeated shows in the size, not just the count.
BIG = (b"0123456789abcdef" * (BIG_SIZE // 16 + 1))[:BIG_SIZE]
CHUNK = 64 * 1024

_log_fd = None


def record(entry):
    """Append one JSON line to REQUEST_LOG: one write(2) on an O_APPEND file, so
    lines of several workers and threads never interleave."""
    global _log_fd
    path = os.environ.get("REQUEST_LOG")
    if not path:
        return
    if _log_fd is None:
        _log_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(_log_fd, (json.dumps(entry) + "\n").encode())


def route(method, path, body):
    """(status, reason, extra headers, body chunks, chunked?) for a request."""
    text = [("Content-Type", "text/plain")]
    if path == "/ok":
        return 200, "OK", text, [b"ok\n"], False
    if path == "/missing":
        return 404, "Not Found", text, [b"not found\n"], False
    if path == "/error":
        return 500, "Internal Server Error", text, [b"error\n"], False
    if path == "/redirect":
        return 302, "Found", text + [("Location", "/ok")], [b"see /ok\n"], False
    if path == "/post":
        return 200, "OK", text, [b"posted\n"], False
    if path == "/static/big.bin":
        return 200, "OK", [], [BIG], False
    if path == "/chunked/big.bin":
        pieces = [BIG[i : i + CHUNK] for i in range(0, len(BIG), CHUNK)]
        return 200, "OK", [], pieces, True
    if path == "/echo":
        return 200, "OK", [("Content-Type", "application/json")], None, False
    return 404, "Not Found", text, [b"no such route\n"], False


def entry(server, method, target, headers, raw, body, client_port):
    return {
        "server": server,
        "method": method,
        "target": target,
        "headers": headers,
        "raw_headers": raw,
        "body_length": len(body),
        "body": body.decode("utf-8", "replace"),
        "sha256": hashlib.sha256(body).hexdigest(),
        "client_port": client_port,
    }


def respond(rec, method, path, body):
    status, reason, headers, chunks, chunked = route(method, path, body)
    rec["status"] = status
    record(rec)
    if chunks is None:
        chunks = [json.dumps(rec).encode()]
    if not chunked:
        length = sum(len(c) for c in chunks)
        headers = headers + [("Content-Length", str(length))]
    return status, reason, headers, chunks


def wsgi_app(environ, start_response):
    """WSGI (Gunicorn). Without a Content-Length Gunicorn sends a chunked body."""
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "")
    target = environ.get("RAW_URI") or (
        path + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
    )
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append([key[5:].replace("_", "-").lower(), value])
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value != "":
            headers.append([key.replace("_", "-").lower(), value])
    port = environ.get("REMOTE_PORT")
    rec = entry(
        "gunicorn", method, target, headers, False, body, int(port) if port else None
    )
    status, reason, response_headers, chunks = respond(rec, method, path, body)
    start_response(f"{status} {reason}", response_headers)
    return chunks


async def asgi_app(scope, receive, send):
    """ASGI (uvicorn). `scope["headers"]` is the header list as received."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    raw_path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    target = (raw_path + (b"?" + query if query else b"")).decode("latin-1")
    headers = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
    client = scope.get("client")
    rec = entry(
        "uvicorn", scope["method"], target, headers, True, body, client[1] if client else None
    )
    status, _, response_headers, chunks = respond(rec, scope["method"], scope["path"], body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(n.lower().encode(), v.encode()) for n, v in response_headers],
        }
    )
    for i, chunk in enumerate(chunks):
        await send(
            {"type": "http.response.body", "body": chunk, "more_body": i + 1 < len(chunks)}
        )
