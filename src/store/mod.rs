//! Store (placeholder: being written).
