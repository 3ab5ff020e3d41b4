//! Distributed runs: which shard of how many this process is, and the one pure
//! function that divides a plan's load between shards ([`Plan::shard`]) so that the N
//! shards together offer exactly what one process would.
use std::fmt;

use crate::error::InputError;
use crate::loadtest::plan::{LoadModel, Plan};
use crate::loadtest::scenario::FeederOrder;
use crate::loadtest::shape::ShapeKind;

/// Shard `index` (0-based) of `count`: `--shard 2/4` is the third of four.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId {
    pub index: u32,
    pub count: u32,
}

pub use crate::formats::shard_dir::MAX_SHARDS;

impl ShardId {
    /// The whole run as one shard (what an unsharded run is).
    pub const WHOLE: ShardId = ShardId { index: 0, count: 1 };

    pub fn new(index: u32, count: u32) -> Result<ShardId, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "the shard count must be from 1 to {MAX_SHARDS}; got {count}"
            ));
        }
        if index >= count {
            return Err(format!(
                "shard index {index} is not below the count {count} (shards are numbered from 0)"
            ));
        }
        Ok(ShardId { index, count })
    }

    /// The share of `total` whole things (users, connections) this shard takes: the
    /// remainder goes one each to the first shards, so 10 over 4 is 3, 3, 2, 2.
    pub fn share(&self, total: u32) -> u32 {
        total / self.count + u32::from(self.index < total % self.count)
    }

    /// This shard's part of a rate (open-model rate, spawn rate): an equal split.
    pub fn share_rate(&self, rate: f64) -> f64 {
        rate / f64::from(self.count)
    }

    /// The seed of this shard: shard 0 keeps the run's seed (so `--shard 0/1` is the
    /// unsharded run), the others get distinct, well-spread seeds.
    pub fn seed(&self, seed: u64) -> u64 {
        seed.wrapping_add(u64::from(self.index).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for ShardId {
    type Err = String;

    fn from_str(text: &str) -> Result<ShardId, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("'{text}' must look like I/N, e.g. 0/4 (shard 0 of 4)"))?;
        let number = |part: &str, what: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|_| format!("'{text}': {what} '{part}' is not a whole number"))
        };
        ShardId::new(number(index, "the index")?, number(count, "the count")?)
    }
}

impl Plan {
    /// The part of this plan that shard `id` runs. Everything that divides the load is
    /// here, and only here:
    /// - closed model: users split as whole users (10 over 4: 3, 3, 2, 2), the spawn
    ///   rate split equally, so every shard's users are all running at the same moment
    ///   the unsharded run's would be;
    /// - open model: the arrival rate split equally; connections split like users;
    /// - the seed made distinct per shard, so shards do not pick the same tasks and
    ///   wait times in lockstep.
    ///
    /// A load shape (stages, replay) is scaled by `1 / count` here too, and a feeder's
    /// `unique` rows are sliced here (row `r` goes to shard `r % count`).
    ///
    /// A shard with nothing to do (fewer users or connections than shards) is a bad
    /// flag: the caller is told how many shards the load allows.
    pub fn shard(&self, id: ShardId) -> Result<Plan, InputError> {
        let too_few = |what: &str, total: u32| {
            InputError::flag(
                "--shard",
                format!(
                    "shard {id} would run no {what}: {total} {what} cannot be divided over {} shards; \
                     use at most {total} shards",
                    id.count
                ),
            )
        };
        let mut plan = self.clone();
        plan.load = match self.load {
            LoadModel::Closed { users, spawn_rate } => {
                let mine = id.share(users);
                if mine == 0 {
                    return Err(too_few("users", users));
                }
                LoadModel::Closed {
                    users: mine,
                    spawn_rate: id.share_rate(spawn_rate),
                }
            }
            LoadModel::Open {
                rate,
                connections,
                arrivals,
            } => {
                let mine = id.share(connections);
                if mine == 0 {
                    return Err(too_few("connections", connections));
                }
                LoadModel::Open {
                    rate: id.share_rate(rate),
                    connections: mine,
                    arrivals,
                }
            }
        };
        let n = f64::from(id.count);
        plan.shape = self.shape.as_ref().map(|shape| match shape.kind() {
            ShapeKind::Rate => shape.scaled(1.0 / n),
            // The whole run's user u runs while its shape V is at least u + 1; user u
            // belongs to shard u % N as its local user k = u / N, which runs while the
            // local shape is at least k + 1: (V + N - I - 1) / N. Over the shards these
            // add up to V's whole users exactly (Hermite's identity).
            ShapeKind::Users => shape.affine(1.0 / n, (n - f64::from(id.index) - 1.0) / n),
        });
        // Feeder rows: row r to shard r % N, so no two shards hand out the same `unique`
        // row, and `sequential` shards together go through the file once per lap. A
        // `random` feeder draws from the whole file on every shard.
        plan.feeders = self
            .feeders
            .iter()
            .map(|feeder| {
                if feeder.order == FeederOrder::Random || id.count == 1 {
                    return Ok(feeder.clone());
                }
                feeder
                    .slice(id.index as usize, id.count as usize)
                    .ok_or_else(|| {
                        InputError::flag(
                            "--shard",
                            format!(
                                "shard {id} would get no row of feeder '{}' ({} rows over {} \
                                 shards: row r goes to shard r mod {}); use at most {} shards \
                                 or more rows",
                                feeder.name,
                                feeder.rows.rows.len(),
                                id.count,
                                id.count,
                                feeder.rows.rows.len()
                            ),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        plan.seed = id.seed(self.seed);
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadtest::plan::{Arrivals, ConnectionPlan, RunLength};
    use crate::loadtest::scenario::Scenario;
    use std::time::Duration;

    fn plan(load: LoadModel) -> Plan {
        let scenario: Scenario = crate::loadtest::scenario::parse(
            std::path::Path::new("s.toml"),
            "host = \"http://127.0.0.1:1\"\n[[task]]\npath = \"/\"\n",
        )
        .unwrap();
        Plan::assemble(
            scenario,
            load,
            RunLength {
                duration: Duration::from_secs(10),
                warmup: Duration::ZERO,
                timeout: Duration::from_secs(1),
            },
            ConnectionPlan::default(),
            2,
            7,
        )
    }

    fn shards(count: u32) -> impl Iterator<Item = ShardId> {
        (0..count).map(move |i| ShardId::new(i, count).unwrap())
    }

    #[test]
    fn parses_i_of_n_and_refuses_the_rest() {
        assert_eq!(
            "2/4".parse::<ShardId>().unwrap(),
            ShardId::new(2, 4).unwrap()
        );
        assert_eq!("0/1".parse::<ShardId>().unwrap(), ShardId::WHOLE);
        for bad in ["4/4", "1", "a/4", "1/0", "-1/4", "1/4/2", "0/10001"] {
            let err = bad.parse::<ShardId>().unwrap_err();
            assert!(err.contains(bad) || err.contains("count"), "{bad}: {err}");
        }
    }

    #[test]
    fn users_divide_as_whole_users_and_add_up() {
        let whole = plan(LoadModel::Closed {
            users: 10,
            spawn_rate: 4.0,
        });
        let mut users = Vec::new();
        let mut spawn = 0.0;
        for id in shards(4) {
            match whole.shard(id).unwrap().load {
                LoadModel::Closed {
                    users: u,
                    spawn_rate,
                } => {
                    users.push(u);
                    spawn += spawn_rate;
                }
                LoadModel::Open { .. } => panic!("the model changed"),
            }
        }
        assert_eq!(users, [3, 3, 2, 2]);
        assert!((spawn - 4.0).abs() < 1e-12);
        for total in [1u32, 4, 7, 1000, 1001] {
            for count in [1u32, 2, 3, 4, 7] {
                let sum: u32 = shards(count).map(|id| id.share(total)).sum();
                assert_eq!(sum, total, "{total} over {count}");
            }
        }
    }

    #[test]
    fn rates_split_equally_and_add_up() {
        let whole = plan(LoadModel::Open {
            rate: 1000.0,
            connections: 10,
            arrivals: Arrivals::Poisson,
        });
        let (mut rate, mut connections) = (0.0, 0);
        for id in shards(3) {
            match whole.shard(id).unwrap().load {
                LoadModel::Open {
                    rate: r,
                    connections: c,
                    arrivals,
                } => {
                    assert!((r - 1000.0 / 3.0).abs() < 1e-9);
                    assert_eq!(arrivals, Arrivals::Poisson);
                    rate += r;
                    connections += c;
                }
                LoadModel::Closed { .. } => panic!("the model changed"),
            }
        }
        assert!((rate - 1000.0).abs() < 1e-9);
        assert_eq!(connections, 10);
    }

    #[test]
    fn seeds_are_distinct_and_one_shard_is_the_whole_run() {
        let whole = plan(LoadModel::Closed {
            users: 8,
            spawn_rate: 8.0,
        });
        let seeds: std::collections::HashSet<u64> =
            shards(8).map(|id| whole.shard(id).unwrap().seed).collect();
        assert_eq!(seeds.len(), 8);
        let one = whole.shard(ShardId::WHOLE).unwrap();
        assert_eq!(one.seed, whole.seed);
        assert_eq!(one.load, whole.load);
    }

    #[test]
    fn a_shard_without_users_is_refused_naming_the_limit() {
        let whole = plan(LoadModel::Closed {
            users: 3,
            spawn_rate: 3.0,
        });
        let err = whole.shard(ShardId::new(3, 4).unwrap()).unwrap_err();
        assert!(err.to_string().contains("use at most 3 shards"), "{err}");
        assert!(whole.shard(ShardId::new(2, 4).unwrap()).is_ok());
    }

    #[test]
    fn a_users_shape_divides_into_whole_users_that_add_up_at_every_instant() {
        use crate::loadtest::shape::Shape;
        let mut whole = plan(LoadModel::Closed {
            users: 50,
            spawn_rate: 1.0,
        });
        let ramp = vec![(0.0, 0.0), (30.0, 50.0), (90.0, 50.0), (120.0, 0.0)];
        whole.shape = Some(Shape::new(ShapeKind::Users, ramp).unwrap());
        for count in [1, 2, 3, 4, 7] {
            let parts: Vec<Plan> = shards(count).map(|id| whole.shard(id).unwrap()).collect();
            for tenth in 0..=1200 {
                let t = f64::from(tenth) / 10.0;
                let sum: u32 = parts.iter().map(|p| p.intended_users(t).unwrap()).sum();
                assert_eq!(
                    sum,
                    whole.intended_users(t).unwrap(),
                    "{count} shards at {t} s"
                );
            }
        }
    }

    #[test]
    fn a_rate_shape_divides_equally_and_adds_up_to_its_requests() {
        use crate::loadtest::shape::Shape;
        let mut whole = plan(LoadModel::Open {
            rate: 300.0,
            connections: 40,
            arrivals: Arrivals::Uniform,
        });
        let ramp = vec![(0.0, 100.0), (60.0, 500.0), (120.0, 100.0)];
        whole.shape = Some(Shape::new(ShapeKind::Rate, ramp).unwrap());
        let total = whole.shape.as_ref().unwrap().total();
        let parts: f64 = shards(4)
            .map(|id| whole.shard(id).unwrap().shape.unwrap().total())
            .sum();
        assert!((parts - total).abs() < 1e-9 * total, "{parts} vs {total}");
    }
}
