//! The work the steps hand to other threads and processes: blocking IO off the async threads,
//! and the cluster's command-line tools.

use crate::cluster::cmd::Tools;
use crate::cluster::runner::Runner;
use crate::engine::work::StepError;

/// Runs blocking work (file reading, hashing) off the async threads and maps its error.
pub async fn blocking<T, E>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, StepError>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(StepError::failed(e.to_string())),
        Err(e) => Err(StepError::failed(format!(
            "the work stopped unexpectedly: {e}"
        ))),
    }
}

/// `juju`, `kubectl` (or `microk8s kubectl`) as the steps run them.
pub fn runner() -> Runner {
    Runner::new(Tools::default()).with_kubectl_fallback()
}
