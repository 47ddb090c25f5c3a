//! Plans built by hand for the graph tests, shaped the way `plan::diff` makes them: an object
//! the plan makes is referred to by an unknown id (`volume.db.id`), an existing one by its
//! back-end id (here `id:volume.db`).

use crate::config::value::{Value, ValueMap};
use crate::model::Address;
use crate::plan::{Action, Change, Plan, StorageAction};

pub(super) fn address(text: &str) -> Address {
    Address::parse(text).unwrap_or_else(|| panic!("`{text}` is not an address"))
}

/// The back-end id of the existing object at `at`.
pub(super) fn id(at: &str) -> String {
    format!("id:{at}")
}

/// A reference to the object the plan makes at `at` (`volume.db.id`, unknown until apply).
pub(super) fn new_ref(at: &str) -> Value {
    Value::Unknown(format!("{at}.id"))
}

/// A reference to the existing object at `at`, by its back-end id.
pub(super) fn old_ref(at: &str) -> Value {
    Value::String(id(at))
}

pub(super) fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

/// A change with its action, `before` (with the existing id) when something exists and
/// `after` (with an unknown id for new objects) when something will.
pub(super) fn change(at: &str, action: Action) -> Change {
    let existing = || -> ValueMap { [("id".to_owned(), old_ref(at))].into_iter().collect() };
    let before = matches!(
        action,
        Action::Update | Action::Delete | Action::DeleteThenCreate | Action::CreateThenDelete | Action::NoOp
    )
    .then(existing);
    let after = match action {
        Action::Delete => None,
        Action::Update | Action::NoOp => Some(existing()),
        _ => Some([("id".to_owned(), new_ref(at))].into_iter().collect()),
    };
    Change {
        address: address(at),
        action,
        storage: None,
        reason: None,
        before,
        after,
        replace_paths: Vec::new(),
        data_loss: false,
        notes: Vec::new(),
        provider: Some("ssd".to_owned()),
        backend_id: Some(id(at)),
        depends_on: Vec::new(),
        replacement_id: None,
        prior_provider: None,
    }
}

pub(super) fn create(at: &str) -> Change {
    change(at, Action::Create)
}

pub(super) fn update(at: &str) -> Change {
    change(at, Action::Update)
}

pub(super) fn delete(at: &str) -> Change {
    change(at, Action::Delete)
}

pub(super) fn plan(changes: Vec<Change>) -> Plan {
    Plan {
        changes,
        lineage: "lineage".to_owned(),
        serial: 1,
        ..Plan::default()
    }
}

/// Small edits to a change, chained.
pub(super) trait Shape {
    /// Sets an attribute on whichever of `before` and `after` the change has.
    fn set(self, name: &str, value: Value) -> Self;
    /// Sets an attribute of `before` only.
    fn set_before(self, name: &str, value: Value) -> Self;
    /// Sets an attribute of `after` only.
    fn set_after(self, name: &str, value: Value) -> Self;
    /// Adds a dependency (`volume.db`, or `volume.v` for every instance).
    fn depends(self, at: &str) -> Self;
    /// Sets the storage action.
    fn storage(self, action: StorageAction) -> Self;
}

impl Shape for Change {
    fn set(self, name: &str, value: Value) -> Self {
        let has_before = self.before.is_some();
        let has_after = self.after.is_some();
        let mut change = self;
        if has_before {
            change = change.set_before(name, value.clone());
        }
        if has_after {
            change = change.set_after(name, value);
        }
        change
    }

    fn set_before(mut self, name: &str, value: Value) -> Self {
        self.before
            .get_or_insert_with(ValueMap::default)
            .insert(name.to_owned(), value);
        self
    }

    fn set_after(mut self, name: &str, value: Value) -> Self {
        self.after
            .get_or_insert_with(ValueMap::default)
            .insert(name.to_owned(), value);
        self
    }

    fn depends(mut self, at: &str) -> Self {
        self.depends_on.push(address(at));
        self
    }

    fn storage(mut self, action: StorageAction) -> Self {
        self.storage = Some(action);
        self
    }
}
