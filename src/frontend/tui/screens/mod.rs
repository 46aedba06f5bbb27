//! One screen per step. Each draws the step's own content below the common status lines and
//! may claim keys before the wizard's generic ones (a form field must receive the letter `b`).

pub mod checks;
pub mod deploy;
pub mod done;
pub mod gateway;
pub mod gather;
pub mod inventory;
pub mod mapping;
pub mod preview;
pub mod push;
pub mod registry;
pub mod rows;
mod status;
mod wrapped;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;

use super::app::App;
use crate::engine::Command;
use crate::wizard::Step;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    match app.view.state.current {
        Step::EnvironmentChecks => checks::render(frame, area, app),
        Step::Artifacts => inventory::render(frame, area, app),
        Step::RegistryLogin => registry::render(frame, area, app),
        Step::ImagePush => push::render(frame, area, app),
        Step::PlaceholderMapping => mapping::render(frame, area, app),
        Step::GatewayType => gateway::render(frame, area, app),
        Step::BundlePreview => preview::render(frame, area, app),
        Step::JujuDeploy => deploy::render(frame, area, app),
        Step::Done | Step::UpgradeDone => done::render(frame, area, app),
        // The model as it stands is a list of checks, one per application; the plan and its
        // run are commands, drawn as the deploy's.
        Step::UpgradeModel => checks::render(frame, area, app),
        Step::UpgradePlan | Step::UpgradeBackups | Step::UpgradeRun => {
            deploy::render(frame, area, app)
        }
        Step::GatherSource
        | Step::GatherCharms
        | Step::GatherImages
        | Step::GatherPull
        | Step::GatherWrite
        | Step::GatherDone => gather::render(frame, area, app),
    }
}

/// Keys the current screen handles itself; None leaves the key to the wizard.
pub fn on_key(app: &mut App, key: KeyEvent) -> Option<Vec<Command>> {
    match app.view.state.current {
        Step::EnvironmentChecks => checks::on_key(app, key),
        Step::Artifacts => inventory::on_key(app, key),
        Step::RegistryLogin => registry::on_key(app, key),
        Step::ImagePush => push::on_key(app, key),
        Step::PlaceholderMapping => mapping::on_key(app, key),
        Step::GatewayType => gateway::on_key(app, key),
        Step::BundlePreview => preview::on_key(app, key),
        Step::JujuDeploy | Step::UpgradePlan | Step::UpgradeRun => deploy::on_key(app, key),
        Step::UpgradeModel => checks::on_key(app, key),
        Step::UpgradeBackups | Step::UpgradeDone => None,
        Step::Done
        | Step::GatherSource
        | Step::GatherCharms
        | Step::GatherImages
        | Step::GatherPull
        | Step::GatherWrite
        | Step::GatherDone => None,
    }
}

/// The selected row of the screen's list, every field whole, for the detail view (`v`).
pub fn selected_row(app: &App) -> Option<Vec<String>> {
    match app.view.state.current {
        Step::EnvironmentChecks => checks::selected_row(app),
        Step::Artifacts => inventory::selected_row(app),
        Step::ImagePush => push::selected_row(app),
        Step::PlaceholderMapping => mapping::selected_row(app),
        Step::JujuDeploy | Step::UpgradePlan | Step::UpgradeRun => deploy::selected_row(app),
        Step::UpgradeModel => checks::selected_row(app),
        _ => None,
    }
}

/// Help text for the screen, shown by `?`.
pub fn help(step: Step) -> &'static [&'static str] {
    match step {
        Step::EnvironmentChecks => &[
            "Checks the cluster, the registry, Juju and the disk before anything changes.",
            "Up/Down select a check to see its evidence and its fix.",
            "x skips the selected failing check (the reason is recorded) and checks again.",
        ],
        Step::Artifacts => &[
            "Reads images.tar.gz and charms.tar.gz once, verifying every layer's digest.",
            "Up/Down scroll the inventory. A resumed run skips images already read.",
        ],
        Step::RegistryLogin => &[
            "Tab moves between fields; type to edit; Enter tests the connection.",
            "The password stays in memory only. Esc leaves the form for the wizard keys.",
        ],
        Step::ImagePush => &[
            "Pushes every image straight from the archive. Finished layers are never sent again.",
            "Up/Down scroll the rows.",
        ],
        Step::PlaceholderMapping => &[
            "Every image reference of the bundle and where it will point. Missing first.",
            "Up/Down select, / filters, e edits the selected target, p rewrites a prefix",
            "for every row, x leaves the selected reference as written (a reason is recorded).",
            "Edits are checked again at once.",
        ],
        Step::GatewayType => {
            &["How the Kubeflow dashboard is exposed. Up/Down choose, Enter confirms."]
        }
        Step::BundlePreview => &[
            "The whole edit as a diff. Up/Down/PgUp/PgDn scroll, ] and [ jump between hunks.",
            "y writes the edited bundle to a new file; the original is never changed.",
        ],
        Step::JujuDeploy => &[
            "The juju commands, run one by one with their output, then the model's status.",
            "Up/Down select a command; x skips a failed one (the reason is recorded).",
            "Enter retries from the first unfinished command.",
        ],
        Step::Done => &["How to reach the dashboard and what to do next."],
        Step::GatherSource => &["What to gather: a release bundle, .charm files, image lists."],
        Step::GatherCharms => &["Each charm of the bundle, from the folder or Charmhub, verified."],
        Step::GatherImages => &["Every image the charms need, by registry, before any pull."],
        Step::GatherPull => &[
            "Every image pulled without a daemon, each blob verified; finished blobs are kept.",
            "An image that cannot be pulled is listed at the end; the rest go on.",
        ],
        Step::GatherWrite => {
            &["images.tar.gz, retagged-images.txt, charms.tar.gz and the lock file."]
        }
        Step::GatherDone => &["What to carry across the gap."],
        Step::UpgradeModel => &[
            "The record of the install against juju status: every application there, on its",
            "charm and active, and nothing else. Nothing is changed. Up/Down select one.",
        ],
        Step::UpgradePlan => &[
            "The whole upgrade before anything runs: istio hop by hop, every refresh with all",
            "its resources and image options, then each application's way back.",
            "Every image it names is looked up in the registry first.",
        ],
        Step::UpgradeBackups => &[
            "The MLMD database and every MySQL database copied out with kubectl, no internet.",
            "Each file is kept in the session with its SHA-256; a failed backup stops here.",
        ],
        Step::UpgradeRun => &[
            "The plan's commands one by one, each application waited for until it settles.",
            "A failed application: retry, skip with a reason (x), or take it back.",
        ],
        Step::UpgradeDone => &["Where the upgraded model's record, the plan and the backups are."],
    }
}
