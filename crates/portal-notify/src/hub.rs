//! The toast fan-out: tells every open notification stream of this process that a toast was
//! written for someone, whichever process wrote it.
//!
//! ```text
//! write transaction ──NOTIFY portal_toasts──> PostgreSQL ──LISTEN (one connection per process)──┐
//!   (SQLite: after commit, in-process) ─────────────────────────────────────────────────────────┤
//!                                                                        broadcast (in-process) ┘──> streams
//! ```
//!
//! A signal carries ids only (`staff_id:notification_id`), never a title or a body: it may travel
//! through PostgreSQL and is never logged. The stream that receives it reads the row, and only
//! the stream whose `mark_toasted` marked it sends it, so that a person with several tabs open
//! (on several replicas) sees one toast. A signal that is lost (a lagging stream, a LISTEN
//! connection being re-established) only delays a toast: streams also look for pending toasts
//! from time to time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use portal_store::notifications::NotificationRow;
use portal_store::{Backend, Db, DbConn, StoreError};
use tokio::sync::broadcast;
use tokio_util::sync::{CancellationToken, DropGuard};

/// The PostgreSQL channel the signals travel on.
pub const CHANNEL: &str = "portal_toasts";

/// How many signals a slow stream may fall behind before it misses some (it then looks for its
/// pending toasts instead).
const CAPACITY: usize = 1024;

/// "A toast was written for this person."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToastSignal {
    pub staff_id: String,
    pub notification_id: String,
}

impl ToastSignal {
    /// The NOTIFY payload.
    pub fn payload(&self) -> String {
        format!("{}:{}", self.staff_id, self.notification_id)
    }

    pub fn parse(payload: &str) -> Option<ToastSignal> {
        let (staff_id, notification_id) = payload.split_once(':')?;
        (!staff_id.is_empty() && !notification_id.is_empty())
            .then(|| ToastSignal { staff_id: staff_id.to_owned(), notification_id: notification_id.to_owned() })
    }

    /// The signals of the toasts among `rows`.
    pub fn of(rows: &[NotificationRow]) -> Vec<ToastSignal> {
        rows.iter()
            .filter(|n| n.toast)
            .map(|n| ToastSignal { staff_id: n.staff_id.clone(), notification_id: n.id.clone() })
            .collect()
    }
}

/// One process's fan-out: cheap to clone. Its LISTEN task (PostgreSQL) ends when the last clone
/// is dropped or the token given to [`Hub::listen`] is cancelled.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<ToastSignal>,
    _stop: Arc<DropGuard>,
    token: CancellationToken,
    /// Whether the LISTEN connection is up (PostgreSQL).
    listening: Arc<AtomicBool>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("receivers", &self.tx.receiver_count()).finish()
    }
}

impl Hub {
    /// An in-process hub (and, after [`Hub::listen`], one fed by PostgreSQL).
    pub fn new() -> Hub {
        let (tx, _) = broadcast::channel(CAPACITY);
        let token = CancellationToken::new();
        Hub { tx, _stop: Arc::new(token.clone().drop_guard()), token, listening: Arc::new(AtomicBool::new(false)) }
    }

    /// The signals from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ToastSignal> {
        self.tx.subscribe()
    }

    /// Whether signals of other processes arrive now: the LISTEN connection is up
    /// (PostgreSQL; on SQLite there are no other processes).
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    /// Broadcasts in this process only.
    pub fn broadcast(&self, signals: impl IntoIterator<Item = ToastSignal>) {
        for s in signals {
            // No stream open: nobody to tell; the toast waits as pending.
            let _ = self.tx.send(s);
        }
    }

    /// After a transaction that wrote `rows` committed: on SQLite (one process) the signals
    /// go out here; on PostgreSQL they went out with the commit ([`notify`]) and come back
    /// through every process's LISTEN, this one's included.
    pub fn committed(&self, backend: Backend, rows: &[NotificationRow]) {
        if backend == Backend::Sqlite {
            self.broadcast(ToastSignal::of(rows));
        }
    }

    /// On PostgreSQL, listens on [`CHANNEL`] with a connection of its own to `url` and
    /// re-broadcasts what arrives, reconnecting (after a pause) whenever the connection is
    /// lost, until `shutdown` is cancelled or the hub is dropped. Nothing on SQLite.
    pub fn listen(&self, db: &Db, url: &str, shutdown: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
        if db.backend() != Backend::Postgres {
            return None;
        }
        // Outside a runtime (nothing that serves is) there is nothing to listen for.
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let tx = self.tx.clone();
        let url = url.to_owned();
        let hub_gone = self.token.clone();
        let listening = self.listening.clone();
        Some(runtime.spawn(async move {
            tokio::select! {
                () = listen_loop(&tx, &url, &listening) => {},
                () = shutdown.cancelled() => {},
                () = hub_gone.cancelled() => {},
            }
        }))
    }
}

/// Sends the NOTIFY of each toast among `rows` on `conn`, inside the caller's transaction, so
/// that it fires on commit (and never for a rolled-back write). Nothing on SQLite.
pub async fn notify(conn: &mut DbConn, rows: &[NotificationRow]) -> Result<(), StoreError> {
    let payloads: Vec<String> = ToastSignal::of(rows).iter().map(ToastSignal::payload).collect();
    portal_store::notifications::pg_notify(conn, CHANNEL, &payloads).await
}

/// How often an idle LISTEN connection is checked (a connection that died silently is noticed
/// then).
const PING: Duration = Duration::from_secs(30);

async fn listen_loop(tx: &broadcast::Sender<ToastSignal>, url: &str, listening: &AtomicBool) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let mut pause = Duration::from_millis(250);
    loop {
        match AsyncPgConnection::establish(url).await {
            Ok(mut conn) => match conn.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                Ok(()) => {
                    tracing::info!("toasts: listening for notifications");
                    pause = Duration::from_millis(250);
                    listening.store(true, Ordering::SeqCst);
                    // Toasts written while the connection was down are found by the streams'
                    // own look for pending toasts.
                    loop {
                        let next = {
                            let mut stream = std::pin::pin!(conn.notifications_stream());
                            tokio::time::timeout(PING, stream.next()).await
                        };
                        match next {
                            Ok(Some(Ok(n))) => {
                                if let Some(s) = ToastSignal::parse(&n.payload) {
                                    let _ = tx.send(s);
                                }
                            }
                            Ok(Some(Err(e))) => {
                                tracing::warn!(error = %e, "toasts: the LISTEN connection failed; reconnecting");
                                break;
                            }
                            Ok(None) => {
                                tracing::warn!("toasts: the LISTEN connection closed; reconnecting");
                                break;
                            }
                            Err(_idle) => {
                                if let Err(e) = conn.batch_execute("SELECT 1").await {
                                    tracing::warn!(error = %e, "toasts: the LISTEN connection is gone; reconnecting");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "toasts: LISTEN failed; retrying"),
            },
            Err(e) => tracing::warn!(error = %e, "toasts: cannot connect for LISTEN; retrying"),
        }
        listening.store(false, Ordering::SeqCst);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_refuse_garbage() {
        let s = ToastSignal { staff_id: "a1".into(), notification_id: "n2".into() };
        assert_eq!(ToastSignal::parse(&s.payload()), Some(s));
        assert_eq!(ToastSignal::parse("nothing"), None);
        assert_eq!(ToastSignal::parse(":x"), None);
    }

    #[tokio::test]
    async fn broadcasts_reach_subscribers() {
        let hub = Hub::new();
        let mut rx = hub.subscribe();
        hub.broadcast([ToastSignal { staff_id: "a".into(), notification_id: "b".into() }]);
        assert_eq!(rx.recv().await.unwrap().notification_id, "b");
    }
}
