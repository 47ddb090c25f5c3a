//! The lock of the local state: a file next to it (`.blockform/state.lock`) locked with
//! `File::try_lock` and holding who took it ([`StateLock`]), so that a second run is told
//! "state is locked by root@host (pid 4242, apply) since …" instead of meeting sled's raw
//! error. The operating system releases the lock when its holder dies, so only a hung holder
//! ever needs `force-unlock`.
// `File::try_lock` and `File::unlock` are stable since Rust 1.89 and this crate is built with
// 1.95, but the workspace still declares `rust-version = "1.85"`; raising it to 1.89 makes this
// allow unnecessary.
#![allow(clippy::incompatible_msrv)]

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::lock::{Attempt, ForceUnlocked, HeldLock, LockError, LockInfo, acquire_with_backoff};

/// The lock file of the state at `state_path`: `<state_path>.lock`.
pub fn lock_path(state_path: &Path) -> PathBuf {
    let mut path = state_path.as_os_str().to_owned();
    path.push(".lock");
    PathBuf::from(path)
}

/// The held state lock; released (the file emptied and unlocked) when dropped.
#[derive(Debug)]
pub struct StateLock {
    /// `None` once released.
    file: Option<File>,
    path: PathBuf,
    info: LockInfo,
}

impl StateLock {
    /// Takes the lock of the state at `state_path` for `operation`, retrying with backoff
    /// (50 ms, doubling up to 1 s) while another process holds it, for at most `timeout`.
    pub fn acquire(state_path: &Path, operation: &str, timeout: Duration) -> Result<StateLock, LockError> {
        let path = lock_path(state_path);
        let io = |action, source| LockError::Io {
            action,
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| LockError::Io {
                action: "create the directory of",
                path: path.clone(),
                source,
            })?;
        }
        let at = path.as_path();
        acquire_with_backoff(timeout, || {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| io("create", e))?;
            match file.try_lock() {
                Ok(()) => {
                    // `force-unlock` may have removed the file between our open and lock: the
                    // lock on an unlinked file guards nothing, so start over with a new file.
                    if !is_same_file(&file, &path) {
                        return Ok(Attempt::Again);
                    }
                    let info = LockInfo::for_this_process(operation);
                    write_info(&file, &info).map_err(|e| io("write", e))?;
                    Ok(Attempt::Taken(StateLock {
                        file: Some(file),
                        path: path.clone(),
                        info,
                    }))
                }
                Err(TryLockError::WouldBlock) => Ok(Attempt::Busy(Box::new(move || held_error(&file, at)))),
                Err(TryLockError::Error(e)) => Err(io("lock", e)),
            }
        })
    }

    /// Who holds it: this process.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lets go of the lock: empties the file, then unlocks it. Emptying first means no one
    /// reads our info after we let go.
    pub fn release(mut self) -> Result<(), LockError> {
        let Some(file) = self.file.take() else { return Ok(()) };
        let io = |action, source| LockError::Io {
            action,
            path: self.path.clone(),
            source,
        };
        file.set_len(0).map_err(|e| io("empty", e))?;
        file.unlock().map_err(|e| io("unlock", e))
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // If emptying fails, the next holder overwrites the stale info anyway.
        if let Some(file) = self.file.take() {
            let _ = file.set_len(0);
            let _ = file.unlock();
        }
    }
}

impl HeldLock for StateLock {
    fn release(self: Box<Self>) -> Result<(), LockError> {
        StateLock::release(*self)
    }
}

/// Removes the state lock if `id` is its lock id. A holder that is still running keeps its
/// lock on the removed file; the next run creates a new one.
pub fn force_unlock(state_path: &Path, id: &str) -> Result<ForceUnlocked, LockError> {
    let path = lock_path(state_path);
    let file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LockError::NotLocked {
                location: path.display().to_string(),
            });
        }
        Err(source) => {
            return Err(LockError::Io {
                action: "open",
                path,
                source,
            });
        }
    };
    let Some(info) = read_info(&file) else {
        return Err(LockError::NotLocked {
            location: path.display().to_string(),
        });
    };
    if info.id != id.trim() {
        return Err(LockError::IdMismatch {
            given: id.to_owned(),
            info,
        });
    }
    // If we can take it, its holder is gone and the file only held stale information; holding
    // it while the file is removed keeps a concurrent `acquire` from using the old file.
    let was_held = !matches!(file.try_lock(), Ok(()));
    std::fs::remove_file(&path).map_err(|source| LockError::Io {
        action: "remove",
        path: path.clone(),
        source,
    })?;
    Ok(ForceUnlocked { info, was_held })
}

/// The error for a lock someone else holds. A holder that has just taken the lock may not have
/// written its info yet, so an empty file is read again a few times.
fn held_error(file: &File, path: &Path) -> LockError {
    for _ in 0..5 {
        if let Some(info) = read_info(file) {
            return LockError::Held { info };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    LockError::HeldByUnknown {
        location: path.display().to_string(),
    }
}

fn read_info(mut file: &File) -> Option<LockInfo> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_info(mut file: &File, info: &LockInfo) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(info).map_err(std::io::Error::other)?;
    text.push('\n');
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Whether `path` still names the open `file`.
#[cfg(unix)]
fn is_same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether `path` still names the open `file` (Windows refuses to remove an open file, so it
/// always does).
#[cfg(not(unix))]
fn is_same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::state::scratch::ScratchDir;

    /// Set to a state path, [`hold_lock_helper`] holds its lock until `<path>.release` exists.
    const HOLD_LOCK_ENV: &str = "BLOCKFORM_TEST_HOLD_LOCK";

    fn held_info(error: LockError) -> LockInfo {
        match error {
            LockError::Held { info } => info,
            other => panic!("expected a held lock, got {other:?}"),
        }
    }

    #[test]
    fn the_lock_file_sits_next_to_the_state_and_says_who_holds_it() {
        let dir = ScratchDir::new("lock-info");
        let state = dir.path().join(".blockform/state");
        let lock = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
        assert_eq!(lock.path(), dir.path().join(".blockform/state.lock"));
        let written: LockInfo = serde_json::from_str(&std::fs::read_to_string(lock.path()).unwrap()).unwrap();
        assert_eq!(&written, lock.info());
        assert_eq!(written.pid, std::process::id());
        assert_eq!(written.operation, "apply");
        assert!(written.who.contains('@'), "{}", written.who);
        assert!(
            humantime::parse_rfc3339(&written.created).is_ok(),
            "{}",
            written.created
        );
        assert!(uuid::Uuid::parse_str(&written.id).is_ok(), "{}", written.id);
        drop(lock);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".blockform/state.lock")).unwrap(),
            ""
        );
    }

    #[test]
    fn a_second_holder_is_told_who_has_it() {
        let dir = ScratchDir::new("lock-held");
        let state = dir.path().join("state");
        let first = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let error = std::thread::scope(|s| {
            s.spawn(|| StateLock::acquire(&state, "plan", Duration::ZERO))
                .join()
                .unwrap()
                .unwrap_err()
        });
        let info = first.info();
        assert_eq!(
            error.to_string(),
            format!(
                "state is locked by {} (pid {}, apply) since {}; lock id {}",
                info.who, info.pid, info.created, info.id
            )
        );
        assert_eq!(
            error.hint().unwrap(),
            format!(
                "run with `--lock-timeout=30s` to wait for it, or `blockform force-unlock {}` if that process is gone",
                info.id
            )
        );
        assert_eq!(&held_info(error), info);
        drop(first);
        StateLock::acquire(&state, "plan", Duration::ZERO).unwrap();
    }

    #[test]
    fn a_waiting_run_gets_the_lock_once_it_is_released() {
        let dir = ScratchDir::new("lock-wait");
        let state = dir.path().join("state");
        let first = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let started = Instant::now();
        let second = std::thread::scope(|s| {
            let waiter = s.spawn(|| StateLock::acquire(&state, "plan", Duration::from_secs(20)));
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
            waiter.join().unwrap()
        })
        .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(second.info().operation, "plan");
    }

    #[test]
    fn a_wait_that_times_out_reports_the_holder() {
        let dir = ScratchDir::new("lock-timeout");
        let state = dir.path().join("state");
        let first = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let started = Instant::now();
        let error = StateLock::acquire(&state, "plan", Duration::from_millis(400)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(400));
        assert_eq!(&held_info(error), first.info());
    }

    #[test]
    fn force_unlock_refuses_another_id() {
        let dir = ScratchDir::new("lock-mismatch");
        let state = dir.path().join("state");
        let lock = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let error = force_unlock(&state, "not-the-id").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("lock id `not-the-id` does not match the state lock: it is held by "),
            "{error}"
        );
        assert!(error.to_string().ends_with(&format!("with lock id {}", lock.info().id)));
        assert!(lock.path().exists(), "the lock file stays");
    }

    #[test]
    fn force_unlock_lets_new_runs_in_while_the_hung_holder_keeps_its_old_file() {
        let dir = ScratchDir::new("lock-force");
        let state = dir.path().join("state");
        let hung = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let removed = force_unlock(&state, &hung.info().id).unwrap();
        assert_eq!((&removed.info, removed.was_held), (hung.info(), true));
        assert!(!hung.path().exists());
        let next = StateLock::acquire(&state, "plan", Duration::ZERO).unwrap();
        drop(hung);
        let on_disk: LockInfo = serde_json::from_str(&std::fs::read_to_string(next.path()).unwrap()).unwrap();
        assert_eq!(
            &on_disk,
            next.info(),
            "the old holder's release does not touch the new file"
        );
        assert!(matches!(
            StateLock::acquire(&state, "plan", Duration::ZERO),
            Err(LockError::Held { .. })
        ));
    }

    #[test]
    fn force_unlock_without_a_lock_says_so() {
        let dir = ScratchDir::new("lock-none");
        let state = dir.path().join("state");
        assert!(matches!(force_unlock(&state, "x"), Err(LockError::NotLocked { .. })));
        drop(StateLock::acquire(&state, "apply", Duration::ZERO).unwrap());
        assert!(matches!(force_unlock(&state, "x"), Err(LockError::NotLocked { .. })));
    }

    /// Not a test: the other process of [`another_process_holding_the_lock_is_named`], started
    /// from this test binary with [`HOLD_LOCK_ENV`] set.
    #[test]
    #[ignore = "helper process, started by another test"]
    fn hold_lock_helper() {
        let Some(state) = std::env::var_os(HOLD_LOCK_ENV).map(PathBuf::from) else {
            return;
        };
        let _lock = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let release = lock_path(&state).with_extension("release");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !release.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The helper process; killed and reaped when dropped, even if a test fails.
    struct Holder(std::process::Child);

    impl Drop for Holder {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Starts [`hold_lock_helper`] on `state` and waits until it holds the lock.
    fn start_holder(state: &Path) -> (Holder, LockInfo) {
        let holder = Holder(
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "state::lock_file::tests::hold_lock_helper",
                    "--ignored",
                    "--quiet",
                ])
                .env(HOLD_LOCK_ENV, state)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(lock_path(state)).unwrap_or_default();
            if let Ok(info) = serde_json::from_str::<LockInfo>(&text) {
                return (holder, info);
            }
            assert!(
                Instant::now() < deadline,
                "the helper process did not take the lock within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn another_process_holding_the_lock_is_named() {
        let dir = ScratchDir::new("lock-process");
        let state = dir.path().join("state");
        let (mut holder, info) = start_holder(&state);
        assert_eq!(info.pid, holder.0.id());
        assert_eq!(info.operation, "apply");
        let error = StateLock::acquire(&state, "plan", Duration::ZERO).unwrap_err();
        assert!(
            error.to_string().starts_with(&format!(
                "state is locked by {} (pid {}, apply) since ",
                info.who,
                holder.0.id()
            )),
            "{error}"
        );
        let release = lock_path(&state).with_extension("release");
        let waiter = std::thread::spawn({
            let state = state.clone();
            move || StateLock::acquire(&state, "plan", Duration::from_secs(30))
        });
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(&release, "").unwrap();
        let lock = waiter.join().unwrap().unwrap();
        assert_eq!(lock.info().pid, std::process::id());
        assert!(holder.0.wait().unwrap().success());
    }

    #[test]
    fn a_killed_holder_leaves_no_lock_behind() {
        let dir = ScratchDir::new("lock-killed");
        let state = dir.path().join("state");
        let (mut holder, info) = start_holder(&state);
        holder.0.kill().unwrap();
        holder.0.wait().unwrap();
        let left: LockInfo = serde_json::from_str(&std::fs::read_to_string(lock_path(&state)).unwrap()).unwrap();
        assert_eq!(left, info, "the killed process could not empty the file");
        let lock = StateLock::acquire(&state, "plan", Duration::ZERO).unwrap();
        assert_eq!(lock.info().pid, std::process::id());
    }
}
