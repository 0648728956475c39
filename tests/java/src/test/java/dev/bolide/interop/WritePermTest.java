package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.impl.MQClientAPIImpl;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Draining a broker before taking it offline (mqadmin wipeWritePerm / addWritePerm): WIPE_WRITE_PERM_OF_BROKER
 * makes the NameServer route the broker's queues read-only, so producers find no queue to send to while
 * consumers still see every queue; ADD_WRITE_PERM_OF_BROKER makes them writable again.
 */
class WritePermTest {
    static final long TIMEOUT = 5000;

    @AfterEach
    void close() {
        Env.closeAll();
    }

    static Message msg(String topic, String body) {
        return new Message(topic, body.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void aWipedBrokerTakesNoSendsUntilItsWritePermIsAddedBack() throws Exception {
        DefaultMQProducer p = Env.producer();
        MQClientAPIImpl api = OrderConfTest.api(p);
        String topic = Env.unique("JWipe");
        List<MessageQueue> all = Env.createTopic(p, topic, 4);
        String broker = all.get(0).getBrokerName();
        assertEquals(SendStatus.SEND_OK, p.send(msg(topic, "before")).getSendStatus());
        try {
            int wiped = api.wipeWritePermOfBroker(Env.namesrv(), broker, TIMEOUT);
            assertTrue(wiped >= 1, "wipeTopicCount " + wiped);
            assertThrows(MQClientException.class, () -> p.fetchPublishMessageQueues(topic),
                "no writable queue in the route");
            assertEquals(4, p.getDefaultMQProducerImpl().getmQClientFactory().getMQAdminImpl()
                .fetchSubscribeMessageQueues(topic).size(), "consumers still see every queue");
            DefaultMQProducer fresh = Env.producer();
            assertThrows(MQClientException.class, () -> fresh.send(msg(topic, "during")));
        } finally {
            int added = api.addWritePermOfBroker(Env.namesrv(), broker, TIMEOUT);
            assertTrue(added >= 1, "addTopicCount " + added);
        }
        assertEquals(4, p.fetchPublishMessageQueues(topic).size());
        DefaultMQProducer again = Env.producer();
        assertEquals(SendStatus.SEND_OK, again.send(msg(topic, "after")).getSendStatus());
    }
}
