//! Wallets: Ethereum keystore V3 files (scrypt + AES-128-CTR, the format geth, foundry and
//! MetaMask import) under `$DECLOUD_HOME/wallets/<name>.json`.
//!
//! A wallet is named by its file stem, or given as a path to any keystore file. The password
//! comes from `DECLOUD_WALLET_PASSWORD`, a password file, or (in the CLI) a prompt: see
//! [`password_from_env_or_file`].

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use alloy::signers::local::{LocalSignerError, PrivateKeySigner};
use serde::Serialize;

use crate::FileError;

/// Sub-directory of `$DECLOUD_HOME` that holds the wallets.
pub const WALLETS_DIR: &str = "wallets";
/// Environment variable holding the wallet password (for scripts and services).
pub const PASSWORD_ENV: &str = "DECLOUD_WALLET_PASSWORD";
/// Name of the wallet used when none is given.
pub const DEFAULT_WALLET: &str = "default";

/// What can go wrong with a wallet. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// No wallet of that name or path.
    #[error("no wallet {name:?} (looked for {}): create one with `decloud wallet create`, or import a key with `decloud wallet import`", path.display())]
    NotFound {
        /// The name or path asked for.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A wallet of that name exists already.
    #[error("a wallet named {name:?} exists already ({}): pick another name with --name, or delete the file", path.display())]
    Exists {
        /// The name.
        name: String,
        /// Its file.
        path: PathBuf,
    },
    /// The password does not open the keystore.
    #[error("wrong password for wallet {}: retype it, or fix DECLOUD_WALLET_PASSWORD / --password-file", path.display())]
    WrongPassword {
        /// The keystore file.
        path: PathBuf,
    },
    /// The file is not a keystore V3 JSON.
    #[error("{} is not a readable keystore V3 file ({reason}): point --wallet at a keystore JSON", path.display())]
    BadKeystore {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A private key that is not 32 bytes of hex, or not a valid secp256k1 key.
    #[error(
        "invalid private key: expected 64 hex digits (with or without 0x) of a valid secp256k1 key"
    )]
    BadPrivateKey,
    /// A wallet name with path separators or other odd characters.
    #[error("invalid wallet name {name:?}: use letters, digits, '-', '_' and '.'")]
    BadName {
        /// The name.
        name: String,
    },
    /// An empty password was given for a new wallet.
    #[error(
        "empty password: a wallet needs a password (set DECLOUD_WALLET_PASSWORD, use --password-file, or type one)"
    )]
    EmptyPassword,
    /// Reading a password file or the wallets directory failed.
    #[error(transparent)]
    Io(#[from] FileError),
}

/// A wallet as listed: its name, address and file. Showing it needs no password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WalletInfo {
    /// File stem.
    pub name: String,
    /// The account address (from the keystore's `address` field).
    pub address: Option<Address>,
    /// The keystore file.
    pub path: PathBuf,
}

/// The wallets of one `$DECLOUD_HOME`.
#[derive(Clone, Debug)]
pub struct WalletStore {
    dir: PathBuf,
}

impl WalletStore {
    /// The wallets under `home/wallets`.
    pub fn new(home: &Path) -> Self {
        Self {
            dir: home.join(WALLETS_DIR),
        }
    }

    /// The directory holding the wallets.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of `name_or_path`: a path (anything with a `/` or ending in `.json`) as is,
    /// otherwise `wallets/<name>.json`.
    pub fn resolve(&self, name_or_path: &str) -> PathBuf {
        if name_or_path.contains(std::path::MAIN_SEPARATOR) || name_or_path.ends_with(".json") {
            PathBuf::from(name_or_path)
        } else {
            self.dir.join(format!("{name_or_path}.json"))
        }
    }

    /// Creates a wallet with a fresh random key.
    pub fn create(&self, name: &str, password: &str) -> Result<WalletInfo, WalletError> {
        let key = PrivateKeySigner::random();
        self.store(name, key.to_bytes(), password)
    }

    /// Stores an existing private key (hex, with or without `0x`) as a wallet.
    pub fn import(
        &self,
        name: &str,
        private_key: &str,
        password: &str,
    ) -> Result<WalletInfo, WalletError> {
        let hex = private_key.trim();
        let key: B256 = hex.parse().map_err(|_| WalletError::BadPrivateKey)?;
        PrivateKeySigner::from_bytes(&key).map_err(|_| WalletError::BadPrivateKey)?;
        self.store(name, key, password)
    }

    fn store(&self, name: &str, key: B256, password: &str) -> Result<WalletInfo, WalletError> {
        check_name(name)?;
        if password.is_empty() {
            return Err(WalletError::EmptyPassword);
        }
        let path = self.resolve(name);
        if path.exists() {
            return Err(WalletError::Exists {
                name: name.to_string(),
                path,
            });
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| FileError::new("cannot create", &self.dir, e))?;
        restrict_permissions(&self.dir, 0o700);
        let file_name = format!("{name}.json");
        let mut rng = rand_08::thread_rng();
        let (signer, _uuid) = PrivateKeySigner::encrypt_keystore(
            &self.dir,
            &mut rng,
            key,
            password,
            Some(&file_name),
        )
        .map_err(|e| keystore_error(&path, e))?;
        // Keystore V3 files carry the address in clear (geth, clef and MetaMask write it) so
        // that `wallet show` needs no password; eth-keystore leaves it out, so add it.
        add_address(&path, signer.address())?;
        restrict_permissions(&path, 0o600);
        Ok(WalletInfo {
            name: name.to_string(),
            address: Some(signer.address()),
            path,
        })
    }

    /// The wallet's name and address, read without its password.
    pub fn info(&self, name_or_path: &str) -> Result<WalletInfo, WalletError> {
        let path = self.existing(name_or_path)?;
        let text =
            std::fs::read_to_string(&path).map_err(|e| FileError::new("cannot read", &path, e))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| WalletError::BadKeystore {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if json.get("crypto").or_else(|| json.get("Crypto")).is_none() {
            return Err(WalletError::BadKeystore {
                path,
                reason: "no crypto section".into(),
            });
        }
        let address = json.get("address").and_then(|a| a.as_str()).and_then(|a| {
            let a = a.trim_start_matches("0x");
            format!("0x{a}").parse::<Address>().ok()
        });
        Ok(WalletInfo {
            name: stem(&path),
            address,
            path,
        })
    }

    /// Every wallet in the store, sorted by name (unreadable files are skipped).
    pub fn list(&self) -> Result<Vec<WalletInfo>, WalletError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(FileError::new("cannot read", &self.dir, e).into());
            }
        };
        let mut out: Vec<WalletInfo> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter_map(|p| self.info(&p.to_string_lossy()).ok())
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Decrypts the wallet: the signer for transactions and orders.
    pub fn unlock(
        &self,
        name_or_path: &str,
        password: &str,
    ) -> Result<PrivateKeySigner, WalletError> {
        let path = self.existing(name_or_path)?;
        PrivateKeySigner::decrypt_keystore(&path, password).map_err(|e| keystore_error(&path, e))
    }

    fn existing(&self, name_or_path: &str) -> Result<PathBuf, WalletError> {
        let path = self.resolve(name_or_path);
        if path.is_file() {
            Ok(path)
        } else {
            Err(WalletError::NotFound {
                name: name_or_path.to_string(),
                path,
            })
        }
    }
}

/// The password from `DECLOUD_WALLET_PASSWORD`, else from `file` (its first line); `None`
/// when neither is set (the caller prompts). A password file that can't be read is an error.
pub fn password_from_env_or_file(file: Option<&Path>) -> Result<Option<String>, WalletError> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| FileError::new("cannot read the password file", file, e))?;
        return Ok(Some(text.lines().next().unwrap_or_default().to_string()));
    }
    Ok(std::env::var(PASSWORD_ENV).ok())
}

fn check_name(name: &str) -> Result<(), WalletError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(WalletError::BadName {
            name: name.to_string(),
        })
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn keystore_error(path: &Path, e: LocalSignerError) -> WalletError {
    match &e {
        // eth-keystore's `KeystoreError::MacMismatch` (the crate is not re-exported by alloy).
        LocalSignerError::EthKeystoreError(k) if k.to_string() == "Mac Mismatch" => {
            WalletError::WrongPassword {
                path: path.to_path_buf(),
            }
        }
        _ => WalletError::BadKeystore {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    }
}

fn add_address(path: &Path, address: Address) -> Result<(), WalletError> {
    let io = |action, e| WalletError::from(FileError::new(action, path, e));
    let text = std::fs::read_to_string(path).map_err(|e| io("cannot read", e))?;
    let mut json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| WalletError::BadKeystore {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if let Some(map) = json.as_object_mut() {
        map.insert(
            "address".into(),
            serde_json::Value::String(alloy::hex::encode(address.as_slice())),
        );
    }
    let text = serde_json::to_string(&json).unwrap_or(text);
    std::fs::write(path, text).map_err(|e| io("cannot write", e))
}

#[cfg(unix)]
fn restrict_permissions(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path, _mode: u32) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_show_unlock_and_wrong_password() {
        let home = tempfile::tempdir().unwrap();
        let store = WalletStore::new(home.path());
        let created = store.create("alice", "pw").unwrap();
        assert!(created.path.ends_with("wallets/alice.json"));
        let shown = store.info("alice").unwrap();
        assert_eq!(shown.address, created.address);
        assert_eq!(shown.name, "alice");
        let signer = store.unlock("alice", "pw").unwrap();
        assert_eq!(Some(signer.address()), created.address);
        let err = store.unlock("alice", "nope").unwrap_err();
        assert!(matches!(err, WalletError::WrongPassword { .. }), "{err}");
        assert!(err.to_string().contains("DECLOUD_WALLET_PASSWORD"));
        assert!(matches!(
            store.create("alice", "pw"),
            Err(WalletError::Exists { .. })
        ));
        assert!(matches!(
            store.info("bob"),
            Err(WalletError::NotFound { .. })
        ));
        // by path too
        assert_eq!(
            store.info(&created.path.to_string_lossy()).unwrap().address,
            created.address
        );
        assert_eq!(store.list().unwrap().len(), 1);
    }

    #[test]
    fn import_keeps_the_key() {
        let home = tempfile::tempdir().unwrap();
        let store = WalletStore::new(home.path());
        let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let info = store.import("dev0", key, "pw").unwrap();
        let expected: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
            .parse()
            .unwrap();
        assert_eq!(info.address, Some(expected));
        assert_eq!(store.unlock("dev0", "pw").unwrap().address(), expected);
        assert!(matches!(
            store.import("x", "0x1234", "pw"),
            Err(WalletError::BadPrivateKey)
        ));
        assert!(matches!(
            store.import("x", &"0".repeat(64), "pw"),
            Err(WalletError::BadPrivateKey)
        ));
        assert!(matches!(
            store.import("../x", key, "pw"),
            Err(WalletError::BadName { .. })
        ));
        assert!(matches!(
            store.import("y", key, ""),
            Err(WalletError::EmptyPassword)
        ));
    }

    #[test]
    fn garbage_file_is_a_bad_keystore() {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join("junk.json");
        std::fs::write(&path, "{\"hello\": 1}").unwrap();
        let store = WalletStore::new(home.path());
        assert!(matches!(
            store.info(&path.to_string_lossy()),
            Err(WalletError::BadKeystore { .. })
        ));
        assert!(matches!(
            store.unlock(&path.to_string_lossy(), "pw"),
            Err(WalletError::BadKeystore { .. })
        ));
    }

    #[test]
    fn password_file_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "secret\nignored\n").unwrap();
        assert_eq!(
            password_from_env_or_file(Some(&file)).unwrap().as_deref(),
            Some("secret")
        );
        assert!(password_from_env_or_file(Some(&dir.path().join("missing"))).is_err());
    }
}
