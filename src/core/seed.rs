//! Seeding, the pure part: what each catalog secret looks like remotely, and the plan that
//! follows from it. Nothing that exists is overwritten unless the operator names it with
//! `--rotate`; the KEK is never overwritten, only rotated with its previous value kept.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

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
        /// Fields a connection record lacks that the answers supply (an earlier chart's
        /// record): added, the rest kept.
        missing: Vec<String>,
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
    /// Missing here, held by an earlier chart's name (this remote name): its value is copied,
    /// never regenerated.
    CopyFrom(String),
    /// A connection record without these fields, which the answers supply: they are added,
    /// the password and every other field kept.
    Amend(Vec<String>),
}

impl Action {
    pub fn writes(&self) -> bool {
        self.needs_value() || matches!(self, Action::CopyFrom(_) | Action::Amend(_))
    }

    /// The write takes a new value from its source (generated, env:, file:, prompt); a copy or
    /// an amendment takes what the secret manager holds.
    pub fn needs_value(&self) -> bool {
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
            Action::CopyFrom(_) => "copy from the earlier name",
            Action::Amend(_) => "add the missing fields",
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

/// An earlier chart's name of a catalog secret (`formerly`) that exists remotely. Nothing in
/// it is a value: the two names are compared by their digests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Earlier {
    /// The earlier remote name (`caracal/zone-kek`).
    pub remote: String,
    /// The catalog name of the secret (`secret-store-kek`).
    pub secret: String,
    /// Its current remote name (`caracal/secret-store-kek`).
    pub current: String,
    /// The digest of the earlier name's value; None when it has no readable version.
    pub digest: Option<String>,
    /// The current name holds a value with the same digest: the value is safe without the
    /// earlier name.
    pub same_value: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedPlan {
    pub items: Vec<PlanItem>,
    /// Every earlier name that exists remotely, in catalog order.
    pub earlier: Vec<Earlier>,
}

impl SeedPlan {
    /// Why an earlier name must stay, or None when it may be deleted (the current name holds
    /// the same value).
    pub fn keep_reason(&self, earlier: &Earlier) -> Option<String> {
        if earlier.same_value {
            return None;
        }
        if earlier.digest.is_none() {
            return Some("it has no readable version to compare with the current name".into());
        }
        let current = self.items.iter().find(|i| i.secret.name == earlier.secret);
        Some(
            match current {
                Some(i) if i.action == Action::Fill => "the current name has no readable version",
                // A copy's digest is the earlier value's: the current name is still missing.
                Some(i) if i.digest.is_some() && !matches!(i.action, Action::CopyFrom(_)) => {
                    "the current name holds a different value"
                }
                _ => "the current name is missing",
            }
            .to_string(),
        )
    }

    /// The earlier names as they will be once this plan is written: a name whose value the
    /// plan copies to the current name then holds the same value there.
    pub fn earlier_after_writes(&self) -> Vec<Earlier> {
        self.earlier
            .iter()
            .map(|e| {
                let copied = self.items.iter().any(|i| {
                    i.secret.name == e.secret
                        && matches!(&i.action, Action::CopyFrom(from) if *from == e.remote)
                });
                Earlier {
                    same_value: e.same_value || copied,
                    ..e.clone()
                }
            })
            .collect()
    }

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
                match &i.action {
                    Action::CopyFrom(from) => line.push_str(&format!(" {from} (value kept)")),
                    Action::Amend(fields) => {
                        line.push_str(&format!(" ({}; the password kept)", fields.join(", ")))
                    }
                    _ => {}
                }
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

/// The secret key of fingerprints: random, kept by the engine in the operator's state
/// directory (0600), so a fingerprint in a plan or a log cannot be used to guess a weak
/// password offline without also holding the key. Wiped on drop; never printed.
#[derive(Clone)]
pub struct FingerprintKey(Zeroizing<[u8; FingerprintKey::LEN]>);

impl FingerprintKey {
    pub const LEN: usize = 32;

    pub fn new(bytes: [u8; Self::LEN]) -> FingerprintKey {
        FingerprintKey(Zeroizing::new(bytes))
    }
}

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(..)")
    }
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = Zeroizing::new([0u8; BLOCK]);
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut pad = Zeroizing::new([0u8; BLOCK]);
    for (p, k) in pad.iter_mut().zip(block.iter()) {
        *p = k ^ 0x36;
    }
    let inner = Sha256::new()
        .chain_update(pad.as_slice())
        .chain_update(message)
        .finalize();
    for (p, k) in pad.iter_mut().zip(block.iter()) {
        *p = k ^ 0x5c;
    }
    Sha256::new()
        .chain_update(pad.as_slice())
        .chain_update(inner)
        .finalize()
        .into()
}

/// A short fingerprint of a value, for plans and logs: a keyed hash (HMAC-SHA256 under the
/// operator's [`FingerprintKey`]), never a plain hash a weak password could be guessed from.
pub fn digest(key: &FingerprintKey, value: &str) -> String {
    let mac = hmac_sha256(key.0.as_slice(), value.as_bytes());
    format!("hmac-sha256:{}", &hex::encode(mac)[..16])
}

fn json_field_present(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.is_empty(),
        Value::Number(_) => true,
        _ => false,
    }
}

/// Overwrites every string value of a parsed JSON value with zeros, in place (keys are field
/// names, never secret).
pub fn wipe_json(v: &mut Value) {
    match v {
        Value::String(s) => zeroize::Zeroize::zeroize(s),
        Value::Array(items) => items.iter_mut().for_each(wipe_json),
        Value::Object(map) => map.values_mut().for_each(wipe_json),
        _ => {}
    }
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
pub fn observe_value(
    secret: &CatalogSecret,
    value: &str,
    answers: &Answers,
    key: &FingerprintKey,
) -> Observed {
    let mut wrong_shape = None;
    let mut drift = Vec::new();
    let mut missing = Vec::new();
    match secret.kind {
        SecretKind::Key | SecretKind::Token => {
            wrong_shape = secret.value_rule().and_then(|rule| rule.violation(value));
        }
        SecretKind::Json => {
            let mut parsed = serde_json::from_str::<Value>(value).ok();
            match &parsed {
                Some(Value::Object(map)) => {
                    // Presence only: the password is never copied out of the record.
                    let lacking: Vec<&str> = secret
                        .fields
                        .iter()
                        .filter(|f| !map.get(f.as_str()).is_some_and(json_field_present))
                        .map(String::as_str)
                        .collect();
                    let expected = expected_fields(answers, &secret.name);
                    // What the answers supply can be added; a missing password cannot.
                    if lacking.iter().any(|f| !expected.contains_key(f)) {
                        wrong_shape = Some(format!("JSON without {}", lacking.join(", ")));
                    } else {
                        missing = lacking.iter().map(|f| f.to_string()).collect();
                        for (field, expected) in expected {
                            if !missing.iter().any(|m| m == field)
                                && map.get(field).and_then(json_field_text).as_deref()
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
            }
            // The parsed record holds the password: wipe every string before it is dropped.
            if let Some(parsed) = parsed.as_mut() {
                wipe_json(parsed);
            }
        }
    }
    Observed::Present {
        digest: digest(key, value),
        wrong_shape,
        drift,
        missing,
    }
}

/// What an earlier chart's name of a missing secret holds.
enum Former {
    Usable { remote: String, digest: String },
    Unusable { remote: String, why: String },
}

/// The first earlier name (`formerly`) of a secret that exists remotely. `observed` holds
/// earlier names under themselves (they are never names of the catalog).
fn former(
    secret: &CatalogSecret,
    answers: &Answers,
    observed: &BTreeMap<String, Observed>,
) -> Option<Former> {
    secret.formerly.iter().find_map(|old| {
        let remote =
            super::catalog::remote_name(answers.cloud, &answers.secret_manager.prefix, old);
        match observed.get(old)? {
            Observed::Present {
                digest,
                wrong_shape: None,
                ..
            } => Some(Former::Usable {
                remote,
                digest: digest.clone(),
            }),
            Observed::Present {
                wrong_shape: Some(why),
                ..
            } => Some(Former::Unusable {
                remote,
                why: why.clone(),
            }),
            Observed::Empty => Some(Former::Unusable {
                remote,
                why: "it has no readable version".into(),
            }),
            Observed::Missing => None,
        }
    })
}

/// Every earlier name of a catalog secret that exists remotely, compared by digest with the
/// current name's value.
fn earlier_names(
    catalog: &SecretCatalog,
    answers: &Answers,
    observed: &BTreeMap<String, Observed>,
) -> Vec<Earlier> {
    let remote = |name: &str| {
        super::catalog::remote_name(answers.cloud, &answers.secret_manager.prefix, name)
    };
    let digest_of = |name: &str| match observed.get(name) {
        Some(Observed::Present { digest, .. }) => Some(digest.clone()),
        _ => None,
    };
    catalog
        .seeded()
        .flat_map(|secret| {
            let current = digest_of(&secret.name);
            secret
                .formerly
                .iter()
                .filter(|old| {
                    matches!(
                        observed.get(old.as_str()),
                        Some(Observed::Present { .. } | Observed::Empty)
                    )
                })
                .map(move |old| {
                    let digest = digest_of(old);
                    Earlier {
                        remote: remote(old),
                        secret: secret.name.clone(),
                        current: remote(&secret.name),
                        same_value: digest.is_some() && digest == current,
                        digest,
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect()
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
                Observed::Missing => match former(secret, answers, observed) {
                    Some(Former::Usable { remote, digest }) => {
                        (Action::CopyFrom(remote), Some(digest), vec![])
                    }
                    Some(Former::Unusable { remote, why }) => (
                        Action::WrongShape(format!(
                            "missing, and {remote} of an earlier chart holds a value this one cannot use ({why}); \
                             it is not replaced by a new one"
                        )),
                        None,
                        vec![],
                    ),
                    None => (Action::Create, None, vec![]),
                },
                Observed::Empty => (Action::Fill, None, vec![]),
                Observed::Present {
                    digest,
                    wrong_shape,
                    drift,
                    missing,
                } => {
                    let action = if rotating && secret.name == KEK {
                        Action::RotateKek
                    } else if rotating {
                        Action::Rotate
                    } else if let Some(why) = wrong_shape {
                        Action::WrongShape(why)
                    } else if !missing.is_empty() {
                        Action::Amend(missing)
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
    Ok(SeedPlan {
        items,
        earlier: earlier_names(catalog, answers, observed),
    })
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

    fn k() -> FingerprintKey {
        FingerprintKey::new([7; FingerprintKey::LEN])
    }

    /// RFC 4231, test cases 1, 2 and 6 (a key longer than the block).
    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        assert_eq!(
            hex::encode(hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn fingerprints_are_keyed() {
        let other = FingerprintKey::new([8; FingerprintKey::LEN]);
        let d = digest(&k(), "hunter2");
        assert!(d.starts_with("hmac-sha256:") && d.len() == 12 + 16, "{d}");
        assert_eq!(d, digest(&k(), "hunter2"));
        assert_ne!(d, digest(&other, "hunter2"));
        let plain = hex::encode(Sha256::digest(b"hunter2"));
        assert!(!plain.starts_with(&d[12..]));
        assert_eq!(format!("{:?}", k()), "FingerprintKey(..)");
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
            observed.insert(s.name.clone(), observe_value(s, &key, &a, &k()));
        }
        let pg = c.get("postgres").unwrap();
        observed.insert(
            "postgres".into(),
            observe_value(pg, r#"{"username":"caracal","password":"x","host":"h","port":5432,"database":"caracal"}"#, &a, &k()),
        );
        observed.insert(
            "admin-token".into(),
            observe_value(c.get("admin-token").unwrap(), "short", &a, &k()),
        );
        observed.insert(
            "redis".into(),
            observe_value(
                c.get("redis").unwrap(),
                r#"{"password":"p","host":"caracal-prod.abc123.ng.0001.use1.cache.amazonaws.com","port":6379,"database":0}"#,
                &a,
                &k(),
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
        // The record of an earlier chart lacks a field the answers supply: added, kept else.
        assert_eq!(by("postgres"), Action::Amend(vec!["authDatabase".into()]));
        assert!(matches!(by("admin-token"), Action::WrongShape(_)));
        assert_eq!(by("auth-secret"), Action::Fill);
        assert_eq!(by(KEK), Action::Keep);
        assert_eq!(by("redis"), Action::Keep);
        assert!(p.warnings().is_empty());
        assert_eq!(p.errors().len(), 1);
        assert!(
            p.lines().iter().all(|l| !l.contains(&key)),
            "plans never show values"
        );
    }

    /// The release-candidate layout: the KEK under `zone-kek`, no auth-secret, the postgres
    /// record without authDatabase.
    #[test]
    fn an_earlier_layout_is_carried_over_never_regenerated() {
        let a = answers();
        let c = catalog();
        let kek = "5e".repeat(32);
        let mut observed = BTreeMap::new();
        for s in c
            .seeded()
            .filter(|s| s.is_generated() && !["auth-secret", KEK].contains(&s.name.as_str()))
        {
            observed.insert(s.name.clone(), observe_value(s, &"ab".repeat(32), &a, &k()));
        }
        observed.insert(
            "redis".into(),
            observe_value(
                c.get("redis").unwrap(),
                r#"{"password":"p","host":"caracal-prod.abc123.ng.0001.use1.cache.amazonaws.com","port":6379,"database":0}"#,
                &a,
                &k(),
            ),
        );
        let pg = c.get("postgres").unwrap();
        observed.insert(
            "postgres".into(),
            observe_value(pg, r#"{"username":"caracal","password":"pw-of-rc","host":"caracal-prod.cluster-abc123.us-east-1.rds.amazonaws.com","port":5432,"database":"caracal"}"#, &a, &k()),
        );
        observed.insert(
            "zone-kek".into(),
            observe_value(c.get(KEK).unwrap(), &kek, &a, &k()),
        );
        let p = plan(c, &a, &observed, &[]).unwrap();
        let item = |n: &str| p.items.iter().find(|i| i.secret.name == n).unwrap();
        assert_eq!(
            item(KEK).action,
            Action::CopyFrom("caracal/zone-kek".into())
        );
        assert_eq!(
            item(KEK).digest,
            Some(digest(&k(), &kek)),
            "the copied value's"
        );
        assert_eq!(item("auth-secret").action, Action::Create);
        assert_eq!(
            item("postgres").action,
            Action::Amend(vec!["authDatabase".into()])
        );
        assert!(
            item("postgres").drift.is_empty(),
            "{:?}",
            item("postgres").drift
        );
        assert_eq!(p.writes(), 3);
        let lines = p.lines().join("\n");
        assert!(
            lines.contains("copy from the earlier name caracal/zone-kek (value kept)"),
            "{lines}"
        );
        assert!(
            lines.contains("add the missing fields (authDatabase; the password kept)"),
            "{lines}"
        );
        assert!(!lines.contains(&kek) && !lines.contains("pw-of-rc"));

        // An earlier KEK the chart cannot use is reported, never replaced by a new key.
        observed.insert(
            "zone-kek".into(),
            observe_value(c.get(KEK).unwrap(), "short", &a, &k()),
        );
        let p = plan(c, &a, &observed, &[]).unwrap();
        let kek_item = p.items.iter().find(|i| i.secret.name == KEK).unwrap();
        assert!(
            matches!(&kek_item.action, Action::WrongShape(why) if why.contains("caracal/zone-kek"))
        );
        // Without the password, a record cannot be amended.
        observed.insert(
            "postgres".into(),
            observe_value(
                pg,
                r#"{"username":"caracal","host":"h","port":5432,"database":"caracal"}"#,
                &a,
                &k(),
            ),
        );
        let p = plan(c, &a, &observed, &[]).unwrap();
        let pg_item = p
            .items
            .iter()
            .find(|i| i.secret.name == "postgres")
            .unwrap();
        assert!(matches!(&pg_item.action, Action::WrongShape(why) if why.contains("password")));
    }

    /// The earlier names that exist are listed, compared by digest with the current name; one
    /// is deletable only when the current name holds the same value.
    #[test]
    fn earlier_names_are_compared_by_digest_never_by_value() {
        let a = answers();
        let c = catalog();
        let kek_entry = c.get(KEK).unwrap();
        let kek = "5e".repeat(32);
        let at = |observed: &BTreeMap<String, Observed>| plan(c, &a, observed, &[]).unwrap();
        let mut observed = BTreeMap::new();

        // No earlier name remotely: nothing listed.
        assert!(at(&observed).earlier.is_empty());

        // The release-candidate layout: the KEK only under its earlier name.
        observed.insert("zone-kek".into(), observe_value(kek_entry, &kek, &a, &k()));
        let p = at(&observed);
        let rc = Earlier {
            remote: "caracal/zone-kek".into(),
            secret: KEK.into(),
            current: "caracal/secret-store-kek".into(),
            digest: Some(digest(&k(), &kek)),
            same_value: false,
        };
        assert_eq!(p.earlier, std::slice::from_ref(&rc));
        assert_eq!(
            p.keep_reason(&p.earlier[0]).as_deref(),
            Some("the current name is missing")
        );
        // Once the plan's copy is written, the current name holds the same value.
        let after = p.earlier_after_writes();
        assert!(after[0].same_value, "{after:?}");
        assert_eq!(p.keep_reason(&after[0]), None);

        // Upgraded: both names hold the KEK.
        observed.insert(KEK.into(), observe_value(kek_entry, &kek, &a, &k()));
        let p = at(&observed);
        assert_eq!(
            p.earlier,
            [Earlier {
                same_value: true,
                ..rc.clone()
            }]
        );
        assert_eq!(p.keep_reason(&p.earlier[0]), None);
        assert_eq!(
            p.items
                .iter()
                .find(|i| i.secret.name == KEK)
                .unwrap()
                .action,
            Action::Keep,
            "the current name is kept, never copied over again"
        );

        // Another value under the current name: kept, with why.
        let other = "a1".repeat(32);
        observed.insert(KEK.into(), observe_value(kek_entry, &other, &a, &k()));
        let p = at(&observed);
        assert!(!p.earlier[0].same_value);
        assert_eq!(
            p.keep_reason(&p.earlier[0]).as_deref(),
            Some("the current name holds a different value")
        );
        assert!(!p.earlier_after_writes()[0].same_value, "nothing is copied");

        // The current name without a readable version.
        observed.insert(KEK.into(), Observed::Empty);
        let p = at(&observed);
        assert_eq!(
            p.keep_reason(&p.earlier[0]).as_deref(),
            Some("the current name has no readable version")
        );

        // An earlier name without a readable version: nothing to compare, kept.
        observed.insert(KEK.into(), observe_value(kek_entry, &kek, &a, &k()));
        observed.insert("zone-kek".into(), Observed::Empty);
        let p = at(&observed);
        assert_eq!(p.earlier[0].digest, None);
        assert!(!p.earlier[0].same_value);
        assert_eq!(
            p.keep_reason(&p.earlier[0]).as_deref(),
            Some("it has no readable version to compare with the current name")
        );

        // An earlier value this chart cannot use and no current name (left unchanged, an
        // error of the plan): the current name is missing, not different.
        observed.remove(KEK);
        observed.insert(
            "zone-kek".into(),
            observe_value(kek_entry, "short", &a, &k()),
        );
        let p = at(&observed);
        assert!(matches!(
            p.items
                .iter()
                .find(|i| i.secret.name == KEK)
                .unwrap()
                .action,
            Action::WrongShape(_)
        ));
        assert_eq!(
            p.keep_reason(&p.earlier[0]).as_deref(),
            Some("the current name is missing")
        );

        // An earlier name that is gone is not listed.
        observed.insert("zone-kek".into(), Observed::Missing);
        assert!(at(&observed).earlier.is_empty());
    }

    #[test]
    fn rotation_rules() {
        let a = answers();
        let c = catalog();
        let key = "cd".repeat(32);
        let observed: BTreeMap<String, Observed> = c
            .seeded()
            .filter(|s| s.is_generated())
            .map(|s| (s.name.clone(), observe_value(s, &key, &a, &k())))
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
        match observe_value(pg, value, &a, &k()) {
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
            &k(),
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
