//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "ckf-airgap",
    version = crate::version::TOOL_VERSION,
    about = "Install Charmed Kubeflow in an air-gapped environment, step by step, resumably.",
    long_about = "Install Charmed Kubeflow in an air-gapped environment, step by step, resumably.\n\n\
        With no command, starts the wizard and offers to resume the newest unfinished session.\n\
        Every finished unit of work is saved, so an interrupted install continues where it stopped.",
    after_help = "Sessions are kept in the state directory (--state-dir, $CKF_AIRGAP_STATE_DIR, \
        else ~/.local/state/ckf-airgap)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CliCommand>,

    /// Front end: a full-screen wizard, plain line prompts, or no prompts at all (needs --answers).
    /// Default: tui when stdin and stdout are terminals.
    #[arg(long, value_enum, global = true)]
    pub mode: Option<Mode>,

    /// Answers file (TOML) that fills in the wizard's choices; required by --mode headless.
    #[arg(long, value_name = "FILE", global = true)]
    pub answers: Option<PathBuf>,

    /// Resume this session instead of the newest unfinished one.
    #[arg(long, value_name = "ID", conflicts_with = "new", global = true)]
    pub session: Option<String>,

    /// Start a new session even when an unfinished one exists.
    #[arg(long, global = true)]
    pub new: bool,

    /// Where sessions and logs are kept.
    #[arg(long, value_name = "DIR", global = true, env = "CKF_AIRGAP_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// How much the session log says: error, warn, info (default), debug, trace, or a
    /// tracing filter such as `info,ckf_airgap::registry=debug`.
    #[arg(
        long,
        value_name = "LEVEL",
        global = true,
        env = "CKF_AIRGAP_LOG",
        value_parser = parse_log_level
    )]
    pub log_level: Option<String>,

    /// Draw with ASCII only (for serial consoles and limited fonts).
    #[arg(long, global = true)]
    pub ascii: bool,
}

/// A level or a tracing filter, refused at the command line when it does not parse.
fn parse_log_level(text: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("{e}; give error, warn, info, debug or trace"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Tui,
    Line,
    Headless,
}

#[derive(Debug, Clone, Subcommand)]
pub enum CliCommand {
    /// Run both sides of the gap on CKF 1.11's real bundle and charm files: gather from a
    /// local upstream registry into a carry folder (the lock signed with a throwaway key),
    /// then the install wizard into a second local registry, ending in the dry-run plan of
    /// every application (`--release 1.7`: the 1.7 air-gapped bundle on a synthetic release).
    Demo {
        /// Where the demo keeps its release, registries and sessions.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Which release to show.
        #[arg(long, value_name = "RELEASE", default_value = "1.11", value_parser = ["1.11", "1.7"])]
        release: String,
    },
    /// On the connected side: download the charms of a release bundle, derive every image
    /// from them, pull them without a daemon and write images.tar.gz, charms.tar.gz,
    /// retagged-images.txt and ckf-release.lock.json (choices in the answers file's [gather]).
    Gather,
    /// On the air-gapped side: upgrade a running CKF to the next release from the archives an
    /// upgrade's gather wrote (choices in the answers file's [upgrade], [artifacts], [bundle]
    /// and [registry]): the model as it stands, the archives, the push, the plan with each
    /// application's way back, backups, then the run.
    Upgrade,
    /// List, show or remove saved sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// The containerd registry mirrors the environment step wrote.
    #[command(subcommand)]
    Mirrors(MirrorsCommand),
    /// Print shell completions (bash, zsh, fish, ...) to standard output, e.g.
    /// `ckf-airgap completions bash > /etc/bash_completion.d/ckf-airgap`.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff) to standard output, e.g. `ckf-airgap man | man -l -`.
    Man,
    /// Check an answers file without running anything.
    ValidateAnswers {
        /// The answers file (TOML).
        file: PathBuf,
    },
    /// Write a session's choices as an answers file (never with the password).
    ExportAnswers {
        /// The session (default: the newest).
        #[arg(long, value_name = "ID")]
        session: Option<String>,
        /// Write here instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum MirrorsCommand {
    /// Remove every registry-mirror file ckf-airgap wrote (the operator's own files stay).
    Undo {
        /// containerd's certs.d (default: MicroK8s's /var/snap/microk8s/current/args/certs.d).
        #[arg(long, value_name = "DIR")]
        certs_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum SessionsCommand {
    /// List sessions, newest first, with where each stopped.
    List,
    /// Show one session's steps and choices.
    Show { id: String },
    /// Delete a session and its files.
    Remove { id: String },
}
