//! The worker's durable memory of its jobs: one JSON file per replicate under
//! `<data>/jobs/<taskid>.json`, written to a temporary file, synced and renamed, so a crash at
//! any point leaves either the old or the new state. A restarted worker resumes every job
//! whose file is still there; a finished job's file is removed.
//!
//! A replicate the scheduler hands back after a restart (`GET /v1/replicates`: a plain
//! replicate, assigned and not contributed) is not written when claimed, only held in memory
//! ([`JobStore::hold`]): the scheduler's record of it is durable already, and nothing of it
//! reaches the chain before its computed state is saved. Its first write is that state (what
//! the contribution needs), written with a sync of its file; the directory is synced once for
//! all the jobs of a batch, right before the batch is sent ([`JobStore::save_pending`],
//! [`JobStore::sync`]): at trust 1 about one sync per task.

use std::path::{Path, PathBuf};

use alloy::primitives::{B256, Bytes};
use decloud_protocol::pool::Assignment;
use serde::{Deserialize, Serialize};

use crate::WorkerError;

/// How far a job got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "lowercase")]
pub enum Stage {
    /// Claimed: the app has not run yet (or its run was interrupted).
    Claimed,
    /// The app ran; its result is uploaded (at `location`) and its digest known. Nothing sent
    /// yet (or the contribution may be in flight: the chain says).
    Computed(Computed),
    /// The contribution is on chain (replicated task): waiting for the consensus to reveal.
    Contributed(Computed),
}

/// What a run produced, kept until the result is revealed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Computed {
    /// The result digest contributed.
    pub digest: B256,
    /// Where a worker before this one kept the packed `/out` (a deterministic tar), relative
    /// to the data directory, until it uploaded it; this one uploads it from memory, and reads
    /// the file only for a job an older worker saved without a `location`.
    pub result_file: String,
    /// The app's callback data, for deals with a callback.
    pub callback_data: Option<Bytes>,
    /// The app's deterministic failure, if it failed (contributed like any result).
    pub failure: Option<String>,
    /// What each stage took so far, reported to the scheduler (absent in jobs saved before).
    #[serde(default)]
    pub stages: decloud_protocol::pool::Stages,
    /// Where the storage node keeps the result, once it acknowledged it (uploaded before this
    /// state is saved, so that the packed result need not be synced to the worker's disk);
    /// absent in jobs saved before, whose result is uploaded from `result_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// A replicate the worker holds, as saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// What the scheduler handed out.
    pub assignment: Assignment,
    /// How far it got.
    pub stage: Stage,
}

/// The jobs directory, and the jobs held in memory only ([`JobStore::hold`]).
#[derive(Debug)]
pub struct JobStore {
    dir: PathBuf,
    held: std::sync::Mutex<std::collections::HashSet<B256>>,
    /// Renames into the directory so far, and how many of them a sync of the directory covers
    /// ([`JobStore::sync`]).
    renamed: std::sync::atomic::AtomicU64,
    dir_synced: std::sync::Mutex<u64>,
}

impl JobStore {
    /// The job store under `data_dir` (created if missing).
    pub fn open(data_dir: &Path) -> Result<Self, WorkerError> {
        let dir = data_dir.join("jobs");
        std::fs::create_dir_all(&dir).map_err(|e| WorkerError::io(&dir, e))?;
        Ok(Self {
            dir,
            held: Default::default(),
            renamed: Default::default(),
            dir_synced: Default::default(),
        })
    }

    /// Keeps a claimed `job` in memory only: for a replicate the scheduler hands back after a
    /// restart ([`handed_back`]); any other is saved ([`Self::save`]).
    pub fn hold(&self, job: &Job) -> Result<(), WorkerError> {
        if !handed_back(&job.assignment) {
            return self.save(job);
        }
        self.held_ids().insert(job.assignment.record_id());
        Ok(())
    }

    fn held_ids(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<B256>> {
        // A panic elsewhere while holding the lock leaves the set itself intact.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path(&self, task_id: B256) -> PathBuf {
        self.dir.join(format!("{task_id}.json"))
    }

    /// Saves `job` durably (replacing its previous state).
    pub fn save(&self, job: &Job) -> Result<(), WorkerError> {
        self.save_pending(job)?;
        self.sync()
    }

    /// Saves `job` whole (its file synced, then renamed over the previous state) but durable
    /// only at the next [`Self::sync`]: a power cut before it leaves the previous state. For a
    /// state that nothing sent depends on until then (the batcher syncs before it sends).
    pub fn save_pending(&self, job: &Job) -> Result<(), WorkerError> {
        let path = self.path(job.assignment.record_id());
        let text = serde_json::to_vec_pretty(job)
            .map_err(|e| WorkerError::Config(format!("cannot encode a job: {e}")))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)
            .map_err(|e| WorkerError::io(&self.dir, e))?;
        use std::io::Write;
        tmp.write_all(&text)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| WorkerError::io(tmp.path(), e))?;
        tmp.persist(&path)
            .map_err(|e| WorkerError::io(&path, e.error))?;
        self.renamed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Makes every save done so far durable: the renames are once the directory is synced. The
    /// sync is shared (group commit): one covers every save that returned before it started,
    /// and a call with nothing new to cover returns at once. A sync that fails covers nothing:
    /// the saves it was for are not durable, so what depends on them must not be sent (the next
    /// call tries again).
    pub fn sync(&self) -> Result<(), WorkerError> {
        use std::sync::atomic::Ordering;
        let wanted = self.renamed.load(Ordering::SeqCst);
        let mut synced = self.dir_synced.lock().unwrap_or_else(|e| e.into_inner());
        if *synced >= wanted {
            return Ok(());
        }
        let covered = self.renamed.load(Ordering::SeqCst);
        std::fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| WorkerError::io(&self.dir, e))?;
        *synced = covered;
        Ok(())
    }

    /// Forgets a finished job (by its [`Assignment::record_id`]).
    pub fn remove(&self, task_id: B256) -> Result<(), WorkerError> {
        self.held_ids().remove(&task_id);
        match std::fs::remove_file(self.path(task_id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(WorkerError::io(self.path(task_id), e)),
        }
    }

    /// Whether a job for `task_id` is saved or held.
    pub fn contains(&self, task_id: B256) -> bool {
        self.held_ids().contains(&task_id) || self.path(task_id).exists()
    }

    /// Every saved job (to resume after a restart). An unreadable file is an error naming it.
    pub fn load_all(&self) -> Result<Vec<Job>, WorkerError> {
        let mut jobs = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(|e| WorkerError::io(&self.dir, e))?;
        for entry in entries {
            let path = entry.map_err(|e| WorkerError::io(&self.dir, e))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| WorkerError::io(&path, e))?;
            let job: Job = serde_json::from_slice(&bytes).map_err(|e| WorkerError::CorruptJob {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            jobs.push(job);
        }
        jobs.sort_by_key(|j| j.assignment.task_id);
        Ok(jobs)
    }
}

/// Whether the scheduler hands `a` back to this worker after a restart if the worker kept no
/// state of it: a plain replicate (the scheduler records it as assigned until the chain shows
/// its contribution). An audit, a drawn replicate or a TEE task is known to the worker alone
/// (or binds an enclave), so it is saved from its claim on.
pub fn handed_back(a: &Assignment) -> bool {
    a.audit.is_none() && a.drawn.is_none() && !crate::tee_job::is_tee(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::Address;
    use decloud_protocol::pool::Authorization;

    pub(crate) fn assignment(byte: u8) -> Assignment {
        Assignment {
            task_id: B256::repeat_byte(byte),
            deal_id: B256::repeat_byte(0xde),
            index: 0,
            deal: Bytes::new(),
            trust: 1,
            category: 0,
            work_clock_time_ref: 300,
            start_time: 1,
            callback: Address::ZERO,
            params: String::new(),
            app: None,
            dataset: None,
            authorization: Authorization {
                worker: Address::ZERO,
                task_id: B256::repeat_byte(byte),
                enclave: Address::ZERO,
                sign: Bytes::new(),
            },
            drawn: None,
            audit: None,
        }
    }

    #[test]
    fn a_failed_directory_sync_is_an_error_and_covers_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let jobs = dir.path().join("data");
        let store = JobStore::open(&jobs).unwrap();
        let job = Job {
            assignment: assignment(3),
            stage: Stage::Claimed,
        };
        store.save_pending(&job).unwrap();
        // The directory the saves were renamed into is gone: they cannot be made durable.
        let moved = dir.path().join("moved");
        std::fs::rename(&jobs, &moved).unwrap();
        let refused = store.sync().unwrap_err().to_string();
        assert!(
            refused.contains("data"),
            "the error names the directory: {refused}"
        );
        assert!(store.sync().is_err(), "a failed sync was counted as done");
        // Back in place, the next sync covers the save.
        std::fs::rename(&moved, &jobs).unwrap();
        store.sync().unwrap();
        assert!(store.sync().is_ok());
    }

    #[test]
    fn jobs_survive_a_reopen_and_are_removed_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(dir.path()).unwrap();
        let mut job = Job {
            assignment: assignment(1),
            stage: Stage::Claimed,
        };
        store.save(&job).unwrap();
        job.stage = Stage::Computed(Computed {
            digest: B256::repeat_byte(9),
            result_file: "results/x.tar".into(),
            callback_data: None,
            failure: Some("trap".into()),
            stages: Default::default(),
            location: Some("https://storage.example/blobs/x".into()),
        });
        store.save(&job).unwrap();
        store
            .save(&Job {
                assignment: assignment(2),
                stage: Stage::Claimed,
            })
            .unwrap();
        let again = JobStore::open(dir.path()).unwrap();
        let jobs = again.load_all().unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0], job);
        again.remove(B256::repeat_byte(1)).unwrap();
        again.remove(B256::repeat_byte(1)).unwrap();
        assert_eq!(again.load_all().unwrap().len(), 1);
        assert!(!again.contains(B256::repeat_byte(1)));

        std::fs::write(dir.path().join("jobs").join("bad.json"), b"{").unwrap();
        let err = again.load_all().unwrap_err().to_string();
        assert!(
            err.contains("bad.json") && err.contains("move it away"),
            "{err}"
        );
    }
}
