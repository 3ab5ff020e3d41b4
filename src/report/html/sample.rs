//! Results made by the real cores from small synthetic inputs, for the renderers' tests.
use std::time::Duration;

use chrono::{FixedOffset, TimeZone, Utc};

use crate::forecast::holidays::HolidayCalendar;
use crate::forecast::ingest::IngestReport;
use crate::forecast::result::ForecastResult;
use crate::forecast::series::HourlySeries;
use crate::loadtest::aggregator::{Aggregator, WallClock};
use crate::loadtest::client::{Failure, HttpVersion};
use crate::loadtest::recorder::Interval;
use crate::loadtest::result::{GeneratorReport, ProtocolReport, RunResult, ThresholdResult};
use crate::simulate::engine::{self, RunOptions, WorkerCapacity, Workload};
use crate::simulate::latency::{LatencyModel, LatencyReport};
use crate::simulate::policy::Policy;
use crate::simulate::{SimulateOutput, Timing};

/// A 20-second closed-model run, 1% failures, through the aggregator.
pub fn load_result() -> RunResult {
    let names = vec![
        ("GET".to_string(), "/".to_string()),
        ("POST".to_string(), "/api/order".to_string()),
    ];
    let mut agg = Aggregator::new(names, 1, 1_700_000_000, 0);
    let clock = WallClock {
        start: std::time::Instant::now(),
        wall: std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    };
    let mut history = Vec::new();
    for second in 1..=20u64 {
        let mut interval = Interval::new(2);
        for i in 0..100u64 {
            let ms = 5 + (i * i * second) % 97;
            let outcome = if i == 0 {
                Err(Failure::Status(500))
            } else {
                Ok(512)
            };
            let ended = clock.start + Duration::from_millis(1_000 * second - 100 + i);
            interval.record((i % 2) as usize, ended, Duration::from_millis(ms), outcome);
        }
        let done = agg.add_tick(second, &interval, 10).expect("one thread");
        history.push(done.row);
    }
    let totals = agg.finish(20.0, &clock);
    let a = totals.aggregate;
    RunResult {
        shape: None,
        version: crate::loadtest::result::JSON_VERSION,
        target: "http://127.0.0.1:8080".into(),
        started_at: "2026-11-25T03:00:00+00:00".into(),
        model: "closed".into(),
        users: Some(10),
        duration_s: 20.0,
        interrupted: false,
        requests: a.requests,
        failures: a.failures,
        error_rate: a.failures as f64 / a.requests as f64,
        rps: a.rps,
        latency_ms: a.latency_ms,
        service_time_ms: None,
        rate_achieved: None,
        rate: None,
        protocol: ProtocolReport::new(HttpVersion::Http1, &totals.connections),
        generator: GeneratorReport {
            threads: 1,
            max_cpu_percent: 12.0,
            saturated_seconds: 0,
        },
        warnings: vec!["a <warning>".into()],
        tasks: totals.endpoints,
        aggregate: a,
        errors: totals.failures,
        checks: Vec::new(),
        thresholds: vec![ThresholdResult {
            expr: "p95<300ms".into(),
            value: 90.0,
            passed: true,
        }],
        history,
    }
}

/// Five weeks of hourly traffic with a daily shape, starting on a Monday, 4 July inside.
pub fn series() -> HourlySeries {
    let offset = FixedOffset::east_opt(0).unwrap();
    let start = offset.with_ymd_and_hms(2024, 6, 10, 0, 0, 0).unwrap();
    let rps = (0..35 * 24)
        .map(|h| 50.0 + 40.0 * ((h % 24) as f64 / 24.0 * std::f64::consts::TAU).sin().abs())
        .collect();
    HourlySeries {
        offset,
        start_hour: start.timestamp() / 3600,
        rps,
    }
}

/// The forecast of [`series`] with a pre-warm schedule, and its calendar.
pub fn forecast_result() -> (HourlySeries, HolidayCalendar, ForecastResult) {
    let series = series();
    let calendar = HolidayCalendar::us_federal(2024..=2024);
    let settings = crate::forecast::Settings {
        horizon_hours: 48,
        backtest_weeks: 1,
        interval: 0.9,
        multiplicative: false,
        holidays: true,
        rps_per_instance: Some(30.0),
        lead: chrono::Duration::minutes(10),
    };
    let ingest = IngestReport::hourly(series.len());
    let result = crate::forecast::forecast(&series, &calendar, &settings, ingest).unwrap();
    (series, calendar, result)
}

/// A day of 1-minute steps with a morning surge, default policy, timeline kept.
pub fn simulate_output(steps: usize) -> SimulateOutput {
    let demand: Vec<f64> = (0..steps)
        .map(|i| {
            let minute_of_day = i % 1440;
            if (480..600).contains(&minute_of_day) {
                400.0
            } else {
                60.0
            }
        })
        .collect();
    let policy = Policy::default();
    let capacity = WorkerCapacity {
        rps_per_worker: 12.0,
        service_time_seconds: 0.05,
    };
    let workload = Workload {
        demand: &demand,
        prewarm_rps: None,
        step_seconds: 60.0,
        normal_peak_rps: engine::normal_peak_rps(&demand, 60.0),
        excused: None,
        burst_rps: None,
    };
    let table = LatencyModel::new(policy.fleet.workers_per_instance, 20.0, None);
    let options = RunOptions {
        record_timeline: true,
        ..RunOptions::default()
    };
    let result = engine::run(&workload, &policy, &capacity, &table, options);
    // No what-if lever: all demand reaches the app.
    let figures = crate::simulate::whatif::DemandFigures::of(&demand, 60.0);
    SimulateOutput {
        start: Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap(),
        step_seconds: 60.0,
        policy,
        capacity,
        instance_cost: Some(0.1),
        latency: LatencyReport::new(None, result.totals.latency_steps),
        result,
        search: None,
        what_if: crate::simulate::whatif::WhatIfReport {
            cdn_offload: 0.0,
            cache_hit: 0.0,
            app_share: 1.0,
            demand: figures,
            app_demand: figures,
            db_connections: None,
        },
        total_demand: None,
        normal_peak: crate::simulate::NormalPeak {
            rps: workload.normal_peak_rps,
            from_policy: false,
        },
        warnings: Vec::new(),
        timing: Timing::default(),
    }
}
