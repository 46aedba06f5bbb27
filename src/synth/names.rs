//! Image names as they appear (retagged to the placeholder registry) in the
//! real CKF air-gapped bundles under shared/bundles.

pub const PLACEHOLDER_REGISTRY: &str = "172.17.0.2:5000";

pub const CKF_IMAGES: &[&str] = &[
    "kubeflownotebookswg/jupyter-web-app:v1.7.0",
    "kubeflownotebookswg/volumes-web-app:v1.7.0",
    "kubeflownotebookswg/tensorboards-web-app:v1.7.0",
    "kubeflownotebookswg/notebook-controller:v1.7.0",
    "kubeflownotebookswg/poddefaults-webhook:v1.7.0",
    "argoproj/workflow-controller:v3.3.9",
    "argoproj/argocli:v3.3.9",
    "charmedkubeflow/argoexec:v3.3.9_22.04_1",
    "dexidp/dex:v2.31.2",
    "istio/proxyv2:1.16.2",
    "kserve/kserve-controller:v0.10.0",
    "kserve/agent:v0.10.0",
    "kubeflowkatib/katib-controller:v0.15.0",
    "kubeflowkatib/katib-db-manager:v0.15.0",
    "kubeflowkatib/earlystopping-medianstop:v0.15.0",
    "charmedkubeflow/api-server:2.0.0-alpha.7_20.04_1",
    "charmedkubeflow/persistenceagent:2.0.0-alpha.7_22.04_1",
    "charmedkubeflow/scheduledworkflow:2.0.0-alpha.7_22.04_1",
    "charmedkubeflow/visualization-server:2.0.0-alpha.7_20.04_1",
    "ml-pipeline/frontend:2.0.0-alpha.7",
    "canonical/charmed-mysql:3b6a4a63971acec3b71a0178cd093014a695ddf7c31d91d56ebb110eec6cdbe1",
    "knative-releases/knative.dev/eventing/cmd/webhook:c9c582f530155d22c01b43957ae0dba549b1cc903f77ec6cc1acb9ae9085be62",
    "knative-releases/knative.dev/operator/cmd/operator:v1.8.1",
    "kubebuilder/kube-rbac-proxy:v0.10.0",
    "kubeflow/training-operator:v1-855e096",
    "metacontrollerio/metacontroller:v2.0.4",
    "minio/minio:RELEASE.2021-09-03T03-56-13Z",
    "python:3.7",
    "google-containers/busybox:latest",
    "seldonio/seldon-core-executor:1.14.0",
];

/// Full retagged reference, as `RepoTags` holds it.
pub fn placeholder_ref(path: &str) -> String {
    format!("{PLACEHOLDER_REGISTRY}/{path}")
}

/// `save-images-to-tar.py` names: `/` and `:` become `-`, plus `.tar`.
pub fn member_file_name(reference: &str) -> String {
    format!("{}.tar", reference.replace(['/', ':'], "-"))
}
