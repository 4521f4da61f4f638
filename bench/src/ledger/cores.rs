//! Pinning the whole process to `n` CPUs, so that a run "on n threads" gets n cores for all its
//! threads (the commit thread and rocksdb's included), not n cores for its pool and the rest of
//! the machine for free.

use std::io;
use std::mem::{size_of, zeroed};

/// The CPUs this process may use, as found when the benchmark started.
pub struct Cores {
    allowed: libc::cpu_set_t,
    /// Whether [`Cores::pin`] does anything.
    enabled: bool,
}

impl Cores {
    /// The calling thread's CPU set (the process's, unless someone pinned this thread); with
    /// `enabled` false, pinning does nothing.
    pub fn allowed(enabled: bool) -> io::Result<Cores> {
        // SAFETY: a zeroed cpu_set_t is a valid empty set, and the kernel writes at most its size.
        let mut allowed: libc::cpu_set_t = unsafe { zeroed() };
        // SAFETY: as above; pid 0 is the calling thread.
        if unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut allowed) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Cores { allowed, enabled })
    }

    /// Restricts every thread of the process, and so the threads they start, to the first `n`
    /// allowed CPUs (all of them when `n` is larger).
    pub fn pin(&self, n: usize) -> io::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        // SAFETY: a zeroed cpu_set_t is a valid empty set.
        let mut set: libc::cpu_set_t = unsafe { zeroed() };
        let mut taken = 0;
        for cpu in 0..libc::CPU_SETSIZE as usize {
            // SAFETY: cpu is below CPU_SETSIZE; both sets are ours.
            if taken < n && unsafe { libc::CPU_ISSET(cpu, &self.allowed) } {
                unsafe { libc::CPU_SET(cpu, &mut set) };
                taken += 1;
            }
        }
        for task in std::fs::read_dir("/proc/self/task")? {
            let Some(tid) = task?.file_name().to_str().and_then(|t| t.parse::<libc::pid_t>().ok()) else {
                continue;
            };
            // SAFETY: the set is valid; a thread that exited meanwhile fails with ESRCH, ignored.
            if unsafe { libc::sched_setaffinity(tid, size_of::<libc::cpu_set_t>(), &set) } != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::ESRCH) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// A guard that unpins the process when dropped.
    pub fn unpin_on_drop(&self) -> UnpinGuard<'_> {
        UnpinGuard(self)
    }
}

/// Gives the process all its CPUs back when dropped.
pub struct UnpinGuard<'a>(&'a Cores);

impl Drop for UnpinGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.pin(usize::MAX);
    }
}
