//! caracal-deploy: from an empty managed Kubernetes cluster to a verified Caracal install.
//!
//! `core` is pure (answers, validation, rendering); `adapters` reach the outside world
//! (helm, Kubernetes, secret managers); `engine` runs effects on adapters; `tui` draws.

pub mod adapters;
pub mod cli;
mod cli_seed;
pub mod core;
pub mod engine;
pub mod logging;
pub mod tui;
