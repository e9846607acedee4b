//! Group commit of logins: logins that arrive together share one transaction.
//!
//! A login must be durable before it is answered (an acknowledged session survives a
//! restart), and on SQLite every commit is a sync of the log through the one writer
//! connection; when thousands of workers log in at once, each waiting for its own commit is
//! what made the storm slow. The writer takes every login waiting when it is free, commits
//! them together, then answers each. A batch that fails is committed again one login at a
//! time, so each login gets its own answer and one bad row does not fail the others.

use tokio::sync::{mpsc, oneshot};

use crate::SchedulerError;
use crate::db::{NewLogin, Store};

/// Most logins committed in one transaction.
const MAX_BATCH: usize = 256;

type Pending = (NewLogin, oneshot::Sender<Result<(), SchedulerError>>);

/// The sending side: [`LoginWriter::commit`] returns once the login is committed.
#[derive(Debug)]
pub(crate) struct LoginWriter {
    queue: mpsc::Sender<Pending>,
}

impl LoginWriter {
    /// A writer and the loop to run ([`run`]) that commits what it is given.
    pub(crate) fn new(store: Store) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (queue, receiver) = mpsc::channel(4 * MAX_BATCH);
        (Self { queue }, run(store, receiver))
    }

    /// Commits `login` (with the others waiting at the same time); `Ok` once it is durable.
    pub(crate) async fn commit(&self, login: NewLogin) -> Result<(), SchedulerError> {
        let (done, answer) = oneshot::channel();
        let stopped = || SchedulerError::Config("the scheduler is stopping: log in again".into());
        self.queue
            .send((login, done))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Commits the queued logins, as many together as are waiting, until every sender is gone.
async fn run(store: Store, mut receiver: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let logins: Vec<NewLogin> = batch.iter().map(|(l, _)| l.clone()).collect();
        match store.complete_logins(&logins).await {
            Ok(()) => {
                for (_, done) in batch.drain(..) {
                    let _ = done.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, logins = batch.len(), "a batch of logins failed; committing them one by one");
                for (login, done) in batch.drain(..) {
                    let _ = done.send(store.complete_logins(std::slice::from_ref(&login)).await);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::Address;

    use super::*;

    fn login(byte: u8, hash: &str) -> NewLogin {
        NewLogin {
            now: 100,
            worker: Address::repeat_byte(byte),
            capacity: 2,
            score: 0,
            token_hash: hash.into(),
            expires_at: 1_000,
            tee: decloud_protocol::pool::TeeBackend::None,
        }
    }

    #[tokio::test]
    async fn logins_committed_together_each_get_their_own_answer() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = Store::open(&url).await.unwrap();
        store.complete_logins(&[login(9, "taken")]).await.unwrap();
        let (writer, run) = LoginWriter::new(store.clone());
        let running = tokio::spawn(run);
        // Sent together: the bad one (a taken session hash) fails its batch, which is then
        // committed one by one.
        let (a, b, c) = tokio::join!(
            writer.commit(login(1, "a")),
            writer.commit(login(2, "taken")),
            writer.commit(login(3, "c")),
        );
        assert!(a.is_ok() && c.is_ok(), "{a:?} {c:?}");
        assert!(b.is_err());
        assert_eq!(
            store.session("a", 100).await.unwrap().map(|s| s.0),
            Some(Address::repeat_byte(1))
        );
        assert_eq!(
            store.session("c", 100).await.unwrap().map(|s| s.0),
            Some(Address::repeat_byte(3))
        );
        assert_eq!(
            store.session("taken", 100).await.unwrap().map(|s| s.0),
            Some(Address::repeat_byte(9))
        );
        assert_eq!(store.worker(Address::repeat_byte(2)).await.unwrap(), None);
        drop(writer);
        running.await.unwrap();
    }
}
