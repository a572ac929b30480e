//! Every check id the code produces has an entry in docs/troubleshooting.md, every entry is a
//! check's, and every hint of a failing check points at an anchor the document has, at this
//! version, with the `explain` command of the same id. No bed: preflight runs without a
//! kubeconfig, against an API server that does not answer and against a stand-in for an old,
//! empty one, with no helm; verify's checks run on observed states. Between them every check
//! fails at least once. The document's anchors are read here as GitHub makes them (headings
//! outside code fences, slugged), not through the crate's own parser.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use caracal_deploy::adapters::helm::Helm;
use caracal_deploy::adapters::kube::{Cluster, KubeError};
use caracal_deploy::core::answers::Answers;
use caracal_deploy::core::checks::{Check, Outcome};
use caracal_deploy::core::verify::{CanaryResult, Kind, Observed, evaluate};
use caracal_deploy::engine::preflight;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const DOCUMENT: &str = "docs/troubleshooting.md";

/// GitHub's anchor of a heading: lowercase, letters, digits, `-` and `_` kept, spaces to `-`,
/// everything else dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// (every anchor of the document, the level-2 headings: the entries).
fn anchors(path: &Path) -> (BTreeSet<String>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut all = BTreeSet::new();
    let mut entries = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let level = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&level) || !line[level..].starts_with(' ') {
            continue;
        }
        let heading = line[level..].trim();
        let mut anchor = slug(heading);
        let mut n = 0;
        while all.contains(&anchor) {
            n += 1;
            anchor = format!("{}-{n}", slug(heading));
        }
        all.insert(anchor);
        if level == 2 {
            entries.push(heading.to_string());
        }
    }
    (all, entries)
}

fn answers() -> Answers {
    let text = std::fs::read_to_string(repo().join("examples/answers-aws.yaml")).unwrap();
    Answers::from_yaml(&text).unwrap()
}

const KINDS: [Kind; 17] = [
    Kind::ClusterSecretStore,
    Kind::ExternalSecret,
    Kind::RuntimeSecret,
    Kind::Release,
    Kind::Job,
    Kind::Deployment,
    Kind::StatefulSet,
    Kind::Pod,
    Kind::ConfigMap,
    Kind::NetworkPolicy,
    Kind::ServiceMonitor,
    Kind::PrometheusRule,
    Kind::Certificate,
    Kind::CertificateRequest,
    Kind::Order,
    Kind::Challenge,
    Kind::Event,
];

/// A stand-in for an API server on 127.0.0.1, plain HTTP: Kubernetes 1.29 (older than the
/// chart needs), the built-in storage and networking groups with no objects in them, and a 404
/// for everything else (no CRD served, no access review, no Deployment list). Its URL.
async fn old_empty_api_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream));
        }
    });
    url
}

async fn answer(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let Ok(n) = stream.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while request.len() < head_end + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/");
    let resources = |group_version: &str, name: &str, kind: &str| {
        serde_json::json!({
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": [{ "name": name, "singularName": "", "namespaced": false, "kind": kind,
                            "verbs": ["get", "list", "watch"] }],
        })
    };
    let (status, body) = match path {
        "/version" => (
            "200 OK",
            serde_json::json!({
                "major": "1", "minor": "29", "gitVersion": "v1.29.0", "gitCommit": "0",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.26", "compiler": "gc", "platform": "linux/amd64",
            }),
        ),
        "/apis/storage.k8s.io/v1" => (
            "200 OK",
            resources("storage.k8s.io/v1", "storageclasses", "StorageClass"),
        ),
        "/apis/networking.k8s.io/v1" => (
            "200 OK",
            resources("networking.k8s.io/v1", "ingressclasses", "IngressClass"),
        ),
        _ => (
            "404 Not Found",
            serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                "code": 404, "message": format!("the server could not find {path}"),
            }),
        ),
    };
    let body = body.to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

/// A kubeconfig whose one context reaches `server` with no credentials.
fn kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join(format!("kubeconfig-{}", server.len()));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n\
             users: [{{name: u, user: {{}}}}]\ncontexts: [{{name: test, context: {{cluster: c, user: u}}}}]\n\
             current-context: test\n"
        ),
    )
    .unwrap();
    path
}

/// The checks of preflight and verify in states that fail each of them at least once.
/// Preflight, with no secret manager read and no helm: with no kubeconfig; against an API
/// server that does not answer; against an old, empty one. Verify: with nothing observed, and
/// with every watch lost at the last report beside a failed canary.
async fn checks() -> Vec<Check> {
    let answers = answers();
    let helm = Helm::at("/nonexistent/caracal-deploy-test/helm");
    let dir = tempfile::tempdir().unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let old_empty = old_empty_api_server().await;
    let mut out: Vec<Check> = Vec::new();
    let no_kubeconfig = KubeError::Config("no kubeconfig (a test)".into());
    let clusters = [
        Err(no_kubeconfig),
        Cluster::connect_with(Some(&kubeconfig(dir.path(), &closed)), None).await,
        Cluster::connect_with(Some(&kubeconfig(dir.path(), &old_empty)), None).await,
    ];
    for cluster in &clusters {
        let report = preflight::run(
            &answers,
            cluster.as_ref(),
            Err("the secret manager was not read (a test)".into()),
            &helm,
        )
        .await;
        out.extend(report.checks().cloned());
    }
    let nothing = Observed::default();
    out.extend(
        evaluate(&answers, &nothing, false)
            .into_iter()
            .map(|(_, c)| c),
    );
    let mut lost = Observed {
        canary: Some(CanaryResult::Failed {
            via: "the ingress hosts".into(),
            step: "STS: token exchange (POST /oauth/2/token)".into(),
            message: "connection refused".into(),
            code: String::new(),
            left_behind: Vec::new(),
        }),
        ..Observed::default()
    };
    for kind in KINDS {
        lost.stale.insert(kind, "lost: a test".into());
    }
    out.extend(evaluate(&answers, &lost, true).into_iter().map(|(_, c)| c));
    out
}

#[tokio::test]
async fn every_check_id_has_an_entry_and_every_entry_is_a_check() {
    let (_, entries) = anchors(&repo().join(DOCUMENT));
    let documented: BTreeSet<&str> = entries.iter().map(String::as_str).collect();
    assert_eq!(
        documented.len(),
        entries.len(),
        "an entry twice: {entries:?}"
    );
    let checks = checks().await;
    let ids: BTreeSet<&str> = checks.iter().map(|c| c.id.as_str()).collect();
    let undocumented: Vec<&&str> = ids.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "check ids without an entry in {DOCUMENT}: {undocumented:?}"
    );
    let stale: Vec<&&str> = documented.difference(&ids).collect();
    assert!(stale.is_empty(), "entries of no check: {stale:?}");
    // preflight's 15 and verify's 14 (the README's table).
    assert_eq!(ids.len(), 29, "{ids:?}");
}

/// The URLs of a hint, and the id its `explain` names.
fn pointers(hint: &str) -> (Vec<&str>, Option<&str>) {
    let urls = hint
        .split_whitespace()
        .filter(|w| w.starts_with("https://"))
        .map(|w| w.trim_end_matches(['.', ',', ';', ')', '`']))
        .collect();
    let explain = hint
        .split("caracal-deploy explain ")
        .nth(1)
        .and_then(|rest| rest.split(['`', ' ']).next());
    (urls, explain)
}

/// A hint's pointer: a URL at this version's tag of an existing document, whose anchor that
/// document has and which is the check's id; and `caracal-deploy explain` of the same id.
fn assert_points_at_its_entry(check: &Check) {
    let (urls, explain) = pointers(&check.hint);
    assert_eq!(explain, Some(check.id.as_str()), "{check:?}");
    let docs: Vec<&str> = urls
        .iter()
        .filter(|u| u.contains(".md#"))
        .copied()
        .collect();
    assert_eq!(docs.len(), 1, "one entry URL in {check:?}");
    let (file, anchor) = docs[0].split_once('#').unwrap();
    let tag = format!("/blob/v{}/", env!("CARGO_PKG_VERSION"));
    let (_, path) = file
        .split_once(&tag)
        .unwrap_or_else(|| panic!("{file} is not at the tag of this version ({tag})"));
    let document = repo().join(path);
    assert!(document.is_file(), "{file}: no {path} in the repository");
    let (all, _) = anchors(&document);
    assert!(all.contains(anchor), "{path} has no anchor #{anchor}");
    assert_eq!(anchor, check.id, "{check:?}");
}

#[tokio::test]
async fn every_hint_of_a_failing_check_points_at_an_existing_anchor() {
    let checks = checks().await;
    let failing: Vec<&Check> = checks
        .iter()
        .filter(|c| matches!(c.result, Outcome::Error | Outcome::Warning))
        .collect();
    for c in &failing {
        assert_points_at_its_entry(c);
    }
    let seen: BTreeSet<&str> = failing.iter().map(|c| c.id.as_str()).collect();
    let ids: BTreeSet<&str> = checks.iter().map(|c| c.id.as_str()).collect();
    let never: Vec<&&str> = ids.difference(&seen).collect();
    assert!(
        never.is_empty(),
        "checks whose hint was never seen: {never:?}"
    );
}
