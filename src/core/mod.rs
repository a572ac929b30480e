//! The pure core: answers, validation, catalog, profiles, rendering. No I/O here.

pub mod answers;
pub mod answers_text;
pub mod catalog;
pub mod checks;
pub mod cloud;
pub mod external_secret;
pub mod helm_command;
pub mod live;
pub mod manifests;
pub mod mounts;
pub mod problem;
pub mod profiles;
pub mod release;
pub mod render;
pub mod schema;
pub mod secret_manager;
pub mod seed;
pub mod troubleshooting;
pub mod upgrade_diff;
pub mod validate;
pub mod values;
pub mod verify;
pub mod workloads;
pub mod yaml;
