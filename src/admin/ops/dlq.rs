//! Dead-letter tools: list a group's `%DLQ%` messages and resend chosen ones, or all, to their
//! original topic with the bookkeeping properties dropped.

use super::*;

/// Up to `max` messages of the group's dead-letter topic, oldest first per queue.
pub(super) async fn dlq_messages(
    a: &Admin,
    group: &str,
    max: usize,
) -> Result<Vec<Msg>, AdminError> {
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
pub(super) fn resend_properties(p: &Properties) -> Properties {
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
pub(super) fn origin_topic(m: &Msg) -> Option<String> {
    let t = m.prop(keys::RETRY_TOPIC);
    (!t.is_empty() && !t.starts_with(RETRY_PREFIX) && !t.starts_with(DLQ_PREFIX))
        .then(|| t.to_string())
}

pub(super) async fn dlq_resend(
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
