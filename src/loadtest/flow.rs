//! What a virtual user does per request beyond sending it: the scenario's dynamic
//! values rendered (templates, feeder rows, captured variables), its checks judged and
//! its captures taken. A [`Flow`] is built once per run from the plan; each user (or
//! open-model connection) keeps a [`UserState`]. A request without any of these is
//! sent as prepared, at no cost beyond a branch.
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::error::InputError;
use crate::loadtest::checks::{Capture, Exchange, Expect};
use crate::loadtest::client::{self, Failure, Keep, PreparedRequest, Reply, RequestBuilder};
use crate::loadtest::plan::Plan;
use crate::loadtest::result::CheckSummary;
use crate::loadtest::scenario::{FeederDef, FeederOrder, FeederPer};
use crate::loadtest::template::{Escape, Template, Values};

/// A request built anew for each send: its templates, compiled once.
struct DynamicRequest {
    method: String,
    path: Template,
    /// Every header (the scenario's, then the request's own), templated or not.
    headers: Vec<(String, Template)>,
    body: Template,
    content_type: Option<&'static str>,
    stats_id: usize,
    keep: Keep,
}

/// A request's checks and captures, and how often each held.
struct Judge {
    expect: Option<Expect>,
    captures: Vec<Capture>,
    /// The expect's tally, then each capture's.
    tallies: Vec<Tally>,
}

/// Passed and failed counts, shared by the generator threads.
#[derive(Default)]
struct Tally {
    passed: AtomicU64,
    failed: AtomicU64,
}

impl Tally {
    fn count<T, E>(&self, outcome: &Result<T, E>) {
        let counter = match outcome {
            Ok(_) => &self.passed,
            Err(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A feeder's rows and where the next one comes from.
struct Feeder {
    def: FeederDef,
    /// Rows handed out so far (sequential and unique orders).
    next: AtomicUsize,
}

impl Feeder {
    /// The next row for a user, or `None` when a unique feeder has none left.
    fn draw(&self, rng: &mut SmallRng) -> Option<usize> {
        let len = self.def.rows.rows.len();
        match self.def.order {
            FeederOrder::Sequential => Some(self.next.fetch_add(1, Ordering::Relaxed) % len),
            FeederOrder::Random => Some(rng.gen_range(0..len)),
            FeederOrder::Unique => {
                // Never past `len`, so the counter cannot wrap around to reuse rows.
                self.next
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        (n < len).then_some(n + 1)
                    })
                    .ok()
            }
        }
    }
}

/// The dynamic side of a run's requests, by endpoint index.
pub struct Flow {
    dynamic: Vec<Option<DynamicRequest>>,
    judges: Vec<Option<Judge>>,
    feeders: Vec<Feeder>,
    var_names: Vec<String>,
    builder: RequestBuilder,
    clock: fn() -> chrono::DateTime<chrono::Utc>,
}

/// One user's (or open-model connection's) variables, feeder rows and counters.
pub struct UserState {
    pub user: u32,
    /// Tasks started before the current one.
    pub iteration: u64,
    rng: SmallRng,
    vars: Vec<Option<String>>,
    /// The current row of each feeder.
    rows: Vec<Option<usize>>,
}

impl Flow {
    /// Compile the plan's dynamic requests, checks and captures (the scenario checked
    /// every template already; `-H` values are checked here).
    pub fn new(plan: &Plan) -> Result<Flow, InputError> {
        let builder = RequestBuilder::new(plan)?;
        let mut dynamic = Vec::with_capacity(plan.endpoints.len());
        let mut judges = Vec::with_capacity(plan.endpoints.len());
        for endpoint in &plan.endpoints {
            let def = &endpoint.def;
            let bad = |what: String| InputError::flag(format!("request '{}'", def.name), what);
            let compile =
                |text: &str, escape| Template::parse(text, escape, &plan.names).map_err(&bad);
            let path = compile(&def.path, Escape::Url)?;
            let mut headers = Vec::new();
            for (name, value) in plan.default_headers.iter().chain(&def.headers) {
                headers.push((name.clone(), compile(value, Escape::None)?));
            }
            let body_text = std::str::from_utf8(&def.body.bytes).ok();
            let body = match body_text {
                Some(text) => compile(text, def.body.escape())?,
                None => Template::parse("", Escape::None, &plan.names).map_err(bad)?,
            };
            let templated = !path.is_static()
                || headers.iter().any(|(_, t)| !t.is_static())
                || (body_text.is_some() && !body.is_static());
            dynamic.push(templated.then(|| DynamicRequest {
                method: def.method.clone(),
                path,
                headers,
                body,
                content_type: def.body.content_type,
                stats_id: endpoint.stats_id,
                keep: client::keep_for(def),
            }));
            let judged = def.expect.is_some() || !def.captures.is_empty();
            judges.push(judged.then(|| Judge {
                expect: def.expect.clone(),
                captures: def.captures.clone(),
                tallies: (0..=def.captures.len()).map(|_| Tally::default()).collect(),
            }));
        }
        Ok(Flow {
            dynamic,
            judges,
            feeders: plan
                .feeders
                .iter()
                .map(|def| Feeder {
                    def: def.clone(),
                    next: AtomicUsize::new(0),
                })
                .collect(),
            var_names: plan.names.vars.clone(),
            builder,
            clock: chrono::Utc::now,
        })
    }

    /// Requests go over HTTP/2 (known once the target is reached): only then is the
    /// HTTP/2 form of a request built per send.
    pub fn set_http2(&mut self, http2: bool) {
        self.builder.http2 = http2;
    }

    /// A new user's state; it draws its per-user feeder rows (`Err` when a unique
    /// feeder has none left: the user must stop).
    pub fn user(&self, user: u32, seed: u64) -> Result<UserState, Failure> {
        let mut state = UserState {
            user,
            iteration: 0,
            rng: SmallRng::seed_from_u64(seed ^ 0x5eed_f10e ^ u64::from(user) << 20),
            vars: vec![None; self.var_names.len()],
            rows: vec![None; self.feeders.len()],
        };
        self.draw(&mut state, true)?;
        Ok(state)
    }

    /// Before a task: per-iteration feeder rows are drawn anew (after the first task,
    /// which uses those drawn with the user).
    pub fn begin_task(&self, state: &mut UserState) -> Result<(), Failure> {
        if state.iteration > 0 {
            self.draw(state, false)?;
        }
        Ok(())
    }

    /// After a task.
    pub fn end_task(&self, state: &mut UserState) {
        state.iteration += 1;
    }

    fn draw(&self, state: &mut UserState, first: bool) -> Result<(), Failure> {
        for (i, feeder) in self.feeders.iter().enumerate() {
            if !first && feeder.def.per == FeederPer::User {
                continue;
            }
            match feeder.draw(&mut state.rng) {
                Some(row) => state.rows[i] = Some(row),
                None => {
                    return Err(Failure::FeederEmpty(format!(
                        "feeder '{}' has no unique row left (all {} handed out): the user stopped",
                        feeder.def.name,
                        feeder.def.rows.rows.len()
                    )))
                }
            }
        }
        Ok(())
    }

    /// The request to send for `endpoint`: the prepared one, or one built now from
    /// its templates and the user's values.
    pub fn request<'a>(
        &self,
        endpoint: usize,
        prepared: &'a [PreparedRequest],
        state: &mut UserState,
    ) -> Result<Cow<'a, PreparedRequest>, Failure> {
        let Some(dynamic) = &self.dynamic[endpoint] else {
            return Ok(Cow::Borrowed(&prepared[endpoint]));
        };
        let tables: [&[Vec<String>]; 4];
        let many: Vec<&[Vec<String>]>;
        let tables: &[&[Vec<String>]] = if self.feeders.len() <= 4 {
            // No allocation for the usual few feeders.
            tables = std::array::from_fn(|i| {
                self.feeders
                    .get(i)
                    .map_or(&[][..], |f| f.def.rows.rows.as_slice())
            });
            &tables[..self.feeders.len()]
        } else {
            many = self
                .feeders
                .iter()
                .map(|f| f.def.rows.rows.as_slice())
                .collect();
            &many
        };
        let mut values = Values {
            user: state.user,
            iteration: state.iteration,
            rng: &mut state.rng,
            clock: self.clock,
            vars: &state.vars,
            var_names: &self.var_names,
            rows: &state.rows,
            tables,
        };
        let mut path = String::with_capacity(64);
        dynamic
            .path
            .render(&mut values, &mut path)
            .map_err(Failure::Template)?;
        let mut header_values: Vec<(&str, Cow<str>)> = Vec::with_capacity(dynamic.headers.len());
        for (name, template) in &dynamic.headers {
            if let Some(text) = template.as_static() {
                header_values.push((name.as_str(), Cow::Borrowed(text)));
                continue;
            }
            // A header made of a capture not made yet is left out (the Authorization
            // of a login request itself), as Locust leaves a header unset until then.
            if template.vars().any(|slot| values.vars[slot].is_none()) {
                continue;
            }
            let mut value = String::new();
            template
                .render(&mut values, &mut value)
                .map_err(Failure::Template)?;
            header_values.push((name.as_str(), Cow::Owned(value)));
        }
        let mut body = String::new();
        dynamic
            .body
            .render(&mut values, &mut body)
            .map_err(Failure::Template)?;
        let mut request = self
            .builder
            .build(
                &dynamic.method,
                &path,
                header_values.iter().map(|(n, v)| (*n, v.as_ref())),
                Bytes::from(body),
                dynamic.content_type,
                dynamic.stats_id,
                true,
            )
            .map_err(Failure::Template)?;
        request.keep = dynamic.keep.clone();
        Ok(Cow::Owned(request))
    }

    /// The outcome as the reports count it: the request's checks judged and its
    /// captures taken (into the user's variables) on a response; its body size when
    /// it succeeded.
    pub fn judge(
        &self,
        endpoint: usize,
        state: &mut UserState,
        outcome: Result<Reply, Failure>,
    ) -> Result<u64, Failure> {
        let reply = outcome?;
        let Some(judge) = &self.judges[endpoint] else {
            return Ok(reply.body_bytes);
        };
        let mut exchange = Exchange::new(reply.status, &reply.body, &reply.headers);
        match &judge.expect {
            Some(expect) => {
                let verdict = expect.judge(&mut exchange);
                judge.tallies[0].count(&verdict);
                verdict.map_err(Failure::Check)?;
            }
            None if reply.status >= 400 => return Err(Failure::Status(reply.status)),
            None => {}
        }
        for (capture, tally) in judge.captures.iter().zip(&judge.tallies[1..]) {
            let value = capture.take(&mut exchange);
            tally.count(&value);
            state.vars[capture.slot] = Some(value.map_err(Failure::Capture)?);
        }
        Ok(reply.body_bytes)
    }

    /// Each request's checks and captures with how often they held, merged over
    /// requests that share a stats row (same method and name), in plan order.
    pub fn summaries(&self, plan: &Plan) -> Vec<CheckSummary> {
        let mut rows: Vec<(usize, CheckSummary)> = Vec::new();
        for (endpoint, judge) in self.judges.iter().enumerate() {
            let Some(judge) = judge else { continue };
            let stats_id = plan.endpoints[endpoint].stats_id;
            let (method, name) = &plan.stats_names[stats_id];
            let mut add = |kind: &'static str, what: String, tally: &Tally| {
                let (passed, failed) = (
                    tally.passed.load(Ordering::Relaxed),
                    tally.failed.load(Ordering::Relaxed),
                );
                match rows
                    .iter_mut()
                    .find(|(id, row)| *id == stats_id && row.kind == kind && row.what == what)
                {
                    Some((_, row)) => {
                        row.passed += passed;
                        row.failed += failed;
                    }
                    None => rows.push((
                        stats_id,
                        CheckSummary {
                            method: method.clone(),
                            name: name.clone(),
                            kind,
                            what,
                            passed,
                            failed,
                        },
                    )),
                }
            };
            if let Some(expect) = &judge.expect {
                add("check", expect.to_string(), &judge.tallies[0]);
            }
            for (capture, tally) in judge.captures.iter().zip(&judge.tallies[1..]) {
                add(
                    "capture",
                    format!("{}: {}", capture.name, capture.from),
                    tally,
                );
            }
        }
        rows.into_iter().map(|(_, row)| row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::feeder::FeederRows;
    use std::sync::Arc;

    fn feeder(order: FeederOrder, rows: usize) -> Feeder {
        Feeder {
            def: FeederDef {
                name: "f".into(),
                rows: Arc::new(FeederRows {
                    columns: vec!["c".into()],
                    rows: (0..rows).map(|i| vec![i.to_string()]).collect(),
                }),
                order,
                per: FeederPer::User,
            },
            next: AtomicUsize::new(0),
        }
    }

    #[test]
    fn feeders_hand_out_rows_in_their_order() {
        let mut rng = SmallRng::seed_from_u64(1);
        let sequential = feeder(FeederOrder::Sequential, 3);
        let drawn: Vec<_> = (0..5).map(|_| sequential.draw(&mut rng).unwrap()).collect();
        assert_eq!(drawn, [0, 1, 2, 0, 1]);
        let unique = feeder(FeederOrder::Unique, 2);
        assert_eq!(unique.draw(&mut rng), Some(0));
        assert_eq!(unique.draw(&mut rng), Some(1));
        assert_eq!(unique.draw(&mut rng), None);
        assert_eq!(unique.draw(&mut rng), None);
        let random = feeder(FeederOrder::Random, 4);
        assert!((0..50).all(|_| random.draw(&mut rng).unwrap() < 4));
        // Shards of a unique feeder share no row, and together hold them all.
        let def = feeder(FeederOrder::Unique, 10).def;
        let slices: Vec<FeederDef> = (0..3).map(|s| def.slice(s, 3).unwrap()).collect();
        let mut all: Vec<String> = slices
            .iter()
            .flat_map(|s| s.rows.rows.iter().map(|r| r[0].clone()))
            .collect();
        all.sort_by_key(|v| v.parse::<u32>().unwrap());
        assert_eq!(all, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
        assert_eq!(slices[1].rows.rows, [["1"], ["4"], ["7"]]);
        assert!(feeder(FeederOrder::Unique, 1).def.slice(1, 2).is_none());
    }
}
