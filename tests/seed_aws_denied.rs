//! AWS permission errors through the real SDK: a moto server of this test's own with IAM
//! enforcement, and a user allowed to read secrets but not to create them.

mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};

use support::bed_answers;

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn venv_python() -> PathBuf {
    PathBuf::from(std::env::var("CARACAL_TESTBED_EMULATORS_PYTHON").unwrap_or_else(|_| {
        panic!("CARACAL_TESTBED_EMULATORS_PYTHON is not set: run scripts/testbed up and eval \"$(scripts/testbed env)\"")
    }))
}

const SETUP: &str = r#"
import boto3, json, sys
ep = sys.argv[1]
iam = boto3.client("iam", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
iam.create_user(UserName="seeder")
iam.put_user_policy(UserName="seeder", PolicyName="read-only", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:ListSecretVersionIds"], "Resource": "*"}]}))
key = iam.create_access_key(UserName="seeder")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;

#[test]
fn aws_permission_denied_names_the_action_and_exits_3() {
    let python = venv_python();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    // The first three calls (the IAM set-up below) are unauthenticated; everything after is
    // checked against IAM policies.
    let _moto = Moto(
        Command::new(python.with_file_name("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto_server from the bed's venv"),
    );
    let mut ready = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            ready = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(ready, "moto did not start");
    let out = Command::new(&python)
        .args(["-c", SETUP, &endpoint])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = String::from_utf8(out.stdout).unwrap();
    let (key_id, secret_key) = keys.trim().split_once(' ').unwrap();

    let dir = tempfile::tempdir().unwrap();
    let answers = bed_answers("aws");
    let path = dir.path().join("answers.yaml");
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args(["seed", "-f"])
        .arg(&path)
        .arg("--log-file")
        .arg(dir.path().join("log"))
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret_key)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("permission denied: CreateSecret on caracal/*"),
        "{stderr}"
    );
    assert!(
        stderr.contains("allow secretsmanager:CreateSecret on arn:aws:secretsmanager:us-east-1:ACCOUNT:secret:caracal/*"),
        "the fix is printed: {stderr}"
    );
    assert!(
        stderr.contains("not authorized to perform: secretsmanager:CreateSecret"),
        "the service's own words are kept: {stderr}"
    );
    assert!(
        !stderr.contains(secret_key),
        "credentials never reach the output"
    );
}

#[test]
fn aws_missing_credentials_are_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let answers = bed_answers("aws");
    let path = dir.path().join("answers.yaml");
    std::fs::write(&path, answers.to_yaml()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
        .args(["seed", "--dry-run", "-f"])
        .arg(&path)
        .arg("--log-file")
        .arg(dir.path().join("log"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("HOME", dir.path())
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no AWS credentials were found"), "{stderr}");
    assert!(
        stderr.contains("`aws sso login` with AWS_PROFILE, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "the fix is printed: {stderr}"
    );
    assert!(
        !stderr.contains("DispatchFailure"),
        "no SDK debug dump on screen: {stderr}"
    );
}
