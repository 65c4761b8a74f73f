//! Start-to-first-frame benchmark (being written).
fn main() {}
