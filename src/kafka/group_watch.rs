//! Watches the consumer group for a takeover the coordinator never finished: the group is stable,
//! this instance is a member, yet it holds fewer input partitions than a fresh range assignment over
//! the live members would give it (at least `partitions / members`). Leaving and re-joining the
//! group makes the coordinator run a fresh assignment.
//!
//! Why: tansu 0.6 evicts a member that stopped heartbeating but keeps the group's previous
//! assignment, so the survivors rejoin into the same generation and get back only their own old
//! partitions; the dead member's partitions stay unconsumed. On Kafka a stable group's range
//! assignment always gives each member at least `partitions / members`, so the watch never fires
//! there.
//!
//! Only one stranded member re-joins at a time: the one whose member id sorts first acts after
//! `confirmations` stranded looks, the next one `confirmations` looks later, and so on. The first
//! re-join makes the coordinator assign every partition over all members, so the others find
//! themselves no longer stranded and never act. Two members re-joining at once (both survivors of a
//! kill find themselves stranded at the same moment) made tansu hand partitions back and forth
//! between them, with two owners at once for a while.

use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, ConsumerContext};

/// What the coordinator says of the group (`DescribeGroups`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView<'a> {
    /// The group's state as the broker names it (`Stable`, `PreparingRebalance`, ...).
    pub state: &'a str,
    /// The member ids the coordinator lists.
    pub members: Vec<&'a str>,
}

/// Whether the group leaves this instance stranded: a member of a stable group, holding `owned` of
/// `total` partitions where a range assignment over the listed members gives each at least
/// `total / members`. A member id is the client id, a dash and a broker-chosen suffix (Kafka and
/// tansu both), so `client_id` identifies this instance's member.
pub fn stranded(view: &GroupView<'_>, client_id: &str, owned: usize, total: usize) -> bool {
    view.state.eq_ignore_ascii_case("stable")
        && view.members.iter().any(|m| is_mine(m, client_id))
        && owned < total / view.members.len()
}

/// This instance's rank among the members `view` lists: how many member ids sort before its own
/// (`None` when it is not listed). Stranded members re-join in this order.
pub fn rank(view: &GroupView<'_>, client_id: &str) -> Option<usize> {
    let own = view
        .members
        .iter()
        .filter(|m| is_mine(m, client_id))
        .min()?;
    Some(view.members.iter().filter(|m| *m < own).count())
}

/// Whether `member` is a member id of this instance: its client id, a dash and a suffix.
fn is_mine(member: &str, client_id: &str) -> bool {
    member
        .strip_prefix(client_id)
        .is_some_and(|rest| rest.starts_with('-'))
}

/// When to look at the group, and when to act: a look every `interval` while this instance holds
/// fewer partitions than the topic has, and a re-join only after `confirmations` looks in a row
/// found it stranded (a single look can fall between a rebalance's steps), times one plus its
/// [`rank`] among the members, so that stranded members re-join one after another.
#[derive(Debug)]
pub struct GroupWatch {
    interval: Duration,
    confirmations: u32,
    last_look: Option<Instant>,
    strikes: u32,
}

impl GroupWatch {
    /// A watch looking every `interval`, acting after `confirmations` stranded looks in a row.
    pub fn new(interval: Duration, confirmations: u32) -> GroupWatch {
        GroupWatch {
            interval,
            confirmations: confirmations.max(1),
            last_look: None,
            strikes: 0,
        }
    }

    /// Whether to ask the coordinator now. Holding every partition needs no look (and resets the
    /// count of stranded looks).
    pub fn due(&mut self, now: Instant, owned: usize, total: usize) -> bool {
        if owned >= total {
            self.strikes = 0;
            return false;
        }
        match self.last_look {
            Some(at) if now.duration_since(at) < self.interval => false,
            _ => {
                self.last_look = Some(now);
                true
            }
        }
    }

    /// Records one look's finding, `Some(rank)` when the look found this instance stranded with
    /// `rank` members before it; true when it should leave and re-join the group now.
    pub fn observe(&mut self, stranded: Option<usize>) -> bool {
        let Some(rank) = stranded else {
            self.strikes = 0;
            return false;
        };
        self.strikes += 1;
        let needed = self
            .confirmations
            .saturating_mul(u32::try_from(rank).unwrap_or(u32::MAX).saturating_add(1));
        if self.strikes >= needed {
            self.strikes = 0;
            return true;
        }
        false
    }
}

/// Asks the coordinator (`DescribeGroups`) whether this instance is stranded in `group`, holding
/// `owned` of `total` partitions. `Some(rank)` when it is, with `rank` members sorting before it. A
/// failed look counts as "not stranded"; the next one asks again. This instance's member id starts
/// with `member_prefix`: its `group.instance.id` (static member) or `client.id`.
pub fn look_at_group<X: ConsumerContext, C: Consumer<X>>(
    consumer: &C,
    group: &str,
    member_prefix: &str,
    owned: usize,
    total: usize,
) -> Option<usize> {
    match consumer.fetch_group_list(Some(group), Duration::from_secs(2)) {
        Ok(list) => list
            .groups()
            .iter()
            .filter(|g| g.name() == group)
            .find_map(|g| {
                let view = GroupView {
                    state: g.state(),
                    members: g.members().iter().map(|m| m.id()).collect(),
                };
                tracing::debug!(?view, owned, total, "consumer group");
                stranded(&view, member_prefix, owned, total)
                    .then(|| rank(&view, member_prefix))
                    .flatten()
            }),
        Err(e) => {
            tracing::debug!(error = %e, "cannot describe the consumer group");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(state: &'a str, members: &[&'a str]) -> GroupView<'a> {
        GroupView {
            state,
            members: members.to_vec(),
        }
    }

    #[test]
    fn the_sole_member_of_a_stable_group_with_part_of_the_topic_is_stranded() {
        let v = view("Stable", &["app-b-6f1c2d"]);
        assert!(stranded(&v, "app-b", 2, 4));
        assert!(!stranded(&v, "app-b", 4, 4), "holding everything is fine");
    }

    #[test]
    fn a_survivor_holding_less_than_its_share_is_stranded() {
        // Three members held 2 + 1 + 1 of 4; one died; each survivor's share is now 2.
        let two = view("Stable", &["app-a-1", "app-b-2"]);
        assert!(stranded(&two, "app-b", 1, 4));
        assert!(!stranded(&two, "app-b", 2, 4));
        assert!(!stranded(&two, "app-b", 3, 4));
    }

    #[test]
    fn a_rebalance_a_missing_member_or_another_client_are_not_stranded() {
        let moving = view("PreparingRebalance", &["app-b-2"]);
        assert!(!stranded(&moving, "app-b", 2, 4));
        // Not listed: this instance is not (or no longer) a member; re-joining is the client's job.
        assert!(!stranded(&view("Stable", &["app-a-1"]), "app-b", 0, 4));
        // A client id that merely starts like ours is someone else.
        assert!(!stranded(&view("Stable", &["app-bb-1"]), "app-b", 2, 4));
        assert!(!stranded(&view("Stable", &[]), "app-b", 2, 4));
        // More members than partitions: a member may rightly hold none.
        let five = view(
            "Stable",
            &["app-a-1", "app-b-2", "app-c-3", "app-d-4", "app-e-5"],
        );
        assert!(!stranded(&five, "app-b", 0, 4));
    }

    #[test]
    fn looks_are_spaced_and_only_while_partitions_are_missing() {
        let mut w = GroupWatch::new(Duration::from_secs(3), 2);
        let t0 = Instant::now();
        assert!(!w.due(t0, 4, 4));
        assert!(w.due(t0, 2, 4));
        assert!(!w.due(t0 + Duration::from_secs(1), 2, 4));
        assert!(w.due(t0 + Duration::from_secs(3), 2, 4));
    }

    #[test]
    fn a_rejoin_needs_consecutive_stranded_looks() {
        let mut w = GroupWatch::new(Duration::from_secs(3), 2);
        assert!(!w.observe(Some(0)));
        assert!(!w.observe(None), "a healthy look resets the count");
        assert!(!w.observe(Some(0)));
        assert!(w.observe(Some(0)));
        assert!(!w.observe(Some(0)), "the count starts again after acting");
        // Holding every partition again also resets it: without the reset this look would act.
        assert!(!w.due(Instant::now(), 4, 4));
        assert!(!w.observe(Some(0)));
    }

    #[test]
    fn stranded_members_rejoin_one_after_another_by_member_id() {
        // The two survivors of a kill, both stranded at once.
        let two = view("Stable", &["app-c-9", "app-b-2"]);
        assert_eq!(rank(&two, "app-b"), Some(0));
        assert_eq!(rank(&two, "app-c"), Some(1));
        assert_eq!(rank(&two, "app-a"), None);
        let (mut b, mut c) = (
            GroupWatch::new(Duration::from_secs(3), 2),
            GroupWatch::new(Duration::from_secs(3), 2),
        );
        let looks = |w: &mut GroupWatch, rank| (0..4).map(|_| w.observe(Some(rank))).collect();
        let b_acts: Vec<bool> = looks(&mut b, 0);
        assert_eq!(b_acts, [false, true, false, true]);
        let c_acts: Vec<bool> = looks(&mut c, 1);
        assert_eq!(c_acts, [false, false, false, true], "two looks after b");
        // b's re-join gives c its share: c's next look resets it, and it never re-joins.
        let mut c = GroupWatch::new(Duration::from_secs(3), 2);
        assert!(!c.observe(Some(1)));
        assert!(!c.observe(Some(1)));
        assert!(!c.observe(None));
        assert!(!c.observe(Some(1)));
        assert!(!c.observe(Some(1)));
        assert!(!c.observe(Some(1)));
    }
}
