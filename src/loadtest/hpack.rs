//! HPACK (RFC 7541) for the load engine's HTTP/2 client: a request's header block is
//! encoded once at start, without the dynamic table (literals without indexing, names
//! from the static table where it has them, no Huffman: all valid to send), and a
//! response decoder that keeps the server's dynamic table exact but hands out only the
//! fields the caller wants; the values of the others are skipped, not decoded, unless
//! the table must store them.
use std::collections::VecDeque;
use std::fmt;
use std::sync::OnceLock;

/// The static table (RFC 7541 Appendix A): index 1 is element 0.
const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// The length in bits of each symbol's Huffman code (RFC 7541 Appendix B), symbols
/// 0-255 and EOS (256). The code is canonical: codes of one length are consecutive in
/// symbol order and follow the shorter ones, so the lengths define the codes (the
/// tests check codes from the table and the RFC's examples).
const HUFFMAN_BITS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0-15
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16-31
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 32-47 ' ' .. '/'
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 48-63 '0' .. '?'
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 64-79 '@' .. 'O'
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 80-95 'P' .. '_'
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 96-111 '`' .. 'o'
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 112-127 'p' .. DEL
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128-143
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144-159
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160-175
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176-191
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192-207
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208-223
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224-239
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240-255
    30, // EOS
];

/// Why a header block could not be decoded: a COMPRESSION_ERROR for the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HpackError(pub &'static str);

impl fmt::Display for HpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The canonical Huffman code: per length, the first code and the index in `symbols`
/// of its first symbol; and a table decoding the first `PEEK` bits at once.
struct Huffman {
    /// `first_code[len]`, `first_index[len]`, `count[len]` for len 0..=30.
    first_code: [u32; 31],
    first_index: [u16; 31],
    count: [u16; 31],
    /// Symbols ordered by (length, symbol).
    symbols: [u16; 257],
    /// For every `PEEK`-bit prefix whose code is at most `PEEK` bits: (symbol, length);
    /// length 0 for the longer codes.
    peek: Vec<(u16, u8)>,
    /// The code of each symbol (the tests read it).
    #[cfg_attr(not(test), allow(dead_code))]
    codes: [u32; 257],
}

const PEEK: u32 = 10;

fn huffman() -> &'static Huffman {
    static TABLE: OnceLock<Huffman> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut count = [0u16; 31];
        for &bits in &HUFFMAN_BITS {
            count[bits as usize] += 1;
        }
        let mut first_code = [0u32; 31];
        let mut first_index = [0u16; 31];
        let (mut code, mut index) = (0u32, 0u16);
        for len in 1..31 {
            code = (code + count[len - 1] as u32) << 1;
            first_code[len] = code;
            first_index[len] = index;
            index += count[len];
        }
        let mut symbols = [0u16; 257];
        let mut codes = [0u32; 257];
        let mut next = first_index;
        for (symbol, &bits) in HUFFMAN_BITS.iter().enumerate() {
            let len = bits as usize;
            let position = next[len];
            next[len] += 1;
            symbols[position as usize] = symbol as u16;
            codes[symbol] = first_code[len] + (position - first_index[len]) as u32;
        }
        let mut peek = vec![(0u16, 0u8); 1 << PEEK];
        for (symbol, &bits) in HUFFMAN_BITS.iter().enumerate() {
            if u32::from(bits) <= PEEK {
                let spare = PEEK - u32::from(bits);
                let start = (codes[symbol] << spare) as usize;
                for slot in &mut peek[start..start + (1 << spare)] {
                    *slot = (symbol as u16, bits);
                }
            }
        }
        Huffman {
            first_code,
            first_index,
            count,
            symbols,
            peek,
            codes,
        }
    })
}

/// Decode a Huffman-coded string (RFC 7541 §5.2) onto `out`.
pub fn huffman_decode(input: &[u8], out: &mut Vec<u8>) -> Result<(), HpackError> {
    let table = huffman();
    // Bits not yet decoded, aligned to the least significant end of `acc`.
    let mut acc: u64 = 0;
    let mut have: u32 = 0;
    let mut bytes = input.iter();
    loop {
        while have <= 56 {
            match bytes.next() {
                Some(&b) => {
                    acc = (acc << 8) | u64::from(b);
                    have += 8;
                }
                None => break,
            }
        }
        if have == 0 {
            return Ok(());
        }
        // The next PEEK bits (padded with ones past the end, as EOS's prefix is).
        let window = if have >= PEEK {
            (acc >> (have - PEEK)) as usize & ((1 << PEEK) - 1)
        } else {
            (((acc << (PEEK - have)) | ((1 << (PEEK - have)) - 1)) as usize) & ((1 << PEEK) - 1)
        };
        let (symbol, len) = table.peek[window];
        if len != 0 && u32::from(len) <= have {
            out.push(symbol as u8);
            have -= u32::from(len);
            acc &= (1u64 << have) - 1;
            continue;
        }
        // A longer code, or the end: the padding must be fewer than 8 bits, all ones.
        let mut found = None;
        for len in (PEEK + 1).min(have + 1)..=30 {
            if len > have {
                break;
            }
            let code = (acc >> (have - len)) as u32;
            let offset = code.wrapping_sub(table.first_code[len as usize]);
            if code >= table.first_code[len as usize]
                && offset < u32::from(table.count[len as usize])
            {
                found = Some((
                    table.symbols[(table.first_index[len as usize] as u32 + offset) as usize],
                    len,
                ));
                break;
            }
        }
        match found {
            Some((256, _)) => return Err(HpackError("Huffman string contains EOS")),
            Some((symbol, len)) => {
                out.push(symbol as u8);
                have -= len;
                acc &= (1u64 << have) - 1;
            }
            None => {
                let padding_ok = have < 8 && acc == (1u64 << have) - 1;
                return if padding_ok && bytes.len() == 0 {
                    Ok(())
                } else {
                    Err(HpackError("invalid Huffman padding"))
                };
            }
        }
    }
}

/// Huffman-encode `input` (for the tests: the client itself sends literals).
#[cfg(test)]
pub fn huffman_encode(input: &[u8]) -> Vec<u8> {
    let table = huffman();
    let (mut acc, mut have, mut out) = (0u64, 0u32, Vec::new());
    for &b in input {
        let len = u32::from(HUFFMAN_BITS[b as usize]);
        acc = (acc << len) | u64::from(table.codes[b as usize]);
        have += len;
        while have >= 8 {
            out.push((acc >> (have - 8)) as u8);
            have -= 8;
        }
    }
    if have > 0 {
        out.push(((acc << (8 - have)) as u8) | ((1u8 << (8 - have)) - 1));
    }
    out
}

/// An integer with an `prefix`-bit prefix (RFC 7541 §5.1), and the bytes it took.
fn decode_int(input: &[u8], prefix: u32) -> Result<(usize, usize), HpackError> {
    let max = (1usize << prefix) - 1;
    let first = *input.first().ok_or(HpackError("truncated integer"))? as usize & max;
    if first < max {
        return Ok((first, 1));
    }
    let mut value = max;
    for (i, &b) in input[1..].iter().enumerate() {
        // Four continuation bytes hold 28 bits: more than any length or index here.
        if i >= 4 {
            return Err(HpackError("integer too large"));
        }
        value += ((b & 0x7f) as usize) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, i + 2));
        }
    }
    Err(HpackError("truncated integer"))
}

/// Append an integer with a `prefix`-bit prefix whose first byte carries `flags`.
pub fn encode_int(out: &mut Vec<u8>, flags: u8, prefix: u32, value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128 + 128) as u8);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// A string literal without Huffman coding.
fn encode_str(out: &mut Vec<u8>, s: &[u8]) {
    encode_int(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// One field as a literal without indexing (RFC 7541 §6.2.2): the name from the static
/// table when it is there, the value as a plain literal.
pub fn encode_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    encode_field_joined(out, name, &[value]);
}

/// As `encode_field`, the value being `parts` one after the other (so a joined value
/// needs no buffer of its own).
pub fn encode_field_joined(out: &mut Vec<u8>, name: &[u8], parts: &[&[u8]]) {
    match STATIC.iter().position(|(n, _)| n.as_bytes() == name) {
        Some(i) => encode_int(out, 0x00, 4, i + 1),
        None => {
            out.push(0x00);
            encode_str(out, name);
        }
    }
    encode_int(out, 0, 7, parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.extend_from_slice(part);
    }
}

/// A request's pseudo-header fields (RFC 9113 §8.3.1), from the static table when a
/// whole field is there.
pub fn encode_pseudo(out: &mut Vec<u8>, method: &str, scheme: &str, authority: &str, path: &str) {
    let indexed = |name: &str, value: &str| {
        STATIC
            .iter()
            .position(|&(n, v)| n == name && v == value)
            .map(|i| i + 1)
    };
    for (name, value) in [
        (":method", method),
        (":scheme", scheme),
        (":authority", authority),
        (":path", path),
    ] {
        match indexed(name, value) {
            Some(index) => encode_int(out, 0x80, 7, index),
            None => encode_field(out, name.as_bytes(), value.as_bytes()),
        }
    }
}

/// A field the decoder returns a value for: where its bytes are.
enum Text<'a> {
    Static(&'static str),
    Table(usize),
    Block(&'a [u8]),
    Scratch,
}

/// A dynamic table entry's name: most servers index names of the static table.
enum Name {
    Static(&'static str),
    Owned(Box<[u8]>),
}

impl Name {
    fn bytes(&self) -> &[u8] {
        match self {
            Name::Static(s) => s.as_bytes(),
            Name::Owned(b) => b,
        }
    }
}

/// Value buffers of evicted entries kept for new ones: a server that indexes a `date`
/// on every response (nginx does) then costs no allocation.
const SPARE_BUFFERS: usize = 64;

/// Huffman strings recently decoded for the table, by their coded bytes: servers send
/// the same values response after response (nginx's `server`, `content-type`, and a
/// `date` that changes once a second), and comparing bytes costs less than decoding.
const DECODED_CACHE: usize = 8;

/// The decoding side of one connection (RFC 7541 §2.2): the dynamic table the server's
/// encoder fills.
pub struct Decoder {
    /// Newest first: index 62 is element 0.
    table: VecDeque<(Name, Vec<u8>)>,
    spare: Vec<Vec<u8>>,
    size: usize,
    /// The table's current maximum size (set by the encoder's size updates).
    max_size: usize,
    /// SETTINGS_HEADER_TABLE_SIZE the client announced: the most an update may set.
    limit: usize,
    name_scratch: Vec<u8>,
    value_scratch: Vec<u8>,
    /// (coded, decoded) pairs, replaced in turn.
    decoded: Vec<(Vec<u8>, Vec<u8>)>,
    decoded_next: usize,
}

impl Decoder {
    pub fn new(limit: usize) -> Decoder {
        Decoder {
            table: VecDeque::new(),
            spare: Vec::new(),
            size: 0,
            max_size: limit,
            limit,
            name_scratch: Vec::new(),
            value_scratch: Vec::new(),
            decoded: Vec::new(),
            decoded_next: 0,
        }
    }

    /// The string literal at the start of `input`, decoded onto `out`; the bytes it took.
    fn read_string_into(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, HpackError> {
        let (huffman, raw, end) = string_literal(input)?;
        if !huffman {
            out.extend_from_slice(raw);
            return Ok(end);
        }
        if let Some((_, decoded)) = self.decoded.iter().find(|(coded, _)| coded == raw) {
            out.extend_from_slice(decoded);
            return Ok(end);
        }
        let start = out.len();
        huffman_decode(raw, out)?;
        let pair = (raw.to_vec(), out[start..].to_vec());
        if self.decoded.len() < DECODED_CACHE {
            self.decoded.push(pair);
        } else {
            self.decoded[self.decoded_next] = pair;
            self.decoded_next = (self.decoded_next + 1) % DECODED_CACHE;
        }
        Ok(end)
    }

    /// The dynamic table's size as RFC 7541 §4.1 counts it.
    pub fn table_size(&self) -> usize {
        self.size
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            match self.table.pop_back() {
                Some((name, mut value)) => {
                    self.size -= name.bytes().len() + value.len() + 32;
                    if self.spare.len() < SPARE_BUFFERS {
                        value.clear();
                        self.spare.push(value);
                    }
                }
                None => break,
            }
        }
    }

    fn insert(&mut self, name: Name, value: Vec<u8>) {
        let size = name.bytes().len() + value.len() + 32;
        if size > self.max_size {
            // Larger than the table: it empties (RFC 7541 §4.4).
            self.evict_to(0);
            return;
        }
        self.evict_to(self.max_size - size);
        self.table.push_front((name, value));
        self.size += size;
    }

    /// The name (and value) at `index` of the combined address space.
    fn lookup(&self, index: usize) -> Result<(Text<'static>, Text<'static>), HpackError> {
        match index {
            0 => Err(HpackError("index 0")),
            1..=61 => {
                let (n, v) = STATIC[index - 1];
                Ok((Text::Static(n), Text::Static(v)))
            }
            _ if index - 62 < self.table.len() => {
                Ok((Text::Table(index - 62), Text::Table(index - 62)))
            }
            _ => Err(HpackError("index beyond the tables")),
        }
    }

    fn name_bytes<'a>(&'a self, text: &Text<'a>) -> &'a [u8] {
        match text {
            Text::Static(s) => s.as_bytes(),
            Text::Table(i) => self.table[*i].0.bytes(),
            Text::Block(b) => b,
            Text::Scratch => &self.name_scratch,
        }
    }

    fn value_bytes<'a>(&'a self, text: &Text<'a>) -> &'a [u8] {
        match text {
            Text::Static(s) => s.as_bytes(),
            Text::Table(i) => &self.table[*i].1,
            Text::Block(b) => b,
            Text::Scratch => &self.value_scratch,
        }
    }

    /// Decode one header block. `want` picks the fields `field` receives (by name);
    /// the others' values are skipped unless the table stores them.
    pub fn decode(
        &mut self,
        block: &[u8],
        want: impl Fn(&[u8]) -> bool,
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), HpackError> {
        let mut at = 0;
        let mut fields_seen = false;
        while at < block.len() {
            let first = block[at];
            if first & 0x80 != 0 {
                // Indexed field (§6.1).
                let (index, used) = decode_int(&block[at..], 7)?;
                at += used;
                let (name, value) = self.lookup(index)?;
                let name_bytes = self.name_bytes(&name);
                if want(name_bytes) {
                    field(name_bytes, self.value_bytes(&value));
                }
                fields_seen = true;
                continue;
            }
            if first & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3): only before the first field.
                let (size, used) = decode_int(&block[at..], 5)?;
                at += used;
                if fields_seen {
                    return Err(HpackError("table size update after a field"));
                }
                if size > self.limit {
                    return Err(HpackError(
                        "table size update above SETTINGS_HEADER_TABLE_SIZE",
                    ));
                }
                self.max_size = size;
                self.evict_to(size);
                continue;
            }
            // Literal (§6.2): with incremental indexing (01), without (0000) or never
            // indexed (0001).
            let indexing = first & 0xc0 == 0x40;
            let prefix = if indexing { 6 } else { 4 };
            let (index, used) = decode_int(&block[at..], prefix)?;
            at += used;
            let name = if index == 0 {
                let (text, used) = self.read_string(&block[at..], true, true)?;
                at += used;
                text
            } else {
                self.lookup(index)?.0
            };
            let wanted = want(self.name_bytes(&name));
            fields_seen = true;
            if indexing {
                // Decoded straight into the buffer the table keeps.
                let mut value = self.spare.pop().unwrap_or_default();
                let used = self.read_string_into(&block[at..], &mut value);
                at += match used {
                    Ok(used) => used,
                    Err(e) => {
                        self.spare.push(value);
                        return Err(e);
                    }
                };
                let name = match name {
                    Text::Static(s) => Name::Static(s),
                    Text::Table(i) => match &self.table[i].0 {
                        Name::Static(s) => Name::Static(s),
                        Name::Owned(b) => Name::Owned(b.clone()),
                    },
                    other => Name::Owned(self.name_bytes(&other).into()),
                };
                if wanted {
                    field(name.bytes(), &value);
                }
                self.insert(name, value);
                continue;
            }
            let (value, used) = self.read_string(&block[at..], wanted, false)?;
            at += used;
            if wanted {
                let value = self.value_bytes(&value);
                field(self.name_bytes(&name), value);
            }
        }
        Ok(())
    }

    /// A string literal at the start of `input`: where its bytes are (decoded into a
    /// scratch buffer when Huffman-coded and `needed`), and the bytes it took.
    fn read_string<'a>(
        &mut self,
        input: &'a [u8],
        needed: bool,
        is_name: bool,
    ) -> Result<(Text<'a>, usize), HpackError> {
        let (huffman, raw, end) = string_literal(input)?;
        if !huffman {
            return Ok((Text::Block(raw), end));
        }
        if !needed {
            return Ok((Text::Block(&[]), end));
        }
        let scratch = if is_name {
            &mut self.name_scratch
        } else {
            &mut self.value_scratch
        };
        scratch.clear();
        huffman_decode(raw, scratch)?;
        Ok((Text::Scratch, end))
    }
}

/// A string literal at the start of `input` (RFC 7541 §5.2): whether it is
/// Huffman-coded, its bytes as sent, and the bytes it took.
fn string_literal(input: &[u8]) -> Result<(bool, &[u8], usize), HpackError> {
    let huffman = input.first().is_some_and(|b| b & 0x80 != 0);
    let (len, used) = decode_int(input, 7)?;
    let end = used
        .checked_add(len)
        .filter(|&end| end <= input.len())
        .ok_or(HpackError("string literal beyond the block"))?;
    Ok((huffman, &input[used..end], end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    fn decode_all(decoder: &mut Decoder, block: &[u8]) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        decoder
            .decode(
                block,
                |_| true,
                |n, v| {
                    fields.push((
                        String::from_utf8(n.to_vec()).unwrap(),
                        String::from_utf8(v.to_vec()).unwrap(),
                    ))
                },
            )
            .unwrap();
        fields
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn huffman_codes_are_those_of_rfc_7541_appendix_b() {
        let codes = &huffman().codes;
        // Spot checks across the table: (symbol, code as hex, length).
        for (symbol, code, len) in [
            (0, 0x1ff8, 13),
            (1, 0x7fffd8, 23),
            (9, 0xffffea, 24),
            (10, 0x3ffffffc, 30),
            (13, 0x3ffffffd, 30),
            (22, 0x3ffffffe, 30),
            (31, 0xffffffb, 28),
            (b' ' as usize, 0x14, 6),
            (b'&' as usize, 0xf8, 8),
            (b'0' as usize, 0x0, 5),
            (b':' as usize, 0x5c, 7),
            (b'<' as usize, 0x7ffc, 15),
            (b'X' as usize, 0xfc, 8),
            (b'\\' as usize, 0x7fff0, 19),
            (b'a' as usize, 0x3, 5),
            (b'z' as usize, 0x7b, 7),
            (b'~' as usize, 0x1ffd, 13),
            (127, 0xffffffc, 28),
            (128, 0xfffe6, 20),
            (153, 0x1fffdc, 21),
            (192, 0x3ffffe0, 26),
            (199, 0x1ffffec, 25),
            (203, 0x7ffffde, 27),
            (220, 0xffffffd, 28),
            (239, 0x7ffff4, 23),
            (249, 0xffffffe, 28),
            (254, 0x7fffff0, 27),
            (255, 0x3ffffee, 26),
            (256, 0x3fffffff, 30),
        ] {
            assert_eq!(
                (codes[symbol], HUFFMAN_BITS[symbol]),
                (code, len),
                "symbol {symbol}"
            );
        }
        // A complete prefix code: the Kraft sum is exactly 1.
        let kraft: u64 = HUFFMAN_BITS.iter().map(|&b| 1u64 << (30 - b)).sum();
        assert_eq!(kraft, 1 << 30);
    }

    #[test]
    fn huffman_round_trips_every_byte_and_rejects_bad_padding() {
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        let mut out = Vec::new();
        huffman_decode(&huffman_encode(&all), &mut out).unwrap();
        assert_eq!(out, all);
        // RFC 7541 C.4.1: www.example.com.
        out.clear();
        huffman_decode(&hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff"), &mut out).unwrap();
        assert_eq!(out, b"www.example.com");
        // 'a' (00011) padded with zeros, not ones.
        assert!(huffman_decode(&[0b0001_1000], &mut Vec::new()).is_err());
        // A whole byte of padding (8 ones) is too long.
        assert!(huffman_decode(&[0b0001_1111, 0xff], &mut Vec::new()).is_err());
        // EOS itself.
        assert!(huffman_decode(&[0xff, 0xff, 0xff, 0xff], &mut Vec::new()).is_err());
    }

    #[test]
    fn integers_of_rfc_7541_c1() {
        let mut out = Vec::new();
        encode_int(&mut out, 0, 5, 10);
        encode_int(&mut out, 0, 5, 1337);
        encode_int(&mut out, 0, 8, 42);
        assert_eq!(out, [0x0a, 0x1f, 0x9a, 0x0a, 0x2a]);
        assert_eq!(decode_int(&[0x1f, 0x9a, 0x0a], 5).unwrap(), (1337, 3));
        assert!(decode_int(&[0x1f, 0x9a], 5).is_err());
        assert!(decode_int(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0x0f], 5).is_err());
    }

    #[test]
    fn field_representations_of_rfc_7541_c2() {
        let mut d = Decoder::new(4096);
        let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        assert_eq!(
            decode_all(&mut d, &block),
            pairs(&[("custom-key", "custom-header")])
        );
        assert_eq!(d.table_size(), 55);
        let mut d = Decoder::new(4096);
        let block = hex("040c 2f73 616d 706c 652f 7061 7468");
        assert_eq!(
            decode_all(&mut d, &block),
            pairs(&[(":path", "/sample/path")])
        );
        assert_eq!(d.table_size(), 0);
        let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
        assert_eq!(decode_all(&mut d, &block), pairs(&[("password", "secret")]));
        assert_eq!(d.table_size(), 0);
        assert_eq!(decode_all(&mut d, &[0x82]), pairs(&[(":method", "GET")]));
    }

    #[test]
    fn requests_of_rfc_7541_c3_and_c4() {
        let first = [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
        ];
        let mut second = first.to_vec();
        second.push(("cache-control", "no-cache"));
        let third = [
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ];
        for (blocks, name) in [
            (
                [
                    "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                    "8286 84be 5808 6e6f 2d63 6163 6865",
                    "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                ],
                "C.3",
            ),
            (
                [
                    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                    "8286 84be 5886 a8eb 1064 9cbf",
                    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                ],
                "C.4",
            ),
        ] {
            let mut d = Decoder::new(4096);
            assert_eq!(decode_all(&mut d, &hex(blocks[0])), pairs(&first), "{name}");
            assert_eq!(d.table_size(), 57, "{name}");
            assert_eq!(
                decode_all(&mut d, &hex(blocks[1])),
                pairs(&second),
                "{name}"
            );
            assert_eq!(d.table_size(), 110, "{name}");
            assert_eq!(decode_all(&mut d, &hex(blocks[2])), pairs(&third), "{name}");
            assert_eq!(d.table_size(), 164, "{name}");
        }
    }

    /// RFC 7541 C.6: responses with Huffman coding and a 256-byte table, so entries are
    /// evicted; the caller sees only the fields it asks for, the table stays exact.
    #[test]
    fn responses_of_rfc_7541_c6_with_eviction() {
        let mut d = Decoder::new(256);
        let first = hex(
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
             2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        );
        assert_eq!(
            decode_all(&mut d, &first),
            pairs(&[
                (":status", "302"),
                ("cache-control", "private"),
                ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                ("location", "https://www.example.com"),
            ])
        );
        assert_eq!(d.table_size(), 222);
        let second = hex("4883 640e ffc1 c0bf");
        assert_eq!(
            decode_all(&mut d, &second),
            pairs(&[
                (":status", "307"),
                ("cache-control", "private"),
                ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                ("location", "https://www.example.com"),
            ])
        );
        assert_eq!(d.table_size(), 222);
        let third = hex(
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
             77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
             9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        );
        // Only :status and set-cookie wanted: the rest is skipped or only stored.
        let mut seen = Vec::new();
        d.decode(
            &third,
            |n| n == b":status" || n == b"set-cookie",
            |n, v| seen.push((n.to_vec(), v.to_vec())),
        )
        .unwrap();
        assert_eq!(
            seen,
            [
                (b":status".to_vec(), b"200".to_vec()),
                (
                    b"set-cookie".to_vec(),
                    b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1".to_vec()
                ),
            ]
        );
        assert_eq!(d.table_size(), 215);
        let newest: Vec<&[u8]> = d.table.iter().map(|(n, _)| n.bytes()).collect();
        assert_eq!(
            newest,
            [&b"set-cookie"[..], b"content-encoding", b"date"],
            "the table after C.6.3"
        );
    }

    /// The cache of decoded strings hands out what decoding would: the same coded
    /// value indexed twice, and two values of one length, alternately.
    #[test]
    fn repeated_huffman_values_decode_alike() {
        let mut d = Decoder::new(4096);
        let mut block = Vec::new();
        for value in [
            "Mon, 21 Oct 2013 20:13:21 GMT",
            "Mon, 21 Oct 2013 20:13:22 GMT",
        ] {
            let coded = huffman_encode(value.as_bytes());
            block.push(0x61); // date (static 33), with incremental indexing
            encode_int(&mut block, 0x80, 7, coded.len());
            block.extend_from_slice(&coded);
        }
        for _ in 0..3 {
            assert_eq!(
                decode_all(&mut d, &block),
                pairs(&[
                    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
                ])
            );
        }
        assert_eq!(d.table_size(), 6 * (4 + 29 + 32));
        assert_eq!(
            decode_all(&mut d, &[0xbe, 0xbf]),
            pairs(&[
                ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
                ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ])
        );
    }

    #[test]
    fn bad_blocks_are_errors_not_panics() {
        let mut d = Decoder::new(4096);
        let ignore = |_: &[u8], _: &[u8]| {};
        for block in [
            &[0x80][..],               // index 0
            &[0xbe],                   // dynamic index into an empty table
            &[0x41, 0x0a, b'a'],       // string beyond the block
            &[0x3f, 0xe2, 0x1f],       // table size update to 4097, above the limit
            &[0x82, 0x20],             // size update after a field
            &[0x40, 0x81, 0x00, 0x00], // Huffman with zero padding
        ] {
            assert!(d.decode(block, |_| true, ignore).is_err(), "{block:x?}");
        }
        // A size update to 0 empties the table.
        let mut d = Decoder::new(4096);
        decode_all(
            &mut d,
            &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
        );
        assert_eq!(d.table_size(), 55);
        d.decode(&[0x20], |_| true, ignore).unwrap();
        assert_eq!(d.table_size(), 0);
    }

    #[test]
    fn requests_encode_as_static_indexes_and_literals() {
        let mut out = Vec::new();
        encode_pseudo(&mut out, "GET", "http", "www.example.com", "/");
        // :method GET, :scheme http, :authority literal (name index 1), :path /.
        let mut expected = vec![0x82, 0x86, 0x01, 15];
        expected.extend_from_slice(b"www.example.com");
        expected.push(0x84);
        assert_eq!(out, expected);
        encode_field(&mut out, b"user-agent", b"x");
        encode_field(&mut out, b"x-trace", b"1");
        let mut d = Decoder::new(4096);
        let fields = decode_all(&mut d, &out);
        assert_eq!(
            fields,
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":authority", "www.example.com"),
                (":path", "/"),
                ("user-agent", "x"),
                ("x-trace", "1"),
            ])
        );
        assert_eq!(d.table_size(), 0, "nothing indexed");
        let mut out = Vec::new();
        encode_pseudo(&mut out, "DELETE", "https", "h", "/a?b=1");
        let fields = decode_all(&mut d, &out);
        assert_eq!(fields[0], (":method".into(), "DELETE".into()));
        assert_eq!(fields[3], (":path".into(), "/a?b=1".into()));
    }

    #[test]
    fn a_joined_value_encodes_as_the_whole_value() {
        let mut joined = Vec::new();
        encode_field_joined(&mut joined, b"cookie", &[b"a=1", b"; ", &[b'b'; 200]]);
        let mut whole = Vec::new();
        let value = [&b"a=1; "[..], &[b'b'; 200]].concat();
        encode_field(&mut whole, b"cookie", &value);
        assert_eq!(joined, whole);
        let fields = decode_all(&mut Decoder::new(4096), &joined);
        assert_eq!(
            fields,
            vec![("cookie".into(), String::from_utf8(value).unwrap())]
        );
    }
}
