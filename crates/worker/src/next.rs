//! The scheduler's word on the worker's contributed replicates, for all of them in one long poll
//! (`POST /v1/next`) instead of one per replicate: a worker whose reveals go in batches learns
//! several reveals from one answer, and the scheduler answers one request per worker.
//!
//! Each replicate waiting for its word registers here; the watcher long-polls with every
//! registered task and hands each action to its replicate. A newly registered task restarts the
//! poll (the scheduler recomputes what it answers, so nothing is lost by dropping a poll). When
//! the scheduler cannot be asked, every waiting replicate gets the error and retries on its own.

use std::collections::HashMap;
use std::sync::Arc;

use alloy::primitives::B256;
use decloud_protocol::pool::NextAction;
use tokio::sync::{mpsc, oneshot};

use crate::Context;
use crate::job::NEXT_WAIT;

/// A replicate waiting for the scheduler's word.
pub(crate) struct Waiter {
    task_id: B256,
    answer: oneshot::Sender<Result<NextAction, String>>,
}

/// The watcher's handle, kept in the worker's context.
pub(crate) struct NextWatch {
    tx: mpsc::UnboundedSender<Waiter>,
}

impl NextWatch {
    /// A handle and the receiving end for [`run`].
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<Waiter>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }

    /// Waits for what to do next with the worker's replicate of `task_id` (never
    /// [`NextAction::Wait`]), or why the scheduler could not be asked.
    pub(crate) async fn next(&self, task_id: B256) -> Result<NextAction, String> {
        let (answer, wait) = oneshot::channel();
        let stopped = || "the worker is stopping".to_owned();
        self.tx
            .send(Waiter { task_id, answer })
            .map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }
}

/// The watcher's loop: one long poll at a time for every registered task.
pub(crate) async fn run(ctx: Arc<Context>, mut rx: mpsc::UnboundedReceiver<Waiter>) {
    let mut waiting: HashMap<B256, oneshot::Sender<Result<NextAction, String>>> = HashMap::new();
    loop {
        // Replicates that stopped waiting (their job ended) are not asked about.
        waiting.retain(|_, answer| !answer.is_closed());
        if waiting.is_empty() {
            let Some(w) = rx.recv().await else {
                return;
            };
            waiting.insert(w.task_id, w.answer);
        }
        while let Ok(w) = rx.try_recv() {
            waiting.insert(w.task_id, w.answer);
        }
        let tasks: Vec<B256> = waiting.keys().copied().collect();
        tokio::select! {
            w = rx.recv() => match w {
                // Ask again, with this task too.
                Some(w) => {
                    waiting.insert(w.task_id, w.answer);
                }
                None => return,
            },
            answer = ctx.scheduler.next_many(&tasks, NEXT_WAIT) => match answer {
                Ok(actions) => {
                    for a in actions {
                        if let Some(answer) = waiting.remove(&a.task_id) {
                            let _ = answer.send(Ok(a.action));
                        }
                    }
                }
                Err(e) => {
                    let reason = e.to_string();
                    for (_, answer) in waiting.drain() {
                        let _ = answer.send(Err(reason.clone()));
                    }
                }
            },
        }
    }
}
