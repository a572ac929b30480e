//! The secrets a chart version needs, loaded from `assets/catalog/<version>.yaml`.

use std::sync::LazyLock;

use serde::Deserialize;

use super::cloud::Cloud;

/// How a secret's value is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretKind {
    /// 32 random bytes, hex-encoded (services refuse shorter keys).
    Key,
    /// 32 random bytes, hex-encoded.
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
    /// JSON fields (kind json).
    #[serde(default)]
    pub fields: Vec<String>,
    /// Key of the runtime Secret that receives the value (kinds key and token).
    #[serde(default)]
    pub runtime_key: Option<String>,
    /// Never overwritten once it exists.
    #[serde(default)]
    pub protected: bool,
    /// Present only during a KEK rotation window.
    #[serde(default)]
    pub rotation_only: bool,
}

impl CatalogSecret {
    /// Keys and tokens the wizard can generate (everything but the JSON connection records).
    pub fn is_generated(&self) -> bool {
        self.kind != SecretKind::Json
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

/// All secrets of one chart version.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretCatalog {
    pub chart_version: String,
    pub secrets: Vec<CatalogSecret>,
}

static CATALOGS: LazyLock<Vec<SecretCatalog>> = LazyLock::new(|| {
    [include_str!("../../assets/catalog/1.0.0.yaml")]
        .iter()
        .map(|text| serde_saphyr::from_str(text).expect("bundled catalog is valid"))
        .collect()
});

impl SecretCatalog {
    /// The catalog for a chart version, if this build knows it.
    pub fn for_chart(version: &str) -> Option<&'static SecretCatalog> {
        let version = version.trim_start_matches('v');
        CATALOGS.iter().find(|c| c.chart_version == version)
    }

    pub fn supported_versions() -> Vec<&'static str> {
        CATALOGS.iter().map(|c| c.chart_version.as_str()).collect()
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
}

#[cfg(test)]
mod tests {
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
}
