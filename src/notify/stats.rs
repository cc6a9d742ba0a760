//! The dispatcher's exact counters.

/// Counters of a [`Dispatcher`](super::Dispatcher). Once it has shut down (and nothing emits any more):
/// `offered == queued + dropped`, `queued + summaries == suppressed + notifications`, and
/// for every channel `sent + failed + dropped == queued`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Transitions that passed the filter and were offered to the queue.
    pub offered: u64,
    /// Transitions the queue accepted.
    pub queued: u64,
    /// Transitions refused because the queue was full or shut down.
    pub dropped: u64,
    /// Queued transitions held back as duplicates or while flapping.
    pub suppressed: u64,
    /// Notices produced, summaries included; each goes to every channel.
    pub notifications: u64,
    /// Notices produced when a flapping breaker settled, not by a transition.
    pub summaries: u64,
    /// Transitions waiting in the queue now.
    pub queue_len: usize,
    /// The queue's bound.
    pub queue_capacity: usize,
    /// Each channel's deliveries, in the order the channels were added.
    pub channels: Vec<ChannelStats>,
}

/// Deliveries of one channel. `queued` counts every notice meant for the channel: those
/// produced, their refreshes, and those dropped before reaching it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelStats {
    /// The channel's name.
    pub channel: String,
    /// Deliveries meant for the channel.
    pub queued: u64,
    /// Delivered.
    pub sent: u64,
    /// Given up after the last attempt, or refused for good.
    pub failed: u64,
    /// Dropped: a full queue, or undelivered at the shutdown deadline.
    pub dropped: u64,
    /// Repeats of firing notices (included in `queued`).
    pub refreshes: u64,
}

impl Stats {
    /// Deliveries sent, over all channels.
    pub fn sent(&self) -> u64 {
        self.channels.iter().map(|c| c.sent).sum()
    }

    /// Deliveries failed, over all channels.
    pub fn failed(&self) -> u64 {
        self.channels.iter().map(|c| c.failed).sum()
    }
}
