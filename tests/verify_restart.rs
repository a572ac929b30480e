//! `verify --wait` survives an API server restart: while the bed's kube-apiserver is stopped and
//! started again, the checks it watches say "reconnecting" (never their old result), and once it
//! is back the repair made meanwhile is seen and verify returns.
//!
//! A test binary of its own: cargo runs test binaries one after another, so no other test
//! talks to the API server while it restarts.

mod support;

use std::process::Command;

use support::verify_bed::{Install, env};

fn apiserver_pid() -> String {
    let path = format!("{}/pids/kube-apiserver.pid", env("CARACAL_TESTBED_STATE"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .to_string()
}

#[test]
fn wait_reconnects_after_an_api_server_restart_and_sees_the_repair() {
    let install = Install::new("rst", |_| {});
    install.up(0, &[]);
    let policy = install.policy();
    install.break_policy();
    let mut waiting = install.spawn_wait("240s", &[], &[]);
    waiting.line_with("not green yet");

    // Stop the API server (as a crash would) and start it again with the bed's own script.
    let pid = apiserver_pid();
    let out = Command::new("kill").arg(&pid).output().unwrap();
    assert!(out.status.success(), "kill {pid}");
    waiting.line_with("reconnecting");
    let up = Command::new(support::repo().join("scripts/testbed"))
        .arg("up")
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", support::text(&up.stderr));
    assert_ne!(apiserver_pid(), pid, "a new kube-apiserver");

    // The repair, made through the new API server.
    install.restore_policy(&policy);
    waiting.line_with("√ ok network-ingress-source");
    assert_eq!(waiting.exit(), Some(4), "{:#?}", waiting.seen);
}
