//! `ckf-airgap demo`, the README's first command, run as a newcomer would: in a terminal,
//! pressing Enter through the wizard against the synthetic release and the throwaway registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::pty::Pty;

#[test]
fn the_demo_walks_through_every_step_with_the_deploy_as_a_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let demo_arg = demo.display().to_string();
    let mut pty = Pty::spawn(&["demo", "--dir", &demo_arg], &[], dir.path(), (120, 40));
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
    pty.wait_for("The install is complete. q quits.");
    pty.send("q");
    pty.send("y");
    assert_eq!(pty.wait_exit(), 0);
    assert!(demo.join("bundle.airgap.yaml").exists());
}

/// `ckf-airgap demo --mode headless` runs the whole wizard unattended and exits 0.
#[test]
fn the_demo_completes_headless() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = std::process::Command::new(crate::support::BIN)
        .args(["demo", "--mode", "headless", "--dir"])
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
fn the_demo_completes_in_line_mode() {
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
