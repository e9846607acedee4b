//! age v1 files (the format of <https://age-encryption.org/v1>) with X25519 recipients: what
//! decloud's encrypted datasets, input files and results are, so that their owners can also use
//! the stock `age` and `rage` tools.
//!
//! ```
//! let identity = decloud_age::Identity::generate().unwrap();
//! let sealed = decloud_age::encrypt(b"rows", &[identity.recipient()]).unwrap();
//! assert!(decloud_age::is_age(&sealed));
//! assert_eq!(decloud_age::decrypt(&sealed, &identity).unwrap(), b"rows");
//! ```
//!
//! A file is a text header (the version line, one stanza per recipient wrapping a random 16-byte
//! file key, and an HMAC of the header under that key) followed by the payload: a 16-byte nonce,
//! then 64 KiB chunks sealed with ChaCha20-Poly1305 under a key derived from the file key and the
//! nonce, each chunk's nonce a counter and a "last chunk" flag, so chunks can't be reordered,
//! dropped or cut off without decryption failing. Files are read and written whole in memory;
//! the callers cap their size before.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use x25519_dalek::{X25519_BASEPOINT_BYTES, x25519};

/// The first line of every age v1 file.
pub const VERSION_LINE: &str = "age-encryption.org/v1";
/// Plaintext bytes per payload chunk.
pub const CHUNK_BYTES: usize = 64 * 1024;
const TAG_BYTES: usize = 16;
const FILE_KEY_BYTES: usize = 16;
const NONCE_BYTES: usize = 16;
const X25519_INFO: &[u8] = b"age-encryption.org/v1/X25519";
const IDENTITY_HRP: &str = "AGE-SECRET-KEY-";
const RECIPIENT_HRP: &str = "age";
/// Columns of a stanza body's base64 lines.
const BODY_COLUMNS: usize = 64;

/// What can go wrong with an age file or key. Each message says what to check.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AgeError {
    /// Not an age identity.
    #[error(
        "not an age identity: expected AGE-SECRET-KEY-1... (as `age-keygen` or `decloud result keygen` write it)"
    )]
    BadIdentity,
    /// Not an age recipient.
    #[error("not an age recipient: expected age1... (the public key `age-keygen -y` prints)")]
    BadRecipient,
    /// The bytes do not start like an age v1 file.
    #[error("not an age v1 file (it does not start with \"age-encryption.org/v1\")")]
    NotAge,
    /// The header does not parse.
    #[error("the age header is malformed: {0}")]
    BadHeader(&'static str),
    /// No stanza opens with this identity.
    #[error("this age file is not encrypted to this identity (no X25519 recipient matches it)")]
    NoMatchingRecipient,
    /// The header's MAC does not check out: it was changed.
    #[error("the age header was tampered with (its MAC does not match)")]
    BadMac,
    /// The payload was changed, reordered or cut off.
    #[error("the age payload is corrupted or truncated (chunk {0} does not decrypt)")]
    BadPayload(usize),
    /// No randomness from the operating system.
    #[error("the operating system gave no randomness: {0}")]
    Random(String),
    /// Encrypting to nobody.
    #[error("an age file needs at least one recipient")]
    NoRecipients,
    /// An identity file could not be written or read.
    #[error("identity file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What failed and what to do.
        reason: String,
    },
}

fn random<const N: usize>() -> Result<[u8; N], AgeError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| AgeError::Random(e.to_string()))?;
    Ok(out)
}

fn hkdf(ikm: &[u8], salt: &[u8], info: &[u8]) -> [u8; 32] {
    let mut okm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut okm)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    okm
}

fn header_mac(file_key: &[u8], header: &[u8]) -> [u8; 32] {
    let key = hkdf(file_key, &[], b"header");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(header);
    mac.finalize().into_bytes().into()
}

/// An X25519 identity (the secret side): decrypts what is encrypted to its [`Recipient`].
#[derive(Clone)]
pub struct Identity {
    secret: [u8; 32],
}

impl Identity {
    /// A fresh random identity.
    pub fn generate() -> Result<Self, AgeError> {
        Ok(Self { secret: random()? })
    }

    /// Its public side.
    pub fn recipient(&self) -> Recipient {
        Recipient(x25519(self.secret, X25519_BASEPOINT_BYTES))
    }

    /// The identity as `age-keygen` writes it (`AGE-SECRET-KEY-1...`). It is a secret: never
    /// log it.
    pub fn to_secret_string(&self) -> String {
        use bech32::ToBase32;
        bech32::encode(
            IDENTITY_HRP,
            self.secret.to_base32(),
            bech32::Variant::Bech32,
        )
        .expect("a fixed, valid human-readable part")
        .to_uppercase()
    }

    /// The identity in an identity file's text (comment lines starting with `#` and blank
    /// lines are skipped; the first key is taken).
    pub fn from_file_text(text: &str) -> Result<Self, AgeError> {
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or(AgeError::BadIdentity)?
            .parse()
    }

    /// Writes the identity to a new file at `path`, readable by its owner only, as
    /// `age-keygen` does (comments naming the public key, then the key). An existing file is
    /// never overwritten.
    pub fn write_new_file(&self, path: &std::path::Path) -> Result<(), AgeError> {
        use std::io::Write;
        let failed = |reason: String| AgeError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| failed(format!("cannot create its directory: {e}")))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => failed(
                "it exists: keep it (it opens what was encrypted to it) or move it away".into(),
            ),
            _ => failed(format!("cannot create: {e}")),
        })?;
        let text = format!(
            "# public key: {}\n{}\n",
            self.recipient(),
            self.to_secret_string()
        );
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| failed(format!("cannot write: {e}")))
    }

    /// Reads the identity in the file at `path` (as `age-keygen` or
    /// [`Identity::write_new_file`] write it).
    pub fn read_file(path: &std::path::Path) -> Result<Self, AgeError> {
        let text = std::fs::read_to_string(path).map_err(|e| AgeError::KeyFile {
            path: path.display().to_string(),
            reason: format!("cannot read: {e}"),
        })?;
        Self::from_file_text(&text).map_err(|_| AgeError::KeyFile {
            path: path.display().to_string(),
            reason: "holds no age identity (AGE-SECRET-KEY-1...)".into(),
        })
    }

    /// The file key of `stanza`, if it is an X25519 stanza addressed to this identity.
    fn unwrap(&self, stanza: &Stanza) -> Option<[u8; FILE_KEY_BYTES]> {
        let [kind, share] = stanza.args.as_slice() else {
            return None;
        };
        if kind != "X25519" || stanza.body.len() != FILE_KEY_BYTES + TAG_BYTES {
            return None;
        }
        let share: [u8; 32] = B64.decode(share).ok()?.try_into().ok()?;
        let shared = x25519(self.secret, share);
        if shared == [0u8; 32] {
            return None;
        }
        let mut salt = share.to_vec();
        salt.extend_from_slice(&self.recipient().0);
        let wrap_key = hkdf(&shared, &salt, X25519_INFO);
        let key = ChaCha20Poly1305::new(&wrap_key.into());
        let file_key = key
            .decrypt(&Nonce::default(), stanza.body.as_slice())
            .ok()?;
        file_key.try_into().ok()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret: its recipient names it.
        write!(f, "Identity({})", self.recipient())
    }
}

impl Drop for Identity {
    fn drop(&mut self) {
        // Best effort: the compiler may have copied it, but not here.
        self.secret = [0u8; 32];
    }
}

impl FromStr for Identity {
    type Err = AgeError;

    fn from_str(text: &str) -> Result<Self, AgeError> {
        let (hrp, data) = decode_key(text.trim()).ok_or(AgeError::BadIdentity)?;
        if hrp != IDENTITY_HRP.to_lowercase() || !text.trim().starts_with("AGE-SECRET-KEY-1") {
            return Err(AgeError::BadIdentity);
        }
        Ok(Self {
            secret: data.try_into().map_err(|_| AgeError::BadIdentity)?,
        })
    }
}

/// An X25519 recipient (the public side, `age1...`): anyone may encrypt to it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Recipient([u8; 32]);

impl Recipient {
    /// The stanza wrapping `file_key` to this recipient.
    fn wrap(&self, file_key: &[u8; FILE_KEY_BYTES]) -> Result<Stanza, AgeError> {
        let ephemeral: [u8; 32] = random()?;
        let share = x25519(ephemeral, X25519_BASEPOINT_BYTES);
        let shared = x25519(ephemeral, self.0);
        if shared == [0u8; 32] {
            return Err(AgeError::BadRecipient);
        }
        let mut salt = share.to_vec();
        salt.extend_from_slice(&self.0);
        let wrap_key = hkdf(&shared, &salt, X25519_INFO);
        let body = ChaCha20Poly1305::new(&wrap_key.into())
            .encrypt(&Nonce::default(), file_key.as_slice())
            .expect("sealing 16 bytes cannot fail");
        Ok(Stanza {
            args: vec!["X25519".into(), B64.encode(share)],
            body,
        })
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use bech32::ToBase32;
        let text = bech32::encode(RECIPIENT_HRP, self.0.to_base32(), bech32::Variant::Bech32)
            .map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({self})")
    }
}

impl FromStr for Recipient {
    type Err = AgeError;

    fn from_str(text: &str) -> Result<Self, AgeError> {
        let text = text.trim();
        let (hrp, data) = decode_key(text).ok_or(AgeError::BadRecipient)?;
        if hrp != RECIPIENT_HRP || !text.starts_with("age1") {
            return Err(AgeError::BadRecipient);
        }
        Ok(Self(data.try_into().map_err(|_| AgeError::BadRecipient)?))
    }
}

/// A bech32 (not bech32m) key: its human-readable part, lowercase, and its bytes.
fn decode_key(text: &str) -> Option<(String, Vec<u8>)> {
    use bech32::FromBase32;
    let (hrp, data, variant) = bech32::decode(text).ok()?;
    if variant != bech32::Variant::Bech32 {
        return None;
    }
    Some((hrp.to_lowercase(), Vec::<u8>::from_base32(&data).ok()?))
}

/// One recipient stanza of a header: `-> ARG...` and its body.
struct Stanza {
    args: Vec<String>,
    body: Vec<u8>,
}

impl Stanza {
    fn write(&self, out: &mut String) {
        out.push_str("->");
        for arg in &self.args {
            out.push(' ');
            out.push_str(arg);
        }
        out.push('\n');
        let body = B64.encode(&self.body);
        // Full lines of 64 columns, then a last, shorter one (empty when it would be full).
        let mut rest = body.as_str();
        loop {
            let (line, after) = rest.split_at(rest.len().min(BODY_COLUMNS));
            out.push_str(line);
            out.push('\n');
            if line.len() < BODY_COLUMNS {
                break;
            }
            rest = after;
        }
    }
}

/// Whether `bytes` start like an age v1 file.
pub fn is_age(bytes: &[u8]) -> bool {
    bytes.starts_with(format!("{VERSION_LINE}\n").as_bytes())
}

/// `plaintext` encrypted to every one of `recipients` (any of their identities decrypts it).
pub fn encrypt(plaintext: &[u8], recipients: &[Recipient]) -> Result<Vec<u8>, AgeError> {
    if recipients.is_empty() {
        return Err(AgeError::NoRecipients);
    }
    let file_key: [u8; FILE_KEY_BYTES] = random()?;
    let mut header = format!("{VERSION_LINE}\n");
    for recipient in recipients {
        recipient.wrap(&file_key)?.write(&mut header);
    }
    header.push_str("---");
    let mac = header_mac(&file_key, header.as_bytes());
    header.push(' ');
    header.push_str(&B64.encode(mac));
    header.push('\n');

    let nonce: [u8; NONCE_BYTES] = random()?;
    let payload = ChaCha20Poly1305::new(&hkdf(&file_key, &nonce, b"payload").into());
    let chunks = plaintext.len().div_ceil(CHUNK_BYTES).max(1);
    let mut out =
        Vec::with_capacity(header.len() + NONCE_BYTES + plaintext.len() + chunks * TAG_BYTES);
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&nonce);
    for index in 0..chunks {
        let chunk = &plaintext[(index * CHUNK_BYTES).min(plaintext.len())
            ..((index + 1) * CHUNK_BYTES).min(plaintext.len())];
        let sealed = payload
            .encrypt(&chunk_nonce(index, index + 1 == chunks), chunk)
            .expect("sealing a chunk cannot fail");
        out.extend_from_slice(&sealed);
    }
    Ok(out)
}

/// The nonce of payload chunk `index`: an 11-byte big-endian counter and the last-chunk flag.
fn chunk_nonce(index: usize, last: bool) -> Nonce {
    let mut nonce = [0u8; 12];
    nonce[3..11].copy_from_slice(&(index as u64).to_be_bytes());
    nonce[11] = u8::from(last);
    Nonce::from(nonce)
}

/// The plaintext of the age file `file`, if `identity` is one of its recipients.
pub fn decrypt(file: &[u8], identity: &Identity) -> Result<Vec<u8>, AgeError> {
    let Parsed {
        stanzas,
        mac,
        mac_covers,
        payload,
    } = parse(file)?;
    let file_key = stanzas
        .iter()
        .find_map(|s| identity.unwrap(s))
        .ok_or(AgeError::NoMatchingRecipient)?;
    // The MAC covers the header up to and including "---".
    if header_mac(&file_key, &file[..mac_covers]) != mac {
        return Err(AgeError::BadMac);
    }
    let (nonce, sealed) = payload
        .split_at_checked(NONCE_BYTES)
        .ok_or(AgeError::BadPayload(0))?;
    let key = ChaCha20Poly1305::new(&hkdf(&file_key, nonce, b"payload").into());
    let sealed_chunk = CHUNK_BYTES + TAG_BYTES;
    let chunks = sealed.len().div_ceil(sealed_chunk).max(1);
    let mut out = Vec::with_capacity(sealed.len());
    for index in 0..chunks {
        let chunk = &sealed[index * sealed_chunk..((index + 1) * sealed_chunk).min(sealed.len())];
        let last = index + 1 == chunks;
        let plain = key
            .decrypt(&chunk_nonce(index, last), chunk)
            .map_err(|_| AgeError::BadPayload(index))?;
        // Only an empty file has an empty chunk.
        if plain.is_empty() && index > 0 {
            return Err(AgeError::BadPayload(index));
        }
        out.extend_from_slice(&plain);
    }
    Ok(out)
}

/// A file split into its parts.
struct Parsed<'a> {
    stanzas: Vec<Stanza>,
    mac: [u8; 32],
    /// How many bytes of the file the MAC covers (the header up to and including "---").
    mac_covers: usize,
    payload: &'a [u8],
}

/// The header's stanzas and MAC, where the MAC'd part ends, and the payload.
fn parse(file: &[u8]) -> Result<Parsed<'_>, AgeError> {
    if !is_age(file) {
        return Err(AgeError::NotAge);
    }
    let mut at = VERSION_LINE.len() + 1;
    let line = |at: usize| -> Result<(&str, usize), AgeError> {
        let end = file[at..]
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(AgeError::BadHeader("a header line has no end"))?;
        let text = std::str::from_utf8(&file[at..at + end])
            .map_err(|_| AgeError::BadHeader("a header line is not text"))?;
        Ok((text, at + end + 1))
    };
    let mut stanzas = Vec::new();
    loop {
        let (text, next) = line(at)?;
        if let Some(rest) = text.strip_prefix("---") {
            let mac = rest
                .strip_prefix(' ')
                .and_then(|m| B64.decode(m).ok())
                .and_then(|m| <[u8; 32]>::try_from(m).ok())
                .ok_or(AgeError::BadHeader("the MAC line is malformed"))?;
            return Ok(Parsed {
                stanzas,
                mac,
                mac_covers: at + 3,
                payload: &file[next..],
            });
        }
        let args: Vec<String> = text
            .strip_prefix("-> ")
            .ok_or(AgeError::BadHeader(
                "expected a stanza (\"-> \") or the MAC line (\"---\")",
            ))?
            .split(' ')
            .map(str::to_owned)
            .collect();
        if args.iter().any(|a| a.is_empty()) {
            return Err(AgeError::BadHeader("a stanza has an empty argument"));
        }
        at = next;
        let mut body = String::new();
        loop {
            let (text, next) = line(at)?;
            at = next;
            if text.len() > BODY_COLUMNS {
                return Err(AgeError::BadHeader("a stanza body line is over 64 columns"));
            }
            body.push_str(text);
            if text.len() < BODY_COLUMNS {
                break;
            }
        }
        let body = B64
            .decode(&body)
            .map_err(|_| AgeError::BadHeader("a stanza body is not canonical base64"))?;
        stanzas.push(Stanza { args, body });
    }
}

#[cfg(test)]
mod tests;
