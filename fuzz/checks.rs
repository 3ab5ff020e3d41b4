//! Properties checked on arbitrary bytes, one function per fuzz target.
//!
//! Shared by the cargo-fuzz targets (fuzz/fuzz_targets/*.rs) and by
//! tests/suite/fuzz_corpus.rs, which replays the corpus on stable. Each function
//! panics when a property breaks; it must not depend on libfuzzer.
#![allow(dead_code)]

use std::path::Path;

use capplan::error::InputError;
use capplan::formats::traffic::{Traffic, TrafficOptions};
use capplan::loadtest::http1::{parse_head, ChunkedDecoder, Framing};
use capplan::loadtest::threshold::Threshold;

/// Longest word an InputError may show (src/error.rs cuts at 100, plus `...`).
const LONGEST_WORD: usize = 110;

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// An input error is fit for a terminal: no raw control characters but line
/// breaks, no overlong word.
fn check_input_error(err: &InputError) {
    let shown = err.to_string();
    let message = match err {
        InputError::AtLine { message, .. }
        | InputError::File { message, .. }
        | InputError::Flag { message, .. } => message,
    };
    for c in message.chars() {
        assert!(
            !c.is_control() || c == '\n',
            "raw control character {c:?} in error: {shown:?}"
        );
    }
    for word in message.split(char::is_whitespace) {
        assert!(
            word.chars().count() <= LONGEST_WORD,
            "overlong word ({} chars) in error: {shown:?}",
            word.chars().count()
        );
    }
}

/// Response heads: a complete head lies within the input, its framing agrees
/// with its headers, and a head answering HEAD never has a body.
pub fn http1_head(data: &[u8]) {
    let Ok(Some(head)) = parse_head(data, false) else {
        return;
    };
    assert!(head.head_len <= data.len(), "head longer than the input");
    assert!(head.head_len >= 4, "a head ends with a blank line");
    if head.framing == Framing::UntilClose {
        assert!(
            !head.keep_alive,
            "a body running to the close cannot keep the connection"
        );
    }
    if let Framing::Length(n) = head.framing {
        // The declared Content-Length: every listed value is n.
        let raw = &data[..head.head_len];
        let mut seen = false;
        for line in raw.split(|&b| b == b'\n') {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            if !line[..colon]
                .trim_ascii()
                .eq_ignore_ascii_case(b"content-length")
            {
                continue;
            }
            seen = true;
            for item in line[colon + 1..].split(|&b| b == b',') {
                let digits = std::str::from_utf8(item.trim_ascii()).expect("digits");
                let value: u64 = digits.parse().expect("a Content-Length number");
                assert_eq!(value, n, "Content-Length {digits} read as {n}");
            }
        }
        assert!(seen, "Length({n}) framing without a Content-Length header");
    }
    // The same head is complete on its own bytes, and to a HEAD request it has no body.
    let alone = parse_head(&data[..head.head_len], false)
        .expect("the head alone parses")
        .expect("the head alone is complete");
    assert_eq!(alone, head, "the head depends on bytes after it");
    let for_head = parse_head(data, true).expect("parses").expect("complete");
    assert_eq!(
        for_head.framing,
        Framing::Empty,
        "a response to HEAD has a body"
    );
    assert_eq!(for_head.status, head.status);
}

/// Chunked bodies: fed in pieces split at points taken from the input, the
/// decoder does exactly what one-shot decoding does; data never exceeds input.
pub fn http1_body(data: &[u8]) {
    let mut whole = ChunkedDecoder::default();
    let one_shot = whole.decode(data);
    if let Ok(done) = one_shot {
        assert!(done.consumed <= data.len());
        assert!(done.data <= done.consumed as u64, "more data than input");
        if done.consumed < data.len() {
            assert!(whole.is_done(), "stopped early without ending the message");
        }
    }
    // Split points from the first bytes of the input.
    let mut cuts: Vec<usize> = data
        .iter()
        .take(3)
        .map(|&b| usize::from(b) % (data.len() + 1))
        .collect();
    cuts.push(data.len() / 2);
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = ChunkedDecoder::default();
    let (mut at, mut consumed, mut body) = (0usize, 0usize, 0u64);
    let mut result = Ok(());
    for end in cuts.into_iter().chain(std::iter::once(data.len())) {
        if end < at {
            continue;
        }
        match pieces.decode(&data[at..end]) {
            Ok(d) => {
                assert!(d.consumed <= end - at);
                consumed += d.consumed;
                body += d.data;
                if d.consumed < end - at {
                    assert!(pieces.is_done(), "stopped early without ending the message");
                    break;
                }
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        at = end;
        if pieces.is_done() {
            break;
        }
    }
    match (one_shot, result) {
        (Ok(done), Ok(())) => {
            assert_eq!(
                done.consumed, consumed,
                "split decoding consumed differently"
            );
            assert_eq!(done.data, body, "split decoding counted different data");
            assert_eq!(whole.is_done(), pieces.is_done());
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "split decoding failed differently"),
        (a, b) => panic!("one-shot {a:?} but split {b:?}"),
    }
}

/// Stamps and offsets: parsing is total, offsets are within a day, and an
/// offset that parses reads back the same from its canonical form.
pub fn timestamp(data: &[u8]) {
    let text = text(data);
    if let Ok(stamp) = capplan::timestamp::parse_stamp(&text) {
        if let Some(offset) = stamp.offset_seconds {
            assert!(offset.abs() < 86_400, "offset {offset} s is a day or more");
        }
    }
    if let Ok(offset) = capplan::timestamp::parse_offset(&text) {
        assert!(offset.abs() < 86_400, "offset {offset} s is a day or more");
        let sign = if offset < 0 { '-' } else { '+' };
        let abs = offset.unsigned_abs();
        if abs % 60 == 0 {
            let canonical = format!("{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60);
            assert_eq!(
                capplan::timestamp::parse_offset(&canonical),
                Ok(offset),
                "{canonical} does not read back"
            );
        }
    }
}

/// Thresholds (and the units they use): an accepted threshold has a finite
/// bound and shows the text it came from; fractions lie in 0..=1.
pub fn threshold(data: &[u8]) {
    let text = text(data);
    if let Ok(threshold) = text.parse::<Threshold>() {
        assert!(
            threshold.value.is_finite(),
            "bound {} is not finite",
            threshold.value
        );
        let again: Threshold = threshold.expr.parse().expect("its own expr parses");
        assert_eq!(again, threshold, "expr does not read back the same");
    }
    if let Ok(duration) = capplan::units::parse_duration(&text) {
        assert!(duration.as_secs_f64().is_finite());
    }
    if let Ok(fraction) = capplan::units::parse_fraction(&text) {
        assert!(
            (0.0..=1.0).contains(&fraction),
            "fraction {fraction} out of 0..=1"
        );
    }
}

pub fn scenario_toml(data: &[u8]) {
    let path = Path::new("fuzz.toml");
    if let Err(err) = capplan::loadtest::scenario::parse(path, &text(data)) {
        check_input_error(&err);
    }
}

pub fn policy_toml(data: &[u8]) {
    let path = Path::new("fuzz.toml");
    if let Err(err) = capplan::simulate::policy::Policy::parse(&text(data), path) {
        check_input_error(&err);
    }
}

/// Any `simulate --policy` document (TOML, AWS bundle, Kubernetes HPA, told apart
/// by content): an accepted one is a valid policy; a refusal is a tidy error.
pub fn policy_files(data: &[u8]) {
    let path = Path::new("fuzz.policy");
    match capplan::simulate::policy_import::parse_any(&text(data), path) {
        Err(err) => check_input_error(&err),
        Ok(imported) => {
            assert!(
                imported.policy.validate().is_ok(),
                "an accepted policy must validate: {:?}",
                imported.policy.validate()
            );
        }
    }
}

/// Traffic CSV: an accepted series has strictly increasing stamps and finite,
/// non-negative values; a refusal is a tidy error.
pub fn traffic_csv(data: &[u8]) {
    let first = data.first().copied().unwrap_or(0);
    let options = TrafficOptions {
        tz_offset: (first & 1 != 0).then_some(3600),
        fill_gaps: first & 2 != 0,
        accept_locust: first & 4 != 0,
        read_upper: first & 8 != 0,
    };
    let body = if data.is_empty() { data } else { &data[1..] };
    match capplan::formats::traffic::parse(&text(body), Path::new("fuzz.csv"), options) {
        Err(err) => check_input_error(&err),
        Ok(Traffic::Regular(series)) => {
            assert!(
                series.interval_seconds > 0,
                "interval {}",
                series.interval_seconds
            );
            assert!(!series.values.is_empty(), "an accepted series is empty");
            for v in &series.values {
                assert!(v.is_finite() && *v >= 0.0, "value {v}");
            }
            if let Some(upper) = &series.upper {
                assert_eq!(upper.len(), series.values.len());
                for v in upper {
                    assert!(v.is_finite(), "upper {v}");
                }
            }
        }
        Ok(Traffic::Locust(samples)) => {
            for pair in samples.rows.windows(2) {
                assert!(
                    pair[0].local < pair[1].local,
                    "stamps not strictly increasing"
                );
            }
            for row in &samples.rows {
                if let Some(v) = row.value {
                    assert!(v.is_finite() && v >= 0.0, "value {v}");
                }
                if let Some(v) = row.upper {
                    assert!(v.is_finite(), "upper {v}");
                }
            }
        }
    }
}

pub fn profile(data: &[u8]) {
    let path = Path::new("fuzz.json");
    if let Err(err) = capplan::formats::profile::CapacityProfile::parse(&text(data), path) {
        check_input_error(&err);
    }
}

/// Holidays: accepted dates are sorted and unique, or at least all present; errors tidy.
pub fn holidays(data: &[u8]) {
    let path = Path::new("fuzz.csv");
    match capplan::formats::holidays::parse_holidays(&text(data), path) {
        Err(err) => check_input_error(&err),
        Ok(days) => {
            for (_, name) in &days {
                assert!(!name.chars().any(|c| c == '\n'), "name with a line break");
            }
        }
    }
}

/// Shard directories (capplan merge): the input is the manifest, `seconds.jsonl` and
/// `latency.hlog`, separated by NUL bytes. An accepted shard has seconds 1, 2, 3...,
/// counts for every task, and histograms that decode within capplan's range.
pub fn shard_dir(data: &[u8]) {
    let text = text(data);
    let mut parts = text.splitn(3, '\0');
    let texts = capplan::formats::shard_dir::Texts {
        manifest: parts.next().unwrap_or(""),
        seconds: parts.next().unwrap_or(""),
        log: parts.next().unwrap_or(""),
    };
    let highest = capplan::loadtest::recorder::HIGHEST_US;
    match capplan::formats::shard_dir::parse(Path::new("shard"), texts, highest) {
        Err(err) => check_input_error(&err),
        Ok(shard) => {
            for (i, second) in shard.seconds.iter().enumerate() {
                assert_eq!(second.line.elapsed_s, i as u64 + 1, "seconds out of order");
                assert_eq!(second.line.tasks.len(), shard.manifest.tasks.len());
                for bytes in second.histograms.values() {
                    let h = capplan::formats::shard_dir::decode(bytes);
                    assert!(h.max() <= highest, "a histogram beyond capplan's range");
                }
            }
        }
    }
}

/// Load shapes: a shape file and `--stages` text. An accepted file has increasing
/// offsets and ends at 0; any shape built from it or from stages is non-negative,
/// lasts to its last offset, and its integral's inverse lands where the integral is.
pub fn load_shape(data: &[u8]) {
    use capplan::loadtest::shape::{shape_of_steps, Shape, ShapeKind, Stages, Step};
    fn check_shape(shape: &Shape) {
        let end = shape.duration();
        assert!(end.is_finite() && end > 0.0, "length {end}");
        for t in [0.0, end / 3.0, end / 2.0, end] {
            let v = shape.value_at(t);
            assert!(v.is_finite() && v >= 0.0, "value {v} at {t}");
        }
        let total = shape.total();
        if total.is_finite() && total > 0.0 {
            let t = shape
                .time_of_cumulative(total / 2.0)
                .expect("half the integral is reached");
            assert!(
                (0.0..=end).contains(&t),
                "half the integral at {t} of {end}"
            );
            let back = shape.cumulative_at(t);
            assert!(
                (back - total / 2.0).abs() <= 1e-6 * total.max(1.0),
                "cumulative {back} at the inverse of {}",
                total / 2.0
            );
            assert_eq!(shape.time_of_cumulative(total * 1.5 + 1.0), None);
        }
    }
    let text = text(data);
    match capplan::formats::shape::parse_shape(&text, Path::new("fuzz.csv")) {
        Err(err) => check_input_error(&err),
        Ok(file) => {
            assert!(file.rows.len() >= 2, "fewer than two rows accepted");
            for pair in file.rows.windows(2) {
                assert!(pair[1].offset > pair[0].offset, "offsets not increasing");
            }
            assert_eq!(file.rows.last().map(|r| r.value), Some(0.0));
            let steps: Vec<Step> = file
                .rows
                .iter()
                .map(|r| Step {
                    offset: r.offset,
                    value: r.value,
                    spawn_rate: r.spawn_rate,
                })
                .collect();
            if let Ok(shape) = shape_of_steps(ShapeKind::Rate, &steps) {
                check_shape(&shape);
                let last = file.rows.last().map_or(0.0, |r| r.offset);
                assert_eq!(shape.duration(), last, "the last offset ends the shape");
            }
        }
    }
    if let Ok(stages) = text.parse::<Stages>() {
        if let Ok(shape) = stages.shape(ShapeKind::Users) {
            check_shape(&shape);
        }
    }
}
