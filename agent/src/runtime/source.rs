//! Starting the configured route source: a stream of stores, and the Kubernetes client when
//! there is one (for Events).

use std::{sync::Arc, time::Duration};

use shadowtap_routes::Store;
use tokio::sync::watch;

use super::{RouteSource, RuntimeError};

/// How long the file source waits for a burst of file changes to settle.
const FILE_DEBOUNCE: Duration = Duration::from_millis(500);

/// Stores from the configured source; the first one is complete (listed or read).
pub async fn start(
    source: &RouteSource,
    node_name: &str,
) -> Result<(watch::Receiver<Arc<Store>>, Option<kube::Client>), RuntimeError> {
    if let RouteSource::Files(path) = source {
        let watch = shadowtap_routes::FileWatch::new(path.clone())?;
        let (stores, mut errors, _task) = watch.spawn(FILE_DEBOUNCE);
        tokio::spawn(async move {
            while let Some(e) = errors.recv().await {
                tracing::debug!(error = %e, "routes file rejected");
            }
        });
        return Ok((stores, None));
    }
    let client = kube::Client::try_default()
        .await
        .map_err(RuntimeError::KubeClient)?;
    let mut source = shadowtap_routes::kube_source::start(
        client.clone(),
        shadowtap_routes::KubeSourceConfig::new(node_name),
    );
    source.initial().await?;
    let mut errors = source.errors;
    tokio::spawn(async move {
        while let Some(e) = errors.recv().await {
            tracing::warn!(error = %e, "Kubernetes watch error");
        }
    });
    Ok((source.stores, Some(client)))
}
