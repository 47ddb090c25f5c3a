//! Rendering plans for people and machines (being written).
