//! From valid answers, the complete bundle: manifests in apply order, the values file and
//! the helm command. Pure: the caller decides where (and whether) to write it.

use serde_json::Value;

use super::answers::{Answers, SecretManagerTarget};
use super::external_secret::{self, RUNTIME_SECRET};
use super::helm_command::{helm_install_args, script_command, shell_quote};
use super::manifests::{self, ESO_SERVICE_ACCOUNT};
use super::profiles::CloudProfile;
use super::validate;
use super::values;
use super::yaml;

/// One file of the bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleFile {
    pub name: &'static str,
    /// One line: what the file is.
    pub summary: String,
    pub content: String,
}

/// Everything `render` produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    pub files: Vec<BundleFile>,
    /// The objects of the manifest files, in apply order (for server-side apply).
    pub objects: Vec<Value>,
    /// The helm values, as a value (the same content as `values.yaml`).
    pub values: Value,
}

pub const VALUES_FILE: &str = "values.yaml";
pub const HELM_SCRIPT: &str = "helm-install.sh";
/// Names the file that marks a directory as a bundle this tool wrote (and may replace).
pub const MARKER_FILE: &str = ".caracal-deploy-bundle";

impl Bundle {
    pub fn file(&self, name: &str) -> Option<&BundleFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Names of the manifest files, in apply order.
    pub fn manifest_files(&self) -> Vec<&'static str> {
        self.files
            .iter()
            .map(|f| f.name)
            .filter(|n| n.ends_with(".yaml") && *n != VALUES_FILE)
            .collect()
    }

    /// The short index printed after writing: what each file is, then the order to apply it.
    pub fn index(&self, dir: &str, answers_path: &str) -> String {
        let width = self.files.iter().map(|f| f.name.len()).max().unwrap_or(0);
        let mut out = format!("Wrote {} files to {dir}:\n", self.files.len());
        for f in &self.files {
            out.push_str(&format!("  {:width$}  {}\n", f.name, f.summary));
        }
        let manifests: Vec<String> = self
            .manifest_files()
            .iter()
            .map(|m| format!("-f {m}"))
            .collect();
        let answers = shell_quote(answers_path);
        out.push_str(&format!(
            "\nApply in this order (from {dir}):\n  \
             1. caracal-deploy seed -f {answers}      # secrets into the secret manager\n  \
             2. kubectl apply --server-side {}\n  \
             3. kubectl -n {ns} wait externalsecret/{RUNTIME_SECRET} --for=condition=Ready --timeout=5m\n  \
             4. sh {HELM_SCRIPT}\n",
            manifests.join(" "),
            ns = shell_quote(self.namespace()),
        ));
        out
    }

    fn namespace(&self) -> &str {
        self.objects
            .first()
            .and_then(|o| o.pointer("/metadata/name"))
            .and_then(Value::as_str)
            .unwrap_or("caracal")
    }
}

fn describe_store(answers: &Answers) -> String {
    let profile = CloudProfile::get(answers.cloud);
    let location = match &answers.secret_manager.target {
        SecretManagerTarget::Aws { region } => region.clone(),
        SecretManagerTarget::Gcp { project } => format!("project {project}"),
        SecretManagerTarget::Azure { vault_url } => vault_url.clone(),
    };
    format!(
        "ClusterSecretStore {} ({}, {location})",
        manifests::store_name(answers),
        profile.secret_manager
    )
}

/// One line of text safe inside a `#` comment (of YAML or sh) and on a terminal: a line break
/// would end the comment and start an object or a command, so every control or invisible
/// format character is written as its `\u{..}` escape.
pub fn comment_text(text: &str) -> String {
    validate::escape_forbidden(text)
}

fn header(what: &str, answers: &Answers) -> String {
    comment_lines(&[
        what,
        &format!(
            "Rendered by caracal-deploy {} for release {} in namespace {} (chart caracal {}).",
            env!("CARGO_PKG_VERSION"),
            answers.release,
            answers.namespace,
            answers.chart.version
        ),
    ])
}

/// `# LINE\n` for each line, each made safe by [`comment_text`].
fn comment_lines(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| format!("# {}\n", comment_text(l)))
        .collect()
}

/// Renders the bundle. The answers are already valid, so rendering cannot fail.
pub fn render(answers: &Answers) -> Bundle {
    let objects = vec![
        manifests::namespace(answers),
        manifests::eso_service_account(answers),
        manifests::cluster_secret_store(answers),
        external_secret::external_secret(answers),
    ];
    let values = values::values(answers);
    let profile = CloudProfile::get(answers.cloud);
    let keys = external_secret::produced_keys(answers).len();
    // The summary is printed on the terminal and written into the header comment: one safe line.
    let manifest = |name: &'static str, what: String, obj: &Value| BundleFile {
        name,
        content: format!("{}{}", header(&what, answers), yaml::to_string(obj)),
        summary: comment_text(&what),
    };
    let mut files = vec![
        manifest(
            "01-namespace.yaml",
            format!("Namespace {}", answers.namespace),
            &objects[0],
        ),
        manifest(
            "02-eso-serviceaccount.yaml",
            format!(
                "ServiceAccount {}/{ESO_SERVICE_ACCOUNT} bound to {}",
                answers.namespace,
                answers.identity.annotation_value()
            ),
            &objects[1],
        ),
        manifest(
            "03-clustersecretstore.yaml",
            describe_store(answers),
            &objects[2],
        ),
        manifest(
            "04-externalsecret.yaml",
            format!(
                "ExternalSecret {}/{RUNTIME_SECRET} ({keys} keys of the runtime Secret)",
                answers.namespace
            ),
            &objects[3],
        ),
    ];
    files.push(BundleFile {
        name: VALUES_FILE,
        summary: format!(
            "helm values: stable mode, {} profile, no secret material",
            profile.display_name
        ),
        content: format!(
            "{}# No secret material: every credential comes from the Secret {RUNTIME_SECRET}.\n{}",
            header("Helm values of the Caracal release", answers),
            yaml::to_string(&values)
        ),
    });
    let args = helm_install_args(answers, VALUES_FILE);
    files.push(BundleFile {
        name: HELM_SCRIPT,
        summary: "helm upgrade --install of the chart (run after the ExternalSecret is synced)".into(),
        content: format!(
            "#!/bin/sh\n{}{}set -eu\ncd \"$(dirname \"$0\")\"\nexec {}\n",
            header("Step 3: install or upgrade the Caracal release", answers),
            comment_lines(&[&format!(
                "Run after `kubectl -n {} wait externalsecret/{RUNTIME_SECRET} --for=condition=Ready`.",
                answers.namespace
            )]),
            script_command("helm", &args)
        ),
    });
    Bundle {
        files,
        objects,
        values,
    }
}
