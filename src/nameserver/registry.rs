//! The broker registry of a NameServer: which broker groups exist, which addresses serve each
//! group (id 0 the master, 1.. slaves), which queues each group serves per topic, and when each
//! address was last heard from. Routes, cluster info and topic lists are read from it.
//!
//! Plain data, no I/O, no clock: the caller passes `now_ms` (the process's `clock`, a `ManualClock`
//! in tests) and an opaque [`Channel`] naming the connection a registration came on. Inside a
//! `bolide serve` process every shard holds a replica, changed by the same operations in the same
//! order (broker/control.rs); the standalone `bolide namesrv` holds one.
//!
//! Registration, after Java's `RouteInfoManager.registerBroker` (remoting-protocol.md §21.1):
//!
//! | case | effect |
//! |---|---|
//! | the address is listed under another id of its group | that entry goes first (a slave became master, or back) |
//! | id 0 (master) | every topic of the body creates or replaces the group's queue data of that topic |
//! | id > 0 (slave) | its topics are not read: routes follow the master's table |
//! | slave whose group has a live master | the answer names the master's address and HA address |
//! | any | the address's liveness entry is replaced: now, its timeout (`heartbeatTimeoutMillis`, else [`BROKER_EXPIRY_MS`]), its channel |
//!
//! Topics are only added or replaced by a registration, never removed (DELETE_TOPIC_IN_NAMESRV,
//! [`Registry::delete_topic`], removes them): a 5.x Java broker registers
//! only the changed topics when one is created (`registerIncrementBrokerData`), so a body is not the
//! whole table (Java removes them only with `deleteTopicWithBrokerRegistration`, off by default).
//! Java refuses the first registration of an address whose body holds exactly one topic (its guard
//! against such an increment arriving first); we accept it: a broker whose table holds one topic
//! would otherwise never get in, and its next full registration (30 s) completes the table anyway.
//!
//! Other brokers' notices: QUERY_DATA_VERSION (a Java broker with `forceRegister=false` asks it
//! before each periodic registration, and registers only when the versions differ) and
//! BROKER_HEARTBEAT (5.x `enableSlaveActingMaster`) renew an address's liveness without a
//! registration ([`Registry::touch`]); REGISTER_TOPIC_IN_NAMESRV adds one topic's queue data
//! ([`Registry::register_topic`]).
//!
//! Removal (UNREGISTER_BROKER, expiry after the timeout, the registering connection closing):
//! the address leaves its group; a group left empty leaves its cluster and drops its queue data
//! from every topic, and a topic left with no queue data disappears. A group that keeps a slave
//! keeps its queue data, so consumers can still read from the slave.
//!
//! Write permission (WIPE_WRITE_PERM_OF_BROKER 205, ADD_WRITE_PERM_OF_BROKER 327, mqadmin
//! `wipeWritePerm` / `addWritePerm`, used to drain a broker before taking it offline): a wiped group's
//! queue data is routed without the write bit, so producers stop sending to it while consumers go on
//! reading. The wipe holds until it is added back or the group leaves the registry (its last address
//! gone, as after a restart). Java instead rewrites the stored perms: its add makes every topic of
//! the group read-write (read-only topics too), and the group's next registration with a changed
//! data version (any topic change on that broker) restores them, ending the wipe unasked; here the
//! registered perms are kept and only masked.
//!
//! Not here yet: acting masters (5.x `enableActingMaster`), state-version conflicts between two
//! addresses claiming one id (epochs come with failover, issue #13), filter servers, static topics.

use std::collections::{BTreeMap, BTreeSet};

use crate::remoting::body::{
    BrokerData, ClusterInfo, DataVersion, QueueData, TopicConfig, TopicRouteData,
};

/// A broker not heard from for this long is dropped (Java `BROKER_CHANNEL_EXPIRED_TIME`).
pub const BROKER_EXPIRY_MS: i64 = 120_000;

/// The connection a registration arrived on, as the caller numbers connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel(pub u64);

/// One REGISTER_BROKER, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub cluster: String,
    pub broker_name: String,
    pub broker_addr: String,
    pub broker_id: i64,
    pub ha_server_addr: String,
    /// `heartbeatTimeoutMillis`; `None`: [`BROKER_EXPIRY_MS`].
    pub timeout_ms: Option<i64>,
    pub data_version: DataVersion,
    pub topics: BTreeMap<String, TopicConfig>,
}

/// What a registration answers: for a slave, its master (when the master is live).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registered {
    pub master_addr: Option<String>,
    pub master_ha_server_addr: Option<String>,
}

/// A broker address that left the registry, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub cluster: String,
    pub broker_name: String,
    pub broker_addr: String,
    pub broker_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Live {
    broker_name: String,
    broker_id: i64,
    last_update_ms: i64,
    timeout_ms: i64,
    data_version: DataVersion,
    ha_server_addr: String,
    channel: Option<Channel>,
}

/// The registry. See the module comment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    /// cluster -> broker names.
    clusters: BTreeMap<String, BTreeSet<String>>,
    /// broker name -> its group (cluster, name, id -> address).
    brokers: BTreeMap<String, BrokerData>,
    /// topic -> broker name -> queues that group serves.
    topics: BTreeMap<String, BTreeMap<String, QueueData>>,
    /// (cluster, address) -> when it was last heard from.
    live: BTreeMap<(String, String), Live>,
    /// Groups whose write permission was wiped (see the module comment).
    write_wiped: BTreeSet<String>,
}

/// A group's queue data of a topic, from its config.
pub(crate) fn queue_data(broker_name: &str, t: &TopicConfig) -> QueueData {
    QueueData {
        broker_name: broker_name.to_string(),
        read_queue_nums: t.read_queue_nums,
        write_queue_nums: t.write_queue_nums,
        perm: t.perm,
        topic_sys_flag: t.topic_sys_flag,
    }
}

impl Registry {
    /// No broker registered (the in-process NameServer of a lone broker).
    pub fn is_empty(&self) -> bool {
        self.brokers.is_empty()
    }

    /// Applies one registration at `now_ms`. See the module comment's table.
    pub fn register(
        &mut self,
        r: &Registration,
        channel: Option<Channel>,
        now_ms: i64,
    ) -> Registered {
        self.clusters
            .entry(r.cluster.clone())
            .or_default()
            .insert(r.broker_name.clone());
        let group = self
            .brokers
            .entry(r.broker_name.clone())
            .or_insert_with(|| BrokerData {
                cluster: r.cluster.clone(),
                broker_name: r.broker_name.clone(),
                broker_addrs: BTreeMap::new(),
            });
        group.cluster = r.cluster.clone();
        group
            .broker_addrs
            .retain(|id, addr| *id == r.broker_id || *addr != r.broker_addr);
        group
            .broker_addrs
            .insert(r.broker_id, r.broker_addr.clone());
        let master_addr = group.master_addr().map(str::to_string);
        if r.broker_id == 0 {
            for t in r.topics.values() {
                self.topics
                    .entry(t.topic_name.clone())
                    .or_default()
                    .insert(r.broker_name.clone(), queue_data(&r.broker_name, t));
            }
        }
        self.live.insert(
            (r.cluster.clone(), r.broker_addr.clone()),
            Live {
                broker_name: r.broker_name.clone(),
                broker_id: r.broker_id,
                last_update_ms: now_ms,
                timeout_ms: r.timeout_ms.unwrap_or(BROKER_EXPIRY_MS),
                data_version: r.data_version,
                ha_server_addr: r.ha_server_addr.clone(),
                channel,
            },
        );
        if r.broker_id == 0 {
            return Registered::default();
        }
        let master = master_addr.and_then(|addr| {
            let live = self.live.get(&(r.cluster.clone(), addr.clone()))?;
            Some((addr, live.ha_server_addr.clone()))
        });
        Registered {
            master_addr: master.as_ref().map(|m| m.0.clone()),
            master_ha_server_addr: master.map(|m| m.1),
        }
    }

    /// QUERY_DATA_VERSION, BROKER_HEARTBEAT: the address was heard from at `now_ms` (Java's
    /// `updateBrokerInfoUpdateTimestamp`); an address not registered stays unknown. Whether it was.
    pub fn touch(&mut self, cluster: &str, addr: &str, now_ms: i64) -> bool {
        match self.live.get_mut(&(cluster.to_string(), addr.to_string())) {
            Some(l) => {
                l.last_update_ms = now_ms;
                true
            }
            None => false,
        }
    }

    /// REGISTER_TOPIC_IN_NAMESRV (a 5.x Java broker with `enableSingleTopicRegister` announces a
    /// topic it created): each group's queue data of `topic` is created or replaced. As Java, all
    /// or nothing: a queue data naming a group not registered drops the whole request. Whether it
    /// was applied.
    pub fn register_topic(&mut self, topic: &str, queues: &[QueueData]) -> bool {
        if queues.is_empty()
            || queues
                .iter()
                .any(|q| !self.brokers.contains_key(&q.broker_name))
        {
            return false;
        }
        let entry = self.topics.entry(topic.to_string()).or_default();
        for q in queues {
            entry.insert(q.broker_name.clone(), q.clone());
        }
        true
    }

    /// UNREGISTER_BROKER: removes `addr` from group `broker_name` (see the module comment).
    pub fn unregister(&mut self, cluster: &str, broker_name: &str, addr: &str) -> Option<Removed> {
        let live = self.live.remove(&(cluster.to_string(), addr.to_string()));
        let group = self.brokers.get_mut(broker_name)?;
        let id = group
            .broker_addrs
            .iter()
            .find(|(_, a)| a.as_str() == addr)
            .map(|(id, _)| *id)
            .or(live.map(|l| l.broker_id))?;
        group.broker_addrs.retain(|_, a| a != addr);
        let cluster_of_group = group.cluster.clone();
        if group.broker_addrs.is_empty() {
            self.brokers.remove(broker_name);
            self.write_wiped.remove(broker_name);
            if let Some(names) = self.clusters.get_mut(&cluster_of_group) {
                names.remove(broker_name);
                if names.is_empty() {
                    self.clusters.remove(&cluster_of_group);
                }
            }
            self.topics.retain(|_, by_broker| {
                by_broker.remove(broker_name);
                !by_broker.is_empty()
            });
        }
        Some(Removed {
            cluster: cluster.to_string(),
            broker_name: broker_name.to_string(),
            broker_addr: addr.to_string(),
            broker_id: id,
        })
    }

    /// DELETE_TOPIC_IN_NAMESRV: the topic leaves the routes of every group of `cluster` (of every
    /// group when `None`), as Java's `RouteInfoManager.deleteTopic`. Returns whether a route changed.
    /// A master that still holds the topic puts it back with its next registration.
    pub fn delete_topic(&mut self, topic: &str, cluster: Option<&str>) -> bool {
        let Some(by_broker) = self.topics.get_mut(topic) else {
            return false;
        };
        let before = by_broker.len();
        match cluster {
            None => by_broker.clear(),
            Some(c) => {
                let names = self.clusters.get(c);
                by_broker.retain(|name, _| !names.is_some_and(|n| n.contains(name)));
            }
        }
        let changed = by_broker.len() != before;
        if by_broker.is_empty() {
            self.topics.remove(topic);
        }
        changed
    }

    /// Drops every address not heard from for longer than its timeout (`last + timeout < now`).
    pub fn expire(&mut self, now_ms: i64) -> Vec<Removed> {
        let stale: Vec<(String, String, String)> = self
            .live
            .iter()
            .filter(|(_, l)| l.last_update_ms.saturating_add(l.timeout_ms) < now_ms)
            .map(|((c, a), l)| (c.clone(), l.broker_name.clone(), a.clone()))
            .collect();
        self.remove_all(stale)
    }

    /// Drops every address whose last registration came on `channel` (it closed).
    pub fn channel_closed(&mut self, channel: Channel) -> Vec<Removed> {
        let gone: Vec<(String, String, String)> = self
            .live
            .iter()
            .filter(|(_, l)| l.channel == Some(channel))
            .map(|((c, a), l)| (c.clone(), l.broker_name.clone(), a.clone()))
            .collect();
        self.remove_all(gone)
    }

    fn remove_all(&mut self, which: Vec<(String, String, String)>) -> Vec<Removed> {
        which
            .into_iter()
            .filter_map(|(c, name, addr)| self.unregister(&c, &name, &addr))
            .collect()
    }

    /// WIPE_WRITE_PERM_OF_BROKER (`writable` false) / ADD_WRITE_PERM_OF_BROKER (true): sets whether
    /// the group's queues are routed writable. Returns how many topics the group serves here (what
    /// Java answers as wipeTopicCount / addTopicCount, once merged with a local broker's topics:
    /// [`super::set_write_perm`]), by name.
    pub fn set_writable(&mut self, broker_name: &str, writable: bool) -> Vec<String> {
        if writable {
            self.write_wiped.remove(broker_name);
        } else {
            self.write_wiped.insert(broker_name.to_string());
        }
        self.topics
            .iter()
            .filter(|(_, by_broker)| by_broker.contains_key(broker_name))
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Whether the group's write permission is wiped.
    pub fn write_wiped(&self, broker_name: &str) -> bool {
        self.write_wiped.contains(broker_name)
    }

    /// `q` as routed: without the write bit when its group's write permission is wiped.
    pub fn routed(&self, mut q: QueueData) -> QueueData {
        if self.write_wiped(&q.broker_name) {
            q.perm &= !crate::remoting::body::perm::WRITE;
        }
        q
    }

    /// The topic's route: every group serving it, with all of its addresses. `None`: no group does.
    pub fn route(&self, topic: &str) -> Option<TopicRouteData> {
        let by_broker = self.topics.get(topic)?;
        let broker_datas: Vec<BrokerData> = by_broker
            .keys()
            .filter_map(|name| self.brokers.get(name).cloned())
            .collect();
        if broker_datas.is_empty() {
            return None;
        }
        Some(TopicRouteData {
            broker_datas,
            queue_datas: by_broker.values().map(|q| self.routed(q.clone())).collect(),
            order_topic_conf: None,
        })
    }

    /// GET_BROKER_CLUSTER_INFO: every group and every cluster.
    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            broker_addr_table: self.brokers.clone(),
            cluster_addr_table: self
                .clusters
                .iter()
                .map(|(c, names)| (c.clone(), names.iter().cloned().collect()))
                .collect(),
        }
    }

    /// Every topic some group serves.
    pub fn topic_names(&self) -> impl Iterator<Item = &str> {
        self.topics.keys().map(String::as_str)
    }

    /// The data version an address last registered with (`None`: not registered).
    pub fn data_version(&self, cluster: &str, addr: &str) -> Option<DataVersion> {
        self.live
            .get(&(cluster.to_string(), addr.to_string()))
            .map(|l| l.data_version)
    }

    /// A broker group, by name.
    pub fn broker(&self, broker_name: &str) -> Option<&BrokerData> {
        self.brokers.get(broker_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::remoting::body::perm;

    fn reg(name: &str, id: i64, addr: &str, topics: &[(&str, i32)]) -> Registration {
        Registration {
            cluster: "C".into(),
            broker_name: name.into(),
            broker_addr: addr.into(),
            broker_id: id,
            ha_server_addr: format!("{addr}-ha"),
            timeout_ms: None,
            data_version: DataVersion {
                counter: 1,
                timestamp: 1,
            },
            topics: topics
                .iter()
                .map(|(t, q)| (t.to_string(), TopicConfig::new(t, *q, perm::READ_WRITE)))
                .collect(),
        }
    }

    fn addrs(r: &Registry, name: &str) -> Vec<(i64, String)> {
        r.broker(name)
            .map(|b| {
                b.broker_addrs
                    .iter()
                    .map(|(i, a)| (*i, a.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn two_masters_serve_one_topic() {
        let mut r = Registry::default();
        r.register(&reg("a", 0, "h:1", &[("T", 4), ("OnlyA", 2)]), None, 0);
        r.register(&reg("b", 0, "h:2", &[("T", 8)]), None, 0);
        let route = r.route("T").unwrap();
        let names: Vec<_> = route
            .queue_datas
            .iter()
            .map(|q| (q.broker_name.as_str(), q.write_queue_nums))
            .collect();
        assert_eq!(names, vec![("a", 4), ("b", 8)]);
        assert_eq!(route.broker_datas.len(), 2);
        assert_eq!(r.route("OnlyA").unwrap().broker_datas[0].broker_name, "a");
        assert!(r.route("None").is_none());
        let info = r.cluster_info();
        assert_eq!(
            info.cluster_addr_table["C"],
            vec!["a".to_string(), "b".to_string()]
        );
        assert_eq!(r.topic_names().collect::<Vec<_>>(), vec!["OnlyA", "T"]);
    }

    /// Row: the same address under another id goes first (slave promoted to master).
    #[test]
    fn an_address_has_one_id_per_group() {
        let mut r = Registry::default();
        r.register(&reg("a", 0, "h:1", &[]), None, 0);
        r.register(&reg("a", 1, "h:2", &[]), None, 0);
        assert_eq!(addrs(&r, "a"), vec![(0, "h:1".into()), (1, "h:2".into())]);
        r.unregister("C", "a", "h:1");
        r.register(&reg("a", 0, "h:2", &[]), None, 0);
        assert_eq!(addrs(&r, "a"), vec![(0, "h:2".into())]);
    }

    /// Rows: a master's topics are read, a slave's are not; a slave learns its live master.
    #[test]
    fn slaves_do_not_change_queue_data_and_learn_their_master() {
        let mut r = Registry::default();
        let slave = reg("a", 1, "h:2", &[("FromSlave", 4)]);
        assert_eq!(
            r.register(&slave, None, 0),
            Registered::default(),
            "no master yet"
        );
        assert!(r.route("FromSlave").is_none());
        r.register(&reg("a", 0, "h:1", &[("T", 4)]), None, 0);
        let answer = r.register(&slave, None, 0);
        assert_eq!(answer.master_addr.as_deref(), Some("h:1"));
        assert_eq!(answer.master_ha_server_addr.as_deref(), Some("h:1-ha"));
        let route = r.route("T").unwrap();
        assert_eq!(
            route.broker_datas[0].broker_addrs.len(),
            2,
            "routes list the slave too"
        );
    }

    /// Row: registrations add and replace topics, never remove them (5.x sends increments).
    #[test]
    fn an_incremental_registration_keeps_the_other_topics() {
        let mut r = Registry::default();
        r.register(&reg("a", 0, "h:1", &[("T1", 4), ("T2", 4)]), None, 0);
        r.register(&reg("a", 0, "h:1", &[("T2", 2)]), None, 0);
        assert!(r.route("T1").is_some());
        assert_eq!(r.route("T2").unwrap().queue_datas[0].write_queue_nums, 2);
        let single = reg("b", 0, "h:9", &[("Solo", 1)]);
        r.register(&single, None, 0);
        assert!(
            r.route("Solo").is_some(),
            "a first registration with one topic is accepted"
        );
    }

    #[test]
    fn unregister_empties_groups_clusters_and_topics() {
        let mut r = Registry::default();
        r.register(&reg("a", 0, "h:1", &[("T", 4), ("OnlyA", 4)]), None, 0);
        r.register(&reg("a", 1, "h:3", &[]), None, 0);
        r.register(&reg("b", 0, "h:2", &[("T", 4)]), None, 0);
        // The master leaves, the slave stays: the group keeps its queue data (consumers read the slave).
        let gone = r.unregister("C", "a", "h:1").unwrap();
        assert_eq!((gone.broker_id, gone.broker_name.as_str()), (0, "a"));
        assert!(r.route("OnlyA").is_some());
        assert_eq!(addrs(&r, "a"), vec![(1, "h:3".into())]);
        r.unregister("C", "a", "h:3");
        assert!(
            r.route("OnlyA").is_none(),
            "topic with no group left disappears"
        );
        assert_eq!(r.route("T").unwrap().queue_datas.len(), 1);
        assert_eq!(
            r.cluster_info().cluster_addr_table["C"],
            vec!["b".to_string()]
        );
        r.unregister("C", "b", "h:2");
        assert!(r.is_empty());
        assert!(r.cluster_info().cluster_addr_table.is_empty());
        assert!(r.unregister("C", "b", "h:2").is_none(), "twice is a no-op");
    }

    #[test]
    fn silent_brokers_expire_after_120_s_or_their_own_timeout() {
        let clock = ManualClock::new(1_000_000);
        let mut r = Registry::default();
        r.register(&reg("a", 0, "h:1", &[("T", 4)]), None, clock.now_ms());
        let mut quick = reg("b", 0, "h:2", &[("T", 4)]);
        quick.timeout_ms = Some(10_000);
        r.register(&quick, None, clock.now_ms());
        clock.advance(10_000);
        assert!(
            r.expire(clock.now_ms()).is_empty(),
            "at the limit: still live"
        );
        clock.advance(1);
        let gone = r.expire(clock.now_ms());
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].broker_name, "b");
        clock.advance(60_000);
        r.register(&reg("a", 0, "h:1", &[]), None, clock.now_ms()); // a re-registers: its clock restarts
        clock.advance(BROKER_EXPIRY_MS);
        assert!(r.expire(clock.now_ms()).is_empty());
        clock.advance(1);
        assert_eq!(r.expire(clock.now_ms()).len(), 1);
        assert!(r.is_empty() && r.route("T").is_none());
    }

    #[test]
    fn a_closed_channel_drops_what_registered_on_it() {
        let mut r = Registry::default();
        r.register(&reg("a", 0, "h:1", &[("T", 4)]), Some(Channel(7)), 0);
        r.register(&reg("b", 0, "h:2", &[("T", 4)]), Some(Channel(8)), 0);
        assert!(r.channel_closed(Channel(9)).is_empty());
        // a re-registered on another connection: closing the old one drops nothing.
        r.register(&reg("a", 0, "h:1", &[("T", 4)]), Some(Channel(9)), 0);
        assert!(r.channel_closed(Channel(7)).is_empty());
        let gone = r.channel_closed(Channel(8));
        assert_eq!(gone.len(), 1);
        assert_eq!(r.route("T").unwrap().broker_datas.len(), 1);
    }
}
