//! Seeding, the pure part: what each catalog secret looks like remotely, and the plan that
//! follows from it. Nothing that exists is overwritten unless the operator names it with
//! `--rotate`; the KEK is never overwritten, only rotated with its previous value kept.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::answers::Answers;
use super::catalog::{CatalogSecret, SecretCatalog, SecretKind};
use super::problem::Problem;

/// The KEK and the slot that keeps the retiring key during a rotation.
pub const KEK: &str = "secret-store-kek";
pub const KEK_PREVIOUS: &str = "secret-store-kek-previous";

/// What was found remotely for one secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    Missing,
    /// Exists without a readable version.
    Empty,
    Present {
        digest: String,
        /// Why the value cannot work, if it cannot.
        wrong_shape: Option<String>,
        /// Fields of a connection record that differ from the answers (not an error).
        drift: Vec<String>,
    },
}

/// What seeding will do to one secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Missing: create it.
    Create,
    /// Exists without a version: add the first one.
    Fill,
    /// Exists with the right shape: leave it.
    Keep,
    /// Named with `--rotate`: add a new version.
    Rotate,
    /// The KEK flow: keep the current key as the previous one, then add a new key.
    RotateKek,
    /// Exists with a shape the services cannot use; left alone, reported as an error.
    WrongShape(String),
}

impl Action {
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Action::Create | Action::Fill | Action::Rotate | Action::RotateKek
        )
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Fill => "add first version",
            Action::Keep => "keep",
            Action::Rotate => "rotate (new version)",
            Action::RotateKek => "rotate KEK (previous key kept)",
            Action::WrongShape(_) => "wrong shape: left unchanged",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanItem {
    pub secret: CatalogSecret,
    pub remote_name: String,
    pub action: Action,
    /// Digest of the current remote value, if any.
    pub digest: Option<String>,
    pub drift: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedPlan {
    pub items: Vec<PlanItem>,
}

impl SeedPlan {
    pub fn writes(&self) -> usize {
        self.items.iter().filter(|i| i.action.writes()).count()
    }

    pub fn errors(&self) -> Vec<&PlanItem> {
        self.items
            .iter()
            .filter(|i| matches!(i.action, Action::WrongShape(_)))
            .collect()
    }

    pub fn warnings(&self) -> Vec<&PlanItem> {
        self.items
            .iter()
            .filter(|i| !i.drift.is_empty() && i.action == Action::Keep)
            .collect()
    }

    /// One line per secret: name, action, digest. Never a value.
    pub fn lines(&self) -> Vec<String> {
        let width = self
            .items
            .iter()
            .map(|i| i.remote_name.len())
            .max()
            .unwrap_or(0);
        self.items
            .iter()
            .map(|i| {
                let mut line = format!("{:width$}  {}", i.remote_name, i.action.verb());
                if let Some(d) = &i.digest {
                    line.push_str(&format!("  (current {d})"));
                }
                if let Action::WrongShape(why) = &i.action {
                    line.push_str(&format!(": {why}; fix: --rotate {}", i.secret.name));
                }
                if !i.drift.is_empty() && i.action == Action::Keep {
                    line.push_str(&format!(
                        "; differs from the answers: {}; --rotate {} writes the answers",
                        i.drift.join(", "),
                        i.secret.name
                    ));
                }
                line
            })
            .collect()
    }
}

/// A short, non-reversible fingerprint of a value, for plans and logs.
pub fn digest(value: &str) -> String {
    let hash = Sha256::digest(value.as_bytes());
    format!("sha256:{}", &hex::encode(hash)[..16])
}

fn json_field_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The non-secret fields of a connection record, as the answers say they should be.
pub fn expected_fields(answers: &Answers, record: &str) -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    match record {
        "postgres" => {
            let p = &answers.postgres;
            m.insert("username", p.username.clone());
            m.insert("host", p.host.clone());
            m.insert("port", p.port.to_string());
            m.insert("database", p.database.clone());
            m.insert("authDatabase", p.auth_database.clone());
        }
        "redis" => {
            let r = &answers.redis;
            m.insert("host", r.host.clone());
            m.insert("port", r.port.to_string());
            m.insert("database", r.database.to_string());
        }
        _ => {}
    }
    m
}

/// Checks a remote value against what the catalog requires of it.
pub fn observe_value(secret: &CatalogSecret, value: &str, answers: &Answers) -> Observed {
    let mut wrong_shape = None;
    let mut drift = Vec::new();
    match secret.kind {
        SecretKind::Key | SecretKind::Token => {
            wrong_shape = secret.value_rule().and_then(|rule| rule.violation(value));
        }
        SecretKind::Json => match serde_json::from_str::<Value>(value) {
            Ok(Value::Object(map)) => {
                let missing: Vec<&str> = secret
                    .fields
                    .iter()
                    .filter(|f| map.get(f.as_str()).and_then(json_field_text).is_none())
                    .map(String::as_str)
                    .collect();
                if !missing.is_empty() {
                    wrong_shape = Some(format!("JSON without {}", missing.join(", ")));
                } else {
                    for (field, expected) in expected_fields(answers, &secret.name) {
                        if map.get(field).and_then(json_field_text).as_deref()
                            != Some(expected.as_str())
                        {
                            drift.push(field.to_string());
                        }
                    }
                }
            }
            _ => {
                wrong_shape = Some(format!(
                    "not a JSON object with {}",
                    secret.fields.join(", ")
                ))
            }
        },
    }
    Observed::Present {
        digest: digest(value),
        wrong_shape,
        drift,
    }
}

/// Builds the plan. `rotate` names catalog secrets to give a new version.
pub fn plan(
    catalog: &SecretCatalog,
    answers: &Answers,
    observed: &BTreeMap<String, Observed>,
    rotate: &[String],
) -> Result<SeedPlan, Vec<Problem>> {
    let known: Vec<&str> = catalog.seeded().map(|s| s.name.as_str()).collect();
    let mut problems = Vec::new();
    let rotate: BTreeSet<&str> = rotate.iter().map(String::as_str).collect();
    for name in &rotate {
        if !known.contains(name) {
            problems.push(Problem::new(
                "--rotate",
                format!(
                    "`{name}` is not a secret of chart {}",
                    catalog.chart_version
                ),
                format!("use one of: {}", known.join(", ")),
            ));
        }
    }
    if rotate.contains(KEK)
        && !matches!(
            observed.get(KEK),
            Some(Observed::Present {
                wrong_shape: None,
                ..
            })
        )
    {
        problems.push(Problem::new(
            "--rotate",
            format!(
                "{KEK} cannot be rotated: there is no valid current key to keep as the previous one"
            ),
            "seed without --rotate first",
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let items = catalog
        .seeded()
        .map(|secret| {
            let state = observed
                .get(&secret.name)
                .cloned()
                .unwrap_or(Observed::Missing);
            let rotating = rotate.contains(secret.name.as_str());
            let (action, digest, drift) = match state {
                Observed::Missing => (Action::Create, None, vec![]),
                Observed::Empty => (Action::Fill, None, vec![]),
                Observed::Present {
                    digest,
                    wrong_shape,
                    drift,
                } => {
                    let action = if rotating && secret.name == KEK {
                        Action::RotateKek
                    } else if rotating {
                        Action::Rotate
                    } else if let Some(why) = wrong_shape {
                        Action::WrongShape(why)
                    } else {
                        Action::Keep
                    };
                    (action, Some(digest), drift)
                }
            };
            PlanItem {
                remote_name: secret.remote_name(answers.cloud, &answers.secret_manager.prefix),
                secret: secret.clone(),
                action,
                digest,
                drift,
            }
        })
        .collect();
    Ok(SeedPlan { items })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::answers::Answers;

    fn answers() -> Answers {
        let text = std::fs::read_to_string(format!(
            "{}/examples/answers-aws.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        Answers::from_yaml(&text).unwrap()
    }

    fn catalog() -> &'static SecretCatalog {
        SecretCatalog::for_chart("1.0.0").unwrap()
    }

    #[test]
    fn first_run_creates_all_thirteen() {
        let p = plan(catalog(), &answers(), &BTreeMap::new(), &[]).unwrap();
        assert_eq!(p.items.len(), 13);
        assert!(p.items.iter().all(|i| i.action == Action::Create));
        assert_eq!(p.items[0].remote_name, "caracal/postgres");
    }

    #[test]
    fn existing_secrets_are_kept_and_shapes_checked() {
        let a = answers();
        let c = catalog();
        let key = "ab".repeat(32);
        let mut observed = BTreeMap::new();
        for s in c.seeded() {
            observed.insert(s.name.clone(), observe_value(s, &key, &a));
        }
        let pg = c.get("postgres").unwrap();
        observed.insert(
            "postgres".into(),
            observe_value(pg, r#"{"username":"caracal","password":"x","host":"h","port":5432,"database":"caracal"}"#, &a),
        );
        observed.insert(
            "admin-token".into(),
            observe_value(c.get("admin-token").unwrap(), "short", &a),
        );
        observed.insert(
            "redis".into(),
            observe_value(
                c.get("redis").unwrap(),
                r#"{"password":"p","host":"caracal-prod.abc123.ng.0001.use1.cache.amazonaws.com","port":6379,"database":0}"#,
                &a,
            ),
        );
        observed.insert("auth-secret".into(), Observed::Empty);
        let p = plan(c, &a, &observed, &[]).unwrap();
        let by = |n: &str| {
            p.items
                .iter()
                .find(|i| i.secret.name == n)
                .unwrap()
                .action
                .clone()
        };
        assert_eq!(
            by("postgres"),
            Action::WrongShape("JSON without authDatabase".into())
        );
        assert!(matches!(by("admin-token"), Action::WrongShape(_)));
        assert_eq!(by("auth-secret"), Action::Fill);
        assert_eq!(by(KEK), Action::Keep);
        assert_eq!(by("redis"), Action::Keep);
        assert!(p.warnings().is_empty());
        assert_eq!(p.errors().len(), 2);
        assert!(
            p.lines().iter().all(|l| !l.contains(&key)),
            "plans never show values"
        );
    }

    #[test]
    fn rotation_rules() {
        let a = answers();
        let c = catalog();
        let key = "cd".repeat(32);
        let observed: BTreeMap<String, Observed> = c
            .seeded()
            .filter(|s| s.is_generated())
            .map(|s| (s.name.clone(), observe_value(s, &key, &a)))
            .collect();
        let p = plan(c, &a, &observed, &["admin-token".into(), KEK.into()]).unwrap();
        let by = |n: &str| {
            p.items
                .iter()
                .find(|i| i.secret.name == n)
                .unwrap()
                .action
                .clone()
        };
        assert_eq!(by("admin-token"), Action::Rotate);
        assert_eq!(by(KEK), Action::RotateKek);
        assert_eq!(by("audit-hmac-key"), Action::Keep);
        let err = plan(c, &a, &observed, &["zone-kek".into()]).unwrap_err();
        assert_eq!(err[0].path, "--rotate");
        let err = plan(c, &a, &BTreeMap::new(), &[KEK.into()]).unwrap_err();
        assert!(err[0].message.contains("no valid current key"));
    }

    #[test]
    fn drift_of_connection_records_is_a_warning() {
        let a = answers();
        let pg = catalog().get("postgres").unwrap();
        let value = r#"{"username":"caracal","password":"p","host":"old.example.internal","port":"5432","database":"caracal","authDatabase":"caracal_auth"}"#;
        match observe_value(pg, value, &a) {
            Observed::Present {
                wrong_shape: None,
                drift,
                ..
            } => assert_eq!(drift, ["host"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn shape_rules_come_from_each_catalog_entry() {
        let a = answers();
        let shape = |version: &str, name: &str, value: &str| match observe_value(
            SecretCatalog::for_chart(version)
                .unwrap()
                .get(name)
                .unwrap(),
            value,
            &a,
        ) {
            Observed::Present { wrong_shape, .. } => wrong_shape,
            other => panic!("{other:?}"),
        };
        let token = "zz".repeat(32);
        // Tokens may be any text; keys must be hex.
        assert_eq!(shape("1.0.0", "admin-token", &token), None);
        assert_eq!(
            shape("1.0.0", "audit-hmac-key", &token).as_deref(),
            Some("not hex-encoded")
        );
        // The fictional next version wants 48-byte admin tokens.
        assert_eq!(
            shape("1.0.1-test.1", "admin-token", &token).as_deref(),
            Some("64 characters; the services need 48 bytes, hex-encoded (96 characters)")
        );
    }
}
