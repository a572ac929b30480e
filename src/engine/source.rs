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
    /// A supplied value that the services would refuse or mangle; `why` never holds the value.
    #[error("{field}: the supplied value is refused: {why}")]
    Rejected {
        field: String,
        why: String,
        fix: String,
    },
}

impl SourceError {
    /// What the operator can do about it, when the error knows.
    pub fn fix(&self) -> Option<String> {
        match self {
            SourceError::EnvMissing { .. } => Some("export it, or change the source".into()),
            SourceError::NoTerminal { .. } => {
                Some("use env:VAR or file:PATH in the answers, or run in a terminal".into())
            }
            SourceError::Rejected { fix, .. } => Some(fix.clone()),
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
        SecretSource::Env(var) => match std::env::var(var).map(Zeroizing::new) {
            Ok(v) if !v.is_empty() => Ok(SecretString::from(v.as_str())),
            _ => Err(SourceError::EnvMissing {
                field: field.into(),
                var: var.clone(),
            }),
        },
        SecretSource::File(path) => {
            let failed = |message: String| SourceError::File {
                field: field.into(),
                path: path.display().to_string(),
                message,
            };
            let bytes = read_small_regular_file(path).map_err(failed)?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| failed("the file is not UTF-8 text".into()))?;
            let value = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(text);
            if value.is_empty() {
                return Err(SourceError::EmptyFile {
                    field: field.into(),
                    path: path.display().to_string(),
                });
            }
            Ok(SecretString::from(value))
        }
        SecretSource::Prompt => prompt(field).unwrap_or_else(|| {
            Err(SourceError::NoTerminal {
                field: field.into(),
            })
        }),
    }
}

/// The largest `file:` source read: a key, token or password is far smaller.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// The longest password accepted (bytes): far above any generated or sane one, and below
/// what the services and the secret managers take.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Reads a `file:` source: a regular file (symlinks to one are followed, as in mounted
/// Secrets) of at most [`MAX_FILE_BYTES`], into a buffer wiped on drop. A FIFO, a device or a
/// directory is refused without reading it (a FIFO opened non-blocking never stalls the run).
fn read_small_regular_file(path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>, String> {
    use std::io::Read;
    let not_regular = || "not a regular file (a FIFO, device or directory is refused)".to_string();
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| e.to_string())?;
    // Checked again on the open file: the path may have been swapped since.
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let too_big = || format!("larger than {} KiB", MAX_FILE_BYTES / 1024);
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    // Room for the whole file up front, so the buffer never moves (a move would leave an
    // unwiped copy behind).
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_FILE_BYTES as usize + 1));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

/// Checks a supplied key or token against the catalog's rule (length, alphabet); the value is
/// never part of the message.
fn check_key(secret: &CatalogSecret, field: &str, value: &str) -> Result<(), SourceError> {
    let reject = |why: String| SourceError::Rejected {
        field: field.into(),
        why,
        fix: match secret.value_rule() {
            Some(rule) if rule.hex => format!(
                "supply {} random bytes hex-encoded ({} characters, e.g. `openssl rand -hex {}`), or use generate",
                rule.bytes,
                rule.min_chars(),
                rule.bytes
            ),
            Some(rule) => format!(
                "supply at least {} printable characters without spaces (e.g. `openssl rand -hex {}`), or use generate",
                rule.min_chars(),
                rule.bytes
            ),
            None => "use generate".into(),
        },
    };
    if let Some(i) = value.chars().position(|c| !c.is_ascii_graphic()) {
        return Err(reject(format!(
            "character {} is a space, a control character or not ASCII",
            i + 1
        )));
    }
    if let Some(why) = secret.value_rule().and_then(|rule| rule.violation(value)) {
        return Err(reject(why));
    }
    Ok(())
}

/// Checks a supplied password: not empty, no control or invisible characters, not longer
/// than [`MAX_PASSWORD_BYTES`].
fn check_password(field: &str, value: &str) -> Result<(), SourceError> {
    let reject = |why: String| SourceError::Rejected {
        field: field.into(),
        why,
        fix: "supply a single-line password of printable characters, or use generate".into(),
    };
    if value.is_empty() {
        return Err(reject("it is empty".into()));
    }
    if let Some(i) = value
        .chars()
        .position(crate::core::validate::is_forbidden_char)
    {
        return Err(reject(format!(
            "character {} is a control or invisible character",
            i + 1
        )));
    }
    if value.len() > MAX_PASSWORD_BYTES {
        return Err(reject(format!(
            "{} bytes; at most {MAX_PASSWORD_BYTES} are accepted",
            value.len()
        )));
    }
    Ok(())
}

/// One non-secret field of a connection record as JSON: the ports and Redis's database
/// number are numbers, the rest strings.
pub fn record_field(record: &str, key: &str, text: String) -> Value {
    if key == "port" || (key == "database" && record == "redis") {
        text.parse::<u64>()
            .map(Value::from)
            .unwrap_or(Value::String(text))
    } else {
        Value::String(text)
    }
}

/// The value to write for one catalog secret. A supplied value (env:, file:, prompt) is
/// checked against the catalog's rule for its entry before it is returned.
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
            if *source != SecretSource::Generate {
                check_password(field, password.expose_secret())?;
            }
            let mut record = Map::new();
            for (k, v) in crate::core::seed::expected_fields(answers, &secret.name) {
                record.insert(k.to_string(), record_field(&secret.name, k, v));
            }
            record.insert(
                "password".into(),
                Value::String(password.expose_secret().to_string()),
            );
            // Serialized into a buffer sized for the worst case up front (every password byte
            // escaped), so it never moves and leaves no unwiped copy behind; wiped on drop.
            let capacity = 6 * password.expose_secret().len() + 1024;
            let mut text = Zeroizing::new(Vec::with_capacity(capacity));
            serde_json::to_writer(&mut *text, &record).expect("a map serializes");
            if let Some(Value::String(p)) = record.get_mut("password") {
                zeroize::Zeroize::zeroize(p);
            }
            let text = std::str::from_utf8(&text).expect("serde_json writes UTF-8");
            Ok(SecretString::from(text))
        }
        _ => {
            let field = format!("secrets.{}", secret.name);
            let source = answers.secret_source(&secret.name);
            let value = resolve(&field, &source, secret.generate_bytes(), prompt)?;
            if source != SecretSource::Generate {
                check_key(secret, &field, value.expose_secret())?;
            }
            Ok(value)
        }
    }
}
