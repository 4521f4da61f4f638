//! Four validators on loopback, each a Malachite engine with Wick's context, codec and loop:
//! they decide the same blocks; losing one keeps them deciding; losing two halts them without
//! a fork; a restarted validator catches up to the same root.

mod support;

use std::time::Duration;

use support::Net;

const ALL: [usize; 4] = [0, 1, 2, 3];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_validators_agree_survive_one_loss_and_a_restarted_one_catches_up() {
    let mut net = Net::new(4);
    for i in ALL {
        net.start(i).await;
    }
    for i in 0..20u8 {
        net.submit(usize::from(i) % 4, vec![b'a', i]);
    }
    assert!(net.wait_height(&ALL, 6, Duration::from_secs(60)).await, "four validators decide heights");
    let roots = net.roots_at(&ALL, 6);
    assert!(roots.windows(2).all(|w| w[0] == w[1]), "every validator has the same chain");

    // One of four down: the other three hold more than two thirds of the power.
    net.stop(3).await;
    let h = (0..3).map(|i| net.height(i)).max().unwrap_or(0);
    for i in 0..12u8 {
        net.submit(usize::from(i) % 3, vec![b'b', i]);
    }
    assert!(net.wait_height(&[0, 1, 2], h + 5, Duration::from_secs(60)).await, "three of four keep deciding");
    let acked = net.committed_txs(0);
    for i in 0..12u8 {
        assert!(acked.contains(&vec![b'b', i]), "every submitted transaction is committed");
    }
    for i in [1, 2] {
        assert_eq!(
            net.committed_txs(i)[..acked.len().min(net.committed_txs(i).len())],
            acked[..acked.len().min(net.committed_txs(i).len())]
        );
    }

    // The stopped validator restarts on its own storage and catches up by value sync.
    net.start(3).await;
    let target = (0..3).map(|i| net.height(i)).max().unwrap_or(0);
    assert!(
        net.wait_height(&[3], target, Duration::from_secs(60)).await,
        "the restarted validator catches up"
    );
    let roots = net.roots_at(&ALL, target);
    assert!(roots.windows(2).all(|w| w[0] == w[1]), "and reaches the same root");
    for i in ALL {
        net.stop(i).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_of_four_down_decide_nothing_and_one_back_resumes() {
    let mut net = Net::new(4);
    for i in ALL {
        net.start(i).await;
    }
    assert!(net.wait_height(&ALL, 3, Duration::from_secs(60)).await);
    net.stop(2).await;
    net.stop(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stalled = [net.height(0), net.height(1)];
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!([net.height(0), net.height(1)], stalled, "half the power decides nothing");
    let h = stalled[0].min(stalled[1]);
    assert_eq!(net.roots_at(&[0, 1], h)[0], net.roots_at(&[0, 1], h)[1], "and nothing forked");

    net.start(2).await;
    assert!(
        net.wait_height(&[0, 1, 2], stalled[0].max(stalled[1]) + 3, Duration::from_secs(60)).await,
        "three of four resume"
    );
    for i in [0, 1, 2] {
        net.stop(i).await;
    }
}
