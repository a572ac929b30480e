//! caracal-deploy: from an empty managed Kubernetes cluster to a verified Caracal install.
//!
//! Layers, each depending only on those below it: `exit` and `core` (pure: answers,
//! validation, rendering, plans; no I/O); `adapters` (the outside world behind traits);
//! `engine` (runs requests on adapters, reports typed events); and two front ends over the
//! engine, `cli` (headless commands) and `tui` (the wizard), neither of which imports the other.

pub mod adapters;
pub mod cli;
pub mod core;
pub mod engine;
pub mod exit;
pub mod logging;
pub mod tui;
