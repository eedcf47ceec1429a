//! Long random conversations between two of our own parties.

mod common;

use common::{Scenario, run_conversation};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]

    #[test]
    fn random_conversations_decrypt(
        seed in any::<u64>(),
        steps in 1usize..250,
        loss_pct in 0u32..25,
        window in 1usize..6,
        replay_pct in 0u32..20,
        one_time_pre_key in any::<bool>(),
    ) {
        let stats = run_conversation(seed, Scenario { steps, loss_pct, window, replay_pct, one_time_pre_key });
        prop_assert_eq!(stats.sent, steps);
    }
}

#[test]
fn ten_thousand_messages_with_reordering_and_loss() {
    let stats = run_conversation(
        0x5EED_0001,
        Scenario {
            steps: 10_000,
            loss_pct: 5,
            window: 4,
            replay_pct: 2,
            one_time_pre_key: true,
        },
    );
    assert_eq!(stats.sent, 10_000);
    assert!(stats.lost > 300 && stats.delivered > 9_000, "{stats:?}");
    assert!(stats.replays_rejected > 100, "{stats:?}");
}
