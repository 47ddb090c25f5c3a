//! The drift report: configuration × state × reality, for scheduled checks.
//!
//! Three classes, as driftctl and Terraform users know them:
//! - **changed**: managed objects whose real attributes differ from state, attribute by
//!   attribute (size, name, description, tags, metadata, bootable, status, the snapshot set,
//!   and back-end QoS limits where the provider enforces them);
//! - **missing**: managed objects deleted outside blockform;
//! - **unmanaged**: objects in a managed pool or directory that no state record owns, listed
//!   by the ID that `blockform import` takes (`PROVIDER/OBJECT`).
//!
//! A baseline (a file of entry fingerprints) silences known drift until it changes. The JSON
//! form is versioned by [`FORMAT_VERSION`]; README.md documents every field.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use blockform_provider::{ObjectKind, QosSpecs, VolumeState};
use serde::{Deserialize, Serialize};

use crate::config::eval::Desired;
use crate::config::value::Value;
use crate::model::{Address, ResourceKind, UNMANAGED_ATTACHMENTS, UNMANAGED_SNAPSHOTS};
use crate::providers::Providers;
use crate::providers::RefreshError;
use crate::state::{Intent, ResourceState};

/// The version of the JSON report and of the baseline file.
pub const FORMAT_VERSION: u32 = 1;

/// One attribute of a managed object that differs from state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeDrift {
    /// The attribute, as the configuration spells it (`size`, `tags`, `snapshots`, `qos`).
    pub name: String,
    /// The value recorded in state.
    pub state: serde_json::Value,
    /// The value the back end has now.
    pub real: serde_json::Value,
    /// The value the configuration asks for, when the object is still configured and the
    /// value is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
}

/// A managed object changed outside blockform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangedObject {
    /// Its address (`volume.db`).
    pub address: String,
    /// Its resource type (`volume`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The provider block that owns it.
    pub provider: String,
    /// Its name in the back end.
    pub backend_id: String,
    /// Each attribute that differs.
    pub attributes: Vec<AttributeDrift>,
}

/// A managed object deleted outside blockform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingObject {
    /// Its address.
    pub address: String,
    /// Its resource type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The provider block that owned it.
    pub provider: String,
    /// Its name in the back end.
    pub backend_id: String,
    /// Whether the configuration still declares it (the next apply creates it again, empty).
    pub in_configuration: bool,
}

/// An object in a managed pool or directory that no state record owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnmanagedObject {
    /// `PROVIDER/OBJECT`, as `blockform import` takes it (`dev/volume-5c0e….qcow2`); a
    /// snapshot is `PROVIDER/VOLUME@SNAPSHOT`.
    pub id: String,
    /// The provider block whose pool or directory holds it.
    pub provider: String,
    /// `volume`, `snapshot` or `other` (a file that is not a readable image).
    pub kind: String,
    /// Its name in the back end.
    pub backend_name: String,
    /// For a snapshot, the volume it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// Whether it carries blockform's ownership marker (created by blockform, then forgotten
    /// by a state, or owned by another state).
    pub owned: bool,
}

/// Counts of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Managed objects changed outside blockform.
    pub changed: usize,
    /// Managed objects deleted outside blockform.
    pub missing: usize,
    /// Objects no state owns.
    pub unmanaged: usize,
    /// Entries left out because the baseline lists them unchanged.
    pub silenced: usize,
}

/// The whole report: what `drift --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// When the report was made (RFC 3339, UTC).
    pub generated_at: String,
    /// Whether reality matches state (after the baseline): the exit code is 0 when true.
    pub in_sync: bool,
    /// Counts of each class.
    pub summary: Counts,
    /// Managed objects changed outside blockform.
    pub changed: Vec<ChangedObject>,
    /// Managed objects deleted outside blockform.
    pub missing: Vec<MissingObject>,
    /// Objects no state owns.
    pub unmanaged: Vec<UnmanagedObject>,
    /// Providers that could not be checked, with the reason (their objects are not reported).
    pub unchecked_providers: BTreeMap<String, String>,
}

impl DriftReport {
    /// Whether anything drifted.
    pub fn has_drift(&self) -> bool {
        !(self.changed.is_empty() && self.missing.is_empty() && self.unmanaged.is_empty())
    }

    fn recount(&mut self) {
        self.summary.changed = self.changed.len();
        self.summary.missing = self.missing.len();
        self.summary.unmanaged = self.unmanaged.len();
        self.in_sync = !self.has_drift();
    }

    /// Leaves out every entry the baseline lists unchanged; counts them as silenced.
    pub fn apply_baseline(&mut self, baseline: &Baseline) {
        let known: HashSet<&str> = baseline.entries.iter().map(String::as_str).collect();
        let before = self.changed.len() + self.missing.len() + self.unmanaged.len();
        self.changed
            .retain(|c| !known.contains(fingerprint_changed(c).as_str()));
        self.missing
            .retain(|m| !known.contains(fingerprint_missing(m).as_str()));
        self.unmanaged
            .retain(|u| !known.contains(fingerprint_unmanaged(u).as_str()));
        self.summary.silenced += before - (self.changed.len() + self.missing.len() + self.unmanaged.len());
        self.recount();
    }

    /// The baseline that silences exactly this report's entries.
    pub fn to_baseline(&self) -> Baseline {
        let mut entries: Vec<String> = self
            .changed
            .iter()
            .map(fingerprint_changed)
            .chain(self.missing.iter().map(fingerprint_missing))
            .chain(self.unmanaged.iter().map(fingerprint_unmanaged))
            .collect();
        entries.sort();
        Baseline {
            format_version: FORMAT_VERSION,
            created_at: self.generated_at.clone(),
            entries,
        }
    }
}

/// Known drift to stay quiet about: one fingerprint per entry, which includes the values, so a
/// further change of a silenced attribute is reported again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// When it was written.
    pub created_at: String,
    /// Fingerprints of the silenced entries.
    pub entries: Vec<String>,
}

/// Why a drift report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// A back end could not be read.
    #[error(transparent)]
    Backend(#[from] RefreshError),
    /// The baseline file could not be read or written.
    #[error("{0}")]
    Baseline(String),
}

impl Baseline {
    /// Reads a baseline file; a missing file is `Ok(None)`.
    pub fn read(path: &Path) -> Result<Option<Baseline>, DriftError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(DriftError::Baseline(format!(
                    "cannot read the drift baseline `{}`: {e}",
                    path.display()
                )));
            }
        };
        let baseline: Baseline = serde_json::from_str(&text).map_err(|e| {
            DriftError::Baseline(format!(
                "`{}` is not a drift baseline ({e}); write a new one with `blockform drift --write-baseline`",
                path.display()
            ))
        })?;
        if baseline.format_version > FORMAT_VERSION {
            return Err(DriftError::Baseline(format!(
                "the drift baseline `{}` has format version {}, newer than this blockform reads ({FORMAT_VERSION})",
                path.display(),
                baseline.format_version
            )));
        }
        Ok(Some(baseline))
    }

    /// Writes the baseline atomically (temporary file, flush, rename).
    pub fn write(&self, path: &Path) -> Result<(), DriftError> {
        use std::io::Write;
        let fail = |e: std::io::Error| {
            DriftError::Baseline(format!("cannot write the drift baseline `{}`: {e}", path.display()))
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        let temporary = path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&temporary).map_err(fail)?;
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        file.write_all(text.as_bytes()).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        std::fs::rename(&temporary, path).map_err(fail)
    }
}

fn fingerprint_changed(object: &ChangedObject) -> String {
    let attributes: Vec<String> = object
        .attributes
        .iter()
        .map(|a| format!("{}={}->{}", a.name, a.state, a.real))
        .collect();
    format!("changed {} {}", object.address, attributes.join(";"))
}

fn fingerprint_missing(object: &MissingObject) -> String {
    format!("missing {} {}", object.address, object.backend_id)
}

fn fingerprint_unmanaged(object: &UnmanagedObject) -> String {
    format!("unmanaged {} {}", object.id, object.size_bytes)
}

use crate::registry::import_id;

/// Builds the report: reads every managed volume (one refresh per provider) and every
/// provider's inventory, and compares them with state; `desired` supplies configured values.
pub fn check(
    desired: &Desired,
    prior: &[ResourceState],
    intents: &[Intent],
    providers: &Providers,
    now: &str,
) -> Result<DriftReport, DriftError> {
    let (volumes, _) = crate::refresh::read_volumes(prior, providers)?;
    let instances = crate::refresh::read_instances(prior, providers)?;
    let unmanaged_disks = crate::refresh::unmanaged_attachments(prior, &instances);
    let configured: HashMap<String, &crate::config::eval::ResourceInstance> =
        desired.resources.iter().map(|r| (r.address.to_string(), r)).collect();
    let by_id: HashMap<&str, &ResourceState> = prior.iter().map(|r| (r.backend_id.as_str(), r)).collect();
    // Snapshots taken outside blockform that a refresh already recorded on their volume
    // (`unmanaged_snapshots`, what `apply --refresh-only` writes): known, so not drift.
    let mut recorded_unmanaged: HashSet<(&str, &str)> = HashSet::new();
    for resource in prior.iter().filter(|r| r.address.starts_with("volume.")) {
        let names = resource
            .attributes
            .get(UNMANAGED_SNAPSHOTS)
            .and_then(serde_json::Value::as_array);
        for name in names.into_iter().flatten().filter_map(serde_json::Value::as_str) {
            recorded_unmanaged.insert((resource.backend_id.as_str(), name));
        }
    }

    let mut report = DriftReport {
        format_version: FORMAT_VERSION,
        generated_at: now.to_owned(),
        in_sync: true,
        summary: Counts::default(),
        changed: Vec::new(),
        missing: Vec::new(),
        unmanaged: Vec::new(),
        unchecked_providers: BTreeMap::new(),
    };
    for resource in prior {
        let Some(provider_name) = resource.provider.as_deref() else {
            continue;
        };
        // An attachment is missing once its instance no longer holds the volume's disk (the
        // domain is gone, or the disk was detached by hand).
        if resource.address.starts_with("attachment.") {
            if let Some(seen) = instances.get(provider_name) {
                let text = |key: &str| resource.attributes.get(key).and_then(serde_json::Value::as_str);
                let held = crate::providers::disk_of(
                    seen,
                    text("instance").unwrap_or_default(),
                    text("volume").unwrap_or_default(),
                );
                if let Some(disk) = held {
                    let expected = crate::refresh::expected_front_end(resource, &by_id);
                    if disk.limits != expected {
                        report.changed.push(ChangedObject {
                            address: resource.address.clone(),
                            kind: "attachment".to_owned(),
                            provider: provider_name.to_owned(),
                            backend_id: resource.backend_id.clone(),
                            attributes: vec![AttributeDrift {
                                name: "limits".to_owned(),
                                state: serde_json::json!(expected.limits),
                                real: serde_json::json!(disk.limits.limits),
                                config: None,
                            }],
                        });
                    }
                } else {
                    report.missing.push(MissingObject {
                        address: resource.address.clone(),
                        kind: "attachment".to_owned(),
                        provider: provider_name.to_owned(),
                        backend_id: resource.backend_id.clone(),
                        in_configuration: configured.contains_key(&resource.address),
                    });
                }
            }
            continue;
        }
        let Some(provider) = providers.get(provider_name) else {
            if matches!(resource.address.split('.').next(), Some("volume" | "snapshot")) {
                report
                    .unchecked_providers
                    .entry(provider_name.to_owned())
                    .or_insert_with(|| providers.missing_reason(provider_name));
            }
            continue;
        };
        let Some(address) = Address::parse(&resource.address) else {
            continue;
        };
        let missing = || MissingObject {
            address: resource.address.clone(),
            kind: address.kind.name().to_owned(),
            provider: provider_name.to_owned(),
            backend_id: resource.backend_id.clone(),
            in_configuration: configured.contains_key(&resource.address),
        };
        match address.kind {
            ResourceKind::Volume => {
                let Some(real) = volumes.get(&resource.backend_id) else {
                    report.missing.push(missing());
                    continue;
                };
                // The limits state holds: those `apply --refresh-only` recorded, or else the
                // type's rule that apply set.
                let expected_qos = provider.capabilities().qos_backend.then(|| {
                    resource
                        .attributes
                        .get("qos")
                        .and_then(serde_json::Value::as_object)
                        .map_or_else(
                            || crate::refresh::expected_qos(resource, &by_id),
                            |recorded| {
                                recorded
                                    .iter()
                                    .filter_map(|(k, v)| {
                                        Some((k.clone(), v.as_u64().or_else(|| v.as_f64().map(f64_to_u64))?))
                                    })
                                    .collect()
                            },
                        )
                });
                let mut attributes = volume_drift(resource, real, expected_qos.as_ref());
                // Instances that hold the volume without an attachment of blockform's.
                let recorded = resource
                    .attributes
                    .get(UNMANAGED_ATTACHMENTS)
                    .cloned()
                    .unwrap_or_default();
                let held = unmanaged_disks
                    .get(&resource.backend_id)
                    .map_or(serde_json::Value::Null, |disks| serde_json::json!(disks));
                if held != recorded {
                    attributes.push(AttributeDrift {
                        name: UNMANAGED_ATTACHMENTS.to_owned(),
                        state: recorded,
                        real: held,
                        config: None,
                    });
                }
                if let Some(instance) = configured.get(&resource.address) {
                    for attribute in &mut attributes {
                        attribute.config = instance
                            .attrs
                            .get(&attribute.name)
                            .filter(|v| !matches!(v, Value::Unknown(_)))
                            .map(Value::to_json);
                    }
                }
                if !attributes.is_empty() {
                    report.changed.push(ChangedObject {
                        address: resource.address.clone(),
                        kind: "volume".to_owned(),
                        provider: provider_name.to_owned(),
                        backend_id: resource.backend_id.clone(),
                        attributes,
                    });
                }
            }
            ResourceKind::Snapshot => {
                let volume_id = resource
                    .attributes
                    .get("volume")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                let exists = volumes
                    .get(volume_id)
                    .is_some_and(|v| v.snapshots.iter().any(|s| s.backend_name == resource.backend_id));
                if !exists {
                    report.missing.push(missing());
                }
            }
            _ => {}
        }
    }

    // Unmanaged: everything an inventory lists that no record or pending operation names.
    // Known by provider and name: an object of the same name on another provider (left behind
    // by a move between back ends) is not the recorded one.
    let mut known: HashSet<(&str, &str)> = prior
        .iter()
        .map(|r| (r.provider.as_deref().unwrap_or_default(), r.backend_id.as_str()))
        .collect();
    known.extend(
        intents
            .iter()
            .map(|i| (i.provider.as_deref().unwrap_or_default(), i.backend_id.as_str())),
    );
    let mut names: Vec<&String> = providers.iter().map(|(name, _)| name).collect();
    names.sort();
    for name in names {
        let Some(provider) = providers.get(name) else {
            continue;
        };
        let items = match provider.inventory() {
            Ok(items) => items,
            Err(source) => return Err(RefreshError::provider("listing what", name, " holds", source).into()),
        };
        for item in items {
            if known.contains(&(name.as_str(), item.backend_name.as_str())) {
                continue;
            }
            let (kind, id, volume) = match (&item.kind, &item.volume_backend_name) {
                (ObjectKind::Snapshot, Some(volume)) => (
                    "snapshot",
                    import_id(name, provider.kind().as_str(), volume, Some(&item.backend_name)),
                    Some(volume.clone()),
                ),
                (ObjectKind::Volume, _) => (
                    "volume",
                    import_id(name, provider.kind().as_str(), &item.backend_name, None),
                    None,
                ),
                // A file an interrupted operation left beside a volume (the local provider's
                // partial files and sidecars), by file name; known when its volume is.
                (ObjectKind::Other, Some(volume)) => {
                    if known.contains(&(name.as_str(), volume.as_str())) {
                        continue;
                    }
                    ("other", format!("{name}/{}", item.backend_name), None)
                }
                _ => (
                    "other",
                    import_id(name, provider.kind().as_str(), &item.backend_name, None),
                    None,
                ),
            };
            // A snapshot of an unmanaged volume is part of that volume; one that a refresh
            // recorded on its managed volume is known.
            if let Some(volume) = &volume
                && (!known.contains(&(name.as_str(), volume.as_str()))
                    || recorded_unmanaged.contains(&(volume.as_str(), item.backend_name.as_str())))
            {
                continue;
            }
            report.unmanaged.push(UnmanagedObject {
                id,
                provider: name.clone(),
                kind: kind.to_owned(),
                backend_name: item.backend_name,
                volume,
                size_bytes: item.size_bytes,
                owned: item.owned,
            });
        }
    }
    report.changed.sort_by(|a, b| a.address.cmp(&b.address));
    report.missing.sort_by(|a, b| a.address.cmp(&b.address));
    report.unmanaged.sort_by(|a, b| a.id.cmp(&b.id));
    report.recount();
    Ok(report)
}

/// The attributes of a volume whose real value differs from the recorded one.
fn volume_drift(resource: &ResourceState, real: &VolumeState, expected_qos: Option<&QosSpecs>) -> Vec<AttributeDrift> {
    let mut drift = Vec::new();
    for (name, value) in crate::refresh::volume_attributes(real) {
        let real_json = value.to_json();
        let state_json = resource
            .attributes
            .get(&name)
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        // Compared as values, so a size recorded as 20 and read as 20.0 is the same.
        if Value::from_json(&state_json) != value {
            drift.push(AttributeDrift {
                name,
                state: state_json,
                real: real_json,
                config: None,
            });
        }
    }
    if let Some(expected) = expected_qos
        && *expected != real.qos
    {
        drift.push(AttributeDrift {
            name: "qos".to_owned(),
            state: serde_json::json!(expected.limits),
            real: serde_json::json!(real.qos.limits),
            config: None,
        });
    }
    drift
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn f64_to_u64(value: f64) -> u64 {
    value.max(0.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> DriftReport {
        let mut report = DriftReport {
            format_version: FORMAT_VERSION,
            generated_at: "2026-11-27T00:00:00Z".into(),
            in_sync: true,
            summary: Counts::default(),
            changed: vec![ChangedObject {
                address: "volume.db".into(),
                kind: "volume".into(),
                provider: "dev".into(),
                backend_id: "volume-1".into(),
                attributes: vec![AttributeDrift {
                    name: "size".into(),
                    state: serde_json::json!(20),
                    real: serde_json::json!(21),
                    config: Some(serde_json::json!(20)),
                }],
            }],
            missing: vec![],
            unmanaged: vec![UnmanagedObject {
                id: "dev/volume-2.qcow2".into(),
                provider: "dev".into(),
                kind: "volume".into(),
                backend_name: "volume-2".into(),
                volume: None,
                size_bytes: 1 << 30,
                owned: false,
            }],
            unchecked_providers: BTreeMap::new(),
        };
        report.recount();
        report
    }

    #[test]
    fn a_baseline_silences_known_entries_until_they_change() {
        let mut first = report();
        let baseline = first.to_baseline();
        first.apply_baseline(&baseline);
        assert!(first.in_sync);
        assert_eq!(first.summary.silenced, 2);

        let mut grown = report();
        grown.changed[0].attributes[0].real = serde_json::json!(22);
        grown.apply_baseline(&baseline);
        assert!(!grown.in_sync);
        assert_eq!(grown.changed.len(), 1, "a further change is reported again");
        assert!(grown.unmanaged.is_empty());
        assert_eq!(grown.summary.silenced, 1);
    }

    #[test]
    fn numbers_compare_by_value() {
        let value = |json| Value::from_json(&json);
        assert_eq!(value(serde_json::json!(20)), value(serde_json::json!(20.0)));
        assert_eq!(
            value(serde_json::json!({"a": [1]})),
            value(serde_json::json!({"a": [1.0]}))
        );
        assert_ne!(value(serde_json::json!(20)), value(serde_json::json!(21)));
    }

    #[test]
    fn ids_name_files_for_local_and_images_for_ceph() {
        use crate::registry::backend_name;
        let (local, ceph) = (blockform_provider_local::KIND, blockform_provider_ceph::KIND);
        assert_eq!(import_id("dev", local, "volume-1", None), "dev/volume-1.qcow2");
        assert_eq!(
            import_id("dev", local, "volume-1", Some("before")),
            "dev/volume-1.qcow2@before"
        );
        assert_eq!(backend_name(local, "volume-1.qcow2"), "volume-1");
        assert_eq!(import_id("ssd", ceph, "volume-1", None), "ssd/volume-1");
        assert_eq!(backend_name(ceph, "volume-1"), "volume-1");
        assert_eq!(import_id("x", "unknown-kind", "volume-1", None), "x/volume-1");
    }
}
