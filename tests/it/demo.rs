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
