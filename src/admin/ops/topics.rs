//! Topic commands: updateTopic, deleteTopic, topicList, topicRoute, topicStatus, and clusterList.

use super::*;

pub(super) async fn update_topic(
    a: &Admin,
    target: &Target,
    h: CreateTopicHeader,
) -> Result<Report, AdminError> {
    if target.broker.is_none() && target.cluster.is_none() {
        return Err(AdminError::Usage(
            "updateTopic needs -b BROKER_ADDR or -c CLUSTER".into(),
        ));
    }
    let topic = &h.topic;
    let shown = json!({"topic": topic, "readQueueNums": h.read_queue_nums,
        "writeQueueNums": h.write_queue_nums, "perm": h.perm, "order": h.order,
        "attributes": h.attributes});
    on_targets(
        a,
        target,
        &format!("create topic {topic}"),
        || {
            let mut cmd = RemotingCommand::request(rq::UPDATE_AND_CREATE_TOPIC);
            h.write_to(&mut cmd);
            cmd
        },
        shown,
    )
    .await
}

pub(super) async fn delete_topic(
    a: &Admin,
    topic: &str,
    cluster: Option<&str>,
) -> Result<Report, AdminError> {
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
pub(super) async fn all_topics(a: &Admin) -> Result<Vec<String>, AdminError> {
    let list = a
        .ask_namesrv(
            "topic list",
            rq::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
            TopicList::parse,
        )
        .await?;
    Ok(list.topic_list)
}

pub(super) async fn topic_list(a: &Admin, with_cluster: bool) -> Result<Report, AdminError> {
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

pub(super) fn route_json(route: &TopicRouteData) -> Value {
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

pub(super) fn perm_text(p: i32) -> String {
    let mut s = String::new();
    s.push(if p & perm::READ != 0 { 'R' } else { '-' });
    s.push(if p & perm::WRITE != 0 { 'W' } else { '-' });
    s
}

pub(super) async fn topic_route(a: &Admin, topic: &str) -> Result<Report, AdminError> {
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

pub(super) async fn topic_status(a: &Admin, topic: &str) -> Result<Report, AdminError> {
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

pub(super) async fn cluster_list(a: &Admin) -> Result<Report, AdminError> {
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
