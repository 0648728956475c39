package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** DefaultLitePullConsumer: subscribe (the client rebalances), and assign + seek + commitSync. */
class LitePullTest {
    @AfterEach
    void close() {
        Env.closeAll();
    }

    static String body(MessageExt m) {
        return new String(m.getBody(), StandardCharsets.UTF_8);
    }

    @Test
    void subscribePollsEverythingOnce() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JLiteSub");
        Env.createTopic(p, topic, 4);
        DefaultLitePullConsumer c = Env.litePull(Env.unique("CGLiteSub"));
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, "*");
        c.start();
        Set<String> sent = new TreeSet<>();
        for (int i = 0; i < 20; i++) {
            p.send(new Message(topic, "TagA", ("s-" + i).getBytes(StandardCharsets.UTF_8)));
            sent.add("s-" + i);
        }
        List<String> got = new ArrayList<>();
        Env.awaitTrue(() -> "20 polled (got " + got.size() + ")", 15_000, () -> {
            for (MessageExt m : c.poll(200)) {
                got.add(body(m));
            }
            return got.size() >= 20;
        });
        assertEquals(20, got.size(), "no duplicates: " + got);
        assertEquals(sent, new TreeSet<>(got));
        assertTrue(c.poll(300).isEmpty(), "nothing more");
    }

    @Test
    void assignSeekCommitSync() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JLiteAssign");
        List<MessageQueue> mqs = Env.createTopic(p, topic, 4);
        MessageQueue mq = null;
        for (MessageQueue q : mqs) {
            if (q.getQueueId() == 1) {
                mq = q;
            }
        }
        for (int i = 0; i < 10; i++) {
            SendResult r = p.send(new Message(topic, "TagA", ("a-" + i).getBytes(StandardCharsets.UTF_8)), mq);
            assertEquals(i, r.getQueueOffset());
        }
        String group = Env.unique("CGLiteAssign");
        DefaultLitePullConsumer c = Env.litePull(group);
        c.setAutoCommit(false);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.start();
        c.assign(List.of(mq));
        // Read everything first, then seek back. A seek right after assign races the client's own
        // first pull: the replaced pull task can still deliver 0..9 after the new one has taken the
        // seek offset (DefaultLitePullConsumerImpl checks the seek offset only when a pull returns),
        // whatever the broker. Once 0..9 are read, the only pull in flight waits at offset 10.
        List<Long> first = new ArrayList<>();
        Env.awaitTrue(() -> "offsets 0..9 polled (got " + first + ")", 15_000, () -> {
            for (MessageExt m : c.poll(200)) {
                first.add(m.getQueueOffset());
            }
            return first.size() >= 10;
        });
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L), first, "offsets before the seek");
        c.seek(mq, 3);
        Map<Long, String> got = new HashMap<>();
        List<Long> order = new ArrayList<>();
        Env.awaitTrue(() -> "offsets 3..9 polled again (got " + order + ")", 15_000, () -> {
            for (MessageExt m : c.poll(200)) {
                got.put(m.getQueueOffset(), body(m));
                order.add(m.getQueueOffset());
            }
            return got.size() >= 7;
        });
        assertEquals(List.of(3L, 4L, 5L, 6L, 7L, 8L, 9L), order, "offsets after seek(3)");
        assertEquals("a-3", got.get(3L));
        c.commitSync();
        c.shutdown(); // persists the committed offset to the broker

        // A new member of the group, assigned the same queue without seek, starts at the committed offset.
        DefaultLitePullConsumer c2 = Env.litePull(group);
        c2.setAutoCommit(false);
        c2.start();
        c2.assign(List.of(mq));
        final MessageQueue q = mq;
        Env.awaitTrue("committed offset 10 visible to the group", 10_000, () -> {
            try {
                return c2.committed(q) == 10L;
            } catch (Exception e) {
                return false;
            }
        });
        p.send(new Message(topic, "TagA", "a-10".getBytes(StandardCharsets.UTF_8)), mq);
        p.send(new Message(topic, "TagA", "a-11".getBytes(StandardCharsets.UTF_8)), mq);
        List<String> after = new ArrayList<>();
        Env.awaitTrue("2 new messages polled", 15_000, () -> {
            for (MessageExt m : c2.poll(200)) {
                after.add(m.getQueueOffset() + ":" + body(m));
            }
            return after.size() >= 2;
        });
        assertEquals(List.of("10:a-10", "11:a-11"), after, "what the group reads after the commit");
    }
}
