//! Retries through the engine: a back-end call that fails with a transient error during apply
//! is called again after a backoff and the apply succeeds; a permanent error is not repeated.
//!
//! The failures are injected by a wrapper around the real local provider (qemu-img underneath):
//! the real tool cannot be made to fail transiently on demand. The wrapper fails the first
//! `create_volume` calls and passes every call through otherwise.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use blockform::apply::OperationError;
use blockform::apply::retry::RetryPolicy;
use blockform::config::vars::VarInputs;
use blockform::engine::apply::ApplyRequest;
use blockform::engine::{Engine, Event, EventSink, PlanRequest};
use blockform::state::{LockGuard, MemoryStore, Store};
use blockform_provider::{
    Capabilities, Capacity, InventoryItem, ProviderError, ProviderKind, ReadTarget, Result, StorageProvider,
    VolumeProperties, VolumeReader, VolumeSpec, VolumeState, VolumeWriter,
};

use crate::common::project;

const CONFIG: &str = r#"
provider "local" "dev" {
  path = "./volumes"
}

resource "volume_type" "std" {
  backend = "dev"
}

resource "volume" "db" {
  name = "db"
  type = volume_type.std.id
  size = 1
}
"#;

/// The real provider, whose first `fail_first` volume creates fail with `error` instead.
struct FailingCreates {
    inner: Arc<dyn StorageProvider>,
    fail_first: u32,
    error: ProviderError,
    creates: AtomicU32,
}

impl StorageProvider for FailingCreates {
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
        self.inner.refresh(backend_names)
    }
    fn inventory(&self) -> Result<Vec<InventoryItem>> {
        self.inner.inventory()
    }
    fn capacity(&self) -> Result<Capacity> {
        self.inner.capacity()
    }
    fn create_volume(&self, spec: &VolumeSpec) -> Result<VolumeState> {
        if self.creates.fetch_add(1, Ordering::SeqCst) < self.fail_first {
            return Err(self.error.clone());
        }
        self.inner.create_volume(spec)
    }
    fn extend_volume(&self, backend_name: &str, new_size_gib: u64) -> Result<VolumeState> {
        self.inner.extend_volume(backend_name, new_size_gib)
    }
    fn update_volume_metadata(
        &self,
        backend_name: &str,
        properties: &VolumeProperties,
        volume_type: Option<&str>,
    ) -> Result<VolumeState> {
        self.inner.update_volume_metadata(backend_name, properties, volume_type)
    }
    fn delete_volume(&self, backend_name: &str) -> Result<()> {
        self.inner.delete_volume(backend_name)
    }
    fn open_reader(&self, target: &ReadTarget) -> Result<Box<dyn VolumeReader>> {
        self.inner.open_reader(target)
    }
    fn open_writer(&self, backend_name: &str) -> Result<Box<dyn VolumeWriter>> {
        self.inner.open_writer(backend_name)
    }
}

/// The retries the engine announced, as `operation attempt/attempts`.
#[derive(Default)]
struct Retries(Mutex<Vec<String>>);

impl EventSink for Retries {
    fn event(&self, event: &Event<'_>) {
        if let Event::Retrying {
            operation,
            attempt,
            attempts,
            ..
        } = event
        {
            self.0.lock().unwrap().push(format!("{operation} {attempt}/{attempts}"));
        }
    }
}

/// Plans the configuration in `dir` against empty state, applies it with the provider wrapped in
/// [`FailingCreates`], and returns the apply's report, the creates the back end saw and the
/// retries announced.
fn apply_with_failures(
    dir: &std::path::Path,
    fail_first: u32,
    error: ProviderError,
) -> (blockform::apply::ApplyReport, u32, Vec<String>) {
    let retries = Arc::new(Retries::default());
    let engine = Engine::new(
        dir,
        Box::new(|| -> std::result::Result<(Box<dyn Store>, Option<LockGuard>), String> {
            Ok((Box::new(MemoryStore::new()), None))
        }),
        Arc::clone(&retries) as Arc<dyn EventSink>,
    );
    let request = PlanRequest {
        vars: VarInputs::default(),
        interactive: false,
        target: Vec::new(),
        replace: Vec::new(),
        mode: blockform::plan::PlanMode::Normal,
        refresh: true,
        generate_config_out: None,
        allow_duplicates: false,
    };
    let planned = engine
        .plan(&request, &mut |name, _| panic!("no variable is asked for ({name})"))
        .unwrap_or_else(|e| panic!("{e}"));
    let wrapped: Arc<Mutex<Option<Arc<FailingCreates>>>> = Arc::default();
    let keep = Arc::clone(&wrapped);
    let providers = planned.providers.map_live(move |inner| {
        let failing = Arc::new(FailingCreates {
            inner,
            fail_first,
            error: error.clone(),
            creates: AtomicU32::new(0),
        });
        *keep.lock().unwrap() = Some(Arc::clone(&failing));
        failing
    });
    let applied = engine
        .apply(ApplyRequest {
            vars: VarInputs::default(),
            plan: planned.plan,
            prior: planned.prior,
            store: planned.store,
            providers,
            parallelism: 4,
            retry: RetryPolicy {
                attempts: 4,
                first_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(100),
            },
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let creates = wrapped.lock().unwrap().as_ref().unwrap().creates.load(Ordering::SeqCst);
    let announced = retries.0.lock().unwrap().clone();
    (applied.report, creates, announced)
}

/// The qcow2 images in the provider's directory.
fn images(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("volumes"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| std::path::Path::new(name).extension().is_some_and(|e| e == "qcow2"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_transient_failure_during_apply_is_retried_and_the_volume_is_made_once() {
    let dir = project(&[("main.hcl", CONFIG)]);
    let (report, creates, retries) = apply_with_failures(
        dir.path(),
        2,
        ProviderError::transient("connection to the back end reset"),
    );
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(report.done.iter().any(|d| d.address.to_string() == "volume.db"));
    assert_eq!(creates, 3, "two failed calls, then the one that made the volume");
    assert_eq!(retries, ["create_volume 1/4", "create_volume 2/4"]);
    assert_eq!(images(dir.path()).len(), 1, "{:?}", images(dir.path()));
}

#[test]
fn a_permanent_failure_during_apply_is_not_retried() {
    let dir = project(&[("main.hcl", CONFIG)]);
    let (report, creates, retries) = apply_with_failures(dir.path(), 1, ProviderError::fatal("the disk is read-only"));
    assert_eq!(creates, 1);
    assert!(retries.is_empty(), "{retries:?}");
    assert_eq!(report.failed.len(), 1);
    let failed = &report.failed[0];
    assert_eq!(failed.address.to_string(), "volume.db");
    // The back end's error reaches the report typed, not as text.
    assert!(
        matches!(&failed.error, OperationError::Provider(ProviderError::Fatal { reason, .. }) if reason == "the disk is read-only"),
        "{:?}",
        failed.error
    );
    assert!(images(dir.path()).is_empty());
}

#[test]
fn a_failure_that_outlasts_the_retries_fails_the_operation() {
    let dir = project(&[("main.hcl", CONFIG)]);
    let (report, creates, retries) = apply_with_failures(dir.path(), 10, ProviderError::transient("cluster not ready"));
    assert_eq!(creates, 4, "the policy allows four calls");
    assert_eq!(retries.len(), 3);
    assert_eq!(report.failed.len(), 1);
    assert!(report.failed[0].error.to_string().contains("cluster not ready"));
    assert!(images(dir.path()).is_empty());
}
