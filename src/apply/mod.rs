//! Apply: walk the plan's operation graph on tokio, running up to `parallelism` operations at a
//! time. For each operation: record an intent with the deterministic back-end name, call the
//! provider (off the async threads), and commit the result in one state transaction. A failed
//! operation skips everything that depends on it; independent branches go on.

mod backup;
mod execute;
mod kinds;
mod operation;
pub mod recover;
mod refresh_record;
pub mod retry;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

pub use execute::{OperationError, Outcome, Step, execute, object_id, record};
pub use refresh_record::drift_commit;

use crate::config::eval::Desired;
use crate::config::value::{Value, ValueMap};
use crate::events::{Event, EventSink};
use crate::graph::OperationGraph;
use crate::model::Address;
use crate::plan::{Action, Change, Plan};
use crate::providers::Providers;
use crate::state::{Commit, Intent, IntentAction, ResourceState, Store};

/// Re-evaluates the configuration with the objects recorded so far, so that values known only
/// after apply (ids of objects created earlier in this run) are filled in.
pub type Reevaluate = Box<dyn Fn(&[ResourceState]) -> Result<Desired, String> + Send + Sync>;

/// How to apply.
pub struct ApplyOptions {
    /// Operations running at once.
    pub parallelism: usize,
    /// The configuration directory.
    pub dir: PathBuf,
    /// Where progress goes, as events.
    pub events: Arc<dyn EventSink>,
    /// See [`Reevaluate`].
    pub reevaluate: Reevaluate,
    /// How back-end calls that fail with a transient error are repeated.
    pub retry: retry::RetryPolicy,
}

/// One finished operation.
#[derive(Debug, Clone)]
pub struct Done {
    /// The resource.
    pub address: Address,
    /// What was done.
    pub step: Step,
    /// How long it took.
    pub elapsed: Duration,
}

/// One failed operation.
#[derive(Debug, Clone)]
pub struct Failed {
    /// The resource.
    pub address: Address,
    /// What was tried.
    pub step: Step,
    /// The error: the back end's, typed, with its command line and stderr, or what the
    /// operation was missing.
    pub error: OperationError,
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// Operations that finished.
    pub done: Vec<Done>,
    /// Operations that failed.
    pub failed: Vec<Failed>,
    /// Operations not run because something they depend on failed (or the run was interrupted).
    pub skipped: Vec<(Address, Step)>,
    /// Whether an interrupt stopped the scheduling.
    pub interrupted: bool,
}

/// Whether an interrupt asked the walker to stop scheduling.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<std::sync::atomic::AtomicBool>);

impl Interrupt {
    /// Asks the walker to stop scheduling new operations.
    pub fn trigger(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether an interrupt was asked for.
    pub fn is_triggered(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn step_of(kind: crate::graph::OpKind) -> Step {
    match kind {
        crate::graph::OpKind::Create => Step::Create,
        crate::graph::OpKind::Update => Step::Update,
        crate::graph::OpKind::Delete => Step::Delete,
    }
}

/// The records known so far: state at the start plus everything committed in this run.
struct Records {
    by_address: HashMap<String, ResourceState>,
    /// Back-end id → address, for references by id.
    ids: HashMap<String, String>,
}

impl Records {
    fn new(records: Vec<ResourceState>) -> Records {
        let ids = records
            .iter()
            .map(|r| (r.backend_id.clone(), r.address.clone()))
            .collect();
        Records {
            by_address: records.into_iter().map(|r| (r.address.clone(), r)).collect(),
            ids,
        }
    }

    fn by_id(&self, id: &str) -> Option<ResourceState> {
        self.ids
            .get(id)
            .and_then(|address| self.by_address.get(address))
            .cloned()
    }

    fn put(&mut self, record: ResourceState) {
        self.ids.insert(record.backend_id.clone(), record.address.clone());
        self.by_address.insert(record.address.clone(), record);
    }

    fn remove(&mut self, address: &str) {
        if let Some(record) = self.by_address.remove(address) {
            self.ids.remove(&record.backend_id);
        }
    }
}

/// Applies a plan. Errors of single operations are in the report; `Err` is for state that
/// cannot be written (the run stops at once: nothing may happen that is not recorded).
pub async fn apply(
    plan: Arc<Plan>,
    graph: &OperationGraph,
    store: Arc<dyn Store>,
    providers: Providers,
    options: ApplyOptions,
    interrupt: Interrupt,
) -> Result<ApplyReport, crate::state::StateError> {
    let ops = graph.operations();
    let mut waiting: Vec<usize> = (0..ops.len()).map(|i| graph.dependencies(i).count()).collect();
    let mut ready: VecDeque<usize> = graph
        .topological_order()
        .into_iter()
        .filter(|i| waiting[*i] == 0)
        .collect();
    let mut blocked: HashSet<usize> = HashSet::new();
    let mut report = ApplyReport::default();
    let records = Arc::new(Mutex::new(Records::new(store.resources()?)));
    let events = Arc::clone(&options.events);
    events.event(&Event::ApplyStarted { operations: ops.len() });
    let observer: retry::RetryObserver = {
        let events = Arc::clone(&events);
        Arc::new(move |notice: &retry::RetryNotice| {
            events.event(&Event::Retrying {
                provider: &notice.provider,
                operation: notice.operation,
                attempt: notice.attempt,
                attempts: notice.attempts,
                delay: notice.delay,
                error: &notice.error,
            });
        })
    };
    let policy = options.retry;
    let providers =
        Arc::new(providers.map_live(|p| Arc::new(retry::Retrying::new(p, policy, Some(Arc::clone(&observer))))));
    let mut running: JoinSet<(usize, Result<Outcome, OperationError>, Duration)> = JoinSet::new();
    let mut evaluated: Option<(u64, Evaluated)> = None;
    let mut generation: u64 = 0;
    let mut done_at: Vec<u64> = vec![0; ops.len()];
    // Operations that finished or failed; with `blocked`, what an interrupt left unstarted is the rest.
    let mut settled: Vec<bool> = vec![false; ops.len()];
    let mut intent_ids: HashMap<usize, String> = HashMap::new();
    let mut volumes_in_use: HashSet<String> = HashSet::new();
    let mut touching: HashMap<usize, Vec<String>> = HashMap::new();

    loop {
        // Start what is ready; their intents are recorded together, before any of them runs.
        let mut starting = Vec::new();
        let mut deferred = Vec::new();
        while running.len() + starting.len() < options.parallelism.max(1) && !interrupt.is_triggered() {
            let Some(op) = ready.pop_front() else { break };
            let change = &plan.changes[ops[op].change];
            let step = step_of(ops[op].kind);

            // Values known only after apply come from a re-evaluation once what they depend on exists.
            let needed = graph.dependencies(op).map(|d| done_at[d]).max().unwrap_or(0);
            match resolve_after(change, step, needed, &mut evaluated, generation, &records, &options) {
                Ok(after) => {
                    // One operation at a time per volume image: qemu-img (like rbd) locks an
                    // image it writes, so a snapshot and an export of one volume cannot overlap.
                    let values = after.as_ref().or(change.planned());
                    let touched = records
                        .lock()
                        .map(|r| touched_volumes(change, values, &r))
                        .unwrap_or_default();
                    if touched.iter().any(|v| volumes_in_use.contains(v)) {
                        deferred.push(op);
                        continue;
                    }
                    volumes_in_use.extend(touched.iter().cloned());
                    touching.insert(op, touched);
                    let intent = intent_for(change, step, after.as_ref());
                    starting.push((op, after, intent));
                }
                Err(error) => {
                    settled[op] = true;
                    events.event(&Event::OperationFailed {
                        address: &change.address,
                        step,
                        error: &error,
                    });
                    report.failed.push(Failed {
                        address: change.address.clone(),
                        step,
                        error: OperationError::Precondition(error),
                    });
                    skip_dependents(graph, op, &mut blocked, &mut report);
                }
            }
        }
        for op in deferred.into_iter().rev() {
            ready.push_front(op);
        }
        if !starting.is_empty() {
            let put_intents = starting.iter().map(|(_, _, intent)| intent.clone()).collect();
            store.commit(&Commit {
                put_intents,
                ..Commit::default()
            })?;
        }
        for (op, after, intent) in starting {
            let change = plan.changes[ops[op].change].clone();
            let step = step_of(ops[op].kind);
            events.event(&Event::OperationStarted { change: &change, step });
            let providers = Arc::clone(&providers);
            let records = Arc::clone(&records);
            let dir = options.dir.clone();
            let started = Instant::now();
            let events = Arc::clone(&events);
            running.spawn_blocking(move || {
                let lookup = |id: &str| records.lock().ok().and_then(|r| r.by_id(id));
                let all = || {
                    records
                        .lock()
                        .map(|r| r.by_address.values().cloned().collect())
                        .unwrap_or_default()
                };
                let on_bytes = |done, total| {
                    events.event(&Event::Bytes {
                        address: &change.address,
                        step,
                        done,
                        total,
                    });
                };
                let context = execute::OperationContext {
                    providers: &providers,
                    by_id: &lookup,
                    records: &all,
                    dir: &dir,
                    on_bytes: &on_bytes,
                };
                let result = execute(&change, step, after.as_ref(), &context);
                (op, result, started.elapsed())
            });
            intent_ids.insert(op, intent.id);
        }

        // Wait for one operation, take every other one that finished meanwhile, and record
        // them all in one transaction before anything new starts.
        let Some(first) = running.join_next().await else { break };
        let mut finished = vec![first];
        while let Some(more) = running.try_join_next() {
            finished.push(more);
        }
        let mut results = Vec::with_capacity(finished.len());
        let mut commit = Commit::default();
        for joined in finished {
            let (op, result, elapsed) = match joined {
                Ok(r) => r,
                Err(e) => {
                    // A panic in a provider is a bug; the intent stays so the next run checks the object.
                    events.event(&Event::ApplyMessage(&format!("an operation stopped unexpectedly: {e}")));
                    continue;
                }
            };
            let change = &plan.changes[ops[op].change];
            for volume in touching.remove(&op).unwrap_or_default() {
                volumes_in_use.remove(&volume);
            }
            commit.remove_intents.push(intent_ids.remove(&op).unwrap_or_default());
            match &result {
                Ok(Outcome::Put(record)) => {
                    commit.put.push(record.clone());
                    // The old half of a create-before-destroy replacement is no longer in state:
                    // an intent to delete it is recorded with the new record, so a run killed
                    // before the delete finishes it instead of leaving an orphan.
                    if change.action == Action::CreateThenDelete && step_of(ops[op].kind) == Step::Create {
                        commit.put_intents.push(intent_for(change, Step::Delete, None));
                    }
                }
                // The old half of a create-before-destroy replacement leaves the new record alone.
                Ok(Outcome::Removed) if change.action != Action::CreateThenDelete => {
                    commit.remove.push(change.address.to_string());
                }
                // A failed operation left nothing behind (providers undo what a failed call wrote).
                Ok(Outcome::Removed) | Err(_) => {}
            }
            results.push((op, result, elapsed));
        }
        store.commit(&commit)?;
        generation += 1;
        for (op, result, elapsed) in results {
            let change = &plan.changes[ops[op].change];
            let step = step_of(ops[op].kind);
            settled[op] = true;
            match result {
                Ok(outcome) => {
                    done_at[op] = generation;
                    if let Ok(mut r) = records.lock() {
                        match outcome {
                            Outcome::Put(record) => r.put(record),
                            Outcome::Removed if change.action != Action::CreateThenDelete => {
                                r.remove(&change.address.to_string());
                            }
                            Outcome::Removed => {}
                        }
                    }
                    events.event(&Event::OperationFinished { change, step, elapsed });
                    report.done.push(Done {
                        address: change.address.clone(),
                        step,
                        elapsed,
                    });
                    for next in graph.dependents(op) {
                        waiting[next] -= 1;
                        if waiting[next] == 0 && !blocked.contains(&next) {
                            ready.push_back(next);
                        }
                    }
                }
                Err(error) => {
                    events.event(&Event::OperationFailed {
                        address: &change.address,
                        step,
                        error: &error.to_string(),
                    });
                    report.failed.push(Failed {
                        address: change.address.clone(),
                        step,
                        error,
                    });
                    skip_dependents(graph, op, &mut blocked, &mut report);
                }
            }
        }
        if interrupt.is_triggered() && !report.interrupted {
            report.interrupted = true;
        }
    }
    if interrupt.is_triggered() {
        report.interrupted = true;
        for (op, operation) in ops.iter().enumerate() {
            if !settled[op] && !blocked.contains(&op) {
                report
                    .skipped
                    .push((operation.address.clone(), step_of(operation.kind)));
            }
        }
    }
    events.event(&Event::ApplyFinished);
    Ok(report)
}

/// The back-end volumes an operation reads or writes: its own, the volume of a snapshot or
/// image, and the source of a clone or of a volume made from a snapshot.
fn touched_volumes(change: &Change, values: Option<&ValueMap>, records: &Records) -> Vec<String> {
    let mut touched = kinds::operations(change.address.kind).touched_volumes(change, values, &|id| records.by_id(id));
    touched.sort();
    touched.dedup();
    touched
}

fn skip_dependents(graph: &OperationGraph, op: usize, blocked: &mut HashSet<usize>, report: &mut ApplyReport) {
    let mut stack: Vec<usize> = graph.dependents(op).collect();
    while let Some(next) = stack.pop() {
        if blocked.insert(next) {
            let operation = &graph.operations()[next];
            report
                .skipped
                .push((operation.address.clone(), step_of(operation.kind)));
            stack.extend(graph.dependents(next));
        }
    }
}

fn intent_for(change: &Change, step: Step, after: Option<&ValueMap>) -> Intent {
    // The delete half of a create-before-destroy replacement has one intent from the moment
    // its new half is recorded until it finishes (see the commit loop).
    let id = if step == Step::Delete && change.action == Action::CreateThenDelete {
        format!("deposed-{}", change.backend_id.as_deref().unwrap_or_default())
    } else {
        uuid::Uuid::new_v4().to_string()
    };
    // A delete records what the object was, so recovery can find it (a snapshot's volume).
    let after = after.or(if step == Step::Delete {
        change.before.as_ref()
    } else {
        None
    });
    Intent {
        id,
        address: change.address.to_string(),
        action: match step {
            Step::Create => IntentAction::Create,
            Step::Update => IntentAction::Update,
            Step::Delete => IntentAction::Delete,
        },
        backend_id: object_id(change, step).to_owned(),
        provider: operation::object_provider(change, step).map(str::to_owned),
        started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        attributes: after
            .map(|a| a.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            .unwrap_or_default(),
        dependencies: change.depends_on.iter().map(ToString::to_string).collect(),
    }
}

/// A re-evaluated configuration with its instances indexed by address.
struct Evaluated {
    desired: Desired,
    index: HashMap<String, usize>,
}

/// Whether a value still holds something known only after apply, other than the resource's
/// own computed attributes (`volume.db.id` inside `volume.db` itself).
fn needs_resolution(address: &str, value: &Value) -> bool {
    match value {
        Value::Unknown(origin) => !origin.starts_with(&format!("{address}.")),
        Value::List(items) => items.iter().any(|v| needs_resolution(address, v)),
        Value::Map(map) => map.values().any(|v| needs_resolution(address, v)),
        _ => false,
    }
}

fn resolve_after(
    change: &Change,
    step: Step,
    needed_generation: u64,
    evaluated: &mut Option<(u64, Evaluated)>,
    generation: u64,
    records: &Mutex<Records>,
    options: &ApplyOptions,
) -> Result<Option<ValueMap>, String> {
    if step == Step::Delete {
        return Ok(None);
    }
    let Some(after) = change.planned() else { return Ok(None) };
    let address = change.address.to_string();
    let unresolved: Vec<&String> = after
        .iter()
        .filter(|(_, v)| needs_resolution(&address, v))
        .map(|(k, _)| k)
        .collect();
    if unresolved.is_empty() {
        return Ok(Some(after.clone()));
    }
    let fresh = matches!(evaluated, Some((at, _)) if *at >= needed_generation);
    if !fresh {
        let snapshot: Vec<ResourceState> = records
            .lock()
            .map(|r| r.by_address.values().cloned().collect())
            .map_err(|_| "state records are unavailable".to_owned())?;
        let desired = (options.reevaluate)(&snapshot)?;
        let index = desired
            .resources
            .iter()
            .enumerate()
            .map(|(i, r)| (r.address.to_string(), i))
            .collect();
        *evaluated = Some((generation, Evaluated { desired, index }));
    }
    let Some((_, latest)) = evaluated.as_ref() else {
        return Err("the configuration could not be evaluated".to_owned());
    };
    let instance = latest
        .index
        .get(&address)
        .map(|i| &latest.desired.resources[*i])
        .ok_or_else(|| format!("`{}` is no longer in the configuration", change.address))?;
    let mut resolved = after.clone();
    for key in unresolved {
        let value = instance.attrs.get(key).cloned().unwrap_or(Value::Null);
        if needs_resolution(&address, &value) {
            return Err(format!(
                "`{key}` of `{}` is still unknown after its dependencies were applied",
                change.address
            ));
        }
        resolved.insert(key.clone(), value);
    }
    Ok(Some(resolved))
}
