//! Users' own tests can build the values breakerbox hands to listeners and notifiers.

use std::time::Duration;

use breakerbox::{Reason, State, Transition};

#[test]
fn a_transition_built_by_hand_is_a_real_one() {
    let mut t = Transition::for_test("postgres", State::Closed, State::Open, Reason::FailureRate);
    t.counts.calls = 20;
    t.counts.failures = 12;
    t.failure_rate = Some(0.6);
    t.threshold = Some(0.5);
    t.open_for = Some(Duration::from_secs(30));
    assert_eq!(
        (t.from, t.to, t.reason),
        (State::Closed, State::Open, Reason::FailureRate)
    );
    #[cfg(feature = "notify")]
    {
        use breakerbox::notify::{Kind, Notification};
        let n = Notification::new(Kind::Opened, t);
        assert_eq!(n.breaker(), "postgres");
        assert!(n.is_firing());
        assert!(n.summary().contains("postgres"), "{}", n.summary());
    }
}
