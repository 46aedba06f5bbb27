//! Pre-flight and backups, before the upgrade's first refresh, with the operator's consent.
//! The documented backups reach the internet (`apt install sqlite3` in the MLMD pod, Velero
//! and S3 for the databases); these need only the cluster: the MLMD database is copied out
//! with `kubectl cp`, each MySQL database is dumped through `kubectl exec` into its workload
//! container and copied out. Each file is kept in the session with its SHA-256 and size; a
//! failing backup stops the upgrade here, before anything changed.

use std::path::{Path, PathBuf};

use super::blocking::{blocking, runner};
use super::inputs::BackupsInput;
use crate::ckf_release::CkfRelease;
use crate::cluster::Cmd;
use crate::cluster::runner::Runner;
use crate::engine::context::StepContext;
use crate::engine::events::{Answer, InputKind, InputRequest, Level};
use crate::engine::outputs::{BackupFile, InstalledModel, StandingModel, UpgradeBackups};
use crate::engine::units::BackupMade;
use crate::engine::work::StepError;
use crate::version::Version;

const MLMD_CHARM: &str = "mlmd";
const MYSQL_CHARM: &str = "mysql-k8s";
/// Where the MLMD charm keeps its SQLite database (mlmd-operator, `track/ckf-1.9` README).
const MLMD_DB: &str = "/data/mlmd.db";
/// mysql-k8s's workload container.
const MYSQL_CONTAINER: &str = "mysql";

/// One backup to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backup {
    /// The MLMD database file, from its workload container.
    Mlmd {
        application: String,
        container: String,
    },
    /// Every database of one mysql-k8s application.
    Mysql { application: String },
}

impl Backup {
    pub fn name(&self) -> String {
        match self {
            Backup::Mlmd { application, .. } => format!("{application}.db"),
            Backup::Mysql { application } => format!("{application}.sql"),
        }
    }

    fn what(&self) -> String {
        match self {
            Backup::Mlmd { application, .. } => format!("{application}: the MLMD database"),
            Backup::Mysql { application } => format!("{application}: every MySQL database"),
        }
    }
}

/// The MLMD workload container is `mlmd` up to CKF 1.8 and `mlmd-grpc-server` from 1.9
/// (mlmd-operator `track/ckf-1.9`, domain research 3 §1.3).
fn mlmd_container(release: Option<CkfRelease>) -> &'static str {
    match release {
        Some(r) if r < CkfRelease::parse("1.9").unwrap_or(r) => "mlmd",
        _ => "mlmd-grpc-server",
    }
}

/// What the record holds to back up.
pub fn backups_of(record: &InstalledModel) -> Vec<Backup> {
    record
        .applications
        .iter()
        .filter_map(|a| match a.charm.as_str() {
            MLMD_CHARM => Some(Backup::Mlmd {
                application: a.application.clone(),
                container: mlmd_container(record.ckf_release).to_owned(),
            }),
            MYSQL_CHARM => Some(Backup::Mysql {
                application: a.application.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// The root password of a mysql-k8s application, from its `get-password` action (Juju 3's
/// `juju run`, Juju 2.9's `juju run-action --wait`); kept in memory only.
async fn mysql_password(
    runner: &Runner,
    juju: Version,
    model: &str,
    application: &str,
) -> Result<String, String> {
    let unit = format!("{application}/leader");
    let cmd = if juju.major >= 3 {
        Cmd::juju([
            "run",
            &unit,
            "get-password",
            "username=root",
            "--format=json",
            "--model",
            model,
        ])
    } else {
        Cmd::juju([
            "run-action",
            &unit,
            "get-password",
            "username=root",
            "--wait",
            "--format=json",
            "--model",
            model,
        ])
    }
    .quiet_stdout();
    let out = runner.capture(&cmd).await.map_err(|e| e.to_string())?;
    if !out.success() {
        return Err(format!(
            "`juju run {unit} get-password` failed: {}",
            out.stderr.trim()
        ));
    }
    let value: serde_json::Value = serde_json::from_str(&out.stdout)
        .map_err(|e| format!("`juju run {unit} get-password` did not answer JSON: {e}"))?;
    value
        .as_object()
        .into_iter()
        .flat_map(|o| o.values())
        .find_map(|u| u.pointer("/results/password")?.as_str().map(str::to_owned))
        .ok_or_else(|| format!("`juju run {unit} get-password` gave no password"))
}

async fn run_ok(runner: &Runner, cmd: &Cmd) -> Result<(), String> {
    let out = runner.capture(cmd).await.map_err(|e| e.to_string())?;
    if out.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed: {}", cmd.display(), out.stderr.trim()))
    }
}

/// Makes one backup into `file`.
async fn make(
    runner: &Runner,
    juju: Version,
    model: &str,
    backup: &Backup,
    file: &Path,
) -> Result<(), String> {
    let local = file.display().to_string();
    match backup {
        Backup::Mlmd {
            application,
            container,
        } => {
            let pod = format!("{application}-0:{MLMD_DB}");
            run_ok(
                runner,
                &Cmd::kubectl(["cp", "-n", model, "-c", container, &pod, &local]),
            )
            .await
        }
        Backup::Mysql { application } => {
            let password = mysql_password(runner, juju, model, application).await?;
            let pod = format!("{application}-0");
            let dump = format!("/tmp/ckf-airgap-{application}.sql");
            // The password goes on standard input, never on a command line or in a file.
            let script = format!(
                "read -r p; MYSQL_PWD=\"$p\" mysqldump -uroot --all-databases \
                 --single-transaction --routines --events > {dump}"
            );
            run_ok(
                runner,
                &Cmd::kubectl([
                    "exec",
                    "-i",
                    "-n",
                    model,
                    &pod,
                    "-c",
                    MYSQL_CONTAINER,
                    "--",
                    "sh",
                    "-c",
                    &script,
                ])
                .with_stdin(format!("{password}\n").into_bytes())
                .with_secret(&password),
            )
            .await?;
            let from = format!("{pod}:{dump}");
            run_ok(
                runner,
                &Cmd::kubectl(["cp", "-n", model, "-c", MYSQL_CONTAINER, &from, &local]),
            )
            .await?;
            // The dump holds the data: it does not stay in the pod.
            run_ok(
                runner,
                &Cmd::kubectl([
                    "exec",
                    "-n",
                    model,
                    &pod,
                    "-c",
                    MYSQL_CONTAINER,
                    "--",
                    "rm",
                    "-f",
                    &dump,
                ]),
            )
            .await
        }
    }
}

/// The copied file's size and SHA-256; an absent or empty file is a failed backup.
async fn measure(file: PathBuf) -> Result<(u64, String), StepError> {
    blocking(move || {
        let size = std::fs::metadata(&file)
            .map_err(|e| format!("{} was not written: {e}", file.display()))?
            .len();
        if size == 0 {
            return Err(format!("{} is empty", file.display()));
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot make {} private: {e}", file.display()))?;
        let sha = crate::artifacts::spool::sha256_file(&file).map_err(|e| e.to_string())?;
        Ok((size, sha))
    })
    .await
}

pub async fn run(ctx: StepContext) -> Result<(), StepError> {
    let standing = ctx.output::<StandingModel>()?;
    let record = &standing.record;
    let model = record.model.as_str();
    let wanted = backups_of(record);
    if wanted.is_empty() {
        ctx.log(
            Level::Info,
            "the record holds no MLMD or MySQL application: nothing to back up",
        );
        ctx.write_output(&UpgradeBackups::default())?;
        return Ok(());
    }
    let list: Vec<String> = wanted.iter().map(Backup::what).collect();
    if ctx.input::<super::inputs::DeployInput>().dry_run {
        ctx.log(
            Level::Info,
            format!(
                "dry run: nothing is backed up; a run would back up {}",
                list.join("; ")
            ),
        );
        ctx.write_output(&UpgradeBackups {
            files: vec![],
            declined: Some("dry run: nothing was backed up".into()),
        })?;
        return Ok(());
    }
    let consent = match ctx.input::<BackupsInput>().backups {
        Some(given) => given,
        None => {
            let answer = ctx
                .ask(InputRequest {
                    step: ctx.step(),
                    prompt: format!(
                        "Back up {} before the first refresh (kubectl only, no internet)?",
                        list.join("; ")
                    ),
                    kind: InputKind::Confirm,
                    answers_key: "upgrade.backups",
                })
                .await?;
            answer == Answer::Confirm(true)
        }
    };
    if !consent {
        let why = "declined by the operator: nothing was backed up before the upgrade";
        ctx.log(Level::Warn, format!("{why} ({})", list.join("; ")));
        ctx.write_output(&UpgradeBackups {
            files: vec![],
            declined: Some(why.into()),
        })?;
        return Ok(());
    }
    let dir = ctx.session_dir().join("backups");
    crate::durable::create_private_dir(&dir)
        .map_err(|e| StepError::failed(format!("cannot create {}: {e}", dir.display())))?;
    let runner = runner();
    let juju = Version::parse(&record.juju_version).unwrap_or(Version::new(3, 6, 0));
    let mut files = Vec::new();
    for backup in &wanted {
        let name = backup.name();
        if let Some(done) = ctx.detail(&BackupMade(&name)) {
            files.push(done);
            continue;
        }
        ctx.phase(format!("backing up {}", backup.what()));
        let file = dir.join(&name);
        make(&runner, juju, model, backup, &file)
            .await
            .map_err(|e| {
                StepError::failed(format!(
                    "the backup of {} failed, so the upgrade stops before its first refresh: \
                     {e}\nRetry (finished backups are kept), or decline the backups ([upgrade] \
                     backups = false) to go on without them.",
                    backup.what()
                ))
            })?;
        let (size, sha256) = measure(file.clone()).await?;
        let made = BackupFile {
            what: backup.what(),
            path: file,
            sha256,
            size,
        };
        ctx.log(
            Level::Info,
            format!(
                "{}: {} ({} bytes, sha256 {})",
                made.what,
                made.path.display(),
                made.size,
                made.sha256
            ),
        );
        ctx.record(&BackupMade(&name), &made)?;
        files.push(made);
    }
    ctx.write_output(&UpgradeBackups {
        files,
        declined: None,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mlmd_container_follows_the_release() {
        assert_eq!(mlmd_container(CkfRelease::parse("1.8")), "mlmd");
        assert_eq!(
            mlmd_container(CkfRelease::parse("1.10")),
            "mlmd-grpc-server"
        );
        assert_eq!(mlmd_container(None), "mlmd-grpc-server");
    }
}
