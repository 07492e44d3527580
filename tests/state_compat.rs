//! State written before processors had typed state tables reads back into them unchanged: the
//! entries a task of that code committed, copied here byte for byte, are what a task of this code
//! commits for the same input, and restored into a task of this code they give the same results
//! and the same next commit as the earlier task gave, with one deliberate change: the spike
//! trackers of `sub_trend` and `ad_slots` count no terms ([`without_terms`]). The session table
//! (`chatter_sessions`) is pinned the same way from its first version on.

use std::sync::Arc;

use chatpulse::topology::{InputRecord, Task, TaskOutput, Topology};
use serde_json::Value;

const TOPOLOGY: &str = r#"
application_id = "cap"
[[source]]
name = "chat"
topic = "in"
[[processor]]
name = "counts"
kind = "chat_count"
source = "chat"
sink = "o"
window = { kind = "tumbling", size = "1m", grace = "5s", allowed_lateness = "10m" }
store = "counts"
[[processor]]
name = "trend"
kind = "sub_trend"
source = "chat"
sink = "o"
window = { kind = "tumbling", size = "5m", grace = "5s" }
# The earlier code's spike bound (15 minutes; 5 since issue 19), so its bytes are what this config writes.
options = { spike.max_spike = "15m" }
store = "trend"
[[processor]]
name = "ad"
kind = "ad_slots"
source = "chat"
sink = "o"
options = { grace = "5s", spike.max_spike = "15m" }
store = "ad"
[[sink]]
name = "o"
topic = "out"
"#;

const T0: i64 = 1_700_000_000_000;

/// One state change: store, key and value (`None` deletes).
type Write<'a> = (&'a str, &'a [u8], Option<&'a [u8]>);

/// What the earlier code committed (store, key, value) at generation 1, offset 73,
/// watermark 1700000148000, after [`first_input`] at wall time `T0 + 200 s`.
const COMMITTED: &[(&str, &[u8], &[u8])] = &[
    ("counts", b"nymn\x00\x80\x00\x01\x8b\xcf\xe5\x19\xe0", b"R1 {\"messages\":31,\"chatters\":[\"late\",\"u0\",\"u1\",\"u2\",\"u3\"]}"),
    ("counts", b"nymn\x00\x80\x00\x01\x8b\xcf\xe6\x04@", b"R0 {\"messages\":15,\"chatters\":[\"u0\",\"u1\",\"u2\"]}"),
    ("counts", b"nymn\x00\x80\x00\x01\x8b\xcf\xe6\xee\xa0", b"{\"messages\":25,\"chatters\":[\"u0\",\"u1\",\"u2\"]}"),
    ("trend", b"nymn\x00\x80\x00\x01\x8b\xcf\xe2Z\xc0", b"R0 {\"subs\":0,\"resubs\":0,\"gifted_subs\":5,\"gift_bombs\":1,\"upgrades\":0,\"tiers\":{\"prime\":0,\"tier1\":5,\"tier2\":0,\"tier3\":0,\"unknown\":0},\"prime_subs\":0,\"gifters\":{\"max_terms\":64,\"terms\":{\"alice\":{\"uses\":5,\"chatters\":[0],\"kind\":\"Word\"}}}}"),
    ("trend", b"\x01bnymn\x00\x80\x00\x01\x8b\xcf\xe7\x8a\xe0", b"{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"terms\":{\"max_terms\":256,\"terms\":{\"hi\":{\"uses\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"kind\":\"Word\"}}},\"hype_messages\":0,\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0}"),
    ("trend", b"\x01bnymn\x00\x80\x00\x01\x8b\xcf\xe7\x9eh", b"{\"messages\":2,\"chatters\":[631764021265516096,631766220288772518],\"terms\":{\"max_terms\":256,\"terms\":{\"hi\":{\"uses\":2,\"chatters\":[631764021265516096,631766220288772518],\"kind\":\"Word\"}}},\"hype_messages\":0,\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0}"),
    ("trend", b"\x01dnymn", b"{\"channel\":\"nymn\",\"config\":{\"bucket_ms\":5000,\"window_ms\":30000,\"half_life_ms\":300000,\"warmup_ms\":120000,\"clip_sigmas\":4.0,\"k_on\":2.0,\"k_off\":1.5,\"exit_hold_ms\":60000,\"z_on\":5.0,\"poisson_below\":50.0,\"alpha\":0.0001,\"min_messages\":20,\"min_chatters\":5,\"chat_lag_ms\":7000,\"cause_lookback_ms\":60000,\"max_gap_ms\":300000,\"max_spike_ms\":900000,\"top_terms\":5,\"raid_min_viewers\":20,\"gift_min\":5,\"sub_burst_min\":5,\"hype_min_share\":0.25},\"baseline\":{\"alpha\":0.01148597964710385,\"warmup\":24,\"clip_sigmas\":4.0,\"n\":17,\"mean\":11.117647058823529,\"var\":71.51557093425605},\"history\":[{\"start_ms\":1700000020000,\"stats\":{\"messages\":5,\"chatters\":[631764021265516096,631765120777144307,631766220288772518,631767319800400729],\"hype_messages\":0,\"terms\":[[\"Kappa\",5],[\"hello\",5]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":null,\"in_spike\":false},{\"start_ms\":1700000025000,\"stats\":{\"messages\":5,\"chatters\":[631764021265516096,631765120777144307,631766220288772518,631767319800400729],\"hype_messages\":0,\"terms\":[[\"Kappa\",5],[\"hello\",5]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":30,\"in_spike\":false},{\"start_ms\":1700000030000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":5,\"gift_bombs\":1,\"raids\":0,\"raid_viewers\":0},\"window_count\":25,\"in_spike\":false},{\"start_ms\":1700000035000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":20,\"in_spike\":false},{\"start_ms\":1700000040000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000045000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000050000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":5,\"in_spike\":false},{\"start_ms\":1700000055000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":0,\"in_spike\":false},{\"start_ms\":1700000060000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":0,\"in_spike\":false},{\"start_ms\":1700000065000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":0,\"in_spike\":false},{\"start_ms\":1700000070000,\"stats\":{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",3]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":3,\"in_spike\":false},{\"start_ms\":1700000075000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631765120777144307],\"hype_messages\":0,\"terms\":[[\"hi\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":5,\"in_spike\":false},{\"start_ms\":1700000080000,\"stats\":{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",3]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":8,\"in_spike\":false},{\"start_ms\":1700000085000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000090000,\"stats\":{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",3]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":13,\"in_spike\":false},{\"start_ms\":1700000095000,\"stats\":{\"messages\":2,\"chatters\":[631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000100000,\"stats\":{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",3]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000105000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631765120777144307],\"hype_messages\":0,\"terms\":[[\"hi\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000110000,\"stats\":{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",3]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000115000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000120000,\"stats\":{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",3]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000125000,\"stats\":{\"messages\":2,\"chatters\":[631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000130000,\"stats\":{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",3]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000135000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631765120777144307],\"hype_messages\":0,\"terms\":[[\"hi\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false}],\"next_ms\":1700000140000,\"active\":null,\"late_buckets\":0}"),
    ("trend", b"\x01g", b"{\"open\":{\"777\":4},\"order\":[\"777\"],\"capacity\":10000}"),
    ("trend", b"\x01u", b"[{\"nymn\":5.0},{}]"),
    ("ad", b"\x01bnymn\x00\x80\x00\x01\x8b\xcf\xe7\x8a\xe0", b"{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"terms\":{\"max_terms\":256,\"terms\":{\"hi\":{\"uses\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"kind\":\"Word\"}}},\"hype_messages\":0,\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0}"),
    ("ad", b"\x01bnymn\x00\x80\x00\x01\x8b\xcf\xe7\x9eh", b"{\"messages\":2,\"chatters\":[631764021265516096,631766220288772518],\"terms\":{\"max_terms\":256,\"terms\":{\"hi\":{\"uses\":2,\"chatters\":[631764021265516096,631766220288772518],\"kind\":\"Word\"}}},\"hype_messages\":0,\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0}"),
    ("ad", b"\x01dnymn", b"{\"channel\":\"nymn\",\"config\":{\"bucket_ms\":5000,\"window_ms\":30000,\"half_life_ms\":300000,\"warmup_ms\":120000,\"clip_sigmas\":4.0,\"k_on\":2.0,\"k_off\":1.5,\"exit_hold_ms\":60000,\"z_on\":5.0,\"poisson_below\":50.0,\"alpha\":0.0001,\"min_messages\":20,\"min_chatters\":5,\"chat_lag_ms\":7000,\"cause_lookback_ms\":60000,\"max_gap_ms\":300000,\"max_spike_ms\":900000,\"top_terms\":5,\"raid_min_viewers\":20,\"gift_min\":5,\"sub_burst_min\":5,\"hype_min_share\":0.25},\"baseline\":{\"alpha\":0.01148597964710385,\"warmup\":24,\"clip_sigmas\":4.0,\"n\":17,\"mean\":11.117647058823529,\"var\":71.51557093425605},\"history\":[{\"start_ms\":1700000020000,\"stats\":{\"messages\":5,\"chatters\":[631764021265516096,631765120777144307,631766220288772518,631767319800400729],\"hype_messages\":0,\"terms\":[[\"Kappa\",5],[\"hello\",5]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":null,\"in_spike\":false},{\"start_ms\":1700000025000,\"stats\":{\"messages\":5,\"chatters\":[631764021265516096,631765120777144307,631766220288772518,631767319800400729],\"hype_messages\":0,\"terms\":[[\"Kappa\",5],[\"hello\",5]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":30,\"in_spike\":false},{\"start_ms\":1700000030000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":5,\"gift_bombs\":1,\"raids\":0,\"raid_viewers\":0},\"window_count\":25,\"in_spike\":false},{\"start_ms\":1700000035000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":20,\"in_spike\":false},{\"start_ms\":1700000040000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000045000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000050000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":5,\"in_spike\":false},{\"start_ms\":1700000055000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":0,\"in_spike\":false},{\"start_ms\":1700000060000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":0,\"in_spike\":false},{\"start_ms\":1700000065000,\"stats\":{\"messages\":0,\"chatters\":[],\"hype_messages\":0,\"terms\":[],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":0,\"in_spike\":false},{\"start_ms\":1700000070000,\"stats\":{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",3]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":3,\"in_spike\":false},{\"start_ms\":1700000075000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631765120777144307],\"hype_messages\":0,\"terms\":[[\"hi\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":5,\"in_spike\":false},{\"start_ms\":1700000080000,\"stats\":{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",3]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":8,\"in_spike\":false},{\"start_ms\":1700000085000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000090000,\"stats\":{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",3]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":13,\"in_spike\":false},{\"start_ms\":1700000095000,\"stats\":{\"messages\":2,\"chatters\":[631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000100000,\"stats\":{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",3]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000105000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631765120777144307],\"hype_messages\":0,\"terms\":[[\"hi\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000110000,\"stats\":{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",3]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000115000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000120000,\"stats\":{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",3]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000125000,\"stats\":{\"messages\":2,\"chatters\":[631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000130000,\"stats\":{\"messages\":3,\"chatters\":[631764021265516096,631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"hi\",3]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false},{\"start_ms\":1700000135000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631765120777144307],\"hype_messages\":0,\"terms\":[[\"hi\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":15,\"in_spike\":false}],\"next_ms\":1700000140000,\"active\":null,\"late_buckets\":0}"),
    ("ad", b"\x01g", b"{\"open\":{\"777\":4},\"order\":[\"777\"],\"capacity\":10000}"),
    ("ad", b"\x01mnymn\x00\x80\x00\x01\x8b\xcf\xe6\xee\xa0", b"{\"messages\":25,\"chatters\":[631764021265516096,631765120777144307,631766220288772518]}"),
    ("ad", b"\x01anymn", b"{\"recommender\":{\"channel\":\"nymn\",\"config\":{\"after_start_ms\":480000,\"min_gap_ms\":900000,\"budget_s\":180,\"budget_window_ms\":3600000,\"preferred_duration_s\":90,\"min_duration_s\":30,\"max_duration_s\":180,\"calm_hold_ms\":120000,\"calm_ramp_ms\":300000,\"rate_calm_until\":1.5,\"rate_calm_zero_at\":2.5,\"usual_minutes\":15,\"reach_minutes\":60,\"min_score\":0.6,\"min_reach\":5,\"validity_ms\":180000,\"settle_ms\":35000,\"stream_start_ms\":null},\"minutes\":[{\"start_ms\":1699999980000,\"messages\":30,\"active_chatters\":4,\"viewers\":null},{\"start_ms\":1700000040000,\"messages\":15,\"active_chatters\":4,\"viewers\":null}],\"stream_start_ms\":1699999980000,\"open_spike_onset\":null,\"spikes\":[],\"breaks\":[],\"last_break_ms\":null},\"last_slot\":null,\"recent\":[[1699999980000,[631764021265516096,631765120777144307,631766220288772518,631767319800400729]],[1700000040000,[631764021265516096,631765120777144307,631766220288772518]]]}"),
];

/// The earlier code's next commit after [`second_input`] (at wall time `T0 + 500 s`); `None` deletes.
const NEXT_COMMIT: &[Write] = &[
    ("counts", b"nymn\x00\x80\x00\x01\x8b\xcf\xe5\x19\xe0", Some(b"R2 {\"messages\":32,\"chatters\":[\"late\",\"late2\",\"u0\",\"u1\",\"u2\",\"u3\"]}")),
    ("counts", b"nymn\x00\x80\x00\x01\x8b\xcf\xe6\xee\xa0", Some(b"R0 {\"messages\":28,\"chatters\":[\"u0\",\"u1\",\"u2\"]}")),
    ("counts", b"nymn\x00\x80\x00\x01\x8b\xcf\xe7\xd9\x00", Some(b"R0 {\"messages\":20,\"chatters\":[\"u0\",\"u1\",\"u2\",\"u3\",\"u4\",\"u5\"]}")),
    ("counts", b"nymn\x00\x80\x00\x01\x8b\xcf\xe8\xc3`", Some(b"R0 {\"messages\":20,\"chatters\":[\"u0\",\"u1\",\"u2\",\"u3\",\"u4\",\"u5\"]}")),
    ("counts", b"nymn\x00\x80\x00\x01\x8b\xcf\xe9\xad\xc0", Some(b"R0 {\"messages\":20,\"chatters\":[\"u0\",\"u1\",\"u2\",\"u3\",\"u4\",\"u5\"]}")),
    ("counts", b"nymn\x00\x80\x00\x01\x8b\xcf\xea\x98 ", Some(b"R0 {\"messages\":20,\"chatters\":[\"u0\",\"u1\",\"u2\",\"u3\",\"u4\",\"u5\"]}")),
    ("counts", b"nymn\x00\x80\x00\x01\x8b\xcf\xeb\x82\x80", Some(b"{\"messages\":7,\"chatters\":[\"u0\",\"u1\",\"u2\",\"u3\",\"u4\",\"u5\"]}")),
    ("trend", b"nymn\x00\x80\x00\x01\x8b\xcf\xe6\xee\xa0", Some(b"R0 {\"subs\":1,\"resubs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"upgrades\":0,\"tiers\":{\"prime\":1,\"tier1\":0,\"tier2\":0,\"tier3\":0,\"unknown\":0},\"prime_subs\":1,\"gifters\":{\"max_terms\":64,\"terms\":{}}}")),
    ("trend", b"\x01bnymn\x00\x80\x00\x01\x8b\xcf\xe7\x8a\xe0", None),
    ("trend", b"\x01bnymn\x00\x80\x00\x01\x8b\xcf\xe7\x9eh", None),
    ("trend", b"\x01bnymn\x00\x80\x00\x01\x8b\xcf\xeb\xa9\x90", Some(b"{\"messages\":2,\"chatters\":[631766220288772518,631767319800400729],\"terms\":{\"max_terms\":256,\"terms\":{\"Kappa\":{\"uses\":2,\"chatters\":[631766220288772518,631767319800400729],\"kind\":\"Known\"},\"hey\":{\"uses\":2,\"chatters\":[631766220288772518,631767319800400729],\"kind\":\"Word\"}}},\"hype_messages\":0,\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0}")),
    ("trend", b"\x01bnymn\x00\x80\x00\x01\x8b\xcf\xeb\xbd\x18", Some(b"{\"messages\":2,\"chatters\":[631768419312028940,631769518823657151],\"terms\":{\"max_terms\":256,\"terms\":{\"Kappa\":{\"uses\":2,\"chatters\":[631768419312028940,631769518823657151],\"kind\":\"Known\"},\"hey\":{\"uses\":2,\"chatters\":[631768419312028940,631769518823657151],\"kind\":\"Word\"}}},\"hype_messages\":0,\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0}")),
    ("trend", b"\x01dnymn", Some(b"{\"channel\":\"nymn\",\"config\":{\"bucket_ms\":5000,\"window_ms\":30000,\"half_life_ms\":300000,\"warmup_ms\":120000,\"clip_sigmas\":4.0,\"k_on\":2.0,\"k_off\":1.5,\"exit_hold_ms\":60000,\"z_on\":5.0,\"poisson_below\":50.0,\"alpha\":0.0001,\"min_messages\":20,\"min_chatters\":5,\"chat_lag_ms\":7000,\"cause_lookback_ms\":60000,\"max_gap_ms\":300000,\"max_spike_ms\":900000,\"top_terms\":5,\"raid_min_viewers\":20,\"gift_min\":5,\"sub_burst_min\":5,\"hype_min_share\":0.25},\"baseline\":{\"alpha\":0.01148597964710385,\"warmup\":24,\"clip_sigmas\":4.0,\"n\":71,\"mean\":10.957746478873242,\"var\":19.646101963896054},\"history\":[{\"start_ms\":1700000290000,\"stats\":{\"messages\":2,\"chatters\":[631768419312028940,631769518823657151],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000295000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631765120777144307],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000300000,\"stats\":{\"messages\":1,\"chatters\":[631766220288772518],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000305000,\"stats\":{\"messages\":2,\"chatters\":[631767319800400729,631768419312028940],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000310000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631769518823657151],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000315000,\"stats\":{\"messages\":1,\"chatters\":[631765120777144307],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000320000,\"stats\":{\"messages\":2,\"chatters\":[631766220288772518,631767319800400729],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000325000,\"stats\":{\"messages\":2,\"chatters\":[631768419312028940,631769518823657151],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000330000,\"stats\":{\"messages\":1,\"chatters\":[631764021265516096],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000335000,\"stats\":{\"messages\":2,\"chatters\":[631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000340000,\"stats\":{\"messages\":2,\"chatters\":[631767319800400729,631768419312028940],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000345000,\"stats\":{\"messages\":1,\"chatters\":[631769518823657151],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000350000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631765120777144307],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000355000,\"stats\":{\"messages\":2,\"chatters\":[631766220288772518,631767319800400729],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000360000,\"stats\":{\"messages\":1,\"chatters\":[631768419312028940],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000365000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631769518823657151],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000370000,\"stats\":{\"messages\":2,\"chatters\":[631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000375000,\"stats\":{\"messages\":1,\"chatters\":[631767319800400729],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000380000,\"stats\":{\"messages\":2,\"chatters\":[631768419312028940,631769518823657151],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000385000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631765120777144307],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000390000,\"stats\":{\"messages\":1,\"chatters\":[631766220288772518],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000395000,\"stats\":{\"messages\":2,\"chatters\":[631767319800400729,631768419312028940],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000400000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631769518823657151],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000405000,\"stats\":{\"messages\":1,\"chatters\":[631765120777144307],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false}],\"next_ms\":1700000410000,\"active\":null,\"late_buckets\":0}")),
    ("trend", b"\x01g", Some(b"{\"open\":{\"777\":2},\"order\":[\"777\"],\"capacity\":10000}")),
    ("trend", b"\x01u", Some(b"[{\"nymn\":4.2},{}]")),
    ("ad", b"\x01bnymn\x00\x80\x00\x01\x8b\xcf\xe7\x8a\xe0", None),
    ("ad", b"\x01bnymn\x00\x80\x00\x01\x8b\xcf\xe7\x9eh", None),
    ("ad", b"\x01bnymn\x00\x80\x00\x01\x8b\xcf\xeb\xa9\x90", Some(b"{\"messages\":2,\"chatters\":[631766220288772518,631767319800400729],\"terms\":{\"max_terms\":256,\"terms\":{\"Kappa\":{\"uses\":2,\"chatters\":[631766220288772518,631767319800400729],\"kind\":\"Known\"},\"hey\":{\"uses\":2,\"chatters\":[631766220288772518,631767319800400729],\"kind\":\"Word\"}}},\"hype_messages\":0,\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0}")),
    ("ad", b"\x01bnymn\x00\x80\x00\x01\x8b\xcf\xeb\xbd\x18", Some(b"{\"messages\":2,\"chatters\":[631768419312028940,631769518823657151],\"terms\":{\"max_terms\":256,\"terms\":{\"Kappa\":{\"uses\":2,\"chatters\":[631768419312028940,631769518823657151],\"kind\":\"Known\"},\"hey\":{\"uses\":2,\"chatters\":[631768419312028940,631769518823657151],\"kind\":\"Word\"}}},\"hype_messages\":0,\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0}")),
    ("ad", b"\x01dnymn", Some(b"{\"channel\":\"nymn\",\"config\":{\"bucket_ms\":5000,\"window_ms\":30000,\"half_life_ms\":300000,\"warmup_ms\":120000,\"clip_sigmas\":4.0,\"k_on\":2.0,\"k_off\":1.5,\"exit_hold_ms\":60000,\"z_on\":5.0,\"poisson_below\":50.0,\"alpha\":0.0001,\"min_messages\":20,\"min_chatters\":5,\"chat_lag_ms\":7000,\"cause_lookback_ms\":60000,\"max_gap_ms\":300000,\"max_spike_ms\":900000,\"top_terms\":5,\"raid_min_viewers\":20,\"gift_min\":5,\"sub_burst_min\":5,\"hype_min_share\":0.25},\"baseline\":{\"alpha\":0.01148597964710385,\"warmup\":24,\"clip_sigmas\":4.0,\"n\":71,\"mean\":10.957746478873242,\"var\":19.646101963896054},\"history\":[{\"start_ms\":1700000290000,\"stats\":{\"messages\":2,\"chatters\":[631768419312028940,631769518823657151],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000295000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631765120777144307],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000300000,\"stats\":{\"messages\":1,\"chatters\":[631766220288772518],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000305000,\"stats\":{\"messages\":2,\"chatters\":[631767319800400729,631768419312028940],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000310000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631769518823657151],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000315000,\"stats\":{\"messages\":1,\"chatters\":[631765120777144307],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000320000,\"stats\":{\"messages\":2,\"chatters\":[631766220288772518,631767319800400729],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000325000,\"stats\":{\"messages\":2,\"chatters\":[631768419312028940,631769518823657151],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000330000,\"stats\":{\"messages\":1,\"chatters\":[631764021265516096],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000335000,\"stats\":{\"messages\":2,\"chatters\":[631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000340000,\"stats\":{\"messages\":2,\"chatters\":[631767319800400729,631768419312028940],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000345000,\"stats\":{\"messages\":1,\"chatters\":[631769518823657151],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000350000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631765120777144307],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000355000,\"stats\":{\"messages\":2,\"chatters\":[631766220288772518,631767319800400729],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000360000,\"stats\":{\"messages\":1,\"chatters\":[631768419312028940],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000365000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631769518823657151],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000370000,\"stats\":{\"messages\":2,\"chatters\":[631765120777144307,631766220288772518],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000375000,\"stats\":{\"messages\":1,\"chatters\":[631767319800400729],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000380000,\"stats\":{\"messages\":2,\"chatters\":[631768419312028940,631769518823657151],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000385000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631765120777144307],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000390000,\"stats\":{\"messages\":1,\"chatters\":[631766220288772518],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000395000,\"stats\":{\"messages\":2,\"chatters\":[631767319800400729,631768419312028940],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000400000,\"stats\":{\"messages\":2,\"chatters\":[631764021265516096,631769518823657151],\"hype_messages\":0,\"terms\":[[\"Kappa\",2],[\"hey\",2]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false},{\"start_ms\":1700000405000,\"stats\":{\"messages\":1,\"chatters\":[631765120777144307],\"hype_messages\":0,\"terms\":[[\"Kappa\",1],[\"hey\",1]],\"subs\":0,\"gifted_subs\":0,\"gift_bombs\":0,\"raids\":0,\"raid_viewers\":0},\"window_count\":10,\"in_spike\":false}],\"next_ms\":1700000410000,\"active\":null,\"late_buckets\":0}")),
    ("ad", b"\x01g", Some(b"{\"open\":{\"777\":2},\"order\":[\"777\"],\"capacity\":10000}")),
    ("ad", b"\x01mnymn\x00\x80\x00\x01\x8b\xcf\xe6\xee\xa0", None),
    ("ad", b"\x01mnymn\x00\x80\x00\x01\x8b\xcf\xea\x98 ", Some(b"{\"messages\":20,\"chatters\":[631764021265516096,631765120777144307,631766220288772518,631767319800400729,631768419312028940,631769518823657151]}")),
    ("ad", b"\x01mnymn\x00\x80\x00\x01\x8b\xcf\xeb\x82\x80", Some(b"{\"messages\":7,\"chatters\":[631764021265516096,631765120777144307,631766220288772518,631767319800400729,631768419312028940,631769518823657151]}")),
    ("ad", b"\x01anymn", Some(b"{\"recommender\":{\"channel\":\"nymn\",\"config\":{\"after_start_ms\":480000,\"min_gap_ms\":900000,\"budget_s\":180,\"budget_window_ms\":3600000,\"preferred_duration_s\":90,\"min_duration_s\":30,\"max_duration_s\":180,\"calm_hold_ms\":120000,\"calm_ramp_ms\":300000,\"rate_calm_until\":1.5,\"rate_calm_zero_at\":2.5,\"usual_minutes\":15,\"reach_minutes\":60,\"min_score\":0.6,\"min_reach\":5,\"validity_ms\":180000,\"settle_ms\":35000,\"stream_start_ms\":null},\"minutes\":[{\"start_ms\":1699999980000,\"messages\":30,\"active_chatters\":4,\"viewers\":null},{\"start_ms\":1700000040000,\"messages\":15,\"active_chatters\":4,\"viewers\":null},{\"start_ms\":1700000100000,\"messages\":28,\"active_chatters\":4,\"viewers\":null},{\"start_ms\":1700000160000,\"messages\":20,\"active_chatters\":6,\"viewers\":null},{\"start_ms\":1700000220000,\"messages\":20,\"active_chatters\":6,\"viewers\":null},{\"start_ms\":1700000280000,\"messages\":20,\"active_chatters\":6,\"viewers\":null}],\"stream_start_ms\":1699999980000,\"open_spike_onset\":null,\"spikes\":[],\"breaks\":[],\"last_break_ms\":null},\"last_slot\":null,\"recent\":[[1700000040000,[631764021265516096,631765120777144307,631766220288772518]],[1700000100000,[631764021265516096,631765120777144307,631766220288772518]],[1700000160000,[631764021265516096,631765120777144307,631766220288772518,631767319800400729,631768419312028940,631769518823657151]],[1700000220000,[631764021265516096,631765120777144307,631766220288772518,631767319800400729,631768419312028940,631769518823657151]],[1700000280000,[631764021265516096,631765120777144307,631766220288772518,631767319800400729,631768419312028940,631769518823657151]]]}")),
];

/// The earlier code's results (sink, key, timestamp, value) for [`second_input`], its next commit
/// and the end of input, in order.
const RESULTS: &[(usize, &str, i64, &str)] = &[
    (
        0,
        "nymn",
        1700000160000,
        r#"{"channel":"nymn","final":true,"messages":28,"revision":0,"unique_chatters":3,"window_end":1700000160000,"window_start":1700000100000}"#,
    ),
    (
        0,
        "nymn",
        1700000220000,
        r#"{"channel":"nymn","final":true,"messages":20,"revision":0,"unique_chatters":6,"window_end":1700000220000,"window_start":1700000160000}"#,
    ),
    (
        0,
        "nymn",
        1700000280000,
        r#"{"channel":"nymn","final":true,"messages":20,"revision":0,"unique_chatters":6,"window_end":1700000280000,"window_start":1700000220000}"#,
    ),
    (
        0,
        "nymn",
        1700000340000,
        r#"{"channel":"nymn","final":true,"messages":20,"revision":0,"unique_chatters":6,"window_end":1700000340000,"window_start":1700000280000}"#,
    ),
    (
        0,
        "nymn",
        1700000400000,
        r#"{"channel":"nymn","final":true,"messages":20,"revision":0,"unique_chatters":6,"window_end":1700000400000,"window_start":1700000340000}"#,
    ),
    (
        0,
        "nymn",
        1700000400000,
        r#"{"channel":"nymn","chat_spike_onset":null,"final":true,"gift_bombs":0,"gifted_subs":0,"prime_share":1.0,"resubs":0,"revision":0,"sub_spike":false,"subs":1,"tiers":{"prime":1,"tier1":0,"tier2":0,"tier3":0,"unknown":0},"top_gifters":[],"total":1,"upgrades":0,"usual_total":5.0,"window_end":1700000400000,"window_start":1700000100000}"#,
    ),
    (
        0,
        "nymn",
        1700000040000,
        r#"{"channel":"nymn","final":true,"messages":32,"revision":2,"unique_chatters":6,"window_end":1700000040000,"window_start":1699999980000}"#,
    ),
    (
        0,
        "nymn",
        1700000460000,
        r#"{"channel":"nymn","final":true,"messages":7,"revision":0,"unique_chatters":6,"window_end":1700000460000,"window_start":1700000400000}"#,
    ),
    (
        0,
        "nymn",
        1700000460000,
        r#"{"channel":"nymn","duration_s":90,"expected_reach":6,"reason":"Chat is calm and 6 people chatted in the last 5 minutes (100% of the most in the last hour); there has been no hype moment lately; no break since the stream started 8 minutes ago; a 90-second break fits the budget of 180 seconds of ads per hour.","score":1.0,"start":1700000460000,"valid_from":1700000460000,"valid_until":1700000640000,"window_end":1700000550000,"window_start":1700000460000}"#,
    ),
];

fn message(ts: i64, user: &str, text: &str) -> String {
    format!("@tmi-sent-ts={ts};id=m{ts};room-id=1;user-id=2;login={user} :{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #nymn :{text}")
}

/// Chat in two minutes, a gift bomb of 5 with one of its gifts, and a late message.
fn first_input() -> Vec<String> {
    let mut lines: Vec<String> = (0..30)
        .map(|i| message(T0 + i * 1000, &format!("u{}", i % 4), "hello Kappa"))
        .collect();
    lines.push(format!("@tmi-sent-ts={};id=g1;room-id=1;user-id=3;login=alice;msg-id=submysterygift;msg-param-mass-gift-count=5;msg-param-sub-plan=1000;msg-param-community-gift-id=777 :tmi.twitch.tv USERNOTICE #nymn", T0 + 31_000));
    lines.push(format!("@tmi-sent-ts={};id=g2;room-id=1;user-id=3;login=alice;msg-id=subgift;msg-param-recipient-user-name=bob;msg-param-sub-plan=1000;msg-param-community-gift-id=777 :tmi.twitch.tv USERNOTICE #nymn", T0 + 31_500));
    lines.extend((0..40).map(|i| message(T0 + 70_000 + i * 2000, &format!("u{}", i % 3), "hi")));
    lines.push(message(T0 + 2_000, "late", "late one"));
    lines
}

/// Two more gifts of the bomb (already counted), a sub, five minutes of chat and a late message.
fn second_input() -> Vec<String> {
    let mut lines: Vec<String> = (0..2)
        .map(|i| format!("@tmi-sent-ts={};id=h{i};room-id=1;user-id=3;login=alice;msg-id=subgift;msg-param-recipient-user-name=r{i};msg-param-sub-plan=1000;msg-param-community-gift-id=777 :tmi.twitch.tv USERNOTICE #nymn", T0 + 150_000 + i))
        .collect();
    lines.push(format!("@tmi-sent-ts={};id=s1;room-id=1;user-id=4;login=carol;msg-id=sub;msg-param-sub-plan=Prime;msg-param-cumulative-months=1 :tmi.twitch.tv USERNOTICE #nymn", T0 + 151_000));
    lines.extend(
        (0..90).map(|i| message(T0 + 152_000 + i * 3000, &format!("u{}", i % 6), "hey Kappa")),
    );
    lines.push(message(T0 + 3_000, "late2", "late again"));
    lines
}

fn pipe(task: &mut Task, lines: &[String], first_offset: i64, now_ms: i64, out: &mut TaskOutput) {
    for (i, line) in lines.iter().enumerate() {
        let rec = InputRecord {
            source: 0,
            partition: 0,
            offset: first_offset + i as i64,
            record_ts_ms: None,
            key: None,
            value: line.as_bytes(),
        };
        task.process(&rec, now_ms, out);
    }
}

/// A stored value as its revision mark (`R<n> ` of a closed window, or nothing) and its JSON, so
/// maps whose order is not fixed compare equal.
fn value(v: &[u8]) -> (Vec<u8>, Value) {
    let at = if v.first() == Some(&b'R') {
        v.iter().position(|&b| b == b' ').unwrap() + 1
    } else {
        0
    };
    (v[..at].to_vec(), serde_json::from_slice(&v[at..]).unwrap())
}

type Entry = (String, Vec<u8>, Option<(Vec<u8>, Value)>);

fn entries<'a>(writes: impl IntoIterator<Item = Write<'a>>) -> Vec<Entry> {
    let mut e: Vec<Entry> = writes
        .into_iter()
        .map(|(store, key, v)| (store.to_owned(), key.to_vec(), v.map(value)))
        .collect();
    e.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    e
}

/// Since the trackers of `sub_trend` and `ad_slots` only time spikes, their buckets count no terms
/// (terms feed nothing but a spike's summary): their bucket and detector entries are the earlier
/// code's with every term list emptied. Everything else is byte for byte the earlier code's.
fn without_terms(entries: Vec<Entry>) -> Vec<Entry> {
    fn empty_terms(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    match v {
                        Value::Array(a) if k == "terms" => a.clear(),
                        Value::Object(counter)
                            if k == "terms" && counter.contains_key("max_terms") =>
                        {
                            counter.insert("terms".into(), Value::Object(Default::default()));
                        }
                        _ => empty_terms(v),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(empty_terms),
            _ => {}
        }
    }
    entries
        .into_iter()
        .map(|(store, key, mut value)| {
            let tracker = key.starts_with(b"\x01b") || key.starts_with(b"\x01d");
            if (store == "trend" || store == "ad") && tracker {
                if let Some((_, v)) = &mut value {
                    empty_terms(v);
                }
            }
            (store, key, value)
        })
        .collect()
}

fn task() -> Task {
    Task::new(
        Arc::new(Topology::parse(TOPOLOGY).unwrap()),
        0,
        T0 + 200_000,
    )
}

#[test]
fn a_task_commits_the_bytes_the_earlier_code_committed() {
    let mut task = task();
    let mut out = TaskOutput::default();
    pipe(&mut task, &first_input(), 0, T0 + 200_000, &mut out);
    let commit = task.commit(&mut out);
    assert_eq!(
        (commit.generation, commit.input_offset, commit.watermark_ms),
        (1, 73, 1700000148000)
    );
    let ours = commit
        .writes
        .iter()
        .map(|(s, k, v)| (s.as_str(), k.as_slice(), v.as_deref()));
    let theirs = COMMITTED.iter().map(|&(s, k, v)| (s, k, Some(v)));
    assert_eq!(entries(ours), without_terms(entries(theirs)));
}

#[test]
fn state_the_earlier_code_committed_restores_to_the_same_results() {
    let mut task = task();
    for (store, key, value) in COMMITTED {
        task.restore_entry(store, key, value).unwrap();
    }
    task.restore_position(1, 73, 1700000148000, T0 + 200_000);
    let mut out = TaskOutput::default();
    pipe(&mut task, &second_input(), 73, T0 + 500_000, &mut out);
    let commit = task.commit(&mut out);
    task.finish(&mut out);

    let ours = commit
        .writes
        .iter()
        .map(|(s, k, v)| (s.as_str(), k.as_slice(), v.as_deref()));
    assert_eq!(
        entries(ours),
        without_terms(entries(NEXT_COMMIT.iter().copied()))
    );
    let results: Vec<(usize, &str, i64, Value)> = out
        .outputs
        .iter()
        .map(|o| (o.sink, o.key.as_str(), o.ts_ms, o.value.clone()))
        .collect();
    let expected: Vec<(usize, &str, i64, Value)> = RESULTS
        .iter()
        .map(|&(sink, key, ts, v)| (sink, key, ts, serde_json::from_str(v).unwrap()))
        .collect();
    assert_eq!(results, expected);
}

// ---------------------------------------------------------------------------------------------
// Session windows (`chatter_sessions`): the layout of their state table, pinned.

const SESSION_TOPOLOGY: &str = r#"
application_id = "cap"
[[source]]
name = "chat"
topic = "in"
[[processor]]
name = "sessions"
kind = "chatter_sessions"
source = "chat"
sink = "o"
window = { kind = "session", gap = "5m", grace = "5s" }
[[sink]]
name = "o"
topic = "out"
"#;

/// What a `chatter_sessions` task commits after [`first_sessions`]: `\x01s`, the session key
/// (`channel user`), a zero byte and the start; the end and count as JSON. The session of alice
/// that a bridging message merged into her first one is deleted.
const SESSIONS_COMMITTED: &[Write] = &[
    (
        "sessions",
        b"\x01snymn alice\x00\x80\x00\x01\x8b\xcf\xe5\x68\x00",
        Some(br#"{"end_ms":1700000303000,"acc":3}"#),
    ),
    (
        "sessions",
        b"\x01snymn alice\x00\x80\x00\x01\x8b\xcf\xea\x07\x98",
        None,
    ),
    (
        "sessions",
        b"\x01snymn bob\x00\x80\x00\x01\x8b\xcf\xe5\xdd\x30",
        Some(br#"{"end_ms":1700000030000,"acc":1}"#),
    ),
];

/// The next commit after [`second_sessions`]: both sessions closed, bob's new one open.
const SESSIONS_NEXT_COMMIT: &[Write] = &[
    (
        "sessions",
        b"\x01snymn alice\x00\x80\x00\x01\x8b\xcf\xe5\x68\x00",
        None,
    ),
    (
        "sessions",
        b"\x01snymn bob\x00\x80\x00\x01\x8b\xcf\xe5\xdd\x30",
        None,
    ),
    (
        "sessions",
        b"\x01snymn bob\x00\x80\x00\x01\x8b\xcf\xf3\x23\xa0",
        Some(br#"{"end_ms":1700000900000,"acc":1}"#),
    ),
];

/// alice at 0 s, bob at 30 s, alice at 303 s (more than the gap after her first: a session of its
/// own), then alice at 299 s, within the grace, which bridges her two sessions.
fn first_sessions() -> Vec<String> {
    [(0, "alice"), (30, "bob"), (303, "alice"), (299, "alice")]
        .iter()
        .map(|&(s, user)| message(T0 + s * 1000, user, "hi"))
        .collect()
}

/// alice at 420 s (her session), bob at 900 s (a new one: the others close).
fn second_sessions() -> Vec<String> {
    [(420, "alice"), (900, "bob")]
        .iter()
        .map(|&(s, user)| message(T0 + s * 1000, user, "hi"))
        .collect()
}

fn session_task() -> Task {
    Task::new(
        Arc::new(Topology::parse(SESSION_TOPOLOGY).unwrap()),
        0,
        T0 + 2_000_000,
    )
}

fn raw<'a>(writes: impl IntoIterator<Item = Write<'a>>) -> Vec<(String, Vec<u8>, Option<Vec<u8>>)> {
    let mut w: Vec<_> = writes
        .into_iter()
        .map(|(s, k, v)| (s.to_owned(), k.to_vec(), v.map(<[u8]>::to_vec)))
        .collect();
    w.sort();
    w
}

#[test]
fn session_state_is_written_in_its_pinned_layout_and_restores_to_the_same_sessions() {
    let mut task = session_task();
    let mut out = TaskOutput::default();
    pipe(&mut task, &first_sessions(), 0, T0 + 2_000_000, &mut out);
    let commit = task.commit(&mut out);
    let ours = commit
        .writes
        .iter()
        .map(|(s, k, v)| (s.as_str(), k.as_slice(), v.as_deref()));
    assert_eq!(raw(ours), raw(SESSIONS_COMMITTED.iter().copied()));
    assert!(out.outputs.is_empty(), "no session has closed yet");

    // Restored from the pinned entries (a delete is not an entry), the task goes on as one that
    // never stopped.
    let (generation, offset, watermark) =
        (commit.generation, commit.input_offset, commit.watermark_ms);
    let mut restored = session_task();
    for &(store, key, value) in SESSIONS_COMMITTED {
        if let Some(value) = value {
            restored.restore_entry(store, key, value).unwrap();
        }
    }
    restored.restore_position(generation, offset, watermark, T0 + 2_000_000);
    let mut results = Vec::new();
    for t in [&mut task, &mut restored] {
        let mut out = TaskOutput::default();
        pipe(t, &second_sessions(), offset, T0 + 2_000_000, &mut out);
        let next = t.commit(&mut out);
        let writes = next
            .writes
            .iter()
            .map(|(s, k, v)| (s.as_str(), k.as_slice(), v.as_deref()));
        assert_eq!(raw(writes), raw(SESSIONS_NEXT_COMMIT.iter().copied()));
        t.finish(&mut out);
        let values: Vec<Value> = out.outputs.iter().map(|o| o.value.clone()).collect();
        results.push(values);
    }
    let session = |user: &str, start: i64, end: i64, messages: u64| {
        serde_json::json!({"channel": "nymn", "user": user, "start": T0 + start * 1000,
            "end": T0 + end * 1000, "duration_s": end - start, "messages": messages, "final": true})
    };
    let expected = vec![
        session("bob", 30, 30, 1),
        session("alice", 0, 420, 4),
        session("bob", 900, 900, 1),
    ];
    assert_eq!(results, [expected.clone(), expected]);
}
