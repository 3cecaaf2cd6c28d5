//! The start queue of scheduled jobs: jobs whose `start_at` arrives while another
//! scheduled job is still copying wait their turn, so two bulk copies never compete
//! for the same disks and CPUs by accident. A job leaves the queue's single slot when
//! its copy ends (it then follows the binlog, which is light) or when it stops.

use std::sync::Arc;

/// Shared by every job of one process (the app's window); clones share the slot.
#[derive(Debug, Clone, Default)]
pub struct Queue {
    // tokio's Mutex hands the lock out in the order it was asked for: first come,
    // first served.
    slot: Arc<tokio::sync::Mutex<()>>,
    holder: Arc<std::sync::Mutex<Option<String>>>,
}

/// The right to copy; dropping it lets the next queued job start.
#[derive(Debug)]
pub struct Turn {
    _guard: tokio::sync::OwnedMutexGuard<()>,
    holder: Arc<std::sync::Mutex<Option<String>>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Ok(mut h) = self.holder.lock() {
            *h = None;
        }
    }
}

impl Queue {
    /// The job holding the slot now, if any.
    pub fn holder(&self) -> Option<String> {
        self.holder.lock().ok().and_then(|h| h.clone())
    }

    /// Takes the slot at once when it is free.
    pub fn try_enter(&self, job: &str) -> Option<Turn> {
        let guard = self.slot.clone().try_lock_owned().ok()?;
        Some(self.turn(guard, job))
    }

    /// Waits for the slot.
    pub async fn enter(&self, job: &str) -> Turn {
        let guard = self.slot.clone().lock_owned().await;
        self.turn(guard, job)
    }

    fn turn(&self, guard: tokio::sync::OwnedMutexGuard<()>, job: &str) -> Turn {
        if let Ok(mut h) = self.holder.lock() {
            *h = Some(job.to_string());
        }
        Turn {
            _guard: guard,
            holder: self.holder.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_come_first_served() {
        let q = Queue::default();
        let a = q.try_enter("a").expect("free");
        assert_eq!(q.holder().as_deref(), Some("a"));
        assert!(q.try_enter("b").is_none());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for name in ["b", "c"] {
            let (q, order) = (q.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let _t = q.enter(name).await;
                order.lock().unwrap().push(name);
            }));
            // Let it line up before the next one.
            tokio::task::yield_now().await;
        }
        drop(a);
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec!["b", "c"]);
        assert_eq!(q.holder(), None);
    }
}
