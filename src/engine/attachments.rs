//! Plan-time checks of new attachments against the live providers: a disk source the
//! hypervisor's machine cannot open (a qcow2 file or block device of another machine) and a
//! volume some instance already holds without blockform (attached by hand; libvirt itself
//! lets two domains open one RBD image) are refused before anything is touched.

use blockform_provider::{DiskSource, ValidOn};

use crate::config::eval::Desired;
use crate::config::value::Value;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::model::{ResourceKind, UNMANAGED_ATTACHMENTS, identity};
use crate::plan::Plan;
use crate::providers::Providers;
use crate::state::ResourceState;

/// Reports every attachment the plan makes whose volume the hypervisor cannot reach or that
/// an instance holds out of band.
pub fn check(
    plan: &Plan,
    desired: &Desired,
    prior: &[ResourceState],
    providers: &Providers,
    diagnostics: &mut Diagnostics,
) {
    for change in plan
        .changes
        .iter()
        .filter(|c| c.address.kind == ResourceKind::Attachment && c.action.creates())
    {
        let Some(instance) = desired.resources.iter().find(|r| r.address == change.address) else {
            continue;
        };
        let span = instance
            .attr_spans
            .get("volume")
            .cloned()
            .unwrap_or_else(|| instance.span.clone());
        let Some(volume_ref) = instance.attrs.get("volume").and_then(identity) else {
            continue;
        };
        // The volume: recorded (its id) or planned in this run (the origin of its unknown id).
        let recorded = prior.iter().find(|r| r.backend_id == volume_ref);
        let volume_address =
            recorded.map_or_else(|| volume_ref.trim_end_matches(".id").to_owned(), |r| r.address.clone());
        let volume_change = plan.changes.iter().find(|c| c.address.to_string() == volume_address);
        let storage = recorded
            .and_then(|r| r.provider.clone())
            .or_else(|| volume_change.and_then(|c| c.provider.clone()));
        // Its disk as its provider will give it (the name the plan chose for a new volume).
        let volume_name = recorded
            .map(|r| r.backend_id.clone())
            .or_else(|| volume_change.and_then(|c| c.backend_id.clone()))
            .unwrap_or_default();
        let host = change.provider.clone().unwrap_or_default();
        if let Some(storage) = storage {
            check_disk(
                &volume_address,
                &volume_name,
                &storage,
                &host,
                providers,
                &span,
                diagnostics,
            );
        }
        let held_elsewhere = volume_change
            .and_then(|c| c.before.as_ref())
            .and_then(|before| before.get(UNMANAGED_ATTACHMENTS));
        if let Some(Value::List(disks)) = held_elsewhere
            && !disks.is_empty()
        {
            let disks: Vec<&str> = disks.iter().filter_map(Value::as_str).collect();
            diagnostics.push(
                Diagnostic::error(format!(
                    "`{volume_address}` is already attached outside blockform ({}); a volume is attached to one instance at a time",
                    disks.join(", ")
                ))
                .at(span, "volume attached elsewhere")
                .help("detach it there first (`virsh detach-disk DOMAIN DEVICE --live --config`), then plan again"),
            );
        }
    }
}

/// Refuses an attachment whose volume's disk (as its provider will give it) the hypervisor
/// cannot attach at all, or cannot open from the machine it runs its instances on.
fn check_disk(
    volume_address: &str,
    volume_name: &str,
    storage: &str,
    host: &str,
    providers: &Providers,
    span: &crate::diagnostics::Span,
    diagnostics: &mut Diagnostics,
) {
    let Ok(hypervisor) = providers.hypervisor(host) else {
        return;
    };
    let disk = providers.get(storage).and_then(|p| p.planned_disk(volume_name));
    if let Some(reason) = disk.as_ref().and_then(|disk| hypervisor.refuses(disk)) {
        diagnostics.push(
            Diagnostic::error(format!(
                "`{volume_address}` cannot be attached through `{host}`: {reason} (provider `{storage}`)"
            ))
            .at(span.clone(), "volume the hypervisor cannot attach")
            .help("give the volume a type on a back end whose disks this hypervisor can name"),
        );
    }
    if let Some(ValidOn::Host(only)) = disk.as_ref().map(DiskSource::valid_on)
        && only != &hypervisor.host()
    {
        diagnostics.push(
            Diagnostic::error(format!(
                "`{volume_address}` cannot be attached through `{host}`: its disk is on `{only}` only \
                 (provider `{storage}`), and `{host}` runs its instances on `{}`",
                hypervisor.host()
            ))
            .at(span.clone(), "volume the hypervisor cannot reach")
            .help(format!(
                "attach it through a hypervisor on `{only}`, or give it a type on a back end that `{}` reaches over the network (Ceph)",
                hypervisor.host()
            )),
        );
    }
}
