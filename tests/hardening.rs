//! Issue 8, security part: nothing from the answers file reaches YAML, a shell script or a
//! command line unescaped; supplied secret values are checked before anything is written;
//! fingerprints are keyed; files are created safely; dependency crates never log below warn.
//! The tests that seed need the test bed (`eval "$(scripts/testbed env)"`).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use caracal_deploy::adapters::connect_secret_manager;
use caracal_deploy::core::answers::{Answers, SecretManagerTarget, SecretSource};
use caracal_deploy::core::render::render;
use caracal_deploy::core::secret_manager::RemoteState;
use support::{bed_answers, example_text, helm};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn caracal(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_caracal-deploy"));
    cmd.args(args)
        .current_dir(dir)
        .env("CARACAL_HELM", helm())
        .env("XDG_STATE_HOME", dir.join("state"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run caracal-deploy")
}

/// A YAML line that sets `key` to `value` as a double-quoted scalar (escapes kept).
fn replace_line(text: &str, starts: &str, with: &str) -> String {
    let mut done = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if !done && l.trim_start().starts_with(starts) {
                done = true;
                let indent = &l[..l.len() - l.trim_start().len()];
                format!("{indent}{with}")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(done, "no line starts with {starts}");
    out.join("\n") + "\n"
}

/// A vault URL outside the known Key Vault suffixes that carries a whole extra object.
const INJECTED_VAULT_URL: &str =
    "https://vault.example.com\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: evil}\nx: a:443";

#[test]
fn render_refuses_a_vault_url_with_a_newline_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let answers = replace_line(
        &example_text("azure"),
        "vaultUrl:",
        &format!(
            "vaultUrl: {}",
            serde_json::to_string(INJECTED_VAULT_URL).unwrap()
        ),
    );
    std::fs::write(dir.path().join("answers.yaml"), answers).unwrap();
    let out = caracal(
        &["render", "-f", "answers.yaml", "--out", "bundle"],
        dir.path(),
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("secretManager.vaultUrl"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("bundle").exists());
}

#[test]
fn hosts_in_urls_allow_only_letters_digits_dots_and_dashes() {
    use caracal_deploy::core::validate::{endpoint_url, vault_url};
    for bad in [
        "https://vault.example.com\nx:443",
        "https://vault example.com",
        "https://vault.exa'mple.com",
        "https://vault.example.com\t",
        "https://va$(id)lt.example.com",
    ] {
        assert!(vault_url(bad).is_err(), "vault_url accepted {bad:?}");
        assert!(endpoint_url(bad).is_err(), "endpoint_url accepted {bad:?}");
    }
    for good in [
        "https://vault.example.com",
        "https://localhost:8443",
        "https://[::1]:8443",
        "https://10.0.0.4",
    ] {
        assert!(vault_url(good).is_ok(), "vault_url refused {good:?}");
        assert!(endpoint_url(good).is_ok(), "endpoint_url refused {good:?}");
    }
}

#[test]
fn control_characters_are_refused_in_every_text_field() {
    let dir = tempfile::tempdir().unwrap();
    for (starts, line, field) in [
        (
            "kubeContext:",
            r#"kubeContext: "prod\u001b]0;owned\u0007""#,
            "kubeContext",
        ),
        (
            "kubeContext:",
            r#"kubeContext: "prod\nexec rm -rf /""#,
            "kubeContext",
        ),
        (
            "password: file:",
            r#"password: "file:/run/secrets/pg\npw""#,
            "postgres.password",
        ),
    ] {
        let answers = replace_line(&example_text("azure"), starts, line);
        std::fs::write(dir.path().join("answers.yaml"), answers).unwrap();
        let out = caracal(
            &["render", "-f", "answers.yaml", "--out", "bundle"],
            dir.path(),
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{line}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(field),
            "{line}: {}",
            text(&out.stderr)
        );
        assert!(!dir.path().join("bundle").exists());
    }
}

#[test]
fn a_chart_ref_that_looks_like_an_option_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for reference in ["--post-renderer=x", "-caracal"] {
        // The directory exists (a real chart), so only the leading '-' is wrong with it.
        std::os::unix::fs::symlink(support::chart_dir(), dir.path().join(reference)).unwrap();
        let answers = replace_line(
            &example_text("gcp"),
            "chart:",
            &format!("chart: {{ ref: \"{reference}\", version: 1.0.0 }}"),
        );
        std::fs::write(dir.path().join("answers.yaml"), answers).unwrap();
        let out = caracal(
            &["render", "-f", "answers.yaml", "--out", "bundle"],
            dir.path(),
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("chart.ref"),
            "{}",
            text(&out.stderr)
        );
    }
}

/// Answers built in code, bypassing validation: whatever a comment-bound value holds, every
/// rendered file keeps exactly its one object and the script its fixed lines.
#[test]
fn every_manifest_is_one_document_whatever_the_values_hold() {
    let mut answers = support::example_answers("azure");
    answers.secret_manager.target = SecretManagerTarget::Azure {
        vault_url: INJECTED_VAULT_URL.into(),
    };
    answers.kube_context = Some("ctx\n---\nkind: Pod\n'; rm -rf / #".into());
    answers.namespace = "caracal\n---\nkind: Pod".into();
    answers.release = "caracal\nkind: Pod".into();
    // YAML 1.1 parsers (kubectl's) also break lines at U+2028 and U+2029.
    answers.storage_class = Some("gp3\u{2028}kind: Pod\u{2029}".into());
    if let caracal_deploy::core::answers::Identity::Azure { client_id, .. } = &mut answers.identity
    {
        client_id.push_str("\u{2028}kind: Pod");
    }
    let bundle = render(&answers);
    let expected = [
        ("01-namespace.yaml", "Namespace"),
        ("02-eso-serviceaccount.yaml", "ServiceAccount"),
        ("03-clustersecretstore.yaml", "ClusterSecretStore"),
        ("04-externalsecret.yaml", "ExternalSecret"),
    ];
    for (name, kind) in expected {
        let file = bundle.file(name).unwrap();
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&file.content)
            .unwrap_or_else(|e| panic!("{name} is not YAML: {e}\n{}", file.content));
        assert_eq!(docs.len(), 1, "{name}:\n{}", file.content);
        assert_eq!(docs[0]["kind"], kind, "{name}:\n{}", file.content);
        assert!(
            !file.content.contains(['\u{2028}', '\u{2029}']),
            "{name}: a raw line separator:\n{}",
            file.content
        );
        for line in file.content.lines() {
            assert!(
                !line.starts_with("---") && !line.starts_with("kind: Pod"),
                "{name}: {line:?}"
            );
        }
    }
    let values = bundle.file("values.yaml").unwrap();
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&values.content).unwrap();
    assert_eq!(docs.len(), 1, "{}", values.content);
    assert!(
        !values.content.contains(['\u{2028}', '\u{2029}']),
        "values.yaml: a raw line separator:\n{}",
        values.content
    );
    assert!(docs[0]["global"].is_object(), "{}", values.content);

    // The script: the header stays comments, and helm receives exactly the words of the argv.
    let script = &bundle.file("helm-install.sh").unwrap().content;
    let head: Vec<&str> = script.lines().take_while(|l| *l != "set -eu").collect();
    assert!(head.len() < script.lines().count(), "{script}");
    for line in head {
        assert!(line.starts_with('#'), "{line:?} in\n{script}");
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("helm-install.sh"), script).unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("helm"), "#!/bin/sh\nprintf '%s\\0' \"$@\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("helm"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("sh")
        .arg(dir.path().join("helm-install.sh"))
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got: Vec<String> = text(&out.stdout)
        .split_terminator('\0')
        .map(String::from)
        .collect();
    let want = caracal_deploy::core::helm_command::helm_install_args(&answers, "values.yaml");
    assert_eq!(got, want);
}

#[test]
fn no_value_becomes_an_option_of_helm() {
    let mut answers = support::example_answers("gcp");
    answers.chart.reference = "oci://ghcr.io/garudex-labs/charts/caracal".into();
    answers.kube_context = Some("--post-renderer=/tmp/x".into());
    let args = caracal_deploy::core::helm_command::helm_install_args(&answers, "values.yaml");
    let sep = args
        .iter()
        .position(|a| a == "--")
        .unwrap_or_else(|| panic!("no `--` in {args:?}"));
    assert_eq!(
        &args[sep + 1..],
        &["caracal".to_string(), answers.chart.reference.clone()],
        "{args:?}"
    );
    // Option values are attached with `=`, so none can be read as an option of its own.
    assert!(
        args.contains(&"--kube-context=--post-renderer=/tmp/x".to_string()),
        "{args:?}"
    );
    assert!(
        !args.contains(&"--post-renderer=/tmp/x".to_string()),
        "{args:?}"
    );
}

#[test]
fn ipv6_hosts_are_bracketed_inside_urls() {
    let mut answers = support::example_answers("aws");
    answers.postgres.host = "fd00::5".into();
    answers.redis.host = "fd00::6".into();
    let bundle = render(&answers);
    let es = &bundle.file("04-externalsecret.yaml").unwrap().content;
    assert!(es.contains("@[{{ .pgHost }}]:{{ .pgPort }}"), "{es}");
    assert!(es.contains("@[{{ .redisHost }}]:{{ .redisPort }}"), "{es}");
    assert!(!es.contains("@{{ .pgHost }}"), "{es}");
    // A name or an IPv4 address is written as it is.
    let es = render(&support::example_answers("aws"));
    let es = &es.file("04-externalsecret.yaml").unwrap().content;
    assert!(es.contains("@{{ .pgHost }}:{{ .pgPort }}"), "{es}");
}

#[test]
fn replacing_a_bundle_does_not_use_a_predictable_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundle");
    let bundle = render(&support::example_answers("aws"));
    caracal_deploy::engine::output::write_bundle(&bundle, &out).unwrap();
    // Someone who can write the parent plants the name the old bundle used to move to.
    let planted = dir
        .path()
        .join(format!(".caracal-deploy-old-{}", std::process::id()));
    std::fs::create_dir(&planted).unwrap();
    std::fs::write(planted.join("keep"), "x").unwrap();
    caracal_deploy::engine::output::write_bundle(&bundle, &out).unwrap();
    assert!(planted.join("keep").is_file());
    assert!(out.join("values.yaml").is_file());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

// --- against the test bed ---------------------------------------------------------------

fn fresh(
    cloud: &str,
    dir: &Path,
    tag: &str,
    edit: impl FnOnce(&mut Answers),
) -> (Answers, PathBuf) {
    let mut answers = bed_answers(cloud);
    answers.secret_manager.prefix = support::unique(&format!("h{tag}"));
    edit(&mut answers);
    let path = dir.join(format!("answers-{tag}.yaml"));
    std::fs::write(&path, answers.to_yaml()).unwrap();
    (answers, path)
}

fn seed(path: &Path, dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let log = dir.join("seed.log");
    let mut args = vec![
        "seed",
        "-f",
        path.to_str().unwrap(),
        "--log-file",
        log.to_str().unwrap(),
    ];
    args.extend(extra);
    caracal(&args, dir, env)
}

async fn nothing_written(answers: &Answers) {
    let sm = connect_secret_manager(answers).await.unwrap();
    let catalog = caracal_deploy::core::catalog::SecretCatalog::for_chart("1.0.0").unwrap();
    for s in catalog.secrets.iter() {
        let name = s.remote_name(answers.cloud, &answers.secret_manager.prefix);
        assert!(
            matches!(sm.read(&name).await.unwrap(), RemoteState::Missing),
            "{name} was written"
        );
    }
}

#[tokio::test]
async fn aws_endpoint_from_the_environment_must_not_be_plain_http_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = fresh("aws", dir.path(), "ep", |_| {});
    let out = seed(
        &path,
        dir.path(),
        &["--dry-run"],
        &[("AWS_ENDPOINT_URL", "http://198.51.100.7:4566")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("AWS_ENDPOINT_URL"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn supplied_keys_and_tokens_must_meet_the_catalog_rule() {
    let dir = tempfile::tempdir().unwrap();
    for (tag, value, entry) in [
        ("short", "abc123", "secrets.auth-secret"),
        ("nothex", &"zz".repeat(32) as &str, "secrets.auth-secret"),
    ] {
        let (answers, path) = fresh("aws", dir.path(), tag, |a| {
            a.secrets
                .insert("auth-secret".into(), SecretSource::Env("HARDEN_KEY".into()));
        });
        let out = seed(&path, dir.path(), &[], &[("HARDEN_KEY", value)]);
        assert_eq!(out.status.code(), Some(2), "{tag}: {}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(entry), "{tag}: {stderr}");
        assert!(
            !stderr.contains(value),
            "{tag}: the value is shown: {stderr}"
        );
        nothing_written(&answers).await;
    }
}

#[tokio::test]
async fn supplied_passwords_must_be_sane() {
    let dir = tempfile::tempdir().unwrap();
    let long = "p".repeat(5000);
    for (tag, value) in [
        ("ctl", "pass\nword"),
        ("esc", "pass\u{1b}[2J"),
        ("long", &long as &str),
    ] {
        let (answers, path) = fresh("aws", dir.path(), tag, |a| {
            a.postgres.password = SecretSource::Env("HARDEN_PW".into());
        });
        let out = seed(&path, dir.path(), &[], &[("HARDEN_PW", value)]);
        assert_eq!(out.status.code(), Some(2), "{tag}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("postgres.password"),
            "{tag}: {}",
            text(&out.stderr)
        );
        nothing_written(&answers).await;
    }
}

#[tokio::test]
async fn file_sources_accept_only_small_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::write(&big, "a".repeat(64 * 1024 + 1)).unwrap();
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    for (tag, file) in [
        ("big", big),
        ("fifo", fifo),
        ("dir", sub),
        ("dev", PathBuf::from("/dev/zero")),
    ] {
        let (answers, path) = fresh("aws", dir.path(), tag, |a| {
            a.redis.password = SecretSource::File(file.clone());
        });
        // A FIFO with no writer would block a plain read forever: the run must not hang.
        let mut child = Command::new(env!("CARGO_BIN_EXE_caracal-deploy"))
            .args(["seed", "-f", path.to_str().unwrap(), "--log-file"])
            .arg(dir.path().join("seed.log"))
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > std::time::Duration::from_secs(30) {
                let _ = child.kill();
                panic!("{tag}: seed hangs on {}", file.display());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{tag}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("redis.password"),
            "{tag}: {}",
            text(&out.stderr)
        );
        nothing_written(&answers).await;
    }
}

#[tokio::test]
async fn fingerprints_of_supplied_values_are_keyed() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let password = "correct horse battery staple";
    let (_, path) = fresh("aws", dir.path(), "fp", |a| {
        a.postgres.password = SecretSource::Env("HARDEN_PW".into());
    });
    let env = [("HARDEN_PW", password)];
    let out = seed(&path, dir.path(), &[], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = seed(&path, dir.path(), &["--dry-run"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let log = std::fs::read_to_string(dir.path().join("seed.log")).unwrap_or_default();
    // What a plain SHA-256 prefix of the stored record would show.
    let sm_answers = {
        let mut a = bed_answers("aws");
        a.secret_manager.prefix = Answers::from_yaml(&std::fs::read_to_string(&path).unwrap())
            .unwrap()
            .secret_manager
            .prefix;
        a
    };
    let sm = connect_secret_manager(&sm_answers).await.unwrap();
    let remote = caracal_deploy::core::catalog::remote_name(
        sm_answers.cloud,
        &sm_answers.secret_manager.prefix,
        "postgres",
    );
    let RemoteState::Present(record) = sm.read(&remote).await.unwrap() else {
        panic!("{remote} missing");
    };
    use secrecy::ExposeSecret;
    for value in [record.expose_secret(), password] {
        let plain = &hex::encode(Sha256::digest(value.as_bytes()))[..16];
        assert!(!shown.contains(plain), "unkeyed fingerprint shown: {shown}");
        assert!(!log.contains(plain), "unkeyed fingerprint logged");
    }
    assert!(shown.contains("hmac-sha256:"), "{shown}");
    let key = dir.path().join("state/caracal-deploy/fingerprint.key");
    let meta = std::fs::symlink_metadata(&key).expect("the key is kept in the state directory");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // The same key on the next run: the same fingerprint.
    let again = seed(&path, dir.path(), &["--dry-run"], &env);
    assert_eq!(text(&again.stdout), text(&out.stdout));
}

#[test]
fn the_log_file_is_private_and_never_followed_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = fresh("aws", dir.path(), "lf", |_| {});
    let log = dir.path().join("seed.log");
    let out = seed(&path, dir.path(), &["--dry-run"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");

    std::fs::remove_file(&log).unwrap();
    let target = dir.path().join("victim");
    std::fs::write(&target, "untouched\n").unwrap();
    std::os::unix::fs::symlink(&target, &log).unwrap();
    let _ = seed(
        &path,
        dir.path(),
        &["--dry-run"],
        &[("CARACAL_DEPLOY_LOG_LEVEL", "trace")],
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
}

#[test]
fn dependency_crates_never_log_below_warn() {
    for cloud in support::CLOUDS {
        dependency_crates_never_log_below_warn_on(cloud);
    }
}

fn dependency_crates_never_log_below_warn_on(cloud: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = fresh(cloud, dir.path(), "log", |_| {});
    let out = seed(
        &path,
        dir.path(),
        &["--dry-run"],
        &[("CARACAL_DEPLOY_LOG_LEVEL", "trace")],
    );
    assert_eq!(out.status.code(), Some(0), "{cloud}: {}", text(&out.stderr));
    let log = std::fs::read_to_string(dir.path().join("seed.log")).unwrap();
    let noisy = [
        "aws",
        "azure",
        "typespec",
        "google_cloud",
        "gax",
        "hyper",
        "reqwest",
        "rustls",
        "h2",
        "tower",
        "tonic",
        "kube",
    ];
    let mut own = 0;
    for line in log.lines() {
        let mut parts = line.split_whitespace();
        let (_, level, target) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
        if target.starts_with("caracal_deploy") {
            own += 1;
        }
        if matches!(level, Some("DEBUG" | "TRACE" | "INFO")) {
            assert!(
                !noisy.iter().any(|n| target.starts_with(n)),
                "{cloud}: a dependency logs below warn: {line}"
            );
        }
    }
    // The operator's filter still reaches this crate's own lines.
    assert!(own > 0, "{cloud}: {log}");
}

/// The published JSON Schema states the same host rule: editors flag the crafted URL too.
#[test]
fn the_published_schema_refuses_a_url_with_a_newline_or_a_space() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(support::repo().join("schema/answers.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut doc: serde_json::Value = serde_saphyr::from_str(&example_text("azure")).unwrap();
    assert!(validator.is_valid(&doc));
    for bad in [INJECTED_VAULT_URL, "https://vault example.com"] {
        doc["secretManager"]["vaultUrl"] = bad.into();
        assert!(!validator.is_valid(&doc), "{bad:?}");
    }
}

/// A refused value is quoted in the message with its control characters escaped: an
/// answers file cannot drive the terminal of whoever runs the command.
#[test]
fn messages_never_carry_raw_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let answers = replace_line(
        &example_text("azure"),
        "podLabels:",
        r#"podLabels: { app: "x\u001b]0;owned\u0007\u001b[2J" }"#,
    );
    std::fs::write(dir.path().join("answers.yaml"), answers).unwrap();
    let out = caracal(
        &["render", "-f", "answers.yaml", "--out", "bundle"],
        dir.path(),
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("podLabels.app"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
}
