"""Subscription groups and offset reset over raw remoting frames (§20):
UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200), GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201), DELETE_SUBSCRIPTIONGROUP
(207) persist across a restart and are honoured (consumeEnable=false refuses pulls with NO_PERMISSION, as
the Java broker does); INVOKE_BROKER_TO_RESET_OFFSET (222) rewrites the committed offsets of a group that
has no live consumer (the Java broker answers CONSUMER_NOT_ONLINE there: docs/compat-java.md).
"""
import json
import time

import remoting
from clients import unique

UPDATE_AND_CREATE_SUBSCRIPTIONGROUP = 200
GET_ALL_SUBSCRIPTIONGROUP_CONFIG = 201
DELETE_SUBSCRIPTIONGROUP = 207
INVOKE_BROKER_TO_RESET_OFFSET = 222
NO_PERMISSION = 16


def groups(c):
    r = c.request(GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
    assert r.code == remoting.SUCCESS, r
    return json.loads(r.body)["subscriptionGroupTable"]


def pull(c, group, topic):
    return c.request(remoting.PULL_MESSAGE, {
        "consumerGroup": group, "topic": topic, "queueId": 0, "queueOffset": "0", "maxMsgNums": 32,
        "sysFlag": remoting.PULL_SUBSCRIPTION, "commitOffset": "-1", "suspendTimeoutMillis": "1000",
        "subscription": "*", "subVersion": "0"})


def send(c, topic, n):
    for i in range(n):
        r = c.request(remoting.SEND_MESSAGE_V2, remoting.send_v2_ext("PG", topic, {"UNIQ_KEY": unique("U")}, 0),
                      b"m%d" % i)
        assert r.code == remoting.SUCCESS, r


def committed(c, group, topic, q=0):
    r = c.request(remoting.QUERY_CONSUMER_OFFSET, {"consumerGroup": group, "topic": topic, "queueId": q})
    assert r.code == remoting.SUCCESS, r
    return int(r.ext["offset"])


def test_group_config_persists_and_consume_enable_is_honoured(broker):
    group = unique("CGcfg")
    topic = unique("Tcfg")
    cfg = {"groupName": group, "consumeEnable": False, "retryMaxTimes": 5, "retryQueueNums": 2,
           "attributes": {"note": "kept"}}
    with remoting.Conn(broker.host, broker.broker_port) as c:
        send(c, topic, 1)
        assert pull(c, group, topic).code == remoting.SUCCESS
        r = c.request(UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=json.dumps(cfg).encode())
        assert r.code == remoting.SUCCESS, r
        assert pull(c, group, topic).code == NO_PERMISSION
    broker.restart()
    with remoting.Conn(broker.host, broker.broker_port) as c:
        g = groups(c)[group]
        assert (g["consumeEnable"], g["retryMaxTimes"], g["retryQueueNums"]) == (False, 5, 2), g
        assert g["consumeBroadcastEnable"] is True and g["attributes"] == {"note": "kept"}, g
        r = pull(c, group, topic)
        assert r.code == NO_PERMISSION and group in (r.remark or ""), r
        r = c.request(DELETE_SUBSCRIPTIONGROUP, {"groupName": group, "removeOffset": "true"})
        assert r.code == remoting.SUCCESS, r
        assert group not in groups(c)
        assert pull(c, group, topic).code == remoting.SUCCESS
    broker.restart()
    with remoting.Conn(broker.host, broker.broker_port) as c:
        assert group not in groups(c)


def test_reset_offset_by_time_rewrites_an_offline_group(broker):
    group = unique("CGreset")
    topic = unique("Treset")
    with remoting.Conn(broker.host, broker.broker_port) as c:
        send(c, topic, 3)
        time.sleep(1.2)
        middle = int(time.time() * 1000)
        time.sleep(1.2)
        send(c, topic, 2)
        r = c.request(remoting.UPDATE_CONSUMER_OFFSET,
                      {"consumerGroup": group, "topic": topic, "queueId": 0, "commitOffset": 5})
        assert r.code == remoting.SUCCESS, r
        base = {"topic": topic, "group": group, "isForce": "true"}
        r = c.request(INVOKE_BROKER_TO_RESET_OFFSET, dict(base, timestamp=str(middle)))
        assert r.code == remoting.SUCCESS, r
        body = r.body.decode()
        assert '{"brokerName":' in body and '"queueId":0,"topic":"%s"}:3' % topic in body, body
        assert committed(c, group, topic) == 3
        # not forced, target ahead of the committed offset: kept
        r = c.request(INVOKE_BROKER_TO_RESET_OFFSET, dict(base, timestamp="-1", isForce="false"))
        assert r.code == remoting.SUCCESS, r
        assert committed(c, group, topic) == 3
        r = c.request(INVOKE_BROKER_TO_RESET_OFFSET, dict(base, timestamp="-1"))
        assert r.code == remoting.SUCCESS, r
        assert committed(c, group, topic) == 5
        r = c.request(INVOKE_BROKER_TO_RESET_OFFSET, dict(base, topic=unique("NoSuchTopic"), timestamp="0"))
        assert r.code == remoting.SYSTEM_ERROR, r


def test_client_fallback_send_to_the_retry_topic(broker):
    """§8.2: when CONSUMER_SEND_MSG_BACK fails the client sends the message itself to %RETRY%<group> with
    reconsumeTimes/maxReconsumeTimes in the header: stored there (the topic created on demand) while
    reconsumeTimes <= max, a dead letter in %DLQ%<group> beyond (RocketMQ 5's rule)."""
    group = unique("CGfb")
    retry, dlq = "%RETRY%" + group, "%DLQ%" + group
    with remoting.Conn(broker.host, broker.broker_port) as c:
        for reconsume, key in ((1, "again"), (17, "dead")):
            ext = remoting.send_v2_ext("CLIENT_INNER_PRODUCER", retry,
                                       {"UNIQ_KEY": unique("U"), "KEYS": key, "RETRY_TOPIC": "Orig", "DELAY": "4"})
            ext["j"], ext["l"] = str(reconsume), 16
            r = c.request(remoting.SEND_MESSAGE_V2, ext, b"fallback " + key.encode())
            assert r.code == remoting.SUCCESS, r

        def stored(topic):
            r = c.request(remoting.PULL_MESSAGE, {
                "consumerGroup": "tools", "topic": topic, "queueId": 0, "queueOffset": "0", "maxMsgNums": 32,
                "sysFlag": remoting.PULL_SUBSCRIPTION, "commitOffset": "-1", "suspendTimeoutMillis": "1000",
                "subscription": "*", "subVersion": "0"})
            return remoting.decode_records(r.body) if r.code == remoting.SUCCESS else []
        dead = stored(dlq)
        assert [d["properties"]["KEYS"] for d in dead] == ["dead"], dead
        assert "DELAY" not in dead[0]["properties"] and dead[0]["reconsume_times"] == 17
        assert "dead" not in [x["properties"]["KEYS"] for x in stored(retry)]
