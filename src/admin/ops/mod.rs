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

mod dlq;
mod groups;
mod query;
mod time;
mod topics;

use dlq::{dlq_messages, dlq_resend};
use groups::{
    all_groups_progress, consumer_connection, consumer_progress, consumer_status, reset_offset,
};
use query::{query_by_id, query_message, query_trace};
pub use time::{fmt_time, parse_timestamp};
use topics::{
    all_topics, cluster_list, delete_topic, topic_list, topic_route, topic_status, update_topic,
};

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
        self.brokers(cluster, false).await
    }

    /// (cluster, broker name, address) of every master of `cluster` (all clusters when `None`),
    /// and of every slave too with `slaves`.
    async fn brokers(
        &self,
        cluster: Option<&str>,
        slaves: bool,
    ) -> Result<Vec<(String, String, String)>, AdminError> {
        let info = self.cluster_info().await?;
        let out = brokers_of(&info, cluster, slaves);
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

    /// The broker addresses a command that each broker applies to its own files goes to (the ACL
    /// commands): as [`Admin::targets`], slaves included, as mqadmin 4.x sends them.
    async fn targets_with_slaves(&self, t: &Target) -> Result<Vec<String>, AdminError> {
        if let Some(b) = &t.broker {
            return Ok(vec![b.clone()]);
        }
        let all = self.brokers(t.cluster.as_deref(), true).await?;
        if all.is_empty() {
            return Err(AdminError::NotFound(
                "the NameServer knows no broker".to_string(),
            ));
        }
        Ok(all.into_iter().map(|(_, _, a)| a).collect())
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
        let props: BTreeMap<&str, &str> = self.properties.entries.iter().collect();
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
            attributes,
        } => {
            let h = CreateTopicHeader {
                topic,
                default_topic: DEFAULT_TOPIC.to_string(),
                read_queue_nums: read_queues,
                write_queue_nums: write_queues,
                perm,
                topic_filter_type: "SINGLE_TAG".to_string(),
                topic_sys_flag: 0,
                order,
                attributes,
            };
            update_topic(a, &target, h).await
        }
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
        C::SetConsumeMode {
            topic,
            group,
            target,
            mode,
            pop_share_queue_num,
        } => {
            let body = json!({
                "topic": topic,
                "consumerGroup": group,
                "mode": mode,
                "popShareQueueNum": pop_share_queue_num,
            });
            on_targets(
                a,
                &target,
                &format!("set consume mode of {group} on {topic} to {mode}"),
                || {
                    RemotingCommand::request(rq::SET_MESSAGE_REQUEST_MODE)
                        .with_body(body.to_string())
                },
                body.clone(),
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
        C::UpdateAclConfig {
            account,
            account_secret,
            white_remote_address,
            default_topic_perm,
            default_group_perm,
            topic_perms,
            group_perms,
            admin,
            target,
        } => {
            let admin = admin.trim().eq_ignore_ascii_case("true");
            let optional = [
                ("secretKey", &account_secret),
                ("whiteRemoteAddress", &white_remote_address),
                ("defaultTopicPerm", &default_topic_perm),
                ("defaultGroupPerm", &default_group_perm),
                ("topicPerms", &topic_perms),
                ("groupPerms", &group_perms),
            ];
            on_addrs(
                a,
                a.targets_with_slaves(&target).await?,
                &format!("update ACL account {account}"),
                || {
                    let mut cmd = RemotingCommand::request(rq::UPDATE_AND_CREATE_ACL_CONFIG)
                        .with_ext("accessKey", &account)
                        .with_ext("admin", admin);
                    for (k, v) in &optional {
                        if let Some(v) = v {
                            cmd.set_ext(k, v);
                        }
                    }
                    cmd
                },
                json!({"accessKey": account, "admin": admin}),
            )
            .await
        }
        C::DeleteAclConfig { account, target } => {
            on_addrs(
                a,
                a.targets_with_slaves(&target).await?,
                &format!("delete ACL account {account}"),
                || RemotingCommand::request(rq::DELETE_ACL_CONFIG).with_ext("accessKey", &account),
                json!({"accessKey": account}),
            )
            .await
        }
        C::UpdateGlobalWhiteAddr {
            addresses,
            file,
            target,
        } => {
            on_addrs(
                a,
                a.targets_with_slaves(&target).await?,
                "update the ACL global white list",
                || {
                    RemotingCommand::request(rq::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG)
                        .with_ext("globalWhiteAddrs", &addresses)
                        .with_ext("aclFileFullPath", file.as_deref().unwrap_or(""))
                },
                json!({"globalWhiteAddrs": addresses}),
            )
            .await
        }
        C::ClusterAclConfigVersion { target } => {
            let what = "read the ACL version";
            let (mut rows, mut all) = (Vec::new(), Vec::new());
            for addr in a.targets_with_slaves(&target).await? {
                let r = a
                    .ok(
                        &addr,
                        what,
                        RemotingCommand::request(rq::GET_BROKER_CLUSTER_ACL_INFO),
                    )
                    .await?;
                let files: Value = r
                    .ext("allAclFileVersion")
                    .and_then(|t| serde_json::from_str(t).ok())
                    .ok_or_else(|| AdminError::Malformed {
                        addr: addr.clone(),
                        what: what.to_string(),
                        reason: "no allAclFileVersion in the answer".to_string(),
                    })?;
                for (file, v) in files.as_object().into_iter().flatten() {
                    let counter = v["counter"].as_i64().unwrap_or(0);
                    let stamp = v["timestamp"].as_i64().unwrap_or(0);
                    rows.push(vec![
                        r.ext("clusterName").unwrap_or_default().to_string(),
                        r.ext("brokerName").unwrap_or_default().to_string(),
                        addr.clone(),
                        file.clone(),
                        counter.to_string(),
                        if stamp > 0 {
                            fmt_time(stamp)
                        } else {
                            "-".to_string()
                        },
                    ]);
                    all.push(json!({
                        "clusterName": r.ext("clusterName"),
                        "brokerName": r.ext("brokerName"),
                        "brokerAddr": addr,
                        "aclFilePath": file,
                        "counter": counter,
                        "timestamp": stamp,
                    }));
                }
            }
            let text = render(
                &[
                    "#Cluster",
                    "#Broker",
                    "#Addr",
                    "#AclFilePath",
                    "#Version",
                    "#LastUpdate",
                ],
                &rows,
            );
            Ok(Report {
                json: Value::Array(all),
                text,
            })
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
    on_addrs(a, a.targets(target).await?, what, cmd, j).await
}

/// (cluster, broker name, address) in `info` of every master of `cluster` (all clusters when
/// `None`), and of every slave too with `slaves`.
fn brokers_of(
    info: &ClusterInfo,
    cluster: Option<&str>,
    slaves: bool,
) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (c, names) in &info.cluster_addr_table {
        if cluster.is_some_and(|want| want != c) {
            continue;
        }
        for n in names {
            let Some(b) = info.broker_addr_table.get(n) else {
                continue;
            };
            for (id, addr) in &b.broker_addrs {
                if *id == 0 || slaves {
                    out.push((c.clone(), n.clone(), addr.to_string()));
                }
            }
        }
    }
    out
}

/// Sends `cmd()` to each of `addrs`, wanting SUCCESS from every one.
async fn on_addrs(
    a: &Admin,
    addrs: Vec<String>,
    what: &str,
    cmd: impl Fn() -> RemotingCommand,
    j: Value,
) -> Result<Report, AdminError> {
    let mut done = Vec::new();
    for addr in addrs {
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

#[allow(dead_code)]
fn _client_error_is_admin_error(e: ClientError) -> AdminError {
    AdminError::from(e)
}

#[cfg(test)]
mod tests;
