//! Retries of transient back-end failures: a [`Retrying`] provider wraps each live provider of
//! an apply and repeats a call that failed with a retryable error
//! ([`blockform_provider::ProviderError::is_retryable`]: `Transient`, `TimedOut`) after an exponential backoff, up
//! to [`RetryPolicy::attempts`] calls. Every other error is returned at once: a refusal
//! (`Conflict`, `InvalidState`, `NotFound`, `Busy`…) does not change by asking again.
//!
//! A call may be repeated safely because of the provider contract: a failed call leaves nothing
//! behind, creating a name that exists is a `Conflict` (never a second object), deleting what
//! is gone is success.

use std::sync::Arc;
use std::time::Duration;

use blockform_provider::{
    Capabilities, Capacity, ChangeMarker, ChangedExtents, ExportedImage, ImageExportSpec, InventoryItem, ProviderKind,
    QosSpecs, ReadTarget, Result, SnapshotSpec, SnapshotState, StorageProvider, VolumeProperties, VolumeReader,
    VolumeSpec, VolumeState, VolumeWriter,
};

/// How often and how patiently a failed call is repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls in all, the first included (1: no retry).
    pub attempts: u32,
    /// The wait before the first retry; each further wait doubles it.
    pub first_delay: Duration,
    /// The longest wait between two calls.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Four calls, waiting 1 s, 2 s and 4 s between them: enough for a monitor election or a
    /// dropped ssh connection. (An image lock held by a process on its way out is `Busy`, which
    /// is not retried here: the local provider waits a moment for such a lock itself.)
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed call number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2_u32.saturating_pow(attempt.saturating_sub(1));
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// A retry about to happen, for the progress display.
#[derive(Debug, Clone)]
pub struct RetryNotice {
    /// The provider block.
    pub provider: String,
    /// The provider operation (`create_volume`).
    pub operation: &'static str,
    /// The call that failed (1-based).
    pub attempt: u32,
    /// Calls allowed in all.
    pub attempts: u32,
    /// How long until the next call.
    pub delay: Duration,
    /// The failure.
    pub error: String,
}

/// Told of each retry before its wait.
pub type RetryObserver = Arc<dyn Fn(&RetryNotice) + Send + Sync>;

/// Calls `call` until it succeeds, fails with an error that is not retryable, or has been
/// called `policy.attempts` times; `observe` hears of each retry before its wait.
pub fn with_retries<T>(
    policy: &RetryPolicy,
    provider: &str,
    operation: &'static str,
    observe: Option<&RetryObserver>,
    mut call: impl FnMut() -> Result<T>,
) -> Result<T> {
    let mut attempt = 1;
    loop {
        match call() {
            Err(error) if error.is_retryable() && attempt < policy.attempts => {
                let delay = policy.delay(attempt);
                if let Some(observe) = observe {
                    observe(&RetryNotice {
                        provider: provider.to_owned(),
                        operation,
                        attempt,
                        attempts: policy.attempts,
                        delay,
                        error: error.to_string(),
                    });
                }
                std::thread::sleep(delay);
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// A provider whose calls are retried by [`with_retries`].
pub struct Retrying {
    inner: Arc<dyn StorageProvider>,
    policy: RetryPolicy,
    observe: Option<RetryObserver>,
}

impl Retrying {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn StorageProvider>, policy: RetryPolicy, observe: Option<RetryObserver>) -> Retrying {
        Retrying { inner, policy, observe }
    }

    fn call<T>(&self, operation: &'static str, call: impl FnMut() -> Result<T>) -> Result<T> {
        with_retries(&self.policy, self.inner.name(), operation, self.observe.as_ref(), call)
    }
}

impl StorageProvider for Retrying {
    fn kind(&self) -> ProviderKind {
        self.inner.kind()
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn refresh(&self, backend_names: &[String]) -> Result<Vec<VolumeState>> {
        self.call("refresh", || self.inner.refresh(backend_names))
    }

    fn inventory(&self) -> Result<Vec<InventoryItem>> {
        self.call("inventory", || self.inner.inventory())
    }

    fn capacity(&self) -> Result<Capacity> {
        self.call("capacity", || self.inner.capacity())
    }

    fn create_volume(&self, spec: &VolumeSpec) -> Result<VolumeState> {
        self.call("create_volume", || self.inner.create_volume(spec))
    }

    fn discard_interrupted_create(&self, backend_name: &str) -> Result<()> {
        self.call("discard_interrupted_create", || {
            self.inner.discard_interrupted_create(backend_name)
        })
    }

    fn extend_volume(&self, backend_name: &str, new_size_gib: u64) -> Result<VolumeState> {
        self.call("extend_volume", || self.inner.extend_volume(backend_name, new_size_gib))
    }

    fn update_volume_metadata(
        &self,
        backend_name: &str,
        properties: &VolumeProperties,
        volume_type: Option<&str>,
    ) -> Result<VolumeState> {
        self.call("update_volume_metadata", || {
            self.inner.update_volume_metadata(backend_name, properties, volume_type)
        })
    }

    fn delete_volume(&self, backend_name: &str) -> Result<()> {
        self.call("delete_volume", || self.inner.delete_volume(backend_name))
    }

    fn open_reader(&self, target: &ReadTarget) -> Result<Box<dyn VolumeReader>> {
        self.call("open_reader", || self.inner.open_reader(target))
    }

    fn open_writer(&self, backend_name: &str) -> Result<Box<dyn VolumeWriter>> {
        self.call("open_writer", || self.inner.open_writer(backend_name))
    }

    fn create_snapshot(&self, spec: &SnapshotSpec) -> Result<SnapshotState> {
        self.call("create_snapshot", || self.inner.create_snapshot(spec))
    }

    fn delete_snapshot(&self, volume_backend_name: &str, snapshot_backend_name: &str) -> Result<()> {
        self.call("delete_snapshot", || {
            self.inner.delete_snapshot(volume_backend_name, snapshot_backend_name)
        })
    }

    fn apply_qos(&self, backend_name: &str, specs: &QosSpecs) -> Result<()> {
        self.call("apply_qos", || self.inner.apply_qos(backend_name, specs))
    }

    fn export_image(&self, spec: &ImageExportSpec) -> Result<ExportedImage> {
        self.call("export_image", || self.inner.export_image(spec))
    }

    fn planned_disk(&self, volume_backend_name: &str) -> Option<blockform_provider::DiskSource> {
        self.inner.planned_disk(volume_backend_name)
    }

    fn connect(&self, volume_backend_name: &str, host: &str) -> Result<blockform_provider::DiskSource> {
        self.call("connect", || self.inner.connect(volume_backend_name, host))
    }

    fn create_change_marker(&self, backend_name: &str, marker_name: &str) -> Result<ChangeMarker> {
        self.call("create_change_marker", || {
            self.inner.create_change_marker(backend_name, marker_name)
        })
    }

    fn delete_change_marker(&self, backend_name: &str, marker: &ChangeMarker) -> Result<()> {
        self.call("delete_change_marker", || {
            self.inner.delete_change_marker(backend_name, marker)
        })
    }

    fn change_markers(&self, backend_name: &str) -> Result<Vec<ChangeMarker>> {
        self.call("change_markers", || self.inner.change_markers(backend_name))
    }

    fn changed_extents(&self, target: &ReadTarget, since: Option<&ChangeMarker>) -> Result<ChangedExtents> {
        self.call("changed_extents", || self.inner.changed_extents(target, since))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use blockform_provider::ProviderError;

    use super::*;

    fn quick(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let policy = RetryPolicy::default();
        let delays: Vec<u64> = (1..=7).map(|n| policy.delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn a_transient_failure_is_retried_until_it_passes() {
        let calls = AtomicU32::new(0);
        let heard = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&heard);
        let observe: RetryObserver = Arc::new(move |notice: &RetryNotice| {
            log.lock().unwrap().push((notice.attempt, notice.error.clone()));
        });
        let result = with_retries(&quick(4), "ssd", "create_volume", Some(&observe), || {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(ProviderError::transient("monitor election"))
            } else {
                Ok("made")
            }
        });
        assert_eq!(result.unwrap(), "made");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(
            *heard.lock().unwrap(),
            [
                (1, "temporary failure: monitor election".to_owned()),
                (2, "temporary failure: monitor election".to_owned())
            ]
        );
    }

    #[test]
    fn a_permanent_failure_is_returned_after_one_call() {
        let calls = AtomicU32::new(0);
        let result: Result<()> = with_retries(&quick(4), "ssd", "create_volume", None, || {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ProviderError::fatal("pool `rbd` does not exist"))
        });
        assert_eq!(result.unwrap_err().to_string(), "pool `rbd` does not exist");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failure_that_persists_ends_after_the_allowed_calls() {
        let calls = AtomicU32::new(0);
        let result: Result<()> = with_retries(&quick(3), "ssd", "delete_volume", None, || {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ProviderError::transient("connection refused"))
        });
        assert!(result.unwrap_err().is_retryable());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
