//! The SMS's cryptography: how a secret travels (HPKE, RFC 9180, X25519-HKDF-SHA256 +
//! ChaCha20-Poly1305) and how it rests (ChaCha20-Poly1305 under the node's key, the row's
//! identity as associated data).
//!
//! - **Writes** are sealed by the owner's client to the SMS's published X25519 key with
//!   [`write_info`] (chain and owner); the signed `PutSecret.ciphertextHash` is the sha256 of the
//!   sealed bytes ([`Sealed::hash`]), so a TLS-terminating proxy sees neither the value nor a
//!   way to swap it.
//! - **Releases** are sealed by the SMS to the enclave's per-task key H with [`release_info`]
//!   (purpose, chain, task), so a sealed value can't be replayed into another task or purpose.
//! - **At rest** each value is sealed with [`NodeKey::seal_at_rest`]; the associated data names
//!   owner, kind, object, name and version, so a row copied onto another is refused on read.

use std::io::Write;
use std::path::Path;

use alloy::primitives::{Address, B256};
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{ChaCha20Poly1305 as RestAead, KeyInit, Nonce};
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use decloud_protocol::tee::SecretKind;

/// The KEM of every decloud HPKE channel.
pub type HpkeKem = X25519HkdfSha256;
/// An X25519 private key of an HPKE channel (the SMS's, or an enclave's H).
pub type HpkePrivateKey = <HpkeKem as Kem>::PrivateKey;
/// An X25519 public key of an HPKE channel.
pub type HpkePublicKey = <HpkeKem as Kem>::PublicKey;

/// Why sealing, opening or loading a key failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The sealed bytes do not open under this key and context (edited, or meant for another).
    #[error(
        "the sealed value does not open: it was edited or sealed for another key, chain, task or purpose"
    )]
    Open,
    /// A key or an encapsulation has the wrong length or is not a curve point.
    #[error("{0} is not a valid X25519 value (32 bytes, hex)")]
    BadKey(&'static str),
    /// The node key file could not be read or written.
    #[error("node key {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The system's random source failed.
    #[error("no randomness from the system: {0}")]
    Random(String),
}

/// Bytes from the system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], SealError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| SealError::Random(e.to_string()))?;
    Ok(out)
}

/// An HPKE-sealed value: the encapsulated key and the ciphertext (hex on the wire).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The sender's encapsulated X25519 key (32 bytes).
    #[serde(with = "hex_vec")]
    pub enc: Vec<u8>,
    /// The ChaCha20-Poly1305 ciphertext with its tag.
    #[serde(with = "hex_vec")]
    pub ciphertext: Vec<u8>,
}

impl Sealed {
    /// `sha256(enc ‖ ciphertext)`: what a `PutSecret` signs as `ciphertextHash`.
    pub fn hash(&self) -> B256 {
        let mut h = Sha256::new();
        h.update(&self.enc);
        h.update(&self.ciphertext);
        B256::from(<[u8; 32]>::from(h.finalize()))
    }
}

/// The HPKE `info` of a write by `owner` on `chain_id`.
pub fn write_info(chain_id: u64, owner: Address) -> Vec<u8> {
    format!("decloud/sms/v1 write chain={chain_id} owner={owner:#x}").into_bytes()
}

/// The HPKE `info` of a released secret: its purpose (e.g. `dataset-key`,
/// `requester-secret:NAME`), the chain and the task.
pub fn release_info(purpose: &str, chain_id: u64, task_id: B256) -> Vec<u8> {
    format!("decloud/sms/v1 release {purpose} chain={chain_id} task={task_id:#x}").into_bytes()
}

/// Seals `plaintext` to `recipient` (32 bytes of X25519 public key) under `info`.
pub fn seal(recipient: &[u8; 32], info: &[u8], plaintext: &[u8]) -> Result<Sealed, SealError> {
    let pk =
        HpkePublicKey::from_bytes(recipient).map_err(|_| SealError::BadKey("the recipient key"))?;
    let (enc, ciphertext) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, HpkeKem>(
        &OpModeS::Base,
        &pk,
        info,
        plaintext,
        b"",
    )
    .map_err(|_| SealError::BadKey("the recipient key"))?;
    Ok(Sealed {
        enc: enc.to_bytes().to_vec(),
        ciphertext,
    })
}

/// Opens `sealed` with `key` under `info`.
pub fn open(key: &HpkePrivateKey, info: &[u8], sealed: &Sealed) -> Result<Vec<u8>, SealError> {
    let enc = <HpkeKem as Kem>::EncappedKey::from_bytes(&sealed.enc)
        .map_err(|_| SealError::BadKey("the encapsulated key"))?;
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, HpkeKem>(
        &OpModeR::Base,
        key,
        &enc,
        info,
        &sealed.ciphertext,
        b"",
    )
    .map_err(|_| SealError::Open)
}

/// A fresh X25519 key pair (an enclave's H), the public half as 32 bytes.
pub fn generate_keypair() -> Result<(HpkePrivateKey, [u8; 32]), SealError> {
    let ikm: [u8; 32] = random_bytes()?;
    let (sk, pk) = HpkeKem::derive_keypair(&ikm);
    Ok((sk, public_bytes(&pk)))
}

/// The 32 bytes of an X25519 public key.
pub fn public_bytes(pk: &HpkePublicKey) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&pk.to_bytes());
    out
}

/// Who a stored row belongs to; its bytes are the associated data of its sealing at rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowId<'a> {
    /// The owner.
    pub owner: Address,
    /// The kind.
    pub kind: SecretKind,
    /// The app, dataset or owner address the secret hangs on.
    pub object: Address,
    /// The secret's name.
    pub name: &'a str,
    /// The version.
    pub version: u64,
}

impl RowId<'_> {
    fn aad(&self) -> Vec<u8> {
        format!(
            "decloud/sms/v1 rest owner={:#x} kind={} object={:#x} name={} version={}",
            self.owner,
            self.kind.code(),
            self.object,
            self.name,
            self.version
        )
        .into_bytes()
    }
}

/// The SMS node's own key: 64 bytes in a file kept 0600 beside its TLS key. The first 32 seal
/// values at rest, the last 32 derive the X25519 key owners seal their writes to.
pub struct NodeKey {
    rest: RestAead,
    challenge: [u8; 32],
    hpke_private: HpkePrivateKey,
    hpke_public: [u8; 32],
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeKey(public {})", hex::encode(self.hpke_public))
    }
}

impl NodeKey {
    /// The key in `path`, made (0600) when missing.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        let failed = |reason: String| SealError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
                }
                let fresh: [u8; 64] = random_bytes()?;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(|e| failed(e.to_string()))?;
                file.write_all(&fresh)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| failed(e.to_string()))?;
                fresh.to_vec()
            }
            Err(e) => return Err(failed(e.to_string())),
        };
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| {
            failed("is not 64 bytes: restore it from a backup (the stored secrets need it)".into())
        })?;
        Ok(Self::from_bytes(&bytes))
    }

    /// The key of these 64 bytes.
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        let rest = RestAead::new_from_slice(&bytes[..32]).expect("32-byte key");
        let (hpke_private, pk) = HpkeKem::derive_keypair(&bytes[32..]);
        let challenge = Sha256::new()
            .chain_update(b"decloud/sms/v1 challenge key")
            .chain_update(&bytes[..32])
            .finalize()
            .into();
        Self {
            rest,
            challenge,
            hpke_private,
            hpke_public: public_bytes(&pk),
        }
    }

    /// The X25519 key owners seal their writes to.
    pub fn hpke_public(&self) -> [u8; 32] {
        self.hpke_public
    }

    /// A release challenge valid until `expires_at`, which needs no record until it is used:
    /// `expires_at (u64 BE) ‖ 8 random bytes ‖ 16-byte tag`, the tag keyed with this node's
    /// key, so only this node makes nonces it accepts ([`Self::challenge_expiry`]).
    pub fn challenge(&self, expires_at: u64) -> Result<B256, SealError> {
        let mut nonce = [0u8; 32];
        nonce[..8].copy_from_slice(&expires_at.to_be_bytes());
        nonce[8..16].copy_from_slice(&random_bytes::<8>()?);
        let tag = self.challenge_tag(&nonce[..16]);
        nonce[16..].copy_from_slice(&tag);
        Ok(B256::from(nonce))
    }

    /// The expiry of a nonce this node made with [`Self::challenge`]; `None` for any other.
    pub fn challenge_expiry(&self, nonce: &B256) -> Option<u64> {
        let tag = self.challenge_tag(&nonce[..16]);
        // compared in constant time: a tag is not to be guessed byte by byte
        let diff = tag
            .iter()
            .zip(&nonce[16..])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0).then(|| u64::from_be_bytes(nonce.0[..8].try_into().unwrap_or_default()))
    }

    /// `sha256(tag ‖ key ‖ 16 bytes)`, cut to 16: the input has a fixed length, so a prefix key
    /// is a MAC (no extension of a fixed-length message is accepted).
    fn challenge_tag(&self, head: &[u8]) -> [u8; 16] {
        let digest = Sha256::new()
            .chain_update(b"decloud/sms/v1 challenge")
            .chain_update(self.challenge)
            .chain_update(head)
            .finalize();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&digest[..16]);
        tag
    }

    /// Opens a write sealed to this node.
    pub fn open_write(&self, info: &[u8], sealed: &Sealed) -> Result<Vec<u8>, SealError> {
        open(&self.hpke_private, info, sealed)
    }

    /// Seals `value` for storage in row `id`: a random 12-byte nonce, then the ciphertext.
    pub fn seal_at_rest(&self, id: &RowId<'_>, value: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce: [u8; 12] = random_bytes()?;
        let aad = id.aad();
        let ct = self
            .rest
            .encrypt(
                &Nonce::from(nonce),
                chacha20poly1305::aead::Payload {
                    msg: value,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Open)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens what [`Self::seal_at_rest`] sealed for row `id`.
    pub fn open_at_rest(&self, id: &RowId<'_>, stored: &[u8]) -> Result<Vec<u8>, SealError> {
        if stored.len() < 12 {
            return Err(SealError::Open);
        }
        let (nonce, ct) = stored.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SealError::Open)?;
        let aad = id.aad();
        self.rest
            .decrypt(
                &Nonce::from(nonce),
                chacha20poly1305::aead::Payload { msg: ct, aad: &aad },
            )
            .map_err(|_| SealError::Open)
    }
}

mod hex_vec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s.strip_prefix("0x").unwrap_or(&s)).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A challenge needs no record: the node recognizes its own nonces and their expiry, and
    /// refuses any other (another node's, an altered one, random bytes).
    #[test]
    fn a_challenge_is_recognized_only_by_the_node_that_made_it() {
        let key = NodeKey::from_bytes(&[7u8; 64]);
        let nonce = key.challenge(1_700_000_060).unwrap();
        assert_eq!(key.challenge_expiry(&nonce), Some(1_700_000_060));
        assert_ne!(
            key.challenge(1_700_000_060).unwrap(),
            nonce,
            "nonces are fresh"
        );
        let other = NodeKey::from_bytes(&[8u8; 64]);
        assert_eq!(other.challenge_expiry(&nonce), None);
        for byte in [0, 7, 8, 16, 31] {
            let mut altered = nonce;
            altered.0[byte] ^= 1;
            assert_eq!(key.challenge_expiry(&altered), None, "byte {byte} altered");
        }
        assert_eq!(key.challenge_expiry(&B256::repeat_byte(0x42)), None);
    }

    #[test]
    fn a_release_opens_only_under_its_own_info() {
        let (sk, pk) = generate_keypair().unwrap();
        let info = release_info("dataset-key", 31337, B256::repeat_byte(1));
        let sealed = seal(&pk, &info, b"AGE-SECRET-KEY-1").unwrap();
        assert_eq!(open(&sk, &info, &sealed).unwrap(), b"AGE-SECRET-KEY-1");
        let other_task = release_info("dataset-key", 31337, B256::repeat_byte(2));
        assert!(matches!(
            open(&sk, &other_task, &sealed),
            Err(SealError::Open)
        ));
        let (other_sk, _) = generate_keypair().unwrap();
        assert!(open(&other_sk, &info, &sealed).is_err());
        let mut edited = sealed.clone();
        edited.ciphertext[0] ^= 1;
        assert!(open(&sk, &info, &edited).is_err());
    }

    #[test]
    fn a_row_sealed_at_rest_opens_only_as_itself() {
        let key = NodeKey::from_bytes(&[7; 64]);
        let id = RowId {
            owner: Address::repeat_byte(1),
            kind: SecretKind::RequesterSecret,
            object: Address::repeat_byte(1),
            name: "token",
            version: 2,
        };
        let stored = key.seal_at_rest(&id, b"hunter2").unwrap();
        assert!(!stored.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(key.open_at_rest(&id, &stored).unwrap(), b"hunter2");
        let older = RowId {
            version: 1,
            ..id.clone()
        };
        assert!(key.open_at_rest(&older, &stored).is_err());
        let renamed = RowId {
            name: "other",
            ..id.clone()
        };
        assert!(key.open_at_rest(&renamed, &stored).is_err());
        assert!(
            NodeKey::from_bytes(&[8; 64])
                .open_at_rest(&id, &stored)
                .is_err()
        );
    }

    #[test]
    fn the_node_key_file_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tls/sms-seal.key");
        let a = NodeKey::load_or_create(&path).unwrap();
        let b = NodeKey::load_or_create(&path).unwrap();
        assert_eq!(a.hpke_public(), b.hpke_public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, b"short").unwrap();
        let e = NodeKey::load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("not 64 bytes"), "{e}");
    }
}
