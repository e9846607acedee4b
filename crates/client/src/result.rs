//! Downloading a completed task's result and checking it against what the hub certified.
//!
//! The check: the archive must hash to the name its location gives (a content address), and the
//! digest recomputed from the unpacked files by the runtime's rule must give the consensus
//! result hash of the task's `TaskConsensus` event, `keccak(taskid ‖ digest)`. For a callback
//! deal, the callback data of `TaskFinalize` is checked the same way.
//!
//! An encrypted result (an age file, the result of a TEE task) is certified by its ciphertext:
//! the digest is the sha256 of the file as stored, checked before the file is opened with the
//! beneficiary's identity, so that the chain never tells anything about what it holds.

use std::path::{Path, PathBuf};

use alloy::primitives::{B256, keccak256};
use decloud_chain::client::Client;
use decloud_protocol::result::result_hash;
use decloud_runtime::{ERROR_JSON, FailureRecord, Limits, Outcome};
use decloud_storage::ContentHash;

use crate::error::{Error, Result};
use crate::lookup::{
    TaskStatus, consensus_of, find_task, results_location, small, status_name, task_view,
};

/// A result downloaded and checked against the chain.
#[derive(Clone, Debug)]
pub struct VerifiedResult {
    /// Where it came from.
    pub location: String,
    /// Its digest, as certified.
    pub digest: B256,
    /// The app's deterministic failure, when the certified result is one.
    pub failure: Option<FailureRecord>,
    /// The callback data handed to the deal's callback contract (empty without one).
    pub callback_data: Vec<u8>,
    /// Where it is unpacked.
    pub dir: PathBuf,
    /// Whether it was stored encrypted (an age file, opened with the identity given).
    pub encrypted: bool,
}

fn empty_or_missing(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Downloads, checks and unpacks the result of completed task `task_id` into `dest` (which
/// must be missing or empty), reading at most `max_bytes` of archive; an encrypted result is
/// opened with `identity`.
pub async fn fetch_verified(
    client: &Client,
    task_id: B256,
    dest: &Path,
    max_bytes: u64,
    identity: Option<&decloud_age::Identity>,
) -> Result<VerifiedResult> {
    let view = task_view(client, task_id).await?;
    if view.status != TaskStatus::Completed.as_u8() {
        return Err(Error::NotCompleted {
            task: task_id,
            status: status_name(view.status),
        });
    }
    let (deal, _) = find_task(client, task_id).await?;
    let callback = !deal.deal.callback.is_zero();
    let consensus = consensus_of(client, task_id).await?;
    let (location, callback_data) = results_location(client, task_id)
        .await?
        .ok_or(Error::NoFinalize(task_id))?;
    let location = String::from_utf8(location).map_err(Error::LocationNotText)?;
    if callback && result_hash(task_id, keccak256(&callback_data)) != consensus {
        return Err(Error::CallbackMismatch(task_id));
    }
    if location.trim().is_empty() {
        return Err(Error::NoLocation {
            task: task_id,
            bytes: callback_data.len(),
        });
    }
    if !empty_or_missing(dest) {
        return Err(Error::DirNotEmpty(dest.to_path_buf()));
    }
    let (_, name) =
        decloud_storage::uri::split_pinned(&location).map_err(|source| Error::LocationNotUrl {
            location: location.clone(),
            source,
        })?;
    let named = name
        .strip_prefix("0x")
        .unwrap_or(name)
        .parse::<ContentHash>()
        .ok();
    let scratch = tempfile::tempdir().map_err(Error::io("cannot create a temporary directory"))?;
    let archive_path = scratch.path().join("result.tar");
    decloud_storage::uri::fetch_to_file(&location, named.as_ref(), max_bytes, &archive_path)
        .await
        .map_err(|source| Error::Download {
            location: location.clone(),
            source,
        })?;
    let mut archive =
        std::fs::read(&archive_path).map_err(Error::io("cannot read the downloaded archive"))?;
    let sealed_digest = if decloud_age::is_age(&archive) {
        let digest = if callback {
            // Certified by its callback data (checked above), not by the archive.
            B256::from(keccak256(&callback_data))
        } else {
            B256::from(ContentHash::of(&archive).0)
        };
        if result_hash(task_id, digest) != consensus {
            return Err(Error::Altered {
                location,
                consensus,
                dir: dest.to_path_buf(),
            });
        }
        let identity = identity.ok_or(Error::Encrypted { task: task_id })?;
        archive = decloud_age::decrypt(&archive, identity).map_err(|source| Error::Decrypt {
            task: task_id,
            source,
        })?;
        Some(digest)
    } else {
        None
    };
    std::fs::create_dir_all(dest)
        .map_err(Error::io(format!("cannot create {}", dest.display())))?;
    decloud_storage::results::unpack(&archive, dest, max_bytes.saturating_mul(4)).map_err(
        |source| Error::Unpack {
            dir: dest.to_path_buf(),
            source,
        },
    )?;

    // A failed run's archive holds its record; a successful one, the app's output.
    let failure = std::fs::read(dest.join(ERROR_JSON))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<FailureRecord>(&bytes).ok());
    if let Some(digest) = sealed_digest {
        return Ok(VerifiedResult {
            location,
            digest,
            failure,
            callback_data,
            dir: dest.to_path_buf(),
            encrypted: true,
        });
    }
    let reference = small(deal.deal.workClockTimeRef);
    let mut candidates = Vec::new();
    if let Some(record) = &failure
        && let Some(c) = Outcome::Failed(record.clone()).contribution(callback)
    {
        candidates.push((c.digest, Some(record.clone())));
    }
    if let Some(c) =
        decloud_runtime::outcome_of_output(dest, callback, &Limits::for_category(reference))
            .ok()
            .and_then(|o| o.contribution(callback))
    {
        candidates.push((c.digest, None));
    }
    let Some((digest, failure)) = candidates
        .into_iter()
        .find(|(d, _)| result_hash(task_id, B256::from(d.0)) == consensus)
    else {
        return Err(Error::Altered {
            location,
            consensus,
            dir: dest.to_path_buf(),
        });
    };
    Ok(VerifiedResult {
        location,
        digest: B256::from(digest.0),
        failure,
        callback_data,
        dir: dest.to_path_buf(),
        encrypted: false,
    })
}

/// The files under `dir`, relative and sorted.
pub fn list_files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
