//! The open-file limit against the sockets a run needs, checked before it starts:
//! past the limit every `socket()` fails at once (EMFILE), and a run of such
//! users would spin without ever reaching an await point.
use crate::error::InputError;

use super::plan::{LoadModel, Plan};

/// Descriptors kept for everything but sockets: stdio, output files, the
/// runtime's own (epoll, eventfd), a spill file, the TLS roots.
const RESERVED: u64 = 64;

/// Descriptors the plan keeps open at once: one socket per user or open-model
/// connection, divided among HTTP/2 streams that share a connection, and the open
/// model's send timer on each generator thread (loadtest/pacer.rs).
pub fn descriptors_needed(plan: &Plan) -> u64 {
    let (sessions, timers) = match plan.load {
        LoadModel::Closed { users, .. } => (u64::from(users), 0),
        LoadModel::Open { connections, .. } => (u64::from(connections), plan.threads as u64),
    };
    let streams = if plan.connection.http2 {
        u64::from(plan.connection.streams.max(1))
    } else {
        1
    };
    sessions.div_ceil(streams) + timers
}

/// Raise the soft limit towards the hard one as far as the run needs; refuse
/// (exit 2) a run the hard limit cannot hold, saying how to raise it.
pub fn ensure(plan: &Plan) -> Result<(), InputError> {
    let needed = descriptors_needed(plan) + RESERVED;
    let Some((soft, hard)) = crate::open_files::limits() else {
        return Ok(());
    };
    if needed <= soft {
        return Ok(());
    }
    if needed <= hard && crate::open_files::raise_soft(needed.max(soft)) {
        return Ok(());
    }
    let flag = match plan.load {
        LoadModel::Closed { .. } => "--users",
        LoadModel::Open { .. } => "--connections",
    };
    Err(InputError::flag(
        flag,
        format!(
            "the run needs about {needed} open files (one socket per connection, plus {RESERVED}) \
             but this process may open only {soft} (`ulimit -n`, hard limit {hard}); raise it with \
             `ulimit -n {needed}` or use fewer users or connections"
        ),
    ))
}
