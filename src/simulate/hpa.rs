//! The Kubernetes HorizontalPodAutoscaler's arithmetic (autoscaling/v2), as the
//! Kubernetes documentation ("Horizontal Pod Autoscaling": algorithm details,
//! configurable scaling behavior) describes the controller: a desired count from
//! the metric ratio with a tolerance, not-ready pods counted at zero usage on the
//! way up, stabilization windows over past recommendations, and rate limits from
//! `Pods`/`Percent` policies over each policy's period. Written from the docs;
//! docs/simulate.md gives the rule by rule mapping.
use std::collections::VecDeque;

use super::policy::{Hpa, HpaPolicy, HpaPolicyType, HpaRules, SelectPolicy, TrackedMetric};

/// The controller's settings with the Kubernetes defaults filled in.
#[derive(Debug, Clone)]
pub struct HpaConfig {
    /// The target in the metric's own units (utilization as a fraction, rps per pod).
    pub target: f64,
    pub tolerance: f64,
    pub sync_period_seconds: f64,
    pub up: Rules,
    pub down: Rules,
}

/// One direction's behavior, defaults filled in.
#[derive(Debug, Clone)]
pub struct Rules {
    pub stabilization_window_seconds: f64,
    pub select_policy: SelectPolicy,
    pub policies: Vec<HpaPolicy>,
}

impl HpaConfig {
    /// Defaults (Kubernetes docs, "Default Behavior"): scale-up without a
    /// stabilization window, at most 100 % or 4 pods (the larger) per 15 s;
    /// scale-down after a 300 s window, at most 100 % per 15 s.
    pub fn new(hpa: &Hpa) -> Self {
        let target = match hpa.metric {
            TrackedMetric::Utilization => hpa.target / 100.0,
            TrackedMetric::RpsPerInstance => hpa.target,
        };
        let rules = |r: &HpaRules, window: f64, policies: Vec<HpaPolicy>| Rules {
            stabilization_window_seconds: r.stabilization_window_seconds.unwrap_or(window),
            select_policy: r.select_policy,
            policies: r.policies.clone().unwrap_or(policies),
        };
        let percent = |value| HpaPolicy {
            kind: HpaPolicyType::Percent,
            value,
            period_seconds: 15.0,
        };
        let pods = |value| HpaPolicy {
            kind: HpaPolicyType::Pods,
            value,
            period_seconds: 15.0,
        };
        HpaConfig {
            target,
            tolerance: hpa.tolerance,
            sync_period_seconds: hpa.sync_period_seconds,
            up: rules(&hpa.behavior.scale_up, 0.0, vec![percent(100.0), pods(4.0)]),
            down: rules(&hpa.behavior.scale_down, 300.0, vec![percent(100.0)]),
        }
    }
}

/// What limited a recommendation, for the reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The desired count went through unchanged.
    None,
    /// A stabilization window held the count (`ScaleUpStabilized` / `ScaleDownStabilized`).
    Stabilized,
    /// A `Pods`/`Percent` policy limited the change (`ScaleUpLimit` / `ScaleDownLimit`).
    RateLimited,
}

/// The controller's memory: past recommendations and scale events.
#[derive(Debug, Clone)]
pub struct HpaState {
    cfg: HpaConfig,
    /// (time, unstabilized recommendation), oldest first.
    recommendations: VecDeque<(f64, u32)>,
    /// (time, pods added), oldest first.
    up_events: VecDeque<(f64, u32)>,
    /// (time, pods removed), oldest first.
    down_events: VecDeque<(f64, u32)>,
    next_sync: f64,
}

/// A recommendation of one sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposal {
    /// Desired replicas after stabilization, rate limits and min/max.
    pub replicas: u32,
    /// The desired replicas from the metric alone.
    pub raw: u32,
    pub limit: Limit,
}

impl HpaState {
    pub fn new(cfg: HpaConfig) -> Self {
        HpaState {
            cfg,
            recommendations: VecDeque::new(),
            up_events: VecDeque::new(),
            down_events: VecDeque::new(),
            next_sync: f64::NEG_INFINITY,
        }
    }

    /// The desired count from the metric (the replica calculator): `metric` is the
    /// average over the `ready` pods (serving: in service or warming), `not_ready`
    /// pods are starting (booting). Within the tolerance nothing changes; on the
    /// way up, not-ready pods count at zero usage, and if that brings the ratio
    /// back within the tolerance (or below 1) nothing changes either.
    pub fn desired_from_metric(
        &self,
        current: u32,
        metric: f64,
        ready: u32,
        not_ready: u32,
    ) -> u32 {
        if ready == 0 {
            return current;
        }
        let tol = self.cfg.tolerance;
        let ratio = metric / self.cfg.target;
        if (ratio - 1.0).abs() <= tol {
            return current;
        }
        if ratio > 1.0 && not_ready > 0 {
            let all = ready + not_ready;
            let new_ratio = metric * f64::from(ready) / f64::from(all) / self.cfg.target;
            if new_ratio <= 1.0 || (new_ratio - 1.0).abs() <= tol {
                return current;
            }
            return ceil_count(new_ratio * f64::from(all));
        }
        ceil_count(ratio * f64::from(ready))
    }

    /// One sync at `now`: the desired count of [`desired_from_metric`], stabilized
    /// and rate limited, within `[min, max]`. `None` between syncs.
    #[allow(clippy::too_many_arguments)]
    pub fn sync(
        &mut self,
        now: f64,
        current: u32,
        metric: f64,
        ready: u32,
        not_ready: u32,
        min: u32,
        max: u32,
    ) -> Option<Proposal> {
        const EPS: f64 = 1e-6;
        if now < self.next_sync - EPS {
            return None;
        }
        self.next_sync = now + self.cfg.sync_period_seconds;
        let raw = self.desired_from_metric(current, metric, ready, not_ready);

        // Stabilization: the lowest recommendation of the up window bounds the
        // count from below, the highest of the down window from above.
        let (up_window, down_window) = (
            self.cfg.up.stabilization_window_seconds,
            self.cfg.down.stabilization_window_seconds,
        );
        let longest = up_window.max(down_window);
        while self
            .recommendations
            .front()
            .is_some_and(|&(t, _)| t <= now - longest - EPS)
        {
            self.recommendations.pop_front();
        }
        let mut up_rec = raw;
        let mut down_rec = raw;
        for &(t, rec) in &self.recommendations {
            if t > now - up_window + EPS {
                up_rec = up_rec.min(rec);
            }
            if t > now - down_window + EPS {
                down_rec = down_rec.max(rec);
            }
        }
        self.recommendations.push_back((now, raw));
        let stabilized = current.max(up_rec).min(down_rec);
        let mut limit = if stabilized != raw {
            Limit::Stabilized
        } else {
            Limit::None
        };

        // Rate limits, then min and max.
        let mut replicas = stabilized;
        if stabilized > current {
            let rate = self.scale_up_limit(now, current).max(current);
            if rate < max && stabilized > rate {
                replicas = rate;
                limit = Limit::RateLimited;
            } else {
                replicas = stabilized.min(max);
            }
        } else if stabilized < current {
            let rate = self.scale_down_limit(now, current).min(current);
            if rate > min && stabilized < rate {
                replicas = rate;
                limit = Limit::RateLimited;
            } else {
                replicas = stabilized.max(min);
            }
        }
        Some(Proposal {
            replicas,
            raw,
            limit,
        })
    }

    /// Record a change the fleet made (pods added > 0, removed < 0) at `now`.
    pub fn record(&mut self, now: f64, change: i64) {
        if change > 0 {
            self.up_events.push_back((now, change as u32));
        } else if change < 0 {
            self.down_events.push_back((now, (-change) as u32));
        }
        let longest = self
            .cfg
            .up
            .policies
            .iter()
            .chain(&self.cfg.down.policies)
            .map(|p| p.period_seconds)
            .fold(0.0, f64::max);
        for events in [&mut self.up_events, &mut self.down_events] {
            while events.front().is_some_and(|&(t, _)| t < now - longest) {
                events.pop_front();
            }
        }
    }

    fn changed_within(events: &VecDeque<(f64, u32)>, now: f64, period: f64) -> u32 {
        events
            .iter()
            .filter(|&&(t, _)| t > now - period + 1e-6)
            .map(|&(_, n)| n)
            .sum()
    }

    /// Most replicas the scale-up policies allow now: per policy, from the count at
    /// the start of its period, `+ value` pods or `× (1 + value/100)` rounded up;
    /// `Max` takes the largest, `Min` the smallest, `Disabled` allows nothing.
    fn scale_up_limit(&self, now: f64, current: u32) -> u32 {
        let rules = &self.cfg.up;
        if rules.select_policy == SelectPolicy::Disabled {
            return current;
        }
        let proposals = rules.policies.iter().map(|p| {
            let start = self.period_start(now, current, p.period_seconds);
            match p.kind {
                HpaPolicyType::Pods => start + p.value,
                HpaPolicyType::Percent => (start * (1.0 + p.value / 100.0)).ceil(),
            }
        });
        select(proposals, rules.select_policy == SelectPolicy::Min, true)
    }

    /// Fewest replicas the scale-down policies allow now: per policy, from the
    /// count at the start of its period, `− value` pods or `× (1 − value/100)`
    /// truncated; `Max` allows the largest change (the smallest count).
    fn scale_down_limit(&self, now: f64, current: u32) -> u32 {
        let rules = &self.cfg.down;
        if rules.select_policy == SelectPolicy::Disabled {
            return current;
        }
        let proposals = rules.policies.iter().map(|p| {
            let start = self.period_start(now, current, p.period_seconds);
            match p.kind {
                HpaPolicyType::Pods => start - p.value,
                HpaPolicyType::Percent => (start * (1.0 - p.value / 100.0)).trunc(),
            }
        });
        select(proposals, rules.select_policy == SelectPolicy::Min, false)
    }

    /// Replicas at the start of a policy's period: now, minus what was added and
    /// plus what was removed within it.
    fn period_start(&self, now: f64, current: u32, period: f64) -> f64 {
        f64::from(current) - f64::from(Self::changed_within(&self.up_events, now, period))
            + f64::from(Self::changed_within(&self.down_events, now, period))
    }
}

/// The policy a `selectPolicy` picks: the largest change by default (`Max`), the
/// smallest with `Min`. Upward the largest change is the largest count; downward the smallest.
fn select(proposals: impl Iterator<Item = f64>, min_change: bool, up: bool) -> u32 {
    let largest_count = up != min_change;
    let pick = proposals.fold(None, |best: Option<f64>, p| {
        Some(match best {
            None => p,
            Some(b) if largest_count => b.max(p),
            Some(b) => b.min(p),
        })
    });
    pick.unwrap_or(0.0).clamp(0.0, f64::from(u32::MAX)) as u32
}

fn ceil_count(x: f64) -> u32 {
    (x - 1e-9).ceil().clamp(0.0, 1e9) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::policy::HpaBehavior;

    fn hpa(target: f64, behavior: HpaBehavior) -> HpaState {
        HpaState::new(HpaConfig::new(&Hpa {
            metric: TrackedMetric::Utilization,
            target,
            tolerance: 0.1,
            sync_period_seconds: 15.0,
            behavior,
        }))
    }

    #[test]
    fn desired_replicas_from_the_metric_ratio() {
        // Kubernetes docs: desired = ceil(current * current metric / desired metric):
        // 200m against 100m doubles; 50m against 100m halves.
        let h = hpa(50.0, HpaBehavior::default());
        assert_eq!(h.desired_from_metric(4, 1.0, 4, 0), 8);
        assert_eq!(h.desired_from_metric(4, 0.25, 4, 0), 2);
        // Within the 10 % tolerance: no change (0.54 / 0.5 = 1.08).
        assert_eq!(h.desired_from_metric(4, 0.54, 4, 0), 4);
        assert_eq!(h.desired_from_metric(4, 0.56, 4, 0), 5); // ceil(1.12 x 4) = 5
                                                             // Not-ready pods count at zero usage on the way up: 4 ready at 0.7, 2 starting:
                                                             // 0.7 x 4/6 = 0.467 < 0.5: no change; at 0.9: 0.6 / 0.5 x 6 = 7.2 -> 8.
        assert_eq!(h.desired_from_metric(6, 0.7, 4, 2), 6);
        assert_eq!(h.desired_from_metric(6, 0.9, 4, 2), 8);
    }

    #[test]
    fn default_scale_up_rate_is_the_larger_of_double_and_four_pods() {
        let mut h = hpa(50.0, HpaBehavior::default());
        // From 2 the metric asks 20: 100 % gives 4, 4 pods gives 6: 6.
        let p = h.sync(15.0, 2, 5.0, 2, 0, 1, 100).unwrap();
        assert_eq!((p.raw, p.replicas, p.limit), (20, 6, Limit::RateLimited));
        h.record(15.0, 4);
        // Within the same 15 s period nothing more (the period started at 2).
        assert_eq!(h.sync(15.0 + 15.0 - 1.0, 6, 5.0, 2, 4, 1, 100), None);
        // Next period: from 6, 100 % gives 12.
        let p = h.sync(30.0, 6, 5.0, 6, 0, 1, 100).unwrap();
        assert_eq!(p.replicas, 12);
    }

    #[test]
    fn scale_down_waits_for_the_stabilization_window() {
        let mut h = hpa(50.0, HpaBehavior::default());
        // 10 pods at 0.54 (within tolerance): recommendation 10.
        assert_eq!(h.sync(0.0, 10, 0.54, 10, 0, 1, 100).unwrap().replicas, 10);
        // Load halves: the metric says 5, but the highest recommendation of the
        // last 300 s is 10: held (ScaleDownStabilized).
        let p = h.sync(60.0, 10, 0.25, 10, 0, 1, 100).unwrap();
        assert_eq!((p.raw, p.replicas, p.limit), (5, 10, Limit::Stabilized));
        let p = h.sync(299.0, 10, 0.25, 10, 0, 1, 100).unwrap();
        assert_eq!(p.replicas, 10);
        // More than 300 s after the last 10 (at the next 15 s sync): down to 5.
        assert_eq!(h.sync(301.0, 10, 0.25, 10, 0, 1, 100), None);
        let p = h.sync(314.0, 10, 0.25, 10, 0, 1, 100).unwrap();
        assert_eq!((p.replicas, p.limit), (5, Limit::None));
    }

    #[test]
    fn percent_scale_down_truncates_and_select_policy_picks() {
        use crate::simulate::policy::HpaRules;
        let down = |select, policies| HpaBehavior {
            scale_up: HpaBehavior::default().scale_up,
            scale_down: HpaRules {
                stabilization_window_seconds: Some(0.0),
                select_policy: select,
                policies: Some(policies),
            },
        };
        let p20 = HpaPolicy {
            kind: HpaPolicyType::Percent,
            value: 20.0,
            period_seconds: 60.0,
        };
        let pods1 = HpaPolicy {
            kind: HpaPolicyType::Pods,
            value: 1.0,
            period_seconds: 60.0,
        };
        // 4 pods, metric says 1: 20 % gives trunc(3.2) = 3, one pod gives 3.
        let mut h = hpa(50.0, down(SelectPolicy::Max, vec![p20]));
        assert_eq!(h.sync(0.0, 4, 0.1, 4, 0, 1, 100).unwrap().replicas, 3);
        // 10 pods: 20 % gives 8, one pod gives 9; Max picks the larger change (8), Min 9.
        let mut h = hpa(50.0, down(SelectPolicy::Max, vec![p20, pods1]));
        assert_eq!(h.sync(0.0, 10, 0.1, 10, 0, 1, 100).unwrap().replicas, 8);
        let mut h = hpa(50.0, down(SelectPolicy::Min, vec![p20, pods1]));
        assert_eq!(h.sync(0.0, 10, 0.1, 10, 0, 1, 100).unwrap().replicas, 9);
        // The period counts what was removed in it: 10 -> 8 at t = 0, at t = 30 the
        // period started at 10, so 20 % allows 8 again: nothing more.
        let mut h = hpa(50.0, down(SelectPolicy::Max, vec![p20]));
        assert_eq!(h.sync(0.0, 10, 0.1, 10, 0, 1, 100).unwrap().replicas, 8);
        h.record(0.0, -2);
        assert_eq!(h.sync(30.0, 8, 0.1, 8, 0, 1, 100).unwrap().replicas, 8);
        // Disabled: never down.
        let mut h = hpa(50.0, down(SelectPolicy::Disabled, vec![p20]));
        assert_eq!(h.sync(0.0, 10, 0.1, 10, 0, 1, 100).unwrap().replicas, 10);
        // min bounds it.
        let mut h = hpa(50.0, down(SelectPolicy::Max, vec![p20]));
        assert_eq!(h.sync(0.0, 3, 0.01, 3, 0, 3, 100).unwrap().replicas, 3);
    }
}
