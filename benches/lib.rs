//! Shared helpers for the criterion benches (the benches themselves are `[[bench]]` targets).
