//! State locks, as every back end shares them: who holds a lock ([`LockInfo`]), why one
//! cannot be taken or removed ([`LockError`], with the messages users see), the held lock as
//! the caller keeps it ([`LockGuard`], released when dropped), what `force-unlock` removed
//! ([`ForceUnlocked`]), and the wait with backoff behind `--lock-timeout`
//! ([`acquire_with_backoff`], [`parse_lock_timeout`]). The lock of the local state, a file
//! beside it, is in `lock_file.rs`.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use blockform_provider::{DurationError, parse_duration};

/// The first wait between two attempts at a held lock; it doubles up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(50);
/// The longest wait between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Who holds the lock, as the lock records it (the lock file holds it as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// A UUID naming this lock, for `force-unlock`.
    pub id: String,
    /// `user@host`.
    pub who: String,
    /// The holder's process id.
    pub pid: u32,
    /// The command that took it (`apply`, `state rm`).
    pub operation: String,
    /// When it was taken (RFC 3339).
    pub created: String,
}

impl LockInfo {
    /// Describes this process taking the lock for `operation` now, under a new lock id.
    pub fn for_this_process(operation: &str) -> LockInfo {
        let user = ["USER", "LOGNAME"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| "unknown".to_owned());
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            who: format!("{user}@{host}"),
            pid: std::process::id(),
            operation: operation.to_owned(),
            created: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        }
    }
}

/// Why the lock could not be taken or removed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "state is locked by {} (pid {}, {}) since {}; lock id {}",
        info.who,
        info.pid,
        info.operation,
        info.created,
        info.id
    )]
    Held {
        /// What the holder wrote.
        info: LockInfo,
    },
    /// Another process holds the lock but has not (yet) said who it is.
    #[error("state is locked by another process (`{location}` does not say which)")]
    HeldByUnknown {
        /// Where the lock is (the lock file).
        location: String,
    },
    /// The lock file could not be used.
    #[error("cannot {action} the state lock file `{}`: {source}", path.display())]
    Io {
        /// What was being done (`create`, `lock`, `write`).
        action: &'static str,
        /// The lock file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The lock of a remote state (S3) could not be read or written.
    #[error("cannot {action} the state lock `{location}`: {message}")]
    Remote {
        /// What was being done (`take`, `read`, `remove`).
        action: &'static str,
        /// The lock object's URL.
        location: String,
        /// What went wrong.
        message: String,
        /// What the user can do about it.
        hint: String,
    },
    /// `force-unlock` found no lock.
    #[error("the state is not locked (`{location}` names no holder)")]
    NotLocked {
        /// Where the lock is (the lock file).
        location: String,
    },
    /// `force-unlock` was given another lock's id.
    #[error(
        "lock id `{given}` does not match the state lock: it is held by {} (pid {}, {}) since {} with lock id {}",
        info.who,
        info.pid,
        info.operation,
        info.created,
        info.id
    )]
    IdMismatch {
        /// The id given.
        given: String,
        /// The lock's holder.
        info: LockInfo,
    },
}

impl LockError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            LockError::Held { info } => Some(format!(
                "run with `--lock-timeout=30s` to wait for it, or `blockform force-unlock {}` if that process is gone",
                info.id
            )),
            LockError::HeldByUnknown { .. } => Some("run with `--lock-timeout=30s` to wait for it".to_owned()),
            LockError::Io { .. } => Some(
                "`--lock=false` runs without the lock; then make sure that no other run uses this state at the \
                 same time"
                    .to_owned(),
            ),
            LockError::Remote { hint, .. } => Some(hint.clone()),
            LockError::NotLocked { .. } => None,
            LockError::IdMismatch { info, .. } => Some(format!(
                "if that run hangs, remove its lock with `blockform force-unlock {}`",
                info.id
            )),
        }
    }
}

/// What one attempt at a lock found, for [`acquire_with_backoff`].
pub enum Attempt<'a, T> {
    /// The lock is ours.
    Taken(T),
    /// Something changed under the attempt (the lock was removed meanwhile): try again at once.
    Again,
    /// Someone else holds it: the error to report if the wait is over (made only then).
    Busy(Box<dyn FnOnce() -> LockError + 'a>),
}

/// Makes `attempt`s at a lock until one takes it, waiting between them with backoff (50 ms,
/// doubling up to 1 s) for at most `timeout` in all (`--lock-timeout`; zero tries once). Every
/// back end waits for its lock this way.
pub fn acquire_with_backoff<'a, T>(
    timeout: Duration,
    mut attempt: impl FnMut() -> Result<Attempt<'a, T>, LockError>,
) -> Result<T, LockError> {
    let started = Instant::now();
    let mut delay = FIRST_RETRY_DELAY;
    loop {
        match attempt()? {
            Attempt::Taken(taken) => return Ok(taken),
            Attempt::Again => {}
            Attempt::Busy(held) => {
                let waited = started.elapsed();
                if waited >= timeout {
                    return Err(held());
                }
                drop(held);
                std::thread::sleep(delay.min(timeout.saturating_sub(waited)));
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }
}

/// A lock a back end holds for its caller, as that back end lets go of it.
pub trait HeldLock: Send + Sync + std::fmt::Debug {
    /// Lets go of the lock.
    fn release(self: Box<Self>) -> Result<(), LockError>;
}

/// A held state lock, whichever back end took it: who holds it (this process) and where.
/// Released when dropped, or by [`LockGuard::release`] to hear whether that worked.
#[derive(Debug)]
pub struct LockGuard {
    info: LockInfo,
    location: String,
    held: Option<Box<dyn HeldLock>>,
}

impl LockGuard {
    /// The guard of a lock a back end took at `location` (for messages), described by `info`.
    pub fn new(info: LockInfo, location: String, held: Box<dyn HeldLock>) -> LockGuard {
        LockGuard {
            info,
            location,
            held: Some(held),
        }
    }

    /// Who holds it: this process.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The lock id, as `force-unlock` takes it.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// Where the lock is (the lock file of a local state).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Lets go of the lock now.
    pub fn release(mut self) -> Result<(), LockError> {
        match self.held.take() {
            Some(held) => held.release(),
            None => Ok(()),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            let _ = held.release();
        }
    }
}

/// Parses `--lock-timeout`: a duration like `30s` or `5m`, or `0s` (or `0`) for no wait.
pub fn parse_lock_timeout(text: &str) -> Result<Duration, DurationError> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    match parse_duration(text) {
        Err(DurationError::Zero) => Ok(Duration::ZERO),
        other => other,
    }
}

/// What `force-unlock` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForceUnlocked {
    /// The holder the lock file named.
    pub info: LockInfo,
    /// Whether a process still held it (it keeps its lock on the removed file, but new runs no
    /// longer wait for it); `false` when the file only held stale information.
    pub was_held: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_timeouts_parse_with_zero_meaning_no_wait() {
        assert_eq!(parse_lock_timeout("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_lock_timeout("0"), Ok(Duration::ZERO));
        assert_eq!(parse_lock_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_lock_timeout("5m"), Ok(Duration::from_secs(300)));
        assert!(matches!(parse_lock_timeout("soon"), Err(DurationError::Invalid { .. })));
    }
}
