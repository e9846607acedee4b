//! Encrypted apps (docs/confidential.md, "Encrypted apps"): an app's module stored as an age
//! file whose identity is an app secret, released only to an attested enclave. The app's
//! registered checksum stays the plaintext module's, so the enclave's `report_data` still binds
//! the code it runs; the registered uri says where the ciphertext is, behind [`URI_PREFIX`].

/// What the registered uri of an encrypted app starts with, before the ciphertext's own uri
/// (`age:http://host:7700/blobs/<sha256 of the ciphertext>`): a worker sees that the module
/// must be opened in an enclave before it downloads anything.
pub const URI_PREFIX: &str = "age:";

/// The name of the app secret holding the age identity that opens the module. A TEE worker
/// keeps it to itself: it is not laid out under `/secrets/app` for the app.
pub const KEY_NAME: &str = "decloud-app-key";

/// The ciphertext's uri when `uri` is an encrypted app's, else `None`.
pub fn ciphertext_uri(uri: &str) -> Option<&str> {
    uri.strip_prefix(URI_PREFIX)
        .filter(|inner| !inner.is_empty())
}

/// The uri to register for an encrypted app whose ciphertext is at `ciphertext_uri`.
pub fn registered_uri(ciphertext_uri: &str) -> String {
    format!("{URI_PREFIX}{ciphertext_uri}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encrypted_apps_uri_names_its_ciphertext() {
        let uri = registered_uri("http://h:7700/blobs/ab#sha256:cd");
        assert_eq!(uri, "age:http://h:7700/blobs/ab#sha256:cd");
        assert_eq!(
            ciphertext_uri(&uri),
            Some("http://h:7700/blobs/ab#sha256:cd")
        );
        assert_eq!(ciphertext_uri("http://h:7700/blobs/ab"), None);
        assert_eq!(ciphertext_uri("age:"), None);
        assert_eq!(ciphertext_uri("local:"), None);
    }
}
