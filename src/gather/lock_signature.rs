//! `ckf-release.lock.json.sig`: an SSHSIG signature of the lock (OpenSSH's PROTOCOL.sshsig,
//! namespace `ckf-airgap`), so that whoever can change the archives and the lock beside them
//! cannot also make the air-gapped side trust them. `ssh-keygen -Y verify` checks the same file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

use super::allowed_signers::{self, AllowedSigners, pattern_matches};

/// The namespace every ckf-airgap signature is made in (`ssh-keygen -Y … -n ckf-airgap`).
pub const NAMESPACE: &str = "ckf-airgap";

/// Where the signature of the lock at `lock` lives: beside it, with `.sig` added.
pub fn signature_path(lock: &Path) -> PathBuf {
    let mut name = lock.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// Who signed a verified lock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Signer {
    /// The principals of the `allowed_signers` line that holds the key.
    pub identity: String,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
}

/// Signs `message` with the key `key_file` names: an OpenSSH ed25519 private key, or its public
/// key when the private one is held by the ssh-agent at `agent_socket`. Returns the PEM text.
pub fn sign(
    message: &[u8],
    key_file: &Path,
    agent_socket: Option<&Path>,
) -> Result<String, String> {
    let text = std::fs::read_to_string(key_file).map_err(|e| {
        format!(
            "cannot read the signing key {} ({e}); fix [gather] sign_key",
            key_file.display()
        )
    })?;
    let signature = if text
        .trim_start()
        .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
    {
        sign_with_file(message, key_file, &text)?
    } else {
        let public = PublicKey::from_openssh(text.trim()).map_err(|e| {
            format!(
                "{} is neither an OpenSSH private key nor a public key ({e}); name an ed25519 key \
                 made by ssh-keygen -t ed25519 in [gather] sign_key",
                key_file.display()
            )
        })?;
        let socket = agent_socket.ok_or_else(|| {
            format!(
                "{} is a public key, so its private key must come from ssh-agent, but \
                 SSH_AUTH_SOCK is not set: start ssh-agent and ssh-add the private key, or name \
                 the private key file in [gather] sign_key",
                key_file.display()
            )
        })?;
        sign_with_agent(message, &public, socket)?
    };
    signature
        .to_pem(LineEnding::LF)
        .map_err(|e| format!("cannot encode the signature: {e}"))
}

fn sign_with_file(message: &[u8], key_file: &Path, text: &str) -> Result<SshSig, String> {
    let key = PrivateKey::from_openssh(text).map_err(|e| {
        format!(
            "{} is not a readable OpenSSH private key ({e})",
            key_file.display()
        )
    })?;
    if key.is_encrypted() {
        return Err(format!(
            "{} is protected by a passphrase: load it into ssh-agent (ssh-add {}) and name its \
             public key ({}.pub) in [gather] sign_key",
            key_file.display(),
            key_file.display(),
            key_file.display()
        ));
    }
    if key.algorithm() != ssh_key::Algorithm::Ed25519 {
        return Err(format!(
            "{} is a {} key; ckf-airgap signs with ed25519 keys (ssh-keygen -t ed25519)",
            key_file.display(),
            key.algorithm()
        ));
    }
    key.sign(NAMESPACE, HashAlg::Sha512, message)
        .map_err(|e| format!("cannot sign with {}: {e}", key_file.display()))
}

const AGENT_FAILURE: u8 = 5;
const AGENTC_SIGN_REQUEST: u8 = 13;
const AGENT_SIGN_RESPONSE: u8 = 14;

/// Asks the agent to sign the SSHSIG blob of `message` (draft-miller-ssh-agent, §3.6).
fn sign_with_agent(message: &[u8], public: &PublicKey, socket: &Path) -> Result<SshSig, String> {
    let fingerprint = public.fingerprint(HashAlg::Sha256);
    let signed_data = SshSig::signed_data(NAMESPACE, HashAlg::Sha512, message)
        .map_err(|e| format!("cannot prepare the signature: {e}"))?;
    let key_blob = public
        .to_bytes()
        .map_err(|e| format!("cannot encode the public key: {e}"))?;
    let mut body = vec![AGENTC_SIGN_REQUEST];
    put_string(&mut body, &key_blob);
    put_string(&mut body, &signed_data);
    body.extend_from_slice(&0u32.to_be_bytes());

    let agent = |e: std::io::Error| {
        format!(
            "cannot reach ssh-agent at {} (SSH_AUTH_SOCK): {e}; start it, or name the private \
             key file in [gather] sign_key",
            socket.display()
        )
    };
    let mut stream = std::os::unix::net::UnixStream::connect(socket).map_err(agent)?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .map_err(agent)?;
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame).map_err(agent)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(agent)?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > 1 << 20 {
        return Err(format!(
            "ssh-agent at {} answered {len} bytes",
            socket.display()
        ));
    }
    let mut reply = vec![0u8; len];
    stream.read_exact(&mut reply).map_err(agent)?;
    match reply[0] {
        AGENT_SIGN_RESPONSE => {}
        AGENT_FAILURE => {
            return Err(format!(
                "ssh-agent at {} refused to sign with {fingerprint}: it does not hold that key \
                 (ssh-add -l lists what it holds; ssh-add the private key) or it asked for a \
                 confirmation that was refused",
                socket.display()
            ));
        }
        other => {
            return Err(format!(
                "ssh-agent at {} answered message {other}, not a signature",
                socket.display()
            ));
        }
    }
    let blob =
        get_string(&reply[1..]).ok_or_else(|| "ssh-agent's signature is cut short".to_owned())?;
    let signature = ssh_key::Signature::try_from(blob)
        .map_err(|e| format!("ssh-agent's signature is malformed: {e}"))?;
    SshSig::new(
        public.key_data().clone(),
        NAMESPACE,
        HashAlg::Sha512,
        signature,
    )
    .map_err(|e| format!("ssh-agent's signature is unusable: {e}"))
}

fn get_string(bytes: &[u8]) -> Option<&[u8]> {
    let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    bytes.get(4..4 + len)
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Verifies `signature_pem` over `message` against the keys of `allowed`, as
/// `ssh-keygen -Y verify` does; `now` is `YYYYMMDDHHMMSS` (UTC) for the validity options. The
/// error says why in words an operator can act on.
pub fn verify(
    message: &[u8],
    signature_pem: &str,
    allowed: &AllowedSigners,
    now: &str,
) -> Result<Signer, String> {
    let signature = SshSig::from_pem(signature_pem.trim())
        .map_err(|e| format!("it is not an SSH signature ({e})"))?;
    if signature.namespace() != NAMESPACE {
        return Err(format!(
            "it was made for namespace {:?}, not {NAMESPACE:?}: it is not a lock signature",
            signature.namespace()
        ));
    }
    let public = PublicKey::from(signature.public_key().clone());
    let fingerprint = public.fingerprint(HashAlg::Sha256).to_string();
    let listed: Vec<_> = allowed
        .signers
        .iter()
        .filter(|s| s.key.key_data() == signature.public_key())
        .collect();
    if listed.is_empty() {
        return Err(format!(
            "it was made by the key {fingerprint}, which is not in the allowed signers; get the \
             archives signed by a listed key, or add that key if you trust it"
        ));
    }
    let usable = listed.iter().find(|s| {
        s.namespaces
            .as_ref()
            .is_none_or(|n| n.iter().any(|p| pattern_matches(p, NAMESPACE)))
            && s.valid_after.as_deref().is_none_or(|t| now >= t)
            && s.valid_before.as_deref().is_none_or(|t| now < t)
    });
    let Some(signer) = usable else {
        let lines: Vec<_> = listed.iter().map(|s| s.line.to_string()).collect();
        return Err(format!(
            "its key {fingerprint} is listed (line {}) but not for namespace {NAMESPACE:?} or not \
             at this time (namespaces, valid-after, valid-before)",
            lines.join(", ")
        ));
    };
    public.verify(NAMESPACE, message, &signature).map_err(|_| {
        format!(
            "it does not match the lock's bytes: the lock was changed after it was signed by \
             {fingerprint}; copy the lock and its signature again from the connected side"
        )
    })?;
    Ok(Signer {
        identity: signer.principals.clone(),
        fingerprint,
    })
}

/// Reads and parses an `allowed_signers` file, naming it in the error.
pub fn read_allowed_signers(path: &Path) -> Result<AllowedSigners, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the allowed signers {} ({e})", path.display()))?;
    let file = allowed_signers::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if file.signers.is_empty() {
        return Err(format!(
            "{} names no key (a line is `principals ssh-ed25519 AAAA…`)",
            path.display()
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::{NAMESPACE, signature_path, verify};
    use crate::gather::allowed_signers::{AllowedSigners, parse};
    use ssh_key::{HashAlg, LineEnding, PrivateKey};

    /// A throwaway ed25519 key from a fixed seed.
    fn key(seed: u8) -> PrivateKey {
        PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[seed; 32]))
    }

    fn allowed(key: &PrivateKey, options: &str) -> AllowedSigners {
        let line = format!(
            "ops@example.com {options} {}",
            key.public_key()
                .to_openssh()
                .unwrap_or_else(|e| panic!("{e}"))
        );
        parse(&line).unwrap_or_else(|e| panic!("{e}"))
    }

    fn signed(key: &PrivateKey, message: &[u8], namespace: &str) -> String {
        key.sign(namespace, HashAlg::Sha512, message)
            .and_then(|s| s.to_pem(LineEnding::LF))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_listed_key_verifies_and_every_other_case_is_refused_with_its_cause() {
        let (k, other) = (key(1), key(2));
        let lock = b"{\"images\": []}";
        let sig = signed(&k, lock, NAMESPACE);
        let now = "20261204120000";
        let signer = verify(lock, &sig, &allowed(&k, ""), now).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(signer.identity, "ops@example.com");
        assert!(
            signer.fingerprint.starts_with("SHA256:"),
            "{}",
            signer.fingerprint
        );

        let refused = |message: &[u8], sig: &str, file: &AllowedSigners, expected: &str| {
            let e = verify(message, sig, file, now)
                .err()
                .unwrap_or_else(|| panic!("{expected}: accepted"));
            assert!(e.contains(expected), "{e}");
        };
        let plain = allowed(&k, "");
        refused(b"{\"images\": [1]}", &sig, &plain, "the lock was changed");
        refused(
            lock,
            &sig,
            &allowed(&other, ""),
            "not in the allowed signers",
        );
        refused(lock, "garbage", &plain, "not an SSH signature");
        refused(lock, &signed(&k, lock, "git"), &plain, "namespace \"git\"");
        for options in [
            "namespaces=\"git\"",
            "valid-after=20270101",
            "valid-before=20250101",
        ] {
            refused(lock, &sig, &allowed(&k, options), "not for namespace");
        }
        assert!(verify(lock, &sig, &allowed(&k, "namespaces=\"ckf-*\""), now).is_ok());
    }

    #[test]
    fn the_signature_sits_beside_the_lock() {
        assert_eq!(
            signature_path(std::path::Path::new("/carry/ckf-release.lock.json")),
            std::path::Path::new("/carry/ckf-release.lock.json.sig")
        );
    }
}
