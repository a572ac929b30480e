//! The canary: one real authorization through the installed Caracal, as the docs describe it
//! (`reference/caracal-docs/`: api-control-plane, api-sts, api-gateway, tutorials-protect-an-api).
//!
//! Through the Admin API it creates a zone, an application, a resource and a policy that
//! allows the application one scope on the resource, and activates it (a policy set, polled
//! until loaded); it exchanges the application's credential for a mandate at the STS
//! (`POST /oauth/2/token`, RFC 8693 form); it calls the Gateway with that mandate and
//! `X-Caracal-Resource`; and it reads the audit events of the Gateway's request id back through
//! the Admin API. Everything it created is deleted afterwards, whatever happened.
//!
//! The admin token and the application's client secret are held in zeroized buffers, never
//! logged, never put in a URL or an error.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::tls;

/// The step of a canary stopped by a cancel (after its cleanup).
pub const INTERRUPTED: &str = "interrupted";
/// The scope the canary's policy allows.
const SCOPE: &str = "canary:read";
const PER_REQUEST: Duration = Duration::from_secs(10);
/// How long a policy may take to load, and audit events to appear.
const SETTLE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(250);

/// Where the services are: the base URLs of the Admin API, the STS and the Gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub api: String,
    pub sts: String,
    pub gateway: String,
}

/// What a passed canary proved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    pub request_id: String,
    /// The audit events of that request: (event type, decision).
    pub events: Vec<(String, String)>,
    /// Objects the cleanup could not delete (named, so the operator can).
    pub left_behind: Vec<String>,
}

/// The step that failed, and what the service answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{step}: {message}")]
pub struct CanaryError {
    /// e.g. "Admin API: create the zone", "STS: token exchange", "Gateway: request".
    pub step: &'static str,
    /// The service's status and error code, or the transport's error.
    pub message: String,
    pub status: Option<u16>,
    /// The error code of the body (`access_denied`, `invalid_admin_token`…).
    pub code: String,
    pub request_id: Option<String>,
    pub left_behind: Vec<String>,
}

pub struct Canary {
    http: reqwest::Client,
    /// For the loopback ends of port-forwards: never through a proxy.
    local: reqwest::Client,
    endpoints: Endpoints,
    admin_token: Zeroizing<String>,
}

fn trim(base: &str) -> &str {
    base.trim_end_matches('/')
}

impl Canary {
    /// A canary with the platform's roots plus `extra_ca` (a PEM bundle: a private CA of the
    /// ingress certificates). Proxies come from HTTPS_PROXY / NO_PROXY.
    pub fn new(
        endpoints: Endpoints,
        admin_token: Zeroizing<String>,
        extra_ca: Option<&[u8]>,
    ) -> Result<Canary, String> {
        let builder = |ca: Option<&[u8]>| -> Result<reqwest::ClientBuilder, String> {
            let tls = tls::client_config(ca).map_err(|e| format!("the CA bundle: {e}"))?;
            Ok(reqwest::Client::builder()
                .connect_timeout(PER_REQUEST)
                .timeout(PER_REQUEST)
                .redirect(reqwest::redirect::Policy::none())
                .tls_backend_preconfigured(tls))
        };
        let local = builder(None)?
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        let http = builder(extra_ca)?
            .build()
            .map_err(|e| format!("cannot set up the HTTPS client: {e}"))?;
        Ok(Canary {
            http,
            local,
            endpoints,
            admin_token,
        })
    }

    /// The client for `url`: a port-forward's loopback end is reached directly, whatever
    /// HTTPS_PROXY / HTTP_PROXY say.
    fn client(&self, url: &str) -> &reqwest::Client {
        let loopback = reqwest::Url::parse(url)
            .ok()
            .and_then(|u| {
                u.host_str()?
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .ok()
            })
            .is_some_and(|ip| ip.is_loopback());
        if loopback { &self.local } else { &self.http }
    }

    fn fail(
        step: &'static str,
        status: Option<StatusCode>,
        body: &Value,
        rid: Option<String>,
    ) -> CanaryError {
        let code = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let description = body
            .get("error_description")
            .or_else(|| body.get("message"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let request_id = rid.or_else(|| {
            body.get("request_id")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let mut message = match status {
            Some(s) => format!("HTTP {}", s.as_u16()),
            None => "no answer".into(),
        };
        if !code.is_empty() {
            message.push_str(&format!(" {code}"));
        }
        if !description.is_empty() {
            message.push_str(&format!(": {description}"));
        }
        if let Some(r) = &request_id {
            message.push_str(&format!(" (request id {r})"));
        }
        CanaryError {
            step,
            message,
            status: status.map(|s| s.as_u16()),
            code,
            request_id,
            left_behind: Vec::new(),
        }
    }

    fn transport(step: &'static str, url: &str, e: &reqwest::Error) -> CanaryError {
        // The URL carries no secret (tokens go in headers or bodies only).
        let mut why = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            why.push_str(&format!(": {s}"));
            source = s.source();
        }
        CanaryError {
            step,
            message: format!("{url}: {why}"),
            status: None,
            code: String::new(),
            request_id: None,
            left_behind: Vec::new(),
        }
    }

    /// An Admin API call: JSON in and out, the admin token as bearer.
    async fn admin(
        &self,
        step: &'static str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CanaryError> {
        let url = format!("{}{path}", trim(&self.endpoints.api));
        let mut req = self
            .client(&url)
            .request(method, &url)
            .bearer_auth(self.admin_token.as_str());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .map_err(|e| Self::transport(step, &url, &e))?;
        let status = res.status();
        let rid = header(&res, "x-request-id");
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            Err(Self::fail(step, Some(status), &body, rid))
        }
    }

    /// Runs the canary; deletes what it created in every case, a cancel included (the flow
    /// stops, the cleanup still runs).
    pub async fn run(
        &self,
        upstream: &str,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Evidence, CanaryError> {
        let name = format!("caracal-deploy-canary-{}", hex::encode(rand_bytes()));
        let mut created: Vec<(String, &'static str)> = Vec::new();
        let outcome = tokio::select! {
            o = self.flow(&name, upstream, &mut created) => o,
            () = cancel.cancelled() => Err(CanaryError {
                step: INTERRUPTED,
                message: "interrupted".into(),
                status: None,
                code: String::new(),
                request_id: None,
                left_behind: Vec::new(),
            }),
        };
        let left_behind = self.cleanup(created).await;
        match outcome {
            Ok(mut ev) => {
                ev.left_behind = left_behind;
                Ok(ev)
            }
            Err(mut e) => {
                e.left_behind = left_behind;
                Err(e)
            }
        }
    }

    async fn flow(
        &self,
        name: &str,
        upstream: &str,
        created: &mut Vec<(String, &'static str)>,
    ) -> Result<Evidence, CanaryError> {
        let id = |v: &Value| {
            v.get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let zone = id(&self
            .admin(
                "Admin API: create the canary's zone",
                Method::POST,
                "/v1/zones",
                Some(json!({ "name": name })),
            )
            .await?);
        created.push((format!("/v1/zones/{zone}"), "zone"));
        let z = format!("/v1/zones/{zone}");
        let app = self
            .admin(
                "Admin API: create the canary's application",
                Method::POST,
                &format!("{z}/applications"),
                Some(json!({ "name": name })),
            )
            .await?;
        let app_id = id(&app);
        let client_secret = Zeroizing::new(
            app.get("client_secret")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        );
        drop(app);
        created.push((format!("{z}/applications/{app_id}"), "application"));
        let resource_identifier = format!("resource://{name}");
        let resource = id(&self
            .admin(
                "Admin API: create the canary's resource",
                Method::POST,
                &format!("{z}/resources"),
                Some(json!({ "name": name, "identifier": resource_identifier,
                             "scopes": [SCOPE], "upstream_url": upstream })),
            )
            .await?);
        created.push((format!("{z}/resources/{resource}"), "resource"));
        let content = json!({ "rules": [ { "application_id": app_id, "resource": resource_identifier, "scopes": [SCOPE] } ] });
        let policy = self
            .admin(
                "Admin API: create the canary's policy",
                Method::POST,
                &format!("{z}/policies"),
                Some(json!({ "name": name, "content": content.to_string() })),
            )
            .await?;
        let policy_id = id(&policy);
        let policy_version = policy
            .pointer("/version/id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        created.push((format!("{z}/policies/{policy_id}"), "policy"));
        let set = id(&self
            .admin(
                "Admin API: create the canary's policy set",
                Method::POST,
                &format!("{z}/policy-sets"),
                Some(json!({ "name": name })),
            )
            .await?);
        created.push((format!("{z}/policy-sets/{set}"), "policy set"));
        let version = id(&self
            .admin(
                "Admin API: version the policy set",
                Method::POST,
                &format!("{z}/policy-sets/{set}/versions"),
                Some(json!({ "policies": [ { "policy_version_id": policy_version } ] })),
            )
            .await?);
        self.admin(
            "Admin API: activate the policy set",
            Method::POST,
            &format!("{z}/policy-sets/{set}/activate"),
            Some(json!({ "version_id": version })),
        )
        .await?;
        self.until_loaded(&z, &set, &version).await?;

        let token = self
            .exchange(&zone, &app_id, &client_secret, &resource_identifier)
            .await?;
        drop(client_secret);
        let request_id = self.gateway(&token, &resource_identifier).await?;
        drop(token);
        let events = self.audit(&z, &request_id).await?;
        Ok(Evidence {
            request_id,
            events,
            left_behind: Vec::new(),
        })
    }

    /// Polls the policy set's activation until it has loaded (the Admin API offers no watch).
    async fn until_loaded(&self, z: &str, set: &str, version: &str) -> Result<(), CanaryError> {
        const STEP: &str = "Admin API: wait for the canary's policy to load";
        let deadline = tokio::time::Instant::now() + SETTLE;
        loop {
            let status = self
                .admin(
                    STEP,
                    Method::GET,
                    &format!("{z}/policy-sets/{set}/activation-status?version_id={version}"),
                    None,
                )
                .await?;
            match status.get("propagation_status").and_then(Value::as_str) {
                Some("loaded") => return Ok(()),
                Some("failed") => {
                    return Err(Self::fail(
                        STEP,
                        None,
                        &json!({ "error": "failed", "error_description": "the policy set's propagation failed" }),
                        None,
                    ));
                }
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(Self::fail(
                        STEP,
                        None,
                        &json!({ "error": "timeout", "error_description": format!("not loaded after {}s", SETTLE.as_secs()) }),
                        None,
                    ));
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// RFC 8693 token exchange at the STS: the application's credential for a mandate.
    async fn exchange(
        &self,
        zone: &str,
        app: &str,
        secret: &str,
        resource: &str,
    ) -> Result<Zeroizing<String>, CanaryError> {
        const STEP: &str = "STS: token exchange (POST /oauth/2/token)";
        let url = format!("{}/oauth/2/token", trim(&self.endpoints.sts));
        let form = [
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("zone_id", zone),
            ("application_id", app),
            ("client_secret", secret),
            ("resource", resource),
            ("scope", SCOPE),
        ];
        let res = self
            .client(&url)
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|e| Self::transport(STEP, &url, &e))?;
        let status = res.status();
        let rid = header(&res, "x-request-id");
        let mut body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(Self::fail(STEP, Some(status), &body, rid));
        }
        match body.get_mut("access_token").map(Value::take) {
            Some(Value::String(t)) if !t.is_empty() => Ok(Zeroizing::new(t)),
            _ => Err(Self::fail(
                STEP,
                Some(status),
                &json!({ "error": "no_token", "error_description": "the answer holds no access_token" }),
                rid,
            )),
        }
    }

    /// A Gateway request with the mandate; returns its request id.
    async fn gateway(&self, mandate: &str, resource: &str) -> Result<String, CanaryError> {
        const STEP: &str = "Gateway: request with the mandate";
        let url = format!("{}/caracal-deploy-canary", trim(&self.endpoints.gateway));
        let res = self
            .client(&url)
            .get(&url)
            .bearer_auth(mandate)
            .header("X-Caracal-Resource", resource)
            .send()
            .await
            .map_err(|e| Self::transport(STEP, &url, &e))?;
        let status = res.status();
        let rid = header(&res, "x-request-id");
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(Self::fail(STEP, Some(status), &body, rid));
        }
        rid.or_else(|| {
            body.get("request_id")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .ok_or_else(|| {
            Self::fail(
                STEP,
                Some(status),
                &json!({ "error": "no_request_id", "error_description": "the answer carries no X-Caracal request id" }),
                None,
            )
        })
    }

    /// The audit events of the Gateway's request, polled until its decision is there.
    async fn audit(&self, z: &str, rid: &str) -> Result<Vec<(String, String)>, CanaryError> {
        const STEP: &str = "Admin API: the audit events of the Gateway's request";
        let deadline = tokio::time::Instant::now() + SETTLE;
        loop {
            let body = self
                .admin(
                    STEP,
                    Method::GET,
                    &format!("{z}/audit/by-request/{rid}"),
                    None,
                )
                .await?;
            let events: Vec<(String, String)> = body
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|e| {
                    (
                        e.get("event_type")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        e.get("decision")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    )
                })
                .collect();
            if events
                .iter()
                .any(|(t, d)| t == "authorization_decision" && d == "allow")
            {
                return Ok(events);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Self::fail(
                    STEP,
                    None,
                    &json!({ "error": "not_audited", "error_description": format!(
                        "no allow decision recorded for the request after {}s ({} events)",
                        SETTLE.as_secs(), events.len()) }),
                    Some(rid.to_string()),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Deletes what the canary created, newest first; returns what could not be.
    async fn cleanup(&self, created: Vec<(String, &'static str)>) -> Vec<String> {
        let mut left = Vec::new();
        for (path, what) in created.into_iter().rev() {
            if let Err(e) = self
                .admin(
                    "Admin API: delete the canary's objects",
                    Method::DELETE,
                    &path,
                    None,
                )
                .await
                && e.status != Some(404)
            {
                left.push(format!("{what} {path} ({})", e.message));
            }
        }
        left
    }
}

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn rand_bytes() -> [u8; 3] {
    let mut b = [0u8; 3];
    getrandom::fill(&mut b).expect("the OS random source is available");
    b
}
