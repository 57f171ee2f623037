//! Zoom adapter (placeholder: being written).
