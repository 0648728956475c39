//! Message lookups: queryMsgById, queryMsgByKey / queryMsgByUniqueKey, queryMsgTraceById.

use super::*;

pub(super) async fn view_message(
    a: &Admin,
    addr: &str,
    offset: u64,
) -> Result<Option<Msg>, AdminError> {
    let mut cmd = RemotingCommand::request(rq::VIEW_MESSAGE_BY_ID);
    cmd.set_ext("offset", offset as i64);
    let resp = a.call(addr, cmd).await?;
    if resp.code != rs::SUCCESS {
        return Ok(None);
    }
    Ok(records(&resp.body).into_iter().next())
}

pub(super) async fn query_by_id(
    a: &Admin,
    msg_id: &str,
    topic: Option<&str>,
) -> Result<Report, AdminError> {
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
pub(super) async fn query_message(
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
pub(super) fn trace_rows(body: &str, msg_id: &str) -> Vec<Vec<String>> {
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

pub(super) async fn query_trace(
    a: &Admin,
    msg_id: &str,
    trace_topic: &str,
) -> Result<Report, AdminError> {
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
