//! The harness's promise: what a test starts dies with the test process, however it ends.

use std::process::Command;
use std::time::{Duration, Instant};

use testkit::TestEnv;

const CHILD_MODE: &str = "TESTKIT_TEARDOWN_CHILD";

#[test]
fn a_test_process_that_aborts_takes_its_cluster_and_broker_with_it() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "aborts_with_infrastructure_running",
            "--include-ignored",
            "--nocapture",
        ])
        .env(CHILD_MODE, "1")
        // Not a pipe: a surviving grandchild holding it open would make this wait forever.
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "the child test aborts");
    let pids: Vec<u32> = stdout
        .lines()
        .find_map(|line| line.strip_prefix("pids:"))
        .unwrap_or_else(|| panic!("the child printed no pids: {stdout}"))
        .split_whitespace()
        .map(|pid| pid.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "a cluster and a broker: {pids:?}");

    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|pid| stack::process::is_alive(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive: Vec<_> = pids
        .iter()
        .filter(|pid| stack::process::is_alive(**pid))
        .collect();
    assert!(
        alive.is_empty(),
        "outlived the aborted test process: {alive:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "run in a child process by a_test_process_that_aborts_takes_its_cluster_and_broker_with_it"]
async fn aborts_with_infrastructure_running() {
    assert!(
        std::env::var_os(CHILD_MODE).is_some(),
        "only meaningful as the child of the teardown test"
    );
    let env = TestEnv::start().await;
    let pids: Vec<String> = env.process_ids().iter().map(u32::to_string).collect();
    println!("pids: {}", pids.join(" "));
    // No unwinding, no destructors: only the kernel's parent-death signal can clean up now.
    std::process::abort();
}
