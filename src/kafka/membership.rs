//! Group membership: an instance id that outlives a restart, and the prefix of this instance's
//! member id (its `group.instance.id` when the user makes it a static member, else its client id).
//! Static membership is not the default: tansu 0.6 strands a new static member behind a departed one.
//! Sessions shorter than a static join may take keep members dynamic.

use std::path::Path;

use rdkafka::ClientConfig;

use crate::analysis::chatter_hash;

/// The id of an instance started without `--instance-id`: the host name and a hash of the state
/// dir's absolute path. Both outlast a restart, and two instances on one host need two state dirs.
pub fn default_instance_id(hostname: &str, state_dir: &Path) -> String {
    let dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_owned());
    // FNV-1a: the same on every build, so an upgrade keeps the id.
    let hash = chatter_hash(&dir.to_string_lossy());
    format!("{hostname}-{:08x}", hash as u32)
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
    fn a_static_member_is_named_by_its_group_instance_id() {
        let mut c = ClientConfig::new();
        c.set("client.id", "app-i");
        assert_eq!(member_prefix(&c), "app-i");
        c.set("group.instance.id", "pod-3");
        assert_eq!(member_prefix(&c), "pod-3");
        c.set("group.instance.id", "");
        assert_eq!(member_prefix(&c), "app-i");
    }
}
