"""A fault-injecting HTTP/2 server for capplan's tests (tests/suite/h2_faults.rs), built on
the third-party `h2` package (hyper-h2). Plain h2c with prior knowledge on 127.0.0.1.

Paths (any method; a request body is read whole and logged with its SHA-256):

  /ok                  200 with a small body ("ok\\n")
  /slow                200 with the same body, 20 ms after the request is complete
                       (`/slow?ms=N`: N ms)
  /reset               RST_STREAM(INTERNAL_ERROR) once the request is complete
  /refuse-every-other  RST_STREAM(REFUSED_STREAM) for every second stream of a
                       connection (the 2nd, 4th, ...), 200 for the others
  /big                 200 with --big-size bytes, sent in DATA frames of at most
                       --frame-size bytes, as the client's windows allow
  /dressed             what a client meets less often, all at once: an interim 103
                       response, a PING, response headers of 20 000 bytes (so
                       HEADERS + CONTINUATION frames, Huffman-coded and indexed by
                       hyper-h2's HPACK encoder) with two set-cookie fields, the
                       body "ok\n" in three padded DATA frames, then trailers

Flags (faults of the whole connection):

  --goaway-after N         when a stream comes after the Nth of a connection:
                           GOAWAY(NO_ERROR, last_stream_id = the Nth); the streams up
                           to it are answered, that one and later ones ignored (never
                           processed: the client must send them again), then the
                           connection closes
  --goaway-error-after N   on the Nth stream of a connection: GOAWAY(ENHANCE_YOUR_CALM,
                           last_stream_id = that stream) and close at once, leaving
                           every unanswered stream unanswered
  --max-concurrent-streams N  SETTINGS_MAX_CONCURRENT_STREAMS; a stream over it (the
                           client may open some before it reads the SETTINGS) is
                           refused with REFUSED_STREAM and logged
  --initial-window N       SETTINGS_INITIAL_WINDOW_SIZE (the request bodies' window)
  --settings-delay MS      hold the server preface (our SETTINGS) back this long after
                           accepting, reading nothing meanwhile

GOAWAY frames are written as raw frames (hyperframe), since hyper-h2 closes its
state machine on sending one and could not answer the streams it keeps.

Log (--log FILE): one JSON object per line, with "event":
  connection   {conn, client_port}              a TCP connection accepted
  preface      {conn}                           its client preface arrived (an HTTP/2 client)
  settings_ack {conn}                           the client acknowledged our SETTINGS
  stream       {conn, stream, method, path, concurrent, cookie}  request headers
               received; concurrent = streams open on the connection with this one;
               cookie = its Cookie header (null when none)
  request      {conn, stream, method, path, body_length, sha256, data_frames,
               max_data_frame}  the request complete (END_STREAM)
  response     {conn, stream, path, status, body_length, data_frames}  answered whole
  reset        {conn, stream, path, error, why}  RST_STREAM sent
  ignored      {conn, stream, method, path}     not processed: above our GOAWAY's last_stream_id
  goaway       {conn, error, last_stream_id, unanswered}  GOAWAY sent; unanswered =
               streams up to last_stream_id open at that moment
  client_reset {conn, stream, error}            the client reset a stream
  ping_ack     {conn}                           the client answered our PING
  protocol_error {conn, error}                  hyper-h2 refused what the client sent
  close        {conn, streams, max_concurrent}  the connection ended

Usage: python3 h2_server.py --log FILE [flags]. Prints "listening on PORT".
"""
import argparse
import asyncio
import hashlib
import json
import sys
import urllib.parse

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.frame import GoAwayFrame

ARGS = None
LOG = None
NEXT_CONN = 0


def log(event, **fields):
    LOG.write(json.dumps({"event": event, **fields}) + "\n")
    LOG.flush()


def big_body(size):
    # Not all one byte, so a misplaced chunk would show.
    pattern = bytes(range(256))
    return (pattern * (size // 256 + 1))[:size]


class Stream:
    def __init__(self, sid, method, path):
        self.sid = sid
        self.method = method
        self.path = path
        self.hasher = hashlib.sha256()
        self.body_length = 0
        self.data_frames = 0
        self.max_data_frame = 0


class Connection:
    def __init__(self, reader, writer):
        global NEXT_CONN
        NEXT_CONN += 1
        self.id = NEXT_CONN
        self.reader = reader
        self.writer = writer
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.h2 = h2.connection.H2Connection(config=config)
        self.streams = {}  # open streams we will answer: sid -> Stream
        self.count = 0  # streams received
        self.max_concurrent = 0
        self.last_processed = None  # the Nth stream, with --goaway-after N
        self.goaway_last = None  # last_stream_id of the NO_ERROR GOAWAY we sent
        self.closing = False
        self.lingering = False
        self.greeted = False
        self.window_open = asyncio.Event()
        self.senders = set()

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.writer.write(data)

    def goaway(self, code, last):
        unanswered = sorted(s for s in self.streams if s <= last)
        self.flush()
        frame = GoAwayFrame(stream_id=0)
        frame.last_stream_id = last
        frame.error_code = code
        self.writer.write(frame.serialize())
        log("goaway", conn=self.id, error=code.name, last_stream_id=last, unanswered=unanswered)

    async def run(self):
        peer = self.writer.get_extra_info("peername")
        log("connection", conn=self.id, client_port=peer[1] if peer else None)
        self.h2.initiate_connection()
        settings = {}
        if ARGS.max_concurrent_streams is not None:
            settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = ARGS.max_concurrent_streams
        if ARGS.initial_window is not None:
            settings[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = ARGS.initial_window
        if settings:
            # Applied by hyper-h2 once the client acknowledges them, as RFC 9113 has it.
            self.h2.update_settings(settings)
        if ARGS.settings_delay:
            # The client sends its first streams before it can know our SETTINGS.
            await asyncio.sleep(ARGS.settings_delay / 1000)
        self.flush()
        try:
            while not self.closing:
                data = await self.reader.read(65536)
                if not data:
                    break
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError as e:
                    log("protocol_error", conn=self.id, error=f"{type(e).__name__}: {e}")
                    self.flush()
                    break
                for event in events:
                    if self.closing:
                        break
                    self.handle(event)
                if not self.closing:
                    self.flush()
                    await self.writer.drain()
            if self.lingering:
                await self.linger()
        except (OSError, asyncio.IncompleteReadError):
            pass  # the client is gone
        finally:
            self.closing = True
            for task in self.senders:
                task.cancel()
            self.window_open.set()
            log("close", conn=self.id, streams=self.count, max_concurrent=self.max_concurrent)
            try:
                self.writer.close()
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    def handle(self, event):
        if not self.greeted:
            self.greeted = True
            log("preface", conn=self.id)
        if isinstance(event, h2.events.RequestReceived):
            self.on_request(event)
        elif isinstance(event, h2.events.DataReceived):
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.hasher.update(event.data)
                stream.body_length += len(event.data)
                stream.data_frames += 1
                stream.max_data_frame = max(stream.max_data_frame, len(event.data))
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                self.on_complete(stream)
        elif isinstance(event, h2.events.StreamReset):
            if event.remote_reset:
                log("client_reset", conn=self.id, stream=event.stream_id,
                    error=h2.errors.ErrorCodes(event.error_code).name)
            self.done(event.stream_id)
        elif isinstance(event, h2.events.WindowUpdated):
            self.window_open.set()
        elif isinstance(event, h2.events.SettingsAcknowledged):
            log("settings_ack", conn=self.id)
        elif isinstance(event, h2.events.PingAckReceived):
            log("ping_ack", conn=self.id)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.closing = True

    def on_request(self, event):
        sid = event.stream_id
        headers = dict(event.headers)
        method, path = headers.get(":method"), headers.get(":path")
        if self.goaway_last is not None and sid > self.goaway_last:
            log("ignored", conn=self.id, stream=sid, method=method, path=path)
            return
        if self.last_processed is not None:
            # The first stream after the Nth: left unprocessed, and the GOAWAY says so.
            log("ignored", conn=self.id, stream=sid, method=method, path=path)
            self.goaway_last = self.last_processed
            self.goaway(h2.errors.ErrorCodes.NO_ERROR, self.last_processed)
            self.done(None)
            return
        self.count += 1
        limit = ARGS.max_concurrent_streams
        if limit is not None and len(self.streams) >= limit:
            log("stream", conn=self.id, stream=sid, method=method, path=path,
                concurrent=len(self.streams) + 1)
            self.reset(sid, path, h2.errors.ErrorCodes.REFUSED_STREAM, "over the stream limit")
            return
        stream = Stream(sid, method, path)
        self.streams[sid] = stream
        self.max_concurrent = max(self.max_concurrent, len(self.streams))
        log("stream", conn=self.id, stream=sid, method=method, path=path,
            concurrent=len(self.streams), cookie=headers.get("cookie"))
        if ARGS.goaway_error_after is not None and self.count == ARGS.goaway_error_after:
            self.goaway(h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, sid)
            self.shut()
            return
        if path.split("?")[0] == "/refuse-every-other" and self.count % 2 == 0:
            self.reset(sid, path, h2.errors.ErrorCodes.REFUSED_STREAM, "every other")
            return
        if ARGS.goaway_after is not None and self.count == ARGS.goaway_after:
            self.last_processed = sid

    def reset(self, sid, path, code, why):
        self.h2.reset_stream(sid, error_code=code)
        log("reset", conn=self.id, stream=sid, path=path, error=code.name, why=why)
        self.done(sid)

    def done(self, sid):
        self.streams.pop(sid, None)
        if self.goaway_last is not None and not any(s <= self.goaway_last for s in self.streams):
            # Every stream the GOAWAY promised to process is answered.
            self.shut()

    def shut(self):
        """Close the connection once what is queued is written: a lingering close (FIN,
        then what the client still sends is read and dropped), as nginx does, so that
        the kernel does not answer unread data with an RST that could overtake the
        GOAWAY."""
        self.flush()
        self.closing = True
        self.lingering = True
        try:
            if self.writer.can_write_eof():
                self.writer.write_eof()
        except OSError:
            pass  # the client is gone already

    async def linger(self):
        async def drain():
            while await self.reader.read(65536):
                pass
        try:
            await asyncio.wait_for(drain(), timeout=2)
        except (asyncio.TimeoutError, OSError):
            pass

    def on_complete(self, stream):
        log("request", conn=self.id, stream=stream.sid, method=stream.method, path=stream.path,
            body_length=stream.body_length, sha256=stream.hasher.hexdigest(),
            data_frames=stream.data_frames, max_data_frame=stream.max_data_frame)
        route = stream.path.split("?")[0]
        if route == "/reset":
            self.reset(stream.sid, stream.path, h2.errors.ErrorCodes.INTERNAL_ERROR, "/reset")
        elif route == "/big":
            task = asyncio.get_running_loop().create_task(self.send_big(stream))
            self.senders.add(task)
            task.add_done_callback(self.senders.discard)
        elif route == "/slow":
            query = urllib.parse.parse_qs(stream.path.partition("?")[2])
            delay = float(query.get("ms", ["20"])[0]) / 1000
            asyncio.get_running_loop().call_later(delay, self.answer_ok, stream)
        elif route == "/dressed":
            self.answer_dressed(stream)
        else:
            self.answer_ok(stream)

    def answer_ok(self, stream):
        if self.closing or stream.sid not in self.streams:
            return
        body = b"ok\n"
        self.h2.send_headers(stream.sid, [
            (":status", "200"), ("content-length", str(len(body))),
            ("content-type", "text/plain")])
        self.h2.send_data(stream.sid, body, end_stream=True)
        log("response", conn=self.id, stream=stream.sid, path=stream.path, status=200,
            body_length=len(body), data_frames=1)
        self.done(stream.sid)
        self.flush()

    def answer_dressed(self, stream):
        sid = stream.sid
        self.h2.send_headers(sid, [(":status", "103"), ("link", "</style.css>; rel=preload")])
        self.h2.ping(b"capplan!")
        self.h2.send_headers(sid, [
            (":status", "200"), ("content-type", "text/plain"),
            ("set-cookie", f"a={sid}; Path=/"), ("set-cookie", "b=2; Path=/"),
            ("x-large", "x" * 20_000)])
        for i, part in enumerate([b"o", b"k", b"\n"]):
            self.h2.send_data(sid, part, pad_length=10 + i)
        self.h2.send_headers(sid, [("x-checksum", "ok")], end_stream=True)
        log("response", conn=self.id, stream=sid, path=stream.path, status=200,
            body_length=3, data_frames=3)
        self.done(sid)
        self.flush()

    async def send_big(self, stream):
        body = BIG
        sid = stream.sid
        self.h2.send_headers(sid, [(":status", "200"), ("content-length", str(len(body))),
                                   ("content-type", "application/octet-stream")])
        sent = frames = 0
        try:
            while sent < len(body):
                if self.closing or sid not in self.streams:
                    return
                window = min(self.h2.local_flow_control_window(sid),
                             self.h2.max_outbound_frame_size, ARGS.frame_size)
                if window <= 0:
                    self.window_open.clear()
                    self.flush()
                    await self.window_open.wait()
                    continue
                n = min(window, len(body) - sent)
                self.h2.send_data(sid, body[sent:sent + n], end_stream=sent + n == len(body))
                sent += n
                frames += 1
                self.flush()
                await self.writer.drain()
        except (h2.exceptions.StreamClosedError, OSError):
            return
        log("response", conn=self.id, stream=sid, path=stream.path, status=200,
            body_length=sent, data_frames=frames)
        self.done(sid)
        self.flush()


async def serve(reader, writer):
    await Connection(reader, writer).run()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="fault-injecting HTTP/2 (h2c) server")
    parser.add_argument("--log", required=True)
    parser.add_argument("--goaway-after", type=int)
    parser.add_argument("--goaway-error-after", type=int)
    parser.add_argument("--max-concurrent-streams", type=int)
    parser.add_argument("--initial-window", type=int)
    parser.add_argument("--settings-delay", type=int, default=0, help="ms")
    parser.add_argument("--big-size", type=int, default=1_000_000)
    parser.add_argument("--frame-size", type=int, default=16384)
    ARGS = parser.parse_args()
    BIG = big_body(ARGS.big_size)
    LOG = open(ARGS.log, "a", encoding="utf-8")
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
