//! The answers file: the operator's choices, never a secret value.
//!
//! Reading goes through a generic YAML value first, so that every problem of a file is
//! reported at once, each with its field path and its fix (serde would stop at the first).
//! Which fields exist, for which cloud, their types, rules and defaults come from
//! [`super::schema::FIELDS`]; only rules across fields are code here.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use super::catalog::SecretCatalog;
use super::cloud::Cloud;
use super::problem::{Problem, join};
use super::schema::{self, FieldDef, FieldType};
use super::validate;

pub use super::schema::{DEFAULT_CHART_REF, DEFAULT_CHART_VERSION};

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

/// The workload identity External Secrets alone runs as: it reads the seeded secrets.
/// Caracal's own pods never carry it (see [`RuntimeIdentity`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    Aws {
        role_arn: String,
    },
    Gcp {
        service_account: String,
        cluster_location: String,
        cluster_name: String,
        /// The cluster's project when it differs from the secrets' project.
        cluster_project: Option<String>,
    },
    Azure {
        client_id: String,
        /// Entra ID tenant of the managed identity; the store needs it.
        tenant_id: String,
    },
}

/// An optional, separate cloud identity for Caracal's own workloads (its secret backend and
/// audit export). Without one, the chart's service account carries no cloud identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeIdentity {
    /// The value of the cloud's service-account annotation: role ARN, Google service
    /// account or managed identity client id.
    pub id: String,
    /// CIDRs of the identity provider and provider APIs it calls (port 443).
    pub egress: Vec<String>,
}

impl Identity {
    /// The value of the service-account annotation that binds the identity.
    pub fn annotation_value(&self) -> &str {
        match self {
            Identity::Aws { role_arn } => role_arn,
            Identity::Gcp {
                service_account, ..
            } => service_account,
            Identity::Azure { client_id, .. } => client_id,
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
    /// As written; empty: the ingress class's default ranges, if any (see
    /// `values::ingress_source`).
    pub load_balancer_cidrs: Vec<String>,
    /// As written; None: the ingress class's controller, if it is an in-cluster one.
    pub ingress_controller: Option<IngressController>,
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
    pub runtime_identity: Option<RuntimeIdentity>,
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

/// A field's value once read and checked against its definition.
#[derive(Clone, Debug)]
enum Typed {
    Text(String),
    Integer(i64),
    Boolean(bool),
    List(Vec<String>),
    Labels(BTreeMap<String, String>),
    Source(SecretSource),
}

/// Reads every field the schema defines, collecting every problem.
struct Reader<'p> {
    problems: &'p mut Vec<Problem>,
    values: BTreeMap<&'static str, Typed>,
    /// Sections that are not mappings: the fields under them are not reported again.
    broken: Vec<String>,
}

fn under(path: &str, section: &str) -> bool {
    path.strip_prefix(section)
        .is_some_and(|rest| rest.starts_with('.'))
}

fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

impl Reader<'_> {
    fn push(&mut self, path: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.problems.push(Problem::new(path, message, fix));
    }

    /// Reports keys the schema does not know at this place, and fields of another cloud.
    fn check_keys(&mut self, node: &Value, section: &str, cloud: Option<Cloud>) {
        let Some(map) = node.as_object() else { return };
        let known = schema::keys_of(section);
        for (key, value) in map {
            let path = join(section, key);
            if let Some(f) = schema::field(&path) {
                if let (Some(theirs), Some(ours)) = (f.cloud, cloud)
                    && theirs != ours
                {
                    self.push(
                        &path,
                        "is not used for this cloud",
                        format!(
                            "`{key}` belongs to cloud {theirs}; remove it, or set `cloud: {theirs}`"
                        ),
                    );
                }
            } else if known.contains(&key.as_str()) {
                match value {
                    Value::Object(_) => self.check_keys(value, &path, cloud),
                    Value::Null => {}
                    other => {
                        self.push(
                            &path,
                            format!("expected a mapping, found {}", kind(other)),
                            format!("write `{path}:` followed by indented fields"),
                        );
                        self.broken.push(path);
                    }
                }
            } else {
                let allowed: Vec<&str> = known
                    .iter()
                    .copied()
                    .filter(|k| {
                        schema::field(&join(section, k))
                            .is_none_or(|f| cloud.is_none_or(|c| f.applies_to(c)))
                    })
                    .collect();
                let fix = match closest(key, &allowed) {
                    Some(near) => format!(
                        "did you mean `{near}`? Known fields: {}",
                        allowed.join(", ")
                    ),
                    None => format!("remove it; known fields: {}", allowed.join(", ")),
                };
                self.push(&path, "unknown field", fix);
            }
        }
    }

    /// Reads one field: its value, its default, or a problem.
    fn read_field(&mut self, f: &'static FieldDef, doc: &Value, cloud: Option<Cloud>) {
        if f.cloud.is_some() && f.cloud != cloud {
            return;
        }
        if self.broken.iter().any(|b| under(f.path, b)) {
            return;
        }
        let typed = match schema::get_at(doc, f.path) {
            Some(v) => self.check(f, v),
            None if f.required => {
                self.push(f.path, "is required", f.missing_fix);
                None
            }
            None => f.default_value().and_then(|v| self.check(f, &v)),
        };
        if let Some(t) = typed {
            self.values.insert(f.path, t);
        }
    }

    fn check(&mut self, f: &FieldDef, v: &Value) -> Option<Typed> {
        let path = f.path;
        match f.ty {
            FieldType::Text | FieldType::Choice(_) => {
                let s = self.text(f, v)?;
                let verdict = match (f.rule, f.ty) {
                    (Some(rule), _) => rule(&s),
                    (None, FieldType::Choice(choices)) if !choices.contains(&s.as_str()) => Err((
                        format!("`{s}` is not one of {}", choices.join(", ")),
                        format!("write {}", or_list(choices)),
                    )),
                    _ => Ok(()),
                };
                match verdict {
                    Ok(()) => Some(Typed::Text(s)),
                    Err((message, fix)) => {
                        self.push(path, message, fix);
                        None
                    }
                }
            }
            FieldType::Integer { min, max } => {
                let fix = format!("use a whole number from {min} to {max}, e.g. {}", f.example);
                let n = match v {
                    Value::Number(n) => n.as_i64().or_else(|| {
                        // YAML `5432.0` is a float; a whole one counts, as in JSON Schema.
                        n.as_f64()
                            .filter(|x| x.fract() == 0.0 && x.abs() < 1e15)
                            .map(|x| x as i64)
                    }),
                    _ => None,
                };
                match n {
                    Some(n) if (min..=max).contains(&n) => Some(Typed::Integer(n)),
                    Some(n) => {
                        self.push(path, format!("{n} is out of range {min}-{max}"), fix);
                        None
                    }
                    None => {
                        let fix = match v {
                            Value::String(s) if s.trim().parse::<i64>().is_ok() => {
                                format!("write it without quotes: {}: {}", f.key(), s.trim())
                            }
                            _ => fix,
                        };
                        self.push(
                            path,
                            format!("expected a whole number, found {}", render(v)),
                            fix,
                        );
                        None
                    }
                }
            }
            FieldType::Boolean => match v {
                Value::Bool(b) => Some(Typed::Boolean(*b)),
                other => {
                    self.push(
                        path,
                        format!("expected true or false, found {}", render(other)),
                        "write true or false",
                    );
                    None
                }
            },
            FieldType::Cidrs => self.cidrs(f, v).map(Typed::List),
            FieldType::Labels => self.labels(path, v).map(Typed::Labels),
            FieldType::SecretSource => self.source(path, v).map(Typed::Source),
            // Keyed by the chart's catalog: read with the chart version, in `read`.
            FieldType::SecretSources => None,
        }
    }

    fn text(&mut self, f: &FieldDef, v: &Value) -> Option<String> {
        match v {
            Value::String(s) if s.trim().is_empty() => {
                self.push(f.path, "is empty", "give it a value or remove the line");
                None
            }
            Value::String(s) => match validate::no_control_chars(s) {
                Ok(()) => Some(s.clone()),
                Err((message, fix)) => {
                    self.push(f.path, message, fix);
                    None
                }
            },
            Value::Number(_) | Value::Bool(_) => {
                let shown = v.to_string();
                self.push(
                    f.path,
                    format!("expected text, found {} ({shown})", kind(v)),
                    format!("quote it: {}: \"{shown}\"", f.key()),
                );
                None
            }
            other => {
                self.push(
                    f.path,
                    format!("expected text, found {}", kind(other)),
                    "write a single value",
                );
                None
            }
        }
    }

    fn source(&mut self, path: &str, v: &Value) -> Option<SecretSource> {
        let Value::String(s) = v else {
            self.push(
                path,
                "secret values never go in the answers file",
                "write generate, prompt, env:VAR or file:PATH",
            );
            return None;
        };
        match validate::no_control_chars(s).and_then(|()| SecretSource::parse(s)) {
            Ok(src) => Some(src),
            Err((message, fix)) => {
                self.push(path, message, fix);
                None
            }
        }
    }

    fn cidrs(&mut self, f: &FieldDef, v: &Value) -> Option<Vec<String>> {
        let path = f.path;
        let items = match v {
            Value::Array(items) if items.is_empty() => {
                let fix = if f.missing_fix.is_empty() {
                    "list at least one CIDR, or remove the line"
                } else {
                    f.missing_fix
                };
                self.push(path, "is empty", fix);
                return None;
            }
            Value::Array(items) => items,
            Value::String(s) => {
                self.push(path, "expected a list", format!("write a list: [{s}]"));
                return None;
            }
            other => {
                self.push(
                    path,
                    format!("expected a list of CIDRs, found {}", kind(other)),
                    f.missing_fix,
                );
                return None;
            }
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let at = format!("{path}[{i}]");
            match item.as_str().map(validate::cidr) {
                Some(Ok(())) => out.push(item.as_str().unwrap_or_default().to_string()),
                Some(Err((message, fix))) => {
                    self.push(&at, message, fix);
                    ok = false;
                }
                None => {
                    self.push(&at, "expected a CIDR", "write it as 10.0.0.0/16");
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn labels(&mut self, path: &str, v: &Value) -> Option<BTreeMap<String, String>> {
        let Value::Object(m) = v else {
            self.push(
                path,
                format!("expected a mapping of labels, found {}", kind(v)),
                "write podLabels: {app.kubernetes.io/name: ingress-nginx}",
            );
            return None;
        };
        let mut labels = BTreeMap::new();
        let mut ok = true;
        for (k, v) in m {
            // YAML reads `use: true` and `tier: 1` as a boolean and a number; Kubernetes
            // wants text, so they are taken as "true" and "1".
            let value = match v {
                Value::String(s) => Some(s.clone()),
                Value::Bool(b) => Some(b.to_string()),
                Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
                Value::Number(n) => n
                    .as_f64()
                    .filter(|x| x.fract() == 0.0 && x.abs() < 1e15)
                    .map(|x| (x as i64).to_string()),
                _ => None,
            };
            let check = match &value {
                Some(value) => validate::label_key(k).and_then(|()| validate::label_value(value)),
                None => Err((
                    format!("expected a label value, found {}", kind(v)),
                    "write text, e.g. ingress-nginx".to_string(),
                )),
            };
            match (check, value) {
                (Ok(()), Some(value)) => {
                    labels.insert(k.clone(), value);
                }
                (Err((message, fix)), _) => {
                    self.push(&format!("{path}.{k}"), message, fix);
                    ok = false;
                }
                (Ok(()), None) => unreachable!("a missing value fails the check"),
            }
        }
        ok.then_some(labels)
    }

    fn text_of(&self, path: &str) -> Option<String> {
        match self.values.get(path) {
            Some(Typed::Text(s)) => Some(s.clone()),
            _ => None,
        }
    }

    fn integer_of(&self, path: &str) -> Option<i64> {
        match self.values.get(path) {
            Some(Typed::Integer(n)) => Some(*n),
            _ => None,
        }
    }

    fn boolean_of(&self, path: &str) -> Option<bool> {
        match self.values.get(path) {
            Some(Typed::Boolean(b)) => Some(*b),
            _ => None,
        }
    }

    fn list_of(&self, path: &str) -> Option<Vec<String>> {
        match self.values.get(path) {
            Some(Typed::List(l)) => Some(l.clone()),
            _ => None,
        }
    }

    fn labels_of(&self, path: &str) -> Option<BTreeMap<String, String>> {
        match self.values.get(path) {
            Some(Typed::Labels(l)) => Some(l.clone()),
            _ => None,
        }
    }

    fn source_of(&self, path: &str) -> Option<SecretSource> {
        match self.values.get(path) {
            Some(Typed::Source(s)) => Some(s.clone()),
            _ => None,
        }
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

    /// The value of one schema field, None where the file leaves it out.
    fn value_at(&self, path: &str) -> Option<Value> {
        let sm = &self.secret_manager;
        let pg = &self.postgres;
        let redis = &self.redis;
        let hosts = &self.ingress.hosts;
        Some(match (path, &sm.target, &self.identity) {
            ("cloud", ..) => json!(self.cloud.as_str()),
            ("kubeContext", ..) => json!(self.kube_context.as_ref()?),
            ("namespace", ..) => json!(self.namespace),
            ("release", ..) => json!(self.release),
            ("chart.ref", ..) => json!(self.chart.reference),
            ("chart.version", ..) => json!(self.chart.version),
            ("secretManager.region", SecretManagerTarget::Aws { region }, _) => json!(region),
            ("secretManager.project", SecretManagerTarget::Gcp { project }, _) => json!(project),
            ("secretManager.vaultUrl", SecretManagerTarget::Azure { vault_url }, _) => {
                json!(vault_url)
            }
            ("secretManager.prefix", ..) => json!(sm.prefix),
            ("secretManager.endpoint", ..) => json!(sm.endpoint.as_ref()?),
            ("secretManager.caBundle", ..) => json!(sm.ca_bundle.as_ref()?.display().to_string()),
            ("identity.roleArn", _, Identity::Aws { role_arn }) => json!(role_arn),
            (
                "identity.serviceAccount",
                _,
                Identity::Gcp {
                    service_account, ..
                },
            ) => {
                json!(service_account)
            }
            (
                "identity.clusterLocation",
                _,
                Identity::Gcp {
                    cluster_location, ..
                },
            ) => {
                json!(cluster_location)
            }
            ("identity.clusterName", _, Identity::Gcp { cluster_name, .. }) => json!(cluster_name),
            (
                "identity.clusterProject",
                _,
                Identity::Gcp {
                    cluster_project, ..
                },
            ) => {
                json!(cluster_project.as_ref()?)
            }
            ("identity.clientId", _, Identity::Azure { client_id, .. }) => json!(client_id),
            ("identity.tenantId", _, Identity::Azure { tenant_id, .. }) => json!(tenant_id),
            (
                "runtimeIdentity.roleArn"
                | "runtimeIdentity.serviceAccount"
                | "runtimeIdentity.clientId",
                ..,
            ) => json!(self.runtime_identity.as_ref()?.id),
            ("runtimeIdentity.egress", ..) => json!(self.runtime_identity.as_ref()?.egress),
            ("postgres.host", ..) => json!(pg.host),
            ("postgres.port", ..) => json!(pg.port),
            ("postgres.database", ..) => json!(pg.database),
            ("postgres.authDatabase", ..) => json!(pg.auth_database),
            ("postgres.username", ..) => json!(pg.username),
            ("postgres.password", ..) => json!(pg.password.to_string()),
            ("postgres.sslMode", ..) => json!(pg.ssl_mode),
            ("redis.host", ..) => json!(redis.host),
            ("redis.port", ..) => json!(redis.port),
            ("redis.database", ..) => json!(redis.database),
            ("redis.password", ..) => json!(redis.password.to_string()),
            ("redis.tls", ..) => json!(redis.tls),
            ("ingress.className", ..) => json!(self.ingress.class_name.as_ref()?),
            ("ingress.clusterIssuer", ..) => json!(self.ingress.cluster_issuer),
            ("ingress.hosts.sts", ..) => json!(hosts.sts.as_ref()?),
            ("ingress.hosts.gateway", ..) => json!(hosts.gateway.as_ref()?),
            ("ingress.hosts.api", ..) => json!(hosts.api.as_ref()?),
            ("ingress.hosts.web", ..) => json!(hosts.web),
            ("network.dnsEgress", ..) => json!(self.network.dns_egress),
            ("network.stateEgress", ..) => json!(self.network.state_egress),
            ("network.loadBalancerCidrs", ..) if !self.network.load_balancer_cidrs.is_empty() => {
                json!(self.network.load_balancer_cidrs)
            }
            ("network.ingressController.namespace", ..) => {
                json!(self.network.ingress_controller.as_ref()?.namespace)
            }
            ("network.ingressController.podLabels", ..)
                if self
                    .network
                    .ingress_controller
                    .as_ref()
                    .is_some_and(|c| !c.pod_labels.is_empty()) =>
            {
                json!(self.network.ingress_controller.as_ref()?.pod_labels)
            }
            ("storageClass", ..) => json!(self.storage_class.as_ref()?),
            ("secrets", ..) if !self.secrets.is_empty() => Value::Object(
                self.secrets
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v.to_string())))
                    .collect(),
            ),
            ("kekRotation", ..) if self.kek_rotation => json!(true),
            _ => return None,
        })
    }

    /// The answers as the contract's YAML shape (no secret values exist to leak), fields in
    /// the schema's order.
    pub fn to_value(&self) -> Value {
        let mut out = Map::new();
        for f in schema::fields_for(self.cloud) {
            if let Some(v) = self.value_at(f.path) {
                schema::insert_at(&mut out, f.path, v);
            }
        }
        Value::Object(out)
    }

    /// The text of a new answers file. To save over an existing file, keeping its comments
    /// and layout, use [`super::answers_text::save_text`].
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
    let mut r = Reader {
        problems,
        values: BTreeMap::new(),
        broken: Vec::new(),
    };
    // The cloud decides which fields apply, so it is read first.
    let cloud_field = schema::find("cloud");
    r.read_field(cloud_field, value, None);
    let cloud = r.text_of("cloud").and_then(|c| Cloud::parse(&c));
    r.check_keys(value, "", cloud);
    for f in schema::FIELDS {
        if f.path != cloud_field.path {
            r.read_field(f, value, cloud);
        }
    }

    if let (Some(d), Some(a)) = (
        r.text_of("postgres.database"),
        r.text_of("postgres.authDatabase"),
    ) && d == a
    {
        r.push(
            "postgres.authDatabase",
            "must differ from postgres.database",
            "use a separate database, e.g. caracal_auth",
        );
        r.values.remove("postgres.authDatabase");
    }

    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for name in ["web", "sts", "gateway", "api"] {
        let path = format!("ingress.hosts.{name}");
        if let Some(host) = r.text_of(&path)
            && let Some(first) = seen.insert(host.clone(), name)
        {
            r.push(
                &path,
                format!("`{host}` is already the host of {first}"),
                "give each service its own hostname",
            );
            r.values.remove(path.as_str());
        }
    }

    let runtime = cloud.and_then(|c| check_runtime_identity(&mut r, value, c));
    if let Some(c) = cloud {
        check_ingress_source(&mut r, value, c);
    }

    let secrets = read_secrets(&mut r, value);
    let v = &r;
    let cloud = cloud?;
    let secret_manager = SecretManagerAnswers {
        target: match cloud {
            Cloud::Aws => SecretManagerTarget::Aws {
                region: v.text_of("secretManager.region")?,
            },
            Cloud::Gcp => SecretManagerTarget::Gcp {
                project: v.text_of("secretManager.project")?,
            },
            Cloud::Azure => SecretManagerTarget::Azure {
                vault_url: v
                    .text_of("secretManager.vaultUrl")?
                    .trim_end_matches('/')
                    .to_string(),
            },
        },
        prefix: v.text_of("secretManager.prefix")?,
        endpoint: v.text_of("secretManager.endpoint"),
        ca_bundle: v.text_of("secretManager.caBundle").map(PathBuf::from),
    };
    let identity = match cloud {
        Cloud::Aws => Identity::Aws {
            role_arn: v.text_of("identity.roleArn")?,
        },
        Cloud::Gcp => Identity::Gcp {
            service_account: v.text_of("identity.serviceAccount")?,
            cluster_location: v.text_of("identity.clusterLocation")?,
            cluster_name: v.text_of("identity.clusterName")?,
            cluster_project: v.text_of("identity.clusterProject"),
        },
        Cloud::Azure => Identity::Azure {
            client_id: v.text_of("identity.clientId")?,
            tenant_id: v.text_of("identity.tenantId")?,
        },
    };
    let runtime_identity = runtime.map(|id| RuntimeIdentity {
        id,
        egress: v.list_of("runtimeIdentity.egress").unwrap_or_default(),
    });
    Some(Answers {
        cloud,
        kube_context: v.text_of("kubeContext"),
        namespace: v.text_of("namespace")?,
        release: v.text_of("release")?,
        chart: ChartRef {
            reference: v.text_of("chart.ref")?,
            version: v.text_of("chart.version")?,
        },
        secret_manager,
        identity,
        runtime_identity,
        postgres: Postgres {
            host: v.text_of("postgres.host")?,
            port: u16::try_from(v.integer_of("postgres.port")?).ok()?,
            database: v.text_of("postgres.database")?,
            auth_database: v.text_of("postgres.authDatabase")?,
            username: v.text_of("postgres.username")?,
            password: v.source_of("postgres.password")?,
            ssl_mode: v.text_of("postgres.sslMode")?,
        },
        redis: Redis {
            host: v.text_of("redis.host")?,
            port: u16::try_from(v.integer_of("redis.port")?).ok()?,
            database: u8::try_from(v.integer_of("redis.database")?).ok()?,
            password: v.source_of("redis.password")?,
            tls: v.boolean_of("redis.tls")?,
        },
        ingress: Ingress {
            class_name: v.text_of("ingress.className"),
            cluster_issuer: v.text_of("ingress.clusterIssuer")?,
            hosts: Hosts {
                sts: v.text_of("ingress.hosts.sts"),
                gateway: v.text_of("ingress.hosts.gateway"),
                api: v.text_of("ingress.hosts.api"),
                web: v.text_of("ingress.hosts.web")?,
            },
        },
        network: Network {
            dns_egress: v.list_of("network.dnsEgress")?,
            state_egress: v.list_of("network.stateEgress")?,
            load_balancer_cidrs: v.list_of("network.loadBalancerCidrs").unwrap_or_default(),
            ingress_controller: v
                .text_of("network.ingressController.namespace")
                .or_else(|| {
                    // Labels alone select pods of the class's controller namespace.
                    v.labels_of("network.ingressController.podLabels")?;
                    let class = v.text_of("ingress.className").unwrap_or_else(|| {
                        super::profiles::CloudProfile::get(cloud)
                            .ingress_class_name
                            .clone()
                    });
                    super::profiles::IngressClassProfile::get(&class)?
                        .namespace
                        .clone()
                })
                .map(|namespace| IngressController {
                    namespace,
                    pod_labels: v
                        .labels_of("network.ingressController.podLabels")
                        .unwrap_or_default(),
                }),
        },
        storage_class: v.text_of("storageClass"),
        secrets: secrets?,
        kek_rotation: v.boolean_of("kekRotation")?,
    })
}

/// The runtime identity's id, if the file names one; its egress is required with it and
/// refused without it.
fn check_runtime_identity(r: &mut Reader<'_>, doc: &Value, cloud: Cloud) -> Option<String> {
    let id_path = match cloud {
        Cloud::Aws => "runtimeIdentity.roleArn",
        Cloud::Gcp => "runtimeIdentity.serviceAccount",
        Cloud::Azure => "runtimeIdentity.clientId",
    };
    let id = r.text_of(id_path);
    let id_written = schema::get_at(doc, id_path).is_some();
    let egress_written = schema::get_at(doc, "runtimeIdentity.egress").is_some();
    if id_written && !egress_written {
        r.push(
            "runtimeIdentity.egress",
            "is required with a runtime identity: stable mode's NetworkPolicy denies the pods' HTTPS to the identity provider and the provider APIs",
            "list their CIDRs (private or VPC endpoints), e.g. egress: [10.0.64.0/24]; open HTTPS (allowOpenHttps) is never written",
        );
    }
    if !id_written && egress_written {
        r.push(
            "runtimeIdentity.egress",
            "admits HTTPS for a runtime identity, but none is named",
            format!("name the identity in `{id_path}`, or remove `runtimeIdentity.egress`"),
        );
    }
    // The identity that reads the seeded secrets belongs to External Secrets alone.
    let eso_path = match cloud {
        Cloud::Aws => "identity.roleArn",
        Cloud::Gcp => "identity.serviceAccount",
        Cloud::Azure => "identity.clientId",
    };
    if let (Some(rt), Some(eso)) = (&id, r.text_of(eso_path))
        && rt.eq_ignore_ascii_case(&eso)
    {
        r.push(
            id_path,
            format!("is External Secrets' identity (`{eso_path}`): every Caracal pod could read all the seeded secrets"),
            "give Caracal's pods a separate identity with only the permissions of its secret backend and audit export, or remove runtimeIdentity",
        );
        return None;
    }
    id
}

/// The ingress class decides where the load balancer's traffic comes from; the network
/// answers must name that source (`profiles/ingress-classes.yaml`).
fn check_ingress_source(r: &mut Reader<'_>, doc: &Value, cloud: Cloud) {
    use super::profiles::{CloudProfile, IngressClassProfile, IngressSourceKind};
    if schema::get_at(doc, "ingress.className").is_some()
        && r.text_of("ingress.className").is_none()
    {
        // The class itself is refused; its source is judged once it is fixed.
        return;
    }
    let class = r
        .text_of("ingress.className")
        .unwrap_or_else(|| CloudProfile::get(cloud).ingress_class_name.clone());
    let cidrs_written = schema::get_at(doc, "network.loadBalancerCidrs").is_some();
    let controller_written = schema::get_at(doc, "network.ingressController").is_some();
    match IngressClassProfile::get(&class) {
        Some(p) if p.source == IngressSourceKind::Cidrs => {
            let what = p
                .cidrs_help
                .as_deref()
                .unwrap_or("the load balancer's CIDRs");
            let example = format!("[{}]", p.example_cidrs.join(", "));
            if controller_written {
                r.push(
                    "network.ingressController",
                    format!(
                        "the `{class}` class's traffic does not come from a pod ({}): a pod selector admits none of it and the console is unreachable",
                        p.description
                    ),
                    format!("remove network.ingressController and list {what} in network.loadBalancerCidrs, e.g. loadBalancerCidrs: {example}"),
                );
            } else if !cidrs_written && p.default_cidrs.is_empty() {
                r.push(
                    "network.loadBalancerCidrs",
                    format!("is required for the `{class}` class ({}): stable mode admits ingress only from it", p.description),
                    format!("list {what}, e.g. loadBalancerCidrs: {example}"),
                );
            }
        }
        Some(p) => {
            if cidrs_written {
                let ns = p.namespace.as_deref().unwrap_or_default();
                r.push(
                    "network.loadBalancerCidrs",
                    format!(
                        "the `{class}` class's traffic comes from its controller pods ({}, namespace {ns}), not from these CIDRs",
                        p.description
                    ),
                    format!("remove loadBalancerCidrs; the controller namespace defaults to {ns} (network.ingressController.namespace)"),
                );
            }
        }
        None => {
            if schema::get_at(doc, "network.ingressController.podLabels").is_some()
                && schema::get_at(doc, "network.ingressController.namespace").is_none()
            {
                r.push(
                    "network.ingressController.namespace",
                    format!("is required with podLabels: ingress class `{class}` is not one this build knows"),
                    "write the controller's namespace, e.g. namespace: ingress-nginx",
                );
            } else if !cidrs_written && !controller_written {
                r.push(
                    "network.loadBalancerCidrs",
                    format!("ingress class `{class}` is not one this build knows: where its traffic comes from must be named"),
                    "write network.ingressController.namespace for an in-cluster controller, or network.loadBalancerCidrs for a load balancer outside the pods",
                );
            }
        }
    }
}

/// `secrets:` is keyed by the chart's catalog, so it is read once the chart version is known.
fn read_secrets(r: &mut Reader<'_>, doc: &Value) -> Option<BTreeMap<String, SecretSource>> {
    const PATH: &str = "secrets";
    let mut out = BTreeMap::new();
    let map = match schema::get_at(doc, PATH) {
        None => return Some(out),
        Some(Value::Object(m)) => m,
        Some(other) => {
            r.push(
                PATH,
                format!("expected a mapping, found {}", kind(other)),
                "write `secrets:` followed by indented `name: source` lines",
            );
            return None;
        }
    };
    let catalog = r
        .text_of("chart.version")
        .and_then(|v| SecretCatalog::for_chart(&v));
    let Some(catalog) = catalog else {
        return Some(out);
    };
    for (key, value) in map {
        let path = join(PATH, key);
        match catalog.get(key) {
            Some(entry) if entry.is_generated() => {
                if value.is_null() {
                    continue;
                }
                if let Some(src) = r.source(&path, value) {
                    out.insert(key.clone(), src);
                }
            }
            Some(_) => r.push(
                &path,
                "is set through its own section",
                format!("set the password in `{key}.password` instead"),
            ),
            None => {
                let names: Vec<&str> = catalog.generated().map(|e| e.name.as_str()).collect();
                let fix = match closest(key, &names) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("use one of: {}", names.join(", ")),
                };
                r.push(&path, "is not a secret of this chart", fix);
            }
        }
    }
    Some(out)
}
