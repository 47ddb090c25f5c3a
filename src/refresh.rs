//! Refresh: what really exists, read through the providers in batches (one listing per
//! provider, never one call per object), turned into [`Observed`] values for the plan.

use std::collections::{HashMap, HashSet};

use blockform_provider::{CapacityCheck, Shortfall, VolumeState};

use crate::config::value::{Value, ValueMap};
use crate::model::kinds::BackendObject;
use crate::model::{Address, ResourceKind, UNMANAGED_ATTACHMENTS, UNMANAGED_SNAPSHOTS};
use crate::plan::Observed;
use crate::providers::Providers;
use crate::state::ResourceState;

/// Refreshes every volume and snapshot in state whose provider is live. Errors name the
/// provider; objects of unavailable providers are left as recorded.
pub fn refresh(prior: &[ResourceState], providers: &Providers) -> Result<HashMap<String, Observed>, RefreshError> {
    let (volumes, requested) = read_volumes(prior, providers)?;
    let requested: std::collections::HashSet<&str> = requested.iter().map(String::as_str).collect();
    let by_id: HashMap<&str, &ResourceState> = prior.iter().map(|r| (r.backend_id.as_str(), r)).collect();
    let managed = managed_snapshots(prior);
    let instances = read_instances(prior, providers)?;
    let unmanaged_disks = unmanaged_attachments(prior, &instances);
    let mut observed = HashMap::new();
    for resource in prior {
        let Some(provider) = resource.provider.as_deref() else {
            continue;
        };
        if resource.address.starts_with("attachment.") {
            // An attachment is there while its instance holds the volume's disk, whatever
            // device name it has now: the letter a guest gives a disk is not drift.
            if let Some(seen) = instances.get(provider) {
                let text = |key: &str| resource.attributes.get(key).and_then(serde_json::Value::as_str);
                let held = crate::providers::disk_of(
                    seen,
                    text("instance").unwrap_or_default(),
                    text("volume").unwrap_or_default(),
                );
                let state = match held {
                    Some(disk) => {
                        let mut attrs = ValueMap::default();
                        // Front-end limits changed behind blockform's back are drift.
                        let expected = expected_front_end(resource, &by_id);
                        if disk.limits != expected {
                            #[allow(clippy::cast_precision_loss)]
                            let limits = disk
                                .limits
                                .limits
                                .iter()
                                .map(|(key, value)| (key.clone(), Value::Number(*value as f64)))
                                .collect();
                            attrs.insert("limits".into(), Value::Map(limits));
                        }
                        Observed::Exists(attrs)
                    }
                    None => Observed::Missing,
                };
                observed.insert(resource.address.clone(), state);
            }
            continue;
        }
        if providers.get(provider).is_none() {
            continue;
        }
        let Some(address) = Address::parse(&resource.address) else {
            continue;
        };
        // What the refresh reads is what the object is in its back end.
        match address.kind.handler().backend_object() {
            BackendObject::Volume => {
                let seen = match volumes.get(&resource.backend_id) {
                    Some(state) => {
                        let mut attrs = volume_attributes(state);
                        // Back-end limits that differ from the type's rule were changed behind
                        // blockform's back: show them as drift.
                        let enforced = providers.get(provider).is_some_and(|p| p.capabilities().qos_backend);
                        if enforced && state.qos != expected_qos(resource, &by_id) {
                            #[allow(clippy::cast_precision_loss)]
                            let limits = state
                                .qos
                                .limits
                                .iter()
                                .map(|(key, value)| (key.clone(), Value::Number(*value as f64)))
                                .collect();
                            attrs.insert("qos".into(), Value::Map(limits));
                        }
                        let disks = unmanaged_disks.get(resource.backend_id.as_str());
                        attrs.insert(
                            UNMANAGED_ATTACHMENTS.into(),
                            disks.map_or(Value::Null, |disks| {
                                Value::List(disks.iter().cloned().map(Value::String).collect())
                            }),
                        );
                        let unmanaged = unmanaged_snapshots(state, managed.get(resource.backend_id.as_str()));
                        // Null when there are none: the diff then leaves a state without the
                        // attribute alone and clears one that had some.
                        attrs.insert(
                            UNMANAGED_SNAPSHOTS.into(),
                            if unmanaged.is_empty() {
                                Value::Null
                            } else {
                                Value::List(unmanaged.into_iter().map(Value::String).collect())
                            },
                        );
                        Observed::Exists(attrs)
                    }
                    None => Observed::Missing,
                };
                observed.insert(resource.address.clone(), seen);
            }
            BackendObject::Snapshot => {
                let volume_id = resource
                    .attributes
                    .get("volume")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                // A snapshot whose volume was refreshed and not found is gone with it; one whose
                // volume was not refreshed is left alone.
                let Some(volume) = volumes.get(volume_id) else {
                    if requested.contains(volume_id) {
                        observed.insert(resource.address.clone(), Observed::Missing);
                    }
                    continue;
                };
                let exists = volume.snapshots.iter().any(|s| s.backend_name == resource.backend_id);
                observed.insert(
                    resource.address.clone(),
                    if exists {
                        Observed::Exists(ValueMap::default())
                    } else {
                        Observed::Missing
                    },
                );
            }
            BackendObject::StateOnly
            | BackendObject::File
            | BackendObject::BackupManifest
            | BackendObject::Attachment => {}
        }
    }
    Ok(observed)
}

/// Every instance of every live hypervisor, by hypervisor, when state holds volumes or
/// attachments (one refresh per hypervisor, all at once): what attachments are checked
/// against, and where volumes attached by hand are found.
pub fn read_instances(
    prior: &[ResourceState],
    providers: &Providers,
) -> Result<HashMap<String, Vec<blockform_provider::InstanceState>>, RefreshError> {
    let needed = prior
        .iter()
        .any(|r| r.address.starts_with("volume.") || r.address.starts_with("attachment."));
    if !needed {
        return Ok(HashMap::new());
    }
    let mut hypervisors: Vec<_> = providers.hypervisors().collect();
    hypervisors.sort_by_key(|(name, _)| name.as_str());
    let results = each_on_a_thread(
        hypervisors
            .iter()
            .map(|(name, hypervisor)| (name.as_str(), move || hypervisor.refresh()))
            .collect(),
    );
    let mut instances = HashMap::new();
    for (name, result) in results {
        let seen = result.map_err(|source| RefreshError::provider("refreshing", name, "", source))?;
        instances.insert(name.to_owned(), seen);
    }
    Ok(instances)
}

/// For each volume in state, the instance disks that hold it without an attachment of
/// blockform's: `DOMAIN:DEVICE on HYPERVISOR`, sorted.
pub(crate) fn unmanaged_attachments(
    prior: &[ResourceState],
    instances: &HashMap<String, Vec<blockform_provider::InstanceState>>,
) -> HashMap<String, Vec<String>> {
    let text = |r: &ResourceState, key: &str| {
        r.attributes
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    // (hypervisor, instance, volume) of every attachment blockform made.
    let managed: HashSet<(String, String, String)> = prior
        .iter()
        .filter(|r| r.address.starts_with("attachment."))
        .filter_map(|r| Some((r.provider.clone()?, text(r, "instance")?, text(r, "volume")?)))
        .collect();
    let mut found: HashMap<String, Vec<String>> = HashMap::new();
    for volume in prior.iter().filter(|r| r.address.starts_with("volume.")) {
        for (hypervisor, seen) in instances {
            for instance in seen {
                let Some(disk) = crate::providers::disk_of(seen, &instance.name, &volume.backend_id) else {
                    continue;
                };
                if managed.contains(&(hypervisor.clone(), instance.name.clone(), volume.backend_id.clone())) {
                    continue;
                }
                found
                    .entry(volume.backend_id.clone())
                    .or_default()
                    .push(format!("{}:{} on {hypervisor}", instance.name, disk.device));
            }
        }
    }
    for disks in found.values_mut() {
        disks.sort();
    }
    found
}

/// The back-end names of the snapshots state records, by the volume they belong to.
pub(crate) fn managed_snapshots(prior: &[ResourceState]) -> HashMap<&str, HashSet<&str>> {
    let mut managed: HashMap<&str, HashSet<&str>> = HashMap::new();
    for resource in prior.iter().filter(|r| r.address.starts_with("snapshot.")) {
        if let Some(volume) = resource.attributes.get("volume").and_then(serde_json::Value::as_str) {
            managed.entry(volume).or_default().insert(resource.backend_id.as_str());
        }
    }
    managed
}

/// The names of a volume's snapshots that no state record owns, sorted.
pub(crate) fn unmanaged_snapshots(volume: &VolumeState, managed: Option<&HashSet<&str>>) -> Vec<String> {
    let mut names: Vec<String> = volume
        .snapshots
        .iter()
        .map(|s| s.backend_name.as_str())
        .filter(|name| !managed.is_some_and(|m| m.contains(name)))
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

/// The back-end limits a volume should have: those of its type's rule, as state records them.
pub(crate) fn expected_qos(
    volume: &ResourceState,
    by_id: &HashMap<&str, &ResourceState>,
) -> blockform_provider::QosSpecs {
    type_rule(volume, by_id).map_or_else(blockform_provider::QosSpecs::default, backend_limits)
}

/// The record a string attribute of `record` names by id.
fn named<'a>(record: &ResourceState, key: &str, by_id: &HashMap<&str, &'a ResourceState>) -> Option<&'a ResourceState> {
    let id = record.attributes.get(key).and_then(serde_json::Value::as_str)?;
    by_id.get(id).copied()
}

/// The QoS rule of a volume's type, as state records them.
fn type_rule<'a>(volume: &ResourceState, by_id: &HashMap<&str, &'a ResourceState>) -> Option<&'a ResourceState> {
    named(named(volume, "type", by_id)?, "qos", by_id)
}

/// The front-end limits an attachment's disk should have: those of its volume's type's rule
/// when the rule's consumer is `front-end` or `both`, as state records them.
pub(crate) fn expected_front_end(
    attachment: &ResourceState,
    by_id: &HashMap<&str, &ResourceState>,
) -> blockform_provider::QosSpecs {
    named(attachment, "volume", by_id)
        .and_then(|volume| type_rule(volume, by_id))
        .map(front_end_limits)
        .unwrap_or_default()
}

/// The front-end limits of a QoS rule as state records it: its specs when its consumer is
/// `front-end` or `both`, none otherwise.
pub(crate) fn front_end_limits(rule: &ResourceState) -> blockform_provider::QosSpecs {
    match rule.attributes.get("consumer").and_then(serde_json::Value::as_str) {
        Some("front-end" | "both") => rule_specs(rule),
        _ => blockform_provider::QosSpecs::default(),
    }
}

/// The back-end limits of a QoS rule as state records it: its specs, unless its consumer is
/// `front-end` (a rule without a consumer is a back-end one, as in Cinder).
pub(crate) fn backend_limits(rule: &ResourceState) -> blockform_provider::QosSpecs {
    if rule.attributes.get("consumer").and_then(serde_json::Value::as_str) == Some("front-end") {
        return blockform_provider::QosSpecs::default();
    }
    rule_specs(rule)
}

/// The specs of a QoS rule as state records them.
fn rule_specs(rule: &ResourceState) -> blockform_provider::QosSpecs {
    rule.attributes
        .get("specs")
        .and_then(serde_json::Value::as_object)
        .map(|specs| {
            specs
                .iter()
                .filter_map(|(key, value)| Some((key.clone(), value.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads every volume in state whose provider is live, one `refresh` call per provider. Returns
/// what exists by back-end name, and the back-end names that were asked for (a name asked for
/// and not returned is gone).
pub fn read_volumes(
    prior: &[ResourceState],
    providers: &Providers,
) -> Result<(HashMap<String, VolumeState>, Vec<String>), RefreshError> {
    let mut names: HashMap<&str, Vec<String>> = HashMap::new();
    let mut requested = Vec::new();
    for resource in prior {
        let Some(provider) = resource.provider.as_deref() else {
            continue;
        };
        if providers.get(provider).is_none() {
            continue;
        }
        if resource.address.starts_with("volume.") {
            names.entry(provider).or_default().push(resource.backend_id.clone());
            requested.push(resource.backend_id.clone());
        }
    }
    // Providers are read at once (each is one listing; back ends answer independently); the
    // first failure in provider-name order is the one reported.
    let mut jobs: Vec<(&str, Vec<String>)> = names.into_iter().collect();
    jobs.sort_by_key(|(name, _)| *name);
    let results = each_on_a_thread(
        jobs.iter()
            .filter_map(|(name, backend_names)| {
                let provider = providers.get(name)?;
                Some((*name, move || provider.refresh(backend_names)))
            })
            .collect(),
    );
    let mut volumes: HashMap<String, VolumeState> = HashMap::with_capacity(requested.len());
    for (provider_name, states) in results {
        let states = states.map_err(|source| RefreshError::provider("refreshing", provider_name, "", source))?;
        for state in states {
            volumes.insert(state.backend_name.clone(), state);
        }
    }
    Ok((volumes, requested))
}

use crate::providers::RefreshError;

/// The attributes of a volume that a provider can read back, as the configuration writes them.
pub fn volume_attributes(state: &VolumeState) -> ValueMap {
    let p = &state.properties;
    let mut attrs = ValueMap::default();
    attrs.insert("name".into(), Value::String(p.name.clone()));
    attrs.insert(
        "description".into(),
        p.description.clone().map_or(Value::Null, Value::String),
    );
    #[allow(clippy::cast_precision_loss)]
    attrs.insert("size".into(), Value::Number(state.size_gib() as f64));
    attrs.insert("bootable".into(), Value::Bool(p.bootable));
    attrs.insert(
        "tags".into(),
        Value::List(p.tags.iter().cloned().map(Value::String).collect()),
    );
    attrs.insert(
        "metadata".into(),
        Value::Map(
            p.metadata
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
    );
    attrs.insert("status".into(), Value::String(state.status.to_string()));
    attrs
}

/// A provider that would run short of space if the plan were applied.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityShortfall {
    /// The provider block.
    pub provider: String,
    /// Whether `capacity_check = "error"` makes this an error (else a warning).
    pub is_error: bool,
    /// What does not fit, in words.
    pub message: String,
}

/// How full a thin pool is, in whole percent, when it is at least 95 % full.
fn nearly_full(capacity: &blockform_provider::Capacity) -> Option<u64> {
    if !capacity.thin_provisioned || capacity.total_bytes == 0 {
        return None;
    }
    let used = capacity.total_bytes.saturating_sub(capacity.free_bytes);
    let percent = u64::try_from(u128::from(used) * 100 / u128::from(capacity.total_bytes)).unwrap_or(100);
    (percent >= 95).then_some(percent)
}

/// Checks, per provider, that the volumes a plan creates or extends fit: requested virtual
/// size against free space × `oversubscription`, and everything provisioned against the total
/// × `oversubscription` (thin images). One capacity query per provider with growth.
pub fn check_capacity(
    plan: &crate::plan::Plan,
    desired: &crate::config::eval::Desired,
    providers: &Providers,
) -> Result<Vec<CapacityShortfall>, RefreshError> {
    use crate::plan::{Action, StorageAction};
    const GIB: u64 = 1 << 30;
    let mut requested: HashMap<&str, u64> = HashMap::new();
    for change in plan.changes.iter().filter(|c| c.address.kind == ResourceKind::Volume) {
        let Some(provider) = change.provider.as_deref() else {
            continue;
        };
        let size = change
            .planned()
            .and_then(|a| a.get("size"))
            .and_then(Value::as_i64)
            .and_then(|s| u64::try_from(s).ok());
        let bytes = match (&change.action, &change.storage) {
            (action, _) if action.creates() => size.unwrap_or(0) * GIB,
            (Action::Update, Some(StorageAction::Extend { from_gib, to_gib })) => {
                to_gib.saturating_sub(*from_gib) * GIB
            }
            _ => 0,
        };
        if bytes > 0 {
            *requested.entry(provider).or_default() += bytes;
        }
    }
    let mut shortfalls = Vec::new();
    let mut names: Vec<&&str> = requested.keys().collect();
    names.sort();
    for name in names {
        let bytes = requested[*name];
        let Some(block) = desired.providers.get(*name) else {
            continue;
        };
        let mode = block
            .attrs
            .get("capacity_check")
            .and_then(|value| serde_json::from_value::<CapacityCheck>(value.to_json()).ok())
            .unwrap_or_default();
        if mode == CapacityCheck::Off {
            continue;
        }
        let Some(provider) = providers.get(name) else { continue };
        let ratio = match block.attrs.get("oversubscription") {
            Some(Value::Number(r)) if *r > 0.0 => *r,
            _ => 1.0,
        };
        let capacity = provider
            .capacity()
            .map_err(|source| RefreshError::provider("reading the capacity of", name, "", source))?;
        #[allow(clippy::cast_precision_loss)] // one decimal of GiB is all that is shown
        let gib = |b: u64| format!("{:.1} GiB", b as f64 / GIB as f64);
        let message = match capacity.shortfall(bytes, ratio) {
            Some(Shortfall::Free { allowed_bytes: free }) => Some(format!(
                "the plan adds {} of volumes to provider `{name}`, which has {} free{} — short by {}",
                gib(bytes),
                gib(capacity.free_bytes),
                if (ratio - 1.0).abs() > f64::EPSILON {
                    format!(" ({} with oversubscription {ratio})", gib(free))
                } else {
                    String::new()
                },
                gib(bytes - free)
            )),
            Some(Shortfall::Provisioned { allowed_bytes: total }) => Some(format!(
                "provider `{name}` would hold {} of volumes on {} of space (oversubscription {ratio} allows {})",
                gib(capacity.provisioned_bytes + bytes),
                gib(capacity.total_bytes),
                gib(total)
            )),
            None => None,
        };
        if let Some(message) = message {
            shortfalls.push(CapacityShortfall {
                provider: (**name).to_owned(),
                is_error: mode == CapacityCheck::Error,
                message,
            });
        } else if let Some(percent) = nearly_full(&capacity)
            && crate::registry::factory(&block.kind)
                .is_some_and(blockform_provider::ProviderFactory::warns_when_nearly_full)
        {
            // What is promised fits, but writes fail once a thin pool is full.
            shortfalls.push(CapacityShortfall {
                provider: (**name).to_owned(),
                is_error: false,
                message: format!(
                    "the thin pool of provider `{name}` is {percent} % full; writes to its volumes fail once it is full"
                ),
            });
        }
    }
    Ok(shortfalls)
}

/// Runs each named call on a thread of its own (one per provider or hypervisor: they answer
/// in parallel) and returns the results in the calls' order; a panic goes on in the caller.
fn each_on_a_thread<R, F>(calls: Vec<(&str, F)>) -> Vec<(&str, R)>
where
    R: Send,
    F: FnOnce() -> R + Send,
{
    std::thread::scope(|scope| {
        let handles: Vec<_> = calls
            .into_iter()
            .map(|(name, call)| (name, scope.spawn(call)))
            .collect();
        handles
            .into_iter()
            .map(|(name, handle)| {
                (
                    name,
                    handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                )
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use blockform_provider::{DiskSource, ImageFormat, InstanceDisk, InstanceState, QosSpecs, ValidOn};

    use super::unmanaged_attachments;
    use crate::providers::disk_of;
    use crate::state::ResourceState;

    fn record(address: &str, backend_id: &str, provider: &str, attributes: &serde_json::Value) -> ResourceState {
        ResourceState {
            address: address.to_owned(),
            backend_id: backend_id.to_owned(),
            provider: Some(provider.to_owned()),
            attributes: attributes.as_object().cloned().unwrap_or_default(),
            dependencies: Vec::new(),
            status: "available".to_owned(),
        }
    }

    fn disk(device: &str, file: &str, serial: Option<&str>) -> InstanceDisk {
        InstanceDisk {
            device: device.to_owned(),
            source: DiskSource::File {
                path: format!("/var/lib/bf/{file}").into(),
                format: ImageFormat::Qcow2,
                valid_on: ValidOn::Host("kvm1".into()),
            },
            serial: serial.map(str::to_owned),
            limits: QosSpecs::default(),
        }
    }

    fn instance(name: &str, disks: Vec<InstanceDisk>) -> InstanceState {
        InstanceState {
            name: name.to_owned(),
            host: "kvm1".to_owned(),
            running: true,
            disks,
        }
    }

    #[test]
    fn a_volume_is_found_by_its_serial_or_its_source_whatever_its_device() {
        let instances = vec![instance(
            "db-1",
            vec![
                disk("sdc", "other.qcow2", Some("1111")),
                disk("vdz", "volume-2222.qcow2", None),
            ],
        )];
        assert_eq!(disk_of(&instances, "db-1", "volume-1111").unwrap().device, "sdc");
        assert_eq!(disk_of(&instances, "db-1", "volume-2222").unwrap().device, "vdz");
        assert!(disk_of(&instances, "db-1", "volume-3333").is_none());
        assert!(disk_of(&instances, "db-2", "volume-1111").is_none());
    }

    #[test]
    fn only_disks_no_attachment_accounts_for_are_unmanaged() {
        let prior = vec![
            record("volume.a", "volume-aaaa", "dev", &serde_json::json!({})),
            record("volume.b", "volume-bbbb", "dev", &serde_json::json!({})),
            record(
                "attachment.a",
                "attachment-1",
                "kvm1",
                &serde_json::json!({"volume": "volume-aaaa", "instance": "db-1"}),
            ),
        ];
        let instances: HashMap<String, Vec<InstanceState>> = [(
            "kvm1".to_owned(),
            vec![
                instance("db-1", vec![disk("sdb", "volume-aaaa.qcow2", Some("aaaa"))]),
                instance("web-1", vec![disk("vdb", "volume-bbbb.qcow2", None)]),
            ],
        )]
        .into_iter()
        .collect();
        let unmanaged = unmanaged_attachments(&prior, &instances);
        assert_eq!(unmanaged.len(), 1, "{unmanaged:?}");
        assert_eq!(unmanaged["volume-bbbb"], ["web-1:vdb on kvm1"]);
    }
}
