//! The engine without the command line: a front end gets the plan, a stream of events while an
//! apply runs, and typed errors it can tell apart (configuration, state), with nothing printed.

use std::sync::{Arc, Mutex};

use blockform::apply::retry::RetryPolicy;
use blockform::config::vars::VarInputs;
use blockform::engine::apply::ApplyRequest;
use blockform::engine::{Engine, ErrorKind, Event, EventSink, PlanRequest};
use blockform::state::{LockGuard, MemoryStore, Store};

use crate::common::project;

const CONFIG: &str = r#"
provider "local" "dev" {
  path = "./volumes"
}

resource "volume_type" "std" {
  backend = "dev"
}

resource "volume" "a" {
  name = "a"
  type = volume_type.std.id
  size = 1
}

resource "snapshot" "a" {
  volume = volume.a.id
}
"#;

/// Every event, as a line.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl EventSink for Recorder {
    fn event(&self, event: &Event<'_>) {
        let line = match event {
            Event::ApplyStarted { operations } => format!("apply of {operations}"),
            Event::OperationStarted { change, step } => format!("start {:?} {}", step, change.address),
            Event::OperationFinished { change, step, .. } => format!("done {:?} {}", step, change.address),
            Event::OperationFailed { address, error, .. } => format!("failed {address}: {error}"),
            Event::ApplyFinished => "apply over".to_owned(),
            Event::Warnings { diagnostics, .. } => format!("{} warnings", diagnostics.warning_count()),
            Event::Notice(text) | Event::Output(text) | Event::ApplyMessage(text) => text.trim().to_owned(),
            Event::DriftBeforeErrors(_) => "drift".to_owned(),
            Event::Bytes { .. } | Event::Retrying { .. } => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

fn request() -> PlanRequest {
    PlanRequest {
        vars: VarInputs::default(),
        interactive: false,
        target: Vec::new(),
        replace: Vec::new(),
        mode: blockform::plan::PlanMode::Normal,
        refresh: true,
        generate_config_out: None,
        allow_duplicates: false,
    }
}

fn memory_state() -> Box<blockform::engine::plan::OpenState<'static>> {
    Box::new(|| -> Result<(Box<dyn Store>, Option<LockGuard>), String> { Ok((Box::new(MemoryStore::new()), None)) })
}

#[test]
fn an_apply_reports_each_operation_as_events_between_its_start_and_end() {
    let dir = project(&[("main.hcl", CONFIG)]);
    let recorder = Arc::new(Recorder::default());
    let engine = Engine::new(dir.path(), memory_state(), Arc::clone(&recorder) as Arc<dyn EventSink>);
    let planned = engine
        .plan(&request(), &mut |_, _| unreachable!())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(planned.plan.summary().add, 3);
    let applied = engine
        .apply(ApplyRequest {
            vars: VarInputs::default(),
            plan: planned.plan,
            prior: planned.prior,
            store: planned.store,
            providers: planned.providers,
            parallelism: 2,
            retry: RetryPolicy::default(),
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(applied.report.failed.is_empty());
    let events = recorder.0.lock().unwrap().clone();
    assert_eq!(events.first().map(String::as_str), Some("apply of 3"), "{events:#?}");
    assert_eq!(events.last().map(String::as_str), Some("apply over"), "{events:#?}");
    let position = |line: &str| {
        events
            .iter()
            .position(|e| e == line)
            .unwrap_or_else(|| panic!("`{line}` in {events:#?}"))
    };
    // Each operation starts before it ends, and the snapshot starts only once its volume exists.
    for address in ["volume_type.std", "volume.a", "snapshot.a"] {
        assert!(position(&format!("start Create {address}")) < position(&format!("done Create {address}")));
    }
    assert!(position("done Create volume.a") < position("start Create snapshot.a"));
}

#[test]
fn a_configuration_error_is_a_config_error_with_its_diagnostics() {
    let dir = project(&[("main.hcl", "resource \"volume\" \"a\" {\n  size = \"big\"\n}\n")]);
    let recorder = Arc::new(Recorder::default());
    let engine = Engine::new(dir.path(), memory_state(), Arc::clone(&recorder) as Arc<dyn EventSink>);
    let Err(error) = engine.plan(&request(), &mut |_, _| unreachable!()) else {
        panic!("the plan of an invalid configuration fails");
    };
    assert_eq!(error.kind, ErrorKind::Config);
    let (_, diagnostics) = error
        .diagnostics
        .as_deref()
        .expect("configuration errors carry diagnostics");
    assert!(diagnostics.has_errors());
    assert!(recorder.0.lock().unwrap().is_empty(), "nothing ran");
}

#[test]
fn a_state_that_cannot_be_opened_is_a_state_error() {
    let dir = project(&[("main.hcl", CONFIG)]);
    let engine = Engine::new(
        dir.path(),
        Box::new(|| -> Result<(Box<dyn Store>, Option<LockGuard>), String> {
            Err("state is locked by someone@host (pid 42, apply) since 2026-12-05T10:00:00Z".to_owned())
        }),
        Arc::new(blockform::engine::Quiet),
    );
    let Err(error) = engine.plan(&request(), &mut |_, _| unreachable!()) else {
        panic!("no plan without state");
    };
    assert_eq!(error.kind, ErrorKind::State);
    assert!(
        error.to_string().starts_with("state is locked by someone@host"),
        "{error}"
    );
}

#[test]
fn an_apply_refuses_a_state_another_writer_changed_after_the_plan() {
    let dir = project(&[("main.hcl", CONFIG)]);
    let shared = MemoryStore::new();
    let handle = shared.clone();
    let engine = Engine::new(
        dir.path(),
        Box::new(move || -> Result<(Box<dyn Store>, Option<LockGuard>), String> {
            Ok((Box::new(handle.clone()), None))
        }),
        Arc::new(blockform::engine::Quiet),
    );
    let planned = engine
        .plan(&request(), &mut |_, _| unreachable!())
        .unwrap_or_else(|e| panic!("{e}"));
    // Another run (without the lock) records something in the meantime.
    let other = shared.commit(&blockform::state::Commit {
        put: vec![blockform::state::ResourceState {
            address: "volume.other".into(),
            backend_id: "volume-0".into(),
            provider: Some("dev".into()),
            attributes: serde_json::Map::new(),
            dependencies: Vec::new(),
            status: "available".into(),
        }],
        ..blockform::state::Commit::default()
    });
    assert_eq!(other.unwrap(), planned.plan.serial + 1);
    let Err(error) = engine.apply(ApplyRequest {
        vars: VarInputs::default(),
        plan: planned.plan,
        prior: planned.prior,
        store: planned.store,
        providers: planned.providers,
        parallelism: 2,
        retry: RetryPolicy::default(),
    }) else {
        panic!("the stale apply is refused");
    };
    assert_eq!(error.kind, ErrorKind::State);
    assert!(error.message.contains("another writer committed serial"), "{error}");
    assert!(!dir.path().join("volumes").exists(), "nothing was created");
    assert_eq!(
        shared.resources().unwrap().len(),
        1,
        "the other writer's record stays alone"
    );
}
