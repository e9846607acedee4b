//! What a TEE task's enclave does with its key holders' answers: opens each with its key H,
//! rebuilds every secret split among keepers from k consistent shares (naming a keeper whose
//! copy does not open), and lays the secrets out read-only in a memory-backed directory that
//! is removed when the task ends.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use decloud_sms::ReleaseAnswer;
use decloud_sms::keepers;
use decloud_sms::seal::{self, HpkePrivateKey};

use crate::job::{Failure, fail};

/// A memory-backed directory (tmpfs) for the opened secrets: they must not reach a disk.
pub(crate) const MEMORY_DIR: &str = "/dev/shm";

/// The secrets a release carried, opened.
#[derive(Default)]
pub(crate) struct Opened {
    /// The identity that opens the deal's dataset.
    pub dataset_key: Option<decloud_age::Identity>,
    /// The identity that opens the deal's encrypted app (its app secret
    /// [`decloud_protocol::encrypted_app::KEY_NAME`]): the worker's, not the app's.
    pub app_key: Option<decloud_age::Identity>,
    /// The beneficiary's public key: the result archive is encrypted to it.
    pub recipient: Option<decloud_age::Recipient>,
    /// `(file name under /secrets, value)`: requester secrets by name, app secrets as
    /// `app/NAME`.
    pub files: Vec<(String, Vec<u8>)>,
    /// `(purpose, keeper)`: keepers whose share verified but whose copy of the ciphertext did
    /// not open (the value opened from another keeper's copy). Named in the logs and the task's
    /// message, since a keeper that does this is faulty or lying.
    pub bad_ciphertexts: Vec<(String, Address)>,
}

/// One key holder's released secrets, opened: `(purpose, value)`.
pub(crate) type OpenedAnswer = Vec<(String, Vec<u8>)>;

/// Removes the secrets directory however the run ends.
pub(crate) struct SecretsDir(PathBuf);

impl SecretsDir {
    /// The opened secrets, mounted read-only at `/secrets`.
    pub(crate) fn secrets(&self) -> PathBuf {
        self.0.join("secrets")
    }

    /// The task's input (`/in`): the dataset is opened here, in memory, never on a disk.
    pub(crate) fn input(&self) -> PathBuf {
        self.0.join("in")
    }
}

impl Drop for SecretsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One line naming the keepers that sent a valid share with a ciphertext that does not open.
pub(crate) fn bad_keepers_note(bad: &[(String, Address)]) -> Option<String> {
    if bad.is_empty() {
        return None;
    }
    let named: Vec<String> = bad
        .iter()
        .map(|(purpose, keeper)| format!("keeper {keeper} ({purpose})"))
        .collect();
    Some(format!(
        "completed, but {} sent a valid share with a ciphertext that does not open: ignored, the secret opened from another keeper's copy; that keeper is faulty or lying",
        named.join(", ")
    ))
}

/// One key holder's released secrets, opened with H: `(purpose, value)`. A value that does not
/// open makes the whole answer unusable (the key holder sealed to another key or task).
pub(crate) fn open_answer(
    h: &HpkePrivateKey,
    chain_id: u64,
    task_id: B256,
    answer: &ReleaseAnswer,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    answer
        .secrets
        .iter()
        .map(|secret| {
            let info = seal::release_info(&secret.purpose, chain_id, task_id);
            seal::open(h, &info, &secret.sealed)
                .map(|value| (secret.purpose.clone(), value))
                .map_err(|_| {
                    format!(
                        "its secret {:?} does not open with the enclave's key: sealed to another key or task",
                        secret.purpose
                    )
                })
        })
        .collect()
}

/// One purpose's values, each with the keeper (attester) that released it.
type FromKeepers<'a> = Vec<(Address, &'a [u8])>;

/// The secrets of every answer, one value per purpose: a purpose whose values are keeper shares
/// is rebuilt from any k consistent ones (fewer: the task fails, saying which and why); a whole
/// value (a lone SMS, a result recipient) is taken from the first key holder that has it.
pub(crate) fn rebuild<'a>(
    answers: impl Iterator<Item = (Address, &'a Vec<(String, Vec<u8>)>)>,
    refusals: &[String],
) -> Result<Opened, Failure> {
    let mut purposes: Vec<(String, FromKeepers<'a>)> = Vec::new();
    for (keeper, answer) in answers {
        for (purpose, value) in answer {
            match purposes.iter_mut().find(|(p, _)| p == purpose) {
                Some((_, values)) => values.push((keeper, value)),
                None => purposes.push((purpose.clone(), vec![(keeper, value)])),
            }
        }
    }
    let mut opened = Opened::default();
    for (purpose, values) in purposes {
        let value = if values.iter().any(|(_, v)| keepers::is_share(v)) {
            // which keeper sent which share: named if its copy of the ciphertext is bad
            let shares: Vec<(Address, keepers::Share)> = values
                .iter()
                .filter_map(|(k, v)| keepers::Share::decode(v).ok().map(|s| (*k, s)))
                .collect();
            let only: Vec<keepers::Share> = shares.iter().map(|(_, s)| s.clone()).collect();
            let rebuilt = keepers::combine_checked(&only).map_err(|e| {
                let why = if refusals.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", refusals.join("; "))
                };
                fail(format!(
                    "the keepers' shares of {purpose} do not rebuild it: {e}{why}; nothing was opened, not run, nothing contributed"
                ))
            })?;
            for index in &rebuilt.bad_ciphertexts {
                for (keeper, _) in shares.iter().filter(|(_, s)| s.index == *index) {
                    opened.bad_ciphertexts.push((purpose.clone(), *keeper));
                }
            }
            rebuilt.value
        } else {
            values[0].1.to_vec()
        };
        add_secret(&mut opened, &purpose, value)?;
    }
    Ok(opened)
}

/// Files one opened secret under its purpose.
fn add_secret(opened: &mut Opened, purpose: &str, value: Vec<u8>) -> Result<(), Failure> {
    if purpose == "dataset-key" {
        let text = String::from_utf8(value).unwrap_or_default();
        opened.dataset_key = Some(decloud_age::Identity::from_file_text(&text).map_err(|_| {
            fail("the dataset's key is not an age identity: its owner must push it again (decloud dataset deploy --encrypted)")
        })?);
    } else if purpose == "result-recipient" {
        let text = String::from_utf8(value).unwrap_or_default();
        opened.recipient = Some(text.parse().map_err(|_| {
            fail("the beneficiary's result recipient is not an age public key: it must push one again (decloud result keygen)")
        })?);
    } else if let Some(name) = purpose.strip_prefix("requester-secret:") {
        opened.files.push((safe_name(name)?, value));
    } else if purpose.strip_prefix("app-secret:") == Some(decloud_protocol::encrypted_app::KEY_NAME)
    {
        let text = String::from_utf8(value).unwrap_or_default();
        opened.app_key = Some(decloud_age::Identity::from_file_text(&text).map_err(|_| {
            fail("the app's key is not an age identity: its owner must push it again (decloud app deploy --encrypted)")
        })?);
    } else if let Some(name) = purpose.strip_prefix("app-secret:") {
        opened
            .files
            .push((format!("app/{}", safe_name(name)?), value));
    } else {
        return Err(fail(format!(
            "a key holder released a secret for an unknown purpose {purpose:?}: update the worker"
        )));
    }
    Ok(())
}

/// A secret's name as a file name: the SMS's name rule (1 to 64 of `A-Z a-z 0-9 . _ -`, not
/// `.` or `..`), checked again here because the name comes from the network.
fn safe_name(name: &str) -> Result<String, Failure> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name != "."
        && name != "..";
    if ok {
        Ok(name.to_owned())
    } else {
        Err(fail(
            "a key holder released a secret whose name is not 1 to 64 of A-Z a-z 0-9 . _ -",
        ))
    }
}

/// Writes the secrets as read-only files in a fresh memory-backed directory (only this user
/// can enter it), beside the empty input directory the dataset is opened in; both are removed
/// when the returned guard drops.
pub(crate) fn write_secrets(
    task_id: B256,
    files: &[(String, Vec<u8>)],
) -> Result<SecretsDir, Failure> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let memory = Path::new(MEMORY_DIR);
    if !memory.is_dir() {
        return Err(fail(format!(
            "{MEMORY_DIR} (a memory-backed directory) is missing: TEE secrets are never written to a disk"
        )));
    }
    let suffix: [u8; 8] = seal::random_bytes().map_err(|e| fail(e.to_string()))?;
    let dir = memory.join(format!(
        "decloud-secrets-{}-{}",
        &task_id.to_string()[2..14],
        alloy::hex::encode(suffix)
    ));
    let io = |e: std::io::Error| fail(format!("cannot lay out the secrets in {MEMORY_DIR}: {e}"));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(io)?;
    let guard = SecretsDir(dir.clone());
    for sub in [guard.secrets(), guard.secrets().join("app"), guard.input()] {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(sub)
            .map_err(io)?;
    }
    for (name, value) in files {
        let path = guard.secrets().join(name);
        std::fs::write(&path, value).map_err(io)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).map_err(io)?;
    }
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::Bytes;

    #[test]
    fn secret_names_from_the_network_stay_inside_secrets() {
        assert_eq!(safe_name("api-token.v2").unwrap(), "api-token.v2");
        for bad in ["", ".", "..", "../etc", "a/b", "x y", &"n".repeat(65)] {
            assert!(safe_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    /// A keeper's answer for task A, sealed to the enclave's H: what a relay could replay.
    fn answer_for(task: B256, h: &[u8; 32], purpose: &str, value: &[u8]) -> ReleaseAnswer {
        ReleaseAnswer {
            task_id: task,
            secrets: vec![decloud_sms::wire::ReleasedSecret {
                purpose: purpose.into(),
                version: 1,
                sealed: seal::seal(h, &seal::release_info(purpose, 31337, task), value).unwrap(),
            }],
            attestation: decloud_sms::wire::Attestation {
                task_id: task,
                enclave: Address::ZERO,
                measurement: B256::ZERO,
                tcb_status: 0,
                expiry: 0,
                evidence_hash: B256::ZERO,
                signer: Address::ZERO,
                signature: Bytes::new(),
            },
        }
    }

    #[test]
    fn a_keeper_answer_replayed_from_another_task_opens_nothing() {
        let (h, h_public) = seal::generate_keypair().unwrap();
        let group = keepers::KeeperGroup::new(
            0,
            2,
            (1..=3u8)
                .map(|i| keepers::Keeper {
                    address: Address::repeat_byte(i),
                    hpke_public_key: String::new(),
                })
                .collect(),
        )
        .unwrap();
        let purpose = "requester-secret:token";
        let (task_a, task_b) = (B256::repeat_byte(0xa), B256::repeat_byte(0xb));
        let shares = keepers::split(&group, b"s3cr3t").unwrap();
        // Answers of this task open and two shares rebuild the secret.
        let a0 = open_answer(
            &h,
            31337,
            task_a,
            &answer_for(task_a, &h_public, purpose, &shares[0]),
        )
        .unwrap();
        let a1 = open_answer(
            &h,
            31337,
            task_a,
            &answer_for(task_a, &h_public, purpose, &shares[1]),
        )
        .unwrap();
        let (k0, k1) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let opened = rebuild([(k0, &a0), (k1, &a1)].into_iter(), &[]).unwrap();
        assert_eq!(opened.files, vec![("token".to_owned(), b"s3cr3t".to_vec())]);
        assert!(opened.bad_ciphertexts.is_empty());
        // Keeper 1's answer for task A replayed into task B, even relabelled as B's: refused.
        let mut replayed = answer_for(task_a, &h_public, purpose, &shares[1]);
        replayed.task_id = task_b;
        let e = open_answer(&h, 31337, task_b, &replayed).unwrap_err();
        assert!(e.contains("sealed to another key or task"), "{e}");
        // So task B has one share of two: nothing is opened and the reason says so.
        let b0 = open_answer(
            &h,
            31337,
            task_b,
            &answer_for(task_b, &h_public, purpose, &shares[0]),
        )
        .unwrap();
        let e = rebuild([(k0, &b0)].into_iter(), &[format!("keeper-2: {e}")])
            .err()
            .unwrap();
        assert!(
            e.reason.contains("only 1 of the 2 keeper shares") && e.reason.contains("keeper-2"),
            "{}",
            e.reason
        );
    }

    #[test]
    fn a_keeper_whose_ciphertext_does_not_open_is_named() {
        let (h, h_public) = seal::generate_keypair().unwrap();
        let group = keepers::KeeperGroup::new(
            0,
            2,
            (1..=3u8)
                .map(|i| keepers::Keeper {
                    address: Address::repeat_byte(i),
                    hpke_public_key: String::new(),
                })
                .collect(),
        )
        .unwrap();
        let purpose = "requester-secret:token";
        let task = B256::repeat_byte(0xa);
        let shares = keepers::split(&group, b"s3cr3t").unwrap();
        // keeper 0x02..02 keeps its valid share but corrupts its copy of the ciphertext
        let mut bad = keepers::Share::decode(&shares[1]).unwrap();
        let last = bad.ciphertext.len() - 1;
        bad.ciphertext[last] ^= 1;
        let answers: Vec<_> = [
            (Address::repeat_byte(1), shares[0].clone()),
            (Address::repeat_byte(2), bad.encode()),
            (Address::repeat_byte(3), shares[2].clone()),
        ]
        .into_iter()
        .map(|(k, share)| {
            let answer = answer_for(task, &h_public, purpose, &share);
            (k, open_answer(&h, 31337, task, &answer).unwrap())
        })
        .collect();
        let opened = rebuild(answers.iter().map(|(k, a)| (*k, a)), &[]).unwrap();
        assert_eq!(opened.files, vec![("token".to_owned(), b"s3cr3t".to_vec())]);
        assert_eq!(
            opened.bad_ciphertexts,
            vec![(purpose.to_owned(), Address::repeat_byte(2))]
        );
        let note = bad_keepers_note(&opened.bad_ciphertexts).unwrap();
        assert!(
            note.contains(&Address::repeat_byte(2).to_string()) && !note.contains('\n'),
            "{note}"
        );
        assert!(
            !note.contains(&Address::repeat_byte(1).to_string()),
            "{note}"
        );
    }

    #[test]
    fn secrets_are_laid_out_read_only_and_removed() {
        let files = vec![("token".to_owned(), b"v".to_vec())];
        let dir = write_secrets(B256::repeat_byte(1), &files).unwrap();
        let path = dir.secrets().join("token");
        assert_eq!(std::fs::read(&path).unwrap(), b"v");
        assert!(std::fs::metadata(&path).unwrap().permissions().readonly());
        assert!(dir.input().is_dir() && dir.input().starts_with(MEMORY_DIR));
        std::fs::write(dir.input().join("dataset"), b"opened").unwrap();
        let kept = dir.0.clone();
        drop(dir);
        assert!(!kept.exists());
    }
}
