//! The one YAML writer of the project (serde-saphyr), so every file looks the same.

use serde_json::Value;

/// Serializes a value as one YAML document.
pub fn to_string(value: &Value) -> String {
    // Long strings stay on one line: templates and commands are easier to review unfolded.
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    let mut text = serde_saphyr::to_string_with_options(value, options)
        .expect("a JSON value always serializes to YAML");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Serializes several values as a multi-document stream.
pub fn to_documents(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| format!("---\n{}", to_string(v)))
        .collect()
}

/// Parses a multi-document YAML stream (e.g. `helm template` output), skipping empty documents.
pub fn from_documents(text: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}
