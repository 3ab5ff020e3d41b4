//! Instances through their life: booting (serves nothing), warming (serves at
//! `warmup_capacity`), in service. States are read at the start of each step.
use std::collections::VecDeque;

/// Instances launched together.
#[derive(Debug, Clone, Copy)]
struct Cohort {
    /// Time booting ends, seconds from the start.
    boot_end: f64,
    /// Time warm-up ends, seconds from the start.
    warm_end: f64,
    count: u32,
}

/// Counts of instances by state at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FleetCounts {
    /// Launched and serving nothing yet, instances.
    pub booting: u32,
    /// Serving at reduced capacity, instances.
    pub warming: u32,
    /// Serving fully, instances.
    pub in_service: u32,
}

impl FleetCounts {
    /// Every instance, whatever its state (what is billed and counts toward desired capacity).
    pub fn total(&self) -> u32 {
        self.booting + self.warming + self.in_service
    }

    /// Instances still booting or warming.
    pub fn in_flight(&self) -> u32 {
        self.booting + self.warming
    }
}

/// The fleet. At most one cohort is launched per step, so the queue never holds
/// more than `(boot + warm-up) / step + 1` cohorts: it is sized once and never grows.
#[derive(Debug, Clone)]
pub struct Fleet {
    boot_seconds: f64,
    warmup_seconds: f64,
    pending: VecDeque<Cohort>,
    in_service: u32,
}

impl Fleet {
    /// A fleet of `initial` warm instances.
    pub fn new(initial: u32, boot_seconds: f64, warmup_seconds: f64, step_seconds: f64) -> Self {
        let slots = ((boot_seconds + warmup_seconds) / step_seconds).ceil() as usize + 2;
        Fleet {
            boot_seconds,
            warmup_seconds,
            pending: VecDeque::with_capacity(slots),
            in_service: initial,
        }
    }

    /// Counts at time `now` (seconds), promoting warmed-up cohorts into service.
    pub fn counts_at(&mut self, now: f64) -> FleetCounts {
        while let Some(front) = self.pending.front() {
            if front.warm_end > now {
                break;
            }
            self.in_service += front.count;
            self.pending.pop_front();
        }
        let mut counts = FleetCounts {
            in_service: self.in_service,
            ..FleetCounts::default()
        };
        for cohort in &self.pending {
            if cohort.boot_end > now {
                counts.booting += cohort.count;
            } else {
                counts.warming += cohort.count;
            }
        }
        counts
    }

    /// Launch `count` instances at time `now`.
    pub fn launch(&mut self, count: u32, now: f64) {
        if count == 0 {
            return;
        }
        let boot_end = now + self.boot_seconds;
        self.pending.push_back(Cohort {
            boot_end,
            warm_end: boot_end + self.warmup_seconds,
            count,
        });
    }

    /// Remove up to `count` in-service instances (scale-in never touches instances in flight).
    pub fn remove(&mut self, count: u32) {
        self.in_service -= count.min(self.in_service);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_boots_then_warms_then_serves() {
        let mut fleet = Fleet::new(2, 120.0, 180.0, 60.0);
        fleet.launch(3, 60.0);
        let at = |f: &mut Fleet, t| f.counts_at(t);
        assert_eq!(
            at(&mut fleet, 60.0),
            FleetCounts {
                booting: 3,
                warming: 0,
                in_service: 2
            }
        );
        assert_eq!(at(&mut fleet, 179.0).booting, 3);
        assert_eq!(
            at(&mut fleet, 180.0),
            FleetCounts {
                booting: 0,
                warming: 3,
                in_service: 2
            }
        );
        assert_eq!(at(&mut fleet, 359.0).warming, 3);
        assert_eq!(
            at(&mut fleet, 360.0),
            FleetCounts {
                booting: 0,
                warming: 0,
                in_service: 5
            }
        );
        fleet.remove(1);
        assert_eq!(at(&mut fleet, 400.0).total(), 4);
    }
}
