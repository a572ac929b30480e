//! Syntax checks of single answer fields. Each returns the message and the fix on failure.
//!
//! Pure functions: no I/O. The rules follow the providers' documented limits so that a
//! mistake is caught here, with a fix, instead of as an API error in the middle of a run.

use std::net::IpAddr;
use std::sync::LazyLock;

use regex::Regex;

/// What is wrong and how to fix it.
pub type FieldVerdict = Result<(), (String, String)>;

/// The message quotes the offending value; any control or invisible character in it is
/// written as its escape, so a message can never drive the operator's terminal.
fn fail(message: impl Into<String>, fix: impl Into<String>) -> FieldVerdict {
    Err((escape_forbidden(&message.into()), fix.into()))
}

/// `text` with every [forbidden character](is_forbidden_char) written as its `\u{..}` escape:
/// one line that can neither end a comment nor drive a terminal.
pub fn escape_forbidden(text: &str) -> String {
    text.chars()
        .map(|c| {
            if is_forbidden_char(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static pattern")
}

// The patterns are public so that the JSON Schema of the answers file states the same syntax
// as the reader (src/core/schema.rs); they use only syntax ECMA-262 and the regex crate share.
pub const LABEL_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
pub const DNS1035_PATTERN: &str = r"^[a-z]([-a-z0-9]*[a-z0-9])?$";
pub const AWS_REGION_PATTERN: &str = r"^[a-z]{2}(-gov|-iso[a-z]?)?-(north|south|east|west|central|northeast|northwest|southeast|southwest)-[1-9]$";
pub const ROLE_ARN_PATTERN: &str = r"^arn:aws(-cn|-us-gov|-iso|-iso-b)?:iam::[0-9]{12}:role/([\x21-\x7e]*/)?[A-Za-z0-9_+=,.@-]{1,64}$";
pub const GCP_PROJECT_PATTERN: &str = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$";
pub const GCP_SA_PATTERN: &str =
    r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$";
pub const GCP_LOCATION_PATTERN: &str = r"^[a-z]+-[a-z]+[0-9]{1,2}(-[a-z])?$";
pub const GUID_PATTERN: &str =
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
pub const SEMVER_PATTERN: &str =
    r"^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$";
pub const PG_IDENT_PATTERN: &str = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$";
pub const ENV_VAR_PATTERN: &str = r"^[A-Za-z_][A-Za-z0-9_]*$";
pub const LABEL_NAME_PATTERN: &str = r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
pub const LABEL_VALUE_PATTERN: &str = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$";
pub const PREFIX_PATTERN: &str = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?$";

/// A CIDR's syntax (IPv4 exact, IPv6 approximate); whether host bits are set is checked in code.
pub const CIDR_PATTERN: &str = r"^(((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/([0-9]|[12][0-9]|3[0-2])|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8]))$";
pub const IPV4_PATTERN: &str = r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$";
pub const SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
pub const HOSTNAME_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$";
pub const SERVICE_HOST_PATTERN: &str = r"^([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$";
/// A host inside a URL: letters, digits, `.`, `-`, or an IPv6 address in brackets.
pub const VAULT_URL_PATTERN: &str = r"^https://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]+)?/?$";
/// A vault URL on one of [`VAULT_SUFFIXES`]; then the vault's name must be valid.
pub const VAULT_SUFFIX_PATTERN: &str = r"\.(vault\.azure\.net|vault\.azure\.cn|vault\.usgovcloudapi\.net|vault\.microsoftazure\.de|privatelink\.vaultcore\.azure\.net)(:[0-9]+)?/?$";
pub const VAULT_NAMED_URL_PATTERN: &str = r"^https://[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]\.(vault\.azure\.net|vault\.azure\.cn|vault\.usgovcloudapi\.net|vault\.microsoftazure\.de|privatelink\.vaultcore\.azure\.net)(:[0-9]+)?/?$";
pub const ENDPOINT_URL_PATTERN: &str = r"^(https://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])|http://(localhost|127(\.[0-9]{1,3}){3}|\[[0:]*:1\]))(:[0-9]+)?([/?#][!-~]*)?$";
pub const OCI_REF_PATTERN: &str = r"^oci://[^/]+(/[^/]+)*/[^/:]+$";
pub const LABEL_KEY_PATTERN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
pub const SECRET_SOURCE_PATTERN: &str =
    r"^(generate|prompt|env:[A-Za-z_][A-Za-z0-9_]*|file:[\s\S]+)$";

/// The TLS modes of libpq that encrypt and are offered for the managed Postgres.
pub const SSL_MODES: &[&str] = &["require", "verify-ca", "verify-full"];

static LABEL: LazyLock<Regex> = LazyLock::new(|| re(LABEL_PATTERN));
static DNS1035: LazyLock<Regex> = LazyLock::new(|| re(DNS1035_PATTERN));
static AWS_REGION: LazyLock<Regex> = LazyLock::new(|| re(AWS_REGION_PATTERN));
static ROLE_ARN: LazyLock<Regex> = LazyLock::new(|| re(ROLE_ARN_PATTERN));
static GCP_PROJECT: LazyLock<Regex> = LazyLock::new(|| re(GCP_PROJECT_PATTERN));
static GCP_SA: LazyLock<Regex> = LazyLock::new(|| re(GCP_SA_PATTERN));
static GCP_LOCATION: LazyLock<Regex> = LazyLock::new(|| re(GCP_LOCATION_PATTERN));
static GUID: LazyLock<Regex> = LazyLock::new(|| re(GUID_PATTERN));
static SEMVER: LazyLock<Regex> = LazyLock::new(|| re(SEMVER_PATTERN));
static PG_IDENT: LazyLock<Regex> = LazyLock::new(|| re(PG_IDENT_PATTERN));
static ENV_VAR: LazyLock<Regex> = LazyLock::new(|| re(ENV_VAR_PATTERN));
static LABEL_NAME: LazyLock<Regex> = LazyLock::new(|| re(LABEL_NAME_PATTERN));
static LABEL_VALUE: LazyLock<Regex> = LazyLock::new(|| re(LABEL_VALUE_PATTERN));
static PREFIX: LazyLock<Regex> = LazyLock::new(|| re(PREFIX_PATTERN));
static VAULT_NAME: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$"));

/// Key Vault DNS suffixes of the public and sovereign clouds, and of private endpoints.
const VAULT_SUFFIXES: &[&str] = &[
    ".vault.azure.net",
    ".vault.azure.cn",
    ".vault.usgovcloudapi.net",
    ".vault.microsoftazure.de",
    ".privatelink.vaultcore.azure.net",
];

/// Characters no answer may hold: control characters (C0, DEL, C1: a newline would end a YAML
/// comment or a shell line, an escape sequence would drive the terminal) and the invisible
/// Unicode format characters that reorder or hide text (bidirectional overrides, zero-width),
/// and U+2028/U+2029, which YAML 1.1 parsers (kubectl's) read as line breaks.
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Refuses control and invisible format characters anywhere in a value; the reader applies
/// it to every text field and secret source before the field's own rule.
pub fn no_control_chars(value: &str) -> FieldVerdict {
    match value.chars().find(|c| is_forbidden_char(*c)) {
        Some(c) => fail(
            format!(
                "holds the control character U+{:04X}; answers are single-line printable text",
                c as u32
            ),
            "remove the character (a pasted newline, tab or escape sequence)",
        ),
        None => Ok(()),
    }
}

/// A URL's host: a DNS name or IPv4 address (letters, digits, `.`, `-`), or an IPv6 address
/// (written in brackets inside the URL).
fn url_host(host: &str) -> bool {
    host.parse::<std::net::Ipv6Addr>().is_ok()
        || (!host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            && !host.starts_with(['.', '-']))
}

/// What every URL rule checks first: printable ASCII (no space), a valid host.
fn url_syntax(value: &str, example: &str) -> FieldVerdict {
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return fail(
            format!(
                "`{}` holds a space, a control character or a non-ASCII character",
                value.escape_debug()
            ),
            format!("write the URL alone on one line, e.g. {example}"),
        );
    }
    if let Some((_, host, _, _)) = split_url(value)
        && !url_host(host)
    {
        return fail(
            format!("`{value}` has an invalid host `{host}`"),
            format!(
                "a host is letters, digits, '.' and '-', or an IPv6 address in brackets, e.g. {example}"
            ),
        );
    }
    Ok(())
}

/// A Kubernetes namespace or other DNS-1123 label (63 characters at most).
pub fn dns1123_label(value: &str) -> FieldVerdict {
    if value.len() > 63 {
        return fail(
            format!(
                "`{value}` is {} characters; a Kubernetes name allows 63",
                value.len()
            ),
            "use a shorter name",
        );
    }
    if !LABEL.is_match(value) {
        return fail(
            format!("`{value}` is not a valid Kubernetes name"),
            "use lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. caracal",
        );
    }
    Ok(())
}

/// A DNS-1123 subdomain: storage class, ingress class, issuer names.
pub fn dns1123_subdomain(value: &str) -> FieldVerdict {
    if value.is_empty() || value.len() > 253 {
        return fail(
            format!("`{value}` must be 1 to 253 characters"),
            "use a Kubernetes object name such as gp3",
        );
    }
    if value.split('.').any(|part| !LABEL.is_match(part)) {
        return fail(
            format!("`{value}` is not a valid Kubernetes object name"),
            "use lowercase letters, digits, '-' and '.', e.g. letsencrypt-prod",
        );
    }
    Ok(())
}

/// The longest release name for which every object of chart 1.0.0 keeps a valid name:
/// StatefulSet `<release>-caracal-gateway` must leave room for the 11-character
/// controller-revision hash inside a 63-character label value.
pub const MAX_RELEASE_LEN: usize = 36;

/// A helm release name that keeps every name the chart derives from it valid.
pub fn release_name(value: &str) -> FieldVerdict {
    if value.len() > MAX_RELEASE_LEN {
        return fail(
            format!(
                "`{value}` is {} characters; the chart derives names such as `{value}-caracal-gateway` that must stay within Kubernetes limits",
                value.len()
            ),
            format!("use at most {MAX_RELEASE_LEN} characters, e.g. caracal"),
        );
    }
    if !DNS1035.is_match(value) {
        return fail(
            format!("`{value}` is not a valid release name"),
            "use lowercase letters, digits and '-', starting with a letter, e.g. caracal",
        );
    }
    Ok(())
}

/// A public DNS hostname for an ingress (no wildcard, no scheme, no port).
pub fn hostname(value: &str) -> FieldVerdict {
    if value.contains("://") || value.contains('/') {
        return fail(
            format!("`{value}` is a URL, not a hostname"),
            "write the hostname alone, e.g. sts.example.com",
        );
    }
    if value.contains(':') {
        return fail(
            format!("`{value}` has a port"),
            "write the hostname alone; ingress serves HTTPS on 443",
        );
    }
    if value.starts_with('*') {
        return fail(
            format!("`{value}` is a wildcard"),
            "name one exact host per service, e.g. api.example.com",
        );
    }
    if value.parse::<IpAddr>().is_ok() {
        return fail(
            format!("`{value}` is an IP address"),
            "use a DNS name: certificates are issued for names",
        );
    }
    if value.len() > 253 || !value.contains('.') {
        return fail(
            format!("`{value}` is not a fully qualified hostname"),
            "use a full DNS name with a domain, e.g. sts.example.com",
        );
    }
    if value.split('.').any(|l| l.len() > 63 || !LABEL.is_match(l)) {
        return fail(
            format!("`{value}` is not a valid hostname"),
            "use lowercase letters, digits, '-' and '.', e.g. console.example.com",
        );
    }
    Ok(())
}

/// A database or cache host: a DNS name or an IP address (private endpoints often are IPs).
pub fn service_host(value: &str) -> FieldVerdict {
    if value.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    if value.contains("://") || value.contains('/') || value.contains(':') {
        return fail(
            format!("`{value}` is not a bare host"),
            "write the host alone (no scheme, port or path), e.g. db.example.internal",
        );
    }
    if value.len() > 253
        || value
            .split('.')
            .any(|l| l.len() > 63 || !LABEL.is_match(&l.to_ascii_lowercase()))
    {
        return fail(
            format!("`{value}` is not a valid host name"),
            "use a DNS name or an IP address, e.g. caracal.cluster-abc.us-east-1.rds.amazonaws.com",
        );
    }
    Ok(())
}

/// A CIDR in canonical form (no host bits set), as NetworkPolicy ipBlock expects.
pub fn cidr(value: &str) -> FieldVerdict {
    let Some((addr, prefix)) = value.split_once('/') else {
        return fail(
            format!("`{value}` has no prefix length"),
            format!("write it as a CIDR, e.g. {value}/32"),
        );
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        return fail(
            format!("`{value}` does not start with an IP address"),
            "write a CIDR such as 10.0.0.0/16",
        );
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    // Digits only: `parse` would also take `+16` and `016`, which no CIDR notation uses.
    let digits = !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && (prefix == "0" || !prefix.starts_with('0'));
    let prefix: u32 = match prefix.parse() {
        Ok(p) if digits && p <= max => p,
        _ => {
            return fail(
                format!("`{value}` has an invalid prefix length"),
                format!("use a prefix length from 0 to {max}"),
            );
        }
    };
    let canonical = match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            IpAddr::V6((bits & mask).into())
        }
    };
    if canonical != addr {
        return fail(
            format!("`{value}` has host bits set"),
            format!("did you mean {canonical}/{prefix}?"),
        );
    }
    Ok(())
}

pub fn aws_region(value: &str) -> FieldVerdict {
    if !AWS_REGION.is_match(value) {
        return fail(
            format!("`{value}` is not an AWS region"),
            "use a region code such as us-east-1 or eu-central-1",
        );
    }
    Ok(())
}

pub fn role_arn(value: &str) -> FieldVerdict {
    if !ROLE_ARN.is_match(value) {
        return fail(
            format!("`{value}` is not an IAM role ARN"),
            "use the ARN of the IRSA role, e.g. arn:aws:iam::123456789012:role/caracal",
        );
    }
    Ok(())
}

pub fn gcp_project(value: &str) -> FieldVerdict {
    if !GCP_PROJECT.is_match(value) {
        return fail(
            format!("`{value}` is not a GCP project id"),
            "use the project id (6-30 lowercase letters, digits, '-'), not its name or number, e.g. my-project",
        );
    }
    Ok(())
}

pub fn gcp_service_account(value: &str) -> FieldVerdict {
    if !GCP_SA.is_match(value) {
        return fail(
            format!("`{value}` is not a Google service-account email"),
            "use NAME@PROJECT.iam.gserviceaccount.com, e.g. caracal@my-project.iam.gserviceaccount.com",
        );
    }
    Ok(())
}

pub fn gcp_location(value: &str) -> FieldVerdict {
    if !GCP_LOCATION.is_match(value) {
        return fail(
            format!("`{value}` is not a GKE cluster location"),
            "use the cluster's region or zone, e.g. us-central1 or us-central1-a",
        );
    }
    Ok(())
}

pub fn gke_cluster_name(value: &str) -> FieldVerdict {
    if value.len() > 40 || !DNS1035.is_match(value) {
        return fail(
            format!("`{value}` is not a GKE cluster name"),
            "use the cluster name: up to 40 lowercase letters, digits and '-', starting with a letter",
        );
    }
    Ok(())
}

/// An Azure client id (a GUID).
pub fn guid(value: &str) -> FieldVerdict {
    if !GUID.is_match(value) {
        return fail(
            format!("`{value}` is not a GUID"),
            "use the client id of the managed identity, e.g. 00000000-0000-0000-0000-000000000000",
        );
    }
    Ok(())
}

/// Splits an absolute URL into (scheme, host, port) without pulling in a URL crate.
pub fn split_url(value: &str) -> Option<(&str, &str, Option<u16>, &str)> {
    let (scheme, rest) = value.split_once("://")?;
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
        let (h, after) = stripped.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        (h, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse().ok()?)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme, host, port, path))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A Key Vault URL: https only, the vault's root.
pub fn vault_url(value: &str) -> FieldVerdict {
    url_syntax(value, "https://caracal-prod.vault.azure.net")?;
    let Some((scheme, host, _port, path)) = split_url(value) else {
        return fail(
            format!("`{value}` is not a URL"),
            "use the vault URI from the portal, e.g. https://caracal-prod.vault.azure.net",
        );
    };
    if scheme != "https" {
        return fail(
            format!("`{value}` is not https"),
            "Key Vault is served over https only: use https://NAME.vault.azure.net",
        );
    }
    if !(path.is_empty() || path == "/") {
        return fail(
            format!("`{value}` has a path"),
            "use the vault's root URI, e.g. https://caracal-prod.vault.azure.net",
        );
    }
    let lower = host.to_ascii_lowercase();
    if let Some(suffix) = VAULT_SUFFIXES.iter().find(|s| lower.ends_with(*s)) {
        let name = &host[..host.len() - suffix.len()];
        if !VAULT_NAME.is_match(name) || name.contains("--") {
            return fail(
                format!("`{name}` is not a valid Key Vault name"),
                "vault names are 3-24 letters, digits and single dashes, starting with a letter",
            );
        }
    }
    Ok(())
}

/// An endpoint override (private endpoint, proxy): https, or http on the loopback interface.
pub fn endpoint_url(value: &str) -> FieldVerdict {
    url_syntax(value, "https://secretsmanager.vpce.example.internal")?;
    let Some((scheme, host, _port, _path)) = split_url(value) else {
        return fail(
            format!("`{value}` is not a URL"),
            "use the private endpoint's URL, e.g. https://secretsmanager.vpce.example.internal",
        );
    };
    match scheme {
        "https" => Ok(()),
        "http" if is_loopback(host) => Ok(()),
        "http" => fail(
            format!("`{value}` would send credentials over plain http"),
            "use https (plain http is accepted only on localhost)",
        ),
        _ => fail(
            format!("`{value}` has scheme `{scheme}`"),
            "use an https:// URL",
        ),
    }
}

/// A helm chart reference: `oci://registry/path/name`, `repo/name`, or a local directory.
pub fn chart_ref(value: &str) -> FieldVerdict {
    if value.trim().is_empty() {
        return fail(
            "the chart reference is empty",
            "use oci://ghcr.io/garudex-labs/charts/caracal or a local chart directory",
        );
    }
    // helm would read it as an option (`--post-renderer=...` runs a program).
    if value.starts_with('-') {
        return fail(
            format!("`{value}` starts with '-' and would be read as an option of helm"),
            "write a local directory as ./NAME or an absolute path",
        );
    }
    no_control_chars(value)?;
    if let Some(rest) = value.strip_prefix("oci://") {
        let mut parts = rest.split('/');
        let registry = parts.next().unwrap_or("");
        let path: Vec<&str> = parts.collect();
        if registry.is_empty() || path.is_empty() || path.iter().any(|p| p.is_empty()) {
            return fail(
                format!("`{value}` is not a complete OCI reference"),
                "use oci://REGISTRY/PATH/caracal, e.g. oci://ghcr.io/garudex-labs/charts/caracal",
            );
        }
        if path.last().is_some_and(|p| p.contains(':')) {
            return fail(
                format!("`{value}` carries a tag"),
                "put the version in chart.version, not in the reference",
            );
        }
        return Ok(());
    }
    if value.contains("://") {
        return fail(
            format!("`{value}` uses an unsupported scheme"),
            "use an oci:// reference, a repo/chart name, or a local directory",
        );
    }
    Ok(())
}

pub fn chart_version(value: &str) -> FieldVerdict {
    if !SEMVER.is_match(value) {
        return fail(
            format!("`{value}` is not a semantic version"),
            "use an exact chart version, e.g. 1.0.0",
        );
    }
    Ok(())
}

/// A Postgres identifier the chart writes unquoted (database and role names).
pub fn pg_identifier(value: &str) -> FieldVerdict {
    if !PG_IDENT.is_match(value) {
        return fail(
            format!("`{value}` is not a plain Postgres identifier"),
            "use letters, digits and '_', starting with a letter, 63 characters at most, e.g. caracal",
        );
    }
    Ok(())
}

pub fn env_var_name(value: &str) -> FieldVerdict {
    if !ENV_VAR.is_match(value) {
        return fail(
            format!("`{value}` is not an environment variable name"),
            "use letters, digits and '_', e.g. env:CARACAL_PG_PASSWORD",
        );
    }
    Ok(())
}

/// A Kubernetes label key, optionally with a DNS prefix (`app.kubernetes.io/name`).
pub fn label_key(value: &str) -> FieldVerdict {
    let (prefix, name) = match value.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, value),
    };
    if let Some(p) = prefix
        && dns1123_subdomain(p).is_err()
    {
        return fail(
            format!("`{value}` has an invalid prefix"),
            "use a DNS prefix such as app.kubernetes.io/name",
        );
    }
    if !LABEL_NAME.is_match(name) {
        return fail(
            format!("`{value}` is not a valid label key"),
            "use letters, digits, '-', '_' and '.', 63 characters at most",
        );
    }
    Ok(())
}

pub fn label_value(value: &str) -> FieldVerdict {
    if !LABEL_VALUE.is_match(value) {
        return fail(
            format!("`{value}` is not a valid label value"),
            "use up to 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
        );
    }
    Ok(())
}

pub fn ssl_mode(value: &str) -> FieldVerdict {
    if !SSL_MODES.contains(&value) {
        return fail(
            format!("`{value}` does not encrypt the connection"),
            "use require, verify-ca or verify-full",
        );
    }
    Ok(())
}

/// The prefix of remote secret names. `/` is not allowed: GCP ids and Key Vault names reject
/// it, and on AWS the wizard adds it itself.
pub fn remote_prefix(value: &str) -> FieldVerdict {
    if !PREFIX.is_match(value) {
        return fail(
            format!("`{value}` is not a valid secret-name prefix"),
            "use letters, digits and '-' (no '/' or '_': Key Vault rejects them), e.g. caracal",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn ok(check: fn(&str) -> FieldVerdict, values: &[&str]) {
        for v in values {
            assert!(check(v).is_ok(), "{v} should be accepted: {:?}", check(v));
        }
    }

    #[track_caller]
    fn bad(check: fn(&str) -> FieldVerdict, values: &[&str]) {
        for v in values {
            let (message, fix) = check(v).expect_err(v);
            assert!(!message.is_empty() && !fix.is_empty(), "{v}");
        }
    }

    #[test]
    fn labels_and_release_names() {
        ok(
            dns1123_label,
            &["caracal", "a", "caracal-prod-1", &"a".repeat(63)],
        );
        bad(
            dns1123_label,
            &["", "Caracal", "-x", "x-", "a_b", "a.b", &"a".repeat(64)],
        );
        ok(release_name, &["caracal", "c1", &"a".repeat(36)]);
        bad(
            release_name,
            &["1caracal", "Caracal", "a.b", "", &"a".repeat(37)],
        );
        ok(
            dns1123_subdomain,
            &["gp3", "webapprouting.kubernetes.azure.com"],
        );
        bad(dns1123_subdomain, &["", "Gp3", "a..b", "a_b"]);
    }

    #[test]
    fn hostnames() {
        ok(hostname, &["sts.example.com", "a-b.c.example.co.uk"]);
        bad(
            hostname,
            &[
                "https://sts.example.com",
                "sts.example.com:443",
                "*.example.com",
                "10.0.0.1",
                "localhost",
                "Sts.Example.com",
                "a_b.example.com",
                "sts.example.com/x",
            ],
        );
        ok(
            service_host,
            &[
                "db.example.internal",
                "10.20.0.3",
                "caracal-prod.postgres.database.azure.com",
                "::1",
            ],
        );
        bad(
            service_host,
            &["postgres://db", "db:5432", "db/x", "bad_host!.x"],
        );
    }

    #[test]
    fn cidrs() {
        ok(
            cidr,
            &["10.0.0.10/32", "10.20.0.0/16", "0.0.0.0/0", "fd00::/8"],
        );
        bad(
            cidr,
            &[
                "10.0.0.10",
                "10.0.0.1/16",
                "10.0.0.0/33",
                "x/8",
                "10.0.0.0/x",
                "10.0.0.0/+8",
                "10.0.0.0/08",
            ],
        );
        assert_eq!(
            cidr("10.0.0.1/16").unwrap_err().1,
            "did you mean 10.0.0.0/16?"
        );
    }

    #[test]
    fn aws_fields() {
        ok(
            aws_region,
            &[
                "us-east-1",
                "eu-central-2",
                "ap-southeast-4",
                "us-gov-west-1",
                "cn-north-1",
            ],
        );
        bad(
            aws_region,
            &["us-east", "US-EAST-1", "useast1", "us-east-1a"],
        );
        ok(
            role_arn,
            &[
                "arn:aws:iam::123456789012:role/caracal",
                "arn:aws-us-gov:iam::123456789012:role/path/to/caracal-runtime",
            ],
        );
        bad(
            role_arn,
            &[
                "arn:aws:iam::12345:role/x",
                "arn:aws:iam::123456789012:user/x",
                "caracal",
                "arn:aws:sts::123456789012:role/x",
            ],
        );
    }

    #[test]
    fn gcp_fields() {
        ok(gcp_project, &["my-project", "caracal-prod-123"]);
        bad(
            gcp_project,
            &[
                "My-Project",
                "proj",
                "1project",
                "project-",
                &"a".repeat(31),
            ],
        );
        ok(
            gcp_service_account,
            &["caracal@my-project.iam.gserviceaccount.com"],
        );
        bad(
            gcp_service_account,
            &[
                "caracal@gmail.com",
                "caracal",
                "ca@my-project.iam.gserviceaccount.com",
            ],
        );
        ok(gcp_location, &["us-central1", "europe-west4-b"]);
        bad(gcp_location, &["us central", "us-central"]);
        ok(gke_cluster_name, &["caracal-prod"]);
        bad(gke_cluster_name, &["Caracal", "1x", &"a".repeat(41)]);
    }

    #[test]
    fn azure_fields() {
        ok(
            vault_url,
            &[
                "https://caracal-prod.vault.azure.net",
                "https://caracal-prod.vault.azure.net/",
                "https://localhost:8443",
                "https://kv1.privatelink.vaultcore.azure.net",
            ],
        );
        bad(
            vault_url,
            &[
                "http://caracal-prod.vault.azure.net",
                "caracal-prod",
                "https://caracal-prod.vault.azure.net/secrets",
                "https://ab.vault.azure.net",
                "https://a--b.vault.azure.net",
            ],
        );
        ok(
            guid,
            &[
                "00000000-0000-0000-0000-000000000000",
                "6f1c3a2b-9d4e-4f5a-8b7c-0123456789AB",
            ],
        );
        bad(
            guid,
            &["0000", "not-a-guid", "00000000000000000000000000000000"],
        );
    }

    #[test]
    fn endpoints_and_charts() {
        ok(
            endpoint_url,
            &[
                "https://vpce.example.com",
                "http://127.0.0.1:4566",
                "http://localhost:9000",
                "http://[::1]:80",
            ],
        );
        bad(
            endpoint_url,
            &["http://example.com", "ftp://x", "127.0.0.1:80"],
        );
        ok(
            chart_ref,
            &[
                "oci://ghcr.io/garudex-labs/charts/caracal",
                "caracal/caracal",
                "./chart",
                "/abs/chart",
            ],
        );
        bad(
            chart_ref,
            &[
                "",
                "oci://ghcr.io",
                "oci://ghcr.io/charts/caracal:1.0.0",
                "https://x/y",
            ],
        );
        ok(chart_version, &["1.0.0", "1.0.0-rc.1", "v1.2.3"]);
        bad(chart_version, &["1.0", "latest", "01.0.0"]);
    }

    #[test]
    fn misc_names() {
        ok(pg_identifier, &["caracal", "caracal_auth", "_x"]);
        bad(pg_identifier, &["caracal-auth", "1db", "", "a b"]);
        ok(env_var_name, &["PG_PASSWORD", "_X1"]);
        bad(env_var_name, &["1X", "A-B", ""]);
        ok(label_key, &["app.kubernetes.io/name", "app"]);
        bad(label_key, &["app.kubernetes.io/", "/name", "a b"]);
        ok(label_value, &["ingress-nginx", ""]);
        bad(label_value, &["-x", "a b", &"a".repeat(64)]);
        ok(remote_prefix, &["caracal", "caracal-prod"]);
        bad(remote_prefix, &["caracal/", "caracal_prod", "", "-x"]);
    }
}
