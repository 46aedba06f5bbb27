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

/// The images of every container, init container and ephemeral container, in pod order.
pub fn parse(json: &str) -> Result<Vec<PodImage>, String> {
    Ok(parse_workloads(json)?
        .into_iter()
        .map(|w| PodImage {
            pod: w.name,
            container: w.container,
            image: w.image,
        })
        .collect())
}

/// One container image of a workload (a pod, or the pod template of a deployment, stateful
/// set, daemon set, job or cron job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkloadImage {
    /// `Deployment`, `Pod`, …
    pub kind: String,
    pub name: String,
    pub container: String,
    pub image: String,
}

impl WorkloadImage {
    /// `Deployment/kfp-api container ml-pipeline-api-server`, as the lock records it.
    pub fn seen_in(&self) -> String {
        format!("{}/{} container {}", self.kind, self.name, self.container)
    }
}

/// Every container, init container and ephemeral container image of every item of a
/// `kubectl get pods,deployments,… -o json` list, in item order.
pub fn parse_workloads(json: &str) -> Result<Vec<WorkloadImage>, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not a kubectl list: {e}"))?;
    let items = value["items"]
        .as_array()
        .ok_or("the kubectl list has no items")?;
    let mut out = Vec::new();
    for item in items {
        let kind = item["kind"].as_str().unwrap_or("Pod");
        let name = item["metadata"]["name"].as_str().unwrap_or("?");
        let spec = match kind {
            "Pod" => &item["spec"],
            "CronJob" => &item["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => &item["spec"]["template"]["spec"],
        };
        for key in ["initContainers", "containers", "ephemeralContainers"] {
            for c in spec[key].as_array().into_iter().flatten() {
                if let Some(image) = c["image"].as_str() {
                    out.push(WorkloadImage {
                        kind: kind.to_owned(),
                        name: name.to_owned(),
                        container: c["name"].as_str().unwrap_or("?").to_owned(),
                        image: image.to_owned(),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Every workload image in `namespace` of the cluster `kubeconfig` names.
pub async fn list_workloads(
    runner: &Runner,
    kubeconfig: &std::path::Path,
    namespace: &str,
) -> Result<Vec<WorkloadImage>, String> {
    let kubeconfig = kubeconfig.display().to_string();
    let cmd = Cmd::kubectl([
        "--kubeconfig",
        kubeconfig.as_str(),
        "get",
        "pods,deployments,statefulsets,daemonsets,jobs,cronjobs",
        "-n",
        namespace,
        "-o",
        "json",
    ])
    .quiet_stdout();
    let out = runner.capture(&cmd).await.map_err(|e| e.to_string())?;
    parse_workloads(&out.stdout)
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

    #[test]
    fn every_kind_of_workload_gives_its_containers_init_and_ephemeral_ones() {
        let json = r#"{"kind": "List", "items": [
            {"kind": "Pod", "metadata": {"name": "p"}, "spec": {
                "ephemeralContainers": [{"name": "debug", "image": "busybox:1.36"}]}},
            {"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {
                "initContainers": [{"name": "init", "image": "alpine:3.10"}],
                "containers": [{"name": "app", "image": "r.io/app:1"}]}}}},
            {"kind": "CronJob", "metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": {
                "template": {"spec": {"containers": [{"name": "job", "image": "r.io/job:2"}]}}}}}}
        ]}"#;
        let seen: Vec<String> = parse_workloads(json)
            .unwrap()
            .iter()
            .map(|w| format!("{} {}", w.seen_in(), w.image))
            .collect();
        assert_eq!(
            seen,
            [
                "Pod/p container debug busybox:1.36",
                "Deployment/d container init alpine:3.10",
                "Deployment/d container app r.io/app:1",
                "CronJob/c container job r.io/job:2",
            ]
        );
    }
}
