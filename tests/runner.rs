//! The integration tests: one binary, one module per area. They run the real `blockform`
//! binary and assert what a person sees: exit codes, stdout and stderr.

mod common;
mod test_apply;
mod test_backup;
mod test_ceph;
mod test_ceph_recovery;
mod test_ceph_trust;
mod test_cli;
mod test_drift;
mod test_engine;
mod test_fmt;
mod test_golden;
mod test_hardening;
mod test_language;
mod test_libvirt;
mod test_loader_properties;
mod test_local_crash;
mod test_lvm;
mod test_plan;
mod test_providers;
mod test_retry;
mod test_rgw_bench;
mod test_s3;
mod test_s3_backup;
mod test_state;
mod test_state_cli;
mod test_trust;
mod test_validate;
