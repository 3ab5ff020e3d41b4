//! What a scenario asks of a response: `expect` checks (status, body text, JSON fields)
//! and `capture`s (a JSON field, a header, a regex) that set a user's variables. Pure:
//! a response in, a verdict or a value out. Their messages name the check, never the
//! response's content, so the failures report groups them by kind.
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

/// A place in a JSON body: a JSON pointer (`/items/0/id`) or the simple JSONPath
/// (`$.items[0].id`, `$['a b']`) that maps onto one.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    /// As written, for messages.
    pub shown: String,
    /// The pointer's tokens, unescaped once (`~1` is `/`, `~0` is `~`).
    tokens: Vec<String>,
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let pointer = if text.is_empty() || text.starts_with('/') {
            text.to_string()
        } else if let Some(rest) = text.strip_prefix('$') {
            jsonpath_to_pointer(rest).ok_or_else(|| {
                format!(
                    "'{text}' is not a simple JSONPath ($.a.b, $.items[0].id, $['a b']) \
                     nor a JSON pointer (/a/b)"
                )
            })?
        } else {
            return Err(format!(
                "'{text}' must be a JSON pointer (/token) or a JSONPath ($.token)"
            ));
        };
        let tokens = match pointer.strip_prefix('/') {
            None => Vec::new(),
            Some(rest) => rest
                .split('/')
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect(),
        };
        Ok(JsonPath {
            shown: text.to_string(),
            tokens,
        })
    }

    /// The value at this place in a body read as raw JSON: each level is split into
    /// its members without copying them, and only the value found is read
    /// (`Err`: the walk needs the slow path, a key with escapes in it).
    fn find_raw<'a>(&self, root: &'a RawValue) -> Result<Option<&'a RawValue>, ()> {
        let mut at = root;
        for token in &self.tokens {
            let text = at.get();
            let step = match text.as_bytes().first() {
                Some(b'{') => Step::Member(token),
                Some(b'[') => match array_index(token) {
                    Some(index) => Step::Item(index),
                    None => return Ok(None),
                },
                _ => return Ok(None),
            };
            let mut reader = serde_json::Deserializer::from_str(text);
            match step.deserialize(&mut reader).map_err(|_| ())? {
                Some(next) => at = next,
                None => return Ok(None),
            }
        }
        Ok(Some(at))
    }

    /// The value at this place, as RFC 6901 resolves a pointer.
    pub fn find<'a>(&self, json: &'a Value) -> Option<&'a Value> {
        self.tokens.iter().try_fold(json, |at, token| match at {
            Value::Object(map) => map.get(token),
            Value::Array(items) => items.get(array_index(token)?),
            _ => None,
        })
    }
}

/// One step of a walk through raw JSON: the member of an object or the item of an
/// array, found by reading the level once, without allocating (the rest is skipped).
enum Step<'t> {
    Member(&'t str),
    Item(usize),
}

impl<'de, 't> DeserializeSeed<'de> for Step<'t> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        match self {
            Step::Member(_) => deserializer.deserialize_map(self),
            Step::Item(_) => deserializer.deserialize_seq(self),
        }
    }
}

impl<'de, 't> Visitor<'de> for Step<'t> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object or array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Step::Member(token) = self else {
            return Ok(None);
        };
        let mut found = None;
        // A key with escapes cannot be borrowed: an error, and the caller's slow path.
        while let Some(key) = map.next_key::<&'de str>()? {
            if found.is_none() && key == token {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let Step::Item(index) = self else {
            return Ok(None);
        };
        let mut found = None;
        let mut i = 0;
        loop {
            if i == index {
                match seq.next_element::<&'de RawValue>()? {
                    Some(item) => found = Some(item),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }
}

/// An array index token: digits, without leading zeros (RFC 6901 §4).
fn array_index(token: &str) -> Option<usize> {
    if token.is_empty()
        || (token.len() > 1 && token.starts_with('0'))
        || !token.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    token.parse().ok()
}

/// `.a`, `[0]` and `['a']` steps after the `$`, as pointer tokens.
fn jsonpath_to_pointer(mut rest: &str) -> Option<String> {
    let mut pointer = String::new();
    let mut push = |token: &str| {
        pointer.push('/');
        pointer.push_str(&token.replace('~', "~0").replace('/', "~1"));
    };
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() || name == "*" {
                return None;
            }
            push(name);
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inside = after[..end].trim();
            let token = if let Some(quoted) = inside
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inside.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
            {
                quoted
            } else if !inside.is_empty() && inside.bytes().all(|b| b.is_ascii_digit()) {
                inside
            } else {
                return None;
            };
            push(token);
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(pointer)
}

/// A response as checks and captures read it.
pub struct Exchange<'a> {
    pub status: u16,
    pub body: &'a [u8],
    /// The response headers the scenario reads (names in lower case).
    pub headers: &'a [(String, String)],
    /// The body as raw JSON (checked, not copied), once, when something reads it.
    raw: Option<Option<&'a RawValue>>,
}

/// A JSON value found in a body.
enum Found<'a> {
    Raw(&'a RawValue),
    Parsed(Value),
}

impl Found<'_> {
    fn is_null(&self) -> bool {
        match self {
            Found::Raw(raw) => raw.get() == "null",
            Found::Parsed(value) => value.is_null(),
        }
    }

    fn value(&self) -> Option<Value> {
        match self {
            Found::Raw(raw) => serde_json::from_str(raw.get()).ok(),
            Found::Parsed(value) => Some(value.clone()),
        }
    }

    /// A string as is, anything else as its JSON text.
    fn text(&self) -> String {
        match self {
            Found::Raw(raw) if raw.get().starts_with('"') => {
                serde_json::from_str(raw.get()).unwrap_or_default()
            }
            // Numbers, booleans and containers as serde_json writes them, whichever
            // path found them.
            Found::Raw(raw) => serde_json::from_str::<Value>(raw.get())
                .map(|v| v.to_string())
                .unwrap_or_else(|_| raw.get().to_string()),
            Found::Parsed(Value::String(s)) => s.clone(),
            Found::Parsed(other) => other.to_string(),
        }
    }
}

impl<'a> Exchange<'a> {
    pub fn new(status: u16, body: &'a [u8], headers: &'a [(String, String)]) -> Self {
        Exchange {
            status,
            body,
            headers,
            raw: None,
        }
    }

    /// The value at `path`: `Err` when the body is not JSON.
    fn find(&mut self, path: &JsonPath) -> Result<Option<Found<'a>>, ()> {
        let body = self.body;
        let root = *self
            .raw
            .get_or_insert_with(|| serde_json::from_slice::<&RawValue>(body).ok());
        let root = root.ok_or(())?;
        match path.find_raw(root) {
            Ok(found) => Ok(found.map(Found::Raw)),
            Err(()) => {
                let json: Value = serde_json::from_str(root.get()).map_err(|_| ())?;
                Ok(path.find(&json).cloned().map(Found::Parsed))
            }
        }
    }
}

/// A regex, compared by its pattern.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// Where a capture takes its value.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureFrom {
    /// A JSON field of the body (a string as is, anything else as JSON text).
    Json(JsonPath),
    /// A response header (name in lower case).
    Header(String),
    /// The first group of a regex over the body (the whole match without a group).
    Regex(Pattern),
}

/// `capture = [{ name = "token", json = "$.token" }]`: a value kept per user.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    pub name: String,
    /// The variable's slot in a user's state.
    pub slot: usize,
    pub from: CaptureFrom,
}

impl fmt::Display for CaptureFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureFrom::Json(path) => write!(f, "{} in the JSON body", path.shown),
            CaptureFrom::Header(name) => write!(f, "header {name}"),
            CaptureFrom::Regex(pattern) => {
                write!(f, "regex '{}' over the body", pattern.0.as_str())
            }
        }
    }
}

impl Capture {
    /// The captured value, or why there is none.
    pub fn take(&self, exchange: &mut Exchange<'_>) -> Result<String, String> {
        let missing = || format!("{}: found no {}", self.name, self.from);
        match &self.from {
            CaptureFrom::Json(path) => match exchange.find(path) {
                Err(()) => Err(format!("{}: the body is not JSON", self.name)),
                Ok(Some(found)) if !found.is_null() => Ok(found.text()),
                Ok(_) => Err(missing()),
            },
            CaptureFrom::Header(name) => exchange
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(missing),
            CaptureFrom::Regex(pattern) => {
                let text = String::from_utf8_lossy(exchange.body);
                let found = pattern.0.captures(&text).ok_or_else(missing)?;
                let m = found.get(1).or_else(|| found.get(0)).ok_or_else(missing)?;
                Ok(m.as_str().to_string())
            }
        }
    }
}

/// `expect = { ... }`: what makes a response a success. Without `status`, a status
/// below 400 is (as without any expect).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expect {
    /// Accepted statuses (any of them).
    pub status: Option<Vec<u16>>,
    /// Texts the body must contain.
    pub contains: Vec<String>,
    /// Texts the body must not contain.
    pub not_contains: Vec<String>,
    /// JSON fields that must exist (and not be null).
    pub json_exists: Vec<JsonPath>,
    /// JSON fields that must equal a value (numbers compare by value).
    pub json_equals: Vec<(JsonPath, Value)>,
}

impl Expect {
    /// Whether the response body is read at all.
    pub fn reads_body(&self) -> bool {
        !(self.contains.is_empty()
            && self.not_contains.is_empty()
            && self.json_exists.is_empty()
            && self.json_equals.is_empty())
    }

    /// `Ok` when every check holds; else the first that failed, described.
    pub fn judge(&self, exchange: &mut Exchange<'_>) -> Result<(), String> {
        if let Some(statuses) = &self.status {
            if !statuses.contains(&exchange.status) {
                let wanted: Vec<String> = statuses.iter().map(u16::to_string).collect();
                return Err(format!(
                    "status {} is not {}",
                    exchange.status,
                    wanted.join(" or ")
                ));
            }
        }
        for text in &self.contains {
            if memchr::memmem::find(exchange.body, text.as_bytes()).is_none() {
                return Err(format!("body does not contain '{text}'"));
            }
        }
        for text in &self.not_contains {
            if memchr::memmem::find(exchange.body, text.as_bytes()).is_some() {
                return Err(format!("body contains '{text}'"));
            }
        }
        let not_json = |_| "body is not JSON".to_string();
        for path in &self.json_exists {
            match exchange.find(path).map_err(not_json)? {
                Some(found) if !found.is_null() => {}
                _ => return Err(format!("{} does not exist", path.shown)),
            }
        }
        for (path, wanted) in &self.json_equals {
            let found = exchange.find(path).map_err(not_json)?;
            if !found
                .and_then(|f| f.value())
                .is_some_and(|v| same(&v, wanted))
            {
                return Err(format!("{} is not {wanted}", path.shown));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Expect {
    /// The checks, as the reports' checks table lists them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        match &self.status {
            Some(statuses) => {
                let wanted: Vec<String> = statuses.iter().map(u16::to_string).collect();
                parts.push(format!("status {}", wanted.join(" or ")));
            }
            None => parts.push("status < 400".into()),
        }
        parts.extend(self.contains.iter().map(|t| format!("contains '{t}'")));
        parts.extend(
            self.not_contains
                .iter()
                .map(|t| format!("not contains '{t}'")),
        );
        parts.extend(
            self.json_exists
                .iter()
                .map(|p| format!("{} exists", p.shown)),
        );
        parts.extend(
            self.json_equals
                .iter()
                .map(|(p, v)| format!("{} = {v}", p.shown)),
        );
        f.write_str(&parts.join(", "))
    }
}

/// JSON equality where 5 and 5.0 are the same number.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_map_onto_pointers() {
        let doc: Value =
            serde_json::from_str(r#"{"a":{"b c":[{"id":7}]},"t":"x","n":null}"#).unwrap();
        let find = |p: &str| JsonPath::parse(p).unwrap().find(&doc).cloned();
        assert_eq!(find("$.a['b c'][0].id"), Some(Value::from(7)));
        assert_eq!(find("/a/b c/0/id"), Some(Value::from(7)));
        assert_eq!(find("$.t"), Some(Value::from("x")));
        assert_eq!(find("$.missing"), None);
        assert_eq!(find("/a/b c/01/id"), None);
        assert_eq!(find(""), Some(doc.clone()));
        let escaped: Value = serde_json::from_str(r#"{"a/b":{"c~d":1}}"#).unwrap();
        assert_eq!(
            JsonPath::parse("/a~1b/c~0d").unwrap().find(&escaped),
            Some(&Value::from(1))
        );
        assert_eq!(
            JsonPath::parse("$['a/b']['c~d']").unwrap().find(&escaped),
            Some(&Value::from(1))
        );
        for bad in ["token", "$.a[*]", "$..a", "$.a[x]", "$.a["] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checks_and_captures_judge_a_response() {
        let body = br#"{"token":"abc","count":2,"status":"ok","user":{"id":9}}"#;
        let headers = [("x-request-id".to_string(), "r-1".to_string())];
        let mut ex = Exchange::new(200, body, &headers);
        let expect = Expect {
            status: Some(vec![200, 201]),
            contains: vec!["token".into()],
            not_contains: vec!["error".into()],
            json_exists: vec![JsonPath::parse("$.user.id").unwrap()],
            json_equals: vec![(JsonPath::parse("$.count").unwrap(), Value::from(2.0))],
        };
        assert_eq!(expect.judge(&mut ex), Ok(()));
        assert_eq!(
            expect.to_string(),
            "status 200 or 201, contains 'token', not contains 'error', $.user.id exists, $.count = 2.0"
        );
        let mut bad = Exchange::new(404, body, &headers);
        assert_eq!(
            expect.judge(&mut bad).unwrap_err(),
            "status 404 is not 200 or 201"
        );
        let strict = Expect {
            json_equals: vec![(JsonPath::parse("$.status").unwrap(), Value::from("done"))],
            ..Expect::default()
        };
        assert_eq!(
            strict.judge(&mut ex).unwrap_err(),
            "$.status is not \"done\""
        );
        let not = Expect {
            not_contains: vec!["abc".into()],
            ..Expect::default()
        };
        assert_eq!(not.judge(&mut ex).unwrap_err(), "body contains 'abc'");
        let capture = |from| Capture {
            name: "v".into(),
            slot: 0,
            from,
        };
        let json = capture(CaptureFrom::Json(JsonPath::parse("$.token").unwrap()));
        assert_eq!(json.take(&mut ex).unwrap(), "abc");
        let number = capture(CaptureFrom::Json(JsonPath::parse("/user/id").unwrap()));
        assert_eq!(number.take(&mut ex).unwrap(), "9");
        // Escapes in a string and in a key (the slow path), arrays, objects as JSON text.
        let tricky = br#"{"a\"b":{"list":[{"v":"x\ny"},2]},"obj":{"k":[1, 2]}}"#;
        let mut t = Exchange::new(200, tricky, &[]);
        let at = |p: &str| capture(CaptureFrom::Json(JsonPath::parse(p).unwrap()));
        assert_eq!(at("$['a\"b'].list[0].v").take(&mut t).unwrap(), "x\ny");
        assert_eq!(at("$['a\"b'].list[1]").take(&mut t).unwrap(), "2");
        assert_eq!(at("$.obj.k").take(&mut t).unwrap(), "[1,2]");
        let plain = br#"{"obj":{"k":[1, 2]}}"#;
        assert_eq!(
            at("$.obj.k")
                .take(&mut Exchange::new(200, plain, &[]))
                .unwrap(),
            "[1,2]"
        );
        assert!(at("$.obj.k[2]").take(&mut t).is_err());
        let header = capture(CaptureFrom::Header("x-request-id".into()));
        assert_eq!(header.take(&mut ex).unwrap(), "r-1");
        let regex = capture(CaptureFrom::Regex(Pattern(
            regex::Regex::new(r#""count":(\d+)"#).unwrap(),
        )));
        assert_eq!(regex.take(&mut ex).unwrap(), "2");
        let missing = capture(CaptureFrom::Json(JsonPath::parse("$.nope").unwrap()));
        assert_eq!(
            missing.take(&mut ex).unwrap_err(),
            "v: found no $.nope in the JSON body"
        );
        let mut html = Exchange::new(200, b"<html>", &[]);
        assert_eq!(json.take(&mut html).unwrap_err(), "v: the body is not JSON");
    }
}
