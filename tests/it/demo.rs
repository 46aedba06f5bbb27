//! `ckf-airgap demo`, the README's first command, run as a newcomer would: on CKF 1.11's real
//! bundle and charm files, gather into a carry folder and the install from it, in every mode;
//! and `--release 1.7`, the 1.7 air-gapped bundle on a synthetic release, in a terminal,
//! pressing Enter through the wizard against the throwaway registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::pty::Pty;

#[test]
fn the_1_7_demo_walks_through_every_step_with_the_deploy_as_a_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let demo_arg = demo.display().to_string();
    let mut pty = Pty::spawn(
        &["demo", "--release", "1.7", "--dir", &demo_arg],
        &[],
        dir.path(),
        (120, 40),
    );
    let step = |pty: &mut Pty, n: usize| {
        pty.wait_for_all(&[&format!("step {n}/9"), "Enter runs this step."]);
        pty.enter();
    };
    // Environment checks are skipped by the demo's answers (there is no cluster here).
    step(&mut pty, 1);
    pty.wait_for_all(&["step 1/9", "skipped: demo"]);
    pty.enter();
    for n in 2..=5 {
        step(&mut pty, n);
        pty.wait_for_all(&[&format!("step {n}/9"), "Enter moves to the next step."]);
        pty.enter();
    }
    step(&mut pty, 6); // the gateway choice: NodePort is selected, Enter takes it
    pty.wait_for_all(&["step 6/9", "Enter moves to the next step."]);
    pty.enter();
    step(&mut pty, 7);
    pty.wait_for("y write / n do not write");
    pty.send("y");
    pty.wait_for_all(&["step 7/9", "Enter moves to the next step."]);
    pty.enter();
    step(&mut pty, 8);
    pty.wait_for_all(&["DRY RUN: the commands are shown, not run", "juju deploy"]);
    pty.wait_for_all(&["step 8/9", "Enter moves to the next step."]);
    pty.enter();
    step(&mut pty, 9);
    // A dry run says so, never "the install is complete", and q quits at once.
    pty.wait_for_all(&[
        "Dry run: nothing was deployed",
        "deploy-plan.json",
        "Dry run finished: nothing was deployed. q quits.",
    ]);
    pty.send("q");
    assert_eq!(pty.wait_exit(), 0);
    assert!(demo.join("bundle.airgap.yaml").exists());
}

/// `ckf-airgap demo --release 1.7 --mode headless` runs the whole wizard unattended and exits 0.
#[test]
fn the_1_7_demo_completes_headless() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = std::process::Command::new(crate::support::BIN)
        .args(["demo", "--release", "1.7", "--mode", "headless", "--dir"])
        .arg(&demo)
        .env("NO_COLOR", "1")
        .env_remove("CKF_AIRGAP_STATE_DIR")
        .output()
        .unwrap();
    let stdout = crate::support::text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        crate::support::text(&out.stderr)
    );
    assert!(stdout.contains("finished: every step is done"), "{stdout}");
    assert!(stdout.contains("[juju-deploy] done"), "{stdout}");
    assert!(demo.join("bundle.airgap.yaml").exists());
}

/// The demo in line mode: every step through its prompts, the bundle written on "y".
#[test]
fn the_1_7_demo_completes_in_line_mode() {
    use expectrl::Expect;
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let mut cmd = std::process::Command::new(crate::support::BIN);
    cmd.args(["demo", "--release", "1.7", "--mode", "line", "--dir"])
        .arg(&demo)
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .env_remove("CKF_AIRGAP_STATE_DIR");
    let mut p =
        expectrl::session::log(expectrl::Session::spawn(cmd).unwrap(), std::io::stderr()).unwrap();
    p.set_expect_timeout(Some(std::time::Duration::from_secs(60)));
    p.expect("Run Environment checks").unwrap();
    p.send("\r").unwrap();
    p.expect("Next step").unwrap();
    p.send("\r").unwrap();
    for (title, id) in [
        ("Artifacts", "artifacts"),
        ("Registry login", "registry-login"),
        ("Push images", "image-push"),
        ("Map placeholders", "placeholder-mapping"),
        ("Gateway service type", "gateway-type"),
    ] {
        p.expect(format!("Run {title}").as_str()).unwrap();
        p.send("\r").unwrap();
        p.expect(format!("[{id}] done").as_str()).unwrap();
        p.expect("Next step").unwrap();
        p.send("\r").unwrap();
    }
    p.expect("Run Preview bundle edits").unwrap();
    p.send("\r").unwrap();
    p.expect("Write the edited bundle").unwrap();
    p.send("y").unwrap();
    p.expect("[bundle-preview] done").unwrap();
    p.expect("Next step").unwrap();
    p.send("\r").unwrap();
    p.expect("Run Juju setup and deploy").unwrap();
    p.send("\r").unwrap();
    p.expect("[juju-deploy] done").unwrap();
    p.expect("Next step").unwrap();
    p.send("\r").unwrap();
    p.expect("Run Done").unwrap();
    p.send("\r").unwrap();
    p.expect("[done] done").unwrap();
    p.expect("Quit").unwrap();
    p.send("\r").unwrap();
    p.expect("finished: every step is done").unwrap();
    p.expect(expectrl::Eof).unwrap();
    let status = format!("{:?}", p.get_process().wait().unwrap());
    assert!(
        status.starts_with("Exited(") && status.ends_with(", 0)"),
        "{status}"
    );
    assert!(demo.join("bundle.airgap.yaml").exists());
}

/// The README's first command on a machine with no `openssl` and no `htpasswd`: the TLS
/// material and the password file are made in process, so the demo reaches its first screen
/// with only the registry binary on PATH.
#[test]
fn the_demo_starts_without_openssl_or_htpasswd_on_path() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let registry = ["/usr/bin/docker-registry", "/usr/sbin/docker-registry"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("the tests install docker-registry");
    std::os::unix::fs::symlink(registry, bin.join("docker-registry")).unwrap();
    let path = bin.display().to_string();
    for absent in ["openssl", "htpasswd"] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("PATH={path} command -v {absent}")])
            .status()
            .unwrap();
        assert!(!found.success(), "{absent} is still on the test's PATH");
    }
    let demo = dir.path().join("demo");
    let demo_arg = demo.display().to_string();
    let mut pty = Pty::spawn(
        &["demo", "--release", "1.7", "--dir", &demo_arg],
        &[("PATH", &path)],
        dir.path(),
        (120, 40),
    );
    pty.wait_for_all(&["step 1/9", "Enter runs this step."]);
    let ca = std::fs::read_to_string(demo.join("registry/ca.crt")).unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    let htpasswd = std::fs::read_to_string(demo.join("registry/htpasswd")).unwrap();
    assert!(htpasswd.starts_with("demo:$2b$"), "{htpasswd}");
    pty.send("q");
    pty.send("y");
    // Quitting before the end is an interruption: the session is kept, status 130.
    assert_eq!(pty.wait_exit(), 130);
}

/// Without the registry binary and without apt-get to install it, the demo names the one
/// command that does, and exits 1 without starting.
#[test]
fn the_demo_without_a_registry_binary_names_the_command_that_installs_it() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let out = std::process::Command::new(crate::support::BIN)
        .args(["demo", "--mode", "headless", "--dir"])
        .arg(dir.path().join("demo"))
        .env("PATH", &bin)
        .env("NO_COLOR", "1")
        .env_remove("CKF_AIRGAP_STATE_DIR")
        .output()
        .unwrap();
    let stderr = crate::support::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("apt-get update && apt-get install -y docker-registry"),
        "{stderr}"
    );
}

/// The install session's `deploy-plan.json` under the demo's state (the newest session).
fn real_demo_plan(demo: &std::path::Path) -> serde_json::Value {
    let newest = std::fs::read_dir(demo.join("state/sessions"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("deploy-plan.json").exists())
        .max()
        .expect("an install session with a plan");
    serde_json::from_slice(&std::fs::read(newest.join("deploy-plan.json")).unwrap()).unwrap()
}

/// The real-release demo's plan: one deploy per application of the 1.11 bundle, one
/// integrate per relation, and no public registry in any argument or config file.
fn assert_the_plan_is_the_whole_1_11_release(demo: &std::path::Path) {
    use ckf_airgap::bundle::model::Bundle;
    let bundle =
        Bundle::load(&crate::release_bundles::release_dir("1.11").join("bundle.yaml")).unwrap();
    let plan = real_demo_plan(demo);
    let commands = plan["commands"].as_array().unwrap();
    let ids: Vec<&str> = commands.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let mut deployed: Vec<&str> = ids
        .iter()
        .filter_map(|i| i.strip_prefix("deploy:"))
        .collect();
    deployed.sort();
    let mut apps: Vec<&str> = bundle
        .applications
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    apps.sort();
    assert_eq!(deployed, apps, "one deploy per application");
    assert_eq!(apps.len(), 37);
    let relations = ids.iter().filter(|i| i.starts_with("relate:")).count();
    assert_eq!(relations, bundle.relations.len(), "every relation");
    let mut text = String::new();
    for c in commands {
        for a in c["argv"].as_array().unwrap() {
            text.push_str(a.as_str().unwrap());
            text.push('\n');
        }
        for f in c["files"].as_array().unwrap() {
            text.push_str(f["contents"].as_str().unwrap());
        }
    }
    for public in [
        "docker.io",
        "ghcr.io",
        "gcr.io",
        "nvcr.io",
        "quay.io",
        "registry.k8s.io",
    ] {
        assert!(!text.contains(public), "{public} in the plan:\n{text}");
    }
    for c in commands {
        let argv: Vec<&str> = c["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        for pair in argv.windows(2).filter(|w| w[0] == "--resource") {
            let image = pair[1].split_once('=').unwrap().1;
            assert!(
                image.starts_with("127.0.0.1:"),
                "{image} is not in the private registry"
            );
        }
    }
    // The lock was signed and verified on the far side.
    assert!(demo.join("carry/ckf-release.lock.json.sig").exists());
}

/// `ckf-airgap demo --mode headless`: CKF 1.11 gathered and installed unattended.
#[test]
fn the_real_release_demo_completes_headless_with_every_application_in_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = std::process::Command::new(crate::support::BIN)
        .args(["demo", "--mode", "headless", "--dir"])
        .arg(&demo)
        .env("NO_COLOR", "1")
        .env_remove("CKF_AIRGAP_STATE_DIR")
        .output()
        .unwrap();
    let printed = crate::support::text(&out.stdout) + &crate::support::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    for said in [
        "demo: 37 applications, 36 charms",
        "[gather-write] signed the lock",
        "signed by demo@ckf-airgap with the key SHA256:",
        "every one of its",
        "dry run: nothing was deployed",
    ] {
        assert!(printed.contains(said), "{said}: {printed}");
    }
    assert_the_plan_is_the_whole_1_11_release(&demo);
}

/// The real-release demo in line mode: gather's steps, then the install's, through their
/// prompts.
#[test]
fn the_real_release_demo_completes_in_line_mode() {
    use expectrl::Expect;
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let mut cmd = std::process::Command::new(crate::support::BIN);
    cmd.args(["demo", "--mode", "line", "--dir"])
        .arg(&demo)
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .env_remove("CKF_AIRGAP_STATE_DIR");
    let mut p =
        expectrl::session::log(expectrl::Session::spawn(cmd).unwrap(), std::io::stderr()).unwrap();
    p.set_expect_timeout(Some(std::time::Duration::from_secs(120)));
    let steps = [
        ("What to gather", "gather-source"),
        ("Charms", "gather-charms"),
        ("Images list", "gather-images"),
        ("Pull images", "gather-pull"),
        ("Write archives", "gather-write"),
        ("Done", "gather-done"),
        ("Environment checks", "environment-checks"),
        ("Artifacts", "artifacts"),
        ("Registry login", "registry-login"),
        ("Push images", "image-push"),
        ("Map placeholders", "placeholder-mapping"),
        ("Gateway service type", "gateway-type"),
        ("Preview bundle edits", "bundle-preview"),
        ("Juju setup and deploy", "juju-deploy"),
        ("Done", "done"),
    ];
    for (title, id) in steps {
        p.expect(format!("Run {title}").as_str()).unwrap();
        p.send("\r").unwrap();
        // The checks are skipped by the demo's answers: there is no cluster here.
        if id != "environment-checks" {
            p.expect(format!("[{id}] done").as_str()).unwrap();
        }
        p.expect(if id.ends_with("done") {
            "Quit"
        } else {
            "Next step"
        })
        .unwrap();
        p.send("\r").unwrap();
    }
    p.expect("finished: every step is done").unwrap();
    p.expect(expectrl::Eof).unwrap();
    let status = format!("{:?}", p.get_process().wait().unwrap());
    assert!(
        status.starts_with("Exited(") && status.ends_with(", 0)"),
        "{status}"
    );
    assert_the_plan_is_the_whole_1_11_release(&demo);
}

/// The real-release demo in the full-screen wizard: gather's six steps, then the install's
/// nine, Enter by Enter, ending in the dry run of the whole release.
#[test]
fn the_real_release_demo_walks_both_sides_in_the_full_screen_wizard() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let demo_arg = demo.display().to_string();
    let mut pty = Pty::spawn(&["demo", "--dir", &demo_arg], &[], dir.path(), (120, 40));
    for (n, title) in [
        (1, "What to gather"),
        (2, "Charms"),
        (3, "Images list"),
        (4, "Pull images"),
        (5, "Write archives"),
    ] {
        pty.wait_for_all(&[&format!("step {n}/6: {title}"), "Enter runs this step."]);
        pty.enter();
        pty.wait_for_all(&[&format!("step {n}/6"), "Enter moves to the next step."]);
        pty.enter();
    }
    pty.wait_for_all(&["step 6/6: Done", "Enter runs this step."]);
    pty.enter();
    // The demo goes on after its gather, and the screen says so rather than "q quits".
    pty.wait_for("The archives are ready. q goes on to the air-gapped install.");
    pty.send("q");
    // The air-gapped side, from the carry folder just written; its checks are skipped by the
    // demo's answers (there is no cluster here).
    pty.wait_for_all(&["step 1/9", "Enter runs this step."]);
    pty.enter();
    pty.wait_for_all(&["step 1/9", "skipped: demo"]);
    pty.enter();
    for n in 2..=6 {
        pty.wait_for_all(&[&format!("step {n}/9"), "Enter runs this step."]);
        pty.enter();
        pty.wait_for_all(&[&format!("step {n}/9"), "Enter moves to the next step."]);
        pty.enter();
    }
    // A release bundle is deployed as it is: the preview shows the plan, nothing to write.
    for n in 7..=8 {
        pty.wait_for_all(&[&format!("step {n}/9"), "Enter runs this step."]);
        pty.enter();
        pty.wait_for_all(&[&format!("step {n}/9"), "Enter moves to the next step."]);
        pty.enter();
    }
    pty.wait_for_all(&["step 9/9", "Enter runs this step."]);
    pty.enter();
    pty.wait_for("Dry run finished: nothing was deployed. q quits.");
    pty.send("q");
    assert_eq!(pty.wait_exit(), 0);
    assert_the_plan_is_the_whole_1_11_release(&demo);
}
