//! `ckf-airgap demo`: the real wizard against a small synthetic release and a throwaway local
//! TLS registry, with the Juju step as a clearly labelled dry run that shows the exact commands.

mod local_registry;
pub mod real_release;

use std::path::{Path, PathBuf};

use color_eyre::eyre::{Context, Result};

use crate::synth::{ReleaseSpec, generate_release};

/// A small bundle over the synthetic release's images and charms; kubeflow-volumes is a PodSpec
/// charm, so the preview shows it moved out of the bundle.
pub const DEMO_BUNDLE: &str = "# ckf-airgap demo bundle: images and charms of the synthetic release
bundle: kubernetes
name: kubeflow
applications:
  dex-auth:
    charm: ./dex-auth_fa9f1c6.charm
    scale: 1
    trust: true
    resources:
      oci-image: 172.17.0.2:5000/kubeflownotebookswg/jupyter-web-app:v1.7.0
  istio-ingressgateway:
    charm: ./istio-gateway_9c0d866.charm
    scale: 1
    trust: true
    options:
      kind: ingress
      proxy-image: 172.17.0.2:5000/kubeflownotebookswg/tensorboards-web-app:v1.7.0
      gateway_service_type: NodePort
  kubeflow-volumes:
    charm: ./kubeflow-volumes_641d23c.charm
    scale: 1
    resources:
      oci-image: 172.17.0.2:5000/kubeflownotebookswg/volumes-web-app:v1.7.0
  training-operator:
    charm: ./training-operator_b483855.charm
    scale: 1
    trust: true
    resources:
      training-operator-image: 172.17.0.2:5000/kubeflownotebookswg/notebook-controller:v1.7.0
relations:
  - [dex-auth, kubeflow-volumes]
";

pub struct Demo {
    /// Where the demo's sessions live (never the operator's own).
    pub state_dir: PathBuf,
    pub answers: PathBuf,
    _registry: local_registry::LocalRegistry,
}

/// Builds the release, starts the registry and writes the answers file. `unattended` (a
/// headless demo) also gives the consent the preview would ask for.
pub fn prepare(dir: &Path, unattended: bool) -> Result<Demo> {
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    let release_dir = dir.join("release");
    eprintln!(
        "demo: building a synthetic release in {}",
        release_dir.display()
    );
    let release = generate_release(&ReleaseSpec::default(), &release_dir)
        .wrap_err("cannot build the synthetic release")?;
    let bundle = dir.join("bundle.yaml");
    std::fs::write(&bundle, DEMO_BUNDLE)?;
    let registry = local_registry::start(&dir.join("registry"))?;
    eprintln!("demo: throwaway registry at https://{}", registry.address);
    let answers = dir.join("answers.toml");
    let charms = release
        .charms_gz
        .clone()
        .unwrap_or_else(|| release_dir.join("charms.tar.gz"));
    std::fs::write(
        &answers,
        format!(
            "# Written by `ckf-airgap demo`.\n\
             [artifacts]\nimages = {:?}\ncharms = {:?}\n\n\
             [registry]\ntarget = \"{}/ckf\"\nusername = \"{}\"\npassword_file = {:?}\nca_file = {:?}\n\n\
             [bundle]\nfile = {:?}\n{}\n\
             [gateway]\nservice_type = \"NodePort\"\n\n\
             [deploy]\nmodel = \"kubeflow\"\nseparate_plan = \"none\"\ndry_run = true\n\n\
             [skip]\nenvironment-checks = \"demo: there is no cluster on this machine\"\n",
            release.images_gz,
            charms,
            registry.address,
            local_registry::USER,
            registry.password_file,
            registry.ca_file,
            bundle,
            if unattended { "write = true\n" } else { "" },
        ),
    )?;
    Ok(Demo {
        state_dir: dir.join("state"),
        answers,
        _registry: registry,
    })
}
