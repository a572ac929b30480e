//! An install of the release on the bed for the verify tests: a namespace and a remote prefix
//! of its own, seeded, applied and installed through the binary, the emulated control plane
//! told its admin token; and `verify` run as an operator runs it (through the bed's proxy,
//! trusting the bed's CA).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use caracal_deploy::core::answers::Answers;
use serde_json::{Value, json};

use super::{bed_answers, caracal_env, text};

pub static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run under `eval \"$(scripts/testbed env)\"` (scripts/test does)")
    })
}

pub fn kubectl(args: &[&str]) -> std::process::Output {
    Command::new(std::env::var_os("CARACAL_KUBECTL").unwrap_or_else(|| "kubectl".into()))
        .args(args)
        .output()
        .expect("the bed's kubectl")
}

pub fn kubectl_ok(args: &[&str]) -> String {
    let out = kubectl(args);
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// An HTTPS call to the Caracal API emulator (the bed's CA; never through a proxy) by curl,
/// a client independent of the product's: `bearer` is sent from a file, never on argv.
pub fn curl(method: &str, url: &str, body: Option<Value>, bearer: Option<&str>) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::new("curl");
    c.args([
        "-sS",
        "--fail-with-body",
        "--noproxy",
        "*",
        "-X",
        method,
        "--cacert",
    ])
    .arg(env("CARACAL_TESTBED_CA_BUNDLE"))
    .arg(url);
    if let Some(b) = body {
        let f = dir.path().join("body.json");
        std::fs::write(&f, b.to_string()).unwrap();
        c.args(["-H", "content-type: application/json", "--data-binary"])
            .arg(format!("@{}", f.display()));
    }
    if let Some(t) = bearer {
        let f = dir.path().join("headers");
        std::fs::write(&f, format!("Authorization: Bearer {t}\n")).unwrap();
        c.arg("-H").arg(format!("@{}", f.display()));
    }
    let out = c.output().expect("curl");
    assert!(
        out.status.success(),
        "{method} {url}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// The Caracal API emulator's control API.
pub fn emulator(method: &str, path: &str, body: Option<Value>) -> Value {
    curl(
        method,
        &format!("{}{path}", env("CARACAL_TESTBED_CARACAL_API_URL")),
        body,
        None,
    )
}

/// The sequence number of the emulator's last logged request.
pub fn emulator_mark() -> u64 {
    let log = emulator("GET", "/_emulator/requests", None);
    log["requests"]
        .as_array()
        .unwrap_or_else(|| panic!("{log}"))
        .last()
        .map_or(0, |r| r["seq"].as_u64().unwrap())
}

/// The requests the emulator logged after `mark` (emulator_mark).
pub fn requests_since(mark: u64) -> Vec<Value> {
    let log = emulator("GET", &format!("/_emulator/requests?since={mark}"), None);
    log["requests"]
        .as_array()
        .unwrap_or_else(|| panic!("{log}"))
        .clone()
}

/// The environment a program in a terminal (tmux) needs to reach the bed as verify does: the
/// cluster, the services' hosts through the bed's proxy and its CA; then `more`.
pub fn bed_terminal_env(more: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("KUBECONFIG", env("KUBECONFIG")),
        ("HTTPS_PROXY", env("CARACAL_TESTBED_PROXY_URL")),
        ("NO_PROXY", "127.0.0.1,localhost".into()),
        ("CARACAL_DEPLOY_CA_BUNDLE", env("CARACAL_TESTBED_CA_BUNDLE")),
        ("PATH", env("PATH")),
        ("HOME", env("HOME")),
    ];
    out.extend(more.iter().cloned());
    out
}

/// The terminal's environment for the wizard on the bed's AWS answers: the bed's, moto's
/// credentials and endpoint, and the bed's helm.
pub fn wizard_terminal_env() -> Vec<(&'static str, String)> {
    bed_terminal_env(&[
        ("AWS_ACCESS_KEY_ID", env("AWS_ACCESS_KEY_ID")),
        ("AWS_SECRET_ACCESS_KEY", env("AWS_SECRET_ACCESS_KEY")),
        ("AWS_ENDPOINT_URL", env("AWS_ENDPOINT_URL")),
        ("CARACAL_HELM", env("CARACAL_HELM")),
    ])
}

/// One install of the release in a namespace of its own, with its own remote prefix.
pub struct Install {
    pub answers: Answers,
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Install {
    fn drop(&mut self) {
        let _ = kubectl(&[
            "delete",
            "namespace",
            "--wait=false",
            "--ignore-not-found",
            &self.answers.namespace,
        ]);
    }
}

impl Install {
    pub fn new(tag: &str, change: impl FnOnce(&mut Answers)) -> Install {
        let dir = tempfile::tempdir().unwrap();
        let mut answers = bed_answers("aws");
        answers.namespace = super::unique(&format!("vf-{tag}-"));
        answers.secret_manager.prefix = super::unique("vf");
        change(&mut answers);
        let path = dir.path().join("answers.yaml");
        std::fs::write(&path, answers.to_yaml()).unwrap();
        Install {
            answers,
            path,
            _dir: dir,
        }
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        caracal_env(args, &self.path, &[])
    }

    /// Seed, apply, install: each must succeed (`install_exit`: what install must exit).
    pub fn up(&self, install_exit: i32, install_args: &[&str]) {
        for (args, code) in [
            (vec!["seed"], 0),
            (vec!["apply", "--yes", "--timeout", "120s"], 0),
        ] {
            let out = self.run(&args);
            assert_eq!(
                out.status.code(),
                Some(code),
                "{args:?}: {}",
                text(&out.stderr)
            );
        }
        let mut args = vec!["install", "--yes"];
        args.extend_from_slice(install_args);
        let out = self.run(&args);
        assert_eq!(
            out.status.code(),
            Some(install_exit),
            "install: {}",
            text(&out.stderr)
        );
        self.register_admin_token();
    }

    /// A runtime Secret value, read from the cluster.
    pub fn runtime_value(&self, key: &str) -> String {
        let b64 = kubectl_ok(&[
            "-n",
            &self.answers.namespace,
            "get",
            "secret",
            "caracal-runtime",
            "-o",
            &format!("jsonpath={{.data.{key}}}"),
        ]);
        use base64::Engine as _;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .unwrap(),
        )
        .unwrap()
    }

    /// The emulated control plane accepts this install's admin token, as the real one reads
    /// it from the same Secret.
    pub fn register_admin_token(&self) {
        emulator(
            "PUT",
            &format!("/_emulator/installations/{}", self.answers.namespace),
            Some(json!({ "admin_token": self.runtime_value("caracalAdminToken") })),
        );
    }

    pub fn verify_command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_caracal-deploy"));
        c.arg("verify")
            .args(args)
            .arg("-f")
            .arg(&self.path)
            .arg("--log-file")
            .arg(self.path.with_extension("log"))
            // The services' hosts are reached through the bed's proxy, their certificates
            // signed by its CA; the API server directly.
            .env("HTTPS_PROXY", env("CARACAL_TESTBED_PROXY_URL"))
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("CARACAL_DEPLOY_CA_BUNDLE", env("CARACAL_TESTBED_CA_BUNDLE"));
        c
    }

    /// The release's NetworkPolicy as the cluster has it, to restore later.
    pub fn policy(&self) -> String {
        kubectl_ok(&[
            "-n",
            &self.answers.namespace,
            "get",
            "networkpolicy",
            "caracal-caracal",
            "-o",
            "json",
        ])
    }

    /// Removes the policy's load-balancer rule: `network-ingress-source` fails.
    pub fn break_policy(&self) {
        kubectl_ok(&[
            "-n",
            &self.answers.namespace,
            "patch",
            "networkpolicy",
            "caracal-caracal",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/spec/ingress/1"}]"#,
        ]);
    }

    /// Puts back a policy `policy()` returned (`kubectl replace`, without its server fields).
    pub fn restore_policy(&self, saved: &str) {
        let mut v: Value = serde_json::from_str(saved).unwrap();
        v["metadata"]
            .as_object_mut()
            .unwrap()
            .retain(|k, _| k == "name" || k == "namespace" || k == "labels" || k == "annotations");
        kubectl_stdin("replace", &v);
    }

    /// `verify --wait WAIT` (then `args`) started, its stderr read line by line.
    pub fn spawn_wait(
        &self,
        wait: &str,
        args: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Waiting {
        let mut all = vec!["--wait", wait];
        all.extend_from_slice(args);
        let mut child = self
            .verify_command(&all)
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for l in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(l);
            }
        });
        Waiting {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// `verify -o json ARGS`: (exit code, report, stderr).
    pub fn verify(&self, args: &[&str]) -> (i32, Value, String) {
        let mut all = vec!["-o", "json"];
        all.extend_from_slice(args);
        let out = self.verify_command(&all).output().unwrap();
        let stderr = text(&out.stderr);
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", text(&out.stdout)));
        (out.status.code().unwrap(), report, stderr)
    }
}

/// The check `id` of a report.
pub fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["checks"].as_array().unwrap())
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

pub fn results(report: &Value) -> Vec<(String, String)> {
    report["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["checks"].as_array().unwrap())
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Polls kubectl (the test's own oracle, not the product) until `done` holds.
pub fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen in 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `kubectl VERB -f -` (apply, replace) of an object given as JSON.
pub fn kubectl_stdin(verb: &str, obj: &Value) {
    use std::io::Write;
    let mut child =
        Command::new(std::env::var_os("CARACAL_KUBECTL").unwrap_or_else(|| "kubectl".into()))
            .args([verb, "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(obj.to_string().as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "kubectl {verb}");
}

/// A `verify --wait` running, and the stderr lines read from it so far.
pub struct Waiting {
    pub child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Waiting {
    /// Reads lines until one holds `needle` (120 s at most, else a panic with what was seen);
    /// returns that line and when it was read.
    pub fn line_with(&mut self, needle: &str) -> (String, Instant) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no line with {needle:?} ({e}): {:#?}", self.seen));
            self.seen.push(line.clone());
            if line.contains(needle) {
                return (line, Instant::now());
            }
        }
    }

    /// Waits for verify to exit: its exit code.
    pub fn exit(&mut self) -> Option<i32> {
        self.child.wait().unwrap().code()
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
