//! Unit tests of the JSON bodies, with client variants from §6.1 and the capture.

use super::*;

#[test]
fn java_heartbeat() {
    let body = br#"{"clientID":"10.0.0.5@12345#987654321",
 "consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY",
     "groupName":"cg1","messageModel":"CLUSTERING","unitMode":false,
     "subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG",
        "subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],"topic":"T1"},
        {"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1,
        "tagsSet":[],"topic":"%RETRY%cg1"}]}],
 "producerDataSet":[{"groupName":"pg1"},{"groupName":"CLIENT_INNER_PRODUCER"}],
 "heartbeatFingerprint":0, "withoutSub":false}"#;
    let hb = HeartbeatData::parse(body).unwrap();
    assert_eq!(hb.client_id, "10.0.0.5@12345#987654321");
    let c = &hb.consumer_data_set[0];
    assert_eq!(c.consume_type, ConsumeType::ConsumePassively);
    assert_eq!(c.message_model, MessageModel::Clustering);
    assert_eq!(
        c.consume_from_where,
        ConsumeFromWhere::ConsumeFromLastOffset
    );
    assert_eq!(c.subscription_data_set[0].tags, vec!["TagA"]);
    assert_eq!(c.subscription_data_set[0].sub_version, 1_700_000_000_000);
    assert!(c.subscription_data_set[1].is_match_all());
    assert_eq!(hb.producer_data_set.len(), 2);
}

#[test]
fn cpp_heartbeat_from_capture() {
    let body = br#"{"clientID":"27458-127.0.0.1@DEFAULT","consumerDataSet":[{"consumeFromWhere":0,"consumeType":1,"groupName":"CapCG","messageModel":1,"subscriptionDataSet":[{"subString":"*","subVersion":"1795260997422","topic":"%RETRY%CapCG"},{"codeSet":[0,0],"subString":"TagA||TagB","subVersion":"1795260997422","tagsSet":["TagA","TagB"],"topic":"CapTopic2"}]}],"producerDataSet":[{"groupName":"CapPG"}]}"#;
    let hb = HeartbeatData::parse(body).unwrap();
    let c = &hb.consumer_data_set[0];
    assert_eq!(c.consume_type, ConsumeType::ConsumePassively);
    assert_eq!(c.message_model, MessageModel::Clustering);
    assert_eq!(
        c.consume_from_where,
        ConsumeFromWhere::ConsumeFromLastOffset
    );
    assert!(!c.unit_mode);
    let s = &c.subscription_data_set[1];
    assert_eq!(s.expression_type, ExpressionType::Tag);
    assert_eq!(s.sub_version, 1_795_260_997_422);
    assert_eq!(s.tags, vec!["TagA", "TagB"]);
    assert_eq!(c.subscription_data_set[0].sub_string, "*");
}

#[test]
fn cpp_producer_only_heartbeat_without_consumer_set() {
    let hb = HeartbeatData::parse(br#"{"clientID":"x","producerDataSet":[{"groupName":"pg"}]}"#)
        .unwrap();
    assert!(hb.consumer_data_set.is_empty());
    let hb = HeartbeatData::parse(br#"{"clientID":"x","consumerDataSet":null}"#).unwrap();
    assert!(hb.producer_data_set.is_empty());
}

#[test]
fn go_heartbeat() {
    let body = br#"{"clientID":"192.168.0.2@1234","producerDataSet":[],"consumerDataSet":[{"groupName":"g","consumeType":"CONSUME_PASSIVELY","messageModel":"BROADCASTING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","subscriptionDataSet":[{"classFilterMode":false,"topic":"T","subString":"a || b","tagsSet":null,"codeSet":["97","98"],"subVersion":0,"expressionType":"TAG"}],"unitMode":false}]}"#;
    let hb = HeartbeatData::parse(body).unwrap();
    let c = &hb.consumer_data_set[0];
    assert_eq!(c.message_model, MessageModel::Broadcasting);
    assert_eq!(
        c.consume_from_where,
        ConsumeFromWhere::ConsumeFromFirstOffset
    );
    assert_eq!(c.subscription_data_set[0].tags, vec!["a", "b"]);
}

#[test]
fn enum_errors_and_leniency() {
    let bad = br#"{"clientID":"x","consumerDataSet":[{"groupName":"g","messageModel":"NOPE"}]}"#;
    assert!(matches!(
        HeartbeatData::parse(bad),
        Err(BodyError::Json { .. })
    ));
    let odd = br#"{"clientID":"x","consumerDataSet":[{"groupName":"g","consumeFromWhere":42,"messageModel":"clustering","consumeType":"0"}]}"#;
    let hb = HeartbeatData::parse(odd).unwrap();
    let c = &hb.consumer_data_set[0];
    assert_eq!(
        c.consume_from_where,
        ConsumeFromWhere::ConsumeFromLastOffset
    );
    assert_eq!(c.message_model, MessageModel::Clustering);
    assert_eq!(c.consume_type, ConsumeType::ConsumeActively);
    assert!(HeartbeatData::parse(b"not json").is_err());
}

#[test]
fn heartbeat_serializes_java_style_and_parses_back() {
    let hb = HeartbeatData {
        client_id: "c".into(),
        consumer_data_set: vec![ConsumerData {
            group_name: "g".into(),
            consume_type: ConsumeType::ConsumeActively,
            message_model: MessageModel::Clustering,
            consume_from_where: ConsumeFromWhere::ConsumeFromFirstOffset,
            subscription_data_set: vec![SubscriptionData::from_expression(
                "T",
                "TagA || TagC",
                ExpressionType::Tag,
            )],
            unit_mode: false,
        }],
        producer_data_set: vec![ProducerData {
            group_name: "p".into(),
        }],
    };
    let json = hb.to_json();
    assert!(json.contains(r#""codeSet":[2598919,2598921]"#), "{json}");
    assert!(json.contains(r#""consumeType":"CONSUME_ACTIVELY""#));
    assert_eq!(HeartbeatData::parse(json.as_bytes()).unwrap(), hb);
}

#[test]
fn from_expression_splits_tags() {
    let s = SubscriptionData::from_expression("T", "TagA || TagC", ExpressionType::Tag);
    assert_eq!(s.tags, vec!["TagA", "TagC"]);
    assert_eq!(s.sub_string, "TagA || TagC");
    let s = SubscriptionData::from_expression("T", " ||TagA|| ||", ExpressionType::Tag);
    assert_eq!(s.tags, vec!["TagA"]);
    for all in ["*", "", "  * "] {
        let s = SubscriptionData::from_expression("T", all, ExpressionType::Tag);
        assert!(s.is_match_all());
        assert_eq!(s.sub_string, "*");
    }
    let s = SubscriptionData::from_expression("T", "a > 1", ExpressionType::Sql92);
    assert!(s.tags.is_empty() && !s.is_match_all());
}

fn route() -> TopicRouteData {
    TopicRouteData {
        broker_datas: vec![BrokerData {
            cluster: "DefaultCluster".into(),
            broker_name: "broker-a".into(),
            broker_addrs: [(0, "192.168.1.10:10911".to_string())]
                .into_iter()
                .collect(),
        }],
        queue_datas: vec![QueueData {
            broker_name: "broker-a".into(),
            perm: 6,
            read_queue_nums: 4,
            topic_sys_flag: 0,
            write_queue_nums: 4,
        }],
        order_topic_conf: None,
    }
}

#[test]
fn route_standard_dialect() {
    assert_eq!(
        route().to_json(true),
        r#"{"brokerDatas":[{"brokerAddrs":{"0":"192.168.1.10:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#
    );
    assert_eq!(
        TopicRouteData::parse(route().to_json(true).as_bytes()).unwrap(),
        route()
    );
}

#[test]
fn route_fastjson_dialect() {
    let json = route().to_json(false);
    assert!(
        json.contains(r#""brokerAddrs":{0:"192.168.1.10:10911"}"#),
        "{json}"
    );
    assert!(!json.contains(' '));
}

#[test]
fn route_parses_foreign_broker_answer_from_capture() {
    let body = br#"{"orderTopicConf":null,"queueDatas":[{"brokerName":"broker-a","readQueueNums":8,"writeQueueNums":8,"perm":7,"topicSysFlag":0}],"brokerDatas":[{"cluster":"DefaultCluster","brokerName":"broker-a","brokerAddrs":{"0":"127.0.0.1:10911"},"zoneName":null,"enableActingMaster":false}],"filterServerTable":{},"topicQueueMappingInfo":null}"#;
    let r = TopicRouteData::parse(body).unwrap();
    assert_eq!(r.broker_datas[0].master_addr(), Some("127.0.0.1:10911"));
    assert_eq!(r.queue_datas[0].write_queue_nums, 8);
    assert_eq!(r.order_topic_conf, None);
}

#[test]
fn cluster_info_dialects() {
    let b = route().broker_datas.remove(0);
    let ci = ClusterInfo {
        broker_addr_table: [("broker-a".to_string(), b)].into_iter().collect(),
        cluster_addr_table: [("DefaultCluster".to_string(), vec!["broker-a".to_string()])]
            .into_iter()
            .collect(),
    };
    assert_eq!(
        ci.to_json(false),
        r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"192.168.1.10:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#
    );
    assert!(ci.to_json(true).contains(r#"{"0":"#));
}

#[test]
fn lock_bodies() {
    let java = br#"{"clientId":"10.0.0.5@123#456","consumerGroup":"cg1","mqSet":[{"brokerName":"broker-a","queueId":0,"topic":"T1"}]}"#;
    let cpp = br#"{"clientId":"c","consumerGroup":"cg1","mqSet":[{"brokerName":"broker-a","queueId":"3","topic":"T1"}]}"#;
    let l = LockBatchRequestBody::parse(java).unwrap();
    assert_eq!(l.mq_set[0].queue_id, 0);
    assert_eq!(l.client_id, "10.0.0.5@123#456");
    assert_eq!(
        LockBatchRequestBody::parse(cpp).unwrap().mq_set[0].queue_id,
        3
    );
    let resp = LockBatchResponseBody {
        lock_ok_mq_set: l.mq_set.clone(),
    };
    assert_eq!(
        resp.to_json(),
        r#"{"lockOKMQSet":[{"brokerName":"broker-a","queueId":0,"topic":"T1"}]}"#
    );
    let u: UnlockBatchRequestBody =
        LockBatchRequestBody::parse(br#"{"clientId":"c","consumerGroup":"g"}"#).unwrap();
    assert!(u.mq_set.is_empty());
}

#[test]
fn small_bodies() {
    let c = ConsumerListBody {
        consumer_id_list: vec!["a".into(), "b".into()],
    };
    assert_eq!(c.to_json(), r#"{"consumerIdList":["a","b"]}"#);
    assert_eq!(ConsumerListBody::parse(c.to_json().as_bytes()).unwrap(), c);
    let t = TopicList {
        topic_list: vec!["A".into()],
    };
    assert_eq!(t.to_json(), r#"{"topicList":["A"]}"#);
    let w = TopicConfigSerializeWrapper {
        data_version: DataVersion {
            counter: 1,
            timestamp: 2,
        },
        topic_config_table: [(
            "T1".to_string(),
            TopicConfig {
                order: false,
                perm: 6,
                read_queue_nums: 4,
                topic_filter_type: "SINGLE_TAG".into(),
                topic_name: "T1".into(),
                topic_sys_flag: 0,
                write_queue_nums: 4,
                attributes: [("message.type".to_string(), "FIFO".to_string())].into(),
            },
        )]
        .into_iter()
        .collect(),
    };
    assert_eq!(
        w.to_json(),
        r#"{"dataVersion":{"counter":1,"timestamp":2},"topicConfigTable":{"T1":{"attributes":{"message.type":"FIFO"},"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"T1","topicSysFlag":0,"writeQueueNums":4}}}"#
    );
    assert_eq!(
        TopicConfigSerializeWrapper::parse(w.to_json().as_bytes()).unwrap(),
        w
    );
}
