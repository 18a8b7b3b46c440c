//! The file source: `--routes PATH`, a YAML file (multi-document) or a directory of them.
//!
//! Every document must be one of the kinds the [`Store`] holds (or a `List` of them); anything
//! else, a misspelt field, or the same object twice is an error naming the file, the object
//! and the field. [`FileWatch`] polls the files and yields a new store when they change; a
//! change that fails to load keeps the previous good store and reports the error.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::strict::{self, StrictError};
use crate::model::Store;

/// Why the file source could not produce a store.
#[derive(Debug, thiserror::Error)]
pub enum FileSourceError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A document is not valid YAML.
    #[error("{path}: document {document}: invalid YAML: {source}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// Index of the document in the file (0-based).
        document: usize,
        /// YAML error.
        #[source]
        source: yaml_serde::Error,
    },
    /// A document could not be converted to JSON (e.g. non-string map keys).
    #[error("{path}: document {document}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Index of the document in the file (0-based).
        document: usize,
        /// Conversion error.
        #[source]
        source: serde_json::Error,
    },
    /// An object was rejected.
    #[error("{path}: {object}: {source}")]
    Object {
        /// The file.
        path: PathBuf,
        /// `Kind namespace/name`.
        object: String,
        /// Why.
        #[source]
        source: StrictError,
    },
    /// The same object appears twice.
    #[error("{path}: {object} is defined more than once")]
    Duplicate {
        /// The file of the second definition.
        path: PathBuf,
        /// `Kind namespace/name`.
        object: String,
    },
}

/// The YAML files under `path`: the file itself, or the `*.yaml`/`*.yml`/`*.json` files of a
/// directory (recursively), sorted.
fn list_files(path: &Path) -> Result<Vec<PathBuf>, FileSourceError> {
    let io = |source| FileSourceError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        let p = entry.path();
        if p.is_dir() {
            out.extend(list_files(&p)?);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the file contents of `path` (see [`list_files`]).
fn read_all(path: &Path) -> Result<Vec<(PathBuf, String)>, FileSourceError> {
    list_files(path)?
        .into_iter()
        .map(|p| {
            std::fs::read_to_string(&p)
                .map(|s| (p.clone(), s))
                .map_err(|source| FileSourceError::Io { path: p, source })
        })
        .collect()
}

/// Parses one file's text into `store`.
pub fn load_str(store: &mut Store, path: &Path, text: &str) -> Result<(), FileSourceError> {
    for (document, de) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let yaml = yaml_serde::Value::deserialize(de).map_err(|source| FileSourceError::Yaml {
            path: path.to_owned(),
            document,
            source,
        })?;
        if yaml.is_null() {
            continue;
        }
        let value: Value = serde_json::to_value(yaml).map_err(|source| FileSourceError::Json {
            path: path.to_owned(),
            document,
            source,
        })?;
        let items = match value.get("kind").and_then(Value::as_str) {
            Some("List") => match value.get("items") {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            },
            _ => vec![value],
        };
        for item in items {
            let object = strict::describe(&item);
            let obj = strict::parse_object(item).map_err(|source| FileSourceError::Object {
                path: path.to_owned(),
                object: object.clone(),
                source,
            })?;
            if store.insert(obj) {
                return Err(FileSourceError::Duplicate {
                    path: path.to_owned(),
                    object,
                });
            }
        }
    }
    Ok(())
}

fn load_contents(files: &[(PathBuf, String)]) -> Result<Store, FileSourceError> {
    let mut store = Store::new();
    for (p, text) in files {
        load_str(&mut store, p, text)?;
    }
    Ok(store)
}

/// Loads a file or directory into a new store.
pub fn load_path(path: &Path) -> Result<Store, FileSourceError> {
    load_contents(&read_all(path)?)
}

/// What a [`FileWatch`] reports.
#[derive(Debug)]
pub enum FileEvent {
    /// The files changed and loaded: the new store.
    Reloaded(Arc<Store>),
    /// The files changed but failed to load: the previous store stays current.
    Rejected(FileSourceError),
}

/// A poll of the files under a path, reloading the store when their contents change.
#[derive(Debug)]
pub struct FileWatch {
    path: PathBuf,
    last: Vec<(PathBuf, String)>,
    current: Arc<Store>,
}

impl FileWatch {
    /// Loads `path`; fails if the initial load fails.
    pub fn new(path: impl Into<PathBuf>) -> Result<Self, FileSourceError> {
        let path = path.into();
        let last = read_all(&path)?;
        let current = Arc::new(load_contents(&last)?);
        Ok(Self {
            path,
            last,
            current,
        })
    }

    /// The current (last good) store.
    pub fn current(&self) -> Arc<Store> {
        Arc::clone(&self.current)
    }

    /// Re-reads the files; `None` when nothing changed since the last poll.
    pub fn poll(&mut self) -> Option<FileEvent> {
        let files = match read_all(&self.path) {
            Ok(f) => f,
            Err(e) => return Some(FileEvent::Rejected(e)),
        };
        if files == self.last {
            return None;
        }
        let result = load_contents(&files);
        self.last = files;
        Some(match result {
            Ok(store) => {
                let store = Arc::new(store);
                if store == self.current {
                    return None;
                }
                self.current = Arc::clone(&store);
                FileEvent::Reloaded(store)
            }
            Err(e) => FileEvent::Rejected(e),
        })
    }

    /// Polls every `interval` on a task. The watch channel always holds the last good store;
    /// load errors are sent on the mpsc channel (and logged).
    pub fn spawn(
        mut self,
        interval: Duration,
    ) -> (
        watch::Receiver<Arc<Store>>,
        mpsc::UnboundedReceiver<FileSourceError>,
        JoinHandle<()>,
    ) {
        let (store_tx, store_rx) = watch::channel(self.current());
        let (err_tx, err_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match self.poll() {
                    None => {}
                    Some(FileEvent::Reloaded(store)) => {
                        tracing::info!(path = %self.path.display(), objects = store.len(), "routes reloaded");
                        if store_tx.send(store).is_err() {
                            return;
                        }
                    }
                    Some(FileEvent::Rejected(e)) => {
                        tracing::warn!(error = %e, "routes not reloaded; keeping the previous ones");
                        let _ = err_tx.send(e);
                    }
                }
                if store_tx.is_closed() {
                    return;
                }
            }
        });
        (store_rx, err_rx, task)
    }
}
