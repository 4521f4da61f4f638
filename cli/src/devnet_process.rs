//! A devnet node: a `wick` child process whose JSON ready line is awaited, whose output goes to
//! a log file, and which is stopped with SIGTERM (SIGKILL past a time limit). Children die with
//! the devnet even if it is killed (`PR_SET_PDEATHSIG`).

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long a node may take to become ready (a worker loads its models first).
const READY_WITHIN: Duration = Duration::from_secs(180);

/// A running node.
pub struct Process {
    child: Child,
    /// Its ready line.
    pub ready: serde_json::Value,
}

impl Process {
    /// Starts `exe ARGS`, logging to `log`, and waits for its ready line.
    pub fn start(exe: &Path, args: &[&str], log: &Path) -> anyhow::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("while opening {}", log.display()))?;
        let mut command = Command::new(exe);
        command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(file.try_clone()?);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("while starting {} {}", exe.display(), args.join(" ")))?;
        let stdout = child.stdout.take().context("child stdout")?;
        let (tx, rx) = mpsc::channel();
        let mut out = file;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["event"] == "ready"
                {
                    let _ = tx.send(v);
                }
                let _ = writeln!(out, "{line}");
            }
        });
        let started = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(ready) => return Ok(Self { child, ready }),
                Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() < READY_WITHIN => {
                    if let Some(status) = child.try_wait()? {
                        bail!(
                            "`wick {}` exited ({status}) before it was ready; see {}",
                            args[0],
                            log.display()
                        );
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    bail!(
                        "`wick {}` was not ready within {} s; see {}",
                        args[0],
                        READY_WITHIN.as_secs(),
                        log.display()
                    );
                }
            }
        }
    }

    /// A string field of the ready line.
    pub fn ready_str(&self, field: &str) -> anyhow::Result<String> {
        self.ready[field]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("the ready line has no `{field}`: {}", self.ready))
    }

    /// The node's first libp2p address.
    pub fn ready_p2p(&self) -> anyhow::Result<String> {
        self.ready["p2p"][0]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("the ready line has no p2p address: {}", self.ready))
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub fn stop(mut self, grace: Duration) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: sending a signal to our own child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let started = Instant::now();
        while started.elapsed() < grace {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
