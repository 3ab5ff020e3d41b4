//! One HTTP/1.1 connection, plain or TLS, driven inside its session's task: write a
//! request serialized once (`http1.rs`), read and frame the response. No pipelining.
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};

use crate::loadtest::client::{Failure, Keep, Response};
use crate::loadtest::connector::Stream;
use crate::loadtest::http1::{parse_head_keeping, ChunkedDecoder, Framing};

/// Why an HTTP/1.1 exchange did not produce a response.
pub enum ExchangeError {
    /// The connection was closed or reset before any of the response arrived.
    ClosedEarly(String),
    Failed(Failure),
}

/// A response read off the wire, and whether the connection may carry another request.
pub struct Http1Response {
    pub response: Response,
    pub keep_alive: bool,
}

/// One HTTP/1.1 connection and its read buffer.
pub struct Http1Connection {
    stream: Stream,
    buffer: BytesMut,
}

/// Read buffer: room for a typical response head and a small body in one read.
const READ_CHUNK: usize = 8 * 1024;

impl Http1Connection {
    pub fn new(stream: Stream) -> Http1Connection {
        Http1Connection {
            stream,
            buffer: BytesMut::with_capacity(READ_CHUNK),
        }
    }

    /// Whether an idle kept-alive connection can carry a request: the server has
    /// neither closed it (its keep-alive timeout; a TLS close_notify) nor sent anything
    /// unasked (a 408 before closing, say). Free in the common case: tokio answers from
    /// its readiness state, without a system call, unless the socket became readable
    /// since the last response; rustls then reads what came, and a session ticket alone
    /// leaves the connection usable. (A peek per request would also catch a close racing
    /// the request by microseconds, at a system call per request: 1.00x wrk against
    /// 1.02-1.08x without, in separate runs (docs/BENCHMARKS.md). Such a race is left to
    /// the retry of idempotent requests.)
    pub fn idle_and_open(&mut self) -> bool {
        let mut probe = [0u8; 1];
        let mut probe = ReadBuf::new(&mut probe);
        let mut cx = Context::from_waker(Waker::noop());
        matches!(
            Pin::new(&mut self.stream).poll_read(&mut cx, &mut probe),
            Poll::Pending
        )
    }

    /// Read more of the response; 0 means the server closed the connection.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.buffer.capacity() - self.buffer.len() < READ_CHUNK / 2 {
            self.buffer.reserve(READ_CHUNK);
        }
        self.stream.read_buf(&mut self.buffer).await
    }

    /// Send one serialized request and read its whole response (its body and the
    /// headers `keep` names kept, when it asks).
    pub async fn exchange(
        &mut self,
        request: &[u8],
        is_head: bool,
        keep: &Keep,
    ) -> Result<Http1Response, ExchangeError> {
        let failed = |failure| ExchangeError::Failed(failure);
        let sent = match self.stream.write_all(request).await {
            Ok(()) => self.stream.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            return Err(ExchangeError::ClosedEarly(e.kind().to_string()));
        }
        // Any byte of a response (even a 1xx) means the server took the request.
        let mut received_any = false;
        let head = loop {
            match parse_head_keeping(&self.buffer, is_head, &keep.headers) {
                Err(e) => return Err(failed(Failure::Body(e.0))),
                // 1xx interim responses (100 Continue, 103 Early Hints) precede the real one.
                Ok(Some(head)) if (100..200).contains(&head.status) && head.status != 101 => {
                    self.buffer.advance(head.head_len);
                }
                Ok(Some(head)) => break head,
                Ok(None) => match self.fill().await {
                    Ok(0) if !received_any => {
                        return Err(ExchangeError::ClosedEarly(
                            "connection closed before the response".to_string(),
                        ))
                    }
                    Err(e) if !received_any => {
                        return Err(ExchangeError::ClosedEarly(e.kind().to_string()))
                    }
                    Ok(0) => {
                        return Err(failed(Failure::Body(
                            "connection closed inside the response head".to_string(),
                        )))
                    }
                    Err(e) => return Err(failed(Failure::Body(e.kind().to_string()))),
                    Ok(_) => received_any = true,
                },
            }
        };
        if head.status == 101 {
            return Err(failed(Failure::Body(
                "unexpected 101 Switching Protocols".to_string(),
            )));
        }
        self.buffer.advance(head.head_len);
        let cut_short = || {
            failed(Failure::Body(
                "connection closed before the body was complete".to_string(),
            ))
        };
        let io_error = |e: std::io::Error| failed(Failure::Body(e.kind().to_string()));
        let mut body_bytes = 0u64;
        let mut body = Vec::new();
        match head.framing {
            Framing::Empty => {}
            Framing::Length(length) => loop {
                let take = (length - body_bytes).min(self.buffer.len() as u64);
                if keep.body {
                    body.extend_from_slice(&self.buffer[..take as usize]);
                }
                self.buffer.advance(take as usize);
                body_bytes += take;
                if body_bytes == length {
                    break;
                }
                if self.fill().await.map_err(io_error)? == 0 {
                    return Err(cut_short());
                }
            },
            Framing::Chunked => {
                let mut decoder = ChunkedDecoder::default();
                loop {
                    let decoded = decoder
                        .decode_into(&self.buffer, keep.body.then_some(&mut body))
                        .map_err(|e| failed(Failure::Body(e.0)))?;
                    self.buffer.advance(decoded.consumed);
                    body_bytes += decoded.data;
                    if decoder.is_done() {
                        break;
                    }
                    if self.fill().await.map_err(io_error)? == 0 {
                        return Err(cut_short());
                    }
                }
            }
            Framing::UntilClose => loop {
                body_bytes += self.buffer.len() as u64;
                if keep.body {
                    body.extend_from_slice(&self.buffer);
                }
                self.buffer.clear();
                match self.fill().await {
                    Ok(0) => break,
                    // A TLS server that just closes the socket, without close_notify,
                    // still ended a close-delimited body.
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(io_error(e)),
                    Ok(_) => {}
                }
            },
        }
        Ok(Http1Response {
            // Bytes beyond the response mean the framing is not what it said: start afresh.
            keep_alive: head.keep_alive && self.buffer.is_empty(),
            response: Response {
                status: head.status,
                body_bytes,
                set_cookies: head.set_cookies,
                location: head.location,
                body,
                headers: head.kept,
            },
        })
    }
}
