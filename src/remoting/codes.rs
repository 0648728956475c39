//! Request and response codes (remoting-protocol.md §2).

pub mod request {
    pub const SEND_MESSAGE: i32 = 10;
    pub const PULL_MESSAGE: i32 = 11;
    pub const QUERY_MESSAGE: i32 = 12;
    pub const QUERY_CONSUMER_OFFSET: i32 = 14;
    pub const UPDATE_CONSUMER_OFFSET: i32 = 15;
    pub const UPDATE_AND_CREATE_TOPIC: i32 = 17;
    pub const UPDATE_BROKER_CONFIG: i32 = 25;
    pub const GET_BROKER_CONFIG: i32 = 26;
    pub const GET_BROKER_RUNTIME_INFO: i32 = 28;
    pub const GET_ALL_TOPIC_CONFIG: i32 = 21;
    pub const SEARCH_OFFSET_BY_TIMESTAMP: i32 = 29;
    pub const GET_MAX_OFFSET: i32 = 30;
    pub const GET_MIN_OFFSET: i32 = 31;
    pub const GET_EARLIEST_MSG_STORETIME: i32 = 32;
    pub const VIEW_MESSAGE_BY_ID: i32 = 33;
    pub const HEART_BEAT: i32 = 34;
    pub const UNREGISTER_CLIENT: i32 = 35;
    pub const CONSUMER_SEND_MSG_BACK: i32 = 36;
    pub const END_TRANSACTION: i32 = 37;
    pub const GET_CONSUMER_LIST_BY_GROUP: i32 = 38;
    pub const CHECK_TRANSACTION_STATE: i32 = 39;
    pub const NOTIFY_CONSUMER_IDS_CHANGED: i32 = 40;
    pub const LOCK_BATCH_MQ: i32 = 41;
    pub const UNLOCK_BATCH_MQ: i32 = 42;
    pub const CHECK_CLIENT_CONFIG: i32 = 46;
    pub const PUT_KV_CONFIG: i32 = 100;
    pub const GET_KV_CONFIG: i32 = 101;
    pub const DELETE_KV_CONFIG: i32 = 102;
    pub const REGISTER_BROKER: i32 = 103;
    pub const UNREGISTER_BROKER: i32 = 104;
    pub const GET_ROUTEINFO_BY_TOPIC: i32 = 105;
    pub const GET_BROKER_CLUSTER_INFO: i32 = 106;
    pub const GET_TOPIC_STATS_INFO: i32 = 202;
    pub const WIPE_WRITE_PERM_OF_BROKER: i32 = 205;
    pub const GET_CONSUMER_CONNECTION_LIST: i32 = 203;
    pub const GET_PRODUCER_CONNECTION_LIST: i32 = 204;
    pub const GET_ALL_TOPIC_LIST_FROM_NAMESERVER: i32 = 206;
    pub const GET_CONSUME_STATS: i32 = 208;
    pub const DELETE_TOPIC_IN_BROKER: i32 = 215;
    pub const DELETE_TOPIC_IN_NAMESRV: i32 = 216;
    pub const GET_KVLIST_BY_NAMESPACE: i32 = 219;
    pub const GET_TOPICS_BY_CLUSTER: i32 = 224;
    pub const QUERY_TOPIC_CONSUME_BY_WHO: i32 = 300;
    pub const QUERY_CONSUME_TIME_SPAN: i32 = 303;
    pub const GET_SYSTEM_TOPIC_LIST_FROM_NS: i32 = 304;
    pub const GET_SYSTEM_TOPIC_LIST_FROM_BROKER: i32 = 305;
    pub const GET_CONSUMER_RUNNING_INFO: i32 = 307;
    pub const CONSUME_MESSAGE_DIRECTLY: i32 = 309;
    pub const CLONE_GROUP_OFFSET: i32 = 314;
    pub const VIEW_BROKER_STATS_DATA: i32 = 315;
    pub const GET_BROKER_CONSUME_STATS: i32 = 317;
    pub const GET_ALL_PRODUCER_INFO: i32 = 328;
    pub const GET_BROKER_HA_STATUS: i32 = 907;
    pub const QUERY_DATA_VERSION: i32 = 322;
    pub const REGISTER_TOPIC_IN_NAMESRV: i32 = 217;
    pub const BROKER_HEARTBEAT: i32 = 904;
    pub const GET_BROKER_MEMBER_GROUP: i32 = 901;
    pub const SEND_MESSAGE_V2: i32 = 310;
    pub const GET_TOPIC_CONFIG: i32 = 351;
    pub const GET_SUBSCRIPTIONGROUP_CONFIG: i32 = 352;
    pub const UPDATE_NAMESRV_CONFIG: i32 = 318;
    pub const GET_NAMESRV_CONFIG: i32 = 319;
    pub const ADD_WRITE_PERM_OF_BROKER: i32 = 327;
    pub const SEND_BATCH_MESSAGE: i32 = 320;
    pub const QUERY_CONSUME_QUEUE: i32 = 321;
    pub const LITE_PULL_MESSAGE: i32 = 361;
    pub const UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: i32 = 200;
    pub const GET_ALL_SUBSCRIPTIONGROUP_CONFIG: i32 = 201;
    pub const DELETE_SUBSCRIPTIONGROUP: i32 = 207;
    /// Broker to client (oneway): rewind or forward a group's queues (§20).
    pub const RESET_CONSUMER_CLIENT_OFFSET: i32 = 220;
    pub const INVOKE_BROKER_TO_RESET_OFFSET: i32 = 222;
    /// Broker to client: the client's offsets of one topic (§20).
    pub const GET_CONSUMER_STATUS_FROM_CLIENT: i32 = 221;
    /// Operator: run retention now (mqadmin cleanExpiredCQ, deleteExpiredCommitLog).
    pub const CLEAN_EXPIRED_CONSUMEQUEUE: i32 = 306;
    pub const DELETE_EXPIRED_COMMITLOG: i32 = 329;
    /// Operator: drop the stored messages of topics that have no config (mqadmin cleanUnusedTopic).
    pub const CLEAN_UNUSED_TOPIC: i32 = 316;
    /// A reply to a request-reply message (V1 header names), and with V2 letters.
    pub const SEND_REPLY_MESSAGE: i32 = 324;
    pub const SEND_REPLY_MESSAGE_V2: i32 = 325;
    /// Broker to client: a reply, pushed to the client that sent the request.
    pub const PUSH_REPLY_MESSAGE_TO_CLIENT: i32 = 326;
    pub const INVOKE_BROKER_TO_GET_CONSUMER_STATUS: i32 = 223;
    /// Operator (RocketMQ 4.x ACL 1.0): create or update an account of the accounts file, delete
    /// one, read the file's version, replace the global white list (mqadmin 4.x `updateAclConfig`,
    /// `deleteAclConfig`, `clusterAclConfigVersion`, `updateGlobalWhiteAddr`).
    pub const UPDATE_AND_CREATE_ACL_CONFIG: i32 = 50;
    pub const DELETE_ACL_CONFIG: i32 = 51;
    pub const GET_BROKER_CLUSTER_ACL_INFO: i32 = 52;
    pub const UPDATE_GLOBAL_WHITE_ADDRS_CONFIG: i32 = 53;
    /// RocketMQ 5 POP consumption: pop messages of a queue (or of every queue, queue id -1),
    /// ack one, change how long one stays invisible.
    pub const POP_MESSAGE: i32 = 200050;
    pub const ACK_MESSAGE: i32 = 200051;
    pub const CHANGE_MESSAGE_INVISIBLETIME: i32 = 200053;
    /// The acks of many popped messages in one request (RocketMQ's proxy with `enableBatchAck`).
    pub const BATCH_ACK_MESSAGE: i32 = 200151;
    /// Broker-side load balancing (a 5.x push consumer with `clientRebalance = false`): the queues
    /// a client should consume, and how (PULL or POP); the mode of a (topic, group).
    pub const QUERY_ASSIGNMENT: i32 = 400;
    pub const SET_MESSAGE_REQUEST_MODE: i32 = 401;

    /// Every request code above, so a dispatcher can check it has an answer for each.
    pub const ALL: &[i32] = &[
        SEND_MESSAGE,
        PULL_MESSAGE,
        QUERY_MESSAGE,
        QUERY_CONSUMER_OFFSET,
        UPDATE_CONSUMER_OFFSET,
        UPDATE_AND_CREATE_TOPIC,
        UPDATE_BROKER_CONFIG,
        GET_BROKER_CONFIG,
        GET_BROKER_RUNTIME_INFO,
        GET_ALL_TOPIC_CONFIG,
        SEARCH_OFFSET_BY_TIMESTAMP,
        GET_MAX_OFFSET,
        GET_MIN_OFFSET,
        GET_EARLIEST_MSG_STORETIME,
        VIEW_MESSAGE_BY_ID,
        HEART_BEAT,
        UNREGISTER_CLIENT,
        CONSUMER_SEND_MSG_BACK,
        END_TRANSACTION,
        GET_CONSUMER_LIST_BY_GROUP,
        CHECK_TRANSACTION_STATE,
        NOTIFY_CONSUMER_IDS_CHANGED,
        LOCK_BATCH_MQ,
        UNLOCK_BATCH_MQ,
        CHECK_CLIENT_CONFIG,
        PUT_KV_CONFIG,
        GET_KV_CONFIG,
        DELETE_KV_CONFIG,
        REGISTER_BROKER,
        UNREGISTER_BROKER,
        GET_ROUTEINFO_BY_TOPIC,
        GET_BROKER_CLUSTER_INFO,
        GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
        GET_TOPIC_STATS_INFO,
        WIPE_WRITE_PERM_OF_BROKER,
        GET_CONSUMER_CONNECTION_LIST,
        GET_PRODUCER_CONNECTION_LIST,
        GET_CONSUME_STATS,
        DELETE_TOPIC_IN_BROKER,
        DELETE_TOPIC_IN_NAMESRV,
        GET_KVLIST_BY_NAMESPACE,
        GET_TOPICS_BY_CLUSTER,
        QUERY_TOPIC_CONSUME_BY_WHO,
        QUERY_CONSUME_TIME_SPAN,
        GET_SYSTEM_TOPIC_LIST_FROM_NS,
        GET_SYSTEM_TOPIC_LIST_FROM_BROKER,
        GET_CONSUMER_RUNNING_INFO,
        CONSUME_MESSAGE_DIRECTLY,
        CLONE_GROUP_OFFSET,
        VIEW_BROKER_STATS_DATA,
        GET_BROKER_CONSUME_STATS,
        GET_ALL_PRODUCER_INFO,
        GET_BROKER_HA_STATUS,
        QUERY_DATA_VERSION,
        REGISTER_TOPIC_IN_NAMESRV,
        BROKER_HEARTBEAT,
        GET_BROKER_MEMBER_GROUP,
        SEND_MESSAGE_V2,
        GET_TOPIC_CONFIG,
        GET_SUBSCRIPTIONGROUP_CONFIG,
        UPDATE_NAMESRV_CONFIG,
        GET_NAMESRV_CONFIG,
        ADD_WRITE_PERM_OF_BROKER,
        SEND_BATCH_MESSAGE,
        QUERY_CONSUME_QUEUE,
        LITE_PULL_MESSAGE,
        UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
        DELETE_SUBSCRIPTIONGROUP,
        RESET_CONSUMER_CLIENT_OFFSET,
        INVOKE_BROKER_TO_RESET_OFFSET,
        GET_CONSUMER_STATUS_FROM_CLIENT,
        INVOKE_BROKER_TO_GET_CONSUMER_STATUS,
        SEND_REPLY_MESSAGE,
        SEND_REPLY_MESSAGE_V2,
        PUSH_REPLY_MESSAGE_TO_CLIENT,
        CLEAN_EXPIRED_CONSUMEQUEUE,
        DELETE_EXPIRED_COMMITLOG,
        CLEAN_UNUSED_TOPIC,
        UPDATE_AND_CREATE_ACL_CONFIG,
        DELETE_ACL_CONFIG,
        GET_BROKER_CLUSTER_ACL_INFO,
        UPDATE_GLOBAL_WHITE_ADDRS_CONFIG,
        POP_MESSAGE,
        ACK_MESSAGE,
        CHANGE_MESSAGE_INVISIBLETIME,
        BATCH_ACK_MESSAGE,
        QUERY_ASSIGNMENT,
        SET_MESSAGE_REQUEST_MODE,
    ];
}

pub mod response {
    pub const SUCCESS: i32 = 0;
    pub const SYSTEM_ERROR: i32 = 1;
    pub const SYSTEM_BUSY: i32 = 2;
    pub const REQUEST_CODE_NOT_SUPPORTED: i32 = 3;
    pub const FLUSH_DISK_TIMEOUT: i32 = 10;
    pub const SLAVE_NOT_AVAILABLE: i32 = 11;
    pub const FLUSH_SLAVE_TIMEOUT: i32 = 12;
    pub const MESSAGE_ILLEGAL: i32 = 13;
    pub const SERVICE_NOT_AVAILABLE: i32 = 14;
    pub const NO_PERMISSION: i32 = 16;
    pub const TOPIC_NOT_EXIST: i32 = 17;
    pub const TOPIC_EXIST_ALREADY: i32 = 18;
    pub const PULL_NOT_FOUND: i32 = 19;
    pub const PULL_RETRY_IMMEDIATELY: i32 = 20;
    pub const PULL_OFFSET_MOVED: i32 = 21;
    pub const QUERY_NOT_FOUND: i32 = 22;
    pub const SUBSCRIPTION_PARSE_FAILED: i32 = 23;
    pub const SUBSCRIPTION_NOT_EXIST: i32 = 24;
    pub const SUBSCRIPTION_NOT_LATEST: i32 = 25;
    pub const SUBSCRIPTION_GROUP_NOT_EXIST: i32 = 26;
    /// RocketMQ 5: a request field out of range (illegal topic name, queue id beyond the topic's).
    pub const INVALID_PARAMETER: i32 = 29;
    /// GET_CONSUMER_CONNECTION_LIST for a group with no live member.
    pub const CONSUMER_NOT_ONLINE: i32 = 206;
    /// ACK_MESSAGE or CHANGE_MESSAGE_INVISIBLETIME naming an offset outside its queue.
    pub const NO_MESSAGE: i32 = 208;
    /// POP_MESSAGE: the broker holds too many polling pops.
    pub const POLLING_FULL: i32 = 209;
    /// POP_MESSAGE: nothing to pop within the poll time.
    pub const POLLING_TIMEOUT: i32 = 210;
    /// END_TRANSACTION after the message's CHECK_IMMUNITY_TIME_IN_SECONDS (the broker waits for its check).
    pub const ILLEGAL_OPERATION: i32 = 604;
}
