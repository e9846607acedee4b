//! Results as a tar of `/out` (docs/design.md#storage): packed deterministically, so replicas that
//! produced the same files upload the same blob, and unpacked defensively.
//!
//! The archive holds the regular files and directories under the packed directory, in sorted
//! order of their relative paths (`/` separators), as ustar/GNU entries with mode 0644 (files) or
//! 0755 (directories), owner 0:0, no user or group names and mtime 0. Symbolic links and other
//! kinds of files are refused.

use crate::StorageError;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn refuse(path: &Path, what: &str) -> StorageError {
    StorageError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string()),
    }
}

/// Packs the directory `dir` into a deterministic tar (see the module docs), refusing one whose
/// files add up to more than `max_bytes`.
pub fn pack_dir(dir: &Path, max_bytes: u64) -> Result<Vec<u8>, StorageError> {
    let mut entries: Vec<(String, PathBuf, bool)> = Vec::new();
    let mut stack = vec![(String::new(), dir.to_path_buf())];
    let mut total = 0u64;
    while let Some((prefix, d)) = stack.pop() {
        for entry in fs::read_dir(&d).map_err(io(&d))? {
            let entry = entry.map_err(io(&d))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name
                .to_str()
                .ok_or_else(|| refuse(&path, "a file name that is not UTF-8"))?;
            let rel = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            let kind = entry.file_type().map_err(io(&path))?;
            if kind.is_dir() {
                entries.push((rel.clone(), path.clone(), true));
                stack.push((rel, path));
            } else if kind.is_file() {
                total = total.saturating_add(entry.metadata().map_err(io(&path))?.len());
                if total > max_bytes {
                    return Err(StorageError::TooLarge {
                        id: None,
                        size: total,
                        limit: max_bytes,
                    });
                }
                entries.push((rel, path, false));
            } else {
                return Err(refuse(
                    &path,
                    "a symbolic link or special file cannot be packed",
                ));
            }
        }
    }
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    for (rel, path, is_dir) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        if is_dir {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            builder
                .append_data(&mut header, format!("{rel}/"), std::io::empty())
                .map_err(io(&path))?;
        } else {
            let file = fs::File::open(&path).map_err(io(&path))?;
            let size = file.metadata().map_err(io(&path))?.len();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(size);
            builder
                .append_data(&mut header, &rel, file.take(size))
                .map_err(io(&path))?;
        }
    }
    builder.into_inner().map_err(io(dir))
}

/// Unpacks a results tar into `dest` (created if missing). Refuses absolute paths, `..`,
/// links and special files, and a total over `max_bytes`; whatever it refuses, it refuses before
/// writing that entry.
pub fn unpack(archive: &[u8], dest: &Path, max_bytes: u64) -> Result<(), StorageError> {
    fs::create_dir_all(dest).map_err(io(dest))?;
    let mut archive = tar::Archive::new(archive);
    let mut total = 0u64;
    for entry in archive.entries().map_err(io(dest))? {
        let mut entry = entry.map_err(io(dest))?;
        let path = entry.path().map_err(io(dest))?.into_owned();
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(refuse(&path, "an entry outside the destination"));
        }
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                fs::create_dir_all(dest.join(&path)).map_err(io(&path))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                total = total.saturating_add(entry.size());
                if total > max_bytes {
                    return Err(StorageError::TooLarge {
                        id: None,
                        size: total,
                        limit: max_bytes,
                    });
                }
                let target = dest.join(&path);
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(io(parent))?;
                }
                let mut out = fs::File::create(&target).map_err(io(&target))?;
                std::io::copy(&mut entry, &mut out).map_err(io(&target))?;
            }
            _ => return Err(refuse(&path, "a link or special file in a results archive")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) {
        fs::create_dir_all(root.join("sub/deeper")).unwrap();
        fs::write(root.join("b.txt"), b"bee").unwrap();
        fs::write(root.join("a.txt"), b"ay").unwrap();
        fs::write(root.join("sub/deeper/c.bin"), vec![7u8; 3000]).unwrap();
    }

    #[test]
    fn packing_is_deterministic_and_round_trips() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        tree(one.path());
        std::thread::sleep(std::time::Duration::from_millis(20));
        tree(two.path());
        let a = pack_dir(one.path(), 1 << 20).unwrap();
        let b = pack_dir(two.path(), 1 << 20).unwrap();
        assert_eq!(
            a, b,
            "same files, same bytes, whatever the mtimes and creation order"
        );
        let dest = tempfile::tempdir().unwrap();
        unpack(&a, dest.path(), 1 << 20).unwrap();
        assert_eq!(
            fs::read(dest.path().join("sub/deeper/c.bin")).unwrap(),
            vec![7u8; 3000]
        );
        assert_eq!(fs::read(dest.path().join("a.txt")).unwrap(), b"ay");
        assert!(matches!(
            pack_dir(one.path(), 100),
            Err(StorageError::TooLarge { .. })
        ));
        assert!(matches!(
            unpack(&a, dest.path(), 100),
            Err(StorageError::TooLarge { .. })
        ));
    }

    #[test]
    fn unpack_refuses_escapes_and_links() {
        let dest = tempfile::tempdir().unwrap();
        let mut evil = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // `append_data` refuses `..`, so write the name into the header directly.
        h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
        h.set_cksum();
        evil.append(&h, &b"x"[..]).unwrap();
        let evil = evil.into_inner().unwrap();
        assert!(unpack(&evil, &dest.path().join("d"), 100).is_err());
        assert!(!dest.path().join("escape").exists());

        let mut link = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        link.append_link(&mut h, "l", "/etc/passwd").unwrap();
        let link = link.into_inner().unwrap();
        assert!(unpack(&link, dest.path(), 100).is_err());
        assert!(fs::symlink_metadata(dest.path().join("l")).is_err());

        let src = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.path().join("l")).unwrap();
        assert!(pack_dir(src.path(), 100).is_err());
    }
}
