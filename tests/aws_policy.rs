//! The seeding policy that docs/getting-started-aws.md publishes is exactly what `seed` needs:
//! the JSON block under its "### Seeding policy" heading, parsed from the Markdown, is given to
//! an IAM user of a moto server of this test's own with IAM enforcement
//! (testbed/emulators/moto_iam.py, from the bed's venv: moto's policy evaluation, plus the
//! TagResource check of a tagged CreateSecret and the secret's ARN as the resource, which AWS
//! does and moto lacks). The real binary seeds as that user, then rotates the KEK (the run that
//! adds versions): both succeed with the documented policy, and with any one action removed the
//! run fails with exit 3, naming that action and only it. The policy's Resource is scoped to the
//! prefix: the same policy does not let another prefix be read.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{bed_answers, repo, text, unique};

const DOC: &str = "docs/getting-started-aws.md";
const HEADING: &str = "### Seeding policy";
/// moto's account and the bed's region.
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// The JSON block that follows `HEADING` in the AWS getting-started page.
fn documented_policy() -> String {
    let doc = std::fs::read_to_string(repo().join(DOC)).unwrap_or_else(|e| panic!("{DOC}: {e}"));
    let mut lines = doc.lines().skip_while(|l| l.trim() != HEADING);
    assert!(
        lines.next().is_some(),
        "{DOC} has no heading `{HEADING}`: the test reads the seeding policy from the JSON block under it"
    );
    let mut lines = lines.skip_while(|l| !l.trim_start().starts_with("```"));
    let fence = lines.next().unwrap_or_default();
    assert_eq!(
        fence.trim(),
        "```json",
        "the first code block under `{HEADING}` in {DOC} is the policy, as ```json"
    );
    let block: Vec<&str> = lines.take_while(|l| l.trim() != "```").collect();
    block.join("\n")
}

/// The documented policy for `prefix`, with the doc's placeholders filled in for moto.
fn policy_for(doc_text: &str, prefix: &str) -> Value {
    for placeholder in ["REGION", "ACCOUNT_ID", ":secret:caracal/"] {
        assert!(
            doc_text.contains(placeholder),
            "the documented policy has no `{placeholder}` to fill in (its Resource must be arn:aws:secretsmanager:REGION:ACCOUNT_ID:secret:caracal/*): {doc_text}"
        );
    }
    let filled = doc_text
        .replace("REGION", REGION)
        .replace("ACCOUNT_ID", ACCOUNT)
        .replace(":secret:caracal/", &format!(":secret:{prefix}/"));
    serde_json::from_str(&filled).unwrap_or_else(|e| {
        panic!("the policy under `{HEADING}` in {DOC} is not JSON ({e}): {filled}")
    })
}

fn actions(policy: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for statement in policy["Statement"].as_array().expect("Statement") {
        match &statement["Action"] {
            Value::String(a) => out.push(a.clone()),
            Value::Array(list) => out.extend(list.iter().map(|a| a.as_str().unwrap().to_string())),
            other => panic!("a statement without Action: {other}"),
        }
    }
    out
}

/// `policy` without `action` (a statement left without actions is dropped).
fn without(policy: &Value, action: &str) -> Value {
    let mut policy = policy.clone();
    let statements = policy["Statement"].as_array_mut().unwrap();
    for statement in statements.iter_mut() {
        let kept: Vec<Value> = match &statement["Action"] {
            Value::String(a) => vec![Value::String(a.clone())],
            Value::Array(list) => list.clone(),
            _ => vec![],
        }
        .into_iter()
        .filter(|a| a != action)
        .collect();
        statement["Action"] = Value::Array(kept);
    }
    statements.retain(|s| s["Action"].as_array().is_some_and(|a| !a.is_empty()));
    policy
}

struct Moto {
    child: Child,
    log: PathBuf,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn venv_python() -> PathBuf {
    let python = PathBuf::from(std::env::var("CARACAL_TESTBED_EMULATORS_PYTHON").unwrap_or_else(|_| {
        panic!("CARACAL_TESTBED_EMULATORS_PYTHON is not set: this test runs moto from the bed's venv. Run `scripts/testbed up` and `eval \"$(scripts/testbed env)\"` (scripts/test does both)")
    }));
    assert!(
        python.is_file(),
        "CARACAL_TESTBED_EMULATORS_PYTHON={} does not exist: run testbed/emulators/setup.sh (scripts/testbed up does)",
        python.display()
    );
    python
}

/// A moto server of this test's own on 127.0.0.1, whose first `no_auth` requests go unchecked.
fn start_moto(python: &Path, dir: &Path, no_auth: usize) -> (Moto, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.join("moto.log");
    let child = Command::new(python)
        .arg(repo().join("testbed/emulators/moto_iam.py"))
        .arg(port.to_string())
        .env("INITIAL_NO_AUTH_ACTION_COUNT", no_auth.to_string())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start testbed/emulators/moto_iam.py with the bed's python");
    let mut moto = Moto { child, log };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = moto.child.try_wait().unwrap() {
            panic!(
                "moto_iam.py exited ({status}) before serving: {}",
                std::fs::read_to_string(&moto.log).unwrap_or_default()
            );
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "moto did not listen on 127.0.0.1:{port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (moto, format!("http://127.0.0.1:{port}"))
}

/// Creates an IAM user per (name, policy) with an access key: 3 unchecked requests each.
const SETUP: &str = r#"
import boto3, json, sys
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
keys = {}
for name, policy in json.load(sys.stdin):
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="caracal-deploy-seed", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    keys[name] = [key["AccessKeyId"], key["SecretAccessKey"]]
print(json.dumps(keys))
"#;

fn create_users(python: &Path, endpoint: &str, users: &[(String, Value)]) -> Value {
    let mut child = Command::new(python)
        .args(["-c", SETUP, endpoint])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), &json!(users)).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "IAM set-up: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `caracal-deploy seed ARGS -f ANSWERS` as the IAM user of `key`, through moto.
fn seed(dir: &Path, endpoint: &str, key: &Value, prefix: &str, args: &[&str]) -> Output {
    let mut answers = bed_answers("aws");
    answers.secret_manager.prefix = prefix.to_string();
    let path = dir.join(format!("{prefix}.yaml"));
    std::fs::write(&path, answers.to_yaml()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .arg("seed")
        .args(args)
        .arg("-f")
        .arg(&path)
        .arg("--log-file")
        .arg(dir.join(format!("{prefix}.log")))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", key[0].as_str().unwrap())
        .env("AWS_SECRET_ACCESS_KEY", key[1].as_str().unwrap())
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL_SECRETS_MANAGER")
        .output()
        .expect("run caracal-deploy")
}

/// The two runs an operator makes with the seeding identity: a first seed (reads, creates with
/// tags), then a KEK rotation (reads, creates the previous key, adds versions). Returns the
/// first that does not exit 0, or None.
fn seed_and_rotate(dir: &Path, endpoint: &str, key: &Value, prefix: &str) -> Option<Output> {
    for args in [&[][..], &["--rotate", "secret-store-kek"][..]] {
        let out = seed(dir, endpoint, key, prefix, args);
        if out.status.code() != Some(0) {
            return Some(out);
        }
    }
    None
}

/// Every `allow secretsmanager:ACTION` a failed run's fixes name.
fn allowed_in_fixes(stderr: &str) -> Vec<String> {
    let mut out: Vec<String> = stderr
        .split("allow secretsmanager:")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn the_documented_seeding_policy_is_exactly_what_seed_calls() {
    let python = venv_python();
    let dir = tempfile::tempdir().unwrap();
    let doc_text = documented_policy();
    let documented = actions(&policy_for(&doc_text, "caracal"));
    assert!(
        !documented.is_empty(),
        "the documented policy has no action"
    );
    let mut distinct = documented.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        documented.len(),
        "an action listed twice: {documented:?}"
    );

    // One user with the whole policy, one per action without it; each with its own prefix
    // (moto's state is server-wide).
    let full_prefix = unique("full");
    let mut users = vec![("full".to_string(), policy_for(&doc_text, &full_prefix))];
    let mut variants = Vec::new();
    for action in &documented {
        let prefix = unique("less");
        let name = action.replace(':', "-");
        users.push((
            name.clone(),
            without(&policy_for(&doc_text, &prefix), action),
        ));
        variants.push((action.clone(), name, prefix));
    }
    let (moto, endpoint) = start_moto(&python, dir.path(), 3 * users.len());
    let keys = create_users(&python, &endpoint, &users);

    // The documented policy suffices.
    if let Some(out) = seed_and_rotate(dir.path(), &endpoint, &keys["full"], &full_prefix) {
        let stderr = text(&out.stderr);
        panic!(
            "seed failed (exit {:?}) with the policy of {DOC}, which lacks {:?}:\n{stderr}\nmoto: {}",
            out.status.code(),
            allowed_in_fixes(&stderr)
                .iter()
                .map(|a| format!("secretsmanager:{a}"))
                .collect::<Vec<_>>(),
            moto.log.display()
        );
    }

    // It is scoped to the prefix: the same user cannot read another prefix's secrets.
    let out = seed(
        dir.path(),
        &endpoint,
        &keys["full"],
        &unique("other"),
        &["--dry-run"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "another prefix: {stderr}");
    assert_eq!(allowed_in_fixes(&stderr), ["GetSecretValue"], "{stderr}");

    // Each action is needed: without it the run fails and names it, and only it.
    for (action, user, prefix) in &variants {
        let name = action.strip_prefix("secretsmanager:").unwrap_or_else(|| {
            panic!("{action}: the seeding policy holds Secrets Manager actions only")
        });
        let out = seed_and_rotate(dir.path(), &endpoint, &keys[user], prefix).unwrap_or_else(|| {
            panic!("{action} is in the policy of {DOC}, but seed and a KEK rotation succeed without it: remove it from the policy, or say what calls it")
        });
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "without {action}: {stderr}");
        assert!(
            stderr.contains(&format!("not authorized to perform: {action}")),
            "without {action}, the service's own words are kept: {stderr}"
        );
        assert!(
            stderr.contains(&format!("permission denied: {name} ")),
            "without {action}, the error names it: {stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "allow {action} on arn:aws:secretsmanager:{REGION}:ACCOUNT:secret:{prefix}/*"
            )),
            "without {action}, the fix names it: {stderr}"
        );
        assert_eq!(
            allowed_in_fixes(&stderr),
            [name],
            "without {action}, no other permission is asked for: {stderr}"
        );
    }
    drop(moto);
}
