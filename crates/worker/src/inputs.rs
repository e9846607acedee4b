//! A replicate's inputs, fetched and checked before it runs: the app (downloaded once and kept
//! by its checksum, a bundle's parts too; an encrypted app opened in memory with the key its
//! enclave was given), the dataset (downloaded and checked, or copied from the owner's local
//! path) and the input files, each under a name that stays inside `/in`.

use std::path::{Path, PathBuf};

use decloud_protocol::pool::Resource;
use decloud_storage::ContentHash;

use crate::Context;
use crate::job::{Failure, fail};

/// A file name safe to place in `/in`: the last path segment of `name` with anything but
/// letters, digits, `.`, `-` and `_` replaced, never empty, `.` or `..`.
pub(crate) fn safe_file_name(name: &str, fallback: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        fallback.to_string()
    } else {
        cleaned
    }
}

/// Downloads a registered app or dataset to `dest`, checking its checksum.
pub(crate) async fn fetch_resource(
    ctx: &Context,
    resource: &Resource,
    dest: &Path,
) -> Result<(), Failure> {
    let what = &resource.kind;
    crate::policy::check_uri(&resource.uri, ctx.config.allow_private_hosts)
        .await
        .map_err(|e| fail(format!("the {what}'s uri {}: {e}", resource.uri)))?;
    let expected = ContentHash(resource.checksum.0);
    decloud_storage::uri::fetch_to_file(
        &resource.uri,
        Some(&expected),
        ctx.config.max_download_bytes,
        dest,
    )
    .await
    .map_err(|e| match e {
        decloud_storage::StorageError::HashMismatch { actual, .. } => fail(format!(
            "the {what} at {} does not match its registered checksum {} (it hashes to {actual}): refusing to run it",
            resource.uri, resource.checksum
        )),
        other => fail(format!("cannot download the {what} from {}: {other}", resource.uri)),
    })?;
    Ok(())
}

/// Copies a local dataset from where its owner keeps it into the task's input, checking it
/// against the registered checksum: the bytes stay on this machine.
pub(crate) fn copy_local(dataset: &Resource, source: &Path, dest: &Path) -> Result<(), Failure> {
    let bytes = std::fs::read(source).map_err(|e| {
        fail(format!(
            "cannot read the local dataset {} at {}: {e}; check --data",
            dataset.address,
            source.display()
        ))
    })?;
    let actual = ContentHash::of(&bytes);
    if actual.0 != dataset.checksum.0 {
        return Err(fail(format!(
            "the local dataset at {} does not match its registered checksum {} (it hashes to {actual}): refusing to run it",
            source.display(),
            dataset.checksum
        )));
    }
    std::fs::write(dest, &bytes).map_err(|e| fail(format!("cannot lay out the local dataset: {e}")))
}

/// An app ready to run: its module on disk (checked against `module_checksum` when it was
/// downloaded) and how it starts.
pub(crate) struct PreparedApp {
    /// The registered blob: the module itself, or a bundle's manifest (an encrypted app's
    /// ciphertext).
    pub app_file: PathBuf,
    /// An encrypted app's module, opened in memory (checked against the registered checksum):
    /// compiled from here, never written to a disk.
    pub opened: Option<Vec<u8>>,
    /// The module to run (a bundle's runner), on disk.
    pub module: PathBuf,
    /// The checksum the module must have.
    pub module_checksum: decloud_runtime::Digest,
    /// How a bundle's runner is started (its files, arguments and environment).
    pub launch: decloud_runtime::Launch,
}

/// Downloads the app when it is not here yet. A plain module is kept by its checksum; a bundle's
/// manifest too, and its parts by their own sha256 in `blobs/` (downloaded from beside the
/// manifest, in the same content-addressed store), so the apps that share a language runtime
/// download it once and, through the runtime's compiled-module cache, compile it once. A
/// bundle's files are laid out once per bundle in `app-files/<checksum>`, mounted at `/app`.
pub(crate) async fn prepare_app(
    ctx: &Context,
    app: &Resource,
    app_key: Option<&decloud_age::Identity>,
) -> Result<PreparedApp, Failure> {
    if let Some(ciphertext_uri) = decloud_protocol::encrypted_app::ciphertext_uri(&app.uri) {
        return prepare_encrypted_app(ctx, app, ciphertext_uri, app_key).await;
    }
    let data = &ctx.config.data_dir;
    let (apps, blobs) = (data.join("apps"), data.join("blobs"));
    for dir in [&apps, &blobs] {
        std::fs::create_dir_all(dir)
            .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    }
    // Named .wasm from before bundles; a bundle's manifest is kept under the same name.
    let app_file = apps.join(format!("{}.wasm", app.checksum));
    if !app_file.exists() {
        fetch_resource(ctx, app, &app_file).await?;
    }
    let mut head = [0u8; 17];
    let is_bundle = {
        use std::io::Read;
        std::fs::File::open(&app_file)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok()
            && decloud_protocol::bundle::is_bundle(&head)
    };
    if !is_bundle {
        return Ok(PreparedApp {
            module: app_file.clone(),
            app_file,
            opened: None,
            module_checksum: decloud_runtime::Digest(app.checksum.0),
            launch: decloud_runtime::Launch::default(),
        });
    }
    let bytes = std::fs::read(&app_file)
        .map_err(|e| fail(format!("cannot read {}: {e}", app_file.display())))?;
    let bundle = match decloud_protocol::bundle::Bundle::decode(&bytes) {
        Ok(b) => b,
        Err(e) => {
            // The registered bytes (checked), but not a valid bundle: nothing to run, ever.
            let _ = std::fs::remove_file(&app_file);
            return Err(fail(format!("the app at {} cannot run: {e}", app.uri)));
        }
    };
    // Parts are blobs beside the manifest, in the same store.
    decloud_storage::uri::split_pinned(&app.uri)
        .map_err(|e| fail(format!("the app's uri {}: {e}", app.uri)))?;
    for part in bundle.parts() {
        if decloud_runtime::bundle::check_part(&blobs, &part).is_ok() {
            continue;
        }
        if part.size > ctx.config.max_download_bytes {
            return Err(fail(format!(
                "the app's part {} is {} bytes, over the worker's download limit of {}",
                part.sha256, part.size, ctx.config.max_download_bytes
            )));
        }
        let uri = decloud_storage::uri::sibling(&app.uri, &ContentHash(part.sha256.0).to_string())
            .map_err(|e| fail(format!("the app's uri {}: {e}", app.uri)))?;
        let dest = decloud_runtime::bundle::blob_path(&blobs, &part);
        let part_resource = Resource {
            kind: "app part".into(),
            uri,
            checksum: part.sha256,
            ..app.clone()
        };
        fetch_resource(ctx, &part_resource, &dest).await?;
        if let Err(e) = decloud_runtime::bundle::check_part(&blobs, &part) {
            let _ = std::fs::remove_file(&dest);
            return Err(fail(format!("the app's part {}: {e}", part.sha256)));
        }
    }
    let app_dir = data.join("app-files").join(app.checksum.to_string());
    let blob_dir = blobs.clone();
    let (b, dir) = (bundle.clone(), app_dir.clone());
    tokio::task::spawn_blocking(move || decloud_runtime::bundle::assemble(&b, &blob_dir, &dir))
        .await
        .map_err(|e| fail(format!("the layout thread failed: {e}")))?
        .map_err(|e| fail(e.to_string()))?;
    Ok(PreparedApp {
        module: decloud_runtime::bundle::blob_path(&blobs, &bundle.module),
        app_file,
        opened: None,
        module_checksum: decloud_runtime::Digest(bundle.module.sha256.0),
        launch: decloud_runtime::bundle::launch(&bundle, app_dir),
    })
}

/// An encrypted app (docs/confidential.md, "Encrypted apps"): its ciphertext is downloaded (and
/// kept, it is only ciphertext), opened in memory with the key the enclave was released, and
/// checked against the registered checksum, the plaintext module's. Nothing of the plaintext is
/// written anywhere; without the key (not a TEE task, or the key was not released) nothing is
/// downloaded.
async fn prepare_encrypted_app(
    ctx: &Context,
    app: &Resource,
    ciphertext_uri: &str,
    app_key: Option<&decloud_age::Identity>,
) -> Result<PreparedApp, Failure> {
    let Some(key) = app_key else {
        return Err(fail(format!(
            "app {} is encrypted: only a TEE task (run --tee) on a TEE worker (--tee) opens it, with the key its owner gave the key holders",
            app.address
        )));
    };
    let apps = ctx.config.data_dir.join("apps");
    std::fs::create_dir_all(&apps)
        .map_err(|e| fail(format!("cannot create {}: {e}", apps.display())))?;
    let app_file = apps.join(format!("{}.wasm.age", app.checksum));
    if !app_file.exists() {
        // The ciphertext is checked by its own hash when the uri names it (a storage node's
        // blob); the plaintext is checked against the registration below either way.
        let name = decloud_storage::uri::split_pinned(ciphertext_uri)
            .map(|(_, name)| name.to_owned())
            .map_err(|e| fail(format!("the app's uri {}: {e}", app.uri)))?;
        let named = name
            .strip_prefix("0x")
            .unwrap_or(&name)
            .parse::<ContentHash>()
            .ok();
        crate::policy::check_uri(ciphertext_uri, ctx.config.allow_private_hosts)
            .await
            .map_err(|e| fail(format!("the app's uri {}: {e}", app.uri)))?;
        decloud_storage::uri::fetch_to_file(
            ciphertext_uri,
            named.as_ref(),
            ctx.config.max_download_bytes,
            &app_file,
        )
        .await
        .map_err(|e| {
            fail(format!(
                "cannot download the encrypted app from {ciphertext_uri}: {e}"
            ))
        })?;
    }
    let sealed = std::fs::read(&app_file)
        .map_err(|e| fail(format!("cannot read {}: {e}", app_file.display())))?;
    let module = decloud_age::decrypt(&sealed, key).map_err(|e| {
        let _ = std::fs::remove_file(&app_file);
        fail(format!(
            "the encrypted app does not open with the key its owner gave the key holders: {e}"
        ))
    })?;
    let actual = ContentHash::of(&module);
    if actual.0 != app.checksum.0 {
        let _ = std::fs::remove_file(&app_file);
        return Err(fail(format!(
            "the encrypted app opens to a module that hashes to {actual}, not to its registered checksum {}: refusing to run it",
            app.checksum
        )));
    }
    if decloud_protocol::bundle::is_bundle(&module) {
        return Err(fail(
            "the encrypted app is a bundle: an encrypted app must be a single wasm module",
        ));
    }
    Ok(PreparedApp {
        module: app_file.clone(),
        app_file,
        opened: Some(module),
        module_checksum: decloud_runtime::Digest(app.checksum.0),
        launch: decloud_runtime::Launch::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_from_uris_stay_inside_in() {
        assert_eq!(safe_file_name("http://h/a/data.csv", "x"), "data.csv");
        assert_eq!(safe_file_name("../../etc/passwd", "x"), "passwd");
        assert_eq!(safe_file_name("http://h/a/..", "x"), "x");
        assert_eq!(safe_file_name("", "dataset"), "dataset");
        assert_eq!(safe_file_name("my data (1).csv", "x"), "my_data__1_.csv");
    }
}
