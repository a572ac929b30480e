//! The answers file: the operator's choices, never a secret value.
//!
//! Reading goes through a generic YAML value first, so that every problem of a file is
//! reported at once, each with its field path and its fix (serde would stop at the first).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use super::catalog::SecretCatalog;
use super::cloud::Cloud;
use super::problem::{Problem, join};
use super::validate::{self, FieldVerdict};

/// The chart the wizard installs unless told otherwise.
pub const DEFAULT_CHART_REF: &str = "oci://ghcr.io/garudex-labs/charts/caracal";
pub const DEFAULT_CHART_VERSION: &str = "1.0.0";

/// Where a secret's value comes from. The value itself never enters the answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// Random bytes from the OS CSPRNG.
    Generate,
    /// A masked prompt at run time.
    Prompt,
    /// An environment variable of the wizard's process.
    Env(String),
    /// A file whose content (trailing newline removed) is the value.
    File(PathBuf),
}

impl SecretSource {
    /// Parses `generate`, `prompt`, `env:VAR` or `file:PATH`.
    pub fn parse(value: &str) -> Result<SecretSource, (String, String)> {
        match value {
            "generate" => return Ok(SecretSource::Generate),
            "prompt" => return Ok(SecretSource::Prompt),
            _ => {}
        }
        if let Some(var) = value.strip_prefix("env:") {
            validate::env_var_name(var)?;
            return Ok(SecretSource::Env(var.to_string()));
        }
        if let Some(path) = value.strip_prefix("file:") {
            if path.is_empty() {
                return Err((
                    "`file:` names no file".into(),
                    "write file:PATH, e.g. file:/run/secrets/pg-password".into(),
                ));
            }
            return Ok(SecretSource::File(PathBuf::from(path)));
        }
        Err((
            "this looks like a secret value or an unknown source; secret values never go in the answers file".into(),
            "write generate, prompt, env:VAR or file:PATH".into(),
        ))
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Generate => f.write_str("generate"),
            SecretSource::Prompt => f.write_str("prompt"),
            SecretSource::Env(v) => write!(f, "env:{v}"),
            SecretSource::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartRef {
    /// `oci://…`, `repo/name` or a local directory.
    pub reference: String,
    pub version: String,
}

impl ChartRef {
    /// A local chart directory rather than a registry reference.
    pub fn is_local(&self) -> bool {
        !self.reference.starts_with("oci://")
            && (self.reference.starts_with('/')
                || self.reference.starts_with('.')
                || self.reference.matches('/').count() != 1)
    }
}

/// Where the secrets live, per cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretManagerTarget {
    Aws { region: String },
    Gcp { project: String },
    Azure { vault_url: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretManagerAnswers {
    pub target: SecretManagerTarget,
    /// Remote names are `<prefix>/<name>` on AWS and `<prefix>-<name>` on GCP and Azure.
    pub prefix: String,
    /// A private endpoint or proxy in front of the service's API.
    pub endpoint: Option<String>,
    /// PEM bundle of extra certificate authorities to trust (TLS-inspecting proxies,
    /// private endpoints with a private CA).
    pub ca_bundle: Option<PathBuf>,
}

/// The workload identity External Secrets and the Caracal pods run as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    Aws {
        role_arn: String,
    },
    Gcp {
        service_account: String,
        cluster_location: String,
        cluster_name: String,
    },
    Azure {
        client_id: String,
    },
}

impl Identity {
    /// The value of the service-account annotation that binds the identity.
    pub fn annotation_value(&self) -> &str {
        match self {
            Identity::Aws { role_arn } => role_arn,
            Identity::Gcp {
                service_account, ..
            } => service_account,
            Identity::Azure { client_id } => client_id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Postgres {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub auth_database: String,
    pub username: String,
    pub password: SecretSource,
    pub ssl_mode: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redis {
    pub host: String,
    pub port: u16,
    pub database: u8,
    pub password: SecretSource,
    /// Managed Redis with in-transit encryption needs the `rediss://` scheme.
    pub tls: bool,
}

/// The four public endpoints. Only the web console is required; a service without a host
/// gets no Ingress and stays private to the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hosts {
    pub sts: Option<String>,
    pub gateway: Option<String>,
    pub api: Option<String>,
    pub web: String,
}

impl Hosts {
    /// (chart service name, host) of each exposed service, in chart order.
    pub fn exposed(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        for (name, host) in [
            ("sts", &self.sts),
            ("gateway", &self.gateway),
            ("api", &self.api),
        ] {
            if let Some(h) = host {
                out.push((name, h.as_str()));
            }
        }
        out.push(("web", self.web.as_str()));
        out
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ingress {
    /// None: the cloud profile's class.
    pub class_name: Option<String>,
    pub cluster_issuer: String,
    pub hosts: Hosts,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngressController {
    pub namespace: String,
    pub pod_labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub dns_egress: Vec<String>,
    pub state_egress: Vec<String>,
    pub ingress_controller: IngressController,
}

/// Everything the wizard needs to know, as the answers file states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answers {
    pub cloud: Cloud,
    pub kube_context: Option<String>,
    pub namespace: String,
    pub release: String,
    pub chart: ChartRef,
    pub secret_manager: SecretManagerAnswers,
    pub identity: Identity,
    pub postgres: Postgres,
    pub redis: Redis,
    pub ingress: Ingress,
    pub network: Network,
    /// None: the cloud profile's class.
    pub storage_class: Option<String>,
    /// Sources of the catalog's keys and tokens other than the default `generate`.
    pub secrets: BTreeMap<String, SecretSource>,
    /// A KEK rotation window is open: the previous key is mounted too.
    pub kek_rotation: bool,
}

/// Field names per section, used to report unknown keys and which cloud uses a field.
const TOP: &[&str] = &[
    "cloud",
    "kubeContext",
    "namespace",
    "release",
    "chart",
    "secretManager",
    "identity",
    "postgres",
    "redis",
    "ingress",
    "network",
    "storageClass",
    "secrets",
    "kekRotation",
];
const CHART: &[&str] = &["ref", "version"];
const SM_COMMON: &[&str] = &["prefix", "endpoint", "caBundle"];
const POSTGRES: &[&str] = &[
    "host",
    "port",
    "database",
    "authDatabase",
    "username",
    "password",
    "sslMode",
];
const REDIS: &[&str] = &["host", "port", "database", "password", "tls"];
const INGRESS: &[&str] = &["className", "clusterIssuer", "hosts"];
const HOSTS: &[&str] = &["sts", "gateway", "api", "web"];
const NETWORK: &[&str] = &["dnsEgress", "stateEgress", "ingressController"];
const CONTROLLER: &[&str] = &["namespace", "podLabels"];
const SSL_MODES: &[&str] = &["require", "verify-ca", "verify-full"];

fn secret_manager_fields(cloud: Cloud) -> &'static [&'static str] {
    match cloud {
        Cloud::Aws => &["region"],
        Cloud::Gcp => &["project"],
        Cloud::Azure => &["vaultUrl"],
    }
}

fn identity_fields(cloud: Cloud) -> &'static [&'static str] {
    match cloud {
        Cloud::Aws => &["roleArn"],
        Cloud::Gcp => &["serviceAccount", "clusterLocation", "clusterName"],
        Cloud::Azure => &["clientId"],
    }
}

/// Collects problems while reading one mapping of the document.
struct Section<'v, 'p> {
    map: Option<&'v Map<String, Value>>,
    path: String,
    problems: &'p mut Vec<Problem>,
}

impl<'v, 'p> Section<'v, 'p> {
    /// Reads `value` as a mapping at `path`; a missing section reads as empty.
    fn new(value: Option<&'v Value>, path: &str, problems: &'p mut Vec<Problem>) -> Self {
        let map = match value {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                problems.push(Problem::new(
                    path,
                    format!("expected a mapping, found {}", kind(other)),
                    format!("write `{path}:` followed by indented fields"),
                ));
                None
            }
        };
        Section {
            map,
            path: path.to_string(),
            problems,
        }
    }

    fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    fn push(&mut self, key: &str, message: impl Into<String>, fix: impl Into<String>) {
        let path = self.path(key);
        self.problems.push(Problem::new(path, message, fix));
    }

    /// Reports keys that are not in `allowed`; `elsewhere` explains keys known to belong
    /// to another cloud.
    fn reject_unknown(&mut self, allowed: &[&str], elsewhere: &dyn Fn(&str) -> Option<String>) {
        let Some(map) = self.map else { return };
        let unknown: Vec<String> = map
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            match elsewhere(&key) {
                Some(fix) => self.push(&key, "is not used for this cloud", fix),
                None => {
                    let fix = match closest(&key, allowed) {
                        Some(near) => format!(
                            "did you mean `{near}`? Known fields: {}",
                            allowed.join(", ")
                        ),
                        None => format!("remove it; known fields: {}", allowed.join(", ")),
                    };
                    self.push(&key, "unknown field", fix);
                }
            }
        }
    }

    fn string(&mut self, key: &str, fix_if_missing: &str) -> Option<String> {
        match self.get(key) {
            None => {
                self.push(key, "is required", fix_if_missing.to_string());
                None
            }
            Some(v) => self.as_string(key, v),
        }
    }

    fn opt_string(&mut self, key: &str) -> Option<String> {
        let v = self.get(key)?;
        self.as_string(key, v)
    }

    fn as_string(&mut self, key: &str, v: &Value) -> Option<String> {
        match v {
            Value::String(s) if s.trim().is_empty() => {
                self.push(key, "is empty", "give it a value or remove the line");
                None
            }
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            other => {
                self.push(
                    key,
                    format!("expected text, found {}", kind(other)),
                    "write a single value",
                );
                None
            }
        }
    }

    /// A string that must pass `check`.
    fn checked(
        &mut self,
        key: &str,
        fix_if_missing: &str,
        check: fn(&str) -> FieldVerdict,
    ) -> Option<String> {
        let s = self.string(key, fix_if_missing)?;
        self.apply(key, s, check)
    }

    fn opt_checked(&mut self, key: &str, check: fn(&str) -> FieldVerdict) -> Option<String> {
        let s = self.opt_string(key)?;
        self.apply(key, s, check)
    }

    fn checked_or(
        &mut self,
        key: &str,
        default: &str,
        check: fn(&str) -> FieldVerdict,
    ) -> Option<String> {
        match self.opt_string(key) {
            Some(s) => self.apply(key, s, check),
            None if self.get(key).is_some() => None,
            None => Some(default.to_string()),
        }
    }

    fn apply(&mut self, key: &str, s: String, check: fn(&str) -> FieldVerdict) -> Option<String> {
        match check(&s) {
            Ok(()) => Some(s),
            Err((message, fix)) => {
                self.push(key, message, fix);
                None
            }
        }
    }

    fn integer(&mut self, key: &str, default: i64, min: i64, max: i64, fix: &str) -> Option<i64> {
        let Some(v) = self.get(key) else {
            return Some(default);
        };
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                self.push(
                    key,
                    format!("{n} is out of range {min}-{max}"),
                    fix.to_string(),
                );
                None
            }
            None => {
                self.push(
                    key,
                    format!("expected a whole number, found {}", render(v)),
                    fix.to_string(),
                );
                None
            }
        }
    }

    fn boolean(&mut self, key: &str, default: bool) -> Option<bool> {
        match self.get(key) {
            None => Some(default),
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                self.push(
                    key,
                    format!("expected true or false, found {}", render(other)),
                    "write true or false",
                );
                None
            }
        }
    }

    fn secret(&mut self, key: &str, default: SecretSource) -> Option<SecretSource> {
        let Some(v) = self.get(key) else {
            return Some(default);
        };
        let Value::String(s) = v else {
            self.push(
                key,
                "secret values never go in the answers file",
                "write generate, prompt, env:VAR or file:PATH",
            );
            return None;
        };
        match SecretSource::parse(s.trim()) {
            Ok(src) => Some(src),
            Err((message, fix)) => {
                self.push(key, message, fix);
                None
            }
        }
    }

    fn cidrs(&mut self, key: &str, fix_if_missing: &str) -> Option<Vec<String>> {
        let items = match self.get(key) {
            None => {
                self.push(key, "is required", fix_if_missing.to_string());
                return None;
            }
            Some(Value::Array(items)) if items.is_empty() => {
                self.push(key, "is empty", fix_if_missing.to_string());
                return None;
            }
            Some(Value::Array(items)) => items,
            Some(Value::String(s)) => {
                self.push(key, "expected a list", format!("write a list: [{s}]"));
                return None;
            }
            Some(other) => {
                self.push(
                    key,
                    format!("expected a list of CIDRs, found {}", kind(other)),
                    fix_if_missing.to_string(),
                );
                return None;
            }
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let path = format!("{}[{i}]", self.path(key));
            match item.as_str().map(validate::cidr) {
                Some(Ok(())) => out.push(item.as_str().unwrap_or_default().to_string()),
                Some(Err((message, fix))) => {
                    self.problems.push(Problem::new(path, message, fix));
                    ok = false;
                }
                None => {
                    self.problems.push(Problem::new(
                        path,
                        "expected a CIDR",
                        "write it as 10.0.0.0/16",
                    ));
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn render(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        other => kind(other).to_string(),
    }
}

/// The known field closest to a misspelled one, if any is close.
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn other_cloud_fix(
    cloud: Cloud,
    fields: fn(Cloud) -> &'static [&'static str],
) -> impl Fn(&str) -> Option<String> {
    move |key: &str| {
        Cloud::ALL
            .into_iter()
            .find(|c| *c != cloud && fields(*c).contains(&key))
            .map(|c| format!("`{key}` belongs to cloud {c}; remove it, or set `cloud: {c}`"))
    }
}

impl Answers {
    /// Parses an answers file. On failure, every problem found, one per field.
    pub fn from_yaml(text: &str) -> Result<Answers, Vec<Problem>> {
        let value: Value = match serde_saphyr::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                return Err(vec![Problem::new(
                    "(file)",
                    format!("is not valid YAML: {}", first_line(&e.to_string())),
                    "fix the YAML syntax at the position shown",
                )]);
            }
        };
        Answers::from_value(&value)
    }

    /// Reads and validates answers from a YAML/JSON value (the wizard builds one from its form).
    pub fn from_value(value: &Value) -> Result<Answers, Vec<Problem>> {
        let mut problems = Vec::new();
        let answers = read(value, &mut problems);
        match answers {
            Some(a) if problems.is_empty() => Ok(a),
            _ => {
                if problems.is_empty() {
                    problems.push(Problem::new(
                        "(file)",
                        "is incomplete",
                        "fill in the required fields",
                    ));
                }
                Err(problems)
            }
        }
    }

    /// The answers as the contract's YAML shape (no secret values exist to leak).
    pub fn to_value(&self) -> Value {
        let mut sm = Map::new();
        match &self.secret_manager.target {
            SecretManagerTarget::Aws { region } => sm.insert("region".into(), json!(region)),
            SecretManagerTarget::Gcp { project } => sm.insert("project".into(), json!(project)),
            SecretManagerTarget::Azure { vault_url } => {
                sm.insert("vaultUrl".into(), json!(vault_url))
            }
        };
        sm.insert("prefix".into(), json!(self.secret_manager.prefix));
        if let Some(e) = &self.secret_manager.endpoint {
            sm.insert("endpoint".into(), json!(e));
        }
        if let Some(c) = &self.secret_manager.ca_bundle {
            sm.insert("caBundle".into(), json!(c.display().to_string()));
        }
        let identity = match &self.identity {
            Identity::Aws { role_arn } => json!({ "roleArn": role_arn }),
            Identity::Gcp {
                service_account,
                cluster_location,
                cluster_name,
            } => json!({
                "serviceAccount": service_account,
                "clusterLocation": cluster_location,
                "clusterName": cluster_name,
            }),
            Identity::Azure { client_id } => json!({ "clientId": client_id }),
        };
        let mut hosts = Map::new();
        for (name, host) in self.ingress.hosts.exposed() {
            hosts.insert(name.into(), json!(host));
        }
        let mut ingress = Map::new();
        if let Some(c) = &self.ingress.class_name {
            ingress.insert("className".into(), json!(c));
        }
        ingress.insert("clusterIssuer".into(), json!(self.ingress.cluster_issuer));
        ingress.insert("hosts".into(), Value::Object(hosts));
        let mut out = Map::new();
        out.insert("cloud".into(), json!(self.cloud.as_str()));
        if let Some(k) = &self.kube_context {
            out.insert("kubeContext".into(), json!(k));
        }
        out.insert("namespace".into(), json!(self.namespace));
        out.insert("release".into(), json!(self.release));
        out.insert(
            "chart".into(),
            json!({ "ref": self.chart.reference, "version": self.chart.version }),
        );
        out.insert("secretManager".into(), Value::Object(sm));
        out.insert("identity".into(), identity);
        out.insert(
            "postgres".into(),
            json!({
                "host": self.postgres.host,
                "port": self.postgres.port,
                "database": self.postgres.database,
                "authDatabase": self.postgres.auth_database,
                "username": self.postgres.username,
                "password": self.postgres.password.to_string(),
                "sslMode": self.postgres.ssl_mode,
            }),
        );
        out.insert(
            "redis".into(),
            json!({
                "host": self.redis.host,
                "port": self.redis.port,
                "database": self.redis.database,
                "password": self.redis.password.to_string(),
                "tls": self.redis.tls,
            }),
        );
        out.insert("ingress".into(), Value::Object(ingress));
        out.insert(
            "network".into(),
            json!({
                "dnsEgress": self.network.dns_egress,
                "stateEgress": self.network.state_egress,
                "ingressController": {
                    "namespace": self.network.ingress_controller.namespace,
                    "podLabels": self.network.ingress_controller.pod_labels,
                },
            }),
        );
        if let Some(s) = &self.storage_class {
            out.insert("storageClass".into(), json!(s));
        }
        if !self.secrets.is_empty() {
            let secrets: Map<String, Value> = self
                .secrets
                .iter()
                .map(|(k, v)| (k.clone(), json!(v.to_string())))
                .collect();
            out.insert("secrets".into(), Value::Object(secrets));
        }
        if self.kek_rotation {
            out.insert("kekRotation".into(), json!(true));
        }
        Value::Object(out)
    }

    /// The answers file text the wizard saves.
    pub fn to_yaml(&self) -> String {
        let body = super::yaml::to_string(&self.to_value());
        format!("# caracal-deploy answers: choices only, never secret values.\n{body}")
    }

    /// The source of a catalog key or token (default: generate).
    pub fn secret_source(&self, name: &str) -> SecretSource {
        self.secrets
            .get(name)
            .cloned()
            .unwrap_or(SecretSource::Generate)
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

fn read(value: &Value, problems: &mut Vec<Problem>) -> Option<Answers> {
    if !value.is_object() {
        problems.push(Problem::new(
            "(file)",
            format!("expected a mapping of fields, found {}", kind(value)),
            "start from examples/answers-aws.yaml",
        ));
        return None;
    }
    let mut top = Section::new(Some(value), "", problems);
    top.reject_unknown(TOP, &|_| None);
    let cloud = match top.get("cloud") {
        None => {
            top.push(
                "cloud",
                "is required",
                "write cloud: aws, cloud: gcp or cloud: azure",
            );
            None
        }
        Some(v) => match v.as_str().and_then(Cloud::parse) {
            Some(c) => Some(c),
            None => {
                top.push(
                    "cloud",
                    format!("{} is not a supported cloud", render(v)),
                    "write aws, gcp or azure",
                );
                None
            }
        },
    };
    let kube_context = top.opt_string("kubeContext");
    let namespace = top.checked_or("namespace", "caracal", validate::dns1123_label);
    let release = top.checked_or("release", "caracal", validate::release_name);
    let storage_class = top.opt_checked("storageClass", validate::dns1123_subdomain);
    let kek_rotation = top.boolean("kekRotation", false);
    let (v_chart, v_sm, v_id, v_pg, v_redis, v_ing, v_net, v_secrets) = (
        top.get("chart"),
        top.get("secretManager"),
        top.get("identity"),
        top.get("postgres"),
        top.get("redis"),
        top.get("ingress"),
        top.get("network"),
        top.get("secrets"),
    );

    let chart = {
        let mut s = Section::new(v_chart, "chart", problems);
        s.reject_unknown(CHART, &|_| None);
        let reference = s.checked_or("ref", DEFAULT_CHART_REF, validate::chart_ref);
        let version = s.checked_or("version", DEFAULT_CHART_VERSION, validate::chart_version);
        if let Some(v) = &version
            && SecretCatalog::for_chart(v).is_none()
        {
            s.push(
                "version",
                format!("chart {v} is not supported by this caracal-deploy"),
                format!(
                    "use one of: {}",
                    SecretCatalog::supported_versions().join(", ")
                ),
            );
        }
        match (reference, version) {
            (Some(reference), Some(version)) => Some(ChartRef { reference, version }),
            _ => None,
        }
    };

    let secret_manager = cloud.and_then(|cloud| {
        let mut s = Section::new(v_sm, "secretManager", problems);
        let mut allowed = SM_COMMON.to_vec();
        allowed.extend_from_slice(secret_manager_fields(cloud));
        s.reject_unknown(&allowed, &other_cloud_fix(cloud, secret_manager_fields));
        let target = match cloud {
            Cloud::Aws => s
                .checked(
                    "region",
                    "write the AWS region of Secrets Manager, e.g. region: us-east-1",
                    validate::aws_region,
                )
                .map(|region| SecretManagerTarget::Aws { region }),
            Cloud::Gcp => s
                .checked(
                    "project",
                    "write the GCP project id holding the secrets, e.g. project: my-project",
                    validate::gcp_project,
                )
                .map(|project| SecretManagerTarget::Gcp { project }),
            Cloud::Azure => s
                .checked(
                    "vaultUrl",
                    "write the vault URI, e.g. vaultUrl: https://caracal-prod.vault.azure.net",
                    validate::vault_url,
                )
                .map(|v| SecretManagerTarget::Azure {
                    vault_url: v.trim_end_matches('/').to_string(),
                }),
        };
        let prefix = s.checked_or("prefix", "caracal", validate::remote_prefix);
        let endpoint = s.opt_checked("endpoint", validate::endpoint_url);
        let ca_bundle = s.opt_string("caBundle").map(PathBuf::from);
        Some(SecretManagerAnswers {
            target: target?,
            prefix: prefix?,
            endpoint,
            ca_bundle,
        })
    });

    let identity = cloud.and_then(|cloud| {
        let mut s = Section::new(v_id, "identity", problems);
        s.reject_unknown(identity_fields(cloud), &other_cloud_fix(cloud, identity_fields));
        match cloud {
            Cloud::Aws => s
                .checked("roleArn", "write the IAM role for IRSA, e.g. roleArn: arn:aws:iam::123456789012:role/caracal", validate::role_arn)
                .map(|role_arn| Identity::Aws { role_arn }),
            Cloud::Gcp => {
                let sa = s.checked(
                    "serviceAccount",
                    "write the Google service account, e.g. caracal@my-project.iam.gserviceaccount.com",
                    validate::gcp_service_account,
                );
                let loc = s.checked("clusterLocation", "write the GKE cluster's region or zone, e.g. us-central1", validate::gcp_location);
                let name = s.checked("clusterName", "write the GKE cluster name", validate::gke_cluster_name);
                Some(Identity::Gcp {
                    service_account: sa?,
                    cluster_location: loc?,
                    cluster_name: name?,
                })
            }
            Cloud::Azure => s
                .checked("clientId", "write the managed identity's client id (a GUID)", validate::guid)
                .map(|client_id| Identity::Azure { client_id }),
        }
    });

    let postgres = (|| {
        let mut s = Section::new(v_pg, "postgres", problems);
        s.reject_unknown(POSTGRES, &|_| None);
        let host = s.checked(
            "host",
            "write the managed Postgres endpoint, e.g. host: db.example.internal",
            validate::service_host,
        );
        let port = s.integer(
            "port",
            5432,
            1,
            65535,
            "use a TCP port from 1 to 65535, usually 5432",
        );
        let database = s.checked_or("database", "caracal", validate::pg_identifier);
        let auth_database = s.checked_or("authDatabase", "caracal_auth", validate::pg_identifier);
        let username = s.checked_or("username", "caracal", validate::pg_identifier);
        let password = s.secret("password", SecretSource::Prompt);
        let ssl_mode = s.checked_or("sslMode", "require", |m| {
            if SSL_MODES.contains(&m) {
                Ok(())
            } else {
                Err((
                    format!("`{m}` does not encrypt the connection"),
                    "use require, verify-ca or verify-full".to_string(),
                ))
            }
        });
        if let (Some(d), Some(a)) = (&database, &auth_database)
            && d == a
        {
            s.push(
                "authDatabase",
                "must differ from postgres.database",
                "use a separate database, e.g. caracal_auth",
            );
        }
        Some(Postgres {
            host: host?,
            port: u16::try_from(port?).ok()?,
            database: database?,
            auth_database: auth_database?,
            username: username?,
            password: password?,
            ssl_mode: ssl_mode?,
        })
    })();

    let redis = (|| {
        let mut s = Section::new(v_redis, "redis", problems);
        s.reject_unknown(REDIS, &|_| None);
        let host = s.checked(
            "host",
            "write the managed Redis endpoint, e.g. host: cache.example.internal",
            validate::service_host,
        );
        let port = s.integer(
            "port",
            6379,
            1,
            65535,
            "use a TCP port from 1 to 65535, usually 6379 (6380 on Azure Cache)",
        );
        let database = s.integer(
            "database",
            0,
            0,
            15,
            "use a Redis database number from 0 to 15, usually 0",
        );
        let password = s.secret("password", SecretSource::Prompt);
        let tls = s.boolean("tls", true);
        Some(Redis {
            host: host?,
            port: u16::try_from(port?).ok()?,
            database: u8::try_from(database?).ok()?,
            password: password?,
            tls: tls?,
        })
    })();

    let ingress = (|| {
        let mut s = Section::new(v_ing, "ingress", problems);
        s.reject_unknown(INGRESS, &|_| None);
        let class_name = s.opt_checked("className", validate::dns1123_subdomain);
        let cluster_issuer = s.checked(
            "clusterIssuer",
            "write the cert-manager ClusterIssuer that issues the TLS certificates, e.g. letsencrypt-prod",
            validate::dns1123_subdomain,
        );
        let v_hosts = s.get("hosts");
        let mut h = Section::new(v_hosts, "ingress.hosts", problems);
        h.reject_unknown(HOSTS, &|_| None);
        let web = h.checked(
            "web",
            "write the console's public hostname, e.g. web: console.example.com",
            validate::hostname,
        );
        let sts = h.opt_checked("sts", validate::hostname);
        let gateway = h.opt_checked("gateway", validate::hostname);
        let api = h.opt_checked("api", validate::hostname);
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, host) in [
            ("web", &web),
            ("sts", &sts),
            ("gateway", &gateway),
            ("api", &api),
        ] {
            if let Some(host) = host
                && let Some(first) = seen.insert(host.as_str(), name)
            {
                h.push(
                    name,
                    format!("`{host}` is already the host of {first}"),
                    "give each service its own hostname",
                );
            }
        }
        Some(Ingress {
            class_name,
            cluster_issuer: cluster_issuer?,
            hosts: Hosts {
                sts,
                gateway,
                api,
                web: web?,
            },
        })
    })();

    let network = (|| {
        let mut s = Section::new(v_net, "network", problems);
        s.reject_unknown(NETWORK, &|_| None);
        let dns = s.cidrs("dnsEgress", "list the cluster DNS service address, e.g. dnsEgress: [10.0.0.10/32] (stable mode refuses to render without it)");
        let state = s.cidrs(
            "stateEgress",
            "list the CIDRs of the managed Postgres and Redis, e.g. stateEgress: [10.20.0.0/16]",
        );
        let v_ctl = s.get("ingressController");
        let mut c = Section::new(v_ctl, "network.ingressController", problems);
        c.reject_unknown(CONTROLLER, &|_| None);
        let namespace = c.checked(
            "namespace",
            "write the ingress controller's namespace, e.g. namespace: ingress-nginx (stable mode admits ingress traffic only from it)",
            validate::dns1123_label,
        );
        let mut labels = BTreeMap::new();
        let mut labels_ok = true;
        match c.get("podLabels") {
            None => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    let path = format!("network.ingressController.podLabels.{k}");
                    let value = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => String::from("\u{0}"),
                    };
                    let check = validate::label_key(k).and_then(|()| validate::label_value(&value));
                    if let Err((message, fix)) = check {
                        c.problems.push(Problem::new(path, message, fix));
                        labels_ok = false;
                    } else {
                        labels.insert(k.clone(), value);
                    }
                }
            }
            Some(other) => {
                c.push(
                    "podLabels",
                    format!("expected a mapping of labels, found {}", kind(other)),
                    "write podLabels: {app.kubernetes.io/name: ingress-nginx}",
                );
                labels_ok = false;
            }
        }
        Some(Network {
            dns_egress: dns?,
            state_egress: state?,
            ingress_controller: IngressController {
                namespace: namespace?,
                pod_labels: labels_ok.then_some(labels)?,
            },
        })
    })();

    let secrets = {
        let mut s = Section::new(v_secrets, "secrets", problems);
        let mut out = BTreeMap::new();
        let catalog = chart
            .as_ref()
            .and_then(|c| SecretCatalog::for_chart(&c.version));
        if let (Some(map), Some(catalog)) = (s.map, catalog) {
            for key in map.keys() {
                match catalog.get(key) {
                    Some(entry) if entry.is_generated() => {
                        if let Some(src) = s.secret(key, SecretSource::Generate) {
                            out.insert(key.clone(), src);
                        }
                    }
                    Some(_) => s.push(
                        key,
                        "is set through its own section",
                        format!("set the password in `{key}.password` instead"),
                    ),
                    None => {
                        let names: Vec<&str> =
                            catalog.generated().map(|e| e.name.as_str()).collect();
                        let fix = match closest(key, &names) {
                            Some(near) => format!("did you mean `{near}`?"),
                            None => format!("use one of: {}", names.join(", ")),
                        };
                        s.push(key, "is not a secret of this chart", fix);
                    }
                }
            }
        }
        Some(out)
    };

    Some(Answers {
        cloud: cloud?,
        kube_context,
        namespace: namespace?,
        release: release?,
        chart: chart?,
        secret_manager: secret_manager?,
        identity: identity?,
        postgres: postgres?,
        redis: redis?,
        ingress: ingress?,
        network: network?,
        storage_class,
        secrets: secrets?,
        kek_rotation: kek_rotation?,
    })
}
