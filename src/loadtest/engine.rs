//! The load engine: one current-thread runtime per generator thread, each running its
//! share of users (closed model) or connections (open model) and recording into its own
//! `Interval`, handed to the aggregator once a second.
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::loadtest::client::{
    Failure, HttpVersion, OpenLog, PreparedRequest, Session, SessionFactory,
};
use crate::loadtest::connector::Connector;
use crate::loadtest::flow::{Flow, UserState};
use crate::loadtest::idle_spin;
use crate::loadtest::pacer::Pacer;
use crate::loadtest::plan::Arrivals;
use crate::loadtest::plan::{LoadModel, Plan};
use crate::loadtest::recorder::Interval;
use crate::loadtest::scenario::WaitTime;
use crate::loadtest::shape::Shape;

/// A send leaving later than this after its intended time counts as late.
pub const LATE_TOLERANCE: Duration = Duration::from_millis(10);

/// `from` plus `seconds`, saturating at 30 years (beyond any run, see
/// `plan::MAX_DURATION`): the next send of `--rate 1e-300` is never, not a panic.
fn after(from: Instant, seconds: f64) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 86_400);
    from + Duration::try_from_secs_f64(seconds).map_or(FAR, |d| d.min(FAR))
}

/// What generator threads tell the aggregator.
#[allow(clippy::large_enum_variant)] // one Tick a second per thread: boxing buys nothing
pub enum Report {
    /// Second `second` (1-based, since the start) has ended on `thread`. The aggregator
    /// hands `interval` back, emptied, through the thread's recycle channel.
    Tick {
        thread: usize,
        second: u64,
        interval: Interval,
    },
    /// The thread stopped (its last tick is sent). `backlog`: open-model sends that fell
    /// due before the stop but never left.
    Done { backlog: u64 },
}

/// Shared, read-only context of a run.
pub struct RunShared {
    pub requests: Vec<PreparedRequest>,
    /// Each task's steps (request indexes), run in order.
    pub tasks: Vec<Vec<usize>>,
    /// Weighted tasks as (task index, cumulative weight).
    pub cumulative_weights: Vec<(usize, u64)>,
    pub on_start: Vec<usize>,
    /// Dynamic values, checks and captures of the requests.
    pub flow: Flow,
    pub wait_time: WaitTime,
    pub load: LoadModel,
    /// Users or rate over time (plan.rs); `None`: `load` holds for the whole run.
    pub shape: Option<Shape>,
    pub timeout: Duration,
    pub connector: Arc<Connector>,
    pub version: HttpVersion,
    /// HTTP/2 sessions per connection.
    pub streams: u32,
    pub new_connection_per_request: bool,
    pub stats_slots: usize,
    pub threads: usize,
    /// How long a thread spins before it sleeps, while its sleeps are short.
    pub idle_spin: Duration,
    pub seed: u64,
    /// Users currently running (closed model).
    pub active_users: AtomicU32,
    /// Users whose first request (or on_start) finished before the deadline: the
    /// others never got an answer, which the report must say.
    pub answered_users: AtomicU32,
}

impl RunShared {
    /// Pick a task by weight: its index in `tasks`.
    fn pick<R: Rng>(&self, rng: &mut R) -> usize {
        if self.cumulative_weights.len() == 1 {
            return self.cumulative_weights[0].0;
        }
        let total = self.cumulative_weights.last().map_or(1, |w| w.1);
        let ticket = rng.gen_range(0..total);
        let at = self
            .cumulative_weights
            .partition_point(|(_, upto)| *upto <= ticket);
        self.cumulative_weights[at].0
    }
}

pub fn shared_from_plan(
    plan: &Plan,
    requests: Vec<PreparedRequest>,
    mut flow: Flow,
    connector: Arc<Connector>,
    version: HttpVersion,
) -> RunShared {
    flow.set_http2(version == HttpVersion::Http2);
    let mut running = 0u64;
    let cumulative_weights = plan
        .tasks
        .iter()
        .enumerate()
        .map(|(task, (_, weight))| {
            running += *weight as u64;
            (task, running)
        })
        .collect();
    RunShared {
        requests,
        tasks: plan.tasks.iter().map(|(steps, _)| steps.clone()).collect(),
        cumulative_weights,
        on_start: plan.on_start.clone(),
        flow,
        wait_time: plan.wait_time,
        load: plan.load.clone(),
        shape: plan.shape.clone(),
        timeout: plan.timeout,
        connector,
        version,
        streams: match version {
            HttpVersion::Http1 => 1,
            HttpVersion::Http2 => plan.connection.streams,
        },
        new_connection_per_request: plan.connection.new_connection_per_request,
        stats_slots: plan.stats_names.len(),
        threads: plan.threads,
        idle_spin: plan.idle_spin(),
        seed: plan.seed,
        active_users: AtomicU32::new(0),
        answered_users: AtomicU32::new(0),
    }
}

/// Start the generator threads. Each stops by itself at `deadline`, right after its
/// last tick, or earlier when `stop` turns true (Ctrl-C).
pub fn start(
    shared: Arc<RunShared>,
    start: Instant,
    deadline: Instant,
    stop: watch::Receiver<bool>,
    reports: mpsc::UnboundedSender<Report>,
    mut recycled: Vec<std::sync::mpsc::Receiver<Interval>>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    assert_eq!(
        recycled.len(),
        shared.threads,
        "one recycle channel per thread"
    );
    recycled.reverse();
    (0..shared.threads)
        .map(|thread| {
            let recycled = recycled.pop().expect("one per thread");
            let shared = Arc::clone(&shared);
            let stop = stop.clone();
            let reports = reports.clone();
            std::thread::Builder::new()
                .name(format!("capplan-gen-{thread}"))
                .spawn(move || {
                    let spin = shared.idle_spin;
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .on_thread_park(idle_spin::on_park)
                        .on_thread_unpark(idle_spin::on_unpark)
                        .build()
                        .expect("a current-thread runtime can always be built");
                    idle_spin::enable(spin);
                    let local = tokio::task::LocalSet::new();
                    local.block_on(
                        &runtime,
                        generator_thread(thread, shared, start, deadline, stop, reports, recycled),
                    );
                })
        })
        .collect()
}

/// Per-thread state shared by the thread's tasks (single-threaded: no locks).
struct ThreadCtx {
    shared: Arc<RunShared>,
    interval: RefCell<Interval>,
    sessions: RefCell<SessionFactory>,
    opened: OpenLog,
    /// No request starts at or after the deadline.
    deadline: Instant,
    /// Requests in flight at the deadline get until here to finish (the grace).
    hard_end: Instant,
    /// Requests being exchanged now, and a wake-up when the last one of the
    /// grace period finishes.
    in_flight: Cell<u32>,
    drained: tokio::sync::Notify,
}

impl ThreadCtx {
    /// Move the connections opened so far into the interval.
    fn record_opened(&self) {
        let mut interval = self.interval.borrow_mut();
        for open in self.opened.borrow_mut().drain(..) {
            interval.connections.record(&open);
        }
    }
}

impl ThreadCtx {
    /// Send one request and record it. Latency counts from `intended` when the open
    /// model scheduled the send (its service time from `sent` is recorded too), else
    /// from `sent`.
    async fn exchange(
        &self,
        session: &mut Session,
        state: &mut UserState,
        request_index: usize,
        sent: Instant,
        intended: Option<Instant>,
    ) -> bool {
        if sent >= self.deadline {
            return false;
        }
        let flow = &self.shared.flow;
        let request = match flow.request(request_index, &self.shared.requests, state) {
            Ok(request) => request,
            Err(failure) => {
                // Not sent (a capture not made yet, say): a failure of its own kind.
                self.fail_unsent(request_index, failure).await;
                return true;
            }
        };
        // A request still in flight when the grace period ends is cut off there
        // and charged, so a stalled target cannot hide in the run's last seconds.
        let budget = self
            .shared
            .timeout
            .min(self.hard_end.saturating_duration_since(sent));
        self.in_flight.set(self.in_flight.get() + 1);
        let outcome = session.send(&request, budget).await;
        self.in_flight.set(self.in_flight.get() - 1);
        let done = Instant::now();
        if done >= self.deadline && self.in_flight.get() == 0 {
            self.drained.notify_one();
        }
        let outcome = match outcome {
            Err(Failure::Timeout) if budget < self.shared.timeout => Err(Failure::CutOff),
            other => flow.judge(request_index, state, other),
        };
        let failed_at_once = outcome.is_err() && done - sent < INSTANT_FAILURE;
        {
            let mut interval = self.interval.borrow_mut();
            interval.record(
                request.stats_id,
                done.into_std(),
                done - intended.unwrap_or(sent),
                outcome,
            );
            if intended.is_some() {
                interval.record_service(request.stats_id, done - sent);
            }
        }
        if failed_at_once {
            // A failure that never waited (EMFILE, a refused connect) would let a
            // user loop without an await point, starving the ticker, the deadline
            // and the signals on this thread: pause before the next try.
            tokio::time::sleep(INSTANT_FAILURE).await;
        }
        true
    }
}

impl ThreadCtx {
    /// Record a request that failed before it could be sent, and pause as after any
    /// failure that never waited.
    async fn fail_unsent(&self, request_index: usize, failure: Failure) {
        let stats_id = self.shared.requests[request_index].stats_id;
        let now = Instant::now();
        self.interval
            .borrow_mut()
            .record(stats_id, now.into_std(), Duration::ZERO, Err(failure));
        tokio::time::sleep(INSTANT_FAILURE).await;
    }

    /// A unique feeder had no row for this user, which stops: recorded, and the
    /// user no longer counts as running.
    async fn feeder_ran_dry(&self, request_index: usize, failure: Failure) {
        if matches!(self.shared.load, LoadModel::Closed { .. }) {
            self.shared.active_users.fetch_sub(1, Ordering::Relaxed);
        }
        self.fail_unsent(request_index, failure).await;
    }

    /// One task: its steps in order. The first is measured from `intended` when the
    /// open model scheduled it. False when the run is over for this user: the
    /// deadline passed, or a unique feeder ran dry.
    async fn task(
        &self,
        session: &mut Session,
        state: &mut UserState,
        task: usize,
        began: Instant,
        intended: Option<Instant>,
    ) -> bool {
        if began >= self.deadline {
            return false;
        }
        let steps = &self.shared.tasks[task];
        if let Err(failure) = self.shared.flow.begin_task(state) {
            self.feeder_ran_dry(steps[0], failure).await;
            return false;
        }
        for (i, &step) in steps.iter().enumerate() {
            let (sent, intended) = match i {
                0 => (began, intended),
                _ => (Instant::now(), None),
            };
            if !self.exchange(session, state, step, sent, intended).await {
                return false;
            }
        }
        self.shared.flow.end_task(state);
        true
    }
}

/// How long requests in flight at the deadline may still finish: the smaller of
/// `--timeout` and this.
pub const GRACE: Duration = Duration::from_secs(2);

/// A request that failed faster than this never waited on the network.
const INSTANT_FAILURE: Duration = Duration::from_millis(1);

async fn generator_thread(
    thread: usize,
    shared: Arc<RunShared>,
    start: Instant,
    deadline: Instant,
    mut stop: watch::Receiver<bool>,
    reports: mpsc::UnboundedSender<Report>,
    recycled: std::sync::mpsc::Receiver<Interval>,
) {
    let opened = OpenLog::default();
    let ctx = Rc::new(ThreadCtx {
        interval: RefCell::new(Interval::new(shared.stats_slots)),
        sessions: RefCell::new(SessionFactory::new(
            Arc::clone(&shared.connector),
            shared.version,
            shared.streams,
            shared.new_connection_per_request,
            Rc::clone(&opened),
        )),
        opened,
        deadline,
        hard_end: deadline + shared.timeout.min(GRACE),
        in_flight: Cell::new(0),
        drained: tokio::sync::Notify::new(),
        shared: Arc::clone(&shared),
    });
    let schedule: Option<Rc<Schedule>> = match shared.load {
        LoadModel::Open { rate, arrivals, .. } => Some(Rc::new(Schedule::new(
            start,
            Pace::of(rate, shared.shape.as_ref(), shared.threads),
            thread as f64 / shared.threads as f64,
            arrivals,
            shared.seed.wrapping_add(thread as u64 * 7919),
        ))),
        LoadModel::Closed { .. } => None,
    };

    // Seconds end at start + k s; the last one at the deadline, after which the thread
    // stops, so every request completed before the deadline is in a tick.
    let current_second = Rc::new(Cell::new(1u64));
    let ticker = {
        let ctx = Rc::clone(&ctx);
        let reports = reports.clone();
        let current_second = Rc::clone(&current_second);
        let schedule = schedule.clone();
        tokio::task::spawn_local(async move {
            loop {
                let second = current_second.get();
                let boundary = (start + Duration::from_secs(second)).min(deadline);
                tokio::time::sleep_until(boundary).await;
                if boundary >= deadline {
                    // The last second also holds what finishes in the grace
                    // period, what is cut off at its end, and the unsent sends.
                    finish_at_deadline(&ctx, schedule.as_deref()).await;
                }
                ctx.record_opened();
                // Reuse an interval the aggregator has emptied: memory stays flat.
                let fresh = recycled
                    .try_recv()
                    .unwrap_or_else(|_| Interval::new(ctx.shared.stats_slots));
                let interval = std::mem::replace(&mut *ctx.interval.borrow_mut(), fresh);
                let _ = reports.send(Report::Tick {
                    thread,
                    second,
                    interval,
                });
                if boundary >= deadline {
                    break;
                }
                current_second.set(second + 1);
            }
        })
    };

    let mut tasks = Vec::new();
    match shared.load.clone() {
        LoadModel::Closed { users, spawn_rate } => {
            // Users i, i+T, i+2T, ... belong to thread i; user u starts at u / spawn_rate,
            // or, under a users shape, whenever the shape is at least u + 1.
            for user in (thread as u32..users).step_by(shared.threads) {
                let ctx = Rc::clone(&ctx);
                if shared.shape.is_some() {
                    tasks.push(tokio::task::spawn_local(run_shaped_user(ctx, user, start)));
                    continue;
                }
                let at = after(start, user as f64 / spawn_rate);
                tasks.push(tokio::task::spawn_local(async move {
                    tokio::time::sleep_until(at).await;
                    ctx.shared.active_users.fetch_add(1, Ordering::Relaxed);
                    run_user(ctx, user, None).await;
                }));
            }
        }
        LoadModel::Open { connections, .. } => {
            let threads = shared.threads as u32;
            let my_connections =
                connections / threads + u32::from((thread as u32) < connections % threads);
            let thread_schedule = Rc::clone(schedule.as_ref().expect("the open model has one"));
            // Each connection carries `streams` requests at once (HTTP/2), one otherwise.
            let per_thread = my_connections.max(1) * shared.streams;
            let pacer = Rc::new(Pacer::for_this_thread());
            tasks.push(tokio::task::spawn_local({
                let pacer = Rc::clone(&pacer);
                async move { pacer.drive().await }
            }));
            for connection in 0..per_thread {
                let ctx = Rc::clone(&ctx);
                let schedule = Rc::clone(&thread_schedule);
                let pacer = Rc::clone(&pacer);
                let seed = shared.seed ^ ((thread as u64) << 32 | connection as u64);
                // `{{user}}` of this connection: unique across the threads.
                let index = connection * threads + thread as u32;
                tasks.push(tokio::task::spawn_local(run_connection(
                    ctx, schedule, pacer, seed, index,
                )));
            }
        }
    }

    let interrupted = tokio::select! {
        _ = ticker => false,
        _ = stop.wait_for(|stopped| *stopped) => true,
    };
    let stopped = Instant::now();
    for task in tasks {
        if !task.is_finished() {
            task.abort();
        } else if let Err(e) = task.await {
            // Users and connections loop until aborted: one that ended by a panic is
            // a bug, which must fail the run rather than pass for fewer requests.
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
    if interrupted {
        // Ctrl-C: what this second recorded so far is its (partial) last tick.
        ctx.record_opened();
        let interval = std::mem::replace(&mut *ctx.interval.borrow_mut(), Interval::new(0));
        let second = current_second.get();
        let _ = reports.send(Report::Tick {
            thread,
            second,
            interval,
        });
    }
    let mut backlog = 0;
    if let Some(schedule) = schedule {
        // Stopped early (a signal): intended sends that fell due but never left.
        // At the deadline they were charged in the last second already.
        while schedule.claim() < stopped.min(deadline) {
            backlog += 1;
        }
    }
    let _ = reports.send(Report::Done { backlog });
}

/// A user of a users shape: it runs while the shape is at least `user + 1`, and stops
/// between tasks when the shape falls below; when the shape comes back up it starts
/// again as a new user (a new session, on_start again), as Locust starts new users.
async fn run_shaped_user(ctx: Rc<ThreadCtx>, user: u32, start: Instant) {
    let shared = Arc::clone(&ctx.shared);
    let shape = shared.shape.as_ref().expect("a shaped user has a shape");
    let level = f64::from(user) + 1.0;
    let mut from = 0.0;
    while let Some(on) = shape.next_at_least(level, from) {
        let begin = after(start, on);
        if begin >= ctx.deadline {
            return;
        }
        tokio::time::sleep_until(begin).await;
        let off = shape.next_below(level, on);
        shared.active_users.fetch_add(1, Ordering::Relaxed);
        run_user(Rc::clone(&ctx), user, off.map(|t| after(start, t))).await;
        if Instant::now() >= ctx.deadline {
            // Stopped by the end of the run, not the shape: it counts to the last second.
            return;
        }
        shared.active_users.fetch_sub(1, Ordering::Relaxed);
        match off {
            // At least a microsecond on, so rounding at a crossing cannot loop.
            Some(t) => from = t.max(from) + 1e-6,
            None => return,
        }
    }
}

/// A Locust user: on_start once, then weighted tasks with waits, until the run ends
/// or, between tasks, `stop_at` (a users shape ramping down) has come.
async fn run_user(ctx: Rc<ThreadCtx>, user: u32, stop_at: Option<Instant>) {
    let stopping = |now: Instant| stop_at.is_some_and(|at| now >= at);
    if stopping(Instant::now()) {
        return;
    }
    let shared = &ctx.shared;
    let mut rng =
        SmallRng::seed_from_u64(shared.seed ^ (user as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut session: Session = ctx.sessions.borrow_mut().session();
    let mut state = match shared.flow.user(user, shared.seed) {
        Ok(state) => state,
        Err(failure) => {
            let first = shared.on_start.first().copied();
            let first = first.unwrap_or_else(|| shared.tasks[shared.pick(&mut rng)][0]);
            ctx.feeder_ran_dry(first, failure).await;
            return;
        }
    };
    let mut answered = false;
    let mut mark_answered = |ctx: &ThreadCtx| {
        if !answered && Instant::now() < ctx.deadline {
            answered = true;
            ctx.shared.answered_users.fetch_add(1, Ordering::Relaxed);
        }
    };
    for &request in &shared.on_start {
        if !ctx
            .exchange(&mut session, &mut state, request, Instant::now(), None)
            .await
        {
            return;
        }
        mark_answered(&ctx);
    }
    loop {
        let began = Instant::now();
        if stopping(began) {
            return;
        }
        let task = shared.pick(&mut rng);
        if !ctx.task(&mut session, &mut state, task, began, None).await {
            return;
        }
        mark_answered(&ctx);
        let resume = match shared.wait_time {
            WaitTime::None => None,
            // Saturating, as tokio's sleep was: `constant = "1e15s"` waits, not panics.
            WaitTime::Constant(pause) => Some(after(Instant::now(), pause.as_secs_f64())),
            WaitTime::Between(low, high) => {
                let pause = rng.gen_range(low.as_secs_f64()..=high.as_secs_f64());
                Some(after(Instant::now(), pause))
            }
            WaitTime::ConstantThroughput(per_second) => Some(after(began, 1.0 / per_second)),
        };
        if let Some(resume) = resume {
            // A user told to stop does not sit out its wait.
            tokio::time::sleep_until(stop_at.map_or(resume, |stop| stop.min(resume))).await;
        }
    }
}

/// One thread's rate: constant, or its share of a rate shape.
enum Pace {
    Constant(f64),
    Shaped(Shape),
}

impl Pace {
    /// The pace of one of `threads` threads.
    fn of(rate: f64, shape: Option<&Shape>, threads: usize) -> Pace {
        match shape {
            Some(shape) => Pace::Shaped(shape.scaled(1.0 / threads as f64)),
            None => Pace::Constant(rate / threads as f64),
        }
    }
}

/// Intended send times of one thread: evenly spaced or Poisson. Under a rate shape the
/// n-th send falls due when the shape's integral reaches n (uniform), or the sum of n
/// exponential gaps of mean 1 (a non-homogeneous Poisson process, by time rescaling).
struct Schedule {
    next_index: Cell<u64>,
    start: Instant,
    pace: Pace,
    /// Fraction of a gap by which this thread's uniform schedule is shifted, so threads interleave.
    phase: f64,
    poisson: Option<RefCell<Poisson>>,
}

/// Poisson arrivals: the last send (constant rate) or the integral reached (shaped),
/// the draws and the gap distribution.
type Poisson = (Instant, f64, SmallRng, Exp<f64>);

impl Schedule {
    fn new(start: Instant, pace: Pace, phase: f64, arrivals: Arrivals, seed: u64) -> Schedule {
        let mean_gap_of = match pace {
            Pace::Constant(rate) => rate,
            Pace::Shaped(_) => 1.0,
        };
        let poisson = match arrivals {
            Arrivals::Uniform => None,
            Arrivals::Poisson => Some(RefCell::new((
                start,
                0.0,
                SmallRng::seed_from_u64(seed),
                Exp::new(mean_gap_of).expect("rate is validated positive"),
            ))),
        };
        Schedule {
            next_index: Cell::new(0),
            start,
            pace,
            phase,
            poisson,
        }
    }

    /// The next intended send time; each is handed out once. Past the end of a shape,
    /// never (30 years on).
    fn claim(&self) -> Instant {
        match (&self.pace, &self.poisson) {
            (Pace::Constant(rate), None) => {
                let n = self.next_index.get();
                self.next_index.set(n + 1);
                after(self.start, (n as f64 + self.phase) / rate)
            }
            (Pace::Constant(_), Some(state)) => {
                let mut state = state.borrow_mut();
                let (next, _, rng, exp) = &mut *state;
                let gap = exp.sample(rng);
                *next = after(*next, gap);
                *next
            }
            (Pace::Shaped(shape), None) => {
                let n = self.next_index.get();
                self.next_index.set(n + 1);
                self.when_due(shape, n as f64 + self.phase)
            }
            (Pace::Shaped(shape), Some(state)) => {
                let mut state = state.borrow_mut();
                let (_, amount, rng, exp) = &mut *state;
                *amount += exp.sample(rng);
                self.when_due(shape, *amount)
            }
        }
    }

    /// When the shape's integral reaches `amount`.
    fn when_due(&self, shape: &Shape, amount: f64) -> Instant {
        let at = shape.time_of_cumulative(amount).unwrap_or(f64::INFINITY);
        after(self.start, at)
    }
}

/// An open-model connection: claims the next intended time, sends at (or after) it, and
/// measures latency from the intended time, so a stalled server is not hidden.
async fn run_connection(
    ctx: Rc<ThreadCtx>,
    schedule: Rc<Schedule>,
    pacer: Rc<Pacer>,
    seed: u64,
    index: u32,
) {
    let shared = &ctx.shared;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut session: Session = ctx.sessions.borrow_mut().session();
    let mut state = match shared.flow.user(index, shared.seed) {
        Ok(state) => state,
        Err(failure) => {
            let first = shared.tasks[shared.pick(&mut rng)][0];
            ctx.fail_unsent(first, failure).await;
            return;
        }
    };
    loop {
        let intended = schedule.claim();
        if intended >= ctx.deadline {
            return;
        }
        let task = shared.pick(&mut rng);
        let claimed = Instant::now();
        if claimed >= ctx.deadline {
            // Due before the end, but this connection came free only in the grace.
            let stats_id = shared.requests[shared.tasks[task][0]].stats_id;
            ctx.interval.borrow_mut().record_unsent(
                stats_id,
                ctx.deadline.into_std(),
                ctx.deadline - intended,
            );
            return;
        }
        if intended > claimed {
            // Not tokio's timer: it would send up to 2 ms late, and that lag would be
            // in the latency, which counts from `intended`.
            pacer.sleep_until(intended).await;
        }
        let sent = Instant::now();
        ctx.interval.borrow_mut().record_send(
            sent.saturating_duration_since(intended),
            LATE_TOLERANCE,
            claimed.saturating_duration_since(intended) > LATE_TOLERANCE,
        );
        if !ctx
            .task(&mut session, &mut state, task, sent, Some(intended))
            .await
        {
            return;
        }
    }
}

/// At the deadline: let the requests in flight finish until the grace ends
/// (those still out are then cut off by their own budget), and charge the open
/// model's sends that fell due but never left.
async fn finish_at_deadline(ctx: &ThreadCtx, schedule: Option<&Schedule>) {
    if ctx.in_flight.get() > 0 {
        // The budget cuts every request at `hard_end`; the margin lets them record.
        let bound = ctx.hard_end + Duration::from_millis(100);
        tokio::select! {
            _ = ctx.drained.notified() => {}
            _ = tokio::time::sleep_until(bound) => {}
        }
    }
    if let Some(schedule) = schedule {
        let mut rng = SmallRng::seed_from_u64(ctx.shared.seed ^ 0x756e_7365_6e74);
        let mut interval = ctx.interval.borrow_mut();
        loop {
            let intended = schedule.claim();
            if intended >= ctx.deadline {
                break;
            }
            let task = &ctx.shared.tasks[ctx.shared.pick(&mut rng)];
            let request = &ctx.shared.requests[task[0]];
            interval.record_unsent(
                request.stats_id,
                ctx.deadline.into_std(),
                ctx.deadline - intended,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_no_run_reaches_saturate_instead_of_panicking() {
        let now = Instant::now();
        let far = Duration::from_secs(30 * 365 * 86_400);
        assert_eq!(after(now, 1.5), now + Duration::from_millis(1500));
        assert_eq!(after(now, 1e300), now + far);
        assert_eq!(after(now, f64::INFINITY), now + far);
        // --rate 1e-300: the next send is never (uniform: the first is at the start).
        let uniform = Schedule::new(now, Pace::Constant(1e-300), 0.0, Arrivals::Uniform, 1);
        assert_eq!(uniform.claim(), now);
        assert_eq!(uniform.claim(), now + far);
        let poisson = Schedule::new(now, Pace::Constant(1e-300), 0.0, Arrivals::Poisson, 1);
        assert_eq!(poisson.claim(), now + far);
        assert!(poisson.claim() > now + far);
    }

    #[test]
    fn a_shaped_schedule_sends_the_shapes_integral_in_order() {
        use crate::loadtest::shape::{ShapeKind, Stages};
        let now = Instant::now();
        let end = now + Duration::from_secs(4);
        // Up to 100/s over 2 s and down again: 200 sends due.
        let stages: Stages = "2s:100,2s:0".parse().unwrap();
        let shape = stages.shape(ShapeKind::Rate).unwrap();
        let sends_before_end = |schedule: Schedule| {
            let (mut count, mut last, mut first_half) = (0, now, 0);
            loop {
                let t = schedule.claim();
                if t >= end {
                    return (count, first_half);
                }
                assert!(t >= last, "intended times never go back");
                last = t;
                count += 1;
                first_half += usize::from(t < now + Duration::from_secs(1));
            }
        };
        let uniform = Schedule::new(now, Pace::Shaped(shape.clone()), 0.0, Arrivals::Uniform, 1);
        // 25 of them in the first second (the ramp's integral), 200 in all.
        assert_eq!(sends_before_end(uniform), (200, 25));
        // Poisson: the count is random around 200 (sd 14); the seed fixes it.
        let poisson = Schedule::new(now, Pace::Shaped(shape), 0.0, Arrivals::Poisson, 7);
        let (count, _) = sends_before_end(poisson);
        assert!((200 - 45..=200 + 45).contains(&count), "{count}");
    }
}
