//! Child processes, two ways: *tied* to this process (tests: they die with it, however it ends)
//! or *detached* (`make up`: they outlive it, and a pid file says which process to stop).

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A child that is killed when this handle drops, and also when this process exits or is killed:
/// it is spawned with `PR_SET_PDEATHSIG`, which fires when the spawning *thread* ends, so every
/// tied child is spawned from one thread that lives as long as the process.
#[derive(Debug)]
pub struct TiedChild {
    child: Child,
    stop_signal: Signal,
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

fn spawner() -> &'static mpsc::Sender<SpawnRequest> {
    static SPAWNER: std::sync::OnceLock<mpsc::Sender<SpawnRequest>> = std::sync::OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("tied-child-spawner".into())
            .spawn(move || {
                for (mut command, reply) in receiver {
                    let _ = reply.send(spawn_with_parent_death_signal(&mut command));
                }
            })
            .expect("cannot start the child-spawner thread");
        sender
    })
}

#[allow(unsafe_code)]
fn spawn_with_parent_death_signal(command: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls `prctl` and
    // `getppid`, both async-signal-safe; it allocates nothing and touches no locks.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody would kill us.
            if libc::getppid() == 1 {
                return Err(std::io::Error::other("parent exited before exec"));
            }
            Ok(())
        });
    }
    command.spawn()
}

impl TiedChild {
    /// Spawns `command` tied to this process. `stop_signal` is what `drop` sends first (SIGINT
    /// asks Postgres for a fast shutdown); SIGKILL follows if it has not exited within 5 s.
    pub fn spawn(command: Command, stop_signal: Signal) -> anyhow::Result<Self> {
        let program = command.get_program().to_string_lossy().into_owned();
        let (reply, response) = mpsc::channel();
        spawner()
            .send((command, reply))
            .context("the child-spawner thread is gone")?;
        let child = response
            .recv()
            .context("the child-spawner thread is gone")?
            .with_context(|| format!("cannot start {program}"))?;
        Ok(Self { child, stop_signal })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child has exited (and so must not be counted on).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for the child to exit by itself; `None` if it is still running
    /// (then it is stopped as on drop).
    pub fn wait_timeout(mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends SIGKILL now, as a crash would (chaos tests), and reaps the child.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TiedChild {
    fn drop(&mut self) {
        if self.has_exited() {
            return;
        }
        stop_pid(self.child.id(), self.stop_signal, Duration::from_secs(5));
        let _ = self.child.wait();
    }
}

/// Starts `command` detached: its own process group (a ctrl-c in the terminal does not reach it),
/// output appended to `log`, pid written to `pid_file`.
pub fn spawn_detached(mut command: Command, log: &Path, pid_file: &Path) -> anyhow::Result<u32> {
    use std::os::unix::process::CommandExt;
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let err = out.try_clone()?;
    command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let program = command.get_program().to_string_lossy().into_owned();
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {program}"))?;
    std::fs::write(pid_file, child.id().to_string())
        .with_context(|| format!("cannot write {}", pid_file.display()))?;
    Ok(child.id())
}

/// The pid in `pid_file` if that process is still alive.
pub fn running_pid(pid_file: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    is_alive(pid).then_some(pid)
}

pub fn is_alive(pid: u32) -> bool {
    // A zombie still accepts signals; /proc tells it apart.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = state
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    kill(Pid::from_raw(pid as i32), None).is_ok() && !zombie
}

/// Sends `signal`, waits up to `grace` for the process to go, then SIGKILLs it. Returns whether
/// the process stopped within the grace period.
pub fn stop_pid(pid: u32, signal: Signal, grace: Duration) -> bool {
    let target = Pid::from_raw(pid as i32);
    if kill(target, signal).is_err() {
        return true;
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !is_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = kill(target, Signal::SIGKILL);
    false
}

/// CPU time used so far by `pid` and every process below it (Postgres's backends, say), in
/// clock ticks of `/proc` (`USER_HZ`, 100 a second on Linux).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stats: Vec<(u32, u32, u64)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| proc_stat(entry.file_name().to_str()?.parse().ok()?))
        .collect();
    let mut tree = vec![pid];
    let mut total = 0;
    while let Some(parent) = tree.pop() {
        for &(child, ppid, ticks) in &stats {
            if child == parent {
                total += ticks;
            }
            if ppid == parent {
                tree.push(child);
            }
        }
    }
    total
}

/// `(pid, parent pid, user + system ticks)` from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(u32, u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields follow its last `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((pid, ppid, user + system))
}
