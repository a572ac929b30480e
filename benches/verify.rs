//! Verify benchmarks. Needs the test bed:
//! `scripts/testbed up && eval "$(scripts/testbed env)" && cargo bench --bench verify`.
//!
//! 1. Detection latency: a NetworkPolicy repaired on an install, and the time until
//!    `caracal-deploy verify --wait` shows its check green, versus `kubectl wait
//!    --for=jsonpath=…` on the same object started at the same time (ratio; both watch).
//! 2. API requests per minute while `verify --wait` watches an idle install, read from the API
//!    server's own request metrics: verify runs as its own user, which a FlowSchema of its own
//!    classifies, so `apiserver_flowcontrol_dispatched_requests_total{flow_schema=…}` counts
//!    exactly its requests.
//! 3. `verify`'s wall time and peak memory on the bed with 10,000 unrelated ConfigMaps in
//!    another namespace versus without them (ratio: its watches are scoped to its namespace).
//!
//! Under `cargo test` (CI) it runs the same steps smaller (3 rounds become 1, 60 s of
//! watching 15 s, 10,000 objects 1,000) and says so; the figures of the README come from
//! `cargo bench`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::verify_bed::{Install, env, kubectl, kubectl_ok, kubectl_stdin};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn latency(install: &Install, rounds: usize) {
    let ns = &install.answers.namespace;
    let policy = install.policy();
    let (mut ours, mut peer) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        install.break_policy();
        let mut verify = install.spawn_wait("120s", &[], &[]);
        verify.line_with("not green yet");
        let mut wait =
            Command::new(std::env::var_os("CARACAL_KUBECTL").unwrap_or_else(|| "kubectl".into()))
                .args([
                    "-n",
                    ns,
                    "wait",
                    "networkpolicy/caracal-caracal",
                    "--for=jsonpath={.spec.ingress[*].from[*].ipBlock.cidr}=10.0.0.0/16",
                    "--timeout=120s",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
        // Both are watching before the change.
        std::thread::sleep(Duration::from_secs(2));
        let start = Instant::now();
        install.restore_policy(&policy);
        let peer_done = std::thread::spawn(move || {
            let s = wait.wait().unwrap();
            assert!(s.success(), "kubectl wait");
            Instant::now()
        });
        let (_, ours_at) = verify.line_with("√ ok network-ingress-source");
        let peer_at = peer_done.join().unwrap();
        verify.exit();
        ours.push(ours_at.duration_since(start).as_secs_f64() * 1000.0);
        peer.push(peer_at.duration_since(start).as_secs_f64() * 1000.0);
    }
    let (o, p) = (median(ours), median(peer));
    println!(
        "detection latency (median of {rounds}): verify --wait {o:.0} ms, kubectl wait {p:.0} ms: ratio {:.2}",
        o / p
    );
}

/// A client certificate of the bed's CA for user `caracal-bench` (bound to cluster-admin, not
/// in system:masters, so the API server's priority and fairness classifies its requests), and
/// a kubeconfig for it in `dir`.
fn bench_user(dir: &Path) -> std::path::PathBuf {
    let pki = Path::new(&env("CARACAL_TESTBED_STATE")).join("pki");
    let key = dir.join("bench.key");
    let csr = dir.join("bench.csr");
    let crt = dir.join("bench.crt");
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            support::text(&out.stderr)
        );
    };
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        key.to_str().unwrap(),
    ]);
    run(&[
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        "/CN=caracal-bench",
        "-out",
        csr.to_str().unwrap(),
    ]);
    // A v3 certificate (rustls refuses v1, which `x509 -req` makes without extensions).
    let ext = dir.join("bench.ext");
    std::fs::write(
        &ext,
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-extfile",
        ext.to_str().unwrap(),
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-CA",
        pki.join("ca.crt").to_str().unwrap(),
        "-CAkey",
        pki.join("ca.key").to_str().unwrap(),
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        crt.to_str().unwrap(),
    ]);
    let server = kubectl_ok(&[
        "config",
        "view",
        "--minify",
        "-o",
        "jsonpath={.clusters[0].cluster.server}",
    ]);
    let config = dir.join("kubeconfig");
    let k = |args: &[&str]| {
        let out =
            Command::new(std::env::var_os("CARACAL_KUBECTL").unwrap_or_else(|| "kubectl".into()))
                .arg("--kubeconfig")
                .arg(&config)
                .args(args)
                .output()
                .unwrap();
        assert!(out.status.success(), "{}", support::text(&out.stderr));
    };
    k(&[
        "config",
        "set-cluster",
        "bed",
        "--server",
        server.trim(),
        "--certificate-authority",
        pki.join("ca.crt").to_str().unwrap(),
        "--embed-certs",
    ]);
    k(&[
        "config",
        "set-credentials",
        "caracal-bench",
        "--client-certificate",
        crt.to_str().unwrap(),
        "--client-key",
        key.to_str().unwrap(),
        "--embed-certs",
    ]);
    k(&[
        "config",
        "set-context",
        "caracal-testbed",
        "--cluster",
        "bed",
        "--user",
        "caracal-bench",
    ]);
    k(&["config", "use-context", "caracal-testbed"]);
    kubectl_stdin(
        "apply",
        &json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": { "name": "caracal-bench" },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin" },
            "subjects": [ { "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "caracal-bench" } ],
        }),
    );
    kubectl_stdin(
        "apply",
        &json!({
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
            "metadata": { "name": "caracal-bench" },
            "spec": {
                "matchingPrecedence": 100,
                "priorityLevelConfiguration": { "name": "workload-low" },
                "distinguisherMethod": { "type": "ByUser" },
                "rules": [ {
                    "subjects": [ { "kind": "User", "user": { "name": "caracal-bench" } } ],
                    "resourceRules": [ { "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                                         "clusterScope": true, "namespaces": ["*"] } ],
                    "nonResourceRules": [ { "verbs": ["*"], "nonResourceURLs": ["*"] } ],
                } ],
            },
        }),
    );
    config
}

/// Requests the API server dispatched for the bench user's FlowSchema so far.
fn dispatched() -> f64 {
    let metrics = kubectl_ok(&["get", "--raw", "/metrics"]);
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("apiserver_flowcontrol_dispatched_requests_total")
                && l.contains("flow_schema=\"caracal-bench\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn requests_per_minute(install: &Install, watch_for: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = bench_user(dir.path());
    let policy = install.policy();
    // Red, so verify keeps watching; nothing else changes in the namespace meanwhile.
    install.break_policy();
    let before = dispatched();
    let mut verify = install.spawn_wait(
        &format!("{}s", watch_for.as_secs() + 60),
        &[],
        &[("KUBECONFIG", kubeconfig.as_os_str())],
    );
    verify.line_with("not green yet");
    let listed = dispatched();
    std::thread::sleep(watch_for);
    let after = dispatched();
    drop(verify);
    install.restore_policy(&policy);
    let _ = kubectl(&["delete", "flowschema", "caracal-bench"]);
    let _ = kubectl(&["delete", "clusterrolebinding", "caracal-bench"]);
    assert!(
        listed > before,
        "the FlowSchema counted none of verify's requests"
    );
    let per_minute = (after - listed) * 60.0 / watch_for.as_secs_f64();
    println!(
        "API requests: {:.0} to start (preflight, discovery, one list and watch per kind), then {per_minute:.1} per minute watching an idle install ({} s measured)",
        listed - before,
        watch_for.as_secs()
    );
}

/// Wall seconds and peak resident KiB of one `verify` (GNU time).
fn timed_verify(install: &Install) -> (f64, f64) {
    let c = install.verify_command(&["-o", "json"]);
    let program = c.get_program().to_owned();
    let args: Vec<_> = c.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = c
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %M"])
        .arg(program)
        .args(args)
        .envs(envs)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let err = support::text(&out.stderr);
    let last = err.lines().last().unwrap_or_default().to_string();
    let mut it = last.split_whitespace();
    let wall: f64 = it
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    let kib: f64 = it
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    (wall, kib)
}

fn scale(install: &Install, objects: usize, rounds: usize) {
    let measure = || {
        let runs: Vec<(f64, f64)> = (0..rounds).map(|_| timed_verify(install)).collect();
        (
            median(runs.iter().map(|r| r.0).collect()),
            median(runs.iter().map(|r| r.1).collect()),
        )
    };
    let (t0, m0) = measure();
    let other = support::unique("bench-noise-");
    kubectl_ok(&["create", "namespace", &other]);
    let made = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("noise.yaml");
    let mut text = String::new();
    for i in 0..objects {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: noise-{i}\n  namespace: {other}\ndata:\n  payload: \"{}\"\n",
            "x".repeat(200)
        ));
    }
    std::fs::write(&file, text).unwrap();
    let out = Command::new(std::env::var_os("CARACAL_KUBECTL").unwrap_or_else(|| "kubectl".into()))
        .args(["create", "-f"])
        .arg(&file)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", support::text(&out.stderr));
    let creation = made.elapsed();
    let (t1, m1) = measure();
    let _ = kubectl(&["delete", "namespace", &other, "--wait=false"]);
    println!(
        "verify on the bed: {t0:.2} s, {:.1} MiB peak; with {objects} unrelated ConfigMaps ({:.0} s to create): {t1:.2} s, {:.1} MiB: ratios {:.2} time, {:.2} memory (median of {rounds})",
        m0 / 1024.0,
        creation.as_secs_f64(),
        m1 / 1024.0,
        t1 / t0,
        m1 / m0
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, watch_for, objects) = if full {
        (3, Duration::from_secs(60), 10_000)
    } else {
        println!(
            "verify benchmark, reduced (under cargo test): 1 round, 15 s of watching, 1,000 objects"
        );
        (1, Duration::from_secs(15), 1_000)
    };
    let install = Install::new("bench", |_| {});
    install.up(0, &[]);
    latency(&install, rounds);
    requests_per_minute(&install, watch_for);
    scale(&install, objects, rounds);
}
