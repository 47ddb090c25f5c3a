//! Which state back end holds the state: [`BackendChoice`], as the command line and the
//! configuration's `blockform { backend "s3" { … } }` block describe it, and [`open_backend`], the one place that turns a choice
//! into an implementation. A new back end adds a variant and an arm here.

use std::path::{Path, PathBuf};

use super::backend::StateBackend;
use super::local::LocalBackend;
use super::memory_store::MemoryBackend;
use super::s3::S3Backend;
use crate::s3::S3Location;

/// Which back end holds the state, as the command line (and later the configuration)
/// describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendChoice {
    /// The sled database at this path (relative to the configuration directory, like every
    /// path blockform reads), locked by the file `PATH.lock` beside it.
    Local {
        /// The state path (`.blockform/state`).
        path: PathBuf,
    },
    /// A state shared through an S3 bucket: `blockform { backend "s3" { … } }`. The
    /// location's prefix is the block's `key`.
    S3 {
        /// The bucket, key (prefix), endpoint and region.
        location: S3Location,
    },
    /// A state held in memory, gone with the process.
    Memory,
}

/// Opens the back end `choice` names for the configuration directory `dir`: the one place
/// that knows the implementations. Nothing is read or written yet.
pub fn open_backend(dir: &Path, choice: &BackendChoice) -> Box<dyn StateBackend> {
    match choice {
        BackendChoice::Local { path } => Box::new(LocalBackend::new(dir.join(path))),
        BackendChoice::S3 { location } => Box::new(S3Backend::new(location.clone())),
        BackendChoice::Memory => Box::new(MemoryBackend::new()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::conformance::backend_conformance_tests;
    use crate::state::scratch::ScratchDir;

    mod local {
        use super::*;

        backend_conformance_tests!({
            let dir = ScratchDir::new("backend-local");
            let backend = open_backend(
                dir.path(),
                &BackendChoice::Local {
                    path: PathBuf::from(".blockform/state"),
                },
            );
            (dir, backend)
        });
    }

    /// The S3 back end against the RGW of `tests/run` (`BLOCKFORM_TEST_S3_BUCKET` and the
    /// `AWS_*` variables), each test under a prefix of its own.
    mod s3_backend {
        use super::*;

        pub(crate) fn fresh(name: &str) -> ((), Box<dyn StateBackend>) {
            let bucket = std::env::var("BLOCKFORM_TEST_S3_BUCKET")
                .expect("BLOCKFORM_TEST_S3_BUCKET names the test bucket (tests/run sets it)");
            let location = S3Location {
                bucket,
                prefix: format!("unit/{name}-{}", uuid::Uuid::new_v4()),
                endpoint: None,
                region: None,
            };
            ((), open_backend(Path::new("."), &BackendChoice::S3 { location }))
        }

        backend_conformance_tests!(ignored: fresh("conformance"));
    }

    mod memory {
        use super::*;

        backend_conformance_tests!(((), open_backend(Path::new("."), &BackendChoice::Memory)));
    }

    #[test]
    fn the_local_back_end_keeps_todays_layout() {
        let dir = ScratchDir::new("backend-layout");
        let backend = open_backend(
            dir.path(),
            &BackendChoice::Local {
                path: PathBuf::from(".blockform/state"),
            },
        );
        assert_eq!(
            backend.location(),
            dir.path().join(".blockform/state").display().to_string()
        );
        assert!(!backend.exists().unwrap());
        let guard = backend.lock("apply", Duration::ZERO).unwrap();
        assert_eq!(
            guard.location(),
            dir.path().join(".blockform/state.lock").display().to_string()
        );
        let written: crate::state::lock::LockInfo =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(".blockform/state.lock")).unwrap()).unwrap();
        assert_eq!(&written, guard.info());
        assert!(!backend.exists().unwrap(), "the lock file alone is no state");
        let store = backend.open().unwrap();
        assert!(backend.exists().unwrap());
        assert!(dir.path().join(".blockform/state/db").is_file());
        drop(store);
        backend.unlock(guard).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".blockform/state.lock")).unwrap(),
            "",
            "an unlocked lock file is empty"
        );
    }
}
