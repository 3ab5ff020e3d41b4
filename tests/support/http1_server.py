"""A raw HTTP/1.1 server for capplan's wire-protocol tests: each path answers with
one way of framing a response, written byte by byte as a server would.

  /length      Content-Length: 5000
  /chunked     chunked, with a chunk extension and a trailer; 23 bytes of data
  /close       no length, body runs until the server closes (1000 bytes)
  /early       103 Early Hints, then 200 with Content-Length: 2
  /nocontent   204 with a (meaningless) Content-Length: 10 and no body
  /head        for HEAD: Content-Length: 100 and no body
  /idle-close  Content-Length: 2 and keep-alive, then the server closes at once anyway
  /idle-timeout Content-Length: 2 and keep-alive; the connection closes after 30 ms idle
  /echo        the request body back; 400 unless Host, User-Agent and Content-Length came
  /truncated   Content-Length: 100 but 10 bytes, then close
  /garbage     not HTTP at all
  /drop-second every 2nd request on a connection is read, then the connection
               closes without an answer (a worker that died mid-request)
  /path/...    the request target back, exactly as it came
  /stats       JSON {"connections": accepted, "requests": received}, itself not counted

Usage: python3 http1_server.py. Prints "listening on PORT"; stops at stdin EOF.
"""
import json
import socket
import socketserver
import sys
import threading

COUNTS = {"connections": 0, "requests": 0}
COUNTS_LOCK = threading.Lock()


def count(what):
    with COUNTS_LOCK:
        COUNTS[what] += 1


def response(status, headers, body=b""):
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode() + body


class Handler(socketserver.BaseRequestHandler):
    def read_request(self, buffer):
        while b"\r\n\r\n" not in buffer:
            data = self.request.recv(65536)
            if not data:
                return None, buffer
            buffer += data
        head, _, rest = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _version = lines[0].split(" ")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            data = self.request.recv(65536)
            if not data:
                return None, b""
            rest += data
        return (method, path, headers, rest[:length]), rest[length:]

    def handle(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        count("connections")
        buffer = b""
        self.served = 0
        try:
            while True:
                request, buffer = self.read_request(buffer)
                if request is None:
                    return
                if request[1] != "/stats":
                    count("requests")
                self.served += 1
                if not self.answer(*request):
                    self.request.shutdown(socket.SHUT_RDWR)
                    return
        except socket.timeout:
            self.request.close()  # keep-alive timeout
        except OSError:
            pass  # the load test ended mid-exchange (reset, or shut down twice)

    def answer(self, method, path, headers, body):
        """Send the response; False closes the connection."""
        send = self.request.sendall
        if path == "/length":
            send(response("200 OK", [("Content-Length", 5000)], b"x" * 5000))
        elif path == "/chunked":
            send(response("200 OK", [("Transfer-Encoding", "chunked")]))
            # Sent in pieces so the client must decode across reads.
            for piece in (b"4;ext=1\r\nWi", b"ki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n",
                          b"0\r\nx-trailer: 1\r\n", b"\r\n"):
                send(piece)
        elif path == "/close":
            send(response("200 OK", [("Connection", "close")], b"y" * 1000))
            return False
        elif path == "/early":
            send(response("103 Early Hints", [("Link", "</style.css>; rel=preload")]))
            send(response("200 OK", [("Content-Length", 2)], b"ok"))
        elif path == "/nocontent":
            send(response("204 No Content", [("Content-Length", 10)]))
        elif path == "/head":
            send(response("200 OK", [("Content-Length", 100)]))
        elif path == "/idle-close":
            send(response("200 OK", [("Content-Length", 2)], b"ok"))
            return False
        elif path == "/echo":
            ok = {"host", "user-agent", "content-length"} <= headers.keys()
            status = "200 OK" if ok else "400 Bad Request"
            send(response(status, [("Content-Length", len(body))], body))
        elif path == "/truncated":
            send(response("200 OK", [("Content-Length", 100)], b"z" * 10))
            return False
        elif path.startswith("/path/"):
            send(response("200 OK", [("Content-Length", len(path))], path.encode()))
        elif path == "/idle-timeout":
            send(response("200 OK", [("Content-Length", 2)], b"ok"))
            self.request.settimeout(0.03)
        elif path == "/drop-second":
            if self.served % 2 == 0:
                return False
            send(response("200 OK", [("Content-Length", 2)], b"ok"))
        elif path == "/stats":
            with COUNTS_LOCK:
                body = json.dumps(COUNTS).encode()
            send(response("200 OK", [("Content-Length", len(body))], body))
        elif path == "/garbage":
            send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            return False
        else:
            send(response("404 Not Found", [("Content-Length", 0)]))
        return True


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    server = Server(("127.0.0.1", 0), Handler)
    print(f"listening on {server.server_address[1]}", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
