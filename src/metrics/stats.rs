//! RocketMQ's broker statistics over the last minute, hour and day (VIEW_BROKER_STATS_DATA, which
//! `mqadmin statsAll`, the dashboard and the Prometheus exporter read; a group's `consumeTps` in
//! GET_CONSUME_STATS and GET_BROKER_CONSUME_STATS), kept per shard from the counters it already has.
//!
//! Shaped after the Java broker's `StatsItem`, so the figures mean the same: each item (a stats name
//! and key, e.g. `TOPIC_PUT_NUMS` and a topic) keeps snapshots of its counters, `value` (messages or
//! bytes) and `times` (requests that added to it), in three rings: every 10 s (7 kept, a minute),
//! every 10 min (7 kept, an hour) and every hour (25 kept, a day). A figure is the difference between
//! two snapshots: `sum` = value grown, `tps` = sum per second, `avgpt` = sum per request.
//!
//! | window | first snapshot | last snapshot |
//! |---|---|---|
//! | minute | oldest of the 10 s ring | newest of the 10 s ring |
//! | hour | oldest of the 10 min ring | newest of the 10 s ring |
//! | day | oldest of the hourly ring | newest of the 10 s ring |
//!
//! Two differences from Java, both so that a new item is not reported as empty for up to an hour:
//! an item's rings all start with a zero snapshot one period before its first sample (Java does so
//! per ring, at that ring's first sampling), and the hour and day windows end at the newest 10 s
//! snapshot (Java's end at their own ring's newest, up to 10 min or 1 h old).
//!
//! Nothing here runs on the request path: the shard's counters ([`super::ShardMetrics`]) are read
//! once a second by `metrics_publish`, which calls [`BrokerStats::sample`]; series whose counter is
//! gone (a deleted topic) are dropped at the next sample. One series per counter (a topic's stored
//! messages, a (topic, group)'s pulled messages) holds requests, messages and bytes, so the NUMS
//! and SIZE items of a counter share it, and a sample allocates only for counters new to it.

use std::collections::{HashMap, VecDeque};

use super::Flow;

/// The stats names served (Java's `BrokerStatsManager` names). Others are answered "not exist".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatsName {
    /// Messages stored per topic (key: topic).
    TopicPutNums,
    /// Body bytes stored per topic (key: topic).
    TopicPutSize,
    /// Messages pulled per topic and group (key: `topic@group`).
    GroupGetNums,
    /// Bytes pulled per topic and group (key: `topic@group`).
    GroupGetSize,
    /// Messages stored by the broker (key: its cluster name).
    BrokerPutNums,
    /// Messages pulled from the broker (key: its cluster name).
    BrokerGetNums,
}

impl StatsName {
    pub fn parse(name: &str) -> Option<StatsName> {
        Some(match name {
            "TOPIC_PUT_NUMS" => StatsName::TopicPutNums,
            "TOPIC_PUT_SIZE" => StatsName::TopicPutSize,
            "GROUP_GET_NUMS" => StatsName::GroupGetNums,
            "GROUP_GET_SIZE" => StatsName::GroupGetSize,
            "BROKER_PUT_NUMS" => StatsName::BrokerPutNums,
            "BROKER_GET_NUMS" => StatsName::BrokerGetNums,
            _ => return None,
        })
    }
}

/// The sampling periods and how many snapshots each ring keeps.
pub const MINUTE_PERIOD_MS: i64 = 10_000;
pub const HOUR_PERIOD_MS: i64 = 600_000;
pub const DAY_PERIOD_MS: i64 = 3_600_000;
const MINUTE_KEPT: usize = 7;
const HOUR_KEPT: usize = 7;
const DAY_KEPT: usize = 25;

/// One window's figures (Java's `StatsSnapshot`, less what the wire does not carry).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Window {
    pub sum: u64,
    pub tps: f64,
    /// Requests that added to `sum` (the divisor of `avgpt`).
    pub times: u64,
}

impl Window {
    /// Sum per request, 0 without requests.
    pub fn avgpt(&self) -> f64 {
        if self.times == 0 {
            0.0
        } else {
            self.sum as f64 / self.times as f64
        }
    }

    /// Two shards' parts of one item: sums and rates add.
    pub fn plus(self, o: Window) -> Window {
        Window {
            sum: self.sum + o.sum,
            tps: self.tps + o.tps,
            times: self.times + o.times,
        }
    }
}

/// An item's figures over the last minute, hour and day.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ItemStats {
    pub minute: Window,
    pub hour: Window,
    pub day: Window,
}

impl ItemStats {
    pub fn plus(self, o: ItemStats) -> ItemStats {
        ItemStats {
            minute: self.minute.plus(o.minute),
            hour: self.hour.plus(o.hour),
            day: self.day.plus(o.day),
        }
    }
}

/// A counter at one time: requests, messages and bytes (the NUMS and SIZE items of one counter
/// share its snapshots).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Snap {
    at_ms: i64,
    times: u64,
    messages: u64,
    bytes: u64,
}

/// One counter's rings.
#[derive(Debug)]
struct Series {
    /// When the counter was last sampled: a series its counter no longer feeds is dropped.
    seen_ms: i64,
    minute: VecDeque<Snap>,
    hour: VecDeque<Snap>,
    day: VecDeque<Snap>,
}

impl Series {
    /// A new series: each ring starts with a zero snapshot one period before `now_ms`.
    fn new(now_ms: i64) -> Series {
        let zero = |period| {
            VecDeque::from([Snap {
                at_ms: now_ms - period,
                ..Snap::default()
            }])
        };
        Series {
            seen_ms: now_ms,
            minute: zero(MINUTE_PERIOD_MS),
            hour: zero(HOUR_PERIOD_MS),
            day: zero(DAY_PERIOD_MS),
        }
    }

    fn record(&mut self, s: Snap, hour: bool, day: bool) {
        self.seen_ms = s.at_ms;
        push(&mut self.minute, s, MINUTE_KEPT);
        if hour {
            push(&mut self.hour, s, HOUR_KEPT);
        }
        if day {
            push(&mut self.day, s, DAY_KEPT);
        }
    }

    /// See the table in the module comment; `value` picks messages or bytes.
    fn stats(&self, value: fn(&Snap) -> u64) -> ItemStats {
        let last = self.minute.back();
        ItemStats {
            minute: window(self.minute.front(), last, value),
            hour: window(self.hour.front(), last, value),
            day: window(self.day.front(), last, value),
        }
    }
}

fn push(ring: &mut VecDeque<Snap>, s: Snap, kept: usize) {
    ring.push_back(s);
    while ring.len() > kept {
        ring.pop_front();
    }
}

fn window(first: Option<&Snap>, last: Option<&Snap>, value: fn(&Snap) -> u64) -> Window {
    let (Some(f), Some(l)) = (first, last) else {
        return Window::default();
    };
    if l.at_ms <= f.at_ms {
        return Window::default();
    }
    let sum = value(l).saturating_sub(value(f));
    Window {
        sum,
        tps: sum as f64 * 1000.0 / (l.at_ms - f.at_ms) as f64,
        times: l.times.saturating_sub(f.times),
    }
}

/// The series of `key` in `map`, created at `now_ms` if missing (the key is copied only then).
fn series<'a>(map: &'a mut HashMap<String, Series>, key: &str, now_ms: i64) -> &'a mut Series {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), Series::new(now_ms));
    }
    map.get_mut(key).expect("inserted above")
}

/// One shard's series. See the module comment.
#[derive(Debug, Default)]
pub struct BrokerStats {
    /// By topic: messages stored.
    topics: HashMap<String, Series>,
    /// By topic, then group: messages pulled.
    groups: HashMap<String, HashMap<String, Series>>,
    /// The shard's totals stored and pulled (`None` before the first sample).
    broker_in: Option<Series>,
    broker_out: Option<Series>,
    /// When each ring was last sampled (0: never).
    minute_at: i64,
    hour_at: i64,
    day_at: i64,
}

/// The counters one sample reads: per topic (stored) and per (topic, group) (pulled), and the
/// shard's totals.
pub struct Counters<'a> {
    pub topics_in: &'a HashMap<String, Flow>,
    pub topics_out: &'a HashMap<String, HashMap<String, Flow>>,
    pub messages_in: u64,
    pub messages_out: u64,
}

impl BrokerStats {
    /// Snapshots the counters into every ring whose period has passed since its last sample.
    /// Called often (every second); does nothing until 10 s passed since the last sample. Only a
    /// counter seen for the first time allocates.
    pub fn sample(&mut self, now_ms: i64, c: &Counters) {
        if self.minute_at != 0 && now_ms - self.minute_at < MINUTE_PERIOD_MS {
            return;
        }
        self.minute_at = now_ms;
        let hour = self.hour_at == 0 || now_ms - self.hour_at >= HOUR_PERIOD_MS;
        let day = self.day_at == 0 || now_ms - self.day_at >= DAY_PERIOD_MS;
        if hour {
            self.hour_at = now_ms;
        }
        if day {
            self.day_at = now_ms;
        }
        let snap = |f: &Flow| Snap {
            at_ms: now_ms,
            times: f.requests,
            messages: f.messages,
            bytes: f.bytes,
        };
        for (t, f) in c.topics_in {
            series(&mut self.topics, t, now_ms).record(snap(f), hour, day);
        }
        for (t, gs) in c.topics_out {
            if !self.groups.contains_key(t.as_str()) {
                self.groups.insert(t.clone(), HashMap::new());
            }
            let by_group = self.groups.get_mut(t.as_str()).expect("inserted above");
            for (g, f) in gs {
                series(by_group, g, now_ms).record(snap(f), hour, day);
            }
        }
        // Java counts no requests for the broker items (their avgpt is 0).
        for (s, messages) in [
            (&mut self.broker_in, c.messages_in),
            (&mut self.broker_out, c.messages_out),
        ] {
            s.get_or_insert_with(|| Series::new(now_ms)).record(
                Snap {
                    at_ms: now_ms,
                    times: 0,
                    messages,
                    bytes: 0,
                },
                hour,
                day,
            );
        }
        self.topics.retain(|_, s| s.seen_ms == now_ms);
        self.groups.retain(|_, gs| {
            gs.retain(|_, s| s.seen_ms == now_ms);
            !gs.is_empty()
        });
    }

    /// The item's figures, or `None` when this shard has no such item (the broker items' key is
    /// not looked at: the caller checks the cluster name).
    pub fn item(&self, name: StatsName, key: &str) -> Option<ItemStats> {
        let messages: fn(&Snap) -> u64 = |s| s.messages;
        let bytes: fn(&Snap) -> u64 = |s| s.bytes;
        // `topic@group`: neither name can hold an `@` (RocketMQ's `[%|a-zA-Z0-9_-]+`).
        let group = || {
            let (topic, group) = key.split_once('@')?;
            self.groups.get(topic)?.get(group)
        };
        Some(match name {
            StatsName::TopicPutNums => self.topics.get(key)?.stats(messages),
            StatsName::TopicPutSize => self.topics.get(key)?.stats(bytes),
            StatsName::GroupGetNums => group()?.stats(messages),
            StatsName::GroupGetSize => group()?.stats(bytes),
            StatsName::BrokerPutNums => self.broker_in.as_ref()?.stats(messages),
            StatsName::BrokerGetNums => self.broker_out.as_ref()?.stats(messages),
        })
    }

    /// Messages a second `group` pulled from `topic` over the last minute (GROUP_GET_NUMS), as the
    /// Java broker reports a group's `consumeTps`.
    pub fn consume_tps(&self, topic: &str, group: &str) -> f64 {
        self.groups
            .get(topic)
            .and_then(|gs| gs.get(group))
            .map_or(0.0, |s| s.stats(|s| s.messages).minute.tps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counts {
        topics_in: HashMap<String, Flow>,
        topics_out: HashMap<String, HashMap<String, Flow>>,
        messages_in: u64,
        messages_out: u64,
    }

    impl Counts {
        fn new() -> Counts {
            Counts {
                topics_in: HashMap::new(),
                topics_out: HashMap::new(),
                messages_in: 0,
                messages_out: 0,
            }
        }
        fn put(&mut self, topic: &str, messages: u64, bytes: u64) {
            let f = self.topics_in.entry(topic.into()).or_default();
            f.messages += messages;
            f.bytes += bytes;
            f.requests += 1;
            self.messages_in += messages;
        }
        fn get(&mut self, topic: &str, group: &str, messages: u64) {
            let f = self
                .topics_out
                .entry(topic.into())
                .or_default()
                .entry(group.into())
                .or_default();
            f.messages += messages;
            f.bytes += messages * 100;
            f.requests += 1;
            self.messages_out += messages;
        }
        fn sample(&self, s: &mut BrokerStats, at: i64) {
            s.sample(
                at,
                &Counters {
                    topics_in: &self.topics_in,
                    topics_out: &self.topics_out,
                    messages_in: self.messages_in,
                    messages_out: self.messages_out,
                },
            );
        }
    }

    const T0: i64 = 1_000_000_000;

    #[test]
    fn the_windows_table_row_by_row() {
        let mut s = BrokerStats::default();
        let mut c = Counts::new();
        assert_eq!(s.item(StatsName::TopicPutNums, "T"), None, "no item yet");
        c.put("T", 10, 1000);
        c.put("T", 20, 2000);
        c.sample(&mut s, T0);
        // First sample: each ring starts one period earlier at zero.
        let st = s.item(StatsName::TopicPutNums, "T").unwrap();
        assert_eq!(st.minute.sum, 30);
        assert_eq!(
            st.minute.tps, 3.0,
            "30 over the 10 s since the zero snapshot"
        );
        assert_eq!(st.minute.times, 2);
        assert_eq!(st.minute.avgpt(), 15.0, "messages per send request");
        assert_eq!(st.hour.sum, 30);
        assert_eq!(st.hour.tps, 30.0 / 600.0);
        assert_eq!(st.day.sum, 30);
        assert_eq!(st.day.tps, 30.0 / 3600.0);
        let size = s.item(StatsName::TopicPutSize, "T").unwrap();
        assert_eq!((size.minute.sum, size.minute.times), (3000, 2));

        // Less than 10 s later: not sampled.
        c.put("T", 5, 500);
        c.sample(&mut s, T0 + MINUTE_PERIOD_MS - 1);
        assert_eq!(s.item(StatsName::TopicPutNums, "T").unwrap().minute.sum, 30);

        // Seven more minute samples, 60 messages each: the minute ring holds the last 60 s; the hour
        // and day windows still start at their zero snapshot and end at the newest sample.
        c.put("T", 55, 5500);
        for k in 1..=7 {
            c.sample(&mut s, T0 + k * MINUTE_PERIOD_MS);
            c.put("T", 60, 6000);
        }
        let st = s.item(StatsName::TopicPutNums, "T").unwrap();
        assert_eq!(st.minute.sum, 360, "6 intervals of 60 messages");
        assert_eq!(st.minute.tps, 6.0);
        assert_eq!(st.minute.times, 6);
        assert_eq!(st.hour.sum, 30 + 60 * 7, "everything since the item began");
        assert_eq!(
            st.hour.tps,
            450.0 * 1000.0 / (HOUR_PERIOD_MS + 7 * MINUTE_PERIOD_MS) as f64
        );
        assert_eq!(st.day.sum, 450);

        // Every 10 minutes the hour ring takes a snapshot; six of them later (7 kept) its zero
        // snapshot is gone and the hour window starts at T0's.
        for k in 1..=6 {
            c.sample(&mut s, T0 + k * HOUR_PERIOD_MS);
        }
        let st = s.item(StatsName::TopicPutNums, "T").unwrap();
        assert_eq!(st.hour.sum, 510 - 30, "from T0's snapshot to the newest");
        assert_eq!(
            st.minute.sum, 60,
            "the minute ring's oldest kept snapshot is T0+70s's (450), its newest has 510"
        );
        assert_eq!(st.day.sum, 510, "still since the day's zero snapshot");
    }

    #[test]
    fn group_items_give_the_consume_rate_and_broker_items_the_totals() {
        let mut s = BrokerStats::default();
        let mut c = Counts::new();
        c.sample(&mut s, T0);
        assert_eq!(s.consume_tps("T", "g"), 0.0);
        c.put("T", 100, 100);
        c.get("T", "g", 100);
        c.get("T", "h", 7);
        c.sample(&mut s, T0 + MINUTE_PERIOD_MS);
        assert_eq!(
            s.consume_tps("T", "g"),
            10.0,
            "100 in the item's first 10 s"
        );
        assert_eq!(s.consume_tps("T", "x"), 0.0);
        let g = s.item(StatsName::GroupGetNums, "T@g").unwrap();
        assert_eq!((g.minute.sum, g.minute.times), (100, 1));
        let gs = s.item(StatsName::GroupGetSize, "T@h").unwrap();
        assert_eq!(gs.minute.sum, 700);
        let bp = s.item(StatsName::BrokerPutNums, "").unwrap();
        assert_eq!(bp.minute.sum, 100, "the broker item existed at T0 with 0");
        assert_eq!(bp.minute.avgpt(), 0.0, "no request count, as in Java");
        assert_eq!(s.item(StatsName::BrokerGetNums, "").unwrap().day.sum, 107);
    }

    #[test]
    fn an_item_whose_counter_is_gone_is_dropped() {
        let mut s = BrokerStats::default();
        let mut c = Counts::new();
        c.put("T", 1, 1);
        c.sample(&mut s, T0);
        assert!(s.item(StatsName::TopicPutNums, "T").is_some());
        c.topics_in.clear();
        c.sample(&mut s, T0 + MINUTE_PERIOD_MS);
        assert_eq!(s.item(StatsName::TopicPutNums, "T"), None);
    }

    #[test]
    fn shards_parts_add_up() {
        let a = ItemStats {
            minute: Window {
                sum: 10,
                tps: 1.0,
                times: 2,
            },
            ..Default::default()
        };
        let b = ItemStats {
            minute: Window {
                sum: 30,
                tps: 3.0,
                times: 2,
            },
            ..Default::default()
        };
        let s = a.plus(b);
        assert_eq!(
            s.minute,
            Window {
                sum: 40,
                tps: 4.0,
                times: 4
            }
        );
        assert_eq!(s.minute.avgpt(), 10.0);
        assert_eq!(s.day, Window::default());
    }

    #[test]
    fn names_parse() {
        assert_eq!(
            StatsName::parse("TOPIC_PUT_NUMS"),
            Some(StatsName::TopicPutNums)
        );
        assert_eq!(
            StatsName::parse("GROUP_GET_SIZE"),
            Some(StatsName::GroupGetSize)
        );
        assert_eq!(StatsName::parse("SNDBCK_PUT_NUMS"), None);
    }
}
