//! Deleting an earlier chart's secret names (`formerly`: `zone-kek` for `secret-store-kek`)
//! through the engine's `Request::DeleteEarlier`, on each cloud's emulator through the real
//! SDKs: deleted only when the current name holds the same value, recoverably where the service
//! can (AWS schedules the deletion, Key Vault soft-deletes), twice is the same as once, and a
//! deleted earlier name reads as gone while a deleted catalog name stays an error. Read back
//! through the adapter, a client independent of the engine's plan.

mod support;

use caracal_deploy::adapters::connect_secret_manager;
use caracal_deploy::core::answers::Answers;
use caracal_deploy::core::catalog::remote_name;
use caracal_deploy::core::secret_manager::{RemoteState, SecretManager, SecretManagerError};
use caracal_deploy::core::seed::{Action, KEK};
use caracal_deploy::engine::seed::EarlierOutcome;
use caracal_deploy::engine::{Engine, EngineError, Event, Request};
use secrecy::{ExposeSecret, SecretString};

/// The bed's answers for `cloud` under a prefix of this test's own (the emulators are shared).
fn answers(cloud: &str, tag: &str) -> Answers {
    let mut answers = support::bed_answers(cloud);
    answers.secret_manager.prefix = support::unique(&format!("e{tag}"));
    answers
}

/// A KEK as the catalog wants it: 32 random bytes, hex.
fn random_kek() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap();
    hex::encode(bytes)
}

/// The earlier and the current remote names of the KEK.
fn kek_names(answers: &Answers) -> (String, String) {
    let name = |n: &str| remote_name(answers.cloud, &answers.secret_manager.prefix, n);
    (name("zone-kek"), name(KEK))
}

/// Sends one request to a fresh engine and returns the event that ends it.
async fn run(request: Request) -> Event {
    let (engine, mut events) = Engine::new(tokio::runtime::Handle::current());
    engine.submit(request);
    while let Some(event) = events.recv().await {
        if matches!(
            event,
            Event::EarlierDeleted(_) | Event::SeedPlanned { .. } | Event::Failed(_)
        ) {
            return event;
        }
    }
    panic!("the engine stopped without an answer")
}

async fn delete_earlier(answers: &Answers) -> EarlierOutcome {
    match run(Request::DeleteEarlier {
        answers: Box::new(answers.clone()),
    })
    .await
    {
        Event::EarlierDeleted(outcome) => *outcome,
        other => panic!("{:?}: {other:?}", answers.cloud),
    }
}

async fn plan_seed(answers: &Answers) -> Event {
    run(Request::PlanSeed {
        answers: Box::new(answers.clone()),
        rotate: vec![],
    })
    .await
}

async fn value(sm: &dyn SecretManager, name: &str) -> Option<String> {
    match sm.read(name).await.unwrap() {
        RemoteState::Present(v) => Some(v.expose_secret().to_string()),
        _ => None,
    }
}

async fn create(sm: &dyn SecretManager, name: &str, value: &str) {
    sm.create(name, &SecretString::from(value), &Default::default())
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"));
}

/// A deleted name as the cloud keeps it: AWS schedules the deletion (reads are refused until
/// it is restored), Key Vault soft-deletes (likewise), GCP removes it.
async fn assert_deleted(cloud: &str, sm: &dyn SecretManager, name: &str) {
    let read = sm.read(name).await;
    match cloud {
        "aws" => assert!(
            matches!(&read, Err(SecretManagerError::ScheduledForDeletion { name: n, .. }) if n == name),
            "{name}: {read:?}"
        ),
        "azure" => assert!(
            matches!(&read, Err(SecretManagerError::SoftDeleted { name: n, .. }) if n == name),
            "{name}: {read:?}"
        ),
        _ => assert!(matches!(read, Ok(RemoteState::Missing)), "{name}: {read:?}"),
    }
}

async fn earlier_names_are_deleted_only_when_safe(cloud: &str) {
    let kek = random_kek();

    // The current name holds the same value: the earlier name is deleted, the current kept.
    let a = answers(cloud, "s");
    let (earlier, current) = kek_names(&a);
    let sm = connect_secret_manager(&a).await.unwrap();
    create(sm.as_ref(), &earlier, &kek).await;
    create(sm.as_ref(), &current, &kek).await;
    let outcome = delete_earlier(&a).await;
    assert_eq!(
        outcome,
        EarlierOutcome {
            deleted: vec![earlier.clone()],
            kept: vec![],
            failed: 0,
        },
        "{cloud}"
    );
    assert_deleted(cloud, sm.as_ref(), &earlier).await;
    assert_eq!(
        value(sm.as_ref(), &current).await.as_deref(),
        Some(kek.as_str())
    );
    assert_eq!(
        sm.version_count(&current).await.unwrap(),
        1,
        "{cloud}: untouched"
    );

    // Twice is the same as once: the engine finds nothing left to delete, the adapter's own
    // delete of a deleted or never-created name is Ok.
    let again = delete_earlier(&a).await;
    assert_eq!(again, EarlierOutcome::default(), "{cloud}");
    sm.delete(&earlier).await.unwrap();
    sm.delete(&format!("{current}-never-created"))
        .await
        .unwrap();
    assert_deleted(cloud, sm.as_ref(), &earlier).await;

    // Seeding reads the deleted earlier name as gone: the current name is kept.
    match plan_seed(&a).await {
        Event::SeedPlanned { plan, .. } => {
            let item = plan.items.iter().find(|i| i.secret.name == KEK).unwrap();
            assert_eq!(item.action, Action::Keep, "{cloud}");
            assert!(plan.earlier.is_empty(), "{cloud}: {:?}", plan.earlier);
        }
        other => panic!("{cloud}: {other:?}"),
    }
    // A catalog name in that state stays an error (it could not be created); GCP keeps no
    // deleted secret, so there the name is simply missing.
    sm.delete(&current).await.unwrap();
    match (cloud, plan_seed(&a).await) {
        ("aws", Event::Failed(EngineError::SecretManager(e))) => assert!(
            matches!(&e, SecretManagerError::ScheduledForDeletion { name, .. } if *name == current)
                && e.fix().is_some_and(|f| f.contains("restore-secret")),
            "{e:?}"
        ),
        ("azure", Event::Failed(EngineError::SecretManager(e))) => assert!(
            matches!(&e, SecretManagerError::SoftDeleted { name, .. } if *name == current),
            "{e:?}"
        ),
        ("gcp", Event::SeedPlanned { plan, .. }) => assert_eq!(
            plan.items
                .iter()
                .find(|i| i.secret.name == KEK)
                .unwrap()
                .action,
            Action::Create
        ),
        (cloud, other) => panic!("{cloud}: {other:?}"),
    }

    // Another value under the current name: nothing is deleted, the reason named.
    let a = answers(cloud, "d");
    let (earlier, current) = kek_names(&a);
    let sm = connect_secret_manager(&a).await.unwrap();
    create(sm.as_ref(), &earlier, &kek).await;
    create(sm.as_ref(), &current, &random_kek()).await;
    assert_eq!(
        delete_earlier(&a).await,
        EarlierOutcome {
            deleted: vec![],
            kept: vec![(
                earlier.clone(),
                "the current name holds a different value".into()
            )],
            failed: 0,
        },
        "{cloud}"
    );
    assert_eq!(
        value(sm.as_ref(), &earlier).await.as_deref(),
        Some(kek.as_str())
    );

    // No current name at all (an upgrade not run yet): kept.
    let a = answers(cloud, "m");
    let (earlier, _) = kek_names(&a);
    let sm = connect_secret_manager(&a).await.unwrap();
    create(sm.as_ref(), &earlier, &kek).await;
    assert_eq!(
        delete_earlier(&a).await.kept,
        [(earlier.clone(), "the current name is missing".to_string())],
        "{cloud}"
    );
    assert_eq!(
        value(sm.as_ref(), &earlier).await.as_deref(),
        Some(kek.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_earlier_names_are_deleted_only_when_safe() {
    earlier_names_are_deleted_only_when_safe("aws").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_earlier_names_are_deleted_only_when_safe() {
    earlier_names_are_deleted_only_when_safe("gcp").await;
    a_failed_delete_is_reported_for_its_name("gcp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_earlier_names_are_deleted_only_when_safe() {
    earlier_names_are_deleted_only_when_safe("azure").await;
}

/// A delete the service refuses is reported for its name, with the permission to grant, and
/// the request still ends with its outcome. Run after the GCP test above, in the same test:
/// the emulator's faults are emulator-wide, and only this binary deletes secrets.
async fn a_failed_delete_is_reported_for_its_name(cloud: &str) {
    let a = answers(cloud, "f");
    let (earlier, current) = kek_names(&a);
    let sm = connect_secret_manager(&a).await.unwrap();
    let kek = random_kek();
    create(sm.as_ref(), &earlier, &kek).await;
    create(sm.as_ref(), &current, &kek).await;
    let endpoint = support::verify_bed::env("CARACAL_TESTBED_GCP_ENDPOINT");
    let faults = |body: serde_json::Value| {
        let url = format!("{endpoint}/_emulator/faults");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "setting faults: {}", r.status());
        }
    };
    faults(serde_json::json!({ "deny": { "ops": ["delete"], "count": 1 } })).await;
    let outcome = delete_earlier(&a).await;
    faults(serde_json::json!({})).await;
    assert!(outcome.deleted.is_empty(), "{outcome:?}");
    assert_eq!(outcome.failed, 1, "{outcome:?}");
    let [(name, why)] = &outcome.kept[..] else {
        panic!("{outcome:?}")
    };
    assert_eq!(name, &earlier);
    assert!(
        why.starts_with("the delete failed: permission denied: ")
            && why.contains("secretmanager.secrets.delete")
            && why.contains("; fix: grant roles/secretmanager.admin"),
        "{why}"
    );
    assert_eq!(
        value(sm.as_ref(), &earlier).await.as_deref(),
        Some(kek.as_str())
    );
}
