//! Runs the effects the commands and the wizard ask for. Writes are atomic: an interrupted
//! run leaves the previous files, never half of the new ones.

pub mod output;
pub mod seed;
