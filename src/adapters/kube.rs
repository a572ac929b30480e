//! The Kubernetes API: server-side apply of the bundle, reads, and plain-language errors.

use std::fmt;

use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Status;
use kube::discovery::{self, Scope};
use kube::{Client, Config};
use serde_json::Value;
use thiserror::Error;

/// The field manager of every object the wizard applies.
pub const FIELD_MANAGER: &str = "caracal-deploy";
/// The field manager of `Cluster::annotate` (the sync nudge of `apply`).
pub const NUDGE_MANAGER: &str = "caracal-deploy-nudge";

#[derive(Debug, Error)]
pub enum KubeError {
    #[error("kube config: {0}")]
    Config(String),
    #[error("cannot reach the API server of context {context}: {message}")]
    Unreachable { context: String, message: String },
    #[error("the API server rejected the credentials of context {context} (401){}", plugin_note(.plugin))]
    Unauthorized {
        context: String,
        plugin: Option<String>,
    },
    #[error("the credential plugin `{plugin}` of context {context} failed: {message}")]
    CredentialPlugin {
        context: String,
        plugin: String,
        message: String,
    },
    #[error(
        "the admission webhook {webhook} did not answer, so the API server refused {kind} {name}: {message}"
    )]
    WebhookNotReady {
        webhook: String,
        kind: String,
        name: String,
        message: String,
    },
    #[error("forbidden: {message}")]
    Forbidden { message: String },
    #[error("{kind} ({api_version}) is not served by this cluster: install its CRDs ({hint})")]
    CrdMissing {
        api_version: String,
        kind: String,
        hint: &'static str,
    },
    #[error("{kind} {name} was rejected: {message}")]
    Invalid {
        kind: String,
        name: String,
        message: String,
    },
    #[error("{kind} {name} has fields owned by another manager: {message}")]
    Conflict {
        kind: String,
        name: String,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

impl KubeError {
    /// What the operator can do about it, when the error knows.
    pub fn fix(&self) -> Option<String> {
        match self {
            KubeError::Config(_) => Some(
                "check KUBECONFIG and `kubeContext` in the answers (`kubectl config get-contexts`)"
                    .into(),
            ),
            KubeError::Unreachable { .. } => None,
            KubeError::Unauthorized { plugin, .. } => Some(match plugin {
                Some(p) => refresh_hint(p),
                None => "refresh them, e.g. `aws eks update-kubeconfig`, `gcloud container clusters get-credentials` or `az aks get-credentials`"
                    .into(),
            }),
            KubeError::CredentialPlugin { plugin, .. } => Some(refresh_hint(plugin)),
            KubeError::WebhookNotReady { webhook, .. } => Some(webhook_hint(webhook)),
            KubeError::Forbidden { .. } => Some(
                "grant your user this permission (RBAC), or use a context that has it".into(),
            ),
            KubeError::CrdMissing { hint, .. } => Some(format!("install {hint} and its CRDs")),
            KubeError::Invalid { .. } | KubeError::Other(_) => None,
            KubeError::Conflict { .. } => Some(
                "resolve the conflict (kubectl apply --server-side --force-conflicts takes them over)"
                    .into(),
            ),
        }
    }
}

fn plugin_note(plugin: &Option<String>) -> String {
    plugin
        .as_ref()
        .map(|p| format!("; its token comes from `{p}`"))
        .unwrap_or_default()
}

/// How to refresh the credentials a kubeconfig's exec plugin produces, by the plugin.
fn refresh_hint(plugin: &str) -> String {
    let program = plugin.split_whitespace().next().unwrap_or("");
    let program = program.rsplit('/').next().unwrap_or(program);
    match program {
        "aws" | "aws-iam-authenticator" => format!(
            "your AWS credentials are missing or expired: `aws sso login` (or refresh the keys of AWS_PROFILE), check with `aws sts get-caller-identity`, then `aws eks update-kubeconfig --name CLUSTER --region REGION`; `{plugin}` must then print a token"
        ),
        "gke-gcloud-auth-plugin" => "sign in again: `gcloud auth login`, then `gcloud container clusters get-credentials CLUSTER --location LOCATION`; if the plugin is missing: `gcloud components install gke-gcloud-auth-plugin`".into(),
        "kubelogin" => "sign in again: `az login`, then `az aks get-credentials --resource-group GROUP --name CLUSTER` and `kubelogin convert-kubeconfig -l azurecli`; if kubelogin is missing: `az aks install-cli`".into(),
        _ => format!("run `{plugin}` yourself to see why it fails, and refresh the credentials it uses"),
    }
}

/// What to look at when an operator's admission webhook does not answer.
fn webhook_hint(webhook: &str) -> String {
    let (operator, namespace) = if webhook.contains("external-secrets") {
        ("External Secrets Operator", "external-secrets")
    } else if webhook.contains("cert-manager") {
        ("cert-manager", "cert-manager")
    } else if webhook.contains("monitoring.coreos.com") || webhook.contains("prometheus") {
        ("the Prometheus Operator", "monitoring")
    } else {
        ("the operator that registered it", "NAMESPACE")
    };
    format!(
        "the webhook of {operator} is not running or not ready yet: `kubectl -n {namespace} get pods,endpoints`; wait until its pods are Ready (a fresh install takes a minute), then run this again"
    )
}

/// The words of an exec plugin that say what it is (`aws eks get-token`), without its
/// options and their values.
fn plugin_words(exec: &kube::config::ExecConfig) -> Option<String> {
    let command = exec.command.as_deref()?;
    let program = command.rsplit('/').next().unwrap_or(command);
    let words: Vec<&str> = std::iter::once(program)
        .chain(
            exec.args
                .iter()
                .flatten()
                .map(String::as_str)
                .take_while(|a| !a.starts_with('-')),
        )
        .collect();
    Some(words.join(" "))
}

/// A failure to get a token: the exec plugin could not start, failed, or printed nothing
/// usable. Only the plugin's standard error is shown (its output would be the token).
fn auth_error(context: &str, plugin: Option<&str>, e: &kube::client::AuthError) -> KubeError {
    use kube::client::AuthError;
    let plugin = plugin.unwrap_or("exec plugin").to_string();
    let message = match e {
        AuthError::AuthExecStart(io) if io.kind() == std::io::ErrorKind::NotFound => {
            format!("`{}` is not installed or not on PATH", first_word(&plugin))
        }
        AuthError::AuthExecRun { out, .. } => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
            let mut text = format!("exit status {}", out.status.code().unwrap_or(-1));
            if let Some(line) = last {
                text.push_str(": ");
                text.extend(line.trim().chars().take(300));
            }
            text
        }
        AuthError::AuthExecParse(_) | AuthError::ExecPluginFailed => {
            "it printed no usable ExecCredential".into()
        }
        other => other.to_string(),
    };
    KubeError::CredentialPlugin {
        context: context.to_string(),
        plugin,
        message,
    }
}

fn first_word(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or(text)
}

fn crd_hint(api_version: &str) -> &'static str {
    match api_version.split('/').next().unwrap_or("") {
        "external-secrets.io" => "External Secrets Operator",
        "cert-manager.io" => "cert-manager",
        "monitoring.coreos.com" => "Prometheus Operator",
        _ => "the operator that owns this API",
    }
}

/// A connection to one cluster, as a kube context names it.
#[derive(Clone)]
pub struct Cluster {
    /// The API server's URL, as the kubeconfig names it.
    server: String,
    client: Client,
    context: String,
    /// The exec credential plugin of the context's user (`aws eks get-token`), if any.
    plugin: Option<String>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("context", &self.context)
            .finish()
    }
}

/// A short reference to an object: `Kind namespace/name`.
pub fn describe(obj: &Value) -> (String, String) {
    let kind = obj["kind"].as_str().unwrap_or("?").to_string();
    let name = obj["metadata"]["name"].as_str().unwrap_or("?");
    let name = match obj["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    };
    (kind, name)
}

impl Cluster {
    /// Connects with the kubeconfig (KUBECONFIG or ~/.kube/config) and a context
    /// (None: the current one).
    pub async fn connect(context: Option<&str>) -> Result<Cluster, KubeError> {
        Cluster::connect_with(None, context).await
    }

    /// Like `connect`, with an explicit kubeconfig file (None: KUBECONFIG or ~/.kube/config).
    pub async fn connect_with(
        kubeconfig: Option<&std::path::Path>,
        context: Option<&str>,
    ) -> Result<Cluster, KubeError> {
        let kubeconfig = match kubeconfig {
            Some(path) => Kubeconfig::read_from(path),
            None => Kubeconfig::read(),
        }
        .map_err(|e| KubeError::Config(e.to_string()))?;
        let name = context
            .map(str::to_string)
            .or_else(|| kubeconfig.current_context.clone())
            .ok_or_else(|| KubeError::Config("no context given and no current context".into()))?;
        if !kubeconfig.contexts.iter().any(|c| c.name == name) {
            let known: Vec<&str> = kubeconfig
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            return Err(KubeError::Config(format!(
                "context `{name}` is not in the kubeconfig (known: {})",
                known.join(", ")
            )));
        }
        let plugin = kubeconfig
            .contexts
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.context.as_ref())
            .and_then(|c| c.user.as_deref())
            .and_then(|user| kubeconfig.auth_infos.iter().find(|a| a.name == user))
            .and_then(|a| a.auth_info.as_ref())
            .and_then(|a| a.exec.as_ref())
            .and_then(plugin_words);
        let options = KubeConfigOptions {
            context: Some(name.clone()),
            ..Default::default()
        };
        let config = Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| KubeError::Config(e.to_string()))?;
        let server = config.cluster_url.to_string();
        // An exec credential plugin runs here, for the first token.
        let client = Client::try_from(config).map_err(|e| match e {
            kube::Error::Auth(e) => auth_error(&name, plugin.as_deref(), &e),
            other => KubeError::Config(other.to_string()),
        })?;
        Ok(Cluster {
            server,
            client,
            context: name,
            plugin,
        })
    }

    pub fn context(&self) -> &str {
        &self.context
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The API server's URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Whether the current user may `verb` the resource (a SelfSubjectAccessReview).
    pub async fn can_i(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<bool, KubeError> {
        use k8s_openapi::api::authorization::v1::{
            ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
        };
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.into()),
                    group: Some(group.into()),
                    resource: Some(resource.into()),
                    namespace: namespace.map(str::to_string),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let answer = api
            .create(&kube::api::PostParams::default(), &review)
            .await
            .map_err(|e| self.map_error(e, "SelfSubjectAccessReview", resource, "create"))?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }

    /// Watches one object: every version the server reports, from now on, as JSON (a watch,
    /// never a polling loop). The stream ends on a watch error.
    pub async fn watch_one(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<futures::stream::BoxStream<'static, Result<Value, KubeError>>, KubeError> {
        use futures::StreamExt;
        use kube::runtime::watcher::{self, Event};
        let (api, _) = self.api_of(api_version, kind, namespace, name).await?;
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let context = self.context.clone();
        let stream = watcher::watcher(api, config)
            .filter_map(move |event| {
                let context = context.clone();
                async move {
                    match event {
                        Ok(Event::Apply(o) | Event::InitApply(o)) => Some(
                            serde_json::to_value(o).map_err(|e| KubeError::Other(e.to_string())),
                        ),
                        Ok(_) => None,
                        Err(e) => Some(Err(KubeError::Unreachable {
                            context,
                            message: format!("watch: {e}"),
                        })),
                    }
                }
            })
            .boxed();
        Ok(stream)
    }

    /// The API of a kind the server serves, in `namespace` (None: a cluster-scoped kind), found
    /// by discovery; `CrdMissing` when it is not served.
    pub async fn dynamic_api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Api<DynamicObject>, KubeError> {
        let probe = serde_json::json!({ "apiVersion": api_version, "kind": kind, "metadata": { "name": "probe" } });
        let (api, _, _) = self.api_for(&probe).await?;
        match namespace {
            // api_for gives the default namespace for a namespaced kind without one; ask again
            // with the namespace so the watch is scoped to it.
            Some(ns) => {
                let mut probe = probe;
                probe["metadata"]["namespace"] = ns.into();
                Ok(self.api_for(&probe).await?.0)
            }
            None => Ok(api),
        }
    }

    /// Whether the cluster serves a kind (its CRD is installed and established).
    pub async fn serves(&self, api_version: &str, kind: &str) -> Result<bool, KubeError> {
        let probe = serde_json::json!({ "apiVersion": api_version, "kind": kind, "metadata": { "name": "probe" } });
        match self.api_for(&probe).await {
            Ok(_) => Ok(true),
            Err(KubeError::CrdMissing { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The server's version, e.g. `v1.34.12`.
    pub async fn server_version(&self) -> Result<String, KubeError> {
        let info = self
            .client
            .apiserver_version()
            .await
            .map_err(|e| self.map_error(e, "?", "?", "?"))?;
        Ok(info.git_version)
    }

    async fn api_for(
        &self,
        obj: &Value,
    ) -> Result<(Api<DynamicObject>, String, String), KubeError> {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.clone()),
        };
        let gvk = GroupVersionKind::gvk(&group, &version, &kind);
        let (resource, caps) =
            discovery::pinned_kind(&self.client, &gvk)
                .await
                .map_err(|e| match e {
                    kube::Error::Discovery(_) => KubeError::CrdMissing {
                        hint: crd_hint(&api_version),
                        api_version: api_version.clone(),
                        kind: kind.clone(),
                    },
                    kube::Error::Api(ref s) if s.code == 404 => KubeError::CrdMissing {
                        hint: crd_hint(&api_version),
                        api_version: api_version.clone(),
                        kind: kind.clone(),
                    },
                    other => self.map_error(other, &kind, "", "discover"),
                })?;
        let api = match (caps.scope, obj["metadata"]["namespace"].as_str()) {
            (Scope::Namespaced, Some(ns)) => {
                Api::namespaced_with(self.client.clone(), ns, &resource)
            }
            (Scope::Namespaced, None) => {
                Api::default_namespaced_with(self.client.clone(), &resource)
            }
            (Scope::Cluster, _) => Api::all_with(self.client.clone(), &resource),
        };
        Ok((api, api_version, kind))
    }

    /// Server-side apply with strict field validation: an unknown or misspelled field is an
    /// error, never silently pruned. Returns the object as the server stored it.
    pub async fn apply(&self, obj: &Value, dry_run: bool) -> Result<Value, KubeError> {
        self.apply_with(obj, dry_run, false).await
    }

    /// The same; `take_over` also takes the fields another manager set (an upgrade of objects
    /// an operator applied by hand, after the diff was shown and confirmed).
    pub async fn apply_with(
        &self,
        obj: &Value,
        dry_run: bool,
        take_over: bool,
    ) -> Result<Value, KubeError> {
        let (api, _, kind) = self.api_for(obj).await?;
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut params = PatchParams::apply(FIELD_MANAGER).validation_strict();
        if dry_run {
            params = params.dry_run();
        }
        if take_over {
            params = params.force();
            if !dry_run {
                self.replace_foreign(&api, obj, &name, &kind).await?;
            }
        }
        let stored = api
            .patch(&name, &params, &Patch::Apply(obj))
            .await
            .map_err(|e| self.map_error(e, &kind, &describe(obj).1, "patch"))?;
        serde_json::to_value(stored).map_err(|e| KubeError::Other(e.to_string()))
    }

    /// An object another manager also set fields of (applied by hand) is first replaced by
    /// `obj` as a whole: a forced apply alone would take the fields `obj` sets and leave the
    /// others (e.g. a key an earlier ExternalSecret's template had) in place. The forced apply
    /// that follows then owns every field.
    async fn replace_foreign(
        &self,
        api: &Api<DynamicObject>,
        obj: &Value,
        name: &str,
        kind: &str,
    ) -> Result<(), KubeError> {
        let Some(current) = api
            .get_opt(name)
            .await
            .map_err(|e| self.map_error(e, kind, name, "get"))?
        else {
            return Ok(());
        };
        let foreign = current.metadata.managed_fields.iter().flatten().any(|m| {
            m.manager.as_deref() != Some(FIELD_MANAGER)
                && m.subresource.as_deref().unwrap_or_default().is_empty()
                && m.fields_v1
                    .as_ref()
                    .is_some_and(|f| f.0.to_string().contains("f:spec"))
        });
        if !foreign {
            return Ok(());
        }
        let mut desired: DynamicObject = serde_json::from_value(obj.clone())
            .map_err(|e| KubeError::Other(format!("{kind} {name}: {e}")))?;
        desired.metadata.resource_version = current.metadata.resource_version.clone();
        let params = kube::api::PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        api.replace(name, &params, &desired)
            .await
            .map_err(|e| self.map_error(e, kind, name, "replace"))?;
        tracing::info!(
            kind,
            name,
            "replaced an object another manager had set fields of"
        );
        Ok(())
    }

    /// Every object of a built-in kind in all namespaces that matches a label or field
    /// selector (empty: none).
    pub async fn list_all<K>(&self, labels: &str, fields: &str) -> Result<Vec<K>, KubeError>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::all(self.client.clone());
        let mut params = kube::api::ListParams::default();
        if !labels.is_empty() {
            params = params.labels(labels);
        }
        if !fields.is_empty() {
            params = params.fields(fields);
        }
        let kind = K::kind(&K::DynamicType::default()).to_string();
        api.list(&params)
            .await
            .map(|l| l.items)
            .map_err(|e| self.map_error(e, &kind, "(all namespaces)", "list"))
    }

    /// The API of one named object (`api_for` of an object with only its name), and its kind.
    async fn api_of(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(Api<DynamicObject>, String), KubeError> {
        let mut probe = serde_json::json!({ "apiVersion": api_version, "kind": kind, "metadata": { "name": name } });
        if let Some(ns) = namespace {
            probe["metadata"]["namespace"] = ns.into();
        }
        let (api, _, kind) = self.api_for(&probe).await?;
        Ok((api, kind))
    }

    /// Sets annotations on an object with a JSON merge patch, under a field manager of its
    /// own (`NUDGE_MANAGER`), so the fields `apply` owns stay its own.
    pub async fn annotate(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        annotations: &Value,
    ) -> Result<(), KubeError> {
        let (api, kind) = self.api_of(api_version, kind, namespace, name).await?;
        let patch = serde_json::json!({ "metadata": { "annotations": annotations } });
        let params = PatchParams {
            field_manager: Some(NUDGE_MANAGER.into()),
            ..Default::default()
        };
        api.patch(name, &params, &Patch::Merge(&patch))
            .await
            .map_err(|e| self.map_error(e, &kind, name, "patch"))?;
        Ok(())
    }

    /// Reads an object; None when it does not exist.
    pub async fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, KubeError> {
        let (api, kind) = self.api_of(api_version, kind, namespace, name).await?;
        match api.get_opt(name).await {
            Ok(Some(o)) => Ok(Some(
                serde_json::to_value(o).map_err(|e| KubeError::Other(e.to_string()))?,
            )),
            Ok(None) => Ok(None),
            Err(e) => Err(self.map_error(e, &kind, name, "get")),
        }
    }

    fn map_error(&self, e: kube::Error, kind: &str, name: &str, verb: &str) -> KubeError {
        match e {
            kube::Error::Api(status) => self.map_status(&status, kind, name, verb),
            kube::Error::HyperError(e) => KubeError::Unreachable {
                context: self.context.clone(),
                message: e.to_string(),
            },
            kube::Error::Auth(e) => auth_error(&self.context, self.plugin.as_deref(), &e),
            kube::Error::Service(e) => match e.downcast_ref::<kube::client::AuthError>() {
                Some(auth) => auth_error(&self.context, self.plugin.as_deref(), auth),
                None => KubeError::Unreachable {
                    context: self.context.clone(),
                    message: e.to_string(),
                },
            },
            other => KubeError::Other(other.to_string()),
        }
    }

    fn map_status(&self, status: &Status, kind: &str, name: &str, verb: &str) -> KubeError {
        let message = status.message.clone();
        match status.code {
            401 => KubeError::Unauthorized {
                context: self.context.clone(),
                plugin: self.plugin.clone(),
            },
            _ if message.contains("failed calling webhook") => KubeError::WebhookNotReady {
                webhook: message.split('"').nth(1).unwrap_or("(unnamed)").to_string(),
                kind: kind.into(),
                name: name.into(),
                message,
            },
            403 => KubeError::Forbidden {
                message: if message.is_empty() {
                    format!("cannot {verb} {kind} {name}")
                } else {
                    message
                },
            },
            409 => KubeError::Conflict {
                kind: kind.into(),
                name: name.into(),
                message,
            },
            400 | 422 => KubeError::Invalid {
                kind: kind.into(),
                name: name.into(),
                message,
            },
            // Server-side apply reports a field the schema does not declare as a 500
            // ("failed to create typed patch object"): it is still the object that is wrong.
            _ if message.contains("failed to create typed patch object") => KubeError::Invalid {
                kind: kind.into(),
                name: name.into(),
                message,
            },
            code => KubeError::Other(format!("{kind} {name}: {message} (HTTP {code})")),
        }
    }
}
