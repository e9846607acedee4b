//! What a run takes (the task context the app sees) and what it gives (its outcome, the
//! contribution a worker derives from it, the report of the run).

use crate::capture::Captured;
use crate::digest::{Computed, Digest, FailureRecord};
use crate::limits::Limits;
use crate::outcome::finish;
use crate::runtime::{IN_DIR, OUT_DIR, RuntimeError};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// What a task gives the app: identity, arguments and input files (docs/design.md#runtime).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskContext {
    /// The task id: exported as `DECLOUD_TASK_ID` and the seed of `random_get`.
    pub task_id: [u8; 32],
    /// `argv[1..]` (the request's `params.args`, already split).
    pub args: Vec<String>,
    /// The dataset's file name in `/in` (`DECLOUD_DATASET_FILENAME`), if the deal has one.
    pub dataset_filename: Option<String>,
    /// The input files' names in `/in` (`DECLOUD_INPUT_FILE_NAME_1`, `_2`...).
    pub input_file_names: Vec<String>,
    /// The fixed wall-clock time the app sees, in seconds since the Unix epoch (for example the
    /// deal's start); the same for every replica.
    pub clock_secs: u64,
    /// Whether the deal has a callback: the digest is then `keccak256(callback-data)`.
    pub callback: bool,
}

/// `params.args` is not shell-like: an unterminated quote or a trailing backslash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the app arguments {0:?} have an unterminated quote or a trailing backslash")]
pub struct SplitArgsError(pub String);

impl TaskContext {
    /// Splits a request's `params.args` string into argv the same way on every worker: words
    /// separated by ASCII whitespace; `'...'` keeps its content verbatim; `"..."` keeps its
    /// content with `\` escaping the next character; outside quotes `\` escapes the next
    /// character. `""` gives an empty argument. No variables, globs or other shell features.
    pub fn split_args(args: &str) -> Result<Vec<String>, SplitArgsError> {
        let err = || SplitArgsError(args.to_string());
        let mut out = Vec::new();
        let mut word = String::new();
        let mut in_word = false;
        let mut chars = args.chars();
        while let Some(c) = chars.next() {
            match c {
                c if c.is_ascii_whitespace() => {
                    if in_word {
                        out.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                }
                '\'' => {
                    in_word = true;
                    loop {
                        match chars.next().ok_or_else(err)? {
                            '\'' => break,
                            c => word.push(c),
                        }
                    }
                }
                '"' => {
                    in_word = true;
                    loop {
                        match chars.next().ok_or_else(err)? {
                            '"' => break,
                            '\\' => word.push(chars.next().ok_or_else(err)?),
                            c => word.push(c),
                        }
                    }
                }
                '\\' => {
                    in_word = true;
                    word.push(chars.next().ok_or_else(err)?);
                }
                c => {
                    in_word = true;
                    word.push(c);
                }
            }
        }
        if in_word {
            out.push(word);
        }
        Ok(out)
    }

    /// The seed of string hashing in interpreters that randomize it (`PYTHONHASHSEED`): from
    /// the task id, so replicas iterate sets and dicts of strings in the same order.
    pub fn hash_seed(&self) -> u32 {
        let d = Digest::sha256(&[b"decloud-hashseed-v1".as_slice(), &self.task_id].concat());
        u32::from_be_bytes(d.0[..4].try_into().expect("4 bytes"))
    }

    /// The environment the app sees, in order.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "DECLOUD_TASK_ID".to_string(),
                format!("0x{}", hex::encode(self.task_id)),
            ),
            ("DECLOUD_IN".to_string(), IN_DIR.to_string()),
            ("DECLOUD_OUT".to_string(), OUT_DIR.to_string()),
        ];
        if let Some(name) = &self.dataset_filename {
            env.push(("DECLOUD_DATASET_FILENAME".to_string(), name.clone()));
        }
        env.push(("PYTHONHASHSEED".to_string(), self.hash_seed().to_string()));
        env.push((
            "DECLOUD_INPUT_FILES_NUMBER".to_string(),
            self.input_file_names.len().to_string(),
        ));
        for (i, name) in self.input_file_names.iter().enumerate() {
            env.push((format!("DECLOUD_INPUT_FILE_NAME_{}", i + 1), name.clone()));
        }
        env
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The app succeeded; `digest` is what the worker contributes.
    Completed {
        /// The result digest (docs/design.md#result-digest, see [`crate::digest`]).
        digest: Digest,
        /// The parsed `computed.json`.
        computed: Computed,
        /// The decoded `callback-data`, if any.
        callback_data: Option<Vec<u8>>,
    },
    /// A deterministic failure: every replica gets the same record, and the worker contributes
    /// its digest.
    Failed(FailureRecord),
    /// The wall-clock cap was hit: not deterministic, reported to the scheduler, never
    /// contributed.
    TimedOut {
        /// The cap that was hit.
        after: Duration,
    },
}

impl Outcome {
    /// The digest to contribute: `Some` for [`Outcome::Completed`] and [`Outcome::Failed`],
    /// `None` for a timeout.
    pub fn digest(&self) -> Option<Digest> {
        match self {
            Outcome::Completed { digest, .. } => Some(*digest),
            Outcome::Failed(record) => Some(record.digest()),
            Outcome::TimedOut { .. } => None,
        }
    }

    /// Whether the outcome is the same on every replica (and so may be contributed).
    pub fn is_deterministic(&self) -> bool {
        !matches!(self, Outcome::TimedOut { .. })
    }

    /// What a worker contributes for this outcome in a deal with (`callback`) or without a
    /// callback; `None` for a timeout, which is never contributed.
    ///
    /// A deterministic failure in a callback deal is contributed as callback data: its
    /// canonical record becomes the callback data and its digest `keccak256` of those bytes, so
    /// that the hub can certify it (a callback deal's result must be `keccak256(callbackData)`)
    /// and the consumer contract learns why the task failed.
    pub fn contribution(&self, callback: bool) -> Option<Contribution> {
        match self {
            Outcome::Completed {
                digest,
                callback_data,
                ..
            } => Some(Contribution {
                digest: *digest,
                callback_data: if callback {
                    callback_data.clone()
                } else {
                    None
                },
            }),
            Outcome::Failed(record) if callback => {
                let bytes = record.canonical_bytes();
                Some(Contribution {
                    digest: Digest::keccak256(&bytes),
                    callback_data: Some(bytes),
                })
            }
            Outcome::Failed(record) => Some(Contribution {
                digest: record.digest(),
                callback_data: None,
            }),
            Outcome::TimedOut { .. } => None,
        }
    }
}

/// What a worker commits for a run: the result digest and, in a callback deal, the bytes handed
/// to the callback contract (whose `keccak256` is the digest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contribution {
    /// The result digest.
    pub digest: Digest,
    /// The callback data (callback deals only).
    pub callback_data: Option<Vec<u8>>,
}

/// Recomputes the outcome of a finished run from its `/out` directory alone (for example an
/// unpacked result archive), the way [`Runtime::run`](crate::Runtime::run) does after a clean
/// exit: `computed.json`, the deterministic output and its digest, under `limits`. A requester
/// uses it to check a downloaded result against the digest certified on chain. (A failed run's
/// archive holds its [`FailureRecord`] in `decloud-error.json` instead; see
/// [`Outcome::contribution`].)
pub fn outcome_of_output(
    output: &Path,
    callback: bool,
    limits: &Limits,
) -> Result<Outcome, RuntimeError> {
    let task = TaskContext {
        callback,
        ..TaskContext::default()
    };
    finish(&task, output, limits)
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// How the run ended.
    pub outcome: Outcome,
    /// What the app printed on stdout (size-capped).
    pub stdout: Captured,
    /// What the app printed on stderr (size-capped).
    pub stderr: Captured,
    /// Fuel consumed.
    pub fuel_consumed: u64,
    /// Host time of the run (instantiation to exit, without hashing the output).
    pub elapsed: Duration,
    /// The largest size the app's linear memory reached, in bytes (its initial size when it
    /// never grew): the memory one instance costs.
    pub peak_memory_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::FailureKind;
    use crate::runtime::COMPUTED_JSON;

    #[test]
    fn a_failure_in_a_callback_deal_is_contributed_as_callback_data() {
        let record = FailureRecord::new(FailureKind::Trap, "unreachable");
        let failed = Outcome::Failed(record.clone());
        let plain = failed.contribution(false).unwrap();
        assert_eq!(plain.digest, record.digest());
        assert_eq!(plain.callback_data, None);
        let cb = failed.contribution(true).unwrap();
        assert_eq!(
            cb.callback_data.as_deref(),
            Some(&record.canonical_bytes()[..])
        );
        assert_eq!(cb.digest, Digest::keccak256(&record.canonical_bytes()));
        let timed_out = Outcome::TimedOut {
            after: Duration::from_secs(1),
        };
        assert_eq!(timed_out.contribution(true), None);
        let completed = Outcome::Completed {
            digest: Digest([7; 32]),
            computed: Computed::default(),
            callback_data: Some(vec![1, 2]),
        };
        assert_eq!(completed.contribution(false).unwrap().callback_data, None);
        assert_eq!(
            completed.contribution(true).unwrap().callback_data,
            Some(vec![1, 2])
        );
    }

    #[test]
    fn an_output_directory_gives_the_digest_of_its_run() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits::for_category(1);
        let missing = outcome_of_output(dir.path(), false, &limits).unwrap();
        assert!(
            matches!(&missing, Outcome::Failed(r) if r.kind == FailureKind::MissingComputedJson),
            "{missing:?}"
        );
        std::fs::write(
            dir.path().join(COMPUTED_JSON),
            br#"{"callback-data":"0x0102"}"#,
        )
        .unwrap();
        match outcome_of_output(dir.path(), true, &limits).unwrap() {
            Outcome::Completed { digest, .. } => assert_eq!(digest, Digest::keccak256(&[1, 2])),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn split_args_is_shell_like_and_strict() {
        let split = |s| TaskContext::split_args(s).unwrap();
        assert_eq!(split("  a  b\tc "), ["a", "b", "c"]);
        assert_eq!(
            split(r#"'x y' "p \"q\"" z\ w """#),
            ["x y", "p \"q\"", "z w", ""]
        );
        assert_eq!(split(r#"a'b'"c""#), ["abc"]);
        assert!(split("").is_empty());
        assert!(TaskContext::split_args("'open").is_err());
        assert!(TaskContext::split_args("\"open").is_err());
        assert!(TaskContext::split_args("end\\").is_err());
    }
}
