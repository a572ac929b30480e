//! Drives the test-bed emulators with the real Rust SDKs, configured the way the product
//! must configure them (see ../README.md, "What the Rust SDKs need").
//!
//!   emulators-rust-smoke gcp-anon   # anonymous credentials, CARACAL_TESTBED_GCP_ENDPOINT
//!   emulators-rust-smoke gcp-key    # ADC from GOOGLE_APPLICATION_CREDENTIALS (self-signed JWT)
//!   emulators-rust-smoke azure      # ClientSecretCredential + SecretClient over TLS
use anyhow::{anyhow, Context, Result};
use futures::TryStreamExt;
use std::{collections::HashMap, env, sync::Arc};

fn crc32c(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xFFFF_FFFF;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    crc ^ 0xFFFF_FFFF
}

async fn gcp(endpoint: &str, creds: google_cloud_auth::credentials::Credentials, tag: &str) -> Result<()> {
    use google_cloud_gax::paginator::ItemPaginator as _;
    use google_cloud_secretmanager_v1::client::SecretManagerService;
    use google_cloud_secretmanager_v1::model::{replication::Automatic, secret_version::State, Replication, Secret, SecretPayload};

    let client = SecretManagerService::builder()
        .with_endpoint(endpoint)
        .with_credentials(creds)
        .build()
        .await?;
    let project = "projects/caracal-testbed";
    let id = format!("rust-{tag}");
    let secret = client
        .create_secret()
        .set_parent(project)
        .set_secret_id(&id)
        .set_secret(
            Secret::new()
                .set_replication(Replication::new().set_automatic(Automatic::new()))
                .set_labels([("app", "caracal")]),
        )
        .send()
        .await
        .context("create_secret")?;
    println!("gcp[{tag}] created {} labels={:?} create_time={:?}", secret.name, secret.labels, secret.create_time);
    let data = b"s3cr3t-VALUE-rust".to_vec();
    let v = client
        .add_secret_version()
        .set_parent(&secret.name)
        .set_payload(SecretPayload::new().set_data(data.clone()).set_data_crc32c(crc32c(&data) as i64))
        .send()
        .await
        .context("add_secret_version")?;
    println!("gcp[{tag}] version {} state={:?} checksum={}", v.name, v.state, v.client_specified_payload_checksum);
    anyhow::ensure!(v.state == State::Enabled, "state {:?}", v.state);
    let acc = client
        .access_secret_version()
        .set_name(format!("{}/versions/latest", secret.name))
        .send()
        .await
        .context("access")?;
    anyhow::ensure!(acc.payload.as_ref().unwrap().data.as_ref() == data.as_slice());
    anyhow::ensure!(acc.payload.as_ref().unwrap().data_crc32c == Some(crc32c(&data) as i64));
    println!("gcp[{tag}] access ok name={}", acc.name);

    // crc mismatch
    let err = client
        .add_secret_version()
        .set_parent(&secret.name)
        .set_payload(SecretPayload::new().set_data(data.clone()).set_data_crc32c(1))
        .send()
        .await
        .expect_err("crc mismatch must fail");
    println!("gcp[{tag}] crc mismatch -> {:?} / http {:?}", err.status().map(|s| s.code), err.http_status_code());

    for i in 0..3 {
        client.create_secret().set_parent(project).set_secret_id(format!("{id}-{i}"))
            .set_secret(Secret::new().set_replication(Replication::new().set_automatic(Automatic::new())))
            .send().await?;
    }
    let mut items = client.list_secrets().set_parent(project).set_page_size(2).set_filter(format!("name:{id}")).by_item();
    let mut n = 0;
    while let Some(s) = items.next().await.transpose()? {
        n += 1;
        let _ = s;
    }
    println!("gcp[{tag}] listed {n} (page size 2, filtered)");
    anyhow::ensure!(n == 4);

    let got = client.get_secret_version().set_name(&v.name).send().await?;
    anyhow::ensure!(got.state == State::Enabled);
    let dis = client.disable_secret_version().set_name(&v.name).send().await?;
    anyhow::ensure!(dis.state == State::Disabled, "{:?}", dis.state);
    let err = client.access_secret_version().set_name(&v.name).send().await.expect_err("disabled");
    println!("gcp[{tag}] access disabled -> {:?} {:?}", err.status().map(|s| s.code), err.status().map(|s| s.message.clone()));
    let des = client.destroy_secret_version().set_name(&v.name).send().await?;
    anyhow::ensure!(des.state == State::Destroyed && des.destroy_time.is_some());
    let mut vers = client.list_secret_versions().set_parent(&secret.name).by_item();
    while let Some(x) = vers.next().await.transpose()? {
        println!("gcp[{tag}] version listed {} {:?}", x.name, x.state);
    }
    let upd = client
        .update_secret()
        .set_secret(Secret::new().set_name(&secret.name).set_labels([("app", "other")]))
        .set_update_mask(google_cloud_wkt::FieldMask::default().set_paths(["labels"]))
        .send()
        .await
        .context("update")?;
    anyhow::ensure!(upd.labels.get("app").map(String::as_str) == Some("other"));
    let err = client.create_secret().set_parent(project).set_secret_id(&id)
        .set_secret(Secret::new().set_replication(Replication::new().set_automatic(Automatic::new())))
        .send().await.expect_err("dup");
    println!("gcp[{tag}] duplicate -> {:?}", err.status().map(|s| s.code));
    let err = client.create_secret().set_parent(project).set_secret_id("caracal/postgres")
        .set_secret(Secret::new().set_replication(Replication::new().set_automatic(Automatic::new())))
        .send().await.expect_err("slash");
    println!("gcp[{tag}] slash id -> {:?}", err.status().map(|s| s.code));
    client.delete_secret().set_name(&secret.name).send().await?;
    let err = client.get_secret().set_name(&secret.name).send().await.expect_err("gone");
    println!("gcp[{tag}] get deleted -> {:?} {:?}", err.status().map(|s| s.code), err.status().map(|s| s.message.clone()));
    Ok(())
}

fn http_err(err: &azure_core::Error) -> String {
    match err.kind() {
        azure_core::error::ErrorKind::HttpResponse { status, error_code, .. } => {
            format!("HTTP {} {}", u16::from(*status), error_code.as_deref().unwrap_or("-"))
        }
        other => format!("{other:?}"),
    }
}

async fn azure() -> Result<()> {
    use azure_core::http::{ClientOptions, Transport};
    use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
    use azure_security_keyvault_secrets::{
        models::{SecretClientGetSecretOptions, SetSecretParameters, UpdateSecretPropertiesParameters, SecretAttributes,
                 SecretClientListSecretPropertiesOptions},
        ResourceExt, SecretClient, SecretClientOptions,
    };

    let ca = std::fs::read(env::var("CARACAL_TESTBED_CA_BUNDLE")?)?;
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .build()?;
    let transport = Transport::new(Arc::new(http));
    let cred = ClientSecretCredential::new(
        &env::var("AZURE_TENANT_ID")?,
        env::var("AZURE_CLIENT_ID")?,
        env::var("AZURE_CLIENT_SECRET")?.into(),
        Some(ClientSecretCredentialOptions {
            client_options: ClientOptions { transport: Some(transport.clone()), ..Default::default() },
        }),
    )?;
    let vault = env::var("CARACAL_TESTBED_AZURE_VAULT_URL")?;
    let client = SecretClient::new(
        &vault,
        cred,
        Some(SecretClientOptions {
            client_options: ClientOptions { transport: Some(transport), ..Default::default() },
            verify_challenge_resource: Some(false),
            ..Default::default()
        }),
    )?;
    let params = SetSecretParameters {
        value: Some("s3cr3t-VALUE-rust-az".into()),
        tags: Some(HashMap::from([("managed-by".to_string(), "caracal-deploy".to_string())])),
        content_type: Some("text/plain".into()),
        ..Default::default()
    };
    let s = client.set_secret("rust-az", params.try_into()?, None).await.context("set_secret")?.into_model()?;
    let rid = s.resource_id()?;
    println!("azure set id={:?} rid={:?} attrs.created={:?}", s.id, rid, s.attributes.as_ref().and_then(|a| a.created));
    let got = client.get_secret("rust-az", None).await.context("get_secret")?.into_model()?;
    anyhow::ensure!(got.value.as_deref() == Some("s3cr3t-VALUE-rust-az"));
    let s2 = client.set_secret("rust-az", SetSecretParameters { value: Some("v2".into()), ..Default::default() }.try_into()?, None).await?.into_model()?;
    let old = client.get_secret("rust-az", Some(SecretClientGetSecretOptions { secret_version: rid.version.clone(), ..Default::default() })).await?.into_model()?;
    anyhow::ensure!(old.value.as_deref() == Some("s3cr3t-VALUE-rust-az"));
    println!("azure get by version ok, new version {:?}", s2.resource_id()?.version);
    for i in 0..27 {
        client.set_secret(&format!("rust-az-{i:02}"), SetSecretParameters { value: Some("x".into()), ..Default::default() }.try_into()?, None).await?;
    }
    let mut pager = client.list_secret_properties(None)?;
    let mut n = 0;
    while let Some(p) = pager.try_next().await? { n += 1; let _ = p.resource_id()?; }
    println!("azure listed {n}");
    anyhow::ensure!(n >= 28);
    let mut pager = client.list_secret_properties(Some(SecretClientListSecretPropertiesOptions { maxresults: Some(5), ..Default::default() }))?;
    let mut m = 0;
    while let Some(_p) = pager.try_next().await? { m += 1; }
    anyhow::ensure!(m == n, "{m} != {n}");
    let mut vp = client.list_secret_properties_versions("rust-az", None)?;
    let mut nv = 0;
    while let Some(_p) = vp.try_next().await? { nv += 1; }
    anyhow::ensure!(nv == 2);
    let upd = client.update_secret_properties("rust-az", UpdateSecretPropertiesParameters {
        secret_attributes: Some(SecretAttributes { enabled: Some(false), ..Default::default() }), ..Default::default() }.try_into()?, None).await?.into_model()?;
    println!("azure disabled: enabled={:?}", upd.attributes.as_ref().and_then(|a| a.enabled));
    let err = client.get_secret("rust-az", None).await.expect_err("disabled");
    println!("azure get disabled -> {}", http_err(&err));
    anyhow::ensure!(http_err(&err) == "HTTP 403 Forbidden");
    let err = client.get_secret("missing-one", None).await.expect_err("missing");
    println!("azure get missing -> {}", http_err(&err));
    anyhow::ensure!(http_err(&err) == "HTTP 404 SecretNotFound");
    let d = client.delete_secret("rust-az-00", None).await?.into_model()?;
    println!("azure deleted recovery_id={:?} purge={:?}", d.recovery_id, d.scheduled_purge_date);
    let err = client.set_secret("rust-az-00", SetSecretParameters { value: Some("x".into()), ..Default::default() }.try_into()?, None).await.expect_err("conflict");
    println!("azure set deleted -> {}", http_err(&err));
    anyhow::ensure!(http_err(&err) == "HTTP 409 Conflict");
    let mut dp = client.list_deleted_secret_properties(None)?;
    while let Some(p) = dp.try_next().await? { println!("azure deleted listed {:?}", p.id); }
    let gd = client.get_deleted_secret("rust-az-00", None).await?.into_model()?;
    anyhow::ensure!(gd.recovery_id.is_some());
    client.recover_deleted_secret("rust-az-00", None).await?;
    client.get_secret("rust-az-00", None).await?;
    client.delete_secret("rust-az-00", None).await?;
    client.purge_deleted_secret("rust-az-00", None).await?;
    println!("azure recover + purge ok");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let what = env::args().nth(1).unwrap_or_default();
    match what.as_str() {
        "gcp-anon" => {
            let creds = google_cloud_auth::credentials::anonymous::Builder::new().build();
            gcp(&env::var("CARACAL_TESTBED_GCP_ENDPOINT")?, creds, "anon").await
        }
        "gcp-key" => {
            // ADC: GOOGLE_APPLICATION_CREDENTIALS -> service-account key file
            let creds = google_cloud_auth::credentials::Builder::default().build()?;
            let ep = env::var("GCP_STRICT_ENDPOINT").or_else(|_| env::var("CARACAL_TESTBED_GCP_ENDPOINT"))?;
            gcp(&ep, creds, "key").await
        }
        "azure" => azure().await,
        _ => Err(anyhow!("usage: emulators-rust-smoke gcp-anon|gcp-key|azure")),
    }
}
