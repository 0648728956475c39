"""autoCreateTopicEnable=false: no TBW102 route, sends to unknown topics refused (§3.1, §5.4 step 4)."""
import pytest

import clients
import remoting
from clients import unique


@pytest.mark.broker(sets=["autoCreateTopicEnable=false"])
def test_without_auto_create_unknown_topics_are_refused(broker):
    topic = unique("NoAuto")
    with remoting.Conn(broker.host, broker.namesrv_port) as n:
        r = n.request(remoting.GET_ROUTEINFO_BY_TOPIC, {"topic": "TBW102"})
        assert r.code == remoting.TOPIC_NOT_EXIST, "TBW102 route with auto-create off: %r" % r
    with remoting.Conn(broker.host, broker.broker_port) as c:
        r = c.request(remoting.SEND_MESSAGE_V2, remoting.send_v2_ext("PG", topic, {"UNIQ_KEY": "X"}, 0), b"m")
        assert r.code == remoting.TOPIC_NOT_EXIST, "send to an unknown topic with auto-create off: %r" % r
    with clients.producer(broker.namesrv) as p:
        with pytest.raises(Exception) as e:
            p.send_sync(clients.make_message(topic, "m"))
        assert "route" in str(e.value).lower(), "C++ client error: %s" % e.value
    with remoting.Conn(broker.host, broker.namesrv_port) as n:
        assert n.request(remoting.GET_ROUTEINFO_BY_TOPIC, {"topic": topic}).code == remoting.TOPIC_NOT_EXIST
