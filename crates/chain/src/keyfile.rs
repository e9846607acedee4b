//! Raw key files for service identities that must survive restarts without a password prompt
//! (a node's workers, a scheduler started unattended): 64 hex digits in a file created with mode
//! 0600 on first use. People's wallets are keystore files ([`crate::wallet`]).

use std::io::Write;
use std::path::Path;

use alloy::signers::local::PrivateKeySigner;

use crate::ChainError;

fn key_error(path: &Path, reason: impl Into<String>) -> ChainError {
    ChainError::KeyFile {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Reads the key at `path` (64 hex digits, optional `0x`), or creates a random one there
/// (readable by its owner only) if the file does not exist. The key never appears in errors.
pub fn load_or_create(path: &Path) -> Result<PrivateKeySigner, ChainError> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.trim().parse::<PrivateKeySigner>().map_err(|_| {
            key_error(
                path,
                "not a private key (expected 64 hex digits): restore the file or remove it to make a new key",
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let signer = PrivateKeySigner::random();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| key_error(path, format!("cannot create its directory: {e}")))?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options
                .open(path)
                .map_err(|e| key_error(path, format!("cannot create: {e}")))?;
            file.write_all(format!("{}\n", alloy::hex::encode(signer.to_bytes())).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| key_error(path, format!("cannot write: {e}")))?;
            Ok(signer)
        }
        Err(e) => Err(key_error(path, format!("cannot read: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_is_the_same_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("worker.key");
        let first = load_or_create(&path).unwrap();
        let again = load_or_create(&path).unwrap();
        assert_eq!(first.address(), again.address());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").unwrap();
        let err = load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("not a private key"), "{err}");
        assert!(
            !err.contains("not a key\""),
            "the file's content is not echoed"
        );
    }
}
