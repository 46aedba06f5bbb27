//! The one OCI data model: digests, media types, descriptors, manifests, indexes, image
//! configs and `docker save`'s `manifest.json`, with serde both ways. Every module that reads
//! or writes these goes through here, so a digest is parsed once (its hex validated) and a
//! media type is a value, not a string compared by hand.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha256;

/// A content digest. Only sha256 exists in the registries and archives CKF uses; any other
/// algorithm is refused when parsed, with the value named.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{shown} is not a digest: it must be sha256: followed by 64 lowercase hex digits")]
pub struct DigestError {
    shown: String,
}

impl DigestError {
    fn new(text: &str) -> DigestError {
        // The text may come from a hostile archive: escaped, and cut short.
        let mut shown: String = format!("{text:?}").chars().take(90).collect();
        if text.len() > 80 {
            shown.push('…');
        }
        DigestError { shown }
    }
}

/// 64 lowercase hex digits: a sha256 written as a digest, a blob name or a tag.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Digest {
    pub const PREFIX: &'static str = "sha256:";

    /// `sha256:<64 hex>`.
    pub fn parse(text: &str) -> Result<Digest, DigestError> {
        text.strip_prefix(Self::PREFIX)
            .and_then(|hex| Digest::from_hex(hex).ok())
            .ok_or_else(|| DigestError::new(text))
    }

    /// The bare hex, as in `blobs/sha256/<hex>` or a spool file's name.
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        if is_hex64(hex) {
            Ok(Digest {
                hex: hex.to_string(),
            })
        } else {
            Err(DigestError::new(hex))
        }
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// The digest of what went into `hasher`.
    pub fn from_hasher(hasher: Sha256) -> Digest {
        use sha2::Digest as _;
        Digest {
            hex: hex::encode(hasher.finalize()),
        }
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Where an OCI layout keeps the blob.
    pub fn blob_path(&self) -> String {
        format!("blobs/sha256/{}", self.hex)
    }

    /// The blob path of an OCI layout (`blobs/sha256/<hex>`) as a digest.
    pub fn from_blob_path(path: &str) -> Option<Digest> {
        Digest::from_hex(path.strip_prefix("blobs/sha256/")?).ok()
    }

    /// The digest a file's name in an image member promises: `blobs/sha256/<hex>` (OCI
    /// layout) or `<hex>.tar` at the member's root (skopeo's docker-archive). A promise only:
    /// the reader checks it.
    pub fn promised_by_name(path: &str) -> Option<Digest> {
        Digest::from_blob_path(path).or_else(|| {
            let name = path.strip_suffix(".tar").filter(|p| !p.contains('/'))?;
            Digest::from_hex(name).ok()
        })
    }

    /// A tag that names this digest (a tag cannot hold `:`).
    pub fn as_tag(&self) -> String {
        format!("sha256-{}", self.hex)
    }

    /// The first 12 hex digits, for screens.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Digest, DigestError> {
        Digest::parse(s)
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        other
            .strip_prefix(Self::PREFIX)
            .is_some_and(|hex| hex == self.hex)
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl PartialEq<String> for Digest {
    fn eq(&self, other: &String) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Digest> for str {
    fn eq(&self, other: &Digest) -> bool {
        other == self
    }
}

impl PartialEq<Digest> for &str {
    fn eq(&self, other: &Digest) -> bool {
        other == *self
    }
}

impl PartialEq<Digest> for String {
    fn eq(&self, other: &Digest) -> bool {
        other == self.as_str()
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(d)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// How a layer's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerEncoding {
    Tar,
    Gzip,
    Zstd,
}

/// The media types ckf-airgap reads and writes; any other is kept as it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum MediaType {
    DockerManifest,
    DockerManifestList,
    DockerConfig,
    DockerLayerGzip,
    OciManifest,
    OciIndex,
    OciConfig,
    OciEmpty,
    OciLayerTar,
    OciLayerGzip,
    OciLayerZstd,
    /// None was written (a lenient `docker save` descriptor).
    #[default]
    Unspecified,
    Other(String),
}

const MEDIA_TYPES: [(MediaType, &str); 11] = [
    (
        MediaType::DockerManifest,
        "application/vnd.docker.distribution.manifest.v2+json",
    ),
    (
        MediaType::DockerManifestList,
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ),
    (
        MediaType::DockerConfig,
        "application/vnd.docker.container.image.v1+json",
    ),
    (
        MediaType::DockerLayerGzip,
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ),
    (
        MediaType::OciManifest,
        "application/vnd.oci.image.manifest.v1+json",
    ),
    (
        MediaType::OciIndex,
        "application/vnd.oci.image.index.v1+json",
    ),
    (
        MediaType::OciConfig,
        "application/vnd.oci.image.config.v1+json",
    ),
    (MediaType::OciEmpty, "application/vnd.oci.empty.v1+json"),
    (
        MediaType::OciLayerTar,
        "application/vnd.oci.image.layer.v1.tar",
    ),
    (
        MediaType::OciLayerGzip,
        "application/vnd.oci.image.layer.v1.tar+gzip",
    ),
    (
        MediaType::OciLayerZstd,
        "application/vnd.oci.image.layer.v1.tar+zstd",
    ),
];

impl MediaType {
    pub fn as_str(&self) -> &str {
        match self {
            MediaType::Unspecified => "",
            MediaType::Other(s) => s,
            known => MEDIA_TYPES
                .iter()
                .find(|(m, _)| m == known)
                .map(|(_, s)| *s)
                .unwrap_or_default(),
        }
    }

    pub fn parse(text: &str) -> MediaType {
        if text.is_empty() {
            return MediaType::Unspecified;
        }
        MEDIA_TYPES
            .iter()
            .find(|(_, s)| *s == text)
            .map(|(m, _)| m.clone())
            .unwrap_or_else(|| MediaType::Other(text.to_string()))
    }

    /// The media type of a layer so encoded: Docker's for gzip in a Docker manifest (which
    /// has no type for zstd or a plain tar), OCI's otherwise.
    pub fn layer(encoding: LayerEncoding, docker_manifest: bool) -> MediaType {
        match encoding {
            LayerEncoding::Gzip if docker_manifest => MediaType::DockerLayerGzip,
            LayerEncoding::Gzip => MediaType::OciLayerGzip,
            LayerEncoding::Zstd => MediaType::OciLayerZstd,
            LayerEncoding::Tar => MediaType::OciLayerTar,
        }
    }

    /// How a layer of this type is encoded; a type this model does not name is judged by its
    /// suffix (`…+gzip`, `….gzip`, `…+zstd`), as registries and runtimes do.
    pub fn encoding(&self) -> LayerEncoding {
        match self {
            MediaType::DockerLayerGzip | MediaType::OciLayerGzip => LayerEncoding::Gzip,
            MediaType::OciLayerZstd => LayerEncoding::Zstd,
            MediaType::Other(s) if s.ends_with("gzip") => LayerEncoding::Gzip,
            MediaType::Other(s) if s.ends_with("zstd") => LayerEncoding::Zstd,
            _ => LayerEncoding::Tar,
        }
    }

    /// An image index or a Docker manifest list.
    pub fn is_index(&self) -> bool {
        match self {
            MediaType::OciIndex | MediaType::DockerManifestList => true,
            MediaType::Other(s) => s.contains("index") || s.contains("list"),
            _ => false,
        }
    }

    /// The config type that goes with a manifest of this type.
    pub fn config_for(manifest: &MediaType) -> MediaType {
        match manifest {
            MediaType::DockerManifest => MediaType::DockerConfig,
            _ => MediaType::OciConfig,
        }
    }

    /// An `Accept` header value naming these types.
    pub fn accept(types: &[MediaType]) -> String {
        types
            .iter()
            .map(MediaType::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MediaType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MediaType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<MediaType, D::Error> {
        Ok(MediaType::parse(&String::deserialize(d)?))
    }
}

/// `linux/amd64` (the default), `linux/arm64/v8`, ...: the platform wanted, or the one an
/// index entry names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Default for Platform {
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    pub fn parse(text: &str) -> Option<Platform> {
        let mut parts = text.split('/');
        let os = parts.next().filter(|s| !s.is_empty())?.to_owned();
        let architecture = parts.next().filter(|s| !s.is_empty())?.to_owned();
        let variant = parts.next().map(str::to_owned);
        Some(Platform {
            os,
            architecture,
            variant,
        })
    }

    /// Whether an index entry's platform is this one (a variant not asked for matches any).
    pub fn matches(&self, entry: &Platform) -> bool {
        entry.os == self.os
            && entry.architecture == self.architecture
            && self
                .variant
                .as_deref()
                .is_none_or(|v| entry.variant.as_deref() == Some(v))
    }
}

/// What a manifest or index says of one blob or manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: MediaType,
    pub digest: Digest,
    #[serde(default)]
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    pub fn new(media_type: MediaType, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type,
            digest,
            size,
            annotations: None,
            platform: None,
        }
    }

    /// The descriptor of `bytes` (a manifest, a small config).
    pub fn of(media_type: MediaType, bytes: &[u8]) -> Descriptor {
        Descriptor::new(media_type, Digest::of(bytes), bytes.len() as u64)
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

pub const SCHEMA_VERSION: u32 = 2;

/// An image manifest (OCI, or Docker schema 2: the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion", default = "schema_version")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

fn schema_version() -> u32 {
    SCHEMA_VERSION
}

impl Manifest {
    pub fn new(media_type: MediaType, config: Descriptor, layers: Vec<Descriptor>) -> Manifest {
        Manifest {
            schema_version: SCHEMA_VERSION,
            media_type: Some(media_type),
            config,
            layers,
        }
    }

    /// The bytes to push (compact JSON); their digest is the manifest's.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of strings and numbers always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// An image index (or Docker manifest list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion", default = "schema_version")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

impl Index {
    pub fn new(manifests: Vec<Descriptor>) -> Index {
        Index {
            schema_version: SCHEMA_VERSION,
            media_type: Some(MediaType::OciIndex),
            manifests,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A manifest or an index, told apart by their fields when the media type is not given.
#[derive(Debug, Clone)]
pub enum ManifestOrIndex {
    Manifest(Manifest),
    Index(Index),
}

impl ManifestOrIndex {
    /// `declared` is the media type the registry answered with, used when the body names none.
    pub fn parse(body: &[u8], declared: &MediaType) -> Result<ManifestOrIndex, String> {
        let probe: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        let named = probe
            .get("mediaType")
            .and_then(|m| m.as_str())
            .map(MediaType::parse)
            .unwrap_or_else(|| declared.clone());
        if probe.get("manifests").is_some_and(|m| m.is_array()) || named.is_index() {
            serde_json::from_value(probe)
                .map(ManifestOrIndex::Index)
                .map_err(|e| format!("not an image index: {e}"))
        } else {
            serde_json::from_value(probe)
                .map(ManifestOrIndex::Manifest)
                .map_err(|e| format!("not an image manifest: {e}"))
        }
    }
}

/// The part of an image config ckf-airgap reads: the uncompressed layers' digests. The config
/// itself is pushed as the bytes it was, never re-serialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub rootfs: RootFs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// One entry of `docker save`'s `manifest.json`: the image's config and layers by path in
/// the member, and its names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveManifestEntry {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    pub layers: Vec<String>,
}

/// The annotations that name an image in an OCI layout's index.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `oci-layout`'s content.
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "3b6a4a63971acec3b71a0178cd093014a695ddf7c31d91d56ebb110eec6cdbe1";

    #[test]
    fn names_that_promise_a_digest() {
        let d = Digest::from_hex(HEX).ok();
        assert_eq!(Digest::promised_by_name(&format!("{HEX}.tar")), d);
        assert_eq!(Digest::promised_by_name(&format!("blobs/sha256/{HEX}")), d);
        assert_eq!(Digest::promised_by_name("0123/layer.tar"), None);
        assert_eq!(Digest::promised_by_name(&format!("x/{HEX}.tar")), None);
    }

    #[test]
    fn digests_are_parsed_once_and_shown_as_written() {
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        assert_eq!(d.hex(), HEX);
        assert_eq!(d.to_string(), format!("sha256:{HEX}"));
        assert_eq!(d.blob_path(), format!("blobs/sha256/{HEX}"));
        assert_eq!(Digest::from_blob_path(&d.blob_path()), Some(d.clone()));
        assert_eq!(d.as_tag(), format!("sha256-{HEX}"));
        assert!(d == format!("sha256:{HEX}").as_str());
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            format!("\"sha256:{HEX}\"")
        );
        assert_eq!(
            Digest::of(b"{}").to_string(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn a_bad_digest_is_refused_with_the_value_escaped() {
        for bad in [
            "sha512:abcd",
            "sha256:XYZ",
            HEX,
            &format!("sha256:{}", HEX.to_uppercase()),
        ] {
            let e = Digest::parse(bad).unwrap_err().to_string();
            assert!(e.contains("64 lowercase hex"), "{e}");
        }
        let hostile = "sha256:\x1b]0;title\x07";
        let e = Digest::parse(hostile).unwrap_err().to_string();
        assert!(!e.contains('\x1b'), "{e:?}");
        assert!(serde_json::from_str::<Digest>("\"sha256:00\"").is_err());
    }

    #[test]
    fn media_types_round_trip_and_know_their_encoding() {
        for (m, s) in MEDIA_TYPES.iter() {
            assert_eq!(MediaType::parse(s), *m);
            assert_eq!(m.as_str(), *s);
        }
        assert_eq!(
            MediaType::parse("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")
                .encoding(),
            LayerEncoding::Gzip
        );
        assert_eq!(MediaType::OciLayerZstd.encoding(), LayerEncoding::Zstd);
        assert_eq!(MediaType::OciLayerTar.encoding(), LayerEncoding::Tar);
        assert_eq!(
            MediaType::layer(LayerEncoding::Gzip, true),
            MediaType::DockerLayerGzip
        );
        assert_eq!(
            MediaType::layer(LayerEncoding::Gzip, false),
            MediaType::OciLayerGzip
        );
        assert!(MediaType::DockerManifestList.is_index());
        assert!(!MediaType::OciManifest.is_index());
    }

    #[test]
    fn a_manifest_is_written_and_read_in_the_registry_s_form() {
        let config = Descriptor::of(MediaType::DockerConfig, b"{}");
        let layer = Descriptor::new(
            MediaType::DockerLayerGzip,
            Digest::from_hex(HEX).unwrap(),
            42,
        );
        let m = Manifest::new(MediaType::DockerManifest, config, vec![layer]);
        let text = String::from_utf8(m.to_bytes()).unwrap();
        assert!(text.starts_with(r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:44136fa3"#), "{text}");
        match ManifestOrIndex::parse(text.as_bytes(), &MediaType::Unspecified).unwrap() {
            ManifestOrIndex::Manifest(back) => assert_eq!(back, m),
            other => panic!("{other:?}"),
        }
        let index = Index::new(vec![Descriptor {
            platform: Some(Platform::default()),
            ..Descriptor::of(MediaType::OciManifest, &m.to_bytes())
        }]);
        match ManifestOrIndex::parse(&index.to_bytes(), &MediaType::Unspecified).unwrap() {
            ManifestOrIndex::Index(i) => {
                assert!(Platform::default().matches(i.manifests[0].platform.as_ref().unwrap()))
            }
            other => panic!("{other:?}"),
        }
        let bad = ManifestOrIndex::parse(b"{\"config\":{}}", &MediaType::Unspecified);
        assert!(bad.unwrap_err().contains("not an image manifest"));
    }
}
