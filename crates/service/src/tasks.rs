//! Background tasks that end with their owner.

use tokio::task::JoinHandle;

/// Background tasks of a running service, aborted when the set is dropped: a service's handle
/// holds one so that dropping the handle stops the service (a tokio task outlives its
/// `JoinHandle` otherwise).
#[derive(Debug, Default)]
pub struct Tasks {
    handles: Vec<JoinHandle<()>>,
}

impl Tasks {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` in the background until the set is stopped or dropped. Needs a tokio
    /// runtime.
    pub fn spawn<F>(&mut self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handles.push(tokio::spawn(task));
    }

    /// Aborts every task, in the order they were spawned, and waits until each is gone.
    pub async fn stop(mut self) {
        for handle in self.handles.drain(..) {
            handle.abort();
            let _ = handle.await;
        }
    }

    /// Waits until every task has ended, in the order they were spawned (a task that panicked
    /// counts as ended).
    pub async fn wait(mut self) {
        for handle in self.handles.drain(..) {
            let _ = handle.await;
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}
