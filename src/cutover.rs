//! The cutover: the one step of a migration that cannot be redone. Its steps, in
//! order, and what Ferry guarantees at each:
//!
//! 1. **Request** (`ferry complete`, the app's Complete, DM's stop-with-cutover):
//!    reaches the running sync as a `Request::Complete` from its own process or
//!    through the job's control row; a sync waiting to reconnect keeps it.
//! 2. **Freeze** (optional): `SET GLOBAL read_only = ON` on the source, where the
//!    account may. Afterwards only accounts with SUPER / READ_ONLY ADMIN can write.
//! 3. **Mark**: the source's position, read after the freeze — the *drain
//!    position*. Everything the application wrote before it asked is before it.
//! 4. **Drain** ([`Drain`]): the sync applies everything up to the mark. The
//!    applied position also moves over events between transactions (rotation,
//!    format description, GTID list, binlog checkpoint: see `reader::Transaction`),
//!    so after `FLUSH BINARY LOGS` or a source restart the mark is reached although
//!    no transaction follows it.
//! 5. **Confirm**: at the mark, the source's position is read again and the sync
//!    applies up to it as well, deciding a tick (a second) later at the earliest.
//!    Every row change to a selected table after the mark is counted as a *late
//!    write*: evidence that the application still
//!    writes. With late writes the cutover is **refused** (the job goes on
//!    syncing, nothing lost; the operator stops the writes, freezes the source, or
//!    completes again accepting them, which the report then lists). Without, the
//!    target holds every change the source had at the confirm point — a write
//!    after it is, by definition, after the cutover.
//! 6. **Verify** (`job::cutover`): every table compared with the source, the
//!    shards of a merged table as their union; a difference keeps the job syncing.
//! 7. **Complete** (`job::cutover`): phase `completing` is recorded before the
//!    triggers are created (a crash there finishes without following the binlog
//!    again, which would fire them on replayed rows), then `completed`.
//!
//! Steps 4–5 run inside the sync loop (`replicate::sync`), which feeds this state
//! machine what it applies and, once a second, where it stands; steps 6–7 run in
//! `job::cutover` once the sync returns `Outcome::Caught`.

use crate::error::Report;
use crate::events::{CutoverStatus, CutoverStep, LateWrites};
use crate::position::{file_pos_cmp, Position};

/// What the sync does next, as the cutover decides at a tick.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Go on following the binlog.
    Follow,
    /// Caught up: the sync ends here; verification and completion follow. The
    /// late writes the operator accepted, if any.
    Caught(LateWrites),
    /// Refused: selected tables were written after the mark. The sync goes on.
    Refused(LateWrites),
}

/// Steps 4 and 5 of the cutover (see the module's documentation), as a state
/// machine without I/O: the sync loop reports what it applies and where it
/// stands, and asks what to do next.
#[derive(Debug, Default)]
pub struct Drain {
    /// The cutover under way (or the last one refused).
    status: Option<CutoverStatus>,
    /// Step 5's goal: the source's position read at the mark.
    confirm: Option<Position>,
    attempts: u32,
}

/// The code of a refused cutover's report.
pub const REFUSED: &str = "cutover.late_writes";

/// What a refused cutover says, with what the operator can do: the sync's
/// warning and `ferry complete`'s answer alike.
pub fn refusal(late: &LateWrites) -> Report {
    Report {
        code: REFUSED.into(),
        message: format!(
            "the cutover was refused: the source's binlog has {} after the cutover was asked — the application still writes to the source; the job goes on syncing",
            late.describe()
        ),
        remedy: "⟦cli:stop the application's writes to the source and run `ferry complete` again; or `ferry complete --freeze-source` to make the source read-only first; or `ferry complete --accept-late-writes` to complete anyway (those rows are applied and listed in the report)|app:stop the application's writes to the source and click Complete again; or choose to make the source read-only first; or complete anyway, accepting these writes (they are applied and listed in the report)⟧".into(),
    }
}

/// Whether `applied` is at or past `goal` (file and offset).
pub fn reached(applied: &Position, goal: &Position) -> bool {
    file_pos_cmp(applied, goal).is_some_and(|o| o != std::cmp::Ordering::Less)
}

impl Drain {
    /// A cutover is under way (draining or confirming).
    pub fn active(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| matches!(s.step, CutoverStep::Draining | CutoverStep::Confirming))
    }

    /// For the live view: the cutover under way or the last one refused.
    pub fn status(&self) -> Option<CutoverStatus> {
        self.status.clone()
    }

    /// Steps 1–3 done: drain to `mark`. A second request while one is under way
    /// keeps its mark and adds what it allows (accepting late writes, a freeze
    /// that has just been made). A request accepting late writes after a refusal
    /// keeps the refused one's mark: the writes it accepts are the ones the
    /// refusal named, and those since.
    pub fn request(&mut self, mark: Position, frozen: bool, accept_late: bool) {
        let active = self.active();
        let refused = self
            .status
            .as_ref()
            .is_some_and(|s| s.step == CutoverStep::Refused);
        if let Some(s) = self.status.as_mut() {
            if active || refused && accept_late {
                s.accept_late |= accept_late;
                s.frozen |= frozen;
                if refused {
                    self.attempts += 1;
                    s.attempt = self.attempts;
                    s.step = CutoverStep::Draining;
                    self.confirm = None;
                }
                return;
            }
        }
        self.attempts += 1;
        self.confirm = None;
        self.status = Some(CutoverStatus {
            attempt: self.attempts,
            step: CutoverStep::Draining,
            late: LateWrites {
                since: mark.clone(),
                ..LateWrites::default()
            },
            mark,
            frozen,
            accept_late,
        });
    }

    /// The sync applied a source transaction ending at `end` with `changes` row
    /// changes per selected table: changes after the mark are late writes (counted
    /// on after a refusal too, so the live view shows how they go on).
    pub fn applied<'a>(
        &mut self,
        end: &Position,
        changes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        let Some(s) = self
            .status
            .as_mut()
            .filter(|s| s.step != CutoverStep::Caught)
        else {
            return;
        };
        if file_pos_cmp(end, &s.mark) != Some(std::cmp::Ordering::Greater) {
            return;
        }
        for (schema, table) in changes {
            s.late.add(schema, table, 1, end);
        }
    }

    /// At a tick: `applied` is the position applied on the target, `idle` that
    /// nothing read waits to be applied, `source` the source's position now (None
    /// while it cannot be read).
    pub fn tick(&mut self, applied: &Position, idle: bool, source: Option<&Position>) -> Next {
        if !self.active() || !idle {
            return Next::Follow;
        }
        let Some(s) = self.status.as_mut() else {
            return Next::Follow;
        };
        let goal = match &self.confirm {
            None => &s.mark,
            Some(c) => c,
        };
        if !reached(applied, goal) {
            return Next::Follow;
        }
        if self.confirm.is_none() {
            // At the mark: confirm against the source as it is now, at the next
            // tick at the earliest, so writes have a tick to show up even when the
            // mark was taken a moment ago.
            let Some(now) = source else {
                return Next::Follow;
            };
            self.confirm = Some(now.clone());
            s.step = CutoverStep::Confirming;
            return Next::Follow;
        }
        let late = s.late.clone();
        if late.is_empty() || s.accept_late {
            s.step = CutoverStep::Caught;
            Next::Caught(late)
        } else {
            s.step = CutoverStep::Refused;
            self.confirm = None;
            Next::Refused(late)
        }
    }

    /// The cutover stopped without completing (a pause, an abort, a failure).
    pub fn cancel(&mut self) {
        self.status = None;
        self.confirm = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(file: u32, pos: u64) -> Position {
        Position {
            file: Some(format!("binlog.{file:06}")),
            pos: Some(pos),
            gtid: None,
        }
    }

    /// `tick` at the same place twice: the first only starts the confirmation.
    fn settle(d: &mut Drain, applied: Position, source: Position) -> Next {
        assert_eq!(d.tick(&applied, true, Some(&source)), Next::Follow);
        d.tick(&applied, true, Some(&source))
    }

    #[test]
    fn an_idle_source_completes_at_the_mark() {
        let mut d = Drain::default();
        d.request(at(3, 935), false, false);
        assert_eq!(d.tick(&at(3, 500), true, Some(&at(3, 935))), Next::Follow);
        // Rows before the mark are not late.
        d.applied(&at(3, 935), [("shop", "orders")]);
        assert_eq!(
            d.tick(&at(3, 935), false, Some(&at(3, 935))),
            Next::Follow,
            "not while something waits to be applied"
        );
        // At the mark: one more tick to see whether writes go on.
        assert!(matches!(settle(&mut d, at(3, 935), at(3, 935)), Next::Caught(l) if l.is_empty()));
    }

    #[test]
    fn writes_after_the_mark_refuse_the_cutover_unless_accepted() {
        let mut d = Drain::default();
        d.request(at(3, 935), false, false);
        // At the mark, the source has moved on: confirm up to where it is now.
        assert_eq!(d.tick(&at(3, 935), true, Some(&at(3, 2000))), Next::Follow);
        assert_eq!(d.status().map(|s| s.step), Some(CutoverStep::Confirming));
        d.applied(&at(3, 1200), [("shop", "audit_log"), ("shop", "audit_log")]);
        d.applied(&at(3, 1500), [("shop", "orders")]);
        assert_eq!(d.tick(&at(3, 1500), true, Some(&at(3, 2500))), Next::Follow);
        let Next::Refused(late) = d.tick(&at(3, 2000), true, Some(&at(3, 2500))) else {
            panic!("refused")
        };
        assert_eq!(late.rows, 3);
        assert_eq!(late.since, at(3, 935));
        assert_eq!(late.first, Some(at(3, 1200)));
        assert_eq!(late.tables[0].table, "audit_log");
        assert_eq!(late.tables[0].count, 2);
        assert!(!d.active());
        // Counted on while refused.
        d.applied(&at(3, 2100), [("shop", "audit_log")]);
        // Asked again accepting them: the refused mark is kept, so every write
        // since it is accepted (and reported).
        d.request(at(3, 2500), false, true);
        assert_eq!(d.status().map(|s| s.attempt), Some(2));
        d.applied(&at(3, 2600), [("shop", "audit_log")]);
        let Next::Caught(late) = settle(&mut d, at(3, 2600), at(3, 2600)) else {
            panic!("caught")
        };
        assert_eq!((late.rows, late.since), (5, at(3, 935)));
        // A plain request after a refusal starts afresh from a new mark.
        let mut d = Drain::default();
        d.request(at(3, 935), false, false);
        d.applied(&at(3, 1000), [("shop", "orders")]);
        assert!(matches!(
            settle(&mut d, at(3, 1000), at(3, 1000)),
            Next::Refused(_)
        ));
        d.request(at(3, 1100), false, false);
        assert_eq!(d.status().map(|s| s.late.rows), Some(0));
        assert!(
            matches!(settle(&mut d, at(3, 1100), at(3, 1100)), Next::Caught(l) if l.is_empty())
        );
    }

    #[test]
    fn a_source_out_of_reach_never_completes() {
        let mut d = Drain::default();
        d.request(at(3, 935), false, false);
        assert_eq!(d.tick(&at(4, 4), true, None), Next::Follow);
        assert_eq!(
            settle(&mut d, at(4, 4), at(4, 4)),
            Next::Caught(LateWrites {
                since: at(3, 935),
                ..LateWrites::default()
            })
        );
    }
}
