package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Master/slave replication seen by the Java client (issue #13): a SYNC_MASTER with its slave, both
 * registered with one NameServer under one brokerName (the slave with brokerId 1).
 *
 * <p>scripts/test-java.sh starts, for each client version, one NameServer and two such pairs (each test
 * kills a process of its own pair): -Drepl.namesrv, and for pair a and b -Drepl.X.master, -Drepl.X.slave
 * (host:port) and -Drepl.X.master.pid, -Drepl.X.slave.pid. Both pairs run slaveReadEnable=true (a Java
 * 5.x slave refuses every pull without it), the Java ones also inSyncReplicas=2 (without it a Java 5.x
 * SYNC_MASTER confirms sends without waiting for its slave); see docs/compat-java.md. Every shard of a Bolide broker has
 * its own peer link and they connect independently, so a test sends to every queue until each answers
 * SEND_OK before it counts on the slave.
 *
 * <ul>
 *   <li>pair a: SEND_OK with the slave up; the slave killed: SendStatus.SLAVE_NOT_AVAILABLE (never SEND_OK;
 *       the Java 5.x broker answers FLUSH_SLAVE_TIMEOUT), and the message is stored on the master all the same;
 *   <li>pair b: the master killed after SEND_OK: a consumer reads every acknowledged message from the slave.
 * </ul>
 */
class ReplicationTest {
    private static final String NAMESRV = System.getProperty("repl.namesrv", "");
    private static final int QUEUES = 2;
    private static final int GET_ALL_TOPIC_CONFIG = 21;

    @AfterEach
    void close() {
        Env.closeAll();
    }

    private static String prop(String name) {
        return System.getProperty(name, "");
    }

    private static void needPair(String pair) {
        assumeFalse(NAMESRV.isEmpty() || prop("repl." + pair + ".master").isEmpty() || prop("repl." + pair + ".slave.pid").isEmpty()
                || prop("repl." + pair + ".master.pid").isEmpty(),
            "needs a SYNC_MASTER + slave pair '" + pair + "' (-Drepl.namesrv, -Drepl." + pair + ".master, ...); "
                + "scripts/test-java.sh starts them for Bolide and for the reference");
    }

    private static void kill(String pidProperty) throws Exception {
        ProcessHandle h = ProcessHandle.of(Long.parseLong(prop(pidProperty))).orElseThrow(
            () -> new AssertionError(pidProperty + " is not running"));
        h.destroyForcibly(); // kill -9: a crash, not a shutdown
        h.onExit().get(30, TimeUnit.SECONDS);
    }

    /** A topic with QUEUES queues on the pair's master, routed by the NameServer; its queues. */
    private static List<MessageQueue> topicOn(String pair, DefaultMQProducer p, String topic) throws Exception {
        Raw.shared().createTopic(prop("repl." + pair + ".master"), topic, QUEUES, Raw.PERM_READ | Raw.PERM_WRITE);
        return Env.await("route of " + topic, 30_000, () -> {
            try {
                List<MessageQueue> l = p.fetchPublishMessageQueues(topic);
                return l.size() == QUEUES ? l : null;
            } catch (Exception e) {
                return null;
            }
        });
    }

    private static Message msg(String topic, String key) {
        Message m = new Message(topic, ("body-" + key).getBytes(StandardCharsets.UTF_8));
        m.setKeys(key);
        return m;
    }

    /** Sends to each queue until it answers SEND_OK: the slave of its shard is attached and caught up. */
    private static void awaitSlaveOnEveryQueue(DefaultMQProducer p, String topic, List<MessageQueue> mqs) throws Exception {
        for (MessageQueue mq : mqs) {
            List<String> seen = new ArrayList<>();
            Env.awaitTrue(() -> "SEND_OK on " + mq + " (so far " + seen + ")", 120_000, () -> {
                try {
                    SendStatus s = p.send(msg(topic, "probe-" + mq.getQueueId()), mq).getSendStatus();
                    seen.add(s.name());
                    if (s == SendStatus.SEND_OK) {
                        return true;
                    }
                } catch (Exception e) {
                    seen.add(e.getClass().getSimpleName());
                }
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return false;
            });
        }
    }

    private static DefaultMQProducer producer() throws Exception {
        DefaultMQProducer p = new DefaultMQProducer(Env.unique("PG"));
        p.setNamesrvAddr(NAMESRV);
        p.setInstanceName(Env.unique("p"));
        p.setSendMsgTimeout(15_000); // the slave wait (slaveTimeout) must end before the client gives up
        p.start();
        Env.OPEN.add(p::shutdown);
        return p;
    }

    /** Distinct messages (by queue and offset) of `topic` read from its first offset, until `done` holds. */
    private static Map<String, MessageExt> readUntil(String topic, java.util.function.Predicate<Map<String, MessageExt>> done,
                                                     String what) throws Exception {
        DefaultLitePullConsumer c = new DefaultLitePullConsumer(Env.unique("ReplReader"));
        c.setNamesrvAddr(NAMESRV);
        c.setInstanceName(Env.unique("l"));
        c.setPollTimeoutMillis(500);
        c.setAutoCommit(false);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.start();
        try {
            c.assign(c.fetchMessageQueues(topic));
            Map<String, MessageExt> got = new LinkedHashMap<>();
            Env.awaitTrue(() -> what + " (read " + got.size() + ")", 60_000, () -> {
                for (MessageExt m : c.poll(200)) {
                    got.putIfAbsent(m.getQueueId() + "@" + m.getQueueOffset(), m);
                }
                return done.test(got);
            });
            return got;
        } finally {
            c.shutdown();
        }
    }

    @Test
    void slaveKilledSendsAreNotConfirmedAndTheMasterKeepsTheMessage() throws Exception {
        needPair("a");
        DefaultMQProducer p = producer();
        String topic = Env.unique("JReplA");
        List<MessageQueue> mqs = topicOn("a", p, topic);
        awaitSlaveOnEveryQueue(p, topic, mqs);
        for (int i = 0; i < 10; i++) {
            SendResult r = p.send(msg(topic, "up-" + i));
            assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "send with the slave up: " + r);
        }

        kill("repl.a.slave.pid");
        // Never SEND_OK: nothing can confirm the message. Bolide answers SLAVE_NOT_AVAILABLE once the master
        // saw the link close (a send that was waiting for the slave then may time out first). The Java 5.x
        // broker (inSyncReplicas=2, without which it does not wait for the slave at all) waits slaveTimeout
        // and answers FLUSH_SLAVE_TIMEOUT (docs/compat-java.md).
        SendStatus expected = "reference".equals(Env.KIND) ? SendStatus.FLUSH_SLAVE_TIMEOUT : SendStatus.SLAVE_NOT_AVAILABLE;
        Map<Integer, SendResult> notConfirmed = new HashMap<>();
        List<String> statuses = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (notConfirmed.size() < QUEUES) {
            assertTrue(System.nanoTime() < deadline, "[" + Env.KIND + "] no " + expected + " on every queue within 120 s: " + statuses);
            for (MessageQueue mq : mqs) {
                String key = "down-" + mq.getQueueId() + "-" + statuses.size();
                SendResult r = p.send(msg(topic, key), mq);
                statuses.add(r.getSendStatus().name());
                assertNotEquals(SendStatus.SEND_OK, r.getSendStatus(), "[" + Env.KIND + "] SEND_OK with the slave killed: " + r);
                if (r.getSendStatus() == expected) {
                    notConfirmed.putIfAbsent(mq.getQueueId(), r);
                }
            }
            Thread.sleep(100);
        }
        assertTrue(statuses.stream().allMatch(s -> s.equals("SLAVE_NOT_AVAILABLE") || s.equals("FLUSH_SLAVE_TIMEOUT")),
            "statuses with the slave killed: " + statuses);

        // Stored on the master all the same, at the offset the answer gave.
        Map<String, MessageExt> got = readUntil(topic, m -> notConfirmed.values().stream().allMatch(
            r -> m.containsKey(r.getMessageQueue().getQueueId() + "@" + r.getQueueOffset())),
            "the unconfirmed messages " + notConfirmed.values() + " on the master");
        for (SendResult r : notConfirmed.values()) {
            MessageExt m = got.get(r.getMessageQueue().getQueueId() + "@" + r.getQueueOffset());
            assertEquals(r.getMsgId(), m.getMsgId(), "the message at " + r.getQueueOffset());
            assertTrue(m.getKeys().startsWith("down-"), "key " + m.getKeys());
            assertEquals("body-" + m.getKeys(), new String(m.getBody(), StandardCharsets.UTF_8));
        }
    }

    @Test
    void masterKilledConsumerReadsEveryAcknowledgedMessageFromTheSlave() throws Exception {
        needPair("b");
        DefaultMQProducer p = producer();
        String topic = Env.unique("JReplB");
        List<MessageQueue> mqs = topicOn("b", p, topic);
        awaitSlaveOnEveryQueue(p, topic, mqs);
        Set<String> acked = new HashSet<>();
        for (int i = 0; i < 40; i++) {
            String key = "k-" + i;
            SendResult r = p.send(msg(topic, key));
            assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "send with the slave up: " + r);
            acked.add(key);
        }

        // A slave learns topic configs apart from the log (Bolide: the next metadata round of its link,
        // within about a second; Java: SlaveSynchronize, every 10 s). Until then it holds the messages but
        // refuses pulls of the topic (TOPIC_NOT_EXIST), so a master that dies sooner leaves them unreadable
        // there, on both brokers (docs/compat-java.md). Not what this test is about: wait for it.
        String slave = prop("repl.b.slave");
        Env.awaitTrue("topic " + topic + " in the slave's topic configs", 60_000, () -> {
            try {
                org.apache.rocketmq.remoting.protocol.RemotingCommand r =
                    Raw.shared().request(slave, GET_ALL_TOPIC_CONFIG, Map.of(), null);
                return r.getCode() == Raw.SUCCESS && r.getBody() != null
                    && new String(r.getBody(), StandardCharsets.UTF_8).contains("\"" + topic + "\"");
            } catch (Exception e) {
                return false;
            }
        });
        kill("repl.b.master.pid");
        Set<String> got = ConcurrentHashMap.newKeySet();
        Set<String> badBodies = ConcurrentHashMap.newKeySet();
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(Env.unique("ReplCG"));
        c.setNamesrvAddr(NAMESRV);
        c.setInstanceName(Env.unique("c"));
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.setHeartbeatBrokerInterval(1000); // as Env.pushConsumer
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                String key = m.getKeys() == null ? "" : m.getKeys();
                got.add(key);
                if (!new String(m.getBody(), StandardCharsets.UTF_8).equals("body-" + key)) {
                    badBodies.add(key);
                }
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        Env.OPEN.add(c::shutdown);
        c.start();
        Env.awaitTrue(() -> "every acknowledged message from the slave (missing " + missing(acked, got) + ")", 120_000,
            () -> got.containsAll(acked));
        assertTrue(badBodies.isEmpty(), "bodies changed: " + badBodies);
    }

    private static Set<String> missing(Set<String> want, Set<String> have) {
        Set<String> m = new HashSet<>(want);
        m.removeAll(have);
        return m;
    }
}
