//! What the sync loop looks at once per tick, read and written off the apply's
//! path: whether a request waits in the job's control row, the source's binlog
//! position, and the job's status for `ferry status`. At a distance each is round
//! trips that the apply would otherwise wait for every second.
//!
//! Guarantee: a request is never taken here, only seen (the loop takes it, on its
//! own connection, so none is lost when the loop ends); and the last status
//! handed to [`Poll::save`] is stored before [`Poll::close`] returns, so no older
//! status can land after a later, synchronous save.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::checkpoint::Meta;
use crate::endpoint::{Endpoint, Flavor};
use crate::position::Position;

/// What one round of the poll read.
#[derive(Debug, Clone, Default)]
pub struct Polled {
    /// A request waits in the job's control row.
    pub request: bool,
    /// The source's position (None while it cannot be read).
    pub source: Option<Position>,
}

pub struct Poll {
    polled: watch::Receiver<Option<Polled>>,
    status: watch::Sender<Option<String>>,
    reader: JoinHandle<()>,
    saver: JoinHandle<()>,
}

/// The source's current position, on a pooled connection.
pub async fn source_position(source: &Endpoint, flavor: Flavor) -> Option<Position> {
    let mut conn = source.conn().await.ok()?;
    crate::position::current(&mut conn, flavor).await.ok()
}

impl Poll {
    /// Starts reading every `every`, and a writer for statuses.
    pub fn start(
        source: &Endpoint,
        target: &Endpoint,
        flavor: Flavor,
        meta: &Meta,
        every: Duration,
    ) -> Poll {
        let (polled_tx, polled) = watch::channel(None);
        let (status, mut status_rx) = watch::channel::<Option<String>>(None);
        let (source, t, m) = (source.clone(), target.clone(), meta.clone());
        let reader = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let request = async {
                    let mut conn = t.conn().await.ok()?;
                    m.request_waits(&mut conn).await.ok()
                };
                let (request, source) = tokio::join!(request, source_position(&source, flavor));
                let round = Polled {
                    request: request.unwrap_or(false),
                    source,
                };
                if polled_tx.send(Some(round)).is_err() {
                    break;
                }
            }
        });
        let (t, m) = (target.clone(), meta.clone());
        let saver = tokio::spawn(async move {
            // Ends when the sender is dropped, after storing the last status.
            while status_rx.changed().await.is_ok() {
                let json = status_rx.borrow_and_update().clone();
                if let (Some(json), Ok(mut conn)) = (json, t.conn().await) {
                    let _ = m.save_status(&mut conn, &json).await;
                }
            }
        });
        Poll {
            polled,
            status,
            reader,
            saver,
        }
    }

    /// The latest round (None before the first has ended).
    pub fn latest(&self) -> Option<Polled> {
        self.polled.borrow().clone()
    }

    /// Stores `json` as the job's status, in the background; a newer one replaces
    /// one not yet stored.
    pub fn save(&self, json: String) {
        let _ = self.status.send(Some(json));
    }

    /// Stops reading and waits (a few seconds at most) for the last status to be
    /// stored.
    pub async fn close(self) {
        self.reader.abort();
        drop(self.status);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.saver).await;
    }
}
