//! Where each request runs: the routing table as data ([`ROUTES`]), the accepting shard's entry point
//! ([`Broker::route`]) and the owner shard's ([`Broker::serve_owned`]).
//!
//! A request is looked up once, on the shard that read it. Owner-routed requests are parsed there into
//! an [`OwnedRequest`] (the typed header: it names the queue), and that parsed request travels to the
//! owner, so no header is parsed twice. Everything else runs on the accepting shard, whose processor
//! reaches the shards it needs itself ([`Reach`]).
//!
//! | codes | route | runs on |
//! |---|---|---|
//! | SEND_MESSAGE(_V2), SEND_BATCH_MESSAGE | `Owner(Send)` | accepting shard checks the topic (auto-creates it through shard 0) and picks the queue when the client lets the broker choose; then the queue's owner |
//! | PULL, LITE_PULL, offsets (14, 15, 29, 30, 31, 32), QUERY_CONSUME_QUEUE | `Owner(..)` | owner of (topic, queue) |
//! | VIEW_MESSAGE_BY_ID | `Owner(ViewMessageById)` | shard whose log holds the offset (`offset >> 48`) |
//! | QUERY_MESSAGE | `Here(.., AllShards)` | accepting shard asks every shard's index (`Owned::QueryMessageShard`), merges |
//! | CONSUMER_SEND_MSG_BACK | `Owner(SendMsgBack)` | shard whose log holds the offset; the copy then goes to its queue's owner as a send |
//! | UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, DELETE_SUBSCRIPTIONGROUP | `Here(.., ShardZero)` | shard 0 (authoritative group table) |
//! | GET_ALL_SUBSCRIPTIONGROUP_CONFIG | `Here(.., Local)` | accepting shard |
//! | GET_SUBSCRIPTIONGROUP_CONFIG | `Here(.., Local)` | accepting shard (a missing group is created on shard 0) |
//! | CLONE_GROUP_OFFSET | `Here(.., AllShards)` | every shard copies the offsets of the queues it owns |
//! | INVOKE_BROKER_TO_RESET_OFFSET | `Here(.., QueueOwners)` | each queue's owner resets it (`Owned::ResetQueueOffset`, internal), then consumers are told |
//! | END_TRANSACTION | `Owner(EndTransaction)` | shard whose log holds the half message (`commitLogOffset >> 48`) |
//! | HEART_BEAT, UNREGISTER_CLIENT | `Here(.., AllShards)` | every shard (registry replicas), then answered |
//! | LOCK/UNLOCK_BATCH_MQ | `Here(.., QueueOwners)` | split by owner, merged |
//! | UPDATE_AND_CREATE_TOPIC | `Here(.., ShardZero)` | shard 0 (authoritative topic table) |
//! | consumer list, topic configs, client config | `Here(.., Local)` | accepting shard |
//! | NameServer codes (101, 105, 106, 206, 219, 224, 319, 901, ...) | `Here(NameServer, Local)` | accepting shard, from its registry replica and topic replica |
//! | REGISTER_BROKER, UNREGISTER_BROKER, DELETE_TOPIC_IN_NAMESRV, WIPE/ADD_WRITE_PERM_OF_BROKER, QUERY_DATA_VERSION, BROKER_HEARTBEAT, REGISTER_TOPIC_IN_NAMESRV | `Here(.., AllShards)` | every shard's registry replica, then answered |
//! | PUT_KV_CONFIG, DELETE_KV_CONFIG, UPDATE_NAMESRV_CONFIG | `Here(.., ShardZero)` | shard 0 persists the KV table, then every shard's settings replica |
//! | DELETE_TOPIC_IN_BROKER | `Here(.., ShardZero)` | shard 0, replicated to every shard |
//! | topic stats, consume time span | `Here(.., QueueOwners)` | accepting shard asks each queue's owner |
//! | consume stats (one group's, every group's), consumers of a topic, runtime info, statistics items, replication status, config update | `Here(.., AllShards)` | every shard's part, merged |
//! | consumer and producer connections, all producers, broker config, system topics, one topic's config | `Here(.., Local)` | accepting shard |
//! | GET_CONSUMER_RUNNING_INFO | `Here(.., Local)` | asks the client through the shard holding its connection |
//! | INVOKE_BROKER_TO_GET_CONSUMER_STATUS | `Here(.., Local)` | asks each live consumer of the group (GET_CONSUMER_STATUS_FROM_CLIENT) as above, merges |
//! | CONSUME_MESSAGE_DIRECTLY | `Here(.., Local)` | reads the message on the shard whose log holds it (`Owned::ViewMessageById`), then asks the client as above |
//! | SEND_REPLY_MESSAGE(_V2) | `Here(.., Local)` | checks as a send, pushes the reply to the requesting client through the shard holding its connection, then stores it as a send on the queue's owner |
//! | CLEAN_EXPIRED_CONSUMEQUEUE, DELETE_EXPIRED_COMMITLOG | `Here(.., AllShards)` | every shard runs retention now (`Control::RunRetention`) |
//! | CLEAN_UNUSED_TOPIC | `Here(.., AllShards)` | every shard empties its queues of topics with no config (`Control::CleanUnusedTopics`) |
//! | UPDATE_AND_CREATE_ACL_CONFIG, DELETE_ACL_CONFIG, GET_BROKER_CLUSTER_ACL_INFO, UPDATE_GLOBAL_WHITE_ADDRS_CONFIG | `Here(.., Local)` | accepting shard: the accounts are one table shared by every shard (`acl::Acl`) |
//! | POP_MESSAGE | `Here(.., QueueOwners)` | accepting shard, in rounds: each owner of the topic's queues pops its part (`Owned::PopShard`, internal); between rounds every owner watches its queues (`Owned::PopWatch`, internal) |
//! | ACK_MESSAGE, CHANGE_MESSAGE_INVISIBLETIME | `Owner(..)` | owner of (topic, queue) |
//! | BATCH_ACK_MESSAGE | `Here(.., QueueOwners)` | accepting shard sends each queue's acks to its owner (`Owned::AckBatch`, internal) |
//! | QUERY_ASSIGNMENT, SET_MESSAGE_REQUEST_MODE | `Here(.., Local)` | accepting shard (the request modes are one table shared by every shard) |
//! | broker-to-client codes | `NotSupported` | REQUEST_CODE_NOT_SUPPORTED |
//! | unknown codes | none | REQUEST_CODE_NOT_SUPPORTED |
//!
//! A test checks that every code in `remoting::codes::request::ALL` has exactly one entry. A new
//! command is one entry here, one variant in [`Owned`] or [`Here`], and its processor; the compiler
//! then points at every `match` that must learn it.

use std::rc::Rc;

use super::processors::pop::{AckBatchRequest, PopShardRequest, PopWatchRequest};
use super::status::header_error;
use super::{Broker, Control, ShardMsg};
use crate::net::{ConnId, Handler, LocalFuture, Outbox, RequestCtx};
use crate::remoting::codes::{request as rq, response as rs};
use crate::remoting::headers::{
    AckMessageHeader, ConsumerSendMsgBackHeader, EndTransactionHeader, HeaderError,
    PullMessageHeader, QueryConsumeQueueHeader, QueryConsumerOffsetHeader, QueryMessageHeader,
    QueueHeader, ResetOffsetHeader, SearchOffsetHeader, SendMessageHeader,
    UpdateConsumerOffsetHeader, ViewMessageByIdHeader,
};
use crate::remoting::RemotingCommand;
use crate::shard::placement::owner;
use crate::shard::ShardId;
use crate::storage::PhysicalOffset;

/// Requests run by the shard that owns what they name (a queue, or a commit-log position).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owned {
    Send,
    Pull,
    QueryConsumerOffset,
    UpdateConsumerOffset,
    GetMaxOffset,
    GetMinOffset,
    SearchOffsetByTimestamp,
    GetEarliestMsgStoreTime,
    ViewMessageById,
    /// One shard's part of a QUERY_MESSAGE (no ROUTES row: the accepting shard of
    /// `Here::QueryMessage` sends it to every shard).
    QueryMessageShard,
    SendMsgBack,
    /// One queue's step of INVOKE_BROKER_TO_RESET_OFFSET (no code of its own: sent by the
    /// accepting shard of a 222 to each queue owner).
    ResetQueueOffset,
    EndTransaction,
    QueryConsumeQueue,
    /// One owner's part of a pop round (no ROUTES row: the accepting shard of `Here::Pop` sends
    /// it to each owner of the topic's queues).
    PopShard,
    /// An owner's watch between pop rounds (no ROUTES row either).
    PopWatch,
    AckMessage,
    ChangeInvisibleTime,
    /// One queue's acks of a BATCH_ACK_MESSAGE (no ROUTES row: the accepting shard of
    /// `Here::BatchAck` sends it to each queue's owner).
    AckBatch,
}

/// Requests run by the accepting shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Here {
    Heartbeat,
    UnregisterClient,
    ConsumerListByGroup,
    LockBatch,
    UnlockBatch,
    CheckClientConfig,
    CreateTopic,
    AllTopicConfig,
    NameServer,
    QueryMessage,
    UpdateSubscriptionGroup,
    AllSubscriptionGroups,
    SubscriptionGroup,
    DeleteSubscriptionGroup,
    ResetOffset,
    DeleteTopic,
    SystemTopics,
    TopicStats,
    ConsumeStats,
    ConsumerConnection,
    TopicConsumeByWho,
    ConsumeTimeSpan,
    BrokerRuntimeInfo,
    BrokerConfig,
    UpdateBrokerConfig,
    TopicConfig,
    ConsumerRunningInfo,
    RegisterBroker,
    UnregisterBroker,
    DeleteTopicInNamesrv,
    NamesrvSettingsWrite,
    WritePermOfBroker,
    ProducerConnection,
    BrokerStatsData,
    BrokerConsumeStats,
    AllProducerInfo,
    HaStatus,
    CloneGroupOffset,
    BrokerNotice,
    ConsumeMessageDirectly,
    ConsumerStatus,
    ReplyMessage,
    RunRetention,
    CleanUnusedTopic,
    AclAdmin,
    Pop,
    BatchAck,
    QueryAssignment,
    SetMessageRequestMode,
}

/// Which shards a [`Here`] processor reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// This shard's replicas only.
    Local,
    /// Every shard, this one included, before the answer.
    AllShards,
    /// The owners of the queues in the body, each asked for its part.
    QueueOwners,
    /// Shard 0, which owns the authoritative metadata and replicates it.
    ShardZero,
}

/// Where a request runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Owner(Owned),
    Here(Here, Reach),
    /// A code the broker knows but does not serve (yet).
    NotSupported,
}

/// One row of the routing table.
#[derive(Debug, Clone, Copy)]
pub struct RouteEntry {
    pub code: i32,
    pub route: Route,
}

const fn entry(code: i32, route: Route) -> RouteEntry {
    RouteEntry { code, route }
}

/// The routing table. See the module comment.
pub const ROUTES: &[RouteEntry] = &[
    entry(rq::SEND_MESSAGE, Route::Owner(Owned::Send)),
    entry(rq::SEND_MESSAGE_V2, Route::Owner(Owned::Send)),
    entry(rq::SEND_BATCH_MESSAGE, Route::Owner(Owned::Send)),
    entry(rq::PULL_MESSAGE, Route::Owner(Owned::Pull)),
    entry(rq::LITE_PULL_MESSAGE, Route::Owner(Owned::Pull)),
    entry(
        rq::QUERY_CONSUMER_OFFSET,
        Route::Owner(Owned::QueryConsumerOffset),
    ),
    entry(
        rq::UPDATE_CONSUMER_OFFSET,
        Route::Owner(Owned::UpdateConsumerOffset),
    ),
    entry(rq::GET_MAX_OFFSET, Route::Owner(Owned::GetMaxOffset)),
    entry(rq::GET_MIN_OFFSET, Route::Owner(Owned::GetMinOffset)),
    entry(
        rq::SEARCH_OFFSET_BY_TIMESTAMP,
        Route::Owner(Owned::SearchOffsetByTimestamp),
    ),
    entry(
        rq::GET_EARLIEST_MSG_STORETIME,
        Route::Owner(Owned::GetEarliestMsgStoreTime),
    ),
    entry(rq::VIEW_MESSAGE_BY_ID, Route::Owner(Owned::ViewMessageById)),
    entry(
        rq::QUERY_CONSUME_QUEUE,
        Route::Owner(Owned::QueryConsumeQueue),
    ),
    entry(
        rq::HEART_BEAT,
        Route::Here(Here::Heartbeat, Reach::AllShards),
    ),
    entry(
        rq::UNREGISTER_CLIENT,
        Route::Here(Here::UnregisterClient, Reach::AllShards),
    ),
    entry(
        rq::GET_CONSUMER_LIST_BY_GROUP,
        Route::Here(Here::ConsumerListByGroup, Reach::Local),
    ),
    entry(
        rq::LOCK_BATCH_MQ,
        Route::Here(Here::LockBatch, Reach::QueueOwners),
    ),
    entry(
        rq::UNLOCK_BATCH_MQ,
        Route::Here(Here::UnlockBatch, Reach::QueueOwners),
    ),
    entry(
        rq::CHECK_CLIENT_CONFIG,
        Route::Here(Here::CheckClientConfig, Reach::Local),
    ),
    entry(
        rq::UPDATE_AND_CREATE_TOPIC,
        Route::Here(Here::CreateTopic, Reach::ShardZero),
    ),
    entry(
        rq::GET_ALL_TOPIC_CONFIG,
        Route::Here(Here::AllTopicConfig, Reach::Local),
    ),
    entry(
        rq::GET_ROUTEINFO_BY_TOPIC,
        Route::Here(Here::NameServer, Reach::Local),
    ),
    entry(
        rq::GET_BROKER_CLUSTER_INFO,
        Route::Here(Here::NameServer, Reach::Local),
    ),
    entry(
        rq::GET_KV_CONFIG,
        Route::Here(Here::NameServer, Reach::Local),
    ),
    entry(
        rq::PUT_KV_CONFIG,
        Route::Here(Here::NamesrvSettingsWrite, Reach::ShardZero),
    ),
    entry(
        rq::DELETE_KV_CONFIG,
        Route::Here(Here::NamesrvSettingsWrite, Reach::ShardZero),
    ),
    entry(
        rq::UPDATE_NAMESRV_CONFIG,
        Route::Here(Here::NamesrvSettingsWrite, Reach::ShardZero),
    ),
    entry(
        rq::WIPE_WRITE_PERM_OF_BROKER,
        Route::Here(Here::WritePermOfBroker, Reach::AllShards),
    ),
    entry(
        rq::ADD_WRITE_PERM_OF_BROKER,
        Route::Here(Here::WritePermOfBroker, Reach::AllShards),
    ),
    entry(
        rq::GET_KVLIST_BY_NAMESPACE,
        Route::Here(Here::NameServer, Reach::Local),
    ),
    entry(
        rq::GET_NAMESRV_CONFIG,
        Route::Here(Here::NameServer, Reach::Local),
    ),
    entry(
        rq::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
        Route::Here(Here::NameServer, Reach::Local),
    ),
    entry(
        rq::DELETE_TOPIC_IN_BROKER,
        Route::Here(Here::DeleteTopic, Reach::ShardZero),
    ),
    entry(
        rq::DELETE_TOPIC_IN_NAMESRV,
        Route::Here(Here::DeleteTopicInNamesrv, Reach::AllShards),
    ),
    entry(
        rq::QUERY_DATA_VERSION,
        Route::Here(Here::BrokerNotice, Reach::AllShards),
    ),
    entry(
        rq::BROKER_HEARTBEAT,
        Route::Here(Here::BrokerNotice, Reach::AllShards),
    ),
    entry(
        rq::REGISTER_TOPIC_IN_NAMESRV,
        Route::Here(Here::BrokerNotice, Reach::AllShards),
    ),
    entry(
        rq::GET_TOPICS_BY_CLUSTER,
        Route::Here(Here::NameServer, Reach::Local),
    ),
    entry(
        rq::GET_BROKER_MEMBER_GROUP,
        Route::Here(Here::NameServer, Reach::Local),
    ),
    entry(
        rq::GET_SYSTEM_TOPIC_LIST_FROM_NS,
        Route::Here(Here::SystemTopics, Reach::Local),
    ),
    entry(
        rq::GET_SYSTEM_TOPIC_LIST_FROM_BROKER,
        Route::Here(Here::SystemTopics, Reach::Local),
    ),
    entry(
        rq::GET_TOPIC_STATS_INFO,
        Route::Here(Here::TopicStats, Reach::QueueOwners),
    ),
    entry(
        rq::GET_CONSUME_STATS,
        Route::Here(Here::ConsumeStats, Reach::AllShards),
    ),
    entry(
        rq::GET_CONSUMER_CONNECTION_LIST,
        Route::Here(Here::ConsumerConnection, Reach::Local),
    ),
    entry(
        rq::GET_PRODUCER_CONNECTION_LIST,
        Route::Here(Here::ProducerConnection, Reach::Local),
    ),
    entry(
        rq::GET_ALL_PRODUCER_INFO,
        Route::Here(Here::AllProducerInfo, Reach::Local),
    ),
    entry(
        rq::VIEW_BROKER_STATS_DATA,
        Route::Here(Here::BrokerStatsData, Reach::AllShards),
    ),
    entry(
        rq::GET_BROKER_CONSUME_STATS,
        Route::Here(Here::BrokerConsumeStats, Reach::AllShards),
    ),
    entry(
        rq::GET_BROKER_HA_STATUS,
        Route::Here(Here::HaStatus, Reach::AllShards),
    ),
    entry(
        rq::QUERY_TOPIC_CONSUME_BY_WHO,
        Route::Here(Here::TopicConsumeByWho, Reach::AllShards),
    ),
    entry(
        rq::QUERY_CONSUME_TIME_SPAN,
        Route::Here(Here::ConsumeTimeSpan, Reach::QueueOwners),
    ),
    entry(
        rq::GET_BROKER_RUNTIME_INFO,
        Route::Here(Here::BrokerRuntimeInfo, Reach::AllShards),
    ),
    entry(
        rq::GET_BROKER_CONFIG,
        Route::Here(Here::BrokerConfig, Reach::Local),
    ),
    entry(
        rq::UPDATE_BROKER_CONFIG,
        Route::Here(Here::UpdateBrokerConfig, Reach::AllShards),
    ),
    entry(
        rq::GET_TOPIC_CONFIG,
        Route::Here(Here::TopicConfig, Reach::Local),
    ),
    entry(
        rq::GET_CONSUMER_RUNNING_INFO,
        Route::Here(Here::ConsumerRunningInfo, Reach::Local),
    ),
    entry(
        rq::CONSUME_MESSAGE_DIRECTLY,
        Route::Here(Here::ConsumeMessageDirectly, Reach::Local),
    ),
    entry(
        rq::QUERY_MESSAGE,
        Route::Here(Here::QueryMessage, Reach::AllShards),
    ),
    entry(rq::CONSUMER_SEND_MSG_BACK, Route::Owner(Owned::SendMsgBack)),
    entry(
        rq::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        Route::Here(Here::UpdateSubscriptionGroup, Reach::ShardZero),
    ),
    entry(
        rq::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
        Route::Here(Here::AllSubscriptionGroups, Reach::Local),
    ),
    entry(
        rq::GET_SUBSCRIPTIONGROUP_CONFIG,
        Route::Here(Here::SubscriptionGroup, Reach::Local),
    ),
    entry(
        rq::DELETE_SUBSCRIPTIONGROUP,
        Route::Here(Here::DeleteSubscriptionGroup, Reach::ShardZero),
    ),
    entry(
        rq::CLONE_GROUP_OFFSET,
        Route::Here(Here::CloneGroupOffset, Reach::AllShards),
    ),
    entry(
        rq::INVOKE_BROKER_TO_RESET_OFFSET,
        Route::Here(Here::ResetOffset, Reach::QueueOwners),
    ),
    entry(rq::END_TRANSACTION, Route::Owner(Owned::EndTransaction)),
    // Broker-to-client requests: a client sending them gets REQUEST_CODE_NOT_SUPPORTED.
    entry(rq::CHECK_TRANSACTION_STATE, Route::NotSupported),
    entry(rq::NOTIFY_CONSUMER_IDS_CHANGED, Route::NotSupported),
    entry(rq::RESET_CONSUMER_CLIENT_OFFSET, Route::NotSupported),
    entry(rq::GET_CONSUMER_STATUS_FROM_CLIENT, Route::NotSupported),
    entry(
        rq::INVOKE_BROKER_TO_GET_CONSUMER_STATUS,
        Route::Here(Here::ConsumerStatus, Reach::Local),
    ),
    entry(
        rq::SEND_REPLY_MESSAGE,
        Route::Here(Here::ReplyMessage, Reach::Local),
    ),
    entry(
        rq::SEND_REPLY_MESSAGE_V2,
        Route::Here(Here::ReplyMessage, Reach::Local),
    ),
    entry(rq::PUSH_REPLY_MESSAGE_TO_CLIENT, Route::NotSupported),
    entry(
        rq::CLEAN_EXPIRED_CONSUMEQUEUE,
        Route::Here(Here::RunRetention, Reach::AllShards),
    ),
    entry(
        rq::DELETE_EXPIRED_COMMITLOG,
        Route::Here(Here::RunRetention, Reach::AllShards),
    ),
    entry(
        rq::CLEAN_UNUSED_TOPIC,
        Route::Here(Here::CleanUnusedTopic, Reach::AllShards),
    ),
    entry(
        rq::UPDATE_AND_CREATE_ACL_CONFIG,
        Route::Here(Here::AclAdmin, Reach::Local),
    ),
    entry(
        rq::DELETE_ACL_CONFIG,
        Route::Here(Here::AclAdmin, Reach::Local),
    ),
    entry(
        rq::GET_BROKER_CLUSTER_ACL_INFO,
        Route::Here(Here::AclAdmin, Reach::Local),
    ),
    entry(
        rq::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG,
        Route::Here(Here::AclAdmin, Reach::Local),
    ),
    entry(
        rq::REGISTER_BROKER,
        Route::Here(Here::RegisterBroker, Reach::AllShards),
    ),
    entry(rq::POP_MESSAGE, Route::Here(Here::Pop, Reach::QueueOwners)),
    entry(rq::ACK_MESSAGE, Route::Owner(Owned::AckMessage)),
    entry(
        rq::CHANGE_MESSAGE_INVISIBLETIME,
        Route::Owner(Owned::ChangeInvisibleTime),
    ),
    entry(
        rq::BATCH_ACK_MESSAGE,
        Route::Here(Here::BatchAck, Reach::QueueOwners),
    ),
    entry(
        rq::QUERY_ASSIGNMENT,
        Route::Here(Here::QueryAssignment, Reach::Local),
    ),
    entry(
        rq::SET_MESSAGE_REQUEST_MODE,
        Route::Here(Here::SetMessageRequestMode, Reach::Local),
    ),
    entry(
        rq::UNREGISTER_BROKER,
        Route::Here(Here::UnregisterBroker, Reach::AllShards),
    ),
];

/// The route of a request code; `None` for codes the broker does not know.
pub fn route_of(code: i32) -> Option<Route> {
    ROUTES.iter().find(|e| e.code == code).map(|e| e.route)
}

/// An owner-routed request, parsed on the accepting shard and carried to the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedRequest {
    Send(SendMessageHeader),
    Pull(PullMessageHeader),
    QueryConsumerOffset(QueryConsumerOffsetHeader),
    UpdateConsumerOffset(UpdateConsumerOffsetHeader),
    GetMaxOffset(QueueHeader),
    GetMinOffset(QueueHeader),
    SearchOffsetByTimestamp(SearchOffsetHeader),
    GetEarliestMsgStoreTime(QueueHeader),
    ViewMessageById(ViewMessageByIdHeader),
    QueryMessageShard(QueryMessageHeader),
    SendMsgBack(ConsumerSendMsgBackHeader),
    ResetQueueOffset(ResetOffsetHeader),
    EndTransaction(EndTransactionHeader),
    QueryConsumeQueue(QueryConsumeQueueHeader),
    /// Boxed: the largest variant otherwise, and every hop copies the enum.
    PopShard(Box<PopShardRequest>),
    PopWatch(PopWatchRequest),
    AckMessage(AckMessageHeader),
    ChangeInvisibleTime(AckMessageHeader),
    AckBatch(Box<AckBatchRequest>),
}

impl OwnedRequest {
    /// Parses the typed header of an owner-routed request.
    pub fn parse(kind: Owned, cmd: &RemotingCommand) -> Result<OwnedRequest, HeaderError> {
        Ok(match kind {
            Owned::Send => OwnedRequest::Send(SendMessageHeader::parse(cmd)?),
            Owned::Pull => OwnedRequest::Pull(PullMessageHeader::parse(cmd)?),
            Owned::QueryConsumerOffset => {
                OwnedRequest::QueryConsumerOffset(QueryConsumerOffsetHeader::parse(cmd)?)
            }
            Owned::UpdateConsumerOffset => {
                OwnedRequest::UpdateConsumerOffset(UpdateConsumerOffsetHeader::parse(cmd)?)
            }
            Owned::GetMaxOffset => OwnedRequest::GetMaxOffset(QueueHeader::parse(cmd)?),
            Owned::GetMinOffset => OwnedRequest::GetMinOffset(QueueHeader::parse(cmd)?),
            Owned::SearchOffsetByTimestamp => {
                OwnedRequest::SearchOffsetByTimestamp(SearchOffsetHeader::parse(cmd)?)
            }
            Owned::GetEarliestMsgStoreTime => {
                OwnedRequest::GetEarliestMsgStoreTime(QueueHeader::parse(cmd)?)
            }
            Owned::ViewMessageById => {
                OwnedRequest::ViewMessageById(ViewMessageByIdHeader::parse(cmd)?)
            }
            Owned::QueryMessageShard => {
                OwnedRequest::QueryMessageShard(QueryMessageHeader::parse(cmd)?)
            }
            Owned::SendMsgBack => OwnedRequest::SendMsgBack(ConsumerSendMsgBackHeader::parse(cmd)?),
            Owned::ResetQueueOffset => {
                OwnedRequest::ResetQueueOffset(ResetOffsetHeader::parse(cmd)?)
            }
            Owned::EndTransaction => {
                OwnedRequest::EndTransaction(EndTransactionHeader::parse(cmd)?)
            }
            Owned::QueryConsumeQueue => {
                OwnedRequest::QueryConsumeQueue(QueryConsumeQueueHeader::parse(cmd)?)
            }
            Owned::AckMessage => OwnedRequest::AckMessage(AckMessageHeader::parse(cmd)?),
            Owned::ChangeInvisibleTime => {
                OwnedRequest::ChangeInvisibleTime(AckMessageHeader::parse_change(cmd)?)
            }
            // Built by the accepting shard of a pop or a batch ack, never parsed from a client's
            // header.
            Owned::PopShard | Owned::PopWatch | Owned::AckBatch => {
                return Err(HeaderError::Invalid {
                    field: "code",
                    value: cmd.code.to_string(),
                })
            }
        })
    }

    /// Which kind of request this is.
    pub fn kind(&self) -> Owned {
        match self {
            OwnedRequest::Send(_) => Owned::Send,
            OwnedRequest::Pull(_) => Owned::Pull,
            OwnedRequest::QueryConsumerOffset(_) => Owned::QueryConsumerOffset,
            OwnedRequest::UpdateConsumerOffset(_) => Owned::UpdateConsumerOffset,
            OwnedRequest::GetMaxOffset(_) => Owned::GetMaxOffset,
            OwnedRequest::GetMinOffset(_) => Owned::GetMinOffset,
            OwnedRequest::SearchOffsetByTimestamp(_) => Owned::SearchOffsetByTimestamp,
            OwnedRequest::GetEarliestMsgStoreTime(_) => Owned::GetEarliestMsgStoreTime,
            OwnedRequest::ViewMessageById(_) => Owned::ViewMessageById,
            OwnedRequest::QueryMessageShard(_) => Owned::QueryMessageShard,
            OwnedRequest::SendMsgBack(_) => Owned::SendMsgBack,
            OwnedRequest::ResetQueueOffset(_) => Owned::ResetQueueOffset,
            OwnedRequest::EndTransaction(_) => Owned::EndTransaction,
            OwnedRequest::QueryConsumeQueue(_) => Owned::QueryConsumeQueue,
            OwnedRequest::PopShard(_) => Owned::PopShard,
            OwnedRequest::PopWatch(_) => Owned::PopWatch,
            OwnedRequest::AckMessage(_) => Owned::AckMessage,
            OwnedRequest::ChangeInvisibleTime(_) => Owned::ChangeInvisibleTime,
            OwnedRequest::AckBatch(_) => Owned::AckBatch,
        }
    }

    /// The (topic, queue id) a queue-addressed request names; `None` for a send (its queue may be
    /// picked by the broker) and for VIEW_MESSAGE_BY_ID and END_TRANSACTION (addressed by commit-log
    /// position).
    fn queue(&self) -> Option<(&str, i32)> {
        match self {
            OwnedRequest::Send(_)
            | OwnedRequest::ViewMessageById(_)
            | OwnedRequest::QueryMessageShard(_)
            | OwnedRequest::SendMsgBack(_)
            | OwnedRequest::EndTransaction(_)
            | OwnedRequest::PopShard(_)
            | OwnedRequest::PopWatch(_)
            | OwnedRequest::AckBatch(_) => None,
            OwnedRequest::AckMessage(h) | OwnedRequest::ChangeInvisibleTime(h) => {
                Some((&h.topic, h.queue_id))
            }
            OwnedRequest::ResetQueueOffset(h) => Some((&h.topic, h.queue_id.unwrap_or(-1))),
            OwnedRequest::Pull(h) => Some((&h.topic, h.queue_id)),
            OwnedRequest::QueryConsumerOffset(h) => Some((&h.topic, h.queue_id)),
            OwnedRequest::UpdateConsumerOffset(h) => Some((&h.topic, h.queue_id)),
            OwnedRequest::GetMaxOffset(h)
            | OwnedRequest::GetMinOffset(h)
            | OwnedRequest::GetEarliestMsgStoreTime(h) => Some((&h.topic, h.queue_id)),
            OwnedRequest::SearchOffsetByTimestamp(h) => Some((&h.topic, h.queue_id)),
            OwnedRequest::QueryConsumeQueue(h) => Some((&h.topic, h.queue_id)),
        }
    }
}

fn not_supported(cmd: &RemotingCommand) -> RemotingCommand {
    cmd.error_response(
        rs::REQUEST_CODE_NOT_SUPPORTED,
        format!(" request type {} not supported", cmd.code),
    )
}

impl Handler for Broker {
    fn handle(
        self: Rc<Self>,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> LocalFuture<Option<RemotingCommand>> {
        Box::pin(async move {
            let oneway = cmd.is_oneway();
            tracing::trace!(shard = %self.shard, code = cmd.code, opaque = cmd.opaque, flag = cmd.flag, ext = ?cmd.ext_fields, body_bytes = cmd.body.len(), peer = %ctx.peer, "request");
            self.metrics.requests.set(self.metrics.requests.get() + 1);
            // Monotonic duration for rocketmq_rpc_latency (two vDSO reads per request).
            let (code, started) = (cmd.code, std::time::Instant::now());
            let route = route_of(code);
            let label = match route {
                Some(_) => code,
                None => crate::metrics::UNSUPPORTED_CODE,
            };
            let answer = self.clone().route(cmd, ctx, route).await;
            self.metrics
                .record_rpc(label, started.elapsed().as_secs_f64() * 1000.0);
            if oneway {
                None
            } else {
                answer
            }
        })
    }

    fn opened(&self, conn: ConnId, outbox: Outbox) {
        self.conns.borrow_mut().insert(conn.id, outbox);
    }

    fn response(&self, _conn: ConnId, cmd: RemotingCommand) {
        if let Some(tx) = self.client_calls.borrow_mut().remove(&cmd.opaque) {
            let _ = tx.send(cmd);
        }
    }

    fn hand_off(&self, to: ShardId, conn: crate::net::Adopted) {
        self.router.send_detached(to, ShardMsg::Adopt(conn));
    }

    fn closed(&self, conn: ConnId) {
        self.conns.borrow_mut().remove(&conn.id);
        // Every shard drops the clients bound to this connection (and their locks).
        for s in self.router.shards() {
            let (tx, _rx) = flume::bounded(1);
            self.router.send_detached(
                s,
                ShardMsg::Control {
                    op: Control::ConnectionClosed(conn),
                    reply: tx,
                },
            );
        }
    }
}

impl Broker {
    /// Accepting shard: looks the request up in [`ROUTES`] and runs it where the table says.
    async fn route(
        self: Rc<Self>,
        cmd: RemotingCommand,
        ctx: RequestCtx,
        route: Option<Route>,
    ) -> Option<RemotingCommand> {
        if let Err(denial) = self.acl_check(&cmd, &ctx) {
            return Some(cmd.error_response(rs::NO_PERMISSION, denial.to_string()));
        }
        match route {
            None | Some(Route::NotSupported) => Some(not_supported(&cmd)),
            // Boxed: the admin and client-management requests served here are rare, and their
            // largest future would otherwise be copied with every send (see `process_send`).
            Some(Route::Here(here, _reach)) => {
                Some(Box::pin(self.serve_here(here, cmd, ctx)).await)
            }
            Some(Route::Owner(kind)) => {
                let req = match OwnedRequest::parse(kind, &cmd) {
                    Ok(r) => r,
                    Err(e) => return Some(header_error(&cmd, &e)),
                };
                if let OwnedRequest::Send(h) = req {
                    if !self.accepts_writes() {
                        // Before auto-creation: a slave creates no topic (the store refuses too).
                        let remark = crate::broker::status::SLAVE_REMARK;
                        return Some(cmd.error_response(rs::SERVICE_NOT_AVAILABLE, remark));
                    }
                    return self.route_send(h, cmd, ctx).await;
                }
                let to = match self.owner_of(&req) {
                    Ok(to) => to,
                    Err(remark) => return Some(cmd.error_response(rs::SYSTEM_ERROR, remark)),
                };
                self.forward(to, req, cmd, ctx).await
            }
        }
    }

    /// ACL (when on): requests to the broker ports must be signed by an account with the permissions
    /// they need (`acl::decide`); the NameServer port stays open, as RocketMQ's NameServer is.
    /// Refusals are counted and logged at most once a second per shard (never with secrets).
    fn acl_check(&self, cmd: &RemotingCommand, ctx: &RequestCtx) -> Result<(), crate::acl::Denial> {
        let Some(acl) = &self.acl else { return Ok(()) };
        if ctx.local_port == self.cfg.namesrv_port {
            return Ok(());
        }
        let verdict = crate::acl::decide(
            &acl.snapshot(),
            cmd.code,
            &cmd.ext_fields,
            &cmd.body,
            ctx.peer.ip(),
        );
        if let Err(denial) = &verdict {
            let (n, last) = self.acl_denied.get();
            let now = crate::clock::now_ms();
            if now - last >= 1000 {
                tracing::warn!(shard = %self.shard, peer = %ctx.peer, code = cmd.code, denied_total = n + 1, "{denial}");
                self.acl_denied.set((n + 1, now));
            } else {
                self.acl_denied.set((n + 1, last));
            }
        }
        verdict
    }

    /// The shard that owns what an owner-routed request names (sends pick their queue first, in
    /// [`Broker::route_send`]); the error is the remark of a SYSTEM_ERROR.
    fn owner_of(&self, req: &OwnedRequest) -> Result<ShardId, String> {
        let by_log_offset = match req {
            OwnedRequest::ViewMessageById(h) => Some(h.offset),
            OwnedRequest::SendMsgBack(h) => Some(h.offset),
            _ => None,
        };
        if let Some(offset) = by_log_offset {
            let shard = PhysicalOffset(offset as u64).shard();
            if usize::from(shard) >= self.router.shard_count() {
                return Err(format!("can not find message by the offset, {offset}"));
            }
            return Ok(ShardId(shard));
        }
        if let OwnedRequest::EndTransaction(h) = req {
            let shard = PhysicalOffset(h.commit_log_offset as u64).shard();
            if usize::from(shard) >= self.router.shard_count() {
                return Err("Find prepared transaction message failed".into());
            }
            return Ok(ShardId(shard));
        }
        match req.queue() {
            Some((_, qid)) if qid < 0 => Err(format!("queueId[{qid}] is illegal")),
            Some((topic, qid)) => Ok(owner(topic, qid as u32, self.router.shard_count())),
            None => Err(format!("{:?} names no queue", req.kind())),
        }
    }

    /// Accepting shard: runs a [`Here`] request.
    async fn serve_here(
        self: Rc<Self>,
        here: Here,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> RemotingCommand {
        match here {
            Here::Heartbeat => self.heartbeat(cmd, ctx).await,
            Here::UnregisterClient => self.unregister_client(cmd).await,
            Here::ConsumerListByGroup => self.consumer_list(&cmd),
            Here::LockBatch | Here::UnlockBatch => self.lock_batch(cmd).await,
            Here::CheckClientConfig => super::processors::client::check_client_config(
                &cmd,
                self.cfg.enable_property_filter,
            ),
            Here::CreateTopic => self.create_topic(cmd).await,
            Here::AllTopicConfig => self.all_topic_config(&cmd),
            Here::NameServer => self.nameserver(&cmd),
            Here::QueryMessage => self.query_message(cmd, ctx).await,
            Here::UpdateSubscriptionGroup => self.update_subscription_group(cmd).await,
            Here::AllSubscriptionGroups => self.all_subscription_groups(&cmd),
            Here::SubscriptionGroup => self.subscription_group(cmd).await,
            Here::DeleteSubscriptionGroup => self.delete_subscription_group(cmd).await,
            Here::CloneGroupOffset => self.clone_group_offset(cmd).await,
            Here::ResetOffset => self.reset_offset(cmd, ctx).await,
            Here::DeleteTopic => self.delete_topic(cmd).await,
            Here::SystemTopics => self.system_topics(&cmd),
            Here::TopicStats => self.topic_stats(cmd).await,
            Here::ConsumeStats => self.consume_stats(cmd).await,
            Here::ConsumerConnection => self.consumer_connection(&cmd),
            Here::TopicConsumeByWho => self.topic_consume_by_who(cmd).await,
            Here::ConsumeTimeSpan => self.consume_time_span(cmd).await,
            Here::BrokerRuntimeInfo => self.broker_runtime_info(cmd).await,
            Here::BrokerConfig => self.broker_config(&cmd),
            Here::UpdateBrokerConfig => self.update_broker_config(cmd).await,
            Here::TopicConfig => self.topic_config(&cmd),
            Here::ConsumerRunningInfo => self.consumer_running_info(cmd).await,
            Here::ConsumeMessageDirectly => self.consume_message_directly(cmd, ctx).await,
            Here::ConsumerStatus => self.consumer_status(cmd).await,
            Here::ReplyMessage => self.reply_message(cmd, ctx).await,
            Here::RunRetention => self.run_retention_now(cmd).await,
            Here::CleanUnusedTopic => self.clean_unused_topics(cmd).await,
            Here::AclAdmin => self.acl_admin(&cmd).await,
            Here::Pop => self.pop(cmd, ctx).await,
            Here::BatchAck => self.batch_ack(cmd, ctx).await,
            Here::QueryAssignment => self.query_assignment(&cmd).await,
            Here::SetMessageRequestMode => self.set_message_request_mode(&cmd).await,
            Here::RegisterBroker => self.register_broker(cmd, ctx).await,
            Here::UnregisterBroker => self.unregister_broker(cmd).await,
            Here::DeleteTopicInNamesrv => self.delete_topic_in_namesrv(cmd).await,
            Here::BrokerNotice => self.broker_notice(cmd).await,
            Here::NamesrvSettingsWrite => self.namesrv_settings_write(cmd).await,
            Here::WritePermOfBroker => self.write_perm_of_broker(cmd).await,
            Here::ProducerConnection => self.producer_connection(&cmd),
            Here::AllProducerInfo => self.all_producer_info(&cmd),
            Here::BrokerStatsData => self.broker_stats_data(cmd).await,
            Here::BrokerConsumeStats => self.broker_consume_stats(cmd).await,
            Here::HaStatus => self.ha_status(cmd).await,
        }
    }

    /// Owner shard: runs a request whose queue (or commit log) this shard owns.
    pub(crate) fn serve_owned(
        self: Rc<Self>,
        req: OwnedRequest,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> LocalFuture<Option<RemotingCommand>> {
        Box::pin(async move {
            let oneway = cmd.is_oneway();
            let answer = match req {
                OwnedRequest::Send(h) => self.process_send(h, cmd, ctx).await,
                OwnedRequest::Pull(h) => self.process_pull(h, cmd).await,
                OwnedRequest::QueryConsumerOffset(h) => self.query_consumer_offset(h, &cmd),
                OwnedRequest::UpdateConsumerOffset(h) => self.update_consumer_offset(h, &cmd),
                OwnedRequest::GetMaxOffset(h) => self.max_offset(h, &cmd),
                OwnedRequest::GetMinOffset(h) => self.min_offset(h, &cmd),
                // The rest are boxed: rarer than sends and pulls, and their state would otherwise
                // be copied with every send and pull (see `process_send`).
                OwnedRequest::SearchOffsetByTimestamp(h) => {
                    Box::pin(self.search_offset_by_timestamp(h, &cmd)).await
                }
                OwnedRequest::GetEarliestMsgStoreTime(h) => {
                    Box::pin(self.earliest_msg_store_time(h, &cmd)).await
                }
                OwnedRequest::ViewMessageById(h) => Box::pin(self.view_message(h, &cmd)).await,
                OwnedRequest::QueryMessageShard(h) => {
                    Box::pin(self.query_message_here(h, &cmd)).await
                }
                OwnedRequest::SendMsgBack(h) => {
                    Box::pin(self.consumer_send_msg_back(h, &cmd, ctx)).await
                }
                OwnedRequest::ResetQueueOffset(h) => {
                    Box::pin(self.reset_queue_offset(h, &cmd)).await
                }
                OwnedRequest::EndTransaction(h) => Box::pin(self.end_transaction(h, &cmd)).await,
                OwnedRequest::QueryConsumeQueue(h) => self.query_consume_queue(h, &cmd),
                OwnedRequest::PopShard(r) => Box::pin(self.pop_here(*r, &cmd)).await,
                OwnedRequest::PopWatch(r) => Box::pin(self.pop_watch(r, &cmd)).await,
                OwnedRequest::AckMessage(h) | OwnedRequest::ChangeInvisibleTime(h) => {
                    self.pop_settle(h, &cmd)
                }
                OwnedRequest::AckBatch(r) => self.pop_settle_batch(*r, &cmd),
            };
            if oneway {
                None
            } else {
                Some(answer)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_known_code_has_exactly_one_entry() {
        for code in rq::ALL {
            let n = ROUTES.iter().filter(|e| e.code == *code).count();
            assert_eq!(n, 1, "request code {code} has {n} routing entries");
        }
        for e in ROUTES {
            assert!(
                rq::ALL.contains(&e.code),
                "{} is routed but unknown",
                e.code
            );
        }
        assert_eq!(route_of(9999), None);
    }

    #[test]
    fn nameserver_entries_are_the_nameserver_codes() {
        let routed: BTreeSet<i32> = ROUTES
            .iter()
            .filter(|e| matches!(e.route, Route::Here(Here::NameServer, _)))
            .map(|e| e.code)
            .collect();
        let served: BTreeSet<i32> = crate::nameserver::CODES.iter().copied().collect();
        assert_eq!(routed, served);
    }

    /// A command carrying every header field any owner-routed request needs.
    fn full_header(code: i32) -> RemotingCommand {
        let mut c = RemotingCommand::request(code);
        for (k, v) in [
            ("a", "pg"),
            ("b", "T"),
            ("e", "1"),
            ("g", "5"),
            ("producerGroup", "pg"),
            ("consumerGroup", "g"),
            ("topic", "T"),
            ("queueId", "1"),
            ("bornTimestamp", "5"),
            ("queueOffset", "0"),
            ("maxMsgNums", "32"),
            ("sysFlag", "0"),
            ("commitOffset", "3"),
            ("timestamp", "7"),
            ("offset", "9"),
            ("group", "g"),
            ("delayLevel", "0"),
            ("tranStateTableOffset", "0"),
            ("commitLogOffset", "9"),
            ("commitOrRollback", "8"),
            ("index", "0"),
            ("count", "10"),
            ("extraInfo", "9 5 1000 0 0 b 1 9"),
            ("invisibleTime", "1000"),
        ] {
            c.set_ext(k, v);
        }
        c
    }

    #[test]
    fn owner_routes_parse_into_their_kind_and_name_their_queue() {
        for e in ROUTES {
            let Route::Owner(kind) = e.route else {
                continue;
            };
            let req = OwnedRequest::parse(kind, &full_header(e.code))
                .unwrap_or_else(|err| panic!("code {}: {err}", e.code));
            assert_eq!(req.kind(), kind, "code {}", e.code);
            match kind {
                Owned::Send
                | Owned::ViewMessageById
                | Owned::SendMsgBack
                | Owned::EndTransaction => {
                    assert_eq!(req.queue(), None)
                }
                _ => assert_eq!(req.queue(), Some(("T", 1)), "code {}", e.code),
            }
        }
    }

    #[test]
    fn owner_routed_parse_errors_name_the_field() {
        let c = RemotingCommand::request(rq::GET_MAX_OFFSET);
        assert_eq!(
            OwnedRequest::parse(Owned::GetMaxOffset, &c),
            Err(HeaderError::Missing { field: "topic" })
        );
    }
}
