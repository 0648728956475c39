//! The registry of clients learned from heartbeats: consumer groups (members, subscriptions, message
//! model) and producer groups, each client bound to the connection it last heartbeated on.
//!
//! Every shard holds a replica: a heartbeat, unregister or closed connection is applied on every shard
//! before it is acknowledged, so GET_CONSUMER_LIST_BY_GROUP answers the same on any shard and a pull
//! finds its group's subscription on the shard that owns the queue. Shard 0 alone sends
//! NOTIFY_CONSUMER_IDS_CHANGED when a group's membership or its set of topics changes.
//!
//! As in RocketMQ's ConsumerManager and ProducerManager, a group lives as long as it has a member:
//! the last one leaving (unregister, closed connection, expiry) takes the group, and with it the
//! subscriptions that the console lists and that hold retention's floor for a group that has not
//! committed yet. Committed offsets are not the registry's and stay.
//!
//! The registry is plain data with no I/O and no clock: callers pass `now_ms`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::filter::{self, Expression, ParseError};

use crate::message::java_hash;
use crate::net::ConnId;
use crate::remoting::body::{split_tags, ConsumeFromWhere, ConsumeType};

/// A client not heard from for this long is dropped (RocketMQ's channel expiry).
pub const CLIENT_EXPIRY_MS: i64 = 120_000;

/// Clustering (queues shared in a group) or broadcasting (every member gets everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageModel {
    Clustering,
    Broadcasting,
}

/// A consumer's filter for one topic: tags (matched by hash code on the broker, by string on clients),
/// or a SQL92 expression (matched on the stored message's properties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub topic: String,
    /// Empty = every message (`*`), and for SQL92 subscriptions.
    pub tags: Vec<String>,
    pub codes: BTreeSet<i32>,
    pub sub_version: i64,
    /// A SQL92 subscription: its expression, compiled once when the subscription was learnt.
    pub sql: Option<SqlFilter>,
}

/// A SQL92 subscription's expression: compiled (shared by every shard's replica), or why it was
/// refused (a pull with it answers SUBSCRIPTION_PARSE_FAILED with that reason).
#[derive(Debug, Clone)]
pub enum SqlFilter {
    Compiled(Arc<Expression>),
    Invalid { text: String, error: ParseError },
}

impl SqlFilter {
    /// Compiles `text`.
    pub fn compile(text: &str) -> SqlFilter {
        match filter::parse(text) {
            Ok(e) => SqlFilter::Compiled(Arc::new(e)),
            Err(error) => SqlFilter::Invalid {
                text: text.to_owned(),
                error,
            },
        }
    }

    /// The expression text.
    pub fn text(&self) -> &str {
        match self {
            SqlFilter::Compiled(e) => e.text(),
            SqlFilter::Invalid { text, .. } => text,
        }
    }
}

/// Equal when compiled from the same text (compilation is deterministic).
impl PartialEq for SqlFilter {
    fn eq(&self, other: &SqlFilter) -> bool {
        self.text() == other.text()
    }
}

impl Eq for SqlFilter {}

impl Subscription {
    /// Builds a TAG subscription from an expression like `TagA || TagB` (`*` or empty = everything).
    pub fn from_expression(topic: &str, expression: &str, sub_version: i64) -> Subscription {
        let tags = split_tags(expression);
        let codes = tags.iter().map(|t| java_hash(t)).collect();
        Subscription {
            topic: topic.into(),
            tags,
            codes,
            sub_version,
            sql: None,
        }
    }

    /// Builds a SQL92 subscription; `known` is a filter compiled earlier, reused when its text is
    /// the same (so a heartbeat every 30 s does not recompile).
    pub fn from_sql(
        topic: &str,
        expression: &str,
        sub_version: i64,
        known: Option<&SqlFilter>,
    ) -> Subscription {
        let sql = match known {
            Some(f) if f.text() == expression => f.clone(),
            _ => SqlFilter::compile(expression),
        };
        Subscription {
            topic: topic.into(),
            tags: Vec::new(),
            codes: BTreeSet::new(),
            sub_version,
            sql: Some(sql),
        }
    }

    pub fn matches_all(&self) -> bool {
        self.tags.is_empty()
    }

    /// Whether a consume-queue entry with this tag code may match (hash collisions over-deliver;
    /// clients re-filter by string).
    pub fn matches(&self, tags_code: i64) -> bool {
        self.matches_all() || self.codes.contains(&(tags_code as i32))
    }
}

/// One consumer group's part of a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatConsumerGroup {
    pub group: String,
    pub message_model: MessageModel,
    pub subscriptions: Vec<Subscription>,
}

/// A heartbeat, in the broker's terms (the wire form is parsed by `remoting::body`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub client_id: String,
    pub consumers: Vec<HeartbeatConsumerGroup>,
    pub producer_groups: Vec<String>,
}

#[derive(Debug, Clone)]
struct Member {
    conn: ConnId,
    last_seen_ms: i64,
}

#[derive(Debug, Clone, Default)]
struct ConsumerGroup {
    members: BTreeMap<String, Member>,
    subscriptions: HashMap<String, Subscription>,
    message_model: Option<MessageModel>,
}

/// What operators see of a client (GET_CONSUMER_CONNECTION_LIST): where it connects from, its
/// language and version (from its heartbeat's request header), and per consumer group how it
/// consumes (push or pull, where a new group starts), as the wire names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientMeta {
    pub addr: String,
    pub language: String,
    pub version: i32,
    /// (group, how it consumes, where a new group starts).
    pub groups: Vec<(String, ConsumeType, ConsumeFromWhere)>,
}

/// Applies the subscriptions of one group's heartbeat to the group's table, as RocketMQ's
/// `ConsumerGroupInfo.updateSubscription` does; returns whether the group's set of topics changed
/// (which, like a member joining, makes the group rebalance). The latest heartbeat of any member
/// names the group's topics:
///
/// | topic in the heartbeat | in the table | heartbeat's sub_version | result                    |
/// |------------------------|--------------|-------------------------|---------------------------|
/// | yes                    | no           | any                     | added; topics changed     |
/// | yes                    | yes          | newer                   | replaced (same topics)    |
/// | yes                    | yes          | same or older           | kept                      |
/// | no                     | yes          | -                       | removed; topics changed   |
///
/// A replacement is no change of topics: the 5.x client bumps its versions on every rebalance, and
/// a notice for each would make the group rebalance again.
fn update_subscriptions(table: &mut HashMap<String, Subscription>, subs: &[Subscription]) -> bool {
    let mut changed = false;
    for s in subs {
        match table.get_mut(&s.topic) {
            None => {
                table.insert(s.topic.clone(), s.clone());
                changed = true;
            }
            Some(old) if s.sub_version > old.sub_version => *old = s.clone(),
            Some(_) => {}
        }
    }
    let before = table.len();
    table.retain(|topic, _| subs.iter().any(|s| s.topic == *topic));
    changed || table.len() != before
}

/// See the module comment.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    consumers: HashMap<String, ConsumerGroup>,
    producers: HashMap<String, BTreeMap<String, Member>>,
    /// By client id; dropped with the client's last membership.
    meta: HashMap<String, ClientMeta>,
}

impl ClientRegistry {
    /// Applies a heartbeat; returns the consumer groups whose membership changed.
    pub fn heartbeat(&mut self, hb: &Heartbeat, conn: ConnId, now_ms: i64) -> Vec<String> {
        let mut changed = Vec::new();
        for c in &hb.consumers {
            let group = self.consumers.entry(c.group.clone()).or_default();
            group.message_model = Some(c.message_model);
            let topics_changed = update_subscriptions(&mut group.subscriptions, &c.subscriptions);
            let member = Member {
                conn,
                last_seen_ms: now_ms,
            };
            let joined = !matches!(
                group.members.insert(hb.client_id.clone(), member),
                Some(old) if old.conn == conn
            );
            if joined || topics_changed {
                changed.push(c.group.clone());
            }
        }
        for g in &hb.producer_groups {
            self.producers.entry(g.clone()).or_default().insert(
                hb.client_id.clone(),
                Member {
                    conn,
                    last_seen_ms: now_ms,
                },
            );
        }
        changed
    }

    /// Removes a client from the named groups (empty names are ignored); returns changed consumer groups.
    pub fn unregister(
        &mut self,
        client_id: &str,
        producer_group: &str,
        consumer_group: &str,
    ) -> Vec<String> {
        if let Some(p) = self.producers.get_mut(producer_group) {
            p.remove(client_id);
            if p.is_empty() {
                self.producers.remove(producer_group);
            }
        }
        let mut changed = Vec::new();
        if let Some(g) = self.consumers.get_mut(consumer_group) {
            if g.members.remove(client_id).is_some() {
                changed.push(consumer_group.to_string());
            }
            if g.members.is_empty() {
                self.consumers.remove(consumer_group);
            }
        }
        let live = self.live_clients();
        self.meta.retain(|id, _| live.contains(id));
        changed
    }

    fn remove_members_where(
        &mut self,
        mut gone: impl FnMut(&Member) -> bool,
    ) -> (Vec<String>, Vec<String>) {
        let mut changed = Vec::new();
        let mut clients = Vec::new();
        for (name, g) in self.consumers.iter_mut() {
            let before = g.members.len();
            g.members.retain(|id, m| {
                let keep = !gone(m);
                if !keep {
                    clients.push(id.clone());
                }
                keep
            });
            if g.members.len() != before {
                changed.push(name.clone());
            }
        }
        // A consumer group goes with its last member too (RocketMQ's ConsumerManager): its
        // subscriptions and message model with it; its committed offsets stay (`OffsetTable`).
        self.consumers.retain(|_, g| !g.members.is_empty());
        // A producer group goes with its last member, as in RocketMQ's ProducerManager: producers
        // often name their group per process, and each name would otherwise stay for good.
        self.producers.retain(|_, p| {
            p.retain(|id, m| {
                let keep = !gone(m);
                if !keep {
                    clients.push(id.clone());
                }
                keep
            });
            !p.is_empty()
        });
        clients.sort();
        clients.dedup();
        changed.sort();
        let live = self.live_clients();
        self.meta.retain(|id, _| live.contains(id));
        (changed, clients)
    }

    /// Drops every client bound to `conn`; returns (changed consumer groups, client ids removed).
    pub fn connection_closed(&mut self, conn: ConnId) -> (Vec<String>, Vec<String>) {
        self.remove_members_where(|m| m.conn == conn)
    }

    /// Drops clients silent for longer than [`CLIENT_EXPIRY_MS`].
    pub fn expire(&mut self, now_ms: i64) -> (Vec<String>, Vec<String>) {
        self.remove_members_where(|m| now_ms.saturating_sub(m.last_seen_ms) > CLIENT_EXPIRY_MS)
    }

    /// Client ids of a consumer group, sorted (every member must see the same list).
    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        self.consumers
            .get(group)
            .map(|g| g.members.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Connections of a consumer group's members.
    pub fn consumer_conns(&self, group: &str) -> Vec<ConnId> {
        self.consumers
            .get(group)
            .map(|g| g.members.values().map(|m| m.conn).collect())
            .unwrap_or_default()
    }

    /// Client ids of a producer group's members, in order.
    pub fn producer_ids(&self, group: &str) -> Vec<String> {
        self.producers
            .get(group)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every producer group's members: (group, client id, time of its last heartbeat), by group
    /// then client id (GET_ALL_PRODUCER_INFO).
    pub fn producer_members(&self) -> Vec<(String, String, i64)> {
        let mut v: Vec<_> = self
            .producers
            .iter()
            .flat_map(|(g, ms)| {
                ms.iter()
                    .map(move |(id, m)| (g.clone(), id.clone(), m.last_seen_ms))
            })
            .collect();
        v.sort();
        v
    }

    /// Connections of a producer group's members, in client-id order (transaction checks pick one).
    pub fn producer_conns(&self, group: &str) -> Vec<ConnId> {
        self.producers
            .get(group)
            .map(|p| p.values().map(|m| m.conn).collect())
            .unwrap_or_default()
    }

    /// The connection a client last heartbeated on as a producer, in any group (where a reply to
    /// its request goes, as RocketMQ's `ProducerManager.findChannel`).
    pub fn producer_conn(&self, client_id: &str) -> Option<ConnId> {
        self.producers
            .values()
            .filter_map(|members| members.get(client_id))
            .max_by_key(|m| m.last_seen_ms)
            .map(|m| m.conn)
    }

    /// The connection of one member of a consumer group.
    pub fn consumer_conn(&self, group: &str, client_id: &str) -> Option<ConnId> {
        Some(self.consumers.get(group)?.members.get(client_id)?.conn)
    }

    /// The group's latest subscription to `topic`, if it has one.
    pub fn subscription(&self, group: &str, topic: &str) -> Option<&Subscription> {
        self.consumers.get(group)?.subscriptions.get(topic)
    }

    pub fn message_model(&self, group: &str) -> Option<MessageModel> {
        self.consumers.get(group)?.message_model
    }

    pub fn has_consumer_group(&self, group: &str) -> bool {
        self.consumers.contains_key(group)
    }

    /// (group, topic) of every subscription of clustering groups (the groups whose offsets the broker
    /// keeps), sorted.
    pub fn clustering_subscriptions(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .consumers
            .iter()
            .filter(|(_, c)| c.message_model != Some(MessageModel::Broadcasting))
            .flat_map(|(g, c)| c.subscriptions.keys().map(move |t| (g.clone(), t.clone())))
            .collect();
        v.sort();
        v
    }

    /// Records what a client told about itself in its latest heartbeat.
    pub fn set_meta(&mut self, client_id: &str, meta: ClientMeta) {
        self.meta.insert(client_id.to_string(), meta);
    }

    pub fn meta(&self, client_id: &str) -> Option<&ClientMeta> {
        self.meta.get(client_id)
    }

    /// The topics the group's live members subscribe to.
    pub fn subscribed_topics(&self, group: &str) -> BTreeSet<String> {
        self.consumers
            .get(group)
            .map(|g| g.subscriptions.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The group's subscriptions, by topic.
    pub fn subscriptions(&self, group: &str) -> Vec<Subscription> {
        let mut v: Vec<Subscription> = self
            .consumers
            .get(group)
            .map(|g| g.subscriptions.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.topic.cmp(&b.topic));
        v
    }

    /// Groups with a live member subscribed to `topic`, sorted.
    pub fn groups_subscribed_to(&self, topic: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .consumers
            .iter()
            .filter(|(_, g)| !g.members.is_empty() && g.subscriptions.contains_key(topic))
            .map(|(n, _)| n.clone())
            .collect();
        v.sort();
        v
    }

    fn live_clients(&self) -> std::collections::HashSet<String> {
        self.consumers
            .values()
            .flat_map(|g| g.members.keys())
            .chain(self.producers.values().flat_map(|p| p.keys()))
            .cloned()
            .collect()
    }

    /// Per consumer group: (group, connected clients, subscribed topics, message model); and per
    /// producer group: (group, connected clients). Sorted by group.
    #[allow(clippy::type_complexity)]
    pub fn summary(
        &self,
    ) -> (
        Vec<(String, usize, Vec<String>, Option<MessageModel>)>,
        Vec<(String, usize)>,
    ) {
        let mut consumers: Vec<_> = self
            .consumers
            .iter()
            .map(|(g, c)| {
                let mut topics: Vec<String> = c.subscriptions.keys().cloned().collect();
                topics.sort();
                (g.clone(), c.members.len(), topics, c.message_model)
            })
            .collect();
        consumers.sort_by(|a, b| a.0.cmp(&b.0));
        let mut producers: Vec<_> = self
            .producers
            .iter()
            .map(|(g, m)| (g.clone(), m.len()))
            .collect();
        producers.sort();
        (consumers, producers)
    }

    pub fn consumer_groups(&self) -> Vec<String> {
        let mut v: Vec<_> = self.consumers.keys().cloned().collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::ShardId;

    fn conn(id: u64) -> ConnId {
        ConnId {
            shard: ShardId(0),
            id,
        }
    }

    fn hb(client: &str, group: &str, expr: &str) -> Heartbeat {
        Heartbeat {
            client_id: client.into(),
            consumers: vec![HeartbeatConsumerGroup {
                group: group.into(),
                message_model: MessageModel::Clustering,
                subscriptions: vec![Subscription::from_expression("T", expr, 1)],
            }],
            producer_groups: vec!["pg".into()],
        }
    }

    #[test]
    fn meta_and_subscriptions_for_operators_follow_membership() {
        let mut r = ClientRegistry::default();
        let meta = ClientMeta {
            addr: "127.0.0.1:5".into(),
            language: "JAVA".into(),
            version: 401,
            groups: vec![(
                "g".into(),
                ConsumeType::ConsumePassively,
                ConsumeFromWhere::ConsumeFromFirstOffset,
            )],
        };
        r.set_meta("a", meta.clone());
        r.heartbeat(&hb("a", "g", "TagA || TagB"), conn(1), 0);
        assert_eq!(r.meta("a"), Some(&meta));
        assert_eq!(r.subscriptions("g")[0].tags, vec!["TagA", "TagB"]);
        assert_eq!(r.groups_subscribed_to("T"), vec!["g"]);
        assert!(r.groups_subscribed_to("U").is_empty());
        r.connection_closed(conn(1));
        assert_eq!(
            r.meta("a"),
            None,
            "dropped with the client's last membership"
        );
        assert!(r.groups_subscribed_to("T").is_empty(), "no live member");
    }

    #[test]
    fn membership_changes_are_reported_once() {
        let mut r = ClientRegistry::default();
        assert_eq!(
            r.heartbeat(&hb("b", "g", "*"), conn(1), 0),
            vec!["g".to_string()]
        );
        assert!(
            r.heartbeat(&hb("b", "g", "*"), conn(1), 10).is_empty(),
            "same member, same conn"
        );
        assert_eq!(
            r.heartbeat(&hb("a", "g", "*"), conn(2), 10),
            vec!["g".to_string()]
        );
        assert_eq!(r.consumer_ids("g"), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(
            r.connection_closed(conn(2)),
            (vec!["g".to_string()], vec!["a".to_string()])
        );
        assert_eq!(r.consumer_ids("g"), vec!["b".to_string()]);
        assert_eq!(r.producer_conns("pg"), vec![conn(1)], "b's producer stays");
        assert_eq!(r.producer_ids("pg"), vec!["b".to_string()]);
        assert_eq!(
            r.producer_members(),
            vec![("pg".to_string(), "b".to_string(), 10)],
            "with b's last heartbeat"
        );
        assert!(r.producer_conns("nobody").is_empty());
        assert!(r.producer_ids("nobody").is_empty());
        assert_eq!(r.unregister("b", "", "g"), vec!["g".to_string()]);
        assert!(r.consumer_ids("g").is_empty());
    }

    #[test]
    fn a_producer_group_goes_with_its_last_member() {
        let mut r = ClientRegistry::default();
        for k in 0..1000u64 {
            let hb = Heartbeat {
                client_id: format!("c{k}"),
                consumers: vec![],
                producer_groups: vec![format!("pg-{k}"), "shared".into()],
            };
            r.heartbeat(&hb, conn(k), 0);
        }
        assert_eq!(r.summary().1.len(), 1001);
        for k in 0..999 {
            r.connection_closed(conn(k));
        }
        assert_eq!(
            r.summary().1,
            vec![("pg-999".to_string(), 1), ("shared".to_string(), 1)]
        );
        r.unregister("c999", "pg-999", "");
        assert_eq!(r.summary().1, vec![("shared".to_string(), 1)]);
        r.expire(CLIENT_EXPIRY_MS + 1);
        assert!(r.summary().1.is_empty());
    }

    #[test]
    fn silent_clients_expire() {
        let mut r = ClientRegistry::default();
        r.heartbeat(&hb("a", "g", "*"), conn(1), 0);
        r.heartbeat(&hb("b", "g", "*"), conn(2), 100_000);
        let (changed, gone) = r.expire(CLIENT_EXPIRY_MS + 1);
        assert_eq!(
            (changed, gone),
            (vec!["g".to_string()], vec!["a".to_string()])
        );
    }

    fn sub(topic: &str, version: i64) -> Subscription {
        Subscription::from_expression(topic, &format!("v{version}"), version)
    }

    /// One row per line of `update_subscriptions`'s table.
    #[test]
    fn subscriptions_follow_the_latest_heartbeat() {
        let table_of = |subs: &[Subscription]| -> HashMap<String, Subscription> {
            subs.iter().map(|s| (s.topic.clone(), s.clone())).collect()
        };
        // (table before, heartbeat, topics changed?, (topic, version) after)
        type Row<'a> = (
            &'a [Subscription],
            &'a [Subscription],
            bool,
            &'a [(&'a str, i64)],
        );
        let rows: [Row; 5] = [
            (&[], &[sub("A", 1)], true, &[("A", 1)]),
            (&[sub("A", 1)], &[sub("A", 2)], false, &[("A", 2)]),
            (&[sub("A", 2)], &[sub("A", 2)], false, &[("A", 2)]),
            (&[sub("A", 2)], &[sub("A", 1)], false, &[("A", 2)]),
            (
                &[sub("A", 1), sub("B", 1)],
                &[sub("A", 1)],
                true,
                &[("A", 1)],
            ),
        ];
        for (i, (before, hb, changed, after)) in rows.into_iter().enumerate() {
            let mut t = table_of(before);
            assert_eq!(update_subscriptions(&mut t, hb), changed, "row {i}");
            let mut got: Vec<(&str, i64)> = t
                .values()
                .map(|s| (s.topic.as_str(), s.sub_version))
                .collect();
            got.sort();
            assert_eq!(got, after, "row {i}");
            for s in t.values() {
                assert_eq!(s.tags, vec![format!("v{}", s.sub_version)], "row {i}");
            }
        }
    }

    #[test]
    fn a_topic_left_out_of_a_heartbeat_is_unsubscribed_and_the_group_told() {
        let mut r = ClientRegistry::default();
        let two = Heartbeat {
            client_id: "a".into(),
            consumers: vec![HeartbeatConsumerGroup {
                group: "g".into(),
                message_model: MessageModel::Clustering,
                subscriptions: vec![sub("A", 1), sub("B", 1)],
            }],
            producer_groups: vec![],
        };
        let mut one = two.clone();
        one.consumers[0].subscriptions.truncate(1);
        r.heartbeat(&two, conn(1), 0);
        assert_eq!(r.groups_subscribed_to("B"), vec!["g"]);
        assert_eq!(r.heartbeat(&one, conn(1), 10), vec!["g".to_string()]);
        assert!(r.groups_subscribed_to("B").is_empty());
        assert_eq!(
            r.clustering_subscriptions(),
            vec![("g".to_string(), "A".to_string())],
            "B's retention floor is no longer held for g"
        );
        assert!(r.heartbeat(&one, conn(1), 20).is_empty(), "no change");
    }

    #[test]
    fn a_consumer_group_goes_with_its_last_member() {
        // How the last member leaves: unregister, connection closed, expiry.
        type Leave = fn(&mut ClientRegistry) -> Vec<String>;
        let leave: [(&str, Leave); 3] = [
            ("unregister", |r| r.unregister("b", "", "g")),
            ("connection closed", |r| r.connection_closed(conn(2)).0),
            ("expiry", |r| r.expire(CLIENT_EXPIRY_MS + 20).0),
        ];
        for (how, leave) in leave {
            let mut r = ClientRegistry::default();
            let mut bcast = hb("a", "g", "*");
            bcast.consumers[0].message_model = MessageModel::Broadcasting;
            bcast.producer_groups.clear();
            r.heartbeat(&bcast, conn(1), 0);
            let mut b = hb("b", "g", "TagA");
            b.producer_groups.clear();
            r.heartbeat(&b, conn(2), 10);
            r.set_meta("b", ClientMeta::default());
            r.connection_closed(conn(1));
            assert!(r.has_consumer_group("g"), "{how}: b is still in g");
            assert_eq!(leave(&mut r), vec!["g".to_string()], "{how}");
            assert!(!r.has_consumer_group("g"), "{how}");
            assert!(r.subscription("g", "T").is_none(), "{how}");
            assert_eq!(r.message_model("g"), None, "{how}");
            assert!(r.clustering_subscriptions().is_empty(), "{how}");
            assert!(r.summary().0.is_empty(), "{how}");
            assert!(r.consumer_groups().is_empty(), "{how}");
            assert_eq!(r.meta("b"), None, "{how}");
            // Back with a new subscription: nothing of the old group is left over.
            r.heartbeat(&hb("c", "g", "TagB"), conn(3), 30);
            assert_eq!(r.subscriptions("g")[0].tags, vec!["TagB"], "{how}");
            assert_eq!(
                r.message_model("g"),
                Some(MessageModel::Clustering),
                "{how}"
            );
        }
    }

    #[test]
    fn tag_subscriptions() {
        let s = Subscription::from_expression("T", "TagA || TagC", 0);
        assert_eq!(s.tags, vec!["TagA".to_string(), "TagC".to_string()]);
        assert!(s.matches(2598919), "TagA's Java hash");
        assert!(
            !s.matches(0),
            "untagged messages are not delivered to tag subscriptions"
        );
        assert!(Subscription::from_expression("T", "*", 0).matches(12345));
        assert!(Subscription::from_expression("T", "", 0).matches_all());
    }
}
