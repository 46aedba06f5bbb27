//! Answers files for the tests, built as an [`Answers`] value and serialised, so a test says
//! what it answers in the type the binary reads, never in hand-formatted TOML.
//!
//! Tests whose point is the file's own text (malformed TOML, unknown keys, a refused
//! `password` key, `validate-answers` output) write that text themselves.

use std::path::Path;

use ckf_airgap::answers::{
    Answers, ArtifactsAnswers, BundleAnswers, DeployAnswers, GatewayAnswers, RegistryAnswers,
};
use ckf_airgap::gateway_type::GatewayServiceType;

/// The answers as the file's TOML text.
pub fn to_text(answers: &Answers) -> String {
    toml::to_string(answers).unwrap()
}

/// Writes `answers` to `path` as an answers file.
pub fn write(path: &Path, answers: &Answers) {
    std::fs::write(path, to_text(answers)).unwrap();
}

/// Skips `step` (a step's id, or an item's key such as `check:dns-forward`) with `reason`.
pub fn skip(answers: &mut Answers, step: &str, reason: &str) {
    answers.skip.insert(step.into(), reason.into());
}

/// Skips each of `steps` with the same `reason`.
pub fn skip_all(answers: &mut Answers, steps: &[&str], reason: &str) {
    for step in steps {
        skip(answers, step, reason);
    }
}

/// `[artifacts]` reading these two archives.
pub fn artifacts(images: &Path, charms: &Path) -> ArtifactsAnswers {
    ArtifactsAnswers {
        images: Some(images.into()),
        charms: Some(charms.into()),
        ..ArtifactsAnswers::default()
    }
}

/// `[registry]` with only its target.
pub fn registry(target: impl Into<String>) -> RegistryAnswers {
    RegistryAnswers {
        target: target.into(),
        ..RegistryAnswers::default()
    }
}

/// `[registry]` with a username and the password read from `password_env`.
pub fn registry_login(
    target: impl Into<String>,
    username: &str,
    password_env: &str,
) -> RegistryAnswers {
    RegistryAnswers {
        username: Some(username.into()),
        password_env: Some(password_env.into()),
        ..registry(target)
    }
}

/// `[bundle]` naming the bundle file.
pub fn bundle(file: &Path) -> BundleAnswers {
    BundleAnswers {
        file: Some(file.into()),
        ..BundleAnswers::default()
    }
}

/// `[gateway] service_type = "NodePort"`.
pub fn node_port() -> GatewayAnswers {
    GatewayAnswers {
        service_type: GatewayServiceType::NodePort,
    }
}

/// `[deploy]` into `model`.
pub fn deploy(model: &str) -> DeployAnswers {
    DeployAnswers {
        model: Some(model.into()),
        ..DeployAnswers::default()
    }
}

/// `[registry]` of answers that have one.
pub fn registry_mut(answers: &mut Answers) -> &mut RegistryAnswers {
    answers
        .registry
        .as_mut()
        .expect("these answers have a [registry]")
}

/// Skips every step of the install but those in `run` (and the closing `done`), with `reason`:
/// a test names the steps it runs, not a list of the others to keep in step with the flow.
pub fn skip_all_but(answers: &mut Answers, run: &[&str], reason: &str) {
    for step in ckf_airgap::wizard::Flow::Install.steps() {
        let id = step.id();
        if id != "done" && !run.contains(&id) {
            skip(answers, id, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ckf_airgap::answers::ClusterAnswers;
    use ckf_airgap::ckf_release::CkfRelease;
    use ckf_airgap::wizard::state::{GatherChoice, UpgradeChoice};

    /// Every field of every section set to a value other than its default (`password` aside:
    /// it is never written, see below).
    fn fully_populated() -> Answers {
        let mut answers = Answers {
            artifacts: Some(ArtifactsAnswers {
                images: Some("/srv/images.tar.gz".into()),
                charms: Some("/srv/charms.tar.gz".into()),
                work_dir: Some("/srv/work".into()),
                retagged_images: Some("/srv/retagged-images.txt".into()),
                one_image_at_a_time: true,
                allowed_signers: Some("/srv/allowed_signers".into()),
            }),
            registry: Some(RegistryAnswers {
                target: "registry.example.com:5443/ckf".into(),
                username: Some("admin".into()),
                password: None,
                password_env: Some("CKF_PW".into()),
                password_file: Some("/run/secrets/pw".into()),
                docker_config: Some("default".into()),
                ca_file: Some("/srv/ca.crt".into()),
                certs_dir: Some("/etc/docker/certs.d".into()),
                client_cert: Some("/srv/client.crt".into()),
                client_key: Some("/srv/client.key".into()),
                insecure: true,
                plain_http: true,
                layer_compression: Some("zstd".into()),
                image_concurrency: Some(3),
                blob_concurrency: Some(5),
                gzip_level: Some(9),
                zstd_level: Some(12),
                upload: Some("chunked".into()),
                chunk_size_mib: Some(16),
                spool_before_push: true,
            }),
            bundle: Some(BundleAnswers {
                file: Some("/srv/bundle.yaml".into()),
                placeholder_registry: Some("172.17.0.2:5000".into()),
                output: Some("/srv/bundle.airgap.yaml".into()),
                pin_digests: true,
                write: true,
            }),
            mapping: [(
                "172.17.0.2:5000/istio/proxyv2:1.16.2".to_string(),
                "registry.example.com:5443/ckf/istio/proxyv2:1.16.2".to_string(),
            )]
            .into(),
            gateway: Some(GatewayAnswers {
                service_type: GatewayServiceType::LoadBalancer,
            }),
            deploy: Some(DeployAnswers {
                model: Some("kubeflow".into()),
                dry_run: true,
                ckf_release: Some(CkfRelease::V1_10),
                separate_plan: Some("ckf-1.7-edge".into()),
                run: true,
                watch_minutes: Some(7),
            }),
            cluster: Some(ClusterAnswers {
                containerd_certs_dir: Some("/srv/certs.d".into()),
                write_containerd_trust: true,
                registry_mirrors: Some(true),
                bootstrap: true,
            }),
            skip: Default::default(),
            gather: Some(GatherChoice {
                bundle: Some("/srv/release-bundle.yaml".into()),
                charms_dir: Some("/srv/charms".into()),
                image_lists: vec!["/srv/images.txt".into(), "/srv/more.txt".into()],
                charmhub_url: Some("http://127.0.0.1:8080".into()),
                juju_version: Some("3.6.4".into()),
                platform: Some("linux/arm64".into()),
                retag_registry: Some("10.0.0.1:5000".into()),
                output_dir: Some("/srv/carry".into()),
                ca_file: Some("/srv/upstream-ca.crt".into()),
                certs_dir: Some("/srv/upstream-certs.d".into()),
                record_kubeconfig: Some("/srv/staging.kubeconfig".into()),
                record_namespace: Some("kubeflow-staging".into()),
                mirrors: [("docker.io".to_string(), "mirror.lab:5000".to_string())].into(),
                plain_http: vec!["mirror.lab:5000".into()],
                accept_missing: true,
                upgrade_from: Some("/srv/installed/ckf-release.lock.json".into()),
                sign_key: Some("/srv/keys/id_ed25519".into()),
                max_volume_size: Some("4GiB".into()),
            }),
            upgrade: Some(UpgradeChoice {
                installed: Some("/srv/session/deployed-state.json".into()),
                run: true,
                remove_dropped: true,
                backups: Some(true),
                way_back: vec!["katib-controller".into()],
                from_model: true,
                installed_release: Some(CkfRelease::V1_10),
                new_controller: Some("ckf-36".into()),
                cloud: Some("microk8s".into()),
            }),
        };
        skip(&mut answers, "environment-checks", "checked by hand");
        skip(&mut answers, "check:dns-forward", "8.8.8.8 on purpose");
        skip(
            &mut answers,
            "need:katib-controller/option custom_images[suggestion__darts]",
            "mirrored by hand",
        );
        skip(
            &mut answers,
            "ref:172.17.0.2:5000/kubeflowkatib/katib-ui:v0.15.0",
            "served by the site mirror",
        );
        answers
    }

    /// What these helpers write, the binary reads back as the same answers: a field that did
    /// not survive the round trip would make a test answer something other than it says.
    #[test]
    fn a_fully_populated_answers_file_reads_back_equal_through_the_binarys_loader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("answers.toml");
        let answers = fully_populated();
        write(&path, &answers);
        let read = Answers::load(&path).unwrap();
        assert_eq!(read, answers, "{}", to_text(&answers));
    }

    /// `password` is the one field never serialised: a secret is never written to a file, so
    /// answers that hold one read back without it.
    #[test]
    fn a_password_is_never_written() {
        let mut answers = fully_populated();
        registry_mut(&mut answers).password = Some("in-clear-text".into());
        let text = to_text(&answers);
        assert!(!text.contains("in-clear-text"), "{text}");
        assert!(!text.contains("password ="), "{text}");
        let read = Answers::parse(&text).unwrap();
        assert_eq!(read, fully_populated());
    }
}
