//! Encrypted apps (docs/confidential.md, "Encrypted apps"): the app developer's client encrypts
//! the module (age v1) to an identity of its own, uploads only the ciphertext, registers the
//! **plaintext** module's checksum (so an enclave's `report_data` still binds the code it runs)
//! under the uri `age:<ciphertext uri>`, then gives the identity to the key holders as the app
//! secret [`KEY_NAME`] ([`crate::secret::push_app_key`]). Only an attested enclave of a TEE task
//! gets it; a worker opens the module in memory and checks it against the registered checksum.

use alloy::primitives::B256;
use decloud_storage::{BlobStore, ContentHash};

pub use decloud_protocol::encrypted_app::{KEY_NAME, URI_PREFIX, ciphertext_uri, registered_uri};

use crate::error::{Error, Result};

/// An app module encrypted for the key holders' enclaves.
pub struct SealedApp {
    /// The age file that is uploaded.
    pub ciphertext: Vec<u8>,
    /// The sha256 of the plaintext module: what is registered on chain.
    pub checksum: B256,
}

/// Encrypts `module` (a single WASI module, not a bundle) to `identity`.
pub fn seal(module: &[u8], identity: &decloud_age::Identity) -> Result<SealedApp> {
    if decloud_protocol::bundle::is_bundle(module) {
        return Err(Error::EncryptedApp(
            "this is a bundle: an encrypted app must be a single wasm module (its parts would be uploaded in the clear)".into(),
        ));
    }
    if !module.starts_with(b"\0asm") {
        return Err(Error::EncryptedApp(
            "this is not a wasm module (no \\0asm header): encrypt the module itself, e.g. target/wasm32-wasip1/release/APP.wasm".into(),
        ));
    }
    let ciphertext = decloud_age::encrypt(module, &[identity.recipient()])
        .map_err(|e| Error::EncryptedApp(format!("cannot encrypt the module: {e}")))?;
    Ok(SealedApp {
        ciphertext,
        checksum: B256::from(ContentHash::of(module).0),
    })
}

/// Uploads the ciphertext to `store`; returns the uri to register (`age:<its url>`).
pub async fn upload(store: &str, sealed: &SealedApp) -> Result<String> {
    let store = BlobStore::from_url(store)?;
    let id = store
        .put(sealed.ciphertext.clone())
        .await
        .map_err(|source| Error::Upload {
            file: "the encrypted module".into(),
            location: store.location().to_string(),
            source,
        })?;
    Ok(registered_uri(&store.url_of(&id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_is_sealed_to_its_identity_and_keeps_its_plaintext_checksum() {
        let module = b"\0asm\x01\0\0\0 a module".to_vec();
        let identity = decloud_age::Identity::generate().unwrap();
        let sealed = seal(&module, &identity).unwrap();
        assert_eq!(sealed.checksum, B256::from(ContentHash::of(&module).0));
        assert!(decloud_age::is_age(&sealed.ciphertext));
        assert!(
            !sealed.ciphertext.windows(8).any(|w| w == b" a modul"),
            "the plaintext shows through"
        );
        assert_eq!(
            decloud_age::decrypt(&sealed.ciphertext, &identity).unwrap(),
            module
        );
        let other = decloud_age::Identity::generate().unwrap();
        assert!(decloud_age::decrypt(&sealed.ciphertext, &other).is_err());
        let e = seal(b"not wasm", &identity).err().unwrap().to_string();
        assert!(e.contains("not a wasm module"), "{e}");
    }
}
