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
    // Watch errors while the first lists are pending: a 403 never heals (RBAC older than
    // the agent), anything else is retried by the watchers and logged.
    loop {
        tokio::select! {
            listed = source.stores.changed() => {
                listed.map_err(|_| shadowtap_routes::KubeSourceError::Stopped)?;
                source.stores.borrow_and_update();
                break;
            }
            Some(e) = source.errors.recv() => {
                if let Some((resource, detail)) = forbidden(&e) {
                    return Err(RuntimeError::Forbidden { resource, detail });
                }
                tracing::warn!(error = %e, "Kubernetes watch error while listing");
            }
        }
    }
    let mut errors = source.errors;
    tokio::spawn(async move {
        while let Some(e) = errors.recv().await {
            tracing::warn!(error = %e, "Kubernetes watch error");
        }
    });
    Ok((source.stores, Some(client)))
}

/// The resource and message of a 403 from the API server.
fn forbidden(e: &shadowtap_routes::KubeSourceError) -> Option<(&'static str, String)> {
    use kube::runtime::watcher::Error as W;
    let shadowtap_routes::KubeSourceError::Watch { resource, source } = e else {
        return None;
    };
    let status = match source.as_ref() {
        W::InitialListFailed(kube::Error::Api(s))
        | W::WatchStartFailed(kube::Error::Api(s))
        | W::WatchFailed(kube::Error::Api(s)) => s.as_ref(),
        W::WatchError(s) => s.as_ref(),
        _ => return None,
    };
    status
        .is_forbidden()
        .then(|| (*resource, status.message.clone()))
}
