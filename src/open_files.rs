//! The process's open-file limit (RLIMIT_NOFILE): read it and raise its soft
//! value, which needs no privilege up to the hard one. Load generators and
//! servers both hold one descriptor per connection, and Debian's default soft
//! limit (1024) is far below what a load test opens.

/// The (soft, hard) limits, when the platform has them.
#[cfg(unix)]
pub fn limits() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every unix
    (rc == 0).then_some((limit.rlim_cur as u64, limit.rlim_max as u64))
}

/// Set the soft limit to `to` (capped at the hard limit); false when refused.
#[cfg(unix)]
pub fn raise_soft(to: u64) -> bool {
    let Some((_, hard)) = limits() else {
        return false;
    };
    let limit = libc::rlimit {
        rlim_cur: to.min(hard) as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we own; raising the soft limit up to
    // the hard one needs no privilege.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 }
}

#[cfg(not(unix))]
pub fn limits() -> Option<(u64, u64)> {
    None
}

#[cfg(not(unix))]
pub fn raise_soft(_: u64) -> bool {
    false
}

/// Raise the soft limit to the hard one (a server cannot know how many
/// connections will come); the soft limit now in force.
pub fn raise_soft_to_hard() -> Option<u64> {
    let (soft, hard) = limits()?;
    if soft < hard && raise_soft(hard) {
        return Some(hard);
    }
    Some(soft)
}
