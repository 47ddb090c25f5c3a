//! The operation graph of a plan (being written).
