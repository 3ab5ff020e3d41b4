//! HTTP/2 frames (RFC 9113 §4 and §6) as the load engine's client reads and writes
//! them: the 9-byte header, and writers that append whole frames to an output buffer.
use std::fmt;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const HEADER_LEN: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE's initial value: the largest frame the client accepts (it
/// announces no other) and, until the server's SETTINGS say more, sends.
pub const DEFAULT_MAX_FRAME: usize = 16_384;
/// The initial flow-control window of a connection and of its streams (§6.9.2).
pub const DEFAULT_WINDOW: i64 = 65_535;
/// The largest window and window increment (§6.9.1).
pub const MAX_WINDOW: i64 = (1 << 31) - 1;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

pub const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
pub const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;

/// An error code (§7), named as the RFC names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason(pub u32);

impl Reason {
    pub const NO_ERROR: Reason = Reason(0x0);
    pub const PROTOCOL_ERROR: Reason = Reason(0x1);
    pub const FLOW_CONTROL_ERROR: Reason = Reason(0x3);
    pub const REFUSED_STREAM: Reason = Reason(0x7);
    pub const CANCEL: Reason = Reason(0x8);
    pub const FRAME_SIZE_ERROR: Reason = Reason(0x6);
    pub const COMPRESSION_ERROR: Reason = Reason(0x9);
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        match NAMES.get(self.0 as usize) {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown error code {:#x}", self.0),
        }
    }
}

/// A frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub len: usize,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

/// The header at the start of `buf`, if all 9 bytes are there.
pub fn parse_head(buf: &[u8]) -> Option<Head> {
    let b: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
    Some(Head {
        len: (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]),
        kind: b[3],
        flags: b[4],
        // The reserved bit is ignored on receipt (§4.1).
        stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
    })
}

pub fn u32_at(payload: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([
        payload[at],
        payload[at + 1],
        payload[at + 2],
        payload[at + 3],
    ])
}

pub fn write_head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    let len = len as u32;
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
}

pub fn write_settings(out: &mut Vec<u8>, settings: &[(u16, u32)]) {
    write_head(out, 6 * settings.len(), SETTINGS, 0, 0);
    for (id, value) in settings {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

pub fn write_settings_ack(out: &mut Vec<u8>) {
    write_head(out, 0, SETTINGS, ACK, 0);
}

pub fn write_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    write_head(out, 4, WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&increment.to_be_bytes());
}

pub fn write_ping_ack(out: &mut Vec<u8>, payload: &[u8]) {
    write_head(out, 8, PING, ACK, 0);
    out.extend_from_slice(payload);
}

pub fn write_rst_stream(out: &mut Vec<u8>, stream: u32, reason: Reason) {
    write_head(out, 4, RST_STREAM, 0, stream);
    out.extend_from_slice(&reason.0.to_be_bytes());
}

pub fn write_goaway(out: &mut Vec<u8>, last_stream: u32, reason: Reason) {
    write_head(out, 8, GOAWAY, 0, 0);
    out.extend_from_slice(&last_stream.to_be_bytes());
    out.extend_from_slice(&reason.0.to_be_bytes());
}

/// A header block as HEADERS and, when it is larger than `max_frame`, CONTINUATION
/// frames; the block is `parts` one after the other.
pub fn write_headers(
    out: &mut Vec<u8>,
    stream: u32,
    parts: &[&[u8]],
    end_stream: bool,
    max_frame: usize,
) {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let end = if end_stream { END_STREAM } else { 0 };
    if total <= max_frame {
        write_head(out, total, HEADERS, end | END_HEADERS, stream);
        for part in parts {
            out.extend_from_slice(part);
        }
        return;
    }
    let block: Vec<u8> = parts.concat();
    let mut chunks = block.chunks(max_frame).peekable();
    let mut kind = HEADERS;
    let mut flags = end;
    while let Some(chunk) = chunks.next() {
        if chunks.peek().is_none() {
            flags |= END_HEADERS;
        }
        write_head(out, chunk.len(), kind, flags, stream);
        out.extend_from_slice(chunk);
        kind = CONTINUATION;
        flags = 0;
    }
}

pub fn write_data(out: &mut Vec<u8>, stream: u32, data: &[u8], end_stream: bool) {
    let flags = if end_stream { END_STREAM } else { 0 };
    write_head(out, data.len(), DATA, flags, stream);
    out.extend_from_slice(data);
}

/// The payload of a DATA or HEADERS frame without its padding (and, for HEADERS, its
/// priority fields): `None` when the padding is longer than the frame.
pub fn unpadded<'a>(head: &Head, payload: &'a [u8]) -> Option<&'a [u8]> {
    let mut body = payload;
    let mut pad = 0;
    if head.flags & PADDED != 0 {
        pad = usize::from(*body.first()?);
        body = &body[1..];
    }
    if head.kind == HEADERS && head.flags & PRIORITY_FLAG != 0 {
        body = body.get(5..)?;
    }
    body.get(..body.len().checked_sub(pad)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_reserved_bit_is_ignored() {
        let mut out = Vec::new();
        write_head(&mut out, 0x01_02_03, HEADERS, END_HEADERS | END_STREAM, 7);
        assert_eq!(out, [1, 2, 3, 1, 5, 0, 0, 0, 7]);
        out[5] |= 0x80;
        assert_eq!(
            parse_head(&out),
            Some(Head {
                len: 0x01_02_03,
                kind: HEADERS,
                flags: END_HEADERS | END_STREAM,
                stream: 7
            })
        );
        assert_eq!(parse_head(&out[..8]), None);
    }

    #[test]
    fn control_frames_are_as_rfc_9113_lays_them_out() {
        let mut out = Vec::new();
        write_settings(
            &mut out,
            &[(SETTINGS_ENABLE_PUSH, 0), (SETTINGS_INITIAL_WINDOW_SIZE, 1)],
        );
        assert_eq!(
            out,
            [0, 0, 12, 4, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 4, 0, 0, 0, 1]
        );
        out.clear();
        write_window_update(&mut out, 3, 0x10000);
        assert_eq!(out, [0, 0, 4, 8, 0, 0, 0, 0, 3, 0, 1, 0, 0]);
        out.clear();
        write_rst_stream(&mut out, 5, Reason::CANCEL);
        assert_eq!(out, [0, 0, 4, 3, 0, 0, 0, 0, 5, 0, 0, 0, 8]);
        out.clear();
        write_goaway(&mut out, 9, Reason::PROTOCOL_ERROR);
        assert_eq!(out, [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1]);
        out.clear();
        write_ping_ack(&mut out, b"12345678");
        assert_eq!(&out[..9], [0, 0, 8, 6, 1, 0, 0, 0, 0]);
        out.clear();
        write_settings_ack(&mut out);
        assert_eq!(out, [0, 0, 0, 4, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn large_header_blocks_continue_in_continuation_frames() {
        let block = [0xaa; 40];
        let mut out = Vec::new();
        write_headers(&mut out, 1, &[&block[..25], &block[25..]], true, 16);
        let mut at = 0;
        let mut frames = Vec::new();
        while let Some(head) = parse_head(&out[at..]) {
            frames.push((head.kind, head.flags, head.len));
            at += HEADER_LEN + head.len;
        }
        assert_eq!(at, out.len());
        assert_eq!(
            frames,
            [
                (HEADERS, END_STREAM, 16),
                (CONTINUATION, 0, 16),
                (CONTINUATION, END_HEADERS, 8)
            ]
        );
        out.clear();
        write_headers(&mut out, 3, &[b"ab", b"c"], false, 16);
        assert_eq!(out, [0, 0, 3, 1, 4, 0, 0, 0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn padding_and_priority_are_stripped() {
        let head = |kind, flags| Head {
            len: 0,
            kind,
            flags,
            stream: 1,
        };
        assert_eq!(
            unpadded(&head(DATA, PADDED), &[2, b'o', b'k', 0, 0]),
            Some(&b"ok"[..])
        );
        assert_eq!(unpadded(&head(DATA, PADDED), &[5, b'o', b'k']), None);
        assert_eq!(unpadded(&head(DATA, PADDED), &[]), None);
        assert_eq!(
            unpadded(
                &head(HEADERS, PADDED | PRIORITY_FLAG),
                &[1, 0, 0, 0, 3, 9, 0x88, 0]
            ),
            Some(&[0x88][..])
        );
        assert_eq!(unpadded(&head(HEADERS, PRIORITY_FLAG), &[0, 0, 0]), None);
        assert_eq!(unpadded(&head(DATA, 0), b"ok"), Some(&b"ok"[..]));
        assert_eq!(Reason(11).to_string(), "ENHANCE_YOUR_CALM");
        assert_eq!(Reason(0x20).to_string(), "unknown error code 0x20");
    }
}
