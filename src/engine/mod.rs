//! Runs the effects the commands and the wizard ask for, through the adapters. Front ends send
//! requests to the one `Engine` and read its typed events; they never reach an adapter.
//! Writes are atomic: an interrupted run leaves every secret untouched or complete, and every
//! file either the previous one or the new one.

pub mod answers;
pub mod apply;
pub mod chart_check;
pub mod choices;
pub mod error;
pub mod fingerprint;
pub mod install;
pub mod narrate;
pub mod output;
pub mod preflight;
pub mod release;
mod runner;
pub mod seed;
pub mod source;
pub mod upgrade;
pub mod verify;

pub use error::EngineError;
pub use runner::{CloudConnector, Connector, Detected, Engine, Event, Request};

/// The async runtime of the commands and the wizard (two workers: the machine's budget).
pub fn start_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}
