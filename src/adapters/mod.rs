//! The outside world behind small interfaces.

pub mod helm;
pub mod kube;
