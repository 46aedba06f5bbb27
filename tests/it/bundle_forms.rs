//! Each reference form, and text around edits (non-ASCII, CRLF, comments) kept intact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ckf_airgap::bundle::mapping::MappingTable;
use ckf_airgap::bundle::rewrite::plan_image_edits;
use ckf_airgap::bundle::scan::{Container, ImageRefSite, scan_document};
use ckf_airgap::bundle::yaml::Document;
use ckf_airgap::image_ref::RefShape;

const P: &str = "172.17.0.2:5000";
const T: &str = "registry.example.com:5443/ckf";
const HEX: &str = "3b6a4a63971acec3b71a0178cd093014a695ddf7c31d91d56ebb110eec6cdbe1";

fn bundle(options_and_resources: &str) -> String {
    format!(
        "bundle: kubernetes\napplications:\n  app:\n    charm: ./app_1.charm\n{options_and_resources}relations: []\n"
    )
}

/// Scan, map everything under the placeholder, edit and verify; returns (sites, new text).
pub(crate) fn rewrite(text: &str) -> (Vec<ImageRefSite>, String) {
    let doc = Document::parse("t.yaml", text).unwrap();
    let sites = scan_document(&doc);
    let table = MappingTable::build(&sites, Some(P), T).unwrap();
    let plan = plan_image_edits(&doc, &sites, &table).unwrap();
    (sites, plan.apply(&doc).unwrap().text)
}

#[test]
fn plain_reference_in_resources_and_options() {
    let text = bundle(&format!(
        "    resources:\n      oci-image: {P}/dexidp/dex:v2.31.2\n    options:\n      proxy-image: {P}/istio/proxyv2:1.16.2\n"
    ));
    let (sites, out) = rewrite(&text);
    assert_eq!(sites.len(), 2);
    assert_eq!(
        (sites[0].key_path.as_str(), sites[0].form.container),
        ("resources.oci-image", Container::Scalar)
    );
    assert_eq!(sites[1].key_path, "options.proxy-image");
    assert_eq!(sites[0].reference.path, "dexidp/dex");
    assert_eq!(sites[0].reference.tag.as_deref(), Some("v2.31.2"));
    assert_eq!((sites[0].line, sites[0].column), (6, 18));
    assert!(out.contains(&format!("oci-image: {T}/dexidp/dex:v2.31.2\n")));
    assert!(out.contains(&format!("proxy-image: {T}/istio/proxyv2:1.16.2\n")));
}

#[test]
fn json_map_string_with_trailing_comma() {
    let text = bundle(&format!(
        "    options:\n      custom_images: '{{ \"configmap__agent\": \"{P}/kserve/agent:v0.10.0\", \"configmap__router\": \"{P}/kserve/router:v0.10.0\", }}'\n"
    ));
    let (sites, out) = rewrite(&text);
    assert_eq!(sites[0].inner_key.as_deref(), Some("configmap__agent"));
    assert_eq!(sites[0].key_path, "options.custom_images");
    assert_eq!(sites[1].form.container, Container::EmbeddedMap);
    assert!(out.contains(&format!("'{{ \"configmap__agent\": \"{T}/kserve/agent:v0.10.0\", \"configmap__router\": \"{T}/kserve/router:v0.10.0\", }}'")));
}

#[test]
fn python_list_string() {
    let text = bundle(&format!(
        "    options:\n      jupyter-images: \"['{P}/a/scipy:v1','{P}/a/torch:v1']\"\n"
    ));
    let (sites, out) = rewrite(&text);
    assert_eq!(sites.len(), 2);
    assert_eq!(sites[1].form.container, Container::EmbeddedList);
    assert_eq!(sites[1].inner_key.as_deref(), Some("[1]"));
    assert!(out.contains(&format!(
        "jupyter-images: \"['{T}/a/scipy:v1','{T}/a/torch:v1']\"\n"
    )));
}

#[test]
fn registry_namespace_lookalikes_and_unprefixed_docker_hub_image() {
    let text = bundle(&format!(
        "    options:\n      default-gateway: kubeflow-gateway\n      kind: ingress\n      channel-ish: 1.10/stable\n      image-configuration: '{{\"pilot-image\": \"pilot\", \"global-tag\": \"1.16.2\", \"global-hub\": \"{P}/istio\", \"grpc-bootstrap-init\": \"busybox:1.28\"}}'\n"
    ));
    let (sites, out) = rewrite(&text);
    let texts: Vec<_> = sites.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, [format!("{P}/istio").as_str(), "busybox:1.28"]);
    assert_eq!(sites[0].form.shape, RefShape::RegistryNamespace);
    assert_eq!(sites[1].reference.registry, None);
    assert!(out.contains(&format!("\"global-hub\": \"{T}/istio\"")));
    assert!(
        out.contains("\"grpc-bootstrap-init\": \"busybox:1.28\""),
        "not under the placeholder: kept"
    );
    assert!(out.contains("channel-ish: 1.10/stable\n"));
}

#[test]
fn untagged_digest_as_tag_and_at_digest() {
    let text = bundle(&format!(
        "    resources:\n      mysql-image: {P}/canonical/charmed-mysql:{HEX}\n      pinned: {P}/canonical/charmed-mysql@sha256:{HEX}\n    options:\n      cache-image: {P}/google-containers/busybox\n"
    ));
    let (sites, out) = rewrite(&text);
    let shapes: Vec<_> = sites.iter().map(|s| s.form.shape).collect();
    assert_eq!(
        shapes,
        [RefShape::DigestAsTag, RefShape::Digest, RefShape::Untagged]
    );
    assert_eq!(
        sites[0].reference.tag.as_deref(),
        Some(HEX),
        "a digest-as-tag stays a tag"
    );
    assert_eq!(sites[1].reference.digest, Some(format!("sha256:{HEX}")));
    assert_eq!(sites[2].reference.effective_tag(), Some("latest"));
    assert!(out.contains(&format!("mysql-image: {T}/canonical/charmed-mysql:{HEX}\n")));
    assert!(out.contains(&format!(
        "pinned: {T}/canonical/charmed-mysql@sha256:{HEX}\n"
    )));
    assert!(out.contains(&format!("cache-image: {T}/google-containers/busybox\n")));
}

#[test]
fn non_ascii_crlf_and_comments_survive_byte_for_byte() {
    let text = format!(
        "# Bundle — 日本語のコメント\r\nbundle: kubernetes\r\napplications:\r\n  app: # ünïcode\r\n    charm: ./app_1.charm\r\n    options:\r\n      note: \"naïve — 中文\" # kept\r\n      img: '{P}/x/y:1' # trailing — comment\r\n      list: \"['{P}/x/z:2']\"   # 注释\r\n"
    );
    let (_, out) = rewrite(&text);
    let expected = text.replace(&format!("{P}/"), &format!("{T}/"));
    assert_eq!(out, expected);
}

#[test]
fn escaped_reference_is_written_whole_not_corrupted() {
    let text = bundle(&format!(
        "    resources:\n      oci-image: \"{P}/dexidp\\x2Fdex:v2\"\n"
    ));
    let doc = Document::parse("t.yaml", &text).unwrap();
    let sites = scan_document(&doc);
    assert_eq!(sites.len(), 1);
    assert_eq!(sites[0].text, format!("{P}/dexidp/dex:v2"));
    assert!(sites[0].span.is_none());
    let table = MappingTable::build(&sites, Some(P), T).unwrap();
    let plan = plan_image_edits(&doc, &sites, &table).unwrap();
    assert!(
        plan.normalised[0].starts_with("t.yaml:6:18: "),
        "{:?}",
        plan.normalised
    );
    let out = plan.apply(&doc).unwrap().text;
    assert!(
        out.contains(&format!("      oci-image: \"{T}/dexidp/dex:v2\"\n")),
        "{out}"
    );
}
