//! Classified failures against a real registry: each asserts the message the operator sees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use crate::registry_support::images::standard_set;
use crate::registry_support::proxy::{Fault, HttpProxy};
use crate::registry_support::registry::{RegistryOptions, TestRegistry};
use crate::registry_support::{Recorder, client_for, config_for};
use ckf_airgap::registry::{
    Credentials, MemoryLedger, PushOptions, Pusher, RegistryClient, RegistryError, RegistryTarget,
};

/// The preflight's failure. It sends each request once, never through the retry policy, so it
/// fails in seconds rather than after minutes of back-off (no clock is read here: a loaded
/// machine would make any bound flaky).
async fn preflight_error(client: RegistryClient) -> RegistryError {
    client.preflight("team/app-one").await.unwrap_err()
}

#[tokio::test]
async fn wrong_password_is_unauthorized() {
    let reg = TestRegistry::start();
    let mut cfg = config_for(&reg, &reg.addr());
    cfg.credentials = Credentials::basic("tester", "not-the-password");
    let err = preflight_error(RegistryClient::new(cfg).unwrap()).await;
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&reg.addr()), "{msg}");
    assert!(msg.contains("\"tester\""), "{msg}");
    assert!(msg.contains("Check the user name and password"), "{msg}");

    let mut cfg = config_for(&reg, &reg.addr());
    cfg.credentials = Credentials::Anonymous;
    let msg = preflight_error(RegistryClient::new(cfg).unwrap())
        .await
        .to_string();
    assert!(msg.contains("anonymous"), "{msg}");
}

#[tokio::test]
async fn missing_ca_names_the_chain_and_the_options() {
    let reg = TestRegistry::start();
    let mut cfg = config_for(&reg, &reg.addr());
    cfg.tls.ca_file = None;
    let err = preflight_error(RegistryClient::new(cfg).unwrap()).await;
    assert!(
        matches!(err, RegistryError::CertNotTrusted { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("is not trusted"), "{msg}");
    assert!(msg.contains("CN=ca test CA"), "issuer named: {msg}");
    assert!(msg.contains("CN=server"), "subject named: {msg}");
    assert!(msg.contains("IP:127.0.0.1"), "SANs listed: {msg}");
    assert!(msg.contains("valid "), "dates shown: {msg}");
    assert!(msg.contains("CA file option"), "{msg}");
    assert!(
        msg.contains(&format!("certs.d>/{}/ca.crt", reg.addr())),
        "{msg}"
    );
}

#[tokio::test]
async fn certificate_for_another_name_is_a_name_mismatch() {
    let reg = TestRegistry::start_with(RegistryOptions {
        sans: Some("DNS:registry.example.internal".into()),
        ..RegistryOptions::default()
    });
    let err = preflight_error(client_for(&reg)).await;
    assert!(
        matches!(err, RegistryError::CertNameMismatch { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("not valid for the name 127.0.0.1"), "{msg}");
    assert!(msg.contains("DNS:registry.example.internal"), "{msg}");

    // And the other way round: a certificate for 127.0.0.1 only, reached as localhost.
    let reg = TestRegistry::start();
    let cfg = config_for(&reg, &format!("localhost:{}", reg.port));
    let err = preflight_error(RegistryClient::new(cfg).unwrap()).await;
    let msg = err.to_string();
    assert!(
        matches!(err, RegistryError::CertNameMismatch { .. }),
        "{err:?}"
    );
    assert!(msg.contains("not valid for the name localhost"), "{msg}");
    assert!(msg.contains("valid for IP:127.0.0.1"), "{msg}");
}

#[tokio::test]
async fn stopped_registry_is_connection_refused_for_preflight_and_push() {
    let reg = TestRegistry::start();
    reg.stop();
    let err = preflight_error(client_for(&reg)).await;
    assert!(
        matches!(err, RegistryError::ConnectionRefused { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("connection to {} refused", reg.addr())),
        "{msg}"
    );
    assert!(msg.contains("Check that the registry is running"), "{msg}");

    // The push retries (connection refused can be a restart) and then reports the same cause.
    let work = tempfile::tempdir().unwrap();
    let images = standard_set(work.path());
    let pusher = Pusher::new(
        client_for(&reg),
        PushOptions::default(),
        Arc::new(MemoryLedger::new()),
        Recorder::new(),
    );
    let failure = pusher.push(&images).await.unwrap_err();
    assert!(
        matches!(
            failure.first_error(),
            Some(RegistryError::ConnectionRefused { .. })
        ),
        "{failure:?}"
    );
    assert!(
        failure.to_string().contains("could not be pushed"),
        "{failure}"
    );
    assert!(pusher.stats().snapshot().retries >= 5);
}

#[tokio::test]
async fn plain_http_server_answering_a_tls_client() {
    let reg = TestRegistry::start_with(RegistryOptions {
        sans: None,
        ..RegistryOptions::default()
    });
    let mut cfg = config_for(&reg, &reg.addr());
    cfg.tls.plain_http = false;
    let err = preflight_error(RegistryClient::new(cfg).unwrap()).await;
    assert!(
        matches!(err, RegistryError::PlainHttpServer { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("answered in plain HTTP"), "{err}");

    // Choosing plain HTTP works, with a warning the wizard shows.
    let client = client_for(&reg);
    assert!(client.warnings()[0].contains("Juju and containerd will refuse"));
    client.preflight("team/app-one").await.unwrap();
}

#[tokio::test]
async fn unknown_host_is_a_dns_failure() {
    let cfg = ckf_airgap::registry::RegistryConfig::new(
        RegistryTarget::parse("no-such-registry.invalid:5000").unwrap(),
    );
    let err = preflight_error(RegistryClient::new(cfg).unwrap()).await;
    assert!(matches!(err, RegistryError::Dns { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot be resolved"), "{err}");
}

#[tokio::test]
async fn missing_project_and_missing_permission_fail_the_push_scope_check() {
    let reg = TestRegistry::start_with(RegistryOptions {
        sans: None,
        ..RegistryOptions::default()
    });
    let proxy = HttpProxy::start(
        reg.port,
        vec![
            Fault {
                method: "POST",
                path_contains: "/blobs/uploads/",
                status: 404,
                retry_after: None,
                body: r#"{"errors":[{"code":"NOT_FOUND","message":"project kubeflow not found"}]}"#,
                times: 1,
            },
            Fault {
                method: "POST",
                path_contains: "/blobs/uploads/",
                status: 403,
                retry_after: None,
                body: r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
                times: 1,
            },
        ],
    );
    let addr = format!("127.0.0.1:{}", proxy.port);
    let client = RegistryClient::new(config_for(&reg, &format!("{addr}/kubeflow"))).unwrap();
    let err = preflight_error(client.clone()).await;
    assert!(
        matches!(err, RegistryError::RepositoryNotFound { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("project kubeflow not found"), "{msg}");
    assert!(msg.contains("Create the project"), "{msg}");
    assert!(msg.contains("kubeflow/team/app-one"), "{msg}");

    let err = preflight_error(client).await;
    assert!(matches!(err, RegistryError::Forbidden { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("refused to let user \"tester\" push to kubeflow/team/app-one"),
        "{msg}"
    );
    assert!(msg.contains("Give the user push permission"), "{msg}");
}

#[tokio::test]
async fn corrupt_layer_is_refused_before_commit() {
    let reg = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let images = standard_set(work.path());
    // Flip a byte of the bin layer after its diff_id was computed: a damaged USB copy.
    let path = &images[0].layers[1].path;
    let mut bytes = std::fs::read(path).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
    let pusher = Pusher::new(
        client_for(&reg),
        PushOptions::default(),
        Arc::new(MemoryLedger::new()),
        Recorder::new(),
    );
    let failure = pusher.push(&images[..1]).await.unwrap_err();
    let err = failure.first_error().unwrap();
    assert!(matches!(err, RegistryError::LayerCorrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("re-copy the archive"), "{err}");
    assert_eq!(
        pusher.stats().snapshot().retries,
        0,
        "corruption is not retried"
    );
}
