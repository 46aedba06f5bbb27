//! `export-answers`: a session's choices as an answers file, never with a secret in it.

use super::{
    Answers, ArtifactsAnswers, BundleAnswers, ClusterAnswers, DeployAnswers, GatewayAnswers,
    RegistryAnswers,
};
use crate::wizard::Choices;
use crate::wizard::state::PasswordSource;

/// Renders the choices as an answers file. A typed password becomes a note to supply one.
pub fn export(choices: &Choices, session_id: &str) -> String {
    let mut notes = Vec::new();
    let registry = choices.registry.as_ref().map(|r| {
        let docker_config = match &r.password_source {
            Some(PasswordSource::DockerConfig(None)) => Some("default".to_string()),
            Some(PasswordSource::DockerConfig(Some(p))) => Some(p.display().to_string()),
            _ => None,
        };
        let (password_env, password_file) = match &r.password_source {
            Some(PasswordSource::Env(var)) => (Some(var.clone()), None),
            Some(PasswordSource::File(file)) => (None, Some(file.clone())),
            Some(PasswordSource::DockerConfig(_)) => (None, None),
            Some(PasswordSource::Prompt) => {
                notes.push(
                    "# The registry password was typed during the session and is not written here.\n\
                     # For a headless run set registry.password_env or registry.password_file.",
                );
                (None, None)
            }
            None => (None, None),
        };
        RegistryAnswers {
            target: r.target.clone(),
            username: r.username.clone(),
            password: None,
            password_env,
            password_file,
            docker_config,
            ca_file: r.ca_file.clone(),
            certs_dir: r.certs_dir.clone(),
            client_cert: r.client_cert.clone(),
            client_key: r.client_key.clone(),
            insecure: r.insecure,
            plain_http: r.plain_http,
            layer_compression: if r.no_layer_compression {
                Some("none".to_string())
            } else if r.zstd_layers {
                Some("zstd".to_string())
            } else if r.gzip_layers {
                Some("gzip".to_string())
            } else {
                None
            },
            zstd_level: r.zstd_level,
            image_concurrency: r.image_concurrency,
            blob_concurrency: r.blob_concurrency,
            gzip_level: r.gzip_level,
            upload: r.chunked_upload.then(|| "chunked".to_string()),
            chunk_size_mib: r.chunk_size_mib,
            spool_before_push: r.spool_before_push,
        }
    });
    let artifacts = (choices.images_archive.is_some()
        || choices.charms_archive.is_some()
        || choices.work_dir.is_some())
    .then(|| ArtifactsAnswers {
        images: choices.images_archive.clone(),
        charms: choices.charms_archive.clone(),
        work_dir: choices.work_dir.clone(),
        retagged_images: choices.retagged_images.clone(),
        one_image_at_a_time: choices.one_image_at_a_time,
        allowed_signers: choices.allowed_signers.clone(),
    });
    let bundle = (choices.bundle.is_some()
        || choices.placeholder_registry.is_some()
        || choices.bundle_output.is_some())
    .then(|| BundleAnswers {
        file: choices.bundle.clone(),
        placeholder_registry: choices.placeholder_registry.clone(),
        output: choices.bundle_output.clone(),
        pin_digests: choices.pin_digests,
        write: choices.confirm_bundle_write,
    });
    let deploy = (choices.model.is_some()
        || choices.dry_run
        || choices.ckf_release.is_some()
        || choices.separate_plan.is_some()
        || choices.confirm_deploy
        || choices.watch_minutes.is_some())
    .then(|| DeployAnswers {
        model: choices.model.clone(),
        dry_run: choices.dry_run,
        ckf_release: choices.ckf_release,
        separate_plan: choices.separate_plan.clone(),
        run: choices.confirm_deploy,
        watch_minutes: choices.watch_minutes,
    });
    let cluster = (choices.containerd_certs_dir.is_some()
        || choices.write_containerd_trust
        || choices.registry_mirrors.is_some()
        || choices.bootstrap)
        .then(|| ClusterAnswers {
            containerd_certs_dir: choices.containerd_certs_dir.clone(),
            write_containerd_trust: choices.write_containerd_trust,
            registry_mirrors: choices.registry_mirrors,
            bootstrap: choices.bootstrap,
        });
    let answers = Answers {
        artifacts,
        registry,
        bundle,
        mapping: choices.mapping_overrides.clone(),
        gateway: choices
            .gateway
            .map(|service_type| GatewayAnswers { service_type }),
        deploy,
        cluster,
        skip: choices.skips.clone(),
        gather: choices.gather.clone(),
        upgrade: choices.upgrade.clone(),
    };
    let body =
        toml::to_string_pretty(&answers).unwrap_or_else(|e| format!("# cannot render: {e}\n"));
    let mut out = format!(
        "# ckf-airgap answers exported from session {session_id}.\n\
         # Run headless with: ckf-airgap --mode headless --answers <this file>\n"
    );
    for note in notes {
        out.push_str(note);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wizard::state::RegistryChoice;

    #[test]
    fn export_round_trips_through_the_parser_and_holds_no_password() {
        let choices = Choices {
            images_archive: Some("/srv/images.tar.gz".into()),
            registry: Some(RegistryChoice {
                target: "reg.example.com:5443/ckf".into(),
                username: Some("admin".into()),
                password_source: Some(PasswordSource::Prompt),
                ..RegistryChoice::default()
            }),
            ..Choices::default()
        };
        let text = export(&choices, "s1");
        assert!(text.contains("password was typed"));
        let parsed = Answers::parse(&text).unwrap();
        let back = parsed.to_choices();
        assert_eq!(back.images_archive, choices.images_archive);
        assert_eq!(back.registry.unwrap().target, "reg.example.com:5443/ckf");
    }
}
