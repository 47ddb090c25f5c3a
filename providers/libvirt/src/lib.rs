//! The libvirt hypervisor of blockform: `provider "libvirt" "NAME" { uri = "qemu:///system" }`,
//! which `attachment` resources name as their `host`.
//!
//! Everything goes through `virsh -c URI` with argv vectors (no shell): attaching builds a
//! `<disk>` element from the [`DiskSource`](blockform_provider::DiskSource) the volume's
//! storage provider hands out (a qcow2 file, an RBD image with a cephx libvirt secret that
//! blockform defines from the provider's keyring, a block device), with the volume's id as
//! serial and the front-end limits as `<iotune>`; detaching waits until the device is gone from
//! the running domain; limits change live with `blkdeviotune`; growth reaches the guest with
//! `blockresize`. Refresh reads every domain's live and persistent XML in one `virsh` call.
//!
//! virsh rather than the libvirt C API: the machine needs no libvirt development files, the
//! same argv works over `qemu+ssh://` URIs, and the XML virsh prints is libvirt's own.

mod config;
mod disk_xml;
mod domain;
mod factory;
pub mod fault;
mod provider;
mod secret;
mod virsh;

pub use config::{KIND, LibvirtConfig};
pub use factory::{LibvirtFactory, SCHEMA};
pub use provider::LibvirtHypervisor;

/// The factory the engine's registry lists for `provider "libvirt"` blocks.
pub static FACTORY: LibvirtFactory = LibvirtFactory;
