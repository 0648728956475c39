package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeOrderlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerOrderly;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.MessageQueueSelector;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Orderly: a MessageQueueSelector puts each order on one queue; MessageListenerOrderly (which locks the
 * queue on the broker, LOCK_BATCH_MQ) sees each queue in offset order, also when it asks to retry a message
 * later (SUSPEND_CURRENT_QUEUE_A_MOMENT).
 */
class OrderlyTest {
    static final int ORDERS = 6;
    static final int STEPS = 8;

    @AfterEach
    void close() {
        Env.closeAll();
    }

    static final MessageQueueSelector BY_ORDER = (mqs, msg, arg) -> mqs.get((Integer) arg % mqs.size());

    /** Sends ORDERS x STEPS messages "order-step", each order through the selector; returns each order's queue. */
    static Map<Integer, Integer> sendOrders(DefaultMQProducer p, String topic) throws Exception {
        Map<Integer, Integer> queueOfOrder = new ConcurrentHashMap<>();
        for (int step = 0; step < STEPS; step++) {
            for (int order = 0; order < ORDERS; order++) {
                Message m = new Message(topic, "TagO", ("" + order + "-" + step).getBytes(StandardCharsets.UTF_8));
                m.setKeys("order-" + order);
                SendResult r = p.send(m, BY_ORDER, order);
                assertEquals(SendStatus.SEND_OK, r.getSendStatus());
                assertEquals(order % 4, r.getMessageQueue().getQueueId(), "the selector's queue for order " + order);
                Integer prev = queueOfOrder.put(order, r.getMessageQueue().getQueueId());
                assertTrue(prev == null || prev == r.getMessageQueue().getQueueId(), "order moved queues");
            }
        }
        return queueOfOrder;
    }

    static int[] parse(MessageExt m) {
        String[] s = new String(m.getBody(), StandardCharsets.UTF_8).split("-");
        return new int[] {Integer.parseInt(s[0]), Integer.parseInt(s[1])};
    }

    @Test
    void selectorAndOrderlyListenerKeepPerQueueOrder() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JOrder");
        Env.createTopic(p, topic, 4);
        Map<Integer, List<Long>> offsetsPerQueue = new ConcurrentHashMap<>();
        Map<Integer, List<Integer>> stepsPerOrder = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = Env.pushConsumer(Env.unique("CGOrder"), topic, "*", false,
            ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, (MessageListenerOrderly) (msgs, ctx) -> {
                for (MessageExt m : msgs) {
                    offsetsPerQueue.computeIfAbsent(m.getQueueId(), k -> new ArrayList<>()).add(m.getQueueOffset());
                    int[] os = parse(m);
                    stepsPerOrder.computeIfAbsent(os[0], k -> new ArrayList<>()).add(os[1]);
                }
                return ConsumeOrderlyStatus.SUCCESS;
            });
        c.start();
        sendOrders(p, topic);
        Env.awaitTrue("all orders consumed", 20_000, () -> stepsPerOrder.values().stream().mapToInt(List::size).sum() >= ORDERS * STEPS);
        for (int order = 0; order < ORDERS; order++) {
            List<Integer> expect = new ArrayList<>();
            for (int s = 0; s < STEPS; s++) {
                expect.add(s);
            }
            assertEquals(expect, stepsPerOrder.get(order), "steps of order " + order);
        }
        for (Map.Entry<Integer, List<Long>> e : offsetsPerQueue.entrySet()) {
            List<Long> offs = e.getValue();
            for (int i = 0; i < offs.size(); i++) {
                assertEquals((long) i, (long) offs.get(i), "queue " + e.getKey() + " offsets " + offs);
            }
        }
    }

    @Test
    void suspendCurrentQueueRedeliversInOrder() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JSuspend");
        Env.createTopic(p, topic, 4);
        // Order 1 (queue 1): step 3 is refused twice; nothing after it may be seen before it succeeds.
        Map<Integer, List<String>> seenPerQueue = new ConcurrentHashMap<>();
        Map<String, Integer> reconsumeOfRetried = new ConcurrentHashMap<>();
        AtomicBoolean[] refused = {new AtomicBoolean(), new AtomicBoolean()};
        DefaultMQPushConsumer c = Env.pushConsumer(Env.unique("CGSuspend"), topic, "*", false,
            ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, (MessageListenerOrderly) (msgs, ctx) -> {
                ctx.setSuspendCurrentQueueTimeMillis(100);
                for (MessageExt m : msgs) {
                    String body = new String(m.getBody(), StandardCharsets.UTF_8);
                    seenPerQueue.computeIfAbsent(m.getQueueId(), k -> new ArrayList<>()).add(body);
                    if (body.equals("1-3")) {
                        for (AtomicBoolean r : refused) {
                            if (r.compareAndSet(false, true)) {
                                return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT;
                            }
                        }
                        reconsumeOfRetried.put(body, m.getReconsumeTimes());
                    }
                }
                return ConsumeOrderlyStatus.SUCCESS;
            });
        c.start();
        Map<Integer, Integer> queueOfOrder = sendOrders(p, topic);
        int q1 = queueOfOrder.get(1);
        int expectedOnQ1 = (int) queueOfOrder.values().stream().filter(q -> q == q1).count() * STEPS;
        Env.awaitTrue("queue " + q1 + " consumed with 2 redeliveries", 20_000,
            () -> seenPerQueue.getOrDefault(q1, List.of()).size() >= expectedOnQ1 + 2);
        List<String> seen = new ArrayList<>(seenPerQueue.get(q1));
        // Expected: the queue's messages in send order, with "1-3" three times in a row.
        List<String> expect = new ArrayList<>();
        for (int step = 0; step < STEPS; step++) {
            for (int order = 0; order < ORDERS; order++) {
                if (queueOfOrder.get(order) == q1) {
                    expect.add(order + "-" + step);
                    if (order == 1 && step == 3) {
                        expect.add("1-3");
                        expect.add("1-3");
                    }
                }
            }
        }
        assertEquals(expect, seen, "what queue " + q1 + " delivered, in order");
        assertEquals(2, reconsumeOfRetried.get("1-3"), "reconsumeTimes of the suspended message");
    }
}
