//! Every container image of every pod in a namespace (`kubectl get pods -o json`), to prove
//! that nothing in the model pulls from outside the private registry.

use serde::Serialize;

use super::cmd::Cmd;
use super::runner::Runner;
use crate::image_ref::ImageRef;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodImage {
    pub pod: String,
    pub container: String,
    pub image: String,
}

/// The images of every container and init container, in pod order.
pub fn parse(json: &str) -> Result<Vec<PodImage>, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not a pod list: {e}"))?;
    let items = value["items"]
        .as_array()
        .ok_or("the pod list has no items")?;
    let mut out = Vec::new();
    for pod in items {
        let name = pod["metadata"]["name"].as_str().unwrap_or("?").to_owned();
        for key in ["initContainers", "containers"] {
            for c in pod["spec"][key].as_array().into_iter().flatten() {
                if let Some(image) = c["image"].as_str() {
                    out.push(PodImage {
                        pod: name.clone(),
                        container: c["name"].as_str().unwrap_or("?").to_owned(),
                        image: image.to_owned(),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The pods' images in `namespace`.
pub async fn list(runner: &Runner, namespace: &str) -> Result<Vec<PodImage>, String> {
    let cmd = Cmd::kubectl(["get", "pods", "-n", namespace, "-o", "json"]).quiet_stdout();
    let out = runner.capture(&cmd).await.map_err(|e| e.to_string())?;
    parse(&out.stdout)
}

/// The images whose registry is not `registry` (`host[:port]`).
pub fn outside(images: &[PodImage], registry: &str) -> Vec<PodImage> {
    images
        .iter()
        .filter(|p| ImageRef::split(&p.image).registry.as_deref() != Some(registry))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_of_containers_and_init_containers_outside_the_registry() {
        let json = r#"{"items": [
            {"metadata": {"name": "kfp-api-0"}, "spec": {
                "initContainers": [{"name": "charm-init", "image": "reg.lab:5000/ckf/jujusolutions/jujud-operator:3.6.4"}],
                "containers": [{"name": "ml-pipeline-api-server", "image": "reg.lab:5000/ckf/charmedkubeflow/api-server:2.15.0"}]}},
            {"metadata": {"name": "ml-pipeline-visualizationserver-0"}, "spec": {
                "containers": [{"name": "server", "image": "docker.io/charmedkubeflow/visualization-server:2.15.0"}]}}
        ]}"#;
        let images = parse(json).unwrap();
        assert_eq!(images.len(), 3);
        let foreign = outside(&images, "reg.lab:5000");
        assert_eq!(foreign.len(), 1);
        assert_eq!(foreign[0].pod, "ml-pipeline-visualizationserver-0");
        assert!(parse("not json").is_err());
    }
}
