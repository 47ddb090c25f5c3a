//! Plan-time checks of new attachments against the live providers: a disk source the
//! hypervisor's machine cannot open (a qcow2 file or block device of another machine) and a
//! volume some instance already holds without blockform (attached by hand; libvirt itself
//! lets two domains open one RBD image) are refused before anything is touched.

use blockform_provider::ValidOn;

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
        let host = change.provider.clone().unwrap_or_default();
        if let (Some(storage), Ok(hypervisor)) = (storage, providers.hypervisor(&host))
            && let Some(reach) = providers.get(&storage).and_then(|p| p.disk_valid_on())
            && !reach.includes(&hypervisor.host())
        {
            let ValidOn::Host(only) = &reach else { continue };
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
