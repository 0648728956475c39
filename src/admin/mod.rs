//! `bolide admin`: the operator's tool, with `mqadmin`'s command names and flags (`-n` NameServer,
//! `-t` topic, `-g` group, `-c` cluster, `-b` broker address), plus dead-letter tools (`dlqList`,
//! `dlqResend`). It speaks the standard remoting protocol through [`crate::client`], so it works
//! against Bolide and against an Apache RocketMQ NameServer and broker alike.
//!
//! Shape: [`AdminArgs`] is the clap command line (main.rs delegates to [`run`]); `ops.rs` runs one
//! command on a glommio executor and returns a [`Report`]: the same result as JSON (`--json`, for
//! scripts) and as text tables (for people). Every failure is an [`AdminError`] whose message says
//! what was asked and what is wrong (an unknown topic or group is named as such, not a raw code).
//!
//! Which broker a command talks to: `-b ADDR` that one; `-c CLUSTER` every master of that cluster
//! (from the NameServer's cluster info; the ACL commands slaves too, as mqadmin 4.x: each broker
//! keeps its own accounts file); topic- and group-scoped commands the brokers of the topic's
//! route (a group's route is its `%RETRY%<group>` topic, as in mqadmin).

mod ops;
mod table;

use std::time::Duration;

use clap::{Args, Subcommand};

use crate::client::ClientError;

pub use ops::Report;

/// `bolide admin ...`
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// NameServer address (`host:port`; several separated by `;`, the first is used). Default:
    /// $NAMESRV_ADDR, else 127.0.0.1:9876.
    #[arg(short = 'n', long = "namesrvAddr", global = true)]
    pub namesrv: Option<String>,
    /// Print JSON (one document) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Per-request timeout in milliseconds.
    #[arg(long = "timeout-ms", global = true, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// ACL: sign every request with this account (a broker with aclEnable needs it). Default:
    /// $ROCKETMQ_ACCESS_KEY. The secret comes from $ROCKETMQ_SECRET_KEY, or `--secretKey`
    /// (visible to other users in the process list: prefer the variable).
    #[arg(long = "accessKey", global = true)]
    pub access_key: Option<String>,
    #[arg(long = "secretKey", global = true, hide = true)]
    pub secret_key: Option<String>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// Where a broker-scoped command goes.
#[derive(Debug, Clone, Args, Default)]
pub struct Target {
    /// Broker address (`host:port`).
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker: Option<String>,
    /// Cluster name: every master of it.
    #[arg(short = 'c', long = "clusterName")]
    pub cluster: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create or update a topic on a broker or every master of a cluster.
    #[command(name = "updateTopic")]
    UpdateTopic {
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[command(flatten)]
        target: Target,
        #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
        read_queues: i32,
        #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
        write_queues: i32,
        /// Permission: 2 write, 4 read, 6 both.
        #[arg(short = 'p', long = "perm", default_value_t = 6)]
        perm: i32,
        #[arg(short = 'o', long = "order", default_value_t = false, action = clap::ArgAction::Set)]
        order: bool,
        /// RocketMQ 5 attributes: `+message.type=FIFO` adds or changes, `-message.type` removes
        /// (comma separated; keys: message.type, queue.type, cleanup.policy).
        #[arg(short = 'a', long = "attributes")]
        attributes: Option<String>,
    },
    /// Delete a topic from every master of a cluster and from the NameServer.
    #[command(name = "deleteTopic")]
    DeleteTopic {
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Every topic the NameServer knows (`-c`: with cluster and consumer groups).
    #[command(name = "topicList")]
    TopicList {
        #[arg(short = 'c', long = "clusterModel", default_value_t = false)]
        cluster: bool,
    },
    /// A topic's route: brokers and queues.
    #[command(name = "topicRoute")]
    TopicRoute {
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// Per queue: min and max offset, last store time.
    #[command(name = "topicStatus")]
    TopicStatus {
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// Create or update a subscription group.
    #[command(name = "updateSubGroup")]
    UpdateSubGroup {
        #[arg(short = 'g', long = "groupName")]
        group: String,
        #[command(flatten)]
        target: Target,
        #[arg(short = 's', long = "consumeEnable", default_value_t = true, action = clap::ArgAction::Set)]
        consume_enable: bool,
        #[arg(short = 'm', long = "consumeFromMinEnable", default_value_t = true, action = clap::ArgAction::Set)]
        consume_from_min: bool,
        #[arg(short = 'd', long = "consumeBroadcastEnable", default_value_t = true, action = clap::ArgAction::Set)]
        broadcast: bool,
        #[arg(short = 'q', long = "retryQueueNums", default_value_t = 1)]
        retry_queues: i32,
        #[arg(short = 'r', long = "retryMaxTimes", default_value_t = 16)]
        retry_max_times: i32,
    },
    /// How a group reads a topic when its consumers let the broker assign queues (5.x
    /// `clientRebalance = false`): PULL, or POP with `-q` following consumers' queues shared.
    #[command(name = "setConsumeMode")]
    SetConsumeMode {
        #[arg(short = 't', long = "topicName")]
        topic: String,
        #[arg(short = 'g', long = "groupName")]
        group: String,
        #[command(flatten)]
        target: Target,
        /// PULL or POP.
        #[arg(short = 'm', long = "mode", value_parser = ["PULL", "POP"])]
        mode: String,
        /// POP: how many following consumers' queues each one also pops (0: every queue).
        #[arg(short = 'q', long = "popShareQueueNum", default_value_t = 0)]
        pop_share_queue_num: i32,
    },
    /// Delete a subscription group.
    #[command(name = "deleteSubGroup")]
    DeleteSubGroup {
        #[arg(short = 'g', long = "groupName")]
        group: String,
        #[command(flatten)]
        target: Target,
        /// Also delete the group's committed offsets.
        #[arg(short = 'r', long = "removeOffset", default_value_t = false, action = clap::ArgAction::Set)]
        remove_offset: bool,
    },
    /// A group's progress per queue (lag = broker offset - consumer offset); all groups without -g.
    #[command(name = "consumerProgress")]
    ConsumerProgress {
        #[arg(short = 'g', long = "groupName")]
        group: Option<String>,
        #[arg(short = 't', long = "topicName")]
        topic: Option<String>,
    },
    /// A group's online clients and subscriptions.
    #[command(name = "consumerConnection")]
    ConsumerConnection {
        #[arg(short = 'g', long = "consumerGroup")]
        group: String,
    },
    /// What the group's clients say about themselves (asked through the broker): queues held,
    /// offsets, cached messages, settings.
    #[command(name = "consumerStatus")]
    ConsumerStatus {
        #[arg(short = 'g', long = "consumerGroup")]
        group: String,
        /// Only this client.
        #[arg(short = 'i', long = "clientId")]
        client_id: Option<String>,
    },
    /// A message by its offset message id (or, with -t, by its unique key).
    #[command(name = "queryMsgById")]
    QueryMsgById {
        #[arg(short = 'i', long = "msgId")]
        msg_id: String,
        #[arg(short = 't', long = "topic")]
        topic: Option<String>,
    },
    /// Messages of a topic by key.
    #[command(name = "queryMsgByKey")]
    QueryMsgByKey {
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'k', long = "msgKey")]
        key: String,
        /// Earliest store time (ms); default 0.
        #[arg(short = 'b', long = "beginTimestamp", default_value_t = 0)]
        begin: i64,
        /// Latest store time (ms); default now.
        #[arg(short = 'e', long = "endTimestamp")]
        end: Option<i64>,
        #[arg(short = 'c', long = "maxNum", default_value_t = 64)]
        max: i32,
    },
    /// A message by its unique key (the client-side message id).
    #[command(name = "queryMsgByUniqueKey")]
    QueryMsgByUniqueKey {
        #[arg(short = 'i', long = "msgId")]
        msg_id: String,
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// The trace records of a message (from the trace topic).
    #[command(name = "queryMsgTraceById")]
    QueryMsgTraceById {
        #[arg(short = 'i', long = "msgId")]
        msg_id: String,
        #[arg(
            short = 't',
            long = "traceTopic",
            default_value = "RMQ_SYS_TRACE_TOPIC"
        )]
        trace_topic: String,
    },
    /// Move a group's offsets of a topic to the first message stored at or after a time.
    #[command(name = "resetOffsetByTime")]
    ResetOffsetByTime {
        #[arg(short = 'g', long = "group")]
        group: String,
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Milliseconds since the epoch, `yyyy-MM-dd#HH:mm:ss:SSS` (UTC), or `now`.
        #[arg(short = 's', long = "timestamp")]
        timestamp: String,
        #[arg(short = 'f', long = "force", default_value_t = true, action = clap::ArgAction::Set)]
        force: bool,
    },
    /// Clusters and their brokers with rates.
    #[command(name = "clusterList")]
    ClusterList,
    /// A broker's runtime figures.
    #[command(name = "brokerStatus")]
    BrokerStatus {
        #[command(flatten)]
        target: Target,
    },
    /// A broker's settings.
    #[command(name = "getBrokerConfig")]
    GetBrokerConfig {
        #[command(flatten)]
        target: Target,
    },
    /// Change a setting on a running broker.
    #[command(name = "updateBrokerConfig")]
    UpdateBrokerConfig {
        #[arg(short = 'k', long = "key")]
        key: String,
        #[arg(short = 'v', long = "value")]
        value: String,
        #[command(flatten)]
        target: Target,
    },
    /// ACL 1.0: create or change an account of the broker's `plain_acl.yml` (admin account needed).
    /// Fields not given stay as they are, except `admin`, which is set (false unless `-m true`).
    #[command(name = "updateAclConfig")]
    UpdateAclConfig {
        /// The account's access key (mqadmin's `-a`; the long name is not `--accessKey`, which
        /// names the account `bolide admin` signs with).
        #[arg(short = 'a', long = "account")]
        account: String,
        /// The account's secret; required for a new account (visible in the process list).
        #[arg(short = 's', long = "accountSecret")]
        account_secret: Option<String>,
        /// Address pattern the account may connect from (e.g. `192.168.0.*`).
        #[arg(short = 'w', long = "whiteRemoteAddress")]
        white_remote_address: Option<String>,
        /// DENY, PUB, SUB or PUB|SUB.
        #[arg(short = 'i', long = "defaultTopicPerm")]
        default_topic_perm: Option<String>,
        #[arg(short = 'u', long = "defaultGroupPerm")]
        default_group_perm: Option<String>,
        /// `topicA=PUB,topicB=SUB|PUB` (replaces the account's list).
        #[arg(short = 't', long = "topicPerms")]
        topic_perms: Option<String>,
        /// `groupA=SUB,groupB=DENY` (replaces the account's list).
        #[arg(short = 'g', long = "groupPerms")]
        group_perms: Option<String>,
        #[arg(short = 'm', long = "admin", default_value = "false")]
        admin: String,
        #[command(flatten)]
        target: Target,
    },
    /// ACL 1.0: delete an account (admin account needed).
    #[command(name = "deleteAclConfig")]
    DeleteAclConfig {
        /// The account's access key (mqadmin's `-a`).
        #[arg(short = 'a', long = "account")]
        account: String,
        #[command(flatten)]
        target: Target,
    },
    /// ACL 1.0: replace the addresses that need no signature (empty: none; admin account needed).
    #[command(name = "updateGlobalWhiteAddr")]
    UpdateGlobalWhiteAddr {
        /// `10.10.103.*,192.168.0.1`.
        #[arg(short = 'g', long = "globalWhiteRemoteAddresses")]
        addresses: String,
        /// The broker's accounts file (default: the one it runs with).
        #[arg(short = 'p', long = "aclFileFullPath")]
        file: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// ACL 1.0: each broker's accounts file and its version.
    #[command(name = "clusterAclConfigVersion")]
    ClusterAclConfigVersion {
        #[command(flatten)]
        target: Target,
    },
    /// A group's dead-letter messages (topic `%DLQ%<group>`).
    #[command(name = "dlqList")]
    DlqList {
        #[arg(short = 'g', long = "group")]
        group: String,
        /// Most messages to list.
        #[arg(long = "max", default_value_t = 100)]
        max: usize,
    },
    /// Send dead-letter messages back to their original topic (property RETRY_TOPIC).
    #[command(name = "dlqResend")]
    DlqResend {
        #[arg(short = 'g', long = "group")]
        group: String,
        /// Message ids to resend (offset id, unique key or original message id); repeatable.
        #[arg(short = 'i', long = "msgId")]
        msg_ids: Vec<String>,
        /// Resend every dead-letter message of the group.
        #[arg(long, default_value_t = false)]
        all: bool,
        /// Most messages to look at.
        #[arg(long = "max", default_value_t = 1000)]
        max: usize,
    },
}

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("topic {0} does not exist (the NameServer has no route for it)")]
    UnknownTopic(String),
    #[error("consumer group {0} is not known (no route for %RETRY%{0}: it never consumed here)")]
    UnknownGroup(String),
    #[error("cluster {0} does not exist; clusters: {1}")]
    UnknownCluster(String, String),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{what} at {addr}: {reason}")]
    Failed {
        what: String,
        addr: String,
        reason: String,
    },
    #[error("malformed answer from {addr} to {what}: {reason}")]
    Malformed {
        what: String,
        addr: String,
        reason: String,
    },
}

/// Runs one admin command and prints its report; the error is for `main` to print.
/// The ACL account to sign with: flags, else $ROCKETMQ_ACCESS_KEY / $ROCKETMQ_SECRET_KEY; none when
/// no access key is given. An access key without a secret is a usage error.
fn credentials(
    access_key: Option<String>,
    secret_key: Option<String>,
) -> Result<Option<crate::acl::sign::Credentials>, AdminError> {
    let access_key = access_key.or_else(|| std::env::var("ROCKETMQ_ACCESS_KEY").ok());
    let secret_key = secret_key.or_else(|| std::env::var("ROCKETMQ_SECRET_KEY").ok());
    match (access_key, secret_key) {
        (None, _) => Ok(None),
        (Some(access_key), Some(secret_key)) => Ok(Some(crate::acl::sign::Credentials {
            access_key,
            secret_key,
        })),
        (Some(_), None) => Err(AdminError::Usage(
            "--accessKey needs a secret: set ROCKETMQ_SECRET_KEY (or --secretKey)".into(),
        )),
    }
}

pub fn run(args: AdminArgs) -> Result<(), AdminError> {
    let json = args.json;
    let namesrv = args
        .namesrv
        .or_else(|| std::env::var("NAMESRV_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:9876".to_string());
    let namesrv = namesrv
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let credentials = credentials(args.access_key, args.secret_key)?;
    let command = args.command;
    let report = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name("bolide-admin")
        .spawn(move || async move { ops::execute(&namesrv, timeout, credentials, command).await })
        .map_err(|e| AdminError::Usage(format!("cannot start the executor: {e}")))?
        .join()
        .map_err(|e| AdminError::Usage(format!("the executor failed: {e}")))??;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.json).unwrap_or_default()
        );
    } else {
        print!("{}", report.text);
    }
    Ok(())
}
