//! Which channels a rule watches: every channel, or only those it lists (lowercase logins, a
//! leading `#` ignored).

/// A rule's channels.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    only: Vec<String>,
}

impl Scope {
    /// Every channel when `channels` is empty, else only those.
    pub fn new(channels: &[String]) -> Scope {
        let mut only: Vec<String> = channels
            .iter()
            .map(|c| c.trim_start_matches('#').to_lowercase())
            .collect();
        only.sort();
        only.dedup();
        Scope { only }
    }

    /// Whether the rule watches `channel`.
    pub fn covers(&self, channel: &str) -> bool {
        self.only.is_empty()
            || self
                .only
                .binary_search_by(|c| c.as_str().cmp(channel))
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_watches_every_channel_and_a_list_only_its_own() {
        assert!(Scope::new(&[]).covers("anyone"));
        let s = Scope::new(&["#NymN".to_owned(), "forsen".to_owned(), "nymn".to_owned()]);
        assert!(s.covers("nymn") && s.covers("forsen"));
        assert!(!s.covers("xqc"));
    }
}
