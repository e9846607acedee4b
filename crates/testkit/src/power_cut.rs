//! A power cut, on one machine: a [`Disk`] is a small ext4 file system in an image file,
//! mounted through a loop device, for a service to keep its files on. [`Disk::after_power_cut`]
//! copies the image as it is on the "device" at that instant, without flushing the mounted file
//! system first, and mounts the copy (the journal replayed, as at the next boot): what the copy
//! holds is what a power cut at that instant would have left, so only what was synced (file and
//! directory) is sure to be there. A write acknowledged before the cut and missing from the copy
//! broke "durable before acknowledged".
//!
//! Mounting needs root; [`Disk::create`] fails with [`PowerCutError::Unavailable`] (a reason to
//! skip, not a failure) where it is not allowed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Size of a disk's image (sparse: only what is written takes space).
const IMAGE_BYTES: u64 = 64 << 20;

/// Why a power cut cannot be simulated, or went wrong.
#[derive(Debug, thiserror::Error)]
pub enum PowerCutError {
    /// Loop devices cannot be mounted here: the test should skip, saying why.
    #[error("loop-mounted file systems are unavailable: {0}")]
    Unavailable(String),
    /// A step failed.
    #[error("{0}")]
    Failed(String),
}

/// A mounted ext4 file system in an image file, unmounted and deleted when dropped.
#[derive(Debug)]
pub struct Disk {
    image: PathBuf,
    mount: PathBuf,
    // Holds the image and the mount points.
    _dir: tempfile::TempDir,
}

/// The file system a [`Disk`] would boot with after a power cut, unmounted when dropped.
#[derive(Debug)]
pub struct AfterPowerCut {
    image: PathBuf,
    mount: PathBuf,
}

impl Disk {
    /// [`Disk::create`] for a test that skips where no disk can be made: `None` (the reason
    /// printed) when the machine cannot mount one, any other failure as it is.
    pub fn create_or_skip() -> Result<Option<Self>, PowerCutError> {
        match Self::create() {
            Ok(disk) => Ok(Some(disk)),
            Err(PowerCutError::Unavailable(why)) => {
                eprintln!("skipped: {why}");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Makes and mounts a fresh disk (in the system's temporary directory).
    pub fn create() -> Result<Self, PowerCutError> {
        if !crate::cluster::running_as_root() {
            return Err(PowerCutError::Unavailable("not running as root".into()));
        }
        let dir = tempfile::Builder::new()
            .prefix("decloud-power-cut-")
            .tempdir()
            .map_err(|e| PowerCutError::Failed(format!("cannot make a directory: {e}")))?;
        let image = dir.path().join("disk.img");
        let mount = dir.path().join("mnt");
        let file = std::fs::File::create(&image)
            .map_err(|e| PowerCutError::Failed(format!("cannot create the image: {e}")))?;
        file.set_len(IMAGE_BYTES)
            .map_err(|e| PowerCutError::Failed(format!("cannot size the image: {e}")))?;
        run("mkfs.ext4", &["-q", "-F", path_str(&image)?]).map_err(PowerCutError::Unavailable)?;
        std::fs::create_dir(&mount)
            .map_err(|e| PowerCutError::Failed(format!("cannot make the mount point: {e}")))?;
        run(
            "mount",
            &["-o", "loop", path_str(&image)?, path_str(&mount)?],
        )
        .map_err(PowerCutError::Unavailable)?;
        Ok(Self {
            image,
            mount,
            _dir: dir,
        })
    }

    /// Where the disk is mounted: the directory to give the service.
    pub fn path(&self) -> &Path {
        &self.mount
    }

    /// What the disk holds after a power cut now: a copy of its image taken without flushing
    /// anything, mounted (journal replayed) beside it.
    pub fn after_power_cut(&self) -> Result<AfterPowerCut, PowerCutError> {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let image = self.image.with_file_name(format!("cut-{n}.img"));
        let mount = self.image.with_file_name(format!("cut-{n}"));
        // Read through the loop device's backing file: what the device holds, not the pages
        // the mounted file system still keeps dirty in memory.
        std::fs::copy(&self.image, &image)
            .map_err(|e| PowerCutError::Failed(format!("cannot copy the image: {e}")))?;
        std::fs::create_dir(&mount)
            .map_err(|e| PowerCutError::Failed(format!("cannot make the mount point: {e}")))?;
        run(
            "mount",
            &["-o", "loop", path_str(&image)?, path_str(&mount)?],
        )
        .map_err(PowerCutError::Failed)?;
        Ok(AfterPowerCut { image, mount })
    }
}

impl AfterPowerCut {
    /// Where the file system that survived is mounted: the same layout as [`Disk::path`].
    pub fn path(&self) -> &Path {
        &self.mount
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = run("umount", &["-l", &self.mount.to_string_lossy()]);
    }
}

impl Drop for AfterPowerCut {
    fn drop(&mut self) {
        let _ = run("umount", &["-l", &self.mount.to_string_lossy()]);
        let _ = std::fs::remove_file(&self.image);
    }
}

fn path_str(path: &Path) -> Result<&str, PowerCutError> {
    path.to_str()
        .ok_or_else(|| PowerCutError::Failed(format!("{} is not UTF-8", path.display())))
}

/// Runs `program` with `args`; what it printed when it fails.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness itself: a file synced with its directory is there after the cut; one only
    /// written is not (whole), or the cut would prove nothing.
    #[test]
    fn only_what_was_synced_survives_a_power_cut() {
        let Some(disk) = Disk::create_or_skip().unwrap() else {
            return;
        };
        std::fs::write(disk.path().join("written"), b"not synced").unwrap();
        let synced = disk.path().join("synced");
        let file = std::fs::File::create(&synced).unwrap();
        use std::io::Write;
        (&file).write_all(b"synced").unwrap();
        file.sync_all().unwrap();
        std::fs::File::open(disk.path())
            .unwrap()
            .sync_all()
            .unwrap();
        let cut = disk.after_power_cut().unwrap();
        assert_eq!(std::fs::read(cut.path().join("synced")).unwrap(), b"synced");
        assert_ne!(
            std::fs::read(cut.path().join("written")).ok().as_deref(),
            Some(&b"not synced"[..])
        );
    }
}
