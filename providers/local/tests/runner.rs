//! Integration tests of the local provider against the real `qemu-img`, `qemu-io` and
//! `qemu-nbd`, each in its own temporary directory; no tool is faked.

mod support;
mod test_changed_extents;
mod test_crash;
mod test_data;
mod test_direct_read;
mod test_header;
mod test_lifecycle;
mod test_refresh;
