//! Backup benchmark (placeholder).

fn main() {}
