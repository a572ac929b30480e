//! Saving over an existing answers file keeps the operator's comments, blank lines, order and
//! spelling, and the text reads back as exactly the intended document. Checked on the
//! examples and the test bed's answers with many random combinations of edits.

use caracal_deploy::core::answers::Answers;
use caracal_deploy::core::answers_text::{SaveError, edit_answers_text, save_text};
use caracal_deploy::core::schema;
use serde_json::{Map, Value, json};

fn read(rel: &str) -> String {
    std::fs::read_to_string(format!("{}/{rel}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The examples and the bed's answers (placeholders filled as `scripts/testbed` does).
fn files() -> Vec<(String, String)> {
    let placeholder = regex::Regex::new("@[A-Z_]+@").unwrap();
    let mut out = Vec::new();
    for cloud in ["aws", "gcp", "azure"] {
        let name = format!("examples/answers-{cloud}.yaml");
        out.push((name.clone(), read(&name)));
        let name = format!("testbed/answers/{cloud}.yaml.tmpl");
        let text = read(&name)
            .replace("@CONTEXT@", "caracal-testbed")
            .replace(
                "@CHART@",
                "/srv/caracal/shared/fixtures/caracal-chart-1.0.0",
            )
            .replace("@GCP_ENDPOINT@", "http://127.0.0.1:37115")
            .replace("@AZURE_VAULT_URL@", "https://127.0.0.1:41159")
            .replace("@CA_BUNDLE@", "/srv/caracal/.testbed/azure-kv/ca.pem");
        assert!(
            !placeholder.is_match(&text),
            "{name}: a placeholder is left"
        );
        out.push((name, text));
    }
    let commented: Vec<(String, String)> = out
        .iter()
        .map(|(name, text)| (format!("{name} (commented)"), with_comment_lines(text)))
        .collect();
    out.extend(commented);
    out
}

/// The text with a comment line before every key outside flow collections, so that edits
/// inside sections meet comment lines too.
fn with_comment_lines(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0i32;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if depth == 0 && !t.is_empty() && !t.starts_with('#') && t.contains(':') {
            let indent = &line[..line.len() - t.len()];
            out.push_str(&format!("{indent}# note {i}\n"));
        }
        out.push_str(line);
        out.push('\n');
        for c in line.split(" #").next().unwrap_or("").chars() {
            match c {
                '{' | '[' => depth += 1,
                '}' | ']' => depth -= 1,
                _ => {}
            }
        }
    }
    out
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A small deterministic generator (xorshift64*), so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Strings that a YAML writer must quote, or that are easy to get wrong.
const AWKWARD: &[&str] = &[
    "caracal-two",
    "yes",
    "no",
    "on",
    "true",
    "null",
    "~",
    "123",
    "0x1F",
    "1e3",
    "1.0.0",
    "a: b",
    "x #y",
    "#z",
    "- d",
    "[e]",
    "{f}",
    "g, h",
    "it's",
    "say \"hi\"",
    "@at",
    "%pct",
    "*star",
    "&amp",
    "!bang",
    "|pipe",
    ">gt",
    "`tick`",
    "",
    " lead",
    "trail ",
    "two\nlines",
    "tab\there",
    "back\\slash",
    "ünïcode",
    "oci://ghcr.io/x/y",
    "http://127.0.0.1:4566",
    "C:\\charts",
];

fn get_mut<'v>(doc: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    let mut node = doc;
    for part in path.split('.') {
        node = node.as_object_mut()?.get_mut(part)?;
    }
    Some(node)
}

fn set(doc: &mut Value, path: &str, value: Value) {
    let Value::Object(root) = doc else {
        panic!("a mapping")
    };
    schema::insert_at(root, path, value);
}

/// Removes a path; the keys that went with it (its own and those beneath it).
fn remove(doc: &mut Value, path: &str) -> Vec<String> {
    fn keys(key: &str, v: &Value, out: &mut Vec<String>) {
        out.push(key.to_string());
        if let Value::Object(m) = v {
            for (k, v) in m {
                keys(k, v, out);
            }
        }
    }
    let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
    let node = if parent.is_empty() {
        Some(&mut *doc)
    } else {
        get_mut(doc, parent)
    };
    let mut out = Vec::new();
    if let Some(v) = node
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove(key))
    {
        keys(key, &v, &mut out);
    }
    out
}

/// Scalars anywhere in the document (block or flow), as dotted paths.
fn scalar_paths(doc: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Value::Object(m) = doc {
        for (k, v) in m {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Object(_) => scalar_paths(v, &path, out),
                Value::Array(_) => {}
                _ => out.push(path),
            }
        }
    }
}

/// One random edit; returns the keys it removed.
fn mutate(doc: &mut Value, rng: &mut Rng) -> Vec<String> {
    let mut scalars = Vec::new();
    scalar_paths(doc, "", &mut scalars);
    match rng.below(8) {
        // A scalar anywhere: in a block mapping or inside a (possibly two-line) flow mapping.
        0 | 1 => {
            let path = rng.pick(&scalars).clone();
            let value = match rng.below(4) {
                0 => json!(rng.below(70000)),
                1 => json!(rng.below(2) == 0),
                _ => json!(rng.pick(AWKWARD)),
            };
            set(doc, &path, value);
            vec![]
        }
        // A list.
        2 => {
            let path = rng.pick(&["network.dnsEgress", "network.stateEgress"]);
            let n = rng.below(3) + 1;
            let items: Vec<Value> = (0..n)
                .map(|i| json!(format!("10.{}.0.0/16", rng.below(250) + i)))
                .collect();
            set(doc, path, Value::Array(items));
            vec![]
        }
        // An optional field added: to a block mapping, a flow mapping, or the top level.
        3 => {
            let (path, value) = rng
                .pick(&[
                    (
                        "secretManager.endpoint",
                        json!("https://vpce.example.internal"),
                    ),
                    ("postgres.sslMode", json!("verify-full")),
                    ("redis.tls", json!(false)),
                    ("ingress.hosts.extra", json!("extra.example.com")),
                    ("network.ingressController.podLabels.tier", json!("edge")),
                    (
                        "secrets",
                        json!({ "admin-token": "env:ADMIN_TOKEN", "metrics-bearer": "prompt" }),
                    ),
                    ("kekRotation", json!(true)),
                    ("identity.newField", json!("x: y")),
                ])
                .clone();
            set(doc, path, value);
            vec![]
        }
        // A field removed: a block line, a flow entry (first, middle or last), a section.
        4 | 5 => {
            let path = rng.pick(&[
                "kubeContext",
                "storageClass",
                "ingress.hosts.api",
                "ingress.hosts.sts",
                "ingress.hosts.web",
                "postgres.authDatabase",
                "postgres.host",
                "postgres.password",
                "redis.password",
                "chart.ref",
                "chart.version",
                "secretManager.prefix",
                "network.ingressController.podLabels",
                "identity",
            ]);
            remove(doc, path)
        }
        // A flow mapping replaced by one of another shape.
        6 => {
            set(doc, "chart", json!({ "ref": "./charts/caracal" }));
            vec![]
        }
        // A section emptied, or a value turned into a mapping.
        _ => {
            let (path, value) = match rng.below(4) {
                0 => ("network.ingressController.podLabels", json!({})),
                1 => ("storageClass", json!({ "a": "b", "c": [1, 2] })),
                // A block mapping replaced by an empty one, or by a scalar: the keys under it
                // go, and the comments on their lines with them.
                2 => ("secretManager", json!({})),
                _ => ("identity", json!("none")),
            };
            let mut gone = remove(doc, path);
            gone.retain(|k| k != path);
            set(doc, path, value);
            gone
        }
    }
}

fn full_line_comments(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .collect()
}

/// (key of the line, the trailing comment) of every line with one.
fn trailing_comments(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let at = l.find(" #")?;
            let key = l[..at].trim().split(':').next()?.trim().to_string();
            Some((key, l[at..].trim().to_string()))
        })
        .collect()
}

#[track_caller]
fn assert_in_order(original: &[&str], out: &str, context: &str) {
    let mut lines = out.lines();
    for c in original {
        assert!(
            lines.any(|l| l == *c),
            "{context}: comment line {c:?} is lost or out of order:\n{out}"
        );
    }
}

#[test]
fn random_edits_keep_every_comment_and_read_back_exactly() {
    let mut checked = 0;
    for (name, text) in files() {
        let original = yaml(&text);
        let comments = full_line_comments(&text);
        let trailing = trailing_comments(&text);
        for seed in 1..=300u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ name.len() as u64);
            let mut doc = original.clone();
            let mut removed = Vec::new();
            for _ in 0..rng.below(5) + 1 {
                removed.extend(mutate(&mut doc, &mut rng));
            }
            let context = format!("{name}, seed {seed}");
            let out = edit_answers_text(&text, &doc)
                .unwrap_or_else(|e| panic!("{context}: {e}\n{doc:#}"));
            // (a) exactly the intended document.
            assert_eq!(yaml(&out), doc, "{context}:\n{out}");
            // (b) every full-line comment, in order; trailing comments of kept lines.
            assert_in_order(&comments, &out, &context);
            for (key, comment) in &trailing {
                if !removed.contains(key) {
                    assert!(
                        out.contains(comment.as_str()),
                        "{context}: trailing {comment:?} of `{key}` is lost:\n{out}"
                    );
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 12 * 300);
}

#[test]
fn an_unchanged_document_is_the_same_text_and_one_changed_scalar_is_one_changed_line() {
    for (name, text) in files() {
        let doc = yaml(&text);
        assert_eq!(edit_answers_text(&text, &doc).unwrap(), text, "{name}");
        let mut paths = Vec::new();
        scalar_paths(&doc, "", &mut paths);
        for path in paths {
            let mut changed = doc.clone();
            set(&mut changed, &path, json!("changed-value"));
            let out = edit_answers_text(&text, &changed).unwrap();
            let differing = text
                .lines()
                .zip(out.lines())
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(
                (out.lines().count(), differing),
                (text.lines().count(), 1),
                "{name}: {path}:\n{out}"
            );
        }
    }
}

#[test]
fn new_keys_take_the_indentation_of_their_mapping() {
    let text = read("examples/answers-aws.yaml");
    let mut doc = yaml(&text);
    set(
        &mut doc,
        "secretManager.endpoint",
        json!("https://vpce.example.internal"),
    );
    set(
        &mut doc,
        "secrets",
        json!({ "admin-token": "env:ADMIN_TOKEN" }),
    );
    let out = edit_answers_text(&text, &doc).unwrap();
    assert!(
        out.contains("  prefix: caracal              # remote names caracal/postgres, caracal/admin-token, ...\n  endpoint: https://vpce.example.internal\nidentity:"),
        "{out}"
    );
    assert!(
        out.ends_with("storageClass: gp3\nsecrets:\n  admin-token: env:ADMIN_TOKEN\n"),
        "{out}"
    );
}

fn answers_of(text: &str) -> Answers {
    Answers::from_yaml(text).unwrap()
}

#[test]
fn saving_changes_only_the_answers_that_changed() {
    for (name, text) in files() {
        let before = answers_of(&text);
        // Unchanged answers: the file as it is, byte for byte.
        assert_eq!(save_text(Some(&text), &before).unwrap(), text, "{name}");
        let mut after = before.clone();
        after.postgres.host = "pg.internal.example.com".into();
        after.redis.database = 2;
        after.ingress.hosts.api = None;
        let out = save_text(Some(&text), &after).unwrap();
        assert_eq!(answers_of(&out), after, "{name}");
        assert_in_order(&full_line_comments(&text), &out, &name);
        // The api host's line goes; in the bed's files it is a flow entry, and removing it
        // joins the two lines of `hosts: {...}`.
        assert_eq!(
            text.lines().count() - out.lines().count(),
            1,
            "{name}:\n{out}"
        );
    }
}

#[test]
fn saving_adds_no_default_the_file_left_out_and_keeps_how_a_value_was_written() {
    let text = "# minimal\ncloud: azure\nsecretManager: { vaultUrl: \"https://caracal-prod.vault.azure.net/\" }\nidentity: { clientId: 00000000-0000-0000-0000-000000000000, tenantId: 00000000-0000-4000-8000-00000000ca1a }\npostgres: { host: db.example.internal }\nredis: { host: cache.example.internal }\ningress: { clusterIssuer: letsencrypt-prod, hosts: { web: console.example.com } }\nnetwork: { dnsEgress: [10.0.0.10/32], stateEgress: [10.20.0.0/16], ingressController: { namespace: app-routing-system } }\n";
    let mut answers = answers_of(text);
    answers.redis.port = 6380;
    let out = save_text(Some(text), &answers).unwrap();
    assert_eq!(
        out,
        text.replace(
            "redis: { host: cache.example.internal }",
            "redis: { host: cache.example.internal, port: 6380 }"
        )
    );
}

#[test]
fn switching_the_cloud_rewrites_only_the_cloud_sections() {
    let text = read("examples/answers-aws.yaml");
    let gcp = answers_of(&read("examples/answers-gcp.yaml"));
    let mut after = answers_of(&text);
    after.cloud = gcp.cloud;
    after.secret_manager.target = gcp.secret_manager.target.clone();
    after.identity = gcp.identity.clone();
    after.runtime_identity = gcp.runtime_identity.clone();
    let out = save_text(Some(&text), &after).unwrap();
    assert_eq!(answers_of(&out), after);
    assert_in_order(&full_line_comments(&text), &out, "aws to gcp");
    assert!(
        out.contains("  prefix: caracal              # remote names"),
        "{out}"
    );
}

#[test]
fn an_invalid_file_is_never_rewritten_silently() {
    let text =
        read("examples/answers-aws.yaml").replace("namespace: caracal", "namespace: Caracal");
    let answers = answers_of(&read("examples/answers-aws.yaml"));
    match save_text(Some(&text), &answers) {
        Err(SaveError::InvalidOriginal(problems)) => {
            assert_eq!(problems[0].path, "namespace");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut typo = yaml(&read("examples/answers-aws.yaml"));
    typo["postgres"]["hots"] = json!("db");
    let text = serde_json::to_string(&typo).unwrap();
    assert!(matches!(
        save_text(Some(&text), &answers),
        Err(SaveError::InvalidOriginal(_))
    ));
    // No file yet: a new one.
    assert_eq!(save_text(None, &answers).unwrap(), answers.to_yaml());
}

#[test]
fn a_new_file_reads_back_as_the_answers() {
    for (name, text) in files() {
        let a = answers_of(&text);
        assert_eq!(answers_of(&a.to_yaml()), a, "{name}");
        let doc: Map<String, Value> = match yaml(&a.to_yaml()) {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        assert_eq!(
            doc.keys().next().map(String::as_str),
            Some("cloud"),
            "{name}"
        );
    }
}
