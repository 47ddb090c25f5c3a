//! Integration tests of the LVM provider against a real LVM host: a TCG guest with
//! device-mapper LVM reached over ssh, which `tests/run` boots with `tests/lvm-host-up.sh`
//! and describes in `BLOCKFORM_TEST_LVM_HOST`, `BLOCKFORM_TEST_LVM_PORT`,
//! `BLOCKFORM_TEST_LVM_IDENTITY_FILE` and `BLOCKFORM_TEST_LVM_KNOWN_HOSTS` (volume group
//! `BLOCKFORM_TEST_LVM_VG`, default `vg0`, thin pool `BLOCKFORM_TEST_LVM_THIN_POOL`, default
//! `pool`). Under plain `cargo test` they are ignored; no tool is faked. Every test is named
//! `lvm_*` so that `cargo test -- --ignored lvm_` selects exactly them.

mod support;
mod test_data;
mod test_errors;
mod test_lifecycle;
