//! The rendered bundle against a real kube-apiserver with the real CRDs (the test bed).

mod support;

use caracal_deploy::adapters::kube::{Cluster, KubeError};
use caracal_deploy::core::render::render;
use serde_json::json;
use support::{CLOUDS, assert_subset, bed_answers};

async fn cluster(context: Option<&str>) -> Cluster {
    Cluster::connect(context)
        .await
        .unwrap_or_else(|e| panic!("test bed cluster: {e}"))
}

#[tokio::test]
async fn each_clouds_bundle_is_accepted_by_the_real_schemas() {
    for cloud in CLOUDS {
        let answers = bed_answers(cloud);
        let c = cluster(answers.kube_context.as_deref()).await;
        let bundle = render(&answers);
        for obj in &bundle.objects {
            // Dry run first, as `apply --dry-run` will, then for real; both strict.
            c.apply(obj, true)
                .await
                .unwrap_or_else(|e| panic!("{cloud}: dry run: {e}"));
            let stored = c
                .apply(obj, false)
                .await
                .unwrap_or_else(|e| panic!("{cloud}: {e}"));
            // Strict validation and no pruning: everything sent is stored as sent.
            assert_subset(
                &obj["spec"],
                &stored["spec"],
                &format!("{cloud}:{}.spec", obj["kind"]),
            );
            assert_subset(
                &obj["metadata"]["labels"],
                &stored["metadata"]["labels"],
                "labels",
            );
            assert_subset(
                &obj["metadata"]["annotations"],
                &stored["metadata"]["annotations"],
                "annotations",
            );
        }
        // Applying again changes nothing (server-side apply is idempotent for one manager).
        for obj in &bundle.objects {
            let before = c
                .get(
                    obj["apiVersion"].as_str().unwrap(),
                    obj["kind"].as_str().unwrap(),
                    obj["metadata"]["namespace"].as_str(),
                    obj["metadata"]["name"].as_str().unwrap(),
                )
                .await
                .unwrap()
                .unwrap();
            let after = c.apply(obj, false).await.unwrap();
            // The generation moves only when the spec changes (controllers may update status).
            assert_eq!(
                before["metadata"]["generation"], after["metadata"]["generation"],
                "{cloud}: re-apply changed the spec of {}",
                obj["kind"]
            );
        }
    }
}

#[tokio::test]
async fn a_deliberately_invalid_field_is_rejected_with_its_name() {
    let answers = bed_answers("aws");
    let c = cluster(answers.kube_context.as_deref()).await;
    let bundle = render(&answers);
    // The namespace exists, so only the field can be what is wrong.
    c.apply(&bundle.objects[0], false).await.unwrap();
    let mut es = bundle.objects[3].clone();
    es["metadata"]["name"] = "caracal-invalid-test".into();
    es["spec"]["target"]["name"] = "caracal-invalid-test".into();
    es["spec"]["target"]["creationPolicy"] = "Sometimes".into();
    match c.apply(&es, true).await {
        Err(KubeError::Invalid { message, .. }) => {
            assert!(message.contains("creationPolicy"), "{message}");
        }
        other => panic!("an invalid enum value must be rejected, got {other:?}"),
    }
    // A misspelled field is an error under strict validation, never silently pruned.
    let mut es = bundle.objects[3].clone();
    es["metadata"]["name"] = "caracal-invalid-test".into();
    es["spec"]["secretStoreRef"]["nmae"] = "typo".into();
    match c.apply(&es, true).await {
        Err(KubeError::Invalid { message, .. }) => assert!(message.contains("nmae"), "{message}"),
        other => panic!("an unknown field must be rejected, got {other:?}"),
    }
    // A store without its required provider fields.
    let mut store = bundle.objects[2].clone();
    store["metadata"]["name"] = "caracal-invalid-store".into();
    store["spec"]["provider"]["aws"]
        .as_object_mut()
        .unwrap()
        .remove("region");
    assert!(matches!(
        c.apply(&store, true).await,
        Err(KubeError::Invalid { .. })
    ));
}

#[tokio::test]
async fn a_missing_crd_and_a_wrong_context_are_named() {
    let answers = bed_answers("aws");
    let c = cluster(answers.kube_context.as_deref()).await;
    let obj = json!({ "apiVersion": "example.caracal.test/v1", "kind": "Widget", "metadata": { "name": "w" } });
    match c.apply(&obj, true).await {
        Err(e @ KubeError::CrdMissing { .. }) => assert!(e.to_string().contains("Widget")),
        other => panic!("expected CrdMissing, got {other:?}"),
    }
    let version = c.server_version().await.unwrap();
    assert!(
        version.starts_with("v1.3"),
        "the bed reports a real version, got {version}"
    );
    match Cluster::connect(Some("no-such-context")).await {
        Err(e @ KubeError::Config(_)) => assert!(e.to_string().contains("no-such-context"), "{e}"),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_user_without_rights_gets_forbidden_with_the_fix() {
    let answers = bed_answers("aws");
    let testbed = support::repo().join("scripts/testbed");
    let out = std::process::Command::new(&testbed)
        .args(["kubeconfig", "carol-readonly", "caracal-tests"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "minting a kubeconfig: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let c = Cluster::connect_with(
        Some(std::path::Path::new(&path)),
        answers.kube_context.as_deref(),
    )
    .await
    .unwrap();
    let bundle = render(&answers);
    match c.apply(&bundle.objects[0], true).await {
        Err(e @ KubeError::Forbidden { .. }) => {
            let text = e.to_string();
            assert!(text.contains("carol-readonly"), "the user is named: {text}");
            assert!(text.contains("namespaces"), "the resource is named: {text}");
            let fix = e.fix().unwrap_or_default();
            assert!(fix.contains("RBAC"), "the fix is given: {fix}");
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
}
