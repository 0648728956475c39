//! The admin commands: each asks the NameServer and brokers through [`Conn`] and builds a [`Report`]
//! (JSON and text). Request headers are the standard wire format (`remoting::headers`); for codes
//! whose broker side lives elsewhere (subscription groups 200/207, reset offset 222, QUERY_MESSAGE
//! 12) the fields are written here as the Java admin client writes them.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

use serde_json::{json, Value};

use super::table::render;
use super::{AdminCommand, AdminError, Target};
use crate::client::{ClientError, Conn, PullStatus};
use crate::clock::now_ms;
use crate::message::properties::{keys, Properties};
use crate::message::{decode_offset_msg_id, decode_record, offset_msg_id, RecordView};
use crate::remoting::body::{
    parse_properties, perm, ClusterInfo, ConsumeStats, ConsumerConnection, GroupList, KvTable,
    MessageQueue, TopicList, TopicRouteData, TopicStatsTable,
};
use crate::remoting::codes::{request as rq, response as rs};
use crate::remoting::headers::{
    ConsumeStatsHeader, CreateTopicHeader, DeleteTopicFromNamesrvHeader, PullMessageHeader,
    TopicHeader, DEFAULT_TOPIC,
};
use crate::remoting::RemotingCommand;

/// A command's result: `json` for `--json`, `text` (tables) otherwise.
#[derive(Debug, Clone)]
pub struct Report {
    pub json: Value,
    pub text: String,
}

const RETRY_PREFIX: &str = "%RETRY%";
const DLQ_PREFIX: &str = "%DLQ%";
/// Producer group the resend of dead-letter messages is sent under.
const ADMIN_PRODUCER_GROUP: &str = "BOLIDE_ADMIN_PRODUCER";
/// Consumer group used to read dead-letter queues (it commits nothing).
const ADMIN_CONSUMER_GROUP: &str = "BOLIDE_ADMIN_CONSUMER";

struct Admin {
    namesrv_addr: String,
    timeout: Duration,
    /// ACL account every request is signed with, if any.
    credentials: Option<crate::acl::sign::Credentials>,
    conns: RefCell<HashMap<String, Rc<Conn>>>,
}

impl Admin {
    async fn conn(&self, addr: &str) -> Result<Rc<Conn>, AdminError> {
        if let Some(c) = self.conns.borrow().get(addr) {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let c = Conn::connect(addr, self.timeout).await?;
        c.set_credentials(self.credentials.clone());
        self.conns.borrow_mut().insert(addr.to_string(), c.clone());
        Ok(c)
    }

    fn close_all(&self) {
        for c in self.conns.borrow().values() {
            c.close();
        }
    }

    /// Sends `cmd` to `addr`; the response whatever its code.
    async fn call(&self, addr: &str, cmd: RemotingCommand) -> Result<RemotingCommand, AdminError> {
        Ok(self.conn(addr).await?.call(cmd).await?)
    }

    /// Sends `cmd` to `addr` and wants SUCCESS; `what` names the request in the error.
    async fn ok(
        &self,
        addr: &str,
        what: &str,
        cmd: RemotingCommand,
    ) -> Result<RemotingCommand, AdminError> {
        let resp = self.call(addr, cmd).await?;
        if resp.code == rs::SUCCESS {
            Ok(resp)
        } else {
            Err(failed(addr, what, &resp))
        }
    }

    /// Asks the NameServer for `code` (a request without header), wants SUCCESS, and reads the
    /// answer's body with `parse`; `what` names the request in errors.
    async fn ask_namesrv<T, E: std::fmt::Display>(
        &self,
        what: &str,
        code: i32,
        parse: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<T, AdminError> {
        let addr = self.namesrv_addr.clone();
        let resp = self.ok(&addr, what, RemotingCommand::request(code)).await?;
        parse(&resp.body).map_err(|e| malformed(&addr, what, e))
    }

    async fn cluster_info(&self) -> Result<ClusterInfo, AdminError> {
        self.ask_namesrv(
            "cluster info",
            rq::GET_BROKER_CLUSTER_INFO,
            ClusterInfo::parse,
        )
        .await
    }

    /// (cluster, broker name, master address) of every master, or of one cluster's.
    async fn masters(
        &self,
        cluster: Option<&str>,
    ) -> Result<Vec<(String, String, String)>, AdminError> {
        let info = self.cluster_info().await?;
        let mut out = Vec::new();
        for (c, names) in &info.cluster_addr_table {
            if cluster.is_some_and(|want| want != c) {
                continue;
            }
            for n in names {
                if let Some(addr) = info.broker_addr_table.get(n).and_then(|b| b.master_addr()) {
                    out.push((c.clone(), n.clone(), addr.to_string()));
                }
            }
        }
        if let Some(want) = cluster {
            if !info.cluster_addr_table.contains_key(want) {
                let known: Vec<&str> = info.cluster_addr_table.keys().map(String::as_str).collect();
                return Err(AdminError::UnknownCluster(
                    want.to_string(),
                    known.join(", "),
                ));
            }
        }
        Ok(out)
    }

    /// The broker addresses a `-b`/`-c` command goes to (every master when neither is given).
    async fn targets(&self, t: &Target) -> Result<Vec<String>, AdminError> {
        if let Some(b) = &t.broker {
            return Ok(vec![b.clone()]);
        }
        let m = self.masters(t.cluster.as_deref()).await?;
        if m.is_empty() {
            return Err(AdminError::NotFound(
                "the NameServer knows no broker".to_string(),
            ));
        }
        Ok(m.into_iter().map(|(_, _, a)| a).collect())
    }

    async fn route(&self, topic: &str) -> Result<Option<TopicRouteData>, AdminError> {
        let ns = self.conn(&self.namesrv_addr.clone()).await?;
        Ok(ns.get_route(topic).await?)
    }

    async fn topic_route(&self, topic: &str) -> Result<TopicRouteData, AdminError> {
        self.route(topic)
            .await?
            .ok_or_else(|| AdminError::UnknownTopic(topic.to_string()))
    }

    /// (broker name, master address) of a route's brokers that hold queues of it.
    fn route_brokers(route: &TopicRouteData) -> Vec<(String, String)> {
        route
            .broker_datas
            .iter()
            .filter(|b| {
                route
                    .queue_datas
                    .iter()
                    .any(|q| q.broker_name == b.broker_name)
            })
            .filter_map(|b| {
                b.master_addr()
                    .map(|a| (b.broker_name.clone(), a.to_string()))
            })
            .collect()
    }

    async fn group_brokers(&self, group: &str) -> Result<Vec<(String, String)>, AdminError> {
        match self.route(&format!("{RETRY_PREFIX}{group}")).await? {
            Some(r) => Ok(Self::route_brokers(&r)),
            None => Err(AdminError::UnknownGroup(group.to_string())),
        }
    }
}

fn failed(addr: &str, what: &str, resp: &RemotingCommand) -> AdminError {
    AdminError::Failed {
        what: what.to_string(),
        addr: addr.to_string(),
        reason: format!(
            "response code {} {}",
            resp.code,
            resp.remark.clone().unwrap_or_default()
        ),
    }
}

fn malformed(addr: &str, what: &str, e: impl std::fmt::Display) -> AdminError {
    AdminError::Malformed {
        what: what.to_string(),
        addr: addr.to_string(),
        reason: e.to_string(),
    }
}

/// Milliseconds as `yyyy-MM-dd HH:mm:ss.SSS` (UTC); `-` for 0.
pub fn fmt_time(ms: i64) -> String {
    if ms <= 0 {
        return "-".to_string();
    }
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// mqadmin's timestamp argument: milliseconds, `now`, or `yyyy-MM-dd#HH:mm:ss:SSS` (read as UTC).
pub fn parse_timestamp(s: &str) -> Result<i64, AdminError> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("now") {
        return Ok(now_ms());
    }
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || {
        AdminError::Usage(format!(
            "timestamp {s:?}: expected milliseconds, `now` or yyyy-MM-dd#HH:mm:ss:SSS"
        ))
    };
    let (date, time) = s.split_once('#').ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if d.len() != 3 || t.len() != 4 {
        return Err(bad());
    }
    Ok(days_from_civil(d[0], d[1], d[2]) * 86_400_000
        + t[0] * 3_600_000
        + t[1] * 60_000
        + t[2] * 1000
        + t[3])
}

/// One stored message as the tool shows it.
#[derive(Debug, Clone)]
struct Msg {
    offset_id: String,
    topic: String,
    queue_id: u32,
    queue_offset: u64,
    born_ms: i64,
    store_ms: i64,
    born_host: String,
    store_host: String,
    reconsume_times: i32,
    properties: Properties,
    body: Vec<u8>,
}

impl Msg {
    fn from_record(r: &RecordView<'_>) -> Msg {
        Msg {
            offset_id: offset_msg_id(r.store_host, r.physical_offset),
            topic: r.topic.to_string(),
            queue_id: r.queue_id,
            queue_offset: r.queue_offset,
            born_ms: r.born_timestamp_ms,
            store_ms: r.store_timestamp_ms,
            born_host: r.born_host.to_string(),
            store_host: r.store_host.to_string(),
            reconsume_times: r.reconsume_times,
            properties: Properties::parse(r.properties),
            body: r.body.to_vec(),
        }
    }

    fn prop(&self, k: &str) -> &str {
        self.properties.get(k).unwrap_or("")
    }

    fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn to_json(&self) -> Value {
        let props: BTreeMap<&str, &str> = self
            .properties
            .entries
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        json!({
            "offsetMsgId": self.offset_id,
            "msgId": self.prop(keys::UNIQ_KEY),
            "topic": self.topic,
            "queueId": self.queue_id,
            "queueOffset": self.queue_offset,
            "tags": self.prop(keys::TAGS),
            "keys": self.prop(keys::KEYS),
            "bornTimestamp": self.born_ms,
            "storeTimestamp": self.store_ms,
            "bornHost": self.born_host,
            "storeHost": self.store_host,
            "reconsumeTimes": self.reconsume_times,
            "properties": props,
            "body": self.body_text(),
        })
    }

    fn detail_text(&self) -> String {
        let rows = [
            ("OffsetID", self.offset_id.clone()),
            ("Topic", self.topic.clone()),
            ("Tags", self.prop(keys::TAGS).to_string()),
            ("Keys", self.prop(keys::KEYS).to_string()),
            ("Queue ID", self.queue_id.to_string()),
            ("Queue Offset", self.queue_offset.to_string()),
            ("Reconsume Times", self.reconsume_times.to_string()),
            ("Born Timestamp", fmt_time(self.born_ms)),
            ("Store Timestamp", fmt_time(self.store_ms)),
            ("Born Host", self.born_host.clone()),
            ("Store Host", self.store_host.clone()),
            ("Properties", format!("{:?}", self.properties.entries)),
            ("Message Body", self.body_text()),
        ];
        let mut s = String::new();
        for (k, v) in rows {
            s.push_str(&format!("{k:<20}{v}\n"));
        }
        s
    }
}

fn records(body: &[u8]) -> Vec<Msg> {
    let mut out = Vec::new();
    let mut buf = body;
    while !buf.is_empty() {
        match decode_record(buf, false) {
            Ok(r) => {
                out.push(Msg::from_record(&r));
                buf = &buf[(r.total_size as usize).min(buf.len())..];
            }
            Err(_) => break,
        }
    }
    out
}

/// Runs one command. Connections are closed before it returns.
pub async fn execute(
    namesrv: &str,
    timeout: Duration,
    credentials: Option<crate::acl::sign::Credentials>,
    command: AdminCommand,
) -> Result<Report, AdminError> {
    let admin = Admin {
        namesrv_addr: namesrv.to_string(),
        timeout,
        credentials,
        conns: RefCell::new(HashMap::new()),
    };
    let r = dispatch(&admin, command).await;
    admin.close_all();
    r
}

async fn dispatch(a: &Admin, command: AdminCommand) -> Result<Report, AdminError> {
    use AdminCommand as C;
    match command {
        C::UpdateTopic {
            topic,
            target,
            read_queues,
            write_queues,
            perm,
            order,
        } => update_topic(a, &topic, &target, read_queues, write_queues, perm, order).await,
        C::DeleteTopic { topic, cluster } => delete_topic(a, &topic, cluster.as_deref()).await,
        C::TopicList { cluster } => topic_list(a, cluster).await,
        C::TopicRoute { topic } => topic_route(a, &topic).await,
        C::TopicStatus { topic } => topic_status(a, &topic).await,
        C::UpdateSubGroup {
            group,
            target,
            consume_enable,
            consume_from_min,
            broadcast,
            retry_queues,
            retry_max_times,
        } => {
            let body = json!({
                "groupName": group,
                "consumeEnable": consume_enable,
                "consumeFromMinEnable": consume_from_min,
                "consumeBroadcastEnable": broadcast,
                "retryQueueNums": retry_queues,
                "retryMaxTimes": retry_max_times,
                "brokerId": 0,
                "whichBrokerWhenConsumeSlowly": 1,
                "notifyConsumerIdsChangedEnable": true,
            });
            on_targets(
                a,
                &target,
                &format!("update subscription group {group}"),
                || {
                    RemotingCommand::request(rq_ext::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
                        .with_body(body.to_string())
                },
                json!({"group": group, "config": body}),
            )
            .await
        }
        C::DeleteSubGroup {
            group,
            target,
            remove_offset,
        } => {
            let mut done = Vec::new();
            for addr in a.targets(&target).await? {
                let mut cmd = RemotingCommand::request(rq_ext::DELETE_SUBSCRIPTIONGROUP);
                cmd.set_ext("groupName", &group);
                cmd.set_ext("removeOffset", remove_offset);
                cmd.set_ext("cleanOffset", remove_offset);
                let resp = a.call(&addr, cmd).await?;
                if resp.code == rs::SUBSCRIPTION_GROUP_NOT_EXIST {
                    return Err(AdminError::UnknownGroup(group));
                }
                if resp.code != rs::SUCCESS {
                    return Err(failed(
                        &addr,
                        &format!("delete subscription group {group}"),
                        &resp,
                    ));
                }
                done.push(addr);
            }
            Ok(done_report(
                &format!("delete subscription group {group}"),
                &done,
                json!({"group": group}),
            ))
        }
        C::ConsumerProgress { group, topic } => match group {
            Some(g) => consumer_progress(a, &g, topic.as_deref()).await,
            None => all_groups_progress(a).await,
        },
        C::ConsumerConnection { group } => consumer_connection(a, &group).await,
        C::ConsumerStatus { group, client_id } => consumer_status(a, &group, client_id).await,
        C::QueryMsgById { msg_id, topic } => query_by_id(a, &msg_id, topic.as_deref()).await,
        C::QueryMsgByKey {
            topic,
            key,
            begin,
            end,
            max,
        } => {
            let msgs =
                query_message(a, &topic, &key, false, begin, end.unwrap_or(i64::MAX), max).await?;
            let rows: Vec<Vec<String>> = msgs
                .iter()
                .map(|m| {
                    vec![
                        m.prop(keys::UNIQ_KEY).to_string(),
                        m.offset_id.clone(),
                        m.queue_id.to_string(),
                        m.queue_offset.to_string(),
                        fmt_time(m.store_ms),
                    ]
                })
                .collect();
            Ok(Report {
                json: json!({"topic": topic, "key": key, "messages": msgs.iter().map(Msg::to_json).collect::<Vec<_>>()}),
                text: render(
                    &[
                        "#Message ID",
                        "#Offset ID",
                        "#QID",
                        "#Offset",
                        "#Store Time",
                    ],
                    &rows,
                ),
            })
        }
        C::QueryMsgByUniqueKey { msg_id, topic } => {
            let msgs = query_message(a, &topic, &msg_id, true, 0, i64::MAX, 32).await?;
            let m = msgs.into_iter().next().ok_or_else(|| {
                AdminError::NotFound(format!(
                    "no message with unique key {msg_id} in topic {topic}"
                ))
            })?;
            Ok(Report {
                json: m.to_json(),
                text: m.detail_text(),
            })
        }
        C::QueryMsgTraceById {
            msg_id,
            trace_topic,
        } => query_trace(a, &msg_id, &trace_topic).await,
        C::ResetOffsetByTime {
            group,
            topic,
            timestamp,
            force,
        } => reset_offset(a, &group, &topic, &timestamp, force).await,
        C::ClusterList => cluster_list(a).await,
        C::BrokerStatus { target } => {
            broker_pairs(
                a,
                &target,
                "broker runtime info",
                rq::GET_BROKER_RUNTIME_INFO,
                |addr, body| {
                    let kv = KvTable::parse(body)
                        .map_err(|e| malformed(addr, "broker runtime info", e))?;
                    Ok(kv.table.into_iter().collect())
                },
            )
            .await
        }
        C::GetBrokerConfig { target } => {
            broker_pairs(
                a,
                &target,
                "broker config",
                rq::GET_BROKER_CONFIG,
                |_, body| Ok(parse_properties(body)),
            )
            .await
        }
        C::UpdateBrokerConfig { key, value, target } => {
            on_targets(
                a,
                &target,
                &format!("update broker config {key}={value}"),
                || {
                    RemotingCommand::request(rq::UPDATE_BROKER_CONFIG)
                        .with_body(format!("{key}={value}\n"))
                },
                json!({"key": key, "value": value}),
            )
            .await
        }
        C::DlqList { group, max } => {
            let msgs = dlq_messages(a, &group, max).await?;
            let rows: Vec<Vec<String>> = msgs
                .iter()
                .map(|m| {
                    let mut body = m.body_text();
                    if body.chars().count() > 40 {
                        body = body.chars().take(40).collect::<String>() + "...";
                    }
                    vec![
                        m.prop(keys::UNIQ_KEY).to_string(),
                        m.offset_id.clone(),
                        m.prop(keys::ORIGIN_MESSAGE_ID).to_string(),
                        m.prop(keys::RETRY_TOPIC).to_string(),
                        m.reconsume_times.to_string(),
                        fmt_time(m.store_ms),
                        m.prop(keys::KEYS).to_string(),
                        body,
                    ]
                })
                .collect();
            Ok(Report {
                json: json!({"group": group, "topic": format!("{DLQ_PREFIX}{group}"),
                    "messages": msgs.iter().map(Msg::to_json).collect::<Vec<_>>()}),
                text: render(
                    &[
                        "#Message ID",
                        "#Offset ID",
                        "#Origin Msg ID",
                        "#Origin Topic",
                        "#Reconsume",
                        "#Store Time",
                        "#Keys",
                        "#Body",
                    ],
                    &rows,
                ),
            })
        }
        C::DlqResend {
            group,
            msg_ids,
            all,
            max,
        } => dlq_resend(a, &group, &msg_ids, all, max).await,
    }
}

/// Request codes of commands whose broker side is another module's (see the module comment).
mod rq_ext {
    pub const UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: i32 = 200;
    pub const DELETE_SUBSCRIPTIONGROUP: i32 = 207;
    pub const INVOKE_BROKER_TO_RESET_OFFSET: i32 = 222;
}

/// Sends the command `cmd` makes to every target broker, each of which must succeed; reports `what`
/// done at each, and `j` with the brokers added.
async fn on_targets(
    a: &Admin,
    target: &Target,
    what: &str,
    cmd: impl Fn() -> RemotingCommand,
    j: Value,
) -> Result<Report, AdminError> {
    let mut done = Vec::new();
    for addr in a.targets(target).await? {
        a.ok(&addr, what, cmd()).await?;
        done.push(addr);
    }
    Ok(done_report(what, &done, j))
}

/// Asks every target broker for `code` (a request without header) and lists the key/value pairs
/// `parse` reads from each answer: one (broker, key, value) table per broker, and a JSON object of
/// strings per broker.
async fn broker_pairs(
    a: &Admin,
    target: &Target,
    what: &str,
    code: i32,
    parse: impl Fn(&str, &[u8]) -> Result<Vec<(String, String)>, AdminError>,
) -> Result<Report, AdminError> {
    let mut all = serde_json::Map::new();
    let mut text = String::new();
    for addr in a.targets(target).await? {
        let resp = a.ok(&addr, what, RemotingCommand::request(code)).await?;
        let kv = parse(&addr, &resp.body)?;
        let rows: Vec<Vec<String>> = kv
            .iter()
            .map(|(k, v)| vec![addr.clone(), k.clone(), v.clone()])
            .collect();
        text.push_str(&render(&["#Broker", "#Key", "#Value"], &rows));
        all.insert(
            addr,
            Value::Object(kv.into_iter().map(|(k, v)| (k, Value::String(v))).collect()),
        );
    }
    Ok(Report {
        json: Value::Object(all),
        text,
    })
}

fn done_report(what: &str, addrs: &[String], mut j: Value) -> Report {
    let mut text = String::new();
    for a in addrs {
        text.push_str(&format!("{what}: success at {a}\n"));
    }
    j["brokers"] = json!(addrs);
    Report { json: j, text }
}

async fn update_topic(
    a: &Admin,
    topic: &str,
    target: &Target,
    read: i32,
    write: i32,
    perm: i32,
    order: bool,
) -> Result<Report, AdminError> {
    if target.broker.is_none() && target.cluster.is_none() {
        return Err(AdminError::Usage(
            "updateTopic needs -b BROKER_ADDR or -c CLUSTER".into(),
        ));
    }
    let h = CreateTopicHeader {
        topic: topic.to_string(),
        default_topic: DEFAULT_TOPIC.to_string(),
        read_queue_nums: read,
        write_queue_nums: write,
        perm,
        topic_filter_type: "SINGLE_TAG".to_string(),
        topic_sys_flag: 0,
        order,
    };
    on_targets(
        a,
        target,
        &format!("create topic {topic}"),
        || {
            let mut cmd = RemotingCommand::request(rq::UPDATE_AND_CREATE_TOPIC);
            h.write_to(&mut cmd);
            cmd
        },
        json!({"topic": topic, "readQueueNums": read, "writeQueueNums": write, "perm": perm, "order": order}),
    )
    .await
}

async fn delete_topic(a: &Admin, topic: &str, cluster: Option<&str>) -> Result<Report, AdminError> {
    a.topic_route(topic).await?;
    let masters = a.masters(cluster).await?;
    let mut done = Vec::new();
    for (_, _, addr) in &masters {
        let mut cmd = RemotingCommand::request(rq::DELETE_TOPIC_IN_BROKER);
        TopicHeader {
            topic: topic.to_string(),
        }
        .write_to(&mut cmd);
        a.ok(addr, &format!("delete topic {topic}"), cmd).await?;
        done.push(addr.clone());
    }
    let mut cmd = RemotingCommand::request(rq::DELETE_TOPIC_IN_NAMESRV);
    DeleteTopicFromNamesrvHeader {
        topic: topic.to_string(),
        cluster_name: cluster.map(str::to_string),
    }
    .write_to(&mut cmd);
    let ns = a.namesrv_addr.clone();
    a.ok(
        &ns,
        &format!("delete topic {topic} from the NameServer"),
        cmd,
    )
    .await?;
    done.push(ns);
    Ok(done_report(
        &format!("delete topic {topic}"),
        &done,
        json!({"topic": topic}),
    ))
}

/// Every topic the NameServer knows.
async fn all_topics(a: &Admin) -> Result<Vec<String>, AdminError> {
    let list = a
        .ask_namesrv(
            "topic list",
            rq::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
            TopicList::parse,
        )
        .await?;
    Ok(list.topic_list)
}

async fn topic_list(a: &Admin, with_cluster: bool) -> Result<Report, AdminError> {
    let mut topics = all_topics(a).await?;
    topics.sort();
    if !with_cluster {
        return Ok(Report {
            text: topics.iter().map(|t| format!("{t}\n")).collect(),
            json: json!(topics),
        });
    }
    let mut rows = Vec::new();
    let mut out = Vec::new();
    for t in &topics {
        let Some(route) = a.route(t).await? else {
            continue;
        };
        let cluster = route
            .broker_datas
            .first()
            .map(|b| b.cluster.clone())
            .unwrap_or_default();
        let mut groups: Vec<String> = Vec::new();
        for (_, addr) in Admin::route_brokers(&route) {
            let mut cmd = RemotingCommand::request(rq::QUERY_TOPIC_CONSUME_BY_WHO);
            TopicHeader { topic: t.clone() }.write_to(&mut cmd);
            if let Ok(resp) = a.ok(&addr, "topic consumers", cmd).await {
                if let Ok(g) = GroupList::parse(&resp.body) {
                    groups.extend(g.group_list);
                }
            }
        }
        groups.sort();
        groups.dedup();
        if groups.is_empty() {
            rows.push(vec![cluster.clone(), t.clone(), String::new()]);
        }
        for g in &groups {
            rows.push(vec![cluster.clone(), t.clone(), g.clone()]);
        }
        out.push(json!({"cluster": cluster, "topic": t, "consumerGroups": groups}));
    }
    Ok(Report {
        json: json!(out),
        text: render(&["#Cluster Name", "#Topic", "#Consumer Group"], &rows),
    })
}

fn route_json(route: &TopicRouteData) -> Value {
    json!({
        "brokerDatas": route.broker_datas.iter().map(|b| json!({
            "cluster": b.cluster, "brokerName": b.broker_name,
            "brokerAddrs": b.broker_addrs.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "queueDatas": route.queue_datas.iter().map(|q| json!({
            "brokerName": q.broker_name, "readQueueNums": q.read_queue_nums,
            "writeQueueNums": q.write_queue_nums, "perm": q.perm, "topicSysFlag": q.topic_sys_flag,
        })).collect::<Vec<_>>(),
    })
}

fn perm_text(p: i32) -> String {
    let mut s = String::new();
    s.push(if p & perm::READ != 0 { 'R' } else { '-' });
    s.push(if p & perm::WRITE != 0 { 'W' } else { '-' });
    s
}

async fn topic_route(a: &Admin, topic: &str) -> Result<Report, AdminError> {
    let route = a.topic_route(topic).await?;
    let rows: Vec<Vec<String>> = route
        .queue_datas
        .iter()
        .map(|q| {
            let b = route
                .broker_datas
                .iter()
                .find(|b| b.broker_name == q.broker_name);
            vec![
                b.map(|b| b.cluster.clone()).unwrap_or_default(),
                q.broker_name.clone(),
                b.and_then(|b| b.master_addr()).unwrap_or("").to_string(),
                q.read_queue_nums.to_string(),
                q.write_queue_nums.to_string(),
                format!("{} ({})", q.perm, perm_text(q.perm)),
            ]
        })
        .collect();
    Ok(Report {
        json: route_json(&route),
        text: render(
            &[
                "#Cluster",
                "#Broker Name",
                "#Master Addr",
                "#Read Queues",
                "#Write Queues",
                "#Perm",
            ],
            &rows,
        ),
    })
}

async fn topic_status(a: &Admin, topic: &str) -> Result<Report, AdminError> {
    let route = a.topic_route(topic).await?;
    let mut merged: BTreeMap<MessageQueue, crate::remoting::body::TopicOffset> = BTreeMap::new();
    for (_, addr) in Admin::route_brokers(&route) {
        let mut cmd = RemotingCommand::request(rq::GET_TOPIC_STATS_INFO);
        TopicHeader {
            topic: topic.to_string(),
        }
        .write_to(&mut cmd);
        let resp = a.ok(&addr, &format!("stats of topic {topic}"), cmd).await?;
        let t =
            TopicStatsTable::parse(&resp.body).map_err(|e| malformed(&addr, "topic stats", e))?;
        merged.extend(t.offset_table);
    }
    let rows: Vec<Vec<String>> = merged
        .iter()
        .map(|(mq, o)| {
            vec![
                mq.broker_name.clone(),
                mq.queue_id.to_string(),
                o.min_offset.to_string(),
                o.max_offset.to_string(),
                fmt_time(o.last_update_timestamp),
            ]
        })
        .collect();
    let j: Vec<Value> = merged
        .iter()
        .map(|(mq, o)| {
            json!({"brokerName": mq.broker_name, "queueId": mq.queue_id, "minOffset": o.min_offset,
                "maxOffset": o.max_offset, "lastUpdateTimestamp": o.last_update_timestamp})
        })
        .collect();
    Ok(Report {
        json: json!({"topic": topic, "queues": j}),
        text: render(
            &[
                "#Broker Name",
                "#QID",
                "#Min Offset",
                "#Max Offset",
                "#Last Updated",
            ],
            &rows,
        ),
    })
}

async fn consume_stats(
    a: &Admin,
    group: &str,
    topic: Option<&str>,
) -> Result<ConsumeStats, AdminError> {
    let brokers = a.group_brokers(group).await?;
    let mut merged = ConsumeStats::default();
    for (_, addr) in brokers {
        let mut cmd = RemotingCommand::request(rq::GET_CONSUME_STATS);
        ConsumeStatsHeader {
            consumer_group: group.to_string(),
            topic: topic.map(str::to_string),
        }
        .write_to(&mut cmd);
        let resp = a
            .ok(&addr, &format!("consume stats of group {group}"), cmd)
            .await?;
        let s =
            ConsumeStats::parse(&resp.body).map_err(|e| malformed(&addr, "consume stats", e))?;
        merged.consume_tps += s.consume_tps;
        merged.offset_table.extend(s.offset_table);
    }
    Ok(merged)
}

async fn consumer_progress(
    a: &Admin,
    group: &str,
    topic: Option<&str>,
) -> Result<Report, AdminError> {
    if let Some(t) = topic {
        a.topic_route(t).await?;
    }
    let stats = consume_stats(a, group, topic).await?;
    let rows: Vec<Vec<String>> = stats
        .offset_table
        .iter()
        .map(|(mq, o)| {
            vec![
                mq.topic.clone(),
                mq.broker_name.clone(),
                mq.queue_id.to_string(),
                o.broker_offset.to_string(),
                o.consumer_offset.to_string(),
                (o.broker_offset - o.consumer_offset).max(0).to_string(),
                fmt_time(o.last_timestamp),
            ]
        })
        .collect();
    let mut text = render(
        &[
            "#Topic",
            "#Broker Name",
            "#QID",
            "#Broker Offset",
            "#Consumer Offset",
            "#Diff",
            "#LastTime",
        ],
        &rows,
    );
    text.push_str(&format!(
        "\nConsume TPS: {:.2}\nConsume Diff Total: {}\n",
        stats.consume_tps,
        stats.diff_total()
    ));
    let queues: Vec<Value> = stats
        .offset_table
        .iter()
        .map(|(mq, o)| {
            json!({"topic": mq.topic, "brokerName": mq.broker_name, "queueId": mq.queue_id,
                "brokerOffset": o.broker_offset, "consumerOffset": o.consumer_offset,
                "diff": (o.broker_offset - o.consumer_offset).max(0), "lastTimestamp": o.last_timestamp})
        })
        .collect();
    Ok(Report {
        json: json!({"group": group, "consumeTps": stats.consume_tps, "diffTotal": stats.diff_total(), "queues": queues}),
        text,
    })
}

async fn all_groups_progress(a: &Admin) -> Result<Report, AdminError> {
    let topics = all_topics(a).await?;
    let mut groups: Vec<String> = topics
        .iter()
        .filter_map(|t| t.strip_prefix(RETRY_PREFIX))
        .map(str::to_string)
        .collect();
    groups.sort();
    let mut rows = Vec::new();
    let mut out = Vec::new();
    for g in groups {
        let stats = consume_stats(a, &g, None).await?;
        let conn = connection(a, &g).await.ok();
        let (count, model) = conn
            .as_ref()
            .map(|c| (c.connection_set.len(), c.message_model.as_java_name()))
            .unwrap_or((0, ""));
        rows.push(vec![
            g.clone(),
            count.to_string(),
            model.to_string(),
            format!("{:.2}", stats.consume_tps),
            stats.diff_total().to_string(),
        ]);
        out.push(json!({"group": g, "count": count, "messageModel": model,
            "consumeTps": stats.consume_tps, "diffTotal": stats.diff_total()}));
    }
    Ok(Report {
        json: json!(out),
        text: render(
            &["#Group", "#Count", "#Model", "#TPS", "#Diff Total"],
            &rows,
        ),
    })
}

async fn connection(a: &Admin, group: &str) -> Result<ConsumerConnection, AdminError> {
    let brokers = a.group_brokers(group).await?;
    let mut last = None;
    for (_, addr) in brokers {
        let mut cmd = RemotingCommand::request(rq::GET_CONSUMER_CONNECTION_LIST);
        cmd.set_ext("consumerGroup", group);
        let resp = a.call(&addr, cmd).await?;
        match resp.code {
            rs::SUCCESS => {
                return ConsumerConnection::parse(&resp.body)
                    .map_err(|e| malformed(&addr, "consumer connections", e))
            }
            rs::CONSUMER_NOT_ONLINE => {
                last = Some(AdminError::NotFound(format!(
                    "consumer group {group} has no consumer online"
                )))
            }
            _ => {
                last = Some(failed(
                    &addr,
                    &format!("connections of group {group}"),
                    &resp,
                ))
            }
        }
    }
    Err(last.unwrap_or_else(|| AdminError::UnknownGroup(group.to_string())))
}

async fn consumer_connection(a: &Admin, group: &str) -> Result<Report, AdminError> {
    let c = connection(a, group).await?;
    let rows: Vec<Vec<String>> = c
        .connection_set
        .iter()
        .map(|x| {
            vec![
                x.client_id.clone(),
                x.client_addr.clone(),
                x.language.clone(),
                x.version.to_string(),
            ]
        })
        .collect();
    let mut text = render(
        &["#ClientId", "#ClientAddr", "#Language", "#Version"],
        &rows,
    );
    text.push_str("\nBelow is subscription:\n");
    let subs: Vec<Vec<String>> = c
        .subscription_table
        .values()
        .map(|s| vec![s.topic.clone(), s.sub_string.clone()])
        .collect();
    text.push_str(&render(&["#Topic", "#SubExpression"], &subs));
    text.push_str(&format!(
        "\nConsumeType: {}\nMessageModel: {}\nConsumeFromWhere: {}\n",
        c.consume_type.as_java_name(),
        c.message_model.as_java_name(),
        c.consume_from_where.as_java_name()
    ));
    let j = json!({
        "group": group,
        "connections": c.connection_set.iter().map(|x| json!({"clientId": x.client_id, "clientAddr": x.client_addr, "language": x.language, "version": x.version})).collect::<Vec<_>>(),
        "subscriptions": c.subscription_table.values().map(|s| json!({"topic": s.topic, "expression": s.sub_string})).collect::<Vec<_>>(),
        "consumeType": c.consume_type.as_java_name(),
        "messageModel": c.message_model.as_java_name(),
        "consumeFromWhere": c.consume_from_where.as_java_name(),
    });
    Ok(Report { json: j, text })
}

async fn consumer_status(
    a: &Admin,
    group: &str,
    only: Option<String>,
) -> Result<Report, AdminError> {
    let conn = connection(a, group).await?;
    let brokers = a.group_brokers(group).await?;
    let Some((_, addr)) = brokers.first() else {
        return Err(AdminError::UnknownGroup(group.to_string()));
    };
    let mut clients: Vec<String> = conn
        .connection_set
        .iter()
        .map(|c| c.client_id.clone())
        .collect();
    if let Some(c) = &only {
        if !clients.contains(c) {
            return Err(AdminError::NotFound(format!(
                "client {c} is not a consumer of group {group} now"
            )));
        }
        clients = vec![c.clone()];
    }
    let mut rows = Vec::new();
    let mut all = serde_json::Map::new();
    for client in clients {
        let mut cmd = RemotingCommand::request(rq::GET_CONSUMER_RUNNING_INFO);
        cmd.set_ext("consumerGroup", group);
        cmd.set_ext("clientId", &client);
        cmd.set_ext("jstackEnable", false);
        let resp = a
            .ok(addr, &format!("running info of client {client}"), cmd)
            .await?;
        let text = crate::remoting::body::fastjson_to_json(&String::from_utf8_lossy(&resp.body));
        let v: Value =
            serde_json::from_str(&text).map_err(|e| malformed(addr, "consumer running info", e))?;
        if let Some(mqs) = v.get("mqTable").and_then(Value::as_object) {
            for (k, pq) in mqs {
                let mq: MessageQueue = serde_json::from_str(k).unwrap_or_default();
                let n = |f: &str| pq.get(f).map(|x| x.to_string()).unwrap_or_default();
                rows.push(vec![
                    client.clone(),
                    mq.topic,
                    mq.broker_name,
                    mq.queue_id.to_string(),
                    n("commitOffset"),
                    n("cachedMsgCount"),
                    n("lastConsumeTimestamp")
                        .parse::<i64>()
                        .map(fmt_time)
                        .unwrap_or_default(),
                ]);
            }
        }
        all.insert(client, v);
    }
    rows.sort();
    Ok(Report {
        json: json!({"group": group, "clients": all}),
        text: render(
            &[
                "#ClientId",
                "#Topic",
                "#Broker Name",
                "#QID",
                "#Commit Offset",
                "#Cached Msgs",
                "#Last Consumed",
            ],
            &rows,
        ),
    })
}

async fn view_message(a: &Admin, addr: &str, offset: u64) -> Result<Option<Msg>, AdminError> {
    let mut cmd = RemotingCommand::request(rq::VIEW_MESSAGE_BY_ID);
    cmd.set_ext("offset", offset as i64);
    let resp = a.call(addr, cmd).await?;
    if resp.code != rs::SUCCESS {
        return Ok(None);
    }
    Ok(records(&resp.body).into_iter().next())
}

async fn query_by_id(a: &Admin, msg_id: &str, topic: Option<&str>) -> Result<Report, AdminError> {
    if let Some((host, offset)) = decode_offset_msg_id(msg_id) {
        if let Some(m) = view_message(a, &host.to_string(), offset).await? {
            return Ok(Report {
                json: m.to_json(),
                text: m.detail_text(),
            });
        }
    }
    // Not an offset id (or nothing there): a client-side id is a unique key, found through the
    // topic's key index.
    let Some(topic) = topic else {
        return Err(AdminError::NotFound(format!(
            "no message with offset id {msg_id}; for a client-side (unique key) id give its topic with -t"
        )));
    };
    let msgs = query_message(a, topic, msg_id, true, 0, i64::MAX, 32).await?;
    let m = msgs.into_iter().next().ok_or_else(|| {
        AdminError::NotFound(format!("no message with id {msg_id} in topic {topic}"))
    })?;
    Ok(Report {
        json: m.to_json(),
        text: m.detail_text(),
    })
}

/// QUERY_MESSAGE (12) on every broker of the topic, merged (unique-key queries: first hit per
/// unique key). `max` messages per broker at most.
async fn query_message(
    a: &Admin,
    topic: &str,
    key: &str,
    unique: bool,
    begin: i64,
    end: i64,
    max: i32,
) -> Result<Vec<Msg>, AdminError> {
    let route = a.topic_route(topic).await?;
    let mut out: Vec<Msg> = Vec::new();
    for (_, addr) in Admin::route_brokers(&route) {
        let mut cmd = RemotingCommand::request(rq::QUERY_MESSAGE);
        cmd.set_ext("topic", topic);
        cmd.set_ext("key", key);
        cmd.set_ext("maxNum", max);
        cmd.set_ext("beginTimestamp", begin);
        cmd.set_ext("endTimestamp", end);
        if unique {
            cmd.set_ext("_UNIQUE_KEY_QUERY", "true");
        }
        let resp = a.call(&addr, cmd).await?;
        match resp.code {
            rs::SUCCESS => out.extend(records(&resp.body)),
            rs::QUERY_NOT_FOUND => {}
            _ => return Err(failed(&addr, &format!("query {topic} by key {key}"), &resp)),
        }
    }
    if unique {
        out.retain(|m| m.prop(keys::UNIQ_KEY) == key);
    } else {
        out.retain(|m| {
            m.prop(keys::KEYS).split(' ').any(|k| k == key) || m.prop(keys::UNIQ_KEY) == key
        });
    }
    out.sort_by_key(|m| (m.store_ms, m.offset_id.clone()));
    Ok(out)
}

/// One trace context: RocketMQ's trace message body is records separated by `\u{2}`, fields by
/// `\u{1}`; the first field is the type (`Pub`, `SubBefore`, `SubAfter`, `EndTransaction`), the
/// second the time.
fn trace_rows(body: &str, msg_id: &str) -> Vec<Vec<String>> {
    body.split('\u{2}')
        .map(|rec| rec.split('\u{1}').collect::<Vec<_>>())
        .filter(|f| f.len() > 2 && f.contains(&msg_id))
        .map(|f| {
            let time = f[1]
                .parse::<i64>()
                .map(fmt_time)
                .unwrap_or_else(|_| f[1].to_string());
            vec![
                f[0].to_string(),
                time,
                f.get(3).copied().unwrap_or("").to_string(),
                f[4..].join(" "),
            ]
        })
        .collect()
}

async fn query_trace(a: &Admin, msg_id: &str, trace_topic: &str) -> Result<Report, AdminError> {
    let msgs = query_message(a, trace_topic, msg_id, false, 0, i64::MAX, 64).await?;
    let mut rows = Vec::new();
    for m in &msgs {
        rows.extend(trace_rows(&m.body_text(), msg_id));
    }
    if rows.is_empty() {
        return Err(AdminError::NotFound(format!(
            "no trace of message {msg_id} in {trace_topic}"
        )));
    }
    let j: Vec<Value> = rows
        .iter()
        .map(|r| json!({"type": r[0], "time": r[1], "group": r[2], "fields": r[3]}))
        .collect();
    Ok(Report {
        json: json!({"msgId": msg_id, "traces": j}),
        text: render(&["#Type", "#Time", "#Group", "#Fields"], &rows),
    })
}

async fn reset_offset(
    a: &Admin,
    group: &str,
    topic: &str,
    timestamp: &str,
    force: bool,
) -> Result<Report, AdminError> {
    let ts = parse_timestamp(timestamp)?;
    let route = a.topic_route(topic).await?;
    a.group_brokers(group).await?;
    let mut rows = Vec::new();
    let mut out = Vec::new();
    for (_, addr) in Admin::route_brokers(&route) {
        let mut cmd = RemotingCommand::request(rq_ext::INVOKE_BROKER_TO_RESET_OFFSET);
        cmd.set_ext("topic", topic);
        cmd.set_ext("group", group);
        cmd.set_ext("timestamp", ts);
        cmd.set_ext("isForce", force);
        let resp = a
            .ok(&addr, &format!("reset offsets of {group} on {topic}"), cmd)
            .await?;
        let table = crate::remoting::body::fastjson_to_json(&String::from_utf8_lossy(&resp.body));
        let v: Value = serde_json::from_str(&table).unwrap_or(Value::Null);
        if let Some(m) = v.get("offsetTable").and_then(Value::as_object) {
            for (k, off) in m {
                let mq: MessageQueue = serde_json::from_str(k).unwrap_or_default();
                rows.push(vec![
                    mq.broker_name.clone(),
                    mq.queue_id.to_string(),
                    off.to_string(),
                ]);
                out.push(
                    json!({"brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": off}),
                );
            }
        }
    }
    rows.sort();
    Ok(Report {
        json: json!({"group": group, "topic": topic, "timestamp": ts, "queues": out}),
        text: render(&["#Broker Name", "#QID", "#Offset"], &rows),
    })
}

async fn cluster_list(a: &Admin) -> Result<Report, AdminError> {
    let masters = a.masters(None).await?;
    let mut rows = Vec::new();
    let mut out = Vec::new();
    for (cluster, name, addr) in masters {
        let kv = match a
            .ok(
                &addr,
                "broker runtime info",
                RemotingCommand::request(rq::GET_BROKER_RUNTIME_INFO),
            )
            .await
        {
            Ok(resp) => KvTable::parse(&resp.body).unwrap_or_default().table,
            Err(_) => BTreeMap::new(),
        };
        let get = |k: &str| kv.get(k).cloned().unwrap_or_default();
        let first = |k: &str| {
            get(k)
                .split(' ')
                .next()
                .unwrap_or("")
                .parse::<f64>()
                .unwrap_or(0.0)
        };
        let (tin, tout) = (first("putTps"), first("getTransferedTps"));
        rows.push(vec![
            cluster.clone(),
            name.clone(),
            "0".to_string(),
            addr.clone(),
            get("brokerVersionDesc"),
            format!("{tin:.2}"),
            format!("{tout:.2}"),
            get("msgPutTotalTodayNow"),
            get("msgGetTotalTodayNow"),
            get("commitLogDiskRatio"),
        ]);
        out.push(
            json!({"cluster": cluster, "brokerName": name, "brokerId": 0, "addr": addr,
            "version": get("brokerVersionDesc"), "inTps": tin, "outTps": tout,
            "inTotalToday": get("msgPutTotalTodayNow"), "outTotalToday": get("msgGetTotalTodayNow"),
            "diskRatio": get("commitLogDiskRatio")}),
        );
    }
    Ok(Report {
        json: json!(out),
        text: render(
            &[
                "#Cluster Name",
                "#Broker Name",
                "#BID",
                "#Addr",
                "#Version",
                "#InTPS",
                "#OutTPS",
                "#InTotalToday",
                "#OutTotalToday",
                "#Disk",
            ],
            &rows,
        ),
    })
}

/// Up to `max` messages of the group's dead-letter topic, oldest first per queue.
async fn dlq_messages(a: &Admin, group: &str, max: usize) -> Result<Vec<Msg>, AdminError> {
    let topic = format!("{DLQ_PREFIX}{group}");
    let Some(route) = a.route(&topic).await? else {
        return Err(AdminError::NotFound(format!(
            "group {group} has no dead-letter topic ({topic}): no message of it was dead-lettered"
        )));
    };
    let mut out = Vec::new();
    for q in &route.queue_datas {
        let Some(addr) = route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == q.broker_name)
            .and_then(|b| b.master_addr())
        else {
            continue;
        };
        let conn = a.conn(addr).await?;
        for qid in 0..q.read_queue_nums {
            let (min, maxo) = (
                conn.min_offset(&topic, qid).await?,
                conn.max_offset(&topic, qid).await?,
            );
            let mut off = min;
            while off < maxo && out.len() < max {
                let h = PullMessageHeader::all_tags(ADMIN_CONSUMER_GROUP, &topic, qid, off, 32);
                let r = conn.pull(&h).await?;
                if r.status != PullStatus::Found {
                    break;
                }
                let got = records(&r.body);
                if got.is_empty() {
                    break;
                }
                for m in got {
                    if out.len() < max {
                        out.push(m);
                    }
                }
                let next = r.header.next_begin_offset;
                if next <= off {
                    break;
                }
                off = next;
            }
        }
    }
    Ok(out)
}

/// The properties a resent dead-letter message keeps: the user's, its keys and tags, its unique
/// key; not the broker's bookkeeping of the retry path.
fn resend_properties(p: &Properties) -> Properties {
    let mut out = p.clone();
    for k in [
        keys::DELAY,
        keys::REAL_TOPIC,
        keys::REAL_QID,
        keys::RETRY_TOPIC,
        keys::RECONSUME_TIME,
        keys::MAX_RECONSUME_TIMES,
        keys::CLUSTER,
        keys::TRAN_MSG,
        keys::PGROUP,
        "MIN_OFFSET",
        "MAX_OFFSET",
        "CONSUME_START_TIME",
        "DLQ_ORIGIN_TOPIC",
        "DLQ_ORIGIN_MESSAGE_ID",
    ] {
        out.remove(k);
    }
    if let Some(orig) = p.get(keys::ORIGIN_MESSAGE_ID) {
        out.set(keys::ORIGIN_MESSAGE_ID, orig);
    }
    out
}

/// The topic a dead-letter message came from: RETRY_TOPIC (set when it first went to retry).
fn origin_topic(m: &Msg) -> Option<String> {
    let t = m.prop(keys::RETRY_TOPIC);
    (!t.is_empty() && !t.starts_with(RETRY_PREFIX) && !t.starts_with(DLQ_PREFIX))
        .then(|| t.to_string())
}

async fn dlq_resend(
    a: &Admin,
    group: &str,
    ids: &[String],
    all: bool,
    max: usize,
) -> Result<Report, AdminError> {
    if ids.is_empty() && !all {
        return Err(AdminError::Usage(
            "dlqResend needs -i MSG_ID (repeatable) or --all".into(),
        ));
    }
    let msgs = dlq_messages(a, group, max).await?;
    let chosen: Vec<&Msg> = msgs
        .iter()
        .filter(|m| {
            all || ids.iter().any(|i| {
                *i == m.offset_id
                    || i == m.prop(keys::UNIQ_KEY)
                    || i == m.prop(keys::ORIGIN_MESSAGE_ID)
            })
        })
        .collect();
    if !all {
        for i in ids {
            let found = chosen.iter().any(|m| {
                *i == m.offset_id
                    || i == m.prop(keys::UNIQ_KEY)
                    || i == m.prop(keys::ORIGIN_MESSAGE_ID)
            });
            if !found {
                return Err(AdminError::NotFound(format!(
                    "message {i} is not among the dead-letter messages of group {group}"
                )));
            }
        }
    }
    let mut rows = Vec::new();
    let mut out = Vec::new();
    for m in chosen {
        let Some(topic) = origin_topic(m) else {
            rows.push(vec![
                m.offset_id.clone(),
                String::new(),
                "skipped: no RETRY_TOPIC property".into(),
            ]);
            out.push(json!({"offsetMsgId": m.offset_id, "resent": false, "reason": "no RETRY_TOPIC property"}));
            continue;
        };
        let route = a.topic_route(&topic).await?;
        let brokers = Admin::route_brokers(&route);
        let Some((_, addr)) = brokers.first() else {
            return Err(AdminError::NotFound(format!(
                "topic {topic} has no writable broker"
            )));
        };
        let props = resend_properties(&m.properties).to_wire();
        let conn = a.conn(addr).await?;
        let req = crate::client::SendRequest {
            producer_group: ADMIN_PRODUCER_GROUP,
            topic: &topic,
            queue_id: -1,
            born_timestamp_ms: now_ms(),
            properties: &props,
            body: &m.body,
            batch: false,
        };
        match conn.send(&req).await {
            Ok(r) => {
                rows.push(vec![
                    m.offset_id.clone(),
                    topic.clone(),
                    format!("sent as {}", r.header.msg_id),
                ]);
                out.push(json!({"offsetMsgId": m.offset_id, "msgId": m.prop(keys::UNIQ_KEY), "topic": topic, "resent": true, "newOffsetMsgId": r.header.msg_id}));
            }
            Err(e) => return Err(AdminError::Client(e)),
        }
    }
    Ok(Report {
        json: json!({"group": group, "results": out}),
        text: render(&["#Offset ID", "#To Topic", "#Result"], &rows),
    })
}

#[allow(dead_code)]
fn _client_error_is_admin_error(e: ClientError) -> AdminError {
    AdminError::from(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats_round_trip() {
        assert_eq!(fmt_time(0), "-");
        assert_eq!(fmt_time(1_700_000_000_123), "2023-11-14 22:13:20.123");
        assert_eq!(
            parse_timestamp("2023-11-14#22:13:20:123").unwrap(),
            1_700_000_000_123
        );
        assert_eq!(parse_timestamp("42").unwrap(), 42);
        assert!(parse_timestamp("yesterday").is_err());
        assert!(parse_timestamp("2023-11-14#22:13").is_err());
        for d in [-1000, 0, 59, 11_000, 20_000, 30_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn resend_keeps_user_properties_and_drops_bookkeeping() {
        let p = Properties::parse(
            "KEYS\u{1}k1\u{2}TAGS\u{1}A\u{2}UNIQ_KEY\u{1}U1\u{2}RETRY_TOPIC\u{1}T\u{2}ORIGIN_MESSAGE_ID\u{1}O1\u{2}REAL_TOPIC\u{1}%RETRY%g\u{2}DELAY\u{1}3\u{2}mine\u{1}v\u{2}",
        );
        let r = resend_properties(&p);
        for (k, want) in [
            ("KEYS", Some("k1")),
            ("TAGS", Some("A")),
            ("UNIQ_KEY", Some("U1")),
            ("ORIGIN_MESSAGE_ID", Some("O1")),
            ("mine", Some("v")),
            ("RETRY_TOPIC", None),
            ("REAL_TOPIC", None),
            ("DELAY", None),
        ] {
            assert_eq!(r.get(k), want, "{k}");
        }
    }

    #[test]
    fn trace_rows_pick_the_messages_records() {
        let body = "Pub\u{1}1700000000123\u{1}DefaultRegion\u{1}pg\u{1}T\u{1}M1\u{1}tag\u{2}SubAfter\u{1}1700000000200\u{1}r\u{1}cg\u{1}M2\u{2}";
        let rows = trace_rows(body, "M1");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][0], "Pub");
        assert_eq!(rows[0][2], "pg");
    }
}
