//! The lock file that keeps a second process from opening the same log.
//!
//! `dir/lock` holds `<pid> <start time>` of the owning process, the start
//! time being field 22 of `/proc/<pid>/stat`. A lock whose process is gone,
//! or whose pid now belongs to a process that started at another time (pid
//! reuse, or a container restart where the server is pid 1 again), is stale
//! and taken over. Where `/proc` is missing, a lock with another pid is
//! taken as held.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::StreamError;

/// Holds `dir/lock` until dropped.
#[derive(Debug)]
pub(crate) struct LockFile {
    path: PathBuf,
}

/// The start time of a process, if `/proc` tells it.
fn start_time(pid: u32) -> Option<u64> {
    let mut file = File::open(format!("/proc/{pid}/stat")).ok()?;
    let mut buf = [0u8; 1024];
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    let text = std::str::from_utf8(&buf[..len]).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after_comm = &text[text.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

fn is_held(pid: u32, started: Option<u64>) -> bool {
    if !Path::new("/proc/self/stat").exists() {
        return pid != std::process::id();
    }
    match (start_time(pid), started) {
        (None, _) => false,
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
    }
}

fn read_owner(path: &Path) -> Option<(u32, Option<u64>)> {
    let mut file = File::open(path).ok()?;
    let mut buf = [0u8; 64];
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(_) => return None,
        }
    }
    let text = std::str::from_utf8(&buf[..len]).ok()?;
    let mut fields = text.split_whitespace();
    let pid = fields.next()?.parse().ok()?;
    let started = fields.next().and_then(|s| s.parse().ok());
    Some((pid, started))
}

impl LockFile {
    /// Takes the lock of `dir`, or fails with [`StreamError::Locked`].
    pub(crate) fn acquire(dir: &Path) -> Result<LockFile, StreamError> {
        let path = dir.join("lock");
        let pid = std::process::id();
        let ctx = |what: &str| format!("{what} lock file {}", path.display());
        for _ in 0..3 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    let started = start_time(pid).map(|s| s.to_string()).unwrap_or_default();
                    file.write_all(format!("{pid} {started}\n").as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(|e| StreamError::io(ctx("writing"), e))?;
                    return Ok(LockFile { path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    match read_owner(&path) {
                        Some((owner, started)) if is_held(owner, started) => {
                            return Err(StreamError::Locked {
                                dir: dir.to_owned(),
                                lock: path,
                                pid: owner,
                            });
                        }
                        // Stale (or unreadable, i.e. torn by a crash while
                        // being written): take it over.
                        _ => {
                            tracing::warn!(lock = %path.display(), "removing stale lock file");
                            match fs::remove_file(&path) {
                                Ok(()) => {}
                                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                                Err(e) => return Err(StreamError::io(ctx("removing stale"), e)),
                            }
                        }
                    }
                }
                Err(e) => return Err(StreamError::io(ctx("creating"), e)),
            }
        }
        Err(StreamError::io(
            ctx("taking"),
            io::Error::other("another process keeps recreating it"),
        ))
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_file(&self.path) {
            tracing::warn!(lock = %self.path.display(), error = %e, "could not remove lock file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let lock = LockFile::acquire(dir.path()).unwrap();
        let err = LockFile::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, StreamError::Locked { pid, .. } if pid == std::process::id()));
        drop(lock);
        let _again = LockFile::acquire(dir.path()).unwrap();
    }

    #[test]
    fn stale_locks_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        // Our own pid with another start time: a previous life of this pid.
        fs::write(&path, format!("{} 1\n", std::process::id())).unwrap();
        let _lock = LockFile::acquire(dir.path()).unwrap();
        drop(_lock);
        // Garbage from a torn write.
        fs::write(&path, b"\x00\x00").unwrap();
        let _lock = LockFile::acquire(dir.path()).unwrap();
    }

    #[test]
    fn own_start_time_is_readable() {
        assert!(start_time(std::process::id()).is_some());
    }
}
