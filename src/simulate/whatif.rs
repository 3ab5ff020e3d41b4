//! What-if levers: a CDN and an application cache in front of the app, and a
//! database whose connection limit caps the fleet.
//!
//! Demand model: the CDN answers `cdn_offload` of all requests at the edge; of
//! the rest, the app's cache answers `cache_hit` without occupying a worker (a
//! hit is treated as costing no worker time). What reaches the workers is
//! `demand × (1 − cdn_offload) × (1 − cache_hit)`.
//!
//! Connection model: every worker holds a pool of `pool_per_worker`
//! connections from the moment its instance starts (booting included), so `n`
//! instances of `w` workers hold `n × w × pool_per_worker` connections and the
//! largest fleet the database allows is `floor(max_connections / (w × pool))`.
use serde::Serialize;

/// The demand levers (fractions in 0..=1).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct DemandLevers {
    /// Share of all requests served by the CDN at the edge, fraction.
    pub cdn_offload: f64,
    /// Share of the requests reaching the app answered from its cache, fraction.
    pub cache_hit: f64,
}

impl DemandLevers {
    /// Share of the demand that reaches the workers, fraction.
    pub fn app_share(&self) -> f64 {
        (1.0 - self.cdn_offload) * (1.0 - self.cache_hit)
    }

    /// True when some lever takes demand away from the app.
    pub fn active(&self) -> bool {
        self.cdn_offload > 0.0 || self.cache_hit > 0.0
    }

    /// The demand reaching the workers, step by step (rps in, rps out).
    pub fn app_demand(&self, demand: &[f64]) -> Vec<f64> {
        let share = self.app_share();
        demand.iter().map(|rps| rps * share).collect()
    }
}

/// The database connection limit (`--db-max-connections`, `--pool-per-worker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DbLimit {
    /// Connections the database accepts, connections.
    pub max_connections: u32,
    /// Connections held by each worker's pool, connections.
    pub pool_per_worker: u32,
}

impl DbLimit {
    /// Connections held by a fleet of `instances` with `workers` workers each.
    pub fn connections(&self, instances: u32, workers: u32) -> u64 {
        u64::from(instances) * u64::from(workers) * u64::from(self.pool_per_worker)
    }

    /// Largest fleet whose connections fit, instances.
    pub fn max_instances(&self, workers: u32) -> u32 {
        let per_instance = u64::from(workers) * u64::from(self.pool_per_worker);
        if per_instance == 0 {
            return u32::MAX;
        }
        (u64::from(self.max_connections) / per_instance).min(u64::from(u32::MAX)) as u32
    }
}

/// Largest fleet of `workers`-worker instances that `limit` allows (`u32::MAX`
/// without a limit), instances.
pub fn fleet_cap(limit: Option<DbLimit>, workers: u32) -> u32 {
    limit.map_or(u32::MAX, |db| db.max_instances(workers))
}

/// Requests and peak rate of one demand series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DemandFigures {
    /// Requests over the whole run, requests.
    pub requests: f64,
    /// Highest step rate, rps.
    pub peak_rps: f64,
}

impl DemandFigures {
    /// Figures of `demand` (rps per step of `step_seconds`).
    pub fn of(demand: &[f64], step_seconds: f64) -> Self {
        DemandFigures {
            requests: demand.iter().sum::<f64>() * step_seconds,
            peak_rps: demand.iter().copied().fold(0.0, f64::max),
        }
    }
}

/// The database check's outcome for the simulated policy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DbReport {
    /// Connections the database accepts, connections.
    pub max_connections: u32,
    /// Connections held by each worker's pool, connections.
    pub pool_per_worker: u32,
    /// Connections one instance holds (workers × pool), connections.
    pub connections_per_instance: u64,
    /// Largest fleet that fits, instances.
    pub max_instances: u32,
    /// Connections held at the fleet's peak (booting instances included), connections.
    pub peak_connections: u64,
    /// Scale-ups capped or refused by the limit (`CAPPED_DB_CONNECTIONS`, one per episode), decisions.
    pub capped_decisions: u32,
}

/// What the levers did, for the summary (JSON `what_if`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WhatIfReport {
    /// `--cdn-offload`, fraction.
    pub cdn_offload: f64,
    /// `--cache-hit`, fraction.
    pub cache_hit: f64,
    /// `(1 − cdn_offload) × (1 − cache_hit)`: share reaching the workers, fraction.
    pub app_share: f64,
    /// All demand, before the CDN and the cache.
    pub demand: DemandFigures,
    /// Demand reaching the workers (what was simulated).
    pub app_demand: DemandFigures,
    /// With `--db-max-connections`: the connection check.
    pub db_connections: Option<DbReport>,
}

impl WhatIfReport {
    /// The demand levers this report is about.
    pub fn levers(&self) -> DemandLevers {
        DemandLevers {
            cdn_offload: self.cdn_offload,
            cache_hit: self.cache_hit,
        }
    }
}

impl DbReport {
    /// The check for a fleet of `workers` workers per instance that peaked at
    /// `peak_instances` and had `capped_decisions` decisions capped by it.
    pub fn new(limit: DbLimit, workers: u32, peak_instances: u32, capped_decisions: u32) -> Self {
        DbReport {
            max_connections: limit.max_connections,
            pool_per_worker: limit.pool_per_worker,
            connections_per_instance: limit.connections(1, workers),
            max_instances: limit.max_instances(workers),
            peak_connections: limit.connections(peak_instances, workers),
            capped_decisions,
        }
    }

    /// Connections held by a fleet of `instances`, connections.
    pub fn connections(&self, instances: u32) -> u64 {
        u64::from(instances) * self.connections_per_instance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdn_then_cache_multiply() {
        let levers = DemandLevers {
            cdn_offload: 0.3,
            cache_hit: 0.5,
        };
        // 1000 rps: the CDN keeps 300, the cache answers 350 of the 700 left.
        assert!((levers.app_share() - 0.35).abs() < 1e-12);
        let app = levers.app_demand(&[1000.0, 0.0, 200.0]);
        assert!((app[0] - 350.0).abs() < 1e-9);
        assert_eq!(app[1], 0.0);
        assert!((app[2] - 70.0).abs() < 1e-9);
        assert!(levers.active());
        assert!(!DemandLevers::default().active());
        assert_eq!(DemandLevers::default().app_share(), 1.0);
        let all_at_edge = DemandLevers {
            cdn_offload: 1.0,
            cache_hit: 0.0,
        };
        assert_eq!(all_at_edge.app_demand(&[500.0]), vec![0.0]);
    }

    #[test]
    fn connections_and_the_largest_fleet_that_fits() {
        let db = DbLimit {
            max_connections: 100,
            pool_per_worker: 5,
        };
        // 4 workers x 5 = 20 per instance: 5 instances fit exactly, 6 do not.
        assert_eq!(db.connections(5, 4), 100);
        assert_eq!(db.max_instances(4), 5);
        assert_eq!(db.max_instances(3), 6); // 15 per instance: 90 used
        assert_eq!(db.max_instances(30), 0);
        // No overflow for big fleets.
        assert_eq!(db.connections(u32::MAX, 64), u64::from(u32::MAX) * 320);
    }

    #[test]
    fn demand_figures() {
        let f = DemandFigures::of(&[10.0, 30.0, 20.0], 60.0);
        assert_eq!(f.requests, 3600.0);
        assert_eq!(f.peak_rps, 30.0);
    }
}
