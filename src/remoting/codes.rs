//! Request and response codes (remoting-protocol.md §2).

pub mod request {
    pub const SEND_MESSAGE: i32 = 10;
    pub const PULL_MESSAGE: i32 = 11;
    pub const QUERY_MESSAGE: i32 = 12;
    pub const QUERY_CONSUMER_OFFSET: i32 = 14;
    pub const UPDATE_CONSUMER_OFFSET: i32 = 15;
    pub const UPDATE_AND_CREATE_TOPIC: i32 = 17;
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
    pub const GET_ALL_TOPIC_LIST_FROM_NAMESERVER: i32 = 206;
    pub const SEND_MESSAGE_V2: i32 = 310;
    pub const SEND_BATCH_MESSAGE: i32 = 320;
    pub const LITE_PULL_MESSAGE: i32 = 361;
    pub const UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: i32 = 200;
    pub const GET_ALL_SUBSCRIPTIONGROUP_CONFIG: i32 = 201;
    pub const DELETE_SUBSCRIPTIONGROUP: i32 = 207;
    /// Broker to client (oneway): rewind or forward a group's queues (§20).
    pub const RESET_CONSUMER_CLIENT_OFFSET: i32 = 220;
    pub const INVOKE_BROKER_TO_RESET_OFFSET: i32 = 222;

    /// Every request code above, so a dispatcher can check it has an answer for each.
    pub const ALL: &[i32] = &[
        SEND_MESSAGE,
        PULL_MESSAGE,
        QUERY_MESSAGE,
        QUERY_CONSUMER_OFFSET,
        UPDATE_CONSUMER_OFFSET,
        UPDATE_AND_CREATE_TOPIC,
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
        SEND_MESSAGE_V2,
        SEND_BATCH_MESSAGE,
        LITE_PULL_MESSAGE,
        UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
        DELETE_SUBSCRIPTIONGROUP,
        RESET_CONSUMER_CLIENT_OFFSET,
        INVOKE_BROKER_TO_RESET_OFFSET,
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
    pub const CONSUMER_NOT_ONLINE: i32 = 206;
}
