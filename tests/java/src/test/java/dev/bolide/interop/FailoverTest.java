package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A producer moves to another queue when a send fails.
 *
 * <p>The Java producer retries a failed sync send (retryTimesWhenSendFailed, default 2) on a connection
 * failure or on a broker answer in its retry set (SYSTEM_ERROR, SERVICE_NOT_AVAILABLE, NO_PERMISSION,
 * TOPIC_NOT_EXIST, ...), choosing a queue on another broker than the one that failed. With one broker every
 * queue fails alike: the only per-queue refusal, a queue id past the topic's queue count (a producer with a
 * route from before the topic shrank), is INVALID_PARAMETER on the Java 5.x broker, which the producer does
 * not retry (a topic's read-only permission is not checked on send either, only published in the route). So
 * the move needs two brokers: one dies after the producer fetched the route, and the producer's sends that
 * pick its queues fail to connect and are retried on the other broker.
 */
class FailoverTest {
    @AfterEach
    void close() {
        Env.closeAll();
    }

    @Test
    void staleRouteSendToRemovedQueueIsRefused() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JShrink");
        List<MessageQueue> mqs = Env.createTopic(p, topic, 4);
        for (int i = 0; i < 4; i++) {
            p.send(new Message(topic, ("warm-" + i).getBytes(StandardCharsets.UTF_8)));
        }
        DefaultMQProducer admin = Env.producer();
        Env.createTopicCall(admin, topic, 3);
        Env.awaitTrue("route with 3 queues", 10_000, () -> {
            try {
                return admin.fetchPublishMessageQueues(topic).size() == 3;
            } catch (Exception e) {
                return false;
            }
        });
        // The producer still routes over 4 queues (it refreshes routes every 30 s).
        assertEquals(4, p.getDefaultMQProducerImpl().getTopicPublishInfoTable().get(topic).getMessageQueueList().size());
        MessageQueue q3 = mqs.stream().filter(q -> q.getQueueId() == 3).findFirst().get();
        MQBrokerException e = assertThrows(MQBrokerException.class,
            () -> p.send(new Message(topic, "direct".getBytes(StandardCharsets.UTF_8)), q3));
        assertEquals(Raw.INVALID_PARAMETER, e.getResponseCode(), "send to the removed queue 3: " + e);
        // Round robin over the stale route: of 4 sends, the one that picks queue 3 fails and is not retried.
        List<Integer> queues = new ArrayList<>();
        List<Integer> refused = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            try {
                SendResult r = p.send(new Message(topic, ("rr-" + i).getBytes(StandardCharsets.UTF_8)));
                queues.add(r.getMessageQueue().getQueueId());
            } catch (MQBrokerException x) {
                refused.add(x.getResponseCode());
            }
        }
        assertEquals(List.of(Raw.INVALID_PARAMETER), refused, "refusals (queues that worked: " + queues + ")");
        assertTrue(queues.stream().allMatch(q -> q < 3), "queues used: " + queues);
    }

    @Test
    void sendMovesToAnotherBrokerWhenOneDies() throws Exception {
        assumeFalse(Env.BROKER_SECOND.isEmpty() || Env.BROKER_SECOND_PID.isEmpty(),
            "needs two brokers registered with one NameServer (-Dbroker.second, -Dbroker.second.pid); "
                + "scripts/test-java.sh starts one for Bolide and for the reference");
        String topic = Env.unique("JFailover");
        Raw raw = Raw.shared();
        raw.createTopic(Env.BROKER_NOAUTO, topic, 2, Raw.PERM_READ | Raw.PERM_WRITE);
        raw.createTopic(Env.BROKER_SECOND, topic, 2, Raw.PERM_READ | Raw.PERM_WRITE);
        DefaultMQProducer p = Env.producer(Env.NAMESRV_NOAUTO);
        Env.await("route over both brokers", 15_000, () -> {
            try {
                List<MessageQueue> l = p.fetchPublishMessageQueues(topic);
                return l.size() == 4 ? l : null;
            } catch (Exception e) {
                return null;
            }
        });
        Set<String> used = new HashSet<>();
        for (int i = 0; i < 4; i++) { // round robin: the producer caches the route and talks to both brokers
            used.add(p.send(new Message(topic, ("warm-" + i).getBytes(StandardCharsets.UTF_8))).getMessageQueue().getBrokerName());
        }
        assertEquals(2, used.size(), "warm-up sends reached both brokers: " + used);
        // The second broker goes away; the producer's route (refreshed every 30 s) still lists its queues.
        ProcessHandle second = ProcessHandle.of(Long.parseLong(Env.BROKER_SECOND_PID)).orElseThrow();
        second.destroyForcibly(); // a crash: the quickest way for a broker to go (a graceful stop takes ~15 s)
        second.onExit().get(30, TimeUnit.SECONDS);
        List<String> brokers = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            SendResult r = p.send(new Message(topic, ("f-" + i).getBytes(StandardCharsets.UTF_8)));
            assertEquals("SEND_OK", r.getSendStatus().name());
            brokers.add(r.getMessageQueue().getBrokerName());
        }
        assertEquals(1, new HashSet<>(brokers).size(), "all sends on the surviving broker: " + brokers);
    }
}
