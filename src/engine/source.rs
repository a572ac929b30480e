//! Where the values the operator provides come from: generated (OS CSPRNG), an environment
//! variable, a file, or a masked prompt; and the value written for each catalog secret.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::core::answers::{Answers, SecretSource};
use crate::core::catalog::CatalogSecret;

/// n random bytes from the OS CSPRNG, hex-encoded.
pub fn random_hex(n: usize) -> SecretString {
    let mut bytes = Zeroizing::new(vec![0u8; n]);
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    SecretString::from(hex::encode(bytes.as_slice()))
}

/// Where a value the operator provides could not be read. `Display` is the message; what to do
/// about it is [`SourceError::fix`].
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("{field}: environment variable {var} is not set")]
    EnvMissing { field: String, var: String },
    #[error("{field}: cannot read {path}: {message}")]
    File {
        field: String,
        path: String,
        message: String,
    },
    #[error("{field}: the file {path} is empty")]
    EmptyFile { field: String, path: String },
    #[error("{field}: `prompt` needs a terminal")]
    NoTerminal { field: String },
    #[error("{field}: the prompt was cancelled")]
    Cancelled { field: String },
}

impl SourceError {
    /// What the operator can do about it, when the error knows.
    pub fn fix(&self) -> Option<String> {
        match self {
            SourceError::EnvMissing { .. } => Some("export it, or change the source".into()),
            SourceError::NoTerminal { .. } => {
                Some("use env:VAR or file:PATH in the answers, or run in a terminal".into())
            }
            SourceError::File { .. }
            | SourceError::EmptyFile { .. }
            | SourceError::Cancelled { .. } => None,
        }
    }
}

/// Asks the operator for a value (masked); None when no terminal is available.
pub type Prompter = dyn Fn(&str) -> Option<Result<SecretString, SourceError>> + Send + Sync;

/// Reads one source into a secret value.
pub fn resolve(
    field: &str,
    source: &SecretSource,
    generate_bytes: usize,
    prompt: &Prompter,
) -> Result<SecretString, SourceError> {
    match source {
        SecretSource::Generate => Ok(random_hex(generate_bytes)),
        SecretSource::Env(var) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
            _ => Err(SourceError::EnvMissing {
                field: field.into(),
                var: var.clone(),
            }),
        },
        SecretSource::File(path) => {
            let text =
                Zeroizing::new(
                    std::fs::read_to_string(path).map_err(|e| SourceError::File {
                        field: field.into(),
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?,
                );
            let value = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text);
            if value.is_empty() {
                return Err(SourceError::EmptyFile {
                    field: field.into(),
                    path: path.display().to_string(),
                });
            }
            Ok(SecretString::from(value.to_string()))
        }
        SecretSource::Prompt => prompt(field).unwrap_or_else(|| {
            Err(SourceError::NoTerminal {
                field: field.into(),
            })
        }),
    }
}

/// The value to write for one catalog secret.
pub fn value_for(
    secret: &CatalogSecret,
    answers: &Answers,
    prompt: &Prompter,
) -> Result<SecretString, SourceError> {
    match secret.name.as_str() {
        "postgres" | "redis" => {
            let (field, source) = if secret.name == "postgres" {
                ("postgres.password", &answers.postgres.password)
            } else {
                ("redis.password", &answers.redis.password)
            };
            let password = resolve(field, source, secret.generate_bytes(), prompt)?;
            let mut record = Map::new();
            for (k, v) in crate::core::seed::expected_fields(answers, &secret.name) {
                let value = if k == "port" || (k == "database" && secret.name == "redis") {
                    v.parse::<u64>()
                        .map(Value::from)
                        .unwrap_or(Value::String(v))
                } else {
                    Value::String(v)
                };
                record.insert(k.to_string(), value);
            }
            record.insert(
                "password".into(),
                Value::String(password.expose_secret().to_string()),
            );
            let text = Zeroizing::new(serde_json::to_string(&record).expect("a map serializes"));
            if let Some(Value::String(p)) = record.get_mut("password") {
                zeroize::Zeroize::zeroize(p);
            }
            Ok(SecretString::from(text.as_str()))
        }
        _ => resolve(
            &format!("secrets.{}", secret.name),
            &answers.secret_source(&secret.name),
            secret.generate_bytes(),
            prompt,
        ),
    }
}
