//! Static group membership (KIP-345): each instance joins its consumer group with a
//! `group.instance.id` that stays the same across its restarts, so a restarted instance takes its
//! old member's place, and partitions, at once instead of waiting out a crashed member's session.
//! Sessions shorter than a static join may take keep members dynamic.

use std::path::Path;

use rdkafka::ClientConfig;

use crate::score::engagement::chatter_hash;

/// The id of an instance started without `--instance-id`: the host name and a hash of the state
/// dir's absolute path. Both outlast a restart, and two instances on one host need two state dirs.
pub fn default_instance_id(hostname: &str, state_dir: &Path) -> String {
    let dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_owned());
    // FNV-1a: the same on every build, so an upgrade keeps the id.
    let hash = chatter_hash(&dir.to_string_lossy());
    format!("{hostname}-{:08x}", hash as u32)
}

/// The shortest `session.timeout.ms` chatpulse makes a static member with: a static join can take
/// longer than a shorter session (tansu 0.6 pauses 3 s in JoinGroup and 3 s in SyncGroup, and
/// evicts a member whose session ran out meanwhile), so below it members stay dynamic.
pub const MIN_STATIC_SESSION_MS: u64 = 10_000;

/// Makes `consumer` a static member named `<application_id>-<instance_id>`, unless the user chose a
/// `group.instance.id` (an empty one turns static membership off) or a `session.timeout.ms` below
/// [`MIN_STATIC_SESSION_MS`]. Returns the prefix of this instance's member id: its
/// `group.instance.id`, or its `client.id` when not static.
pub fn set_static_membership(
    consumer: &mut ClientConfig,
    application_id: &str,
    instance_id: &str,
) -> String {
    let session_ms = consumer
        .get("session.timeout.ms")
        .and_then(|ms| ms.trim().parse::<u64>().ok());
    match consumer.get("group.instance.id") {
        None if session_ms.is_some_and(|ms| ms < MIN_STATIC_SESSION_MS) => {
            tracing::info!(
                session_timeout_ms = session_ms,
                "static group membership is off: session.timeout.ms is below 10 s, shorter than \
                 a static join may take; a restart after a crash waits for that session to time out"
            );
        }
        None => {
            consumer.set(
                "group.instance.id",
                format!("{application_id}-{instance_id}"),
            );
        }
        Some("") => {
            consumer.remove("group.instance.id");
        }
        Some(_) => {}
    }
    member_prefix(consumer)
}

/// The prefix of the member id `consumer` gets: its `group.instance.id` when static, else its
/// `client.id` (Kafka and tansu both append a dash and a broker-chosen suffix).
pub fn member_prefix(consumer: &ClientConfig) -> String {
    consumer
        .get("group.instance.id")
        .filter(|id| !id.is_empty())
        .or_else(|| consumer.get("client.id"))
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_id_is_stable_per_host_and_state_dir() {
        let a = default_instance_id("box", Path::new("/var/lib/chatpulse/a"));
        assert_eq!(
            a,
            default_instance_id("box", Path::new("/var/lib/chatpulse/a"))
        );
        assert!(a.starts_with("box-") && a.len() == "box-".len() + 8, "{a}");
        assert_ne!(
            a,
            default_instance_id("box", Path::new("/var/lib/chatpulse/b"))
        );
        assert_ne!(
            a,
            default_instance_id("other", Path::new("/var/lib/chatpulse/a"))
        );
        let relative = default_instance_id("box", Path::new("state"));
        let cwd = std::env::current_dir().unwrap().join("state");
        assert_eq!(relative, default_instance_id("box", &cwd));
    }

    #[test]
    fn members_are_static_unless_the_user_says_otherwise() {
        let mut c = ClientConfig::new();
        c.set("client.id", "app-i");
        assert_eq!(set_static_membership(&mut c, "app", "i"), "app-i");
        assert_eq!(c.get("group.instance.id"), Some("app-i"));

        let mut chosen = ClientConfig::new();
        chosen
            .set("client.id", "app-i")
            .set("group.instance.id", "pod-3");
        assert_eq!(set_static_membership(&mut chosen, "app", "i"), "pod-3");

        let mut off = ClientConfig::new();
        off.set("client.id", "app-i").set("group.instance.id", "");
        assert_eq!(set_static_membership(&mut off, "app", "i"), "app-i");
        assert_eq!(off.get("group.instance.id"), None);

        let mut short = ClientConfig::new();
        short
            .set("client.id", "app-i")
            .set("session.timeout.ms", "6000");
        assert_eq!(set_static_membership(&mut short, "app", "i"), "app-i");
        assert_eq!(
            short.get("group.instance.id"),
            None,
            "a 6 s session stays dynamic"
        );
        short.set("session.timeout.ms", "10000");
        assert_eq!(set_static_membership(&mut short, "app", "i"), "app-i");
        assert_eq!(short.get("group.instance.id"), Some("app-i"));
    }
}
