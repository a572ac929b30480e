//! What caracal-deploy knows of each chart version, loaded from `assets/catalog/<version>.yaml`:
//! the secrets it seeds, the runtime Secret's key names, the database roles, the service ports
//! and the Kubernetes version to render offline. No fact of a chart version lives in Rust, so a
//! second version is a second asset file (the header of `1.0.0.yaml` documents the schema).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde::Deserialize;

use super::cloud::Cloud;

/// How a secret's value is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretKind {
    /// Random bytes, hex-encoded; a provided value must be hex too (see `hex` in the asset).
    Key,
    /// Random bytes, hex-encoded when generated.
    Token,
    /// A JSON object with the listed fields.
    Json,
}

/// One entry of the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogSecret {
    /// Remote name after the prefix, e.g. `secret-store-kek`.
    pub name: String,
    pub kind: SecretKind,
    pub description: String,
    /// Random bytes the wizard generates: the value (key, token) or its password (json).
    pub bytes: usize,
    /// A present key or token must be hex-encoded.
    #[serde(default)]
    pub hex: bool,
    /// JSON fields (kind json).
    #[serde(default)]
    pub fields: Vec<String>,
    /// Key of the runtime Secret that receives the value (kinds key and token).
    #[serde(default)]
    pub runtime_key: Option<String>,
    /// The chart reads the value through `secrets.<values_ref>.{secretName,key}` of its values.
    #[serde(default)]
    pub values_ref: Option<String>,
    /// Never overwritten once it exists.
    #[serde(default)]
    pub protected: bool,
    /// Present only during a KEK rotation window.
    #[serde(default)]
    pub rotation_only: bool,
    /// Names (after the prefix) an earlier chart version kept this value under. When this name
    /// is missing and an earlier one holds a usable value, seeding copies that value here:
    /// a key the data is sealed with is carried over, never regenerated.
    #[serde(default)]
    pub formerly: Vec<String>,
}

/// What a present key or token must look like for the services to accept it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueRule {
    /// The services refuse keys of fewer bytes.
    pub bytes: usize,
    /// Only hex digits.
    pub hex: bool,
}

impl ValueRule {
    /// Hex-encoded, each byte is two characters.
    pub fn min_chars(&self) -> usize {
        self.bytes * 2
    }

    /// Why `value` cannot work, if it cannot. Surrounding whitespace is ignored, as the
    /// services trim what they read from their secret files.
    pub fn violation(&self, value: &str) -> Option<String> {
        let value = value.trim();
        if value.len() < self.min_chars() {
            Some(format!(
                "{} characters; the services need {} bytes, hex-encoded ({} characters)",
                value.len(),
                self.bytes,
                self.min_chars()
            ))
        } else if self.hex && !value.chars().all(|c| c.is_ascii_hexdigit()) {
            Some("not hex-encoded".into())
        } else {
            None
        }
    }
}

impl CatalogSecret {
    /// Keys and tokens the wizard can generate (everything but the JSON connection records).
    pub fn is_generated(&self) -> bool {
        self.kind != SecretKind::Json
    }

    /// How many random bytes to generate (hex-encoded): the value of a key or token, the
    /// password of a connection record.
    pub fn generate_bytes(&self) -> usize {
        self.bytes
    }

    /// The shape a present key or token must have; None for connection records, whose shape
    /// is their fields.
    pub fn value_rule(&self) -> Option<ValueRule> {
        self.is_generated().then_some(ValueRule {
            bytes: self.bytes,
            hex: self.hex,
        })
    }

    /// The name in the cloud's secret manager: `caracal/postgres` on AWS,
    /// `caracal-postgres` on GCP and Azure (neither allows `/`).
    pub fn remote_name(&self, cloud: Cloud, prefix: &str) -> String {
        remote_name(cloud, prefix, &self.name)
    }
}

/// Remote name of a catalog secret for a cloud.
pub fn remote_name(cloud: Cloud, prefix: &str, name: &str) -> String {
    let separator = &super::profiles::CloudProfile::get(cloud).remote_name_separator;
    format!("{prefix}{separator}{name}")
}

/// One service of the chart.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChartService {
    pub name: String,
    pub port: u16,
    /// The chart has an Ingress for it.
    #[serde(default)]
    pub ingress: bool,
}

/// Which database a role connects to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleDatabase {
    /// `secrets.database.name`.
    #[default]
    Main,
    /// `secrets.authDatabase.name`.
    Auth,
}

/// A least-privilege Postgres login the migration Job creates.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseRole {
    pub name: String,
    #[serde(default)]
    pub database: RoleDatabase,
}

/// The Postgres side of the runtime Secret.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseFacts {
    /// Runtime key of the admin password the migration Job mounts.
    pub admin_password_key: String,
    /// Patterns with `{role}`: the login, and the runtime keys of its password and URL.
    pub login: String,
    pub password_key: String,
    pub url_key: String,
    pub roles: Vec<DatabaseRole>,
}

const ROLE: &str = "{role}";

impl DatabaseFacts {
    pub fn role_login(&self, role: &DatabaseRole) -> String {
        self.login.replace(ROLE, &role.name)
    }

    pub fn role_password_key(&self, role: &DatabaseRole) -> String {
        self.password_key.replace(ROLE, &role.name)
    }

    pub fn role_url_key(&self, role: &DatabaseRole) -> String {
        self.url_key.replace(ROLE, &role.name)
    }
}

/// The Redis side of the runtime Secret.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedisFacts {
    pub password_key: String,
    pub url_key: String,
}

/// Everything caracal-deploy knows of one chart version. (Named for its first content, the
/// secrets; it holds every other fact of the version too.)
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretCatalog {
    pub chart_version: String,
    /// Given to `helm template --kube-version` when the bundle is checked offline.
    pub render_kube_version: String,
    pub services: Vec<ChartService>,
    pub database: DatabaseFacts,
    pub redis: RedisFacts,
    pub secrets: Vec<CatalogSecret>,
    /// Chart versions this one is a step forward from (their database migrations come before
    /// this one's): a release of one of them is upgraded to this version, and this version's
    /// release is never "upgraded" back to them.
    #[serde(default)]
    pub upgrades_from: Vec<String>,
}

/// How moving a release from one chart version to another relates to their migrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionStep {
    Same,
    /// Forward: migrations only ever run forward.
    Forward,
    /// Backward: the database may already hold the newer schema.
    Backward,
    /// Neither chart says; the versions compare as semver.
    Unknown,
}

/// The step from the deployed chart version to the target: what the catalogs say
/// (`upgradesFrom`), else semver precedence. Calendar release candidates (2026.6.25-rc.1)
/// precede 1.0.0 by the catalog, though semver would put them after.
pub fn version_step(deployed: &str, target: &str) -> VersionStep {
    let (deployed, target) = (
        deployed.trim_start_matches('v'),
        target.trim_start_matches('v'),
    );
    if deployed == target {
        return VersionStep::Same;
    }
    let lists = |of: &str, other: &str| {
        SecretCatalog::for_chart(of).is_some_and(|c| c.upgrades_from.iter().any(|v| v == other))
    };
    if lists(target, deployed) {
        return VersionStep::Forward;
    }
    if lists(deployed, target) {
        return VersionStep::Backward;
    }
    match (
        semver::Version::parse(deployed),
        semver::Version::parse(target),
    ) {
        (Ok(d), Ok(t)) if t > d => VersionStep::Forward,
        (Ok(d), Ok(t)) if t < d => VersionStep::Backward,
        _ => VersionStep::Unknown,
    }
}

/// Why an asset is not a usable catalog.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("chart catalog: {0}")]
pub struct CatalogError(String);

/// The catalogs compiled into this build, with the file each came from.
fn bundled() -> Vec<(&'static str, &'static str)> {
    #[allow(unused_mut)]
    let mut assets = vec![(
        "assets/catalog/1.0.0.yaml",
        include_str!("../../assets/catalog/1.0.0.yaml"),
    )];
    // A fictional chart version that differs from 1.0.0 in a few facts: the proof that a
    // second version needs an asset and no code.
    #[cfg(test)]
    assets.push((
        "tests/fixtures/catalog/1.0.1-test.1.yaml",
        include_str!("../../tests/fixtures/catalog/1.0.1-test.1.yaml"),
    ));
    assets
}

static CATALOGS: LazyLock<Vec<SecretCatalog>> = LazyLock::new(|| {
    let catalogs: Vec<SecretCatalog> = bundled()
        .into_iter()
        .map(|(file, text)| {
            SecretCatalog::from_yaml(text).unwrap_or_else(|e| panic!("bundled {file}: {e}"))
        })
        .collect();
    let mut versions = BTreeSet::new();
    for c in &catalogs {
        assert!(
            versions.insert(&c.chart_version),
            "two bundled catalogs for chart {}",
            c.chart_version
        );
    }
    catalogs
});

impl SecretCatalog {
    /// The catalog for a chart version, if this build knows it.
    pub fn for_chart(version: &str) -> Option<&'static SecretCatalog> {
        let version = version.trim_start_matches('v');
        CATALOGS.iter().find(|c| c.chart_version == version)
    }

    /// The catalog of a chart version that valid answers name (validation refuses versions
    /// without a catalog, so this cannot fail for them).
    pub fn of_valid(version: &str) -> &'static SecretCatalog {
        Self::for_chart(version).expect("validated chart version")
    }

    pub fn supported_versions() -> Vec<&'static str> {
        CATALOGS.iter().map(|c| c.chart_version.as_str()).collect()
    }

    /// Parses and checks one asset: everything the rest of the program relies on is verified
    /// here, so a faulty asset fails every test instead of rendering something wrong.
    pub fn from_yaml(text: &str) -> Result<SecretCatalog, CatalogError> {
        let catalog: SecretCatalog =
            serde_saphyr::from_str(text).map_err(|e| CatalogError(e.to_string()))?;
        catalog.check().map_err(CatalogError)?;
        Ok(catalog)
    }

    fn check(&self) -> Result<(), String> {
        let parts: Vec<&str> = self.render_kube_version.split('.').collect();
        if parts.len() != 3
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(format!(
                "renderKubeVersion `{}` is not MAJOR.MINOR.PATCH",
                self.render_kube_version
            ));
        }
        let mut names = BTreeSet::new();
        for s in &self.services {
            if !names.insert(s.name.as_str()) || s.port == 0 {
                return Err(format!("service `{}` is repeated or has port 0", s.name));
            }
        }
        let db = &self.database;
        for (what, pattern) in [
            ("login", &db.login),
            ("passwordKey", &db.password_key),
            ("urlKey", &db.url_key),
        ] {
            if !pattern.contains(ROLE) {
                return Err(format!(
                    "database.{what} `{pattern}` must contain {ROLE}, or every role would share it"
                ));
            }
        }
        let mut roles = BTreeSet::new();
        for r in &db.roles {
            if r.name.is_empty() || !roles.insert(r.name.as_str()) {
                return Err(format!("database role `{}` is empty or repeated", r.name));
            }
        }
        let mut names = BTreeSet::new();
        for s in &self.secrets {
            if !names.insert(s.name.as_str()) {
                return Err(format!("secret `{}` is listed twice", s.name));
            }
            if s.bytes < 16 {
                return Err(format!(
                    "secret `{}`: {} bytes are too few to be secret",
                    s.name, s.bytes
                ));
            }
            match s.kind {
                SecretKind::Json if s.fields.is_empty() || s.runtime_key.is_some() => {
                    return Err(format!(
                        "secret `{}`: a json record has fields and no runtimeKey",
                        s.name
                    ));
                }
                SecretKind::Key | SecretKind::Token
                    if s.runtime_key.is_none() || !s.fields.is_empty() =>
                {
                    return Err(format!(
                        "secret `{}`: a key or token has a runtimeKey and no fields",
                        s.name
                    ));
                }
                _ => {}
            }
        }
        for s in &self.secrets {
            if let Some(old) = s.formerly.iter().find(|f| self.get(f).is_some()) {
                return Err(format!(
                    "secret `{}`: formerly `{old}` is a secret of this chart too",
                    s.name
                ));
            }
        }
        // The connection records are built from the answers' postgres and redis sections.
        for record in ["postgres", "redis"] {
            if !self
                .secrets
                .iter()
                .any(|s| s.name == record && s.kind == SecretKind::Json)
            {
                return Err(format!("no json record `{record}`"));
            }
        }
        if self.secrets.iter().filter(|s| s.protected).count() > 1
            || self.secrets.iter().filter(|s| s.rotation_only).count() > 1
        {
            return Err("one protected KEK and one rotation slot at most".into());
        }
        // Two values under one key of caracal-runtime: one would silently win.
        let mut keys = BTreeSet::new();
        for key in self.all_runtime_keys() {
            if !keys.insert(key.clone()) {
                return Err(format!("runtime key `{key}` is produced twice"));
            }
        }
        Ok(())
    }

    fn all_runtime_keys(&self) -> Vec<String> {
        let db = &self.database;
        let mut keys = vec![db.admin_password_key.clone()];
        for role in &db.roles {
            keys.push(db.role_password_key(role));
            keys.push(db.role_url_key(role));
        }
        keys.push(self.redis.password_key.clone());
        keys.push(self.redis.url_key.clone());
        keys.extend(self.secrets.iter().filter_map(|s| s.runtime_key.clone()));
        keys
    }

    pub fn get(&self, name: &str) -> Option<&CatalogSecret> {
        self.secrets.iter().find(|s| s.name == name)
    }

    /// The secrets seeded in normal operation (the KEK rotation slot excluded).
    pub fn seeded(&self) -> impl Iterator<Item = &CatalogSecret> {
        self.secrets.iter().filter(|s| !s.rotation_only)
    }

    /// Keys and tokens whose source the answers may set.
    pub fn generated(&self) -> impl Iterator<Item = &CatalogSecret> {
        self.seeded().filter(|s| s.is_generated())
    }

    /// The key-encryption key: never overwritten, rotated only with its previous value kept.
    pub fn kek(&self) -> Option<&CatalogSecret> {
        self.secrets.iter().find(|s| s.protected)
    }

    /// The slot that keeps the retiring KEK during a rotation window.
    pub fn kek_previous(&self) -> Option<&CatalogSecret> {
        self.secrets.iter().find(|s| s.rotation_only)
    }

    /// The Kubernetes version `helm template` assumes when render checks the chart offline.
    pub fn render_kube_version(&self) -> &str {
        &self.render_kube_version
    }

    pub fn service(&self, name: &str) -> Option<&ChartService> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The port of a chart service, e.g. 8081 for `gateway` in chart 1.0.0.
    pub fn service_port(&self, name: &str) -> Option<u16> {
        self.service(name).map(|s| s.port)
    }

    /// The services the chart can expose through an Ingress, in the chart's order.
    pub fn ingress_services(&self) -> impl Iterator<Item = &ChartService> {
        self.services.iter().filter(|s| s.ingress)
    }

    /// The database roles the migration Job creates, in its order.
    pub fn db_roles(&self) -> &[DatabaseRole] {
        &self.database.roles
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn version_steps_follow_the_catalogs_then_semver() {
        // The release candidate precedes 1.0.0 by 1.0.0's catalog, though semver says after.
        assert_eq!(
            version_step("2026.6.25-rc.1", "1.0.0"),
            VersionStep::Forward
        );
        assert_eq!(
            version_step("1.0.0", "2026.6.25-rc.1"),
            VersionStep::Backward
        );
        assert_eq!(version_step("1.0.0", "v1.0.0"), VersionStep::Same);
        assert_eq!(version_step("1.0.0", "1.0.1"), VersionStep::Forward);
        assert_eq!(version_step("1.2.0", "1.0.1"), VersionStep::Backward);
        assert_eq!(version_step("main", "1.0.0"), VersionStep::Unknown);
    }

    use super::*;

    #[test]
    fn chart_1_0_0_has_thirteen_seeded_secrets() {
        let c = SecretCatalog::for_chart("1.0.0").unwrap();
        let names: Vec<&str> = c.seeded().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "postgres",
                "redis",
                "auth-secret",
                "secret-store-kek",
                "audit-hmac-key",
                "streams-hmac-key",
                "idempotency-hmac-key",
                "gateway-sts-hmac-key",
                "admin-token",
                "coordinator-token",
                "sts-admin-token",
                "audit-admin-token",
                "metrics-bearer"
            ]
        );
        assert!(c.get("secret-store-kek").unwrap().protected);
        assert!(
            c.get("zone-kek").is_none(),
            "the pre-1.0 name must not come back"
        );
        assert_eq!(
            c.get("postgres").unwrap().fields,
            [
                "username",
                "password",
                "host",
                "port",
                "database",
                "authDatabase"
            ]
        );
        assert!(SecretCatalog::for_chart("0.9.0").is_none());
    }

    #[test]
    fn remote_names_per_cloud() {
        let c = SecretCatalog::for_chart("1.0.0").unwrap();
        let pg = c.get("postgres").unwrap();
        assert_eq!(pg.remote_name(Cloud::Aws, "caracal"), "caracal/postgres");
        assert_eq!(pg.remote_name(Cloud::Gcp, "caracal"), "caracal-postgres");
        assert_eq!(pg.remote_name(Cloud::Azure, "caracal"), "caracal-postgres");
    }

    #[test]
    fn chart_1_0_0_facts() {
        let c = SecretCatalog::for_chart("1.0.0").unwrap();
        assert_eq!(c.render_kube_version(), "1.34.0");
        let ingress: Vec<(&str, u16)> = c
            .ingress_services()
            .map(|s| (s.name.as_str(), s.port))
            .collect();
        assert_eq!(
            ingress,
            [
                ("sts", 8080),
                ("gateway", 8081),
                ("api", 3000),
                ("web", 3002)
            ]
        );
        let roles: Vec<&str> = c.db_roles().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            roles,
            ["api", "sts", "gateway", "audit", "coordinator", "auth"]
        );
        let auth = c.db_roles().last().unwrap();
        assert_eq!(auth.database, RoleDatabase::Auth);
        assert_eq!(c.database.role_login(auth), "caracalauth");
        assert_eq!(c.database.role_url_key(auth), "authDatabaseUrl");
        assert_eq!(c.database.role_password_key(auth), "authDbPassword");
        assert_eq!(c.kek().unwrap().name, "secret-store-kek");
        assert_eq!(c.kek_previous().unwrap().name, "secret-store-kek-previous");
        // Keys and tokens: 32 bytes; generated passwords: 24 bytes.
        for s in c.generated() {
            assert_eq!(s.generate_bytes(), 32, "{}", s.name);
            assert_eq!(s.value_rule().unwrap().min_chars(), 64, "{}", s.name);
        }
        assert_eq!(c.get("postgres").unwrap().generate_bytes(), 24);
        assert_eq!(c.get("postgres").unwrap().value_rule(), None);
        assert!(c.get("auth-secret").unwrap().value_rule().unwrap().hex);
        assert!(!c.get("admin-token").unwrap().value_rule().unwrap().hex);
    }

    #[test]
    fn value_rules() {
        let key = ValueRule {
            bytes: 32,
            hex: true,
        };
        assert_eq!(key.violation(&"ab".repeat(32)), None);
        assert_eq!(key.violation(&format!(" {}\n", "ab".repeat(32))), None);
        assert_eq!(
            key.violation("abc").unwrap(),
            "3 characters; the services need 32 bytes, hex-encoded (64 characters)"
        );
        assert_eq!(key.violation(&"xy".repeat(32)).unwrap(), "not hex-encoded");
        let token = ValueRule { hex: false, ..key };
        assert_eq!(token.violation(&"xy".repeat(32)), None);
    }

    #[test]
    fn a_second_chart_version_is_an_asset_not_code() {
        let v100 = SecretCatalog::for_chart("1.0.0").unwrap();
        let next = SecretCatalog::for_chart("1.0.1-test.1").expect("loaded like any asset");
        assert!(SecretCatalog::supported_versions().contains(&"1.0.1-test.1"));
        assert_eq!(next.render_kube_version(), "1.35.0");
        assert_eq!(v100.service_port("gateway"), Some(8081));
        assert_eq!(next.service_port("gateway"), Some(8443));
        assert_eq!(next.db_roles().len(), v100.db_roles().len() + 1);
        assert_eq!(next.get("admin-token").unwrap().generate_bytes(), 48);
    }

    fn broken(from: &str, to: &str) -> String {
        let text = include_str!("../../assets/catalog/1.0.0.yaml");
        assert!(text.contains(from), "the asset no longer holds `{from}`");
        SecretCatalog::from_yaml(&text.replacen(from, to, 1))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_faulty_asset_is_refused_with_the_reason() {
        assert!(broken("renderKubeVersion: 1.34.0", "renderKubeVersion: 1.34").contains("MAJOR"));
        assert!(broken("urlKey: \"{role}DatabaseUrl\"", "urlKey: databaseUrl").contains("{role}"));
        assert!(
            broken("runtimeKey: auditHmacKey", "runtimeKey: streamsHmacKey")
                .contains("produced twice")
        );
        assert!(broken("bytes: 24", "bytes: 8").contains("too few"));
        assert!(broken("name: redis\n", "name: valkey\n").contains("`redis`"));
        assert!(broken("chartVersion: 1.0.0", "chartVersion: 1.0.0\nportz: 1").contains("portz"));
        assert!(
            broken(
                "{ name: gateway, port: 8081, ingress: true }",
                "{ name: sts, port: 8081 }"
            )
            .contains("repeated")
        );
    }
}
