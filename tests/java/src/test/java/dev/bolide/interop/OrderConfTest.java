package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.impl.MQClientAPIImpl;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The NameServer's KV config (PUT/GET/DELETE_KV_CONFIG, GET_KVLIST_BY_NAMESPACE) and what RocketMQ reads from
 * it: a topic's entry in ORDER_TOPIC_CONFIG (mqadmin updateOrderConf) goes into its route as orderTopicConf
 * once the NameServer's orderMessageEnable is on (UPDATE_NAMESRV_CONFIG), and producers then send only to
 * the queues it names.
 */
class OrderConfTest {
    static final String ORDER_NS = "ORDER_TOPIC_CONFIG";
    static final long TIMEOUT = 5000;

    @AfterEach
    void close() {
        Env.closeAll();
    }

    static MQClientAPIImpl api(DefaultMQProducer p) {
        return p.getDefaultMQProducerImpl().getmQClientFactory().getMQClientAPIImpl();
    }

    static void orderMessageEnable(MQClientAPIImpl api, boolean on) throws Exception {
        Properties pr = new Properties();
        pr.setProperty("orderMessageEnable", Boolean.toString(on));
        api.updateNameServerConfig(pr, null, TIMEOUT);
        Map<String, Properties> seen = api.getNameServerConfig(null, TIMEOUT);
        for (Map.Entry<String, Properties> e : seen.entrySet()) {
            assertEquals(Boolean.toString(on), e.getValue().getProperty("orderMessageEnable"),
                "orderMessageEnable as " + e.getKey() + " reports it");
        }
    }

    /** getKVListByNamespace: its KVTable moved package in 5.x, so it is called by name. */
    static TreeMap<String, String> kvList(MQClientAPIImpl api, String ns) throws Exception {
        try {
            Object t = MQClientAPIImpl.class.getMethod("getKVListByNamespace", String.class, long.class)
                .invoke(api, ns, TIMEOUT);
            @SuppressWarnings("unchecked")
            Map<String, String> table = (Map<String, String>) t.getClass().getMethod("getTable").invoke(t);
            return new TreeMap<>(table);
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw (Exception) e.getCause();
        }
    }

    @Test
    void kvConfigPutGetListDelete() throws Exception {
        MQClientAPIImpl api = api(Env.producer());
        String ns = Env.unique("JKvNs");
        api.putKVConfigValue(ns, "k1", "v1", TIMEOUT);
        api.putKVConfigValue(ns, "k2", "a=b;c:d", TIMEOUT);
        api.putKVConfigValue(ns, "k1", "v1bis", TIMEOUT);
        assertEquals("v1bis", api.getKVConfigValue(ns, "k1", TIMEOUT));
        assertEquals(new TreeMap<>(Map.of("k1", "v1bis", "k2", "a=b;c:d")), kvList(api, ns));
        api.deleteKVConfigValue(ns, "k1", TIMEOUT);
        MQClientException gone = assertThrows(MQClientException.class, () -> api.getKVConfigValue(ns, "k1", TIMEOUT));
        assertEquals(22, gone.getResponseCode(), "QUERY_NOT_FOUND: " + gone.getMessage());
        assertEquals("a=b;c:d", api.getKVConfigValue(ns, "k2", TIMEOUT));
        MQClientException none = assertThrows(MQClientException.class,
            () -> kvList(api, Env.unique("JKvNone")));
        assertEquals(22, none.getResponseCode(), "QUERY_NOT_FOUND: " + none.getMessage());
    }

    @Test
    void orderConfPinsProducersToTheQueuesItNames() throws Exception {
        DefaultMQProducer p = Env.producer();
        MQClientAPIImpl api = api(p);
        String topic = Env.unique("JOrderConf");
        List<MessageQueue> all = Env.createTopic(p, topic, 8);
        String broker = all.get(0).getBrokerName();
        api.putKVConfigValue(ORDER_NS, topic, broker + ":2", TIMEOUT);
        try {
            assertEquals(8, p.fetchPublishMessageQueues(topic).size(), "orderMessageEnable off: the entry is not read");
            orderMessageEnable(api, true);
            TreeSet<Integer> pinned = new TreeSet<>();
            for (MessageQueue mq : p.fetchPublishMessageQueues(topic)) {
                assertEquals(broker, mq.getBrokerName());
                pinned.add(mq.getQueueId());
            }
            assertEquals(new TreeSet<>(List.of(0, 1)), pinned, "the route names " + broker + ":2");
            DefaultMQProducer fresh = Env.producer();
            TreeSet<Integer> used = new TreeSet<>();
            for (int i = 0; i < 16; i++) {
                SendResult r = fresh.send(new Message(topic, ("o" + i).getBytes(StandardCharsets.UTF_8)));
                assertEquals(SendStatus.SEND_OK, r.getSendStatus());
                assertTrue(r.getMessageQueue().getQueueId() < 2, "sent to " + r.getMessageQueue());
                used.add(r.getMessageQueue().getQueueId());
            }
            assertEquals(pinned, used, "both named queues take sends");
        } finally {
            orderMessageEnable(api, false);
            api.deleteKVConfigValue(ORDER_NS, topic, TIMEOUT);
        }
        assertEquals(8, p.fetchPublishMessageQueues(topic).size(), "entry deleted: every queue again");
    }
}
