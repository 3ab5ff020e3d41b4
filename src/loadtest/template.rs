//! Dynamic values of a scenario (`{{user}}`, `{{iteration}}`, `{{random_int(1, 10)}}`,
//! `{{uuid}}`, `{{now}}`, `{{feeder.column}}`, `{{capture}}`): parsed once, when the
//! scenario is read, into a [`Template`] whose names are resolved to slots; rendered per
//! request from a user's [`Values`]. Pure: the clock and the random numbers come from
//! the caller.
use chrono::{DateTime, SecondsFormat, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rand::rngs::SmallRng;
use rand::Rng;

/// How a value is written into the text around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// As is (headers, raw bodies).
    None,
    /// Percent-encoded, every byte but RFC 3986's unreserved ones (paths and queries).
    Url,
    /// Escaped as the inside of a JSON string (`json` bodies).
    Json,
}

/// Bytes a path value keeps as they are: RFC 3986's unreserved characters.
const URL_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One `{{...}}`, its names resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// The virtual user's index (0-based; the connection's in the open model).
    User,
    /// Tasks this user started before the current one (0-based).
    Iteration,
    /// A random (version 4) UUID.
    Uuid,
    /// The current time, RFC 3339 in UTC with milliseconds.
    Now,
    /// A whole number drawn uniformly from `low..=high`.
    RandomInt(i64, i64),
    /// A captured variable: its slot.
    Var(usize),
    /// A feeder's column: (feeder, column).
    Column(usize, usize),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Value(Expr),
}

/// A text with dynamic values, ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
    escape: Escape,
}

/// The names a scenario defines: capture variables and feeders with their columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Names {
    pub vars: Vec<String>,
    /// (feeder name, its columns).
    pub feeders: Vec<(String, Vec<String>)>,
}

/// Built-in names, as the error for an unknown one lists them.
pub const BUILTINS: &str = "user, iteration, uuid, now, random_int(a, b)";

impl Names {
    fn resolve(&self, expr: &str) -> Result<Expr, String> {
        match expr {
            "user" => return Ok(Expr::User),
            "iteration" => return Ok(Expr::Iteration),
            "uuid" => return Ok(Expr::Uuid),
            "now" => return Ok(Expr::Now),
            _ => {}
        }
        if let Some(args) = expr
            .strip_prefix("random_int")
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix('('))
        {
            let args = args.strip_suffix(')').ok_or_else(|| {
                format!("'{{{{{expr}}}}}': random_int takes two whole numbers: random_int(1, 100)")
            })?;
            let bounds: Vec<Option<i64>> = args.split(',').map(|a| a.trim().parse().ok()).collect();
            return match bounds[..] {
                [Some(low), Some(high)] if low <= high => Ok(Expr::RandomInt(low, high)),
                [Some(_), Some(_)] => Err(format!(
                    "'{{{{{expr}}}}}': the low bound is larger than the high one"
                )),
                _ => Err(format!(
                    "'{{{{{expr}}}}}': random_int takes two whole numbers: random_int(1, 100)"
                )),
            };
        }
        if let Some((feeder, column)) = expr.split_once('.') {
            let Some(f) = self.feeders.iter().position(|(name, _)| name == feeder) else {
                return Err(format!(
                    "'{{{{{expr}}}}}': there is no feeder '{feeder}' (feeders: {})",
                    self.feeder_list()
                ));
            };
            let columns = &self.feeders[f].1;
            return match columns.iter().position(|c| c == column) {
                Some(c) => Ok(Expr::Column(f, c)),
                None => Err(format!(
                    "'{{{{{expr}}}}}': feeder '{feeder}' has no column '{column}' (its columns: {})",
                    columns.join(", ")
                )),
            };
        }
        match self.vars.iter().position(|v| v == expr) {
            Some(slot) => Ok(Expr::Var(slot)),
            None => Err(format!(
                "'{{{{{expr}}}}}' is neither a built-in ({BUILTINS}), a feeder column \
                 (feeder.column) nor a capture of this scenario{}",
                if self.vars.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", self.vars.join(", "))
                }
            )),
        }
    }

    fn feeder_list(&self) -> String {
        if self.feeders.is_empty() {
            return "none".into();
        }
        let names: Vec<&str> = self.feeders.iter().map(|(n, _)| n.as_str()).collect();
        names.join(", ")
    }
}

impl Template {
    /// Parse `text`; every `{{` opens a value that `}}` closes.
    pub fn parse(text: &str, escape: Escape, names: &Names) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| {
                format!(
                    "'{{{{' at '{}' is never closed by '}}}}'",
                    cut(&rest[open..])
                )
            })?;
            let expr = after[..close].trim();
            if expr.is_empty() {
                return Err("'{{}}' is empty: name a value, e.g. {{user}}".into());
            }
            parts.push(Part::Value(names.resolve(expr)?));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template { parts, escape })
    }

    /// A template without any `{{...}}`: its text is sent as it is.
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// The text of a template without values, as is.
    pub fn as_static(&self) -> Option<&str> {
        match &self.parts[..] {
            [] => Some(""),
            [Part::Literal(text)] => Some(text),
            _ => None,
        }
    }

    /// The literal text with every value left out (for checks made before any run).
    pub fn skeleton(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Literal(text) => Some(text.as_str()),
                Part::Value(_) => None,
            })
            .collect()
    }

    /// The captures this template reads.
    pub fn vars(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Value(Expr::Var(slot)) => Some(*slot),
            _ => None,
        })
    }

    /// The feeders this template reads.
    pub fn feeders(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Value(Expr::Column(f, _)) => Some(*f),
            _ => None,
        })
    }

    /// Append the rendered text to `out`; fails on a capture without a value yet.
    pub fn render(&self, values: &mut Values<'_>, out: &mut String) -> Result<(), String> {
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Value(expr) => {
                    let mut buffer = String::new();
                    let value: &str = match expr {
                        Expr::User => fmt_int(&mut buffer, values.user as i64),
                        Expr::Iteration => fmt_int(&mut buffer, values.iteration as i64),
                        Expr::RandomInt(low, high) => {
                            fmt_int(&mut buffer, values.rng.gen_range(*low..=*high))
                        }
                        Expr::Uuid => {
                            let bytes: [u8; 16] = values.rng.gen();
                            let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
                            out.push_str(
                                id.hyphenated()
                                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
                            );
                            continue;
                        }
                        Expr::Now => {
                            let now = (values.clock)().to_rfc3339_opts(SecondsFormat::Millis, true);
                            out.push_str(&now);
                            continue;
                        }
                        Expr::Var(slot) => values.vars[*slot].as_deref().ok_or_else(|| {
                            format!(
                                "{{{{{}}}}} has no value: its capture has not succeeded yet",
                                values.var_names[*slot]
                            )
                        })?,
                        Expr::Column(f, c) => match values.rows[*f] {
                            Some(row) => values.tables[*f][row][*c].as_str(),
                            None => return Err("a feeder has no row for this user".into()),
                        },
                    };
                    self.write(value, out);
                }
            }
        }
        Ok(())
    }

    fn write(&self, value: &str, out: &mut String) {
        match self.escape {
            Escape::None => out.push_str(value),
            Escape::Url => out.extend(utf8_percent_encode(value, URL_ESCAPED)),
            Escape::Json => {
                let quoted = serde_json::Value::from(value).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
        }
    }
}

/// What a template's values come from, for one user at one moment.
pub struct Values<'a> {
    pub user: u32,
    pub iteration: u64,
    pub rng: &'a mut SmallRng,
    pub clock: fn() -> DateTime<Utc>,
    /// The user's captured variables by slot, and their names (for errors).
    pub vars: &'a [Option<String>],
    pub var_names: &'a [String],
    /// The user's current row of each feeder, and the feeders' rows.
    pub rows: &'a [Option<usize>],
    pub tables: &'a [&'a [Vec<String>]],
}

fn fmt_int(buffer: &mut String, n: i64) -> &str {
    use std::fmt::Write;
    let _ = write!(buffer, "{n}");
    buffer.as_str()
}

/// A short quote of the rest of a text, for errors.
fn cut(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn names() -> Names {
        Names {
            vars: vec!["token".into()],
            feeders: vec![("accounts".into(), vec!["email".into(), "password".into()])],
        }
    }

    fn fixed_clock() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 123_000_000).unwrap()
    }

    fn render(template: &Template, vars: &[Option<String>]) -> Result<String, String> {
        let mut rng = SmallRng::seed_from_u64(1);
        let table = [vec!["a b@x.org".to_string(), "p\"w".to_string()]];
        let tables = [&table[..]];
        let rows = [Some(0)];
        let mut values = Values {
            user: 7,
            iteration: 3,
            rng: &mut rng,
            clock: fixed_clock,
            vars,
            var_names: &["token".to_string()],
            rows: &rows,
            tables: &tables,
        };
        let mut out = String::new();
        template.render(&mut values, &mut out)?;
        Ok(out)
    }

    #[test]
    fn values_render_with_their_escaping() {
        let n = names();
        let path = Template::parse(
            "/u/{{user}}/{{ iteration }}?e={{accounts.email}}",
            Escape::Url,
            &n,
        )
        .unwrap();
        assert!(!path.is_static());
        assert_eq!(path.skeleton(), "/u//?e=");
        assert_eq!(render(&path, &[None]).unwrap(), "/u/7/3?e=a%20b%40x.org");
        let json = Template::parse(r#"{"p":"{{accounts.password}}"}"#, Escape::Json, &n).unwrap();
        assert_eq!(render(&json, &[None]).unwrap(), r#"{"p":"p\"w"}"#);
        let header = Template::parse("Bearer {{token}}", Escape::None, &n).unwrap();
        assert_eq!(
            render(&header, &[Some("abc".into())]).unwrap(),
            "Bearer abc"
        );
        let e = render(&header, &[None]).unwrap_err();
        assert!(e.contains("{{token}} has no value"), "{e}");
        let now = Template::parse("{{now}}", Escape::None, &n).unwrap();
        assert_eq!(render(&now, &[None]).unwrap(), "2023-11-14T22:13:20.123Z");
        let random = Template::parse("{{random_int(5, 6)}}", Escape::None, &n).unwrap();
        for _ in 0..20 {
            let v: i64 = render(&random, &[None]).unwrap().parse().unwrap();
            assert!((5..=6).contains(&v));
        }
        let id = Template::parse("{{uuid}}", Escape::None, &n).unwrap();
        let id = render(&id, &[None]).unwrap();
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert!(Template::parse("/plain", Escape::Url, &n)
            .unwrap()
            .is_static());
    }

    #[test]
    fn unknown_names_and_bad_syntax_are_errors() {
        let n = names();
        let err = |text: &str| Template::parse(text, Escape::None, &n).unwrap_err();
        assert!(
            err("{{tokn}}").contains("neither a built-in"),
            "{}",
            err("{{tokn}}")
        );
        assert!(err("{{tokn}}").contains("(token)"));
        assert!(err("{{users.email}}").contains("no feeder 'users'"));
        assert!(err("{{accounts.mail}}").contains("columns: email, password"));
        assert!(err("{{random_int(9, 1)}}").contains("larger"));
        assert!(err("{{random_int(a, 1)}}").contains("two whole numbers"));
        assert!(err("/x/{{user").contains("never closed"));
        assert!(err("{{ }}").contains("empty"));
    }
}
