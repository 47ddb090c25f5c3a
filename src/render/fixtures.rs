//! Plans built by hand for the renderer tests: one change of every kind and storage action,
//! shaped the way `plan::diff` makes them.

use crate::config::value::{Value, ValueMap};
use crate::model::Address;
use crate::plan::{Action, Change, Drift, OutputChange, Plan, Reason, StorageAction};

pub(crate) fn address(text: &str) -> Address {
    Address::parse(text).unwrap_or_else(|| panic!("`{text}` is not an address"))
}

pub(crate) fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

pub(crate) fn n(number: f64) -> Value {
    Value::Number(number)
}

pub(crate) fn unknown(origin: &str) -> Value {
    Value::Unknown(origin.to_owned())
}

pub(crate) fn list<const N: usize>(items: [Value; N]) -> Value {
    Value::List(items.into())
}

pub(crate) fn map<const N: usize>(entries: [(&str, Value); N]) -> ValueMap {
    entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

pub(crate) fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Map(map(entries))
}

/// A change with nothing but its address and action.
pub(crate) fn change(at: &str, action: Action) -> Change {
    Change {
        address: address(at),
        action,
        storage: None,
        reason: None,
        before: None,
        after: None,
        replace_paths: Vec::new(),
        data_loss: false,
        notes: Vec::new(),
        provider: Some("ssd".to_owned()),
        backend_id: None,
        depends_on: Vec::new(),
        replacement_id: None,
        prior_provider: None,
    }
}

pub(crate) fn plan(changes: Vec<Change>) -> Plan {
    Plan {
        changes,
        lineage: "9f1c0c1e-lineage".to_owned(),
        serial: 7,
        ..Plan::default()
    }
}

/// `volume.db` created: a type known only after apply, tags, metadata, computed attributes.
pub(crate) fn create_volume() -> Change {
    Change {
        after: Some(map([
            ("name", s("db-data")),
            ("description", Value::Null),
            ("type", unknown("volume_type.ssd.id")),
            ("size", n(100.0)),
            ("bootable", Value::Bool(false)),
            ("tags", list([s("db"), s("prod")])),
            ("metadata", object([("owner", s("dba")), ("cost centre", s("42"))])),
            ("id", unknown("volume.db.id")),
            ("status", unknown("volume.db.status")),
        ])),
        backend_id: Some("volume-5c0e".to_owned()),
        ..change("volume.db", Action::Create)
    }
}

/// `volume_type.ssd` updated in place: a multi-line description changes.
pub(crate) fn update_description() -> Change {
    let before = map([
        ("name", s("ssd")),
        ("description", s("SSD pool\nfor databases\nnot replicated\n")),
        ("backend", s("ssd")),
        ("extra_specs", object([("thin", s("true"))])),
        ("id", s("type-1")),
    ]);
    let mut after = before.clone();
    after.insert(
        "description".into(),
        s("SSD pool\nfor databases and queues\nnot replicated\nbacked up nightly\n"),
    );
    Change {
        before: Some(before),
        after: Some(after),
        backend_id: Some("type-1".to_owned()),
        ..change("volume_type.ssd", Action::Update)
    }
}

/// `volume.logs` grows from 10 to 20 GiB while attached, and gets a new tag.
pub(crate) fn extend_volume() -> Change {
    let before = map([
        ("name", s("logs")),
        ("type", s("type-1")),
        ("size", n(10.0)),
        ("tags", list([s("logs")])),
        ("metadata", object([("tier", s("warm")), ("owner", s("ops"))])),
        ("id", s("volume-7a1d")),
    ]);
    let mut after = before.clone();
    after.insert("size".into(), n(20.0));
    after.insert("tags".into(), list([s("logs"), s("prod")]));
    after.insert(
        "metadata".into(),
        object([("tier", s("hot")), ("owner", s("ops")), ("team", s("sre"))]),
    );
    Change {
        storage: Some(StorageAction::Extend {
            from_gib: 10,
            to_gib: 20,
        }),
        before: Some(before),
        after: Some(after),
        notes: vec!["`volume.logs` is attached: grow the file system inside the guest to use the new space".to_owned()],
        backend_id: Some("volume-7a1d".to_owned()),
        ..change("volume.logs", Action::Update)
    }
}

/// `volume.cache` moves to another type on the same back end.
pub(crate) fn retype_volume() -> Change {
    let before = map([
        ("name", s("cache")),
        ("type", s("type-std")),
        ("size", n(50.0)),
        ("id", s("volume-c4c4")),
    ]);
    let mut after = before.clone();
    after.insert("type".into(), s("type-fast"));
    Change {
        storage: Some(StorageAction::Retype {
            from: "volume_type.std".to_owned(),
            to: "volume_type.fast".to_owned(),
        }),
        before: Some(before),
        after: Some(after),
        backend_id: Some("volume-c4c4".to_owned()),
        ..change("volume.cache", Action::Update)
    }
}

/// `volume.db` replaced because its new type lives on another back end.
pub(crate) fn replace_volume() -> Change {
    let before = map([
        ("name", s("db-data")),
        ("type", s("type-ssd")),
        ("size", n(100.0)),
        ("tags", list([s("db")])),
        ("id", s("volume-5c0e")),
        ("status", s("available")),
    ]);
    let mut after = before.clone();
    after.insert("type".into(), unknown("volume_type.remote.id"));
    after.insert("id".into(), unknown("volume.db.id"));
    after.insert("status".into(), unknown("volume.db.status"));
    Change {
        reason: Some(Reason::ReplaceBecauseBackendChanged),
        before: Some(before),
        after: Some(after),
        replace_paths: vec!["type".to_owned()],
        data_loss: true,
        notes: vec!["the new type lives on back end `other`, the volume on `ssd`: its data does not move".to_owned()],
        backend_id: Some("volume-5c0e".to_owned()),
        ..change("volume.db", Action::DeleteThenCreate)
    }
}

/// `snapshot.before_upgrade` replaced on request, the new one taken first.
pub(crate) fn replace_snapshot() -> Change {
    let before = map([
        ("volume", s("volume-5c0e")),
        ("name", s("before-upgrade")),
        ("description", s("before the 15.2 upgrade")),
        ("force", Value::Bool(false)),
        ("id", s("snapshot-11")),
    ]);
    let mut after = before.clone();
    after.insert("id".into(), unknown("snapshot.before_upgrade.id"));
    Change {
        reason: Some(Reason::ReplaceByRequest),
        before: Some(before),
        after: Some(after),
        data_loss: true,
        backend_id: Some("snapshot-11".to_owned()),
        ..change("snapshot.before_upgrade", Action::CreateThenDelete)
    }
}

/// `volume.scratch["c"]` destroyed: its key left the `for_each` set.
pub(crate) fn delete_volume() -> Change {
    Change {
        reason: Some(Reason::DeleteBecauseEachKey),
        before: Some(map([
            ("name", s("scratch-c")),
            ("description", Value::Null),
            ("type", s("type-1")),
            ("size", n(10.0)),
            ("metadata", object([("purpose", s("ci"))])),
            ("id", s("volume-3e3e")),
        ])),
        data_loss: true,
        backend_id: Some("volume-3e3e".to_owned()),
        ..change("volume.scratch[\"c\"]", Action::Delete)
    }
}

/// `qos.silver` destroyed: no longer in the configuration.
pub(crate) fn delete_qos() -> Change {
    Change {
        reason: Some(Reason::DeleteBecauseNoResourceConfig),
        before: Some(map([
            ("name", s("silver")),
            ("consumer", s("back-end")),
            ("specs", object([("total_iops_sec", n(500.0))])),
            ("id", s("qos-2")),
        ])),
        provider: None,
        backend_id: Some("qos-2".to_owned()),
        ..change("qos.silver", Action::Delete)
    }
}

/// `attachment.db` attaches the new volume to `web-1`.
pub(crate) fn attach() -> Change {
    Change {
        storage: Some(StorageAction::Attach),
        after: Some(map([
            ("volume", unknown("volume.db.id")),
            ("instance", s("web-1")),
            ("host", s("kvm")),
            ("device", s("vdb")),
            ("id", unknown("attachment.db.id")),
        ])),
        provider: Some("kvm".to_owned()),
        backend_id: Some("attachment-a1".to_owned()),
        ..change("attachment.db", Action::Create)
    }
}

/// `attachment.old` detaches a volume: no longer in the configuration.
pub(crate) fn detach() -> Change {
    Change {
        storage: Some(StorageAction::Detach),
        reason: Some(Reason::DeleteBecauseNoResourceConfig),
        before: Some(map([
            ("volume", s("volume-7a1d")),
            ("instance", s("web-0")),
            ("host", s("kvm")),
            ("device", s("vdc")),
            ("id", s("attachment-0f")),
        ])),
        provider: Some("kvm".to_owned()),
        backend_id: Some("attachment-0f".to_owned()),
        ..change("attachment.old", Action::Delete)
    }
}

/// `backup.weekly` takes a full backup of `volume.db`.
pub(crate) fn backup() -> Change {
    Change {
        storage: Some(StorageAction::Backup),
        after: Some(map([
            ("volume", s("volume-5c0e")),
            ("store", s("nas")),
            ("mode", s("full")),
            ("force", Value::Bool(false)),
            ("id", unknown("backup.weekly.id")),
        ])),
        provider: Some("nas".to_owned()),
        backend_id: Some("backup-b7".to_owned()),
        ..change("backup.weekly", Action::Create)
    }
}

/// `backup.nightly[0]` pruned by its policy's retention.
pub(crate) fn prune() -> Change {
    Change {
        storage: Some(StorageAction::Prune),
        before: Some(map([
            ("volume", s("volume-5c0e")),
            ("store", s("nas")),
            ("mode", s("incremental")),
            ("id", s("backup-a0")),
        ])),
        data_loss: true,
        provider: Some("nas".to_owned()),
        backend_id: Some("backup-a0".to_owned()),
        ..change("backup.nightly[0]", Action::Delete)
    }
}

/// `volume.restored` created from a backup.
pub(crate) fn restore() -> Change {
    Change {
        storage: Some(StorageAction::Restore),
        after: Some(map([
            ("name", s("restored")),
            ("type", s("type-1")),
            ("size", n(100.0)),
            ("source", object([("backup", s("backup-b7"))])),
            ("id", unknown("volume.restored.id")),
        ])),
        backend_id: Some("volume-9d9d".to_owned()),
        ..change("volume.restored", Action::Create)
    }
}

/// A change that does nothing (left out of the human plan, kept in JSON).
pub(crate) fn unchanged_type() -> Change {
    let values = map([("name", s("std")), ("backend", s("ssd")), ("id", s("type-1"))]);
    Change {
        before: Some(values.clone()),
        after: Some(values),
        backend_id: Some("type-1".to_owned()),
        ..change("volume_type.std", Action::NoOp)
    }
}

/// `volume.logs` grew and got a new name outside blockform; `volume.tmp` was deleted.
pub(crate) fn drift() -> Vec<Drift> {
    let before = map([
        ("name", s("logs")),
        ("size", n(10.0)),
        ("type", s("type-1")),
        ("id", s("volume-7a1d")),
    ]);
    let mut after = before.clone();
    after.insert("size".into(), n(15.0));
    after.insert("name".into(), s("logs-old"));
    vec![
        Drift {
            address: address("volume.logs"),
            before,
            after: Some(after),
        },
        Drift {
            address: address("volume.tmp"),
            before: map([("name", s("tmp")), ("size", n(5.0)), ("id", s("volume-0b0b"))]),
            after: None,
        },
    ]
}

/// A new output known after apply, a sensitive one, a changed one and a removed one.
pub(crate) fn outputs() -> Vec<OutputChange> {
    vec![
        OutputChange {
            name: "db_id".to_owned(),
            before: None,
            after: Some(unknown("volume.db.id")),
            sensitive: false,
        },
        OutputChange {
            name: "admin_token".to_owned(),
            before: None,
            after: Some(s("hunter2")),
            sensitive: true,
        },
        OutputChange {
            name: "sizes".to_owned(),
            before: Some(list([n(10.0), n(50.0)])),
            after: Some(list([n(20.0), n(50.0)])),
            sensitive: false,
        },
        OutputChange {
            name: "old_id".to_owned(),
            before: Some(s("volume-0b0b")),
            after: None,
            sensitive: false,
        },
        OutputChange {
            name: "region".to_owned(),
            before: Some(s("eu")),
            after: Some(s("eu")),
            sensitive: false,
        },
    ]
}
