package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.ConsumeOrderlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.consumer.listener.MessageListenerOrderly;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.remoting.protocol.RemotingCommand;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Retry, dead letters and offset reset (remoting-protocol.md §8, §20):
 * <ul>
 * <li>a concurrent consumer that keeps failing gets the message maxReconsumeTimes more times (through
 * CONSUMER_SEND_MSG_BACK and %RETRY%group), then it lands in %DLQ%group, where a tool reads it and the
 * group does not consume it;</li>
 * <li>an orderly consumer's message that keeps failing goes to the DLQ after its maximum, and the rest of its
 * queue is consumed in order after it;</li>
 * <li>INVOKE_BROKER_TO_RESET_OFFSET rewinds a live group by time (the broker tells the consumers with
 * RESET_CONSUMER_CLIENT_OFFSET), so it consumes again what was stored after that time and nothing before.</li>
 * </ul>
 * Retries use delay level 1 (the listener's delayLevelWhenNextConsume) so that a broker with Java's delay
 * levels takes seconds, not minutes.
 */
class RetryTest {
    static final int INVOKE_BROKER_TO_RESET_OFFSET = 222;
    static final int QUERY_CONSUMER_OFFSET = 14;
    static final int GET_MAX_OFFSET = 30;

    @AfterEach
    void close() {
        Env.closeAll();
    }

    static String body(MessageExt m) {
        return new String(m.getBody(), StandardCharsets.UTF_8);
    }

    @Test
    void maxReconsumeTimesSendsTheMessageToTheDlq() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JRetry");
        String group = Env.unique("CGRetry");
        Env.createTopic(p, topic, 2);
        List<Integer> attempts = Collections.synchronizedList(new ArrayList<>());
        List<String> topics = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger others = new AtomicInteger();
        DefaultMQPushConsumer c = Env.pushConsumer(group, topic, "*", false,
            ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, (MessageListenerConcurrently) (msgs, ctx) -> {
                ctx.setDelayLevelWhenNextConsume(1);
                for (MessageExt m : msgs) {
                    if ("doomed".equals(m.getKeys())) {
                        attempts.add(m.getReconsumeTimes());
                        topics.add(m.getTopic());
                        return ConsumeConcurrentlyStatus.RECONSUME_LATER;
                    }
                    others.incrementAndGet();
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
        c.setMaxReconsumeTimes(2);
        c.start();
        Message m = new Message(topic, "TagD", "doomed body".getBytes(StandardCharsets.UTF_8));
        m.setKeys("doomed");
        SendResult sent = p.send(m);
        assertEquals(SendStatus.SEND_OK, sent.getSendStatus());
        Message ok = new Message(topic, "TagD", "fine body".getBytes(StandardCharsets.UTF_8));
        ok.setKeys("fine");
        p.send(ok);

        String dlq = "%DLQ%" + group;
        Env.awaitTrue(() -> "3 attempts of the failing message (saw reconsumeTimes " + attempts + ")", 90_000,
            () -> attempts.size() >= 3);
        List<MessageExt> dead = Env.await("route of " + dlq, 60_000, () -> {
            try {
                return Reader.readFromStart(dlq, null, 1);
            } catch (Exception e) {
                return null;
            }
        });
        Env.quiet(3000);
        assertEquals(List.of(0, 1, 2), attempts, "[" + Env.KIND + "] reconsumeTimes of each attempt");
        assertTrue(topics.stream().allMatch(topic::equals), "retries are shown under the real topic: " + topics);
        assertEquals(1, others.get(), "the message that succeeded");
        assertEquals(1, dead.size());
        MessageExt d = dead.get(0);
        assertEquals("doomed body", body(d));
        assertEquals("doomed", d.getKeys());
        assertEquals(dlq, d.getTopic());
        assertEquals(3, d.getReconsumeTimes());
        assertEquals(sent.getMsgId(), d.getMsgId(), "the dead letter keeps the client message id (UNIQ_KEY)");
        assertEquals(topic, d.getProperty("RETRY_TOPIC"));
    }

    @Test
    void orderlyConsumerGivesUpIntoTheDlqAndKeepsTheQueueInOrder() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JRetryOrd");
        String group = Env.unique("CGRetryOrd");
        Env.createTopic(p, topic, 2);
        List<String> seen = Collections.synchronizedList(new ArrayList<>());
        DefaultMQPushConsumer c = Env.pushConsumer(group, topic, "*", false,
            ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, (MessageListenerOrderly) (msgs, ctx) -> {
                ctx.setSuspendCurrentQueueTimeMillis(200);
                for (MessageExt m : msgs) {
                    seen.add(body(m) + "#" + m.getReconsumeTimes());
                    if (body(m).equals("1")) {
                        return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT;
                    }
                }
                return ConsumeOrderlyStatus.SUCCESS;
            });
        c.setMaxReconsumeTimes(2);
        c.setConsumeMessageBatchMaxSize(1);
        c.start();
        for (int i = 0; i < 4; i++) {
            Message m = new Message(topic, "TagO", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
            m.setKeys("ord-" + i);
            SendResult r = p.send(m, OrderlyTest.BY_ORDER, 0);
            assertEquals(SendStatus.SEND_OK, r.getSendStatus());
        }
        Env.awaitTrue(() -> "the queue consumed past the failing message (seen " + seen + ")", 60_000,
            () -> seen.contains("3#0"));
        String dlq = "%DLQ%" + group;
        List<MessageExt> dead = Env.await("route of " + dlq, 60_000, () -> {
            try {
                return Reader.readFromStart(dlq, null, 1);
            } catch (Exception e) {
                return null;
            }
        });
        Env.quiet(2000);
        List<String> order = new ArrayList<>(seen);
        assertEquals(List.of("0#0", "1#0", "1#1", "1#2", "2#0", "3#0"), order,
            "[" + Env.KIND + "] the queue's deliveries, in order, with reconsumeTimes");
        assertEquals(1, dead.size());
        assertEquals("1", body(dead.get(0)));
        assertEquals("ord-1", dead.get(0).getKeys());
    }

    @Test
    void resetOffsetByTimeRewindsALiveGroup() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JReset");
        String group = Env.unique("CGReset");
        List<MessageQueue> mqs = Env.createTopic(p, topic, 2);
        List<String> got = Collections.synchronizedList(new ArrayList<>());
        DefaultMQPushConsumer c = Env.pushConsumer(group, topic, "*", false,
            ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, (MessageListenerConcurrently) (msgs, ctx) -> {
                for (MessageExt m : msgs) {
                    got.add(body(m));
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
        c.setPersistConsumerOffsetInterval(500);
        c.start();
        for (int i = 0; i < 6; i++) {
            p.send(new Message(topic, "TagR", ("old-" + i).getBytes(StandardCharsets.UTF_8)), mqs.get(i % 2));
        }
        Thread.sleep(1500);
        long resetTo = System.currentTimeMillis();
        Thread.sleep(1500);
        for (int i = 0; i < 6; i++) {
            p.send(new Message(topic, "TagR", ("new-" + i).getBytes(StandardCharsets.UTF_8)), mqs.get(i % 2));
        }
        Env.awaitTrue(() -> "12 messages consumed (got " + got + ")", 60_000, () -> got.size() >= 12);
        // The Java broker refuses a reset for queues the group has not committed: wait for the commits.
        Raw raw = Raw.shared();
        for (MessageQueue mq : mqs) {
            Env.awaitTrue("offset of queue " + mq.getQueueId() + " committed", 30_000, () -> {
                try {
                    RemotingCommand max = raw.request(Env.BROKER, GET_MAX_OFFSET,
                        Map.of("topic", topic, "queueId", Integer.toString(mq.getQueueId())), null);
                    RemotingCommand cur = raw.request(Env.BROKER, QUERY_CONSUMER_OFFSET, Map.of(
                        "consumerGroup", group, "topic", topic, "queueId", Integer.toString(mq.getQueueId())), null);
                    return cur.getCode() == Raw.SUCCESS
                        && cur.getExtFields().get("offset").equals(max.getExtFields().get("offset"));
                } catch (Exception e) {
                    return false;
                }
            });
        }
        got.clear();
        RemotingCommand r = raw.request(Env.BROKER, INVOKE_BROKER_TO_RESET_OFFSET, Map.of(
            "topic", topic, "group", group, "timestamp", Long.toString(resetTo), "isForce", "true"), null);
        assertEquals(Raw.SUCCESS, r.getCode(), "[" + Env.KIND + "] reset: " + Raw.describe(r));
        String table = new String(r.getBody(), StandardCharsets.UTF_8);
        assertTrue(table.contains("\"offsetTable\"") && table.contains(":3"),
            "the answer's offset table (each queue back to offset 3): " + table);
        // A copy under the list's lock: the consumer's threads add while the test reads (a stream
        // over the synchronized list itself throws ConcurrentModificationException).
        java.util.function.Supplier<List<String>> seen = () -> {
            synchronized (got) {
                return new ArrayList<>(got);
            }
        };
        Env.awaitTrue(() -> "the 6 newer messages consumed again (got " + got + ")", 60_000,
            () -> seen.get().stream().filter(s -> s.startsWith("new-")).distinct().count() == 6);
        Env.quiet(2000);
        assertTrue(seen.get().stream().noneMatch(s -> s.startsWith("old-")),
            "messages stored before the reset time are not consumed again: " + got);
    }
}
