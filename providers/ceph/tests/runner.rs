//! Integration tests of the Ceph provider against a real cluster, found through
//! `BLOCKFORM_TEST_CEPH_CONF` and `BLOCKFORM_TEST_CEPH_KEYRING` (and optionally
//! `BLOCKFORM_TEST_CEPH_POOL`, default `rbd`), which `tests/run` exports after booting one
//! with `tests/ceph-up.sh`. Under plain `cargo test` they are ignored; no tool is faked.
//! They came with the Ceph provider (issue 6); every test is named `ceph_*` so that
//! `cargo test -- --ignored ceph_` selects exactly them.

mod support;
mod test_data;
mod test_errors;
mod test_lifecycle;
mod test_namespace;
mod test_recovery;
mod test_refresh;
