//! Consumer-group commands: consumerProgress (lag per queue), consumerConnection, consumerStatus,
//! resetOffsetByTime.

use super::*;

pub(super) async fn consume_stats(
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

pub(super) async fn consumer_progress(
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

pub(super) async fn all_groups_progress(a: &Admin) -> Result<Report, AdminError> {
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

pub(super) async fn connection(a: &Admin, group: &str) -> Result<ConsumerConnection, AdminError> {
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

pub(super) async fn consumer_connection(a: &Admin, group: &str) -> Result<Report, AdminError> {
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

pub(super) async fn consumer_status(
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

pub(super) async fn reset_offset(
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
