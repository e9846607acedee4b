//! The directories a computation works in (its sandbox's `/in` and `/out`), kept and emptied
//! for the next computation instead of made and removed for each task.
//!
//! At a few hundred tasks a second, making three directories per task cost more CPU than the
//! tasks themselves: ext4 finds a new inode by scanning past the recently deleted ones, so the
//! more a worker creates and deletes, the dearer each creation (measured with `perf` on the
//! throughput benchmark: a fifth of the machine's CPU in `__ext4_new_inode`, two fifths of that
//! from these directories). A worker keeps as many as it ran computations at once, under
//! `work/slot-N/`; anything else under `work/` (a directory of an older version, of a
//! computation a crash interrupted) is removed when the worker starts.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The worker's reusable work directories.
pub(crate) struct Scratch {
    root: PathBuf,
    state: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    free: Vec<PathBuf>,
    made: usize,
}

/// One computation's work directory: empty `in` and `out` when taken, emptied and back to the
/// worker's directories when dropped.
pub(crate) struct ScratchDir<'a> {
    scratch: &'a Scratch,
    path: PathBuf,
}

impl Scratch {
    /// The work directories under `root`, keeping the `slot-N` ones found there and removing
    /// anything else (no computation runs yet).
    pub(crate) fn open(root: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        let mut slots = Slots::default();
        for entry in std::fs::read_dir(&root)? {
            let entry = entry?;
            let slot = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("slot-"))
                .and_then(|n| n.parse::<usize>().ok());
            match slot {
                Some(n) if entry.file_type()?.is_dir() => {
                    slots.made = slots.made.max(n + 1);
                    slots.free.push(entry.path());
                }
                _ => remove_entry(&entry)?,
            }
        }
        Ok(Self {
            root,
            state: Mutex::new(slots),
        })
    }

    /// A work directory whose `in` and `out` are empty, for one computation.
    pub(crate) fn take(&self) -> io::Result<ScratchDir<'_>> {
        let path = {
            // Plain data behind the lock: usable after a panic elsewhere.
            let mut slots = self.state.lock().unwrap_or_else(|e| e.into_inner());
            slots.free.pop().unwrap_or_else(|| {
                slots.made += 1;
                self.root.join(format!("slot-{}", slots.made - 1))
            })
        };
        let dir = ScratchDir {
            scratch: self,
            path,
        };
        for sub in [dir.input(), dir.output()] {
            if sub.is_dir() {
                empty(&sub)?;
            } else {
                std::fs::create_dir_all(&sub)?;
            }
        }
        Ok(dir)
    }
}

impl ScratchDir<'_> {
    /// The sandbox's `/in`.
    pub(crate) fn input(&self) -> PathBuf {
        self.path.join("in")
    }

    /// The sandbox's `/out`.
    pub(crate) fn output(&self) -> PathBuf {
        self.path.join("out")
    }
}

impl Drop for ScratchDir<'_> {
    fn drop(&mut self) {
        // Emptied as soon as the computation is done, not by the next one: a TEE task's
        // plaintext (its decrypted dataset, its result before sealing) must not outlive it.
        // What a failure here leaves, the next user (or the next start) removes.
        for sub in [self.input(), self.output()] {
            let _ = empty(&sub);
        }
        let mut slots = self.scratch.state.lock().unwrap_or_else(|e| e.into_inner());
        slots.free.push(std::mem::take(&mut self.path));
    }
}

/// Removes everything inside `dir`, keeping `dir` itself. Links are removed, never followed
/// (an app may leave one in `/out`).
pub(crate) fn empty(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        remove_entry(&entry?)?;
    }
    Ok(())
}

fn remove_entry(entry: &std::fs::DirEntry) -> io::Result<()> {
    // The entry's own type: a link to a directory is a link.
    if entry.file_type()?.is_dir() {
        std::fs::remove_dir_all(entry.path())
    } else {
        std::fs::remove_file(entry.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_reused_empty_and_two_at_once_are_distinct() {
        let root = tempfile::tempdir().unwrap();
        let scratch = Scratch::open(root.path().join("work")).unwrap();
        let first = scratch.take().unwrap();
        std::fs::write(first.output().join("result.txt"), "hello").unwrap();
        std::fs::create_dir_all(first.output().join("sub/deeper")).unwrap();
        std::fs::write(first.input().join("data.bin"), "input").unwrap();
        let second = scratch.take().unwrap();
        assert_ne!(
            first.output(),
            second.output(),
            "two computations share nothing"
        );
        let used = first.output();
        drop(first);
        assert_eq!(
            std::fs::read_dir(&used).unwrap().count(),
            0,
            "a computation's files do not outlive it"
        );
        let again = scratch.take().unwrap();
        assert_eq!(again.output(), used, "the free directory is taken again");
        assert_eq!(std::fs::read_dir(again.output()).unwrap().count(), 0);
        assert_eq!(std::fs::read_dir(again.input()).unwrap().count(), 0);
    }

    #[test]
    fn a_restart_keeps_the_slots_and_removes_anything_else() {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join("work");
        {
            let scratch = Scratch::open(work.clone()).unwrap();
            let dir = scratch.take().unwrap();
            std::fs::write(dir.output().join("left.txt"), "from a crash").unwrap();
            std::mem::forget(dir);
        }
        let stale = work.join("0xabc/out");
        std::fs::create_dir_all(&stale).unwrap();
        std::fs::write(work.join("stray.tmp"), "x").unwrap();
        let outside = root.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep.txt"), "not the worker's to remove").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&outside, work.join("link")).unwrap();

        let scratch = Scratch::open(work.clone()).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&work)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["slot-0"]);
        assert!(
            outside.join("keep.txt").exists(),
            "a link is removed, not followed"
        );
        let dir = scratch.take().unwrap();
        assert_eq!(dir.output(), work.join("slot-0/out"));
        assert_eq!(std::fs::read_dir(dir.output()).unwrap().count(), 0);
        let next = scratch.take().unwrap();
        assert_eq!(next.output(), work.join("slot-1/out"));
    }
}
