//! Our calls awaiting the peer's answers, by id.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::value::RawValue;
use tokio::sync::oneshot;

use crate::client::Answer;
use crate::protocol::message::Reply;
use crate::protocol::Id;

/// Where one message's answer goes; shared by every id the message carries.
type Slot = Arc<Mutex<Option<oneshot::Sender<Answer>>>>;

/// A message's answer slot and every id it carries.
type Entry = (Slot, Arc<[Id]>);

/// Every id of a message we sent maps to its answer slot and all its ids
/// (a batch answer is delivered once, to the call that sent the batch).
#[derive(Default)]
pub(super) struct PendingCalls {
    calls: Mutex<HashMap<Id, Entry>>,
    /// Ids of calls lately answered or abandoned (timed out): an answer for
    /// one of them comes late or twice, and belongs to no waiting call.
    recent: Mutex<VecDeque<Id>>,
}

/// How many finished ids `recent` remembers.
const RECENT: usize = 256;

impl PendingCalls {
    /// Registers a message carrying `ids`; its answer arrives on the receiver.
    pub(super) fn insert(&self, ids: Arc<[Id]>) -> Option<oneshot::Receiver<Answer>> {
        let (tx, rx) = oneshot::channel();
        let slot: Slot = Arc::new(Mutex::new(Some(tx)));
        let mut calls = self.calls.lock().ok()?;
        for id in ids.iter() {
            calls.insert(id.clone(), (slot.clone(), ids.clone()));
        }
        Some(rx)
    }

    /// Forgets a message's ids when its call ends. Ids still waiting here
    /// were abandoned (timed out, dropped): remembered, so that their late
    /// answers are dropped. Answered ids were removed (and remembered) by
    /// [`deliver`](Self::deliver) already.
    /// Returns the abandoned ids (the peer may still be running them).
    pub(super) fn remove(&self, ids: &[Id]) -> Vec<Id> {
        let Ok(mut calls) = self.calls.lock() else {
            return Vec::new();
        };
        let abandoned: Vec<Id> = ids
            .iter()
            .filter(|id| calls.remove(*id).is_some())
            .cloned()
            .collect();
        drop(calls);
        if !abandoned.is_empty() {
            self.remember(&abandoned);
        }
        abandoned
    }

    fn remember(&self, ids: &[Id]) {
        if let Ok(mut recent) = self.recent.lock() {
            for id in ids {
                if recent.len() == RECENT {
                    recent.pop_front();
                }
                recent.push_back(id.clone());
            }
        }
    }

    fn is_recent<'a>(&self, mut ids: impl Iterator<Item = &'a Id>) -> bool {
        self.recent
            .lock()
            .is_ok_and(|recent| ids.any(|id| recent.contains(id)))
    }

    /// Hands an answer (a response or a batch of them) to the call waiting
    /// for it.
    ///
    /// An answer that matches no call (an error with `"id": null` from a
    /// peer that could not read our request, or a wrong id) goes to the one
    /// call waiting when there is exactly one, which then fails with that
    /// error or with a clear id mismatch; with several calls waiting it
    /// cannot be attributed: it is logged, and the calls end at their
    /// deadlines. An answer for a call lately answered or timed out (late,
    /// or sent twice) is dropped: it belongs to none of the waiting calls.
    pub(super) fn deliver(&self, batch: bool, replies: Vec<Reply<Box<RawValue>>>) {
        // The answer's ids, looked at in place (no copy for the usual case).
        let ids = || replies.iter().filter_map(|r| r.id.as_ref());
        let Ok(mut calls) = self.calls.lock() else {
            return;
        };
        let matched = ids().find_map(|id| calls.get(id).cloned());
        if matched.is_none() && self.is_recent(ids()) {
            tracing::debug!(ids = ?ids().collect::<Vec<_>>(), "dropping a late or repeated answer");
            return;
        }
        let Some((slot, all_ids)) = matched.or_else(|| only_one(&calls)) else {
            tracing::warn!(
                ids = ?ids().collect::<Vec<_>>(),
                waiting = calls.len(),
                "an answer matches no pending call and cannot be attributed to one"
            );
            return;
        };
        for id in all_ids.iter() {
            calls.remove(id);
        }
        drop(calls);
        self.remember(&all_ids);
        if let Some(tx) = slot.lock().ok().and_then(|mut s| s.take()) {
            let _ = tx.send(Answer::parsed(batch, replies));
        }
    }

    /// How many ids are waiting for answers.
    pub(super) fn waiting(&self) -> usize {
        self.calls.lock().map_or(0, |calls| calls.len())
    }

    /// Fails every waiting call (their receivers see the sender dropped).
    pub(super) fn clear(&self) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.clear();
        }
    }
}

/// The entry of the only message waiting, if exactly one is.
fn only_one(calls: &HashMap<Id, Entry>) -> Option<Entry> {
    let mut entries = calls.values();
    let first = entries.next()?;
    // Every id of one batch maps to the same slot.
    entries
        .all(|(slot, _)| Arc::ptr_eq(slot, &first.0))
        .then(|| first.clone())
}

/// Removes a call's ids when it ends for any reason (answer, timeout, drop);
/// for a call given up on before its answer (a timeout, a dropped future),
/// tells the peer with `$/cancelRequest`, so that it stops working on it.
pub(super) struct PendingGuard<'a> {
    pub(super) pending: &'a PendingCalls,
    pub(super) ids: Arc<[Id]>,
    pub(super) queue: &'a super::writer::Queue,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        for id in self.pending.remove(&self.ids) {
            let cancel = crate::protocol::cancel::request(&id);
            // Never waits: with the queue full, the peer's deadline ends it.
            let _ = self
                .queue
                .try_send(super::Frame::Message(cancel.into()).into());
        }
    }
}
