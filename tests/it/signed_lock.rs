//! The signed lock end to end: gather signs `ckf-release.lock.json` with an ed25519 key (a
//! file, or ssh-agent holding it), Debian's `ssh-keygen -Y verify` accepts the signature, and
//! the air-gapped side's Artifacts step accepts a signature `ssh-keygen -Y sign` made, and
//! refuses a changed lock, a key not in `allowed_signers` and a missing signature, each by
//! its cause, before reading the archives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::gather_flow::{docker_config, docker_env, one_app_release, write_gather};
use crate::registry_support::registry::TestRegistry;
use crate::support::answers::{self, skip_all_but};
use crate::support::{run_headless, text};
use ckf_airgap::answers::{Answers, ArtifactsAnswers};
use ckf_airgap::wizard::state::GatherChoice;

const SIGNER: &str = "release@example.com";

fn keygen(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    key
}

fn public(key: &Path) -> String {
    std::fs::read_to_string(key.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned()
}

/// `ssh-keygen -lf`'s `SHA256:…` for the key.
fn fingerprint(key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    text(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

fn allowed_signers(dir: &Path, name: &str, key: &Path) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(
        &file,
        format!(
            "# who signs releases\n{SIGNER} namespaces=\"ckf-airgap\" {}\n",
            public(key)
        ),
    )
    .unwrap();
    file
}

/// `ssh-keygen -Y verify` of the lock against `allowed`: its exit status and what it printed.
fn ssh_keygen_verify(lock: &Path, allowed: &Path) -> (bool, String) {
    let out = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(allowed)
        .args(["-I", SIGNER, "-n", "ckf-airgap", "-s"])
        .arg(sig_of(lock))
        .stdin(std::fs::File::open(lock).unwrap())
        .output()
        .unwrap();
    (out.status.success(), text(&out.stdout) + &text(&out.stderr))
}

fn sig_of(lock: &Path) -> PathBuf {
    PathBuf::from(format!("{}.sig", lock.display()))
}

/// An ssh-agent on a socket in `dir` holding `key`; killed on drop.
struct Agent {
    socket: PathBuf,
    pid: String,
}

impl Agent {
    fn start(dir: &Path, key: &Path) -> Agent {
        let socket = dir.join("agent.sock");
        // Without -D the agent forks once its socket is bound, so the socket exists when the
        // command returns; its pid is in what it prints.
        let out = Command::new("ssh-agent")
            .arg("-a")
            .arg(&socket)
            .arg("-s")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let printed = text(&out.stdout);
        let pid = printed
            .split("SSH_AGENT_PID=")
            .nth(1)
            .and_then(|s| s.split(';').next())
            .unwrap()
            .to_owned();
        let agent = Agent { socket, pid };
        let add = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &agent.socket)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(add.status.success(), "{}", text(&add.stderr));
        agent
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(&self.pid).status();
    }
}

/// The air-gapped side's Artifacts step on the carry folder, with `allowed` as the signers.
fn install(work: &Path, carry: &Path, allowed: &Path, name: &str) -> (i32, String) {
    let mut spec = Answers {
        artifacts: Some(ArtifactsAnswers {
            allowed_signers: Some(allowed.to_path_buf()),
            ..answers::artifacts(&carry.join("images.tar.gz"), &carry.join("charms.tar.gz"))
        }),
        ..Answers::default()
    };
    skip_all_but(
        &mut spec,
        &["artifacts"],
        "only the archives are under test",
    );
    let file = work.join(format!("{name}.toml"));
    answers::write(&file, &spec);
    run_headless(
        &work.join(format!("{name}-state")),
        &file,
        &[],
        crate::support::NO_ENV,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_is_signed_by_gather_checked_by_ssh_keygen_and_refused_when_anything_is_off() {
    let upstream = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (hub, bundle) = one_app_release(&upstream, w).await;
    let docker = docker_config(w, &upstream);
    let signer = keygen(w, "signer");
    let stranger = keygen(w, "stranger");
    let allowed = allowed_signers(w, "allowed_signers", &signer);
    let carry = w.join("carry");
    let lock = carry.join("ckf-release.lock.json");
    let gather = |sign_key: &Path, state: &str, env: &[(&str, &str)]| {
        let answers = w.join(format!("{state}.toml"));
        write_gather(
            &answers,
            GatherChoice {
                bundle: Some(bundle.clone()),
                charmhub_url: Some(hub.url()),
                ca_file: Some(upstream.ca_file.clone()),
                output_dir: Some(carry.clone()),
                sign_key: Some(sign_key.to_path_buf()),
                ..GatherChoice::default()
            },
        );
        let mut all: Vec<(&str, &str)> = docker_env(&docker).to_vec();
        all.extend_from_slice(env);
        run_headless(&w.join(state), &answers, &["gather"], &all)
    };

    // A public key with no agent to hold its private half: refused by name, nothing written.
    let (code, out) = gather(
        &signer.with_extension("pub"),
        "no-agent",
        &[("SSH_AUTH_SOCK", "")],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("SSH_AUTH_SOCK is not set"), "{out}");
    assert!(!lock.exists() && !sig_of(&lock).exists(), "{out}");

    // Signed with the private key file: ssh-keygen verifies it as the command does.
    let (code, out) = gather(&signer, "file-key", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("signed the lock"), "{out}");
    let (ok, said) = ssh_keygen_verify(&lock, &allowed);
    assert!(ok, "ssh-keygen refused gather's signature: {said}");
    assert!(said.contains(SIGNER), "{said}");

    // The air-gapped side takes it, and names who signed with which key.
    let (code, out) = install(w, &carry, &allowed, "signed");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "signed by {SIGNER} with the key {}",
            fingerprint(&signer)
        )),
        "{out}"
    );

    // Signed through ssh-agent, the private key never read by ckf-airgap: ssh-keygen agrees.
    std::fs::remove_file(sig_of(&lock)).unwrap();
    let agent = Agent::start(w, &signer);
    let socket = agent.socket.to_str().unwrap().to_owned();
    let (code, out) = gather(
        &signer.with_extension("pub"),
        "agent-key",
        &[("SSH_AUTH_SOCK", socket.as_str())],
    );
    assert_eq!(code, 0, "{out}");
    let (ok, said) = ssh_keygen_verify(&lock, &allowed);
    assert!(ok, "ssh-keygen refused the agent's signature: {said}");
    // An agent that does not hold the key says so.
    let (code, out) = gather(
        &stranger.with_extension("pub"),
        "agent-stranger",
        &[("SSH_AUTH_SOCK", socket.as_str())],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does not hold that key"), "{out}");
    drop(agent);

    // A signature ssh-keygen made is verified by ckf-airgap.
    std::fs::remove_file(sig_of(&lock)).unwrap();
    let sign = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", "ckf-airgap", "-f"])
        .arg(&signer)
        .arg(&lock)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(sign.status.success(), "{}", text(&sign.stderr));
    let (code, out) = install(w, &carry, &allowed, "ssh-keygen-signed");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("signed by {SIGNER}")), "{out}");

    // A key not in allowed_signers: refused with the key's fingerprint, nothing read.
    let strangers = allowed_signers(w, "strangers_only", &stranger);
    let (code, out) = install(w, &carry, &strangers, "unknown-key");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "made by the key {}, which is not in the allowed signers",
            fingerprint(&signer)
        )),
        "{out}"
    );
    assert!(!out.contains("reading charms.tar.gz"), "{out}");

    // A changed lock (one image's digest edited) no longer matches its signature.
    let original = std::fs::read_to_string(&lock).unwrap();
    let changed = original.replacen("sha256:", "sha256:0", 1);
    assert_ne!(changed, original);
    std::fs::write(&lock, &changed).unwrap();
    let (code, out) = install(w, &carry, &allowed, "changed");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("the lock was changed after it was signed"),
        "{out}"
    );
    assert!(!ssh_keygen_verify(&lock, &allowed).0, "ssh-keygen agrees");
    std::fs::write(&lock, &original).unwrap();

    // No signature at all.
    std::fs::remove_file(sig_of(&lock)).unwrap();
    let (code, out) = install(w, &carry, &allowed, "unsigned");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ckf-release.lock.json is not signed")
            && out.contains("ckf-release.lock.json.sig is missing"),
        "{out}"
    );
}
