//! `--shard`, `--shard-from-env`, `--start-at`, `--out-dir`, `--run-id`: which shard
//! this process runs, when it starts, and its result directory (written whole).
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::cli::{LoadtestArgs, ShardArgs};
use crate::error::InputError;
use crate::formats::shard_dir::{LATENCY_LOG, MANIFEST, SECONDS};
use crate::loadtest::plan::{LoadModel, Plan};
use crate::loadtest::result::{RunResult, ShapeReport};
use crate::loadtest::shard::ShardId;
use crate::output::OutputDir;
use crate::report::shard_dir::{manifest, ShardInfo};

/// The variable a Kubernetes Indexed Job sets to the pod's index.
pub const INDEX_VARIABLE: &str = "JOB_COMPLETION_INDEX";

/// Furthest `--start-at` ahead: a day; further is a typo in the date.
pub const MAX_START_AHEAD: Duration = Duration::from_secs(86_400);

/// The shard of this process: `--shard I/N`, `--shard-from-env N`, or the whole run.
pub fn shard_of(args: &ShardArgs) -> Result<ShardId, InputError> {
    if let Some(id) = args.shard {
        return Ok(id);
    }
    let Some(count) = args.shard_from_env else {
        return Ok(ShardId::WHOLE);
    };
    let value = std::env::var(INDEX_VARIABLE).map_err(|_| {
        InputError::flag(
            "--shard-from-env",
            format!(
                "${INDEX_VARIABLE} is not set: it is set by a Kubernetes Job with \
                 completionMode: Indexed; elsewhere use --shard I/N"
            ),
        )
    })?;
    let index = value.trim().parse::<u32>().map_err(|_| {
        InputError::flag(
            "--shard-from-env",
            format!("${INDEX_VARIABLE} is '{value}', not a whole number"),
        )
    })?;
    ShardId::new(index, count).map_err(|e| InputError::flag("--shard-from-env", e))
}

/// `--start-at`, checked: at most [`MAX_START_AHEAD`] ahead (a past time starts at once,
/// reported late).
pub fn start_at(args: &ShardArgs) -> Result<Option<SystemTime>, InputError> {
    let Some(at) = args.start_at else {
        return Ok(None);
    };
    if at
        .duration_since(SystemTime::now())
        .is_ok_and(|ahead| ahead > MAX_START_AHEAD)
    {
        return Err(InputError::flag(
            "--start-at",
            "is more than a day ahead; give the time the shards should start",
        ));
    }
    Ok(Some(at))
}

/// The run's id: `--run-id`, or one every shard derives alike from `--start-at` and the
/// shard count; an unsharded run without either gets a random one.
fn run_id(args: &ShardArgs, shard: ShardId) -> Result<String, InputError> {
    if let Some(id) = &args.run_id {
        let ok = !id.is_empty()
            && id.len() <= 128
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
        if !ok {
            return Err(InputError::flag(
                "--run-id",
                "must be 1 to 128 letters, digits, '-', '_', '.' or ':'",
            ));
        }
        return Ok(id.clone());
    }
    if let Some(at) = args.start_at {
        let at = chrono::DateTime::<chrono::Utc>::from(at)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        return Ok(format!("{at}-x{}", shard.count));
    }
    if shard.count > 1 {
        return Err(InputError::flag(
            "--out-dir",
            "the shards of a run need one run id: give them the same --start-at, or --run-id",
        ));
    }
    Ok(format!("{:016x}", rand::random::<u64>()))
}

/// What the manifest says besides the result, known before the run.
pub fn info(
    args: &LoadtestArgs,
    whole: &Plan,
    plan: &Plan,
    shard: ShardId,
) -> Result<ShardInfo, InputError> {
    let (users, rate, connections) = match plan.load {
        LoadModel::Closed { users, .. } => (Some(users), None, None),
        LoadModel::Open {
            rate, connections, ..
        } => (None, Some(rate), Some(connections)),
    };
    Ok(ShardInfo {
        run_id: run_id(&args.shard, shard)?,
        shard,
        users,
        rate,
        connections,
        started_at: SystemTime::UNIX_EPOCH,
        start_at: plan.start_at,
        warmup_s: plan.warmup.as_secs(),
        threads: plan.threads,
        tasks: plan.stats_names.clone(),
        thresholds: args.thresholds.iter().map(|t| t.expr.clone()).collect(),
        fail_on_errors: args.fail_on_errors,
        unsent: 0,
        shape: whole.shape.as_ref().map(ShapeReport::of),
    })
}

/// A shard's result directory being written.
pub struct ShardOut {
    dir: OutputDir,
    info: ShardInfo,
}

impl ShardOut {
    pub fn create(dest: &Path, info: ShardInfo) -> anyhow::Result<ShardOut> {
        Ok(ShardOut {
            dir: OutputDir::create(dest)?,
            info,
        })
    }

    /// The files written as the run goes: the latency log and the seconds' lines.
    pub fn files(&self) -> anyhow::Result<(BufWriter<File>, BufWriter<File>)> {
        Ok((self.dir.file(LATENCY_LOG)?, self.dir.file(SECONDS)?))
    }

    /// The manifest written and the directory put in place.
    pub fn commit(mut self, result: &RunResult) -> anyhow::Result<()> {
        self.info.started_at = chrono::DateTime::parse_from_rfc3339(&result.started_at)
            .map(SystemTime::from)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.info.unsent = result.rate.as_ref().map_or(0, |r| r.unsent);
        self.dir.write(MANIFEST, &manifest(&self.info, result)?)?;
        self.dir.commit()
    }
}
