//! What every request handler shares: the store, health, hooks, the forge and credentials.

use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use crate::git::forge::Forge;
use crate::store::Store;
use crate::web::health::Health;
use crate::web::hooks::HookSettings;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub health: Arc<RwLock<Health>>,
    /// Turns true when the server shuts down, so open event streams end.
    pub shutdown: watch::Receiver<bool>,
    pub hooks: HookSettings,
    /// Networks paused because they refused their credentials.
    pub paused: crate::delivery::pausing::PausedNetworks,
    /// The repository images are read from for `GET /media/<blob>`.
    pub repo: std::path::PathBuf,
    /// The forge the remote repository is on, for links to commits and files.
    pub forge: Option<Forge>,
    /// Dashboard credentials; `None` is an open dashboard (loopback only).
    pub auth: Option<crate::web::auth::DashboardAuth>,
    /// Where the desk writes proposals.
    pub desk: Option<Arc<crate::web::proposals::DeskRepo>>,
}
