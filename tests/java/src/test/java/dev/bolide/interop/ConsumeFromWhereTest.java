package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.text.SimpleDateFormat;
import java.util.Date;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.remoting.protocol.RemotingCommand;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * ConsumeFromWhere for a group that has no committed offset, on a topic with history.
 *
 * <p>Clustering: the client asks the broker (QUERY_CONSUMER_OFFSET) first, and the Java broker answers 0 for
 * a queue that still starts at offset 0 (its first message in memory), so a new group reads the whole
 * history whatever ConsumeFromWhere says. Only when the broker answers QUERY_NOT_FOUND does the client use
 * ConsumeFromWhere. Broadcasting keeps offsets in a local file, so there ConsumeFromWhere decides:
 * FIRST = min offset, LAST = max offset (GET_MAX_OFFSET), TIMESTAMP = SEARCH_OFFSET_BY_TIMESTAMP.
 */
class ConsumeFromWhereTest {
    static final int DELETE_TOPIC_IN_BROKER = 215;
    static final int DELETE_TOPIC_IN_NAMESRV = 216;

    @AfterEach
    void close() {
        Env.closeAll();
    }

    static MessageListenerConcurrently into(Set<String> got) {
        return (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                synchronized (got) {
                    got.add(new String(m.getBody(), StandardCharsets.UTF_8));
                }
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        };
    }

    static int sizeOf(Set<String> s) {
        synchronized (s) {
            return s.size();
        }
    }

    static Set<String> snapshot(Set<String> s) {
        synchronized (s) {
            return new TreeSet<>(s);
        }
    }

    /** Sends n messages "prefix-i" round robin; returns their bodies. */
    static Set<String> send(DefaultMQProducer p, String topic, String prefix, int n) throws Exception {
        Set<String> sent = new TreeSet<>();
        for (int i = 0; i < n; i++) {
            SendResult r = p.send(new Message(topic, "TagA", (prefix + "-" + i).getBytes(StandardCharsets.UTF_8)));
            assertEquals("SEND_OK", r.getSendStatus().name());
            sent.add(prefix + "-" + i);
        }
        return sent;
    }

    /** Topic with history "old-*" (8, before second S) and "mid-*" (8, at or after S); returns S as yyyyMMddHHmmss. */
    static String[] topicWithHistory(DefaultMQProducer p, Set<String> old, Set<String> mid) throws Exception {
        String topic = Env.unique("JWhere");
        Env.createTopic(p, topic, 4);
        old.addAll(send(p, topic, "old", 8));
        // The consume timestamp has second resolution: wait for the next whole second, with margin for the
        // broker's clock (same machine) and the client's truncation.
        long boundary = (System.currentTimeMillis() / 1000 + 1) * 1000;
        Thread.sleep(Math.max(0, boundary - System.currentTimeMillis()) + 50);
        String ts = new SimpleDateFormat("yyyyMMddHHmmss").format(new Date(boundary));
        mid.addAll(send(p, topic, "mid", 8));
        return new String[] {topic, ts, Long.toString(boundary)};
    }

    @Test
    void clusteringNewGroupReadsFromZeroWhateverWhere() throws Exception {
        DefaultMQProducer p = Env.producer();
        Set<String> old = new TreeSet<>();
        Set<String> mid = new TreeSet<>();
        String[] t = topicWithHistory(p, old, mid);
        ConsumeFromWhere[] wheres = {ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET,
            ConsumeFromWhere.CONSUME_FROM_TIMESTAMP};
        @SuppressWarnings("unchecked")
        Set<String>[] got = new Set[wheres.length];
        for (int i = 0; i < wheres.length; i++) {
            got[i] = new TreeSet<>();
            DefaultMQPushConsumer c = Env.pushConsumer(Env.unique("CGWhere" + i), t[0], "*", false, wheres[i], into(got[i]));
            c.setConsumeTimestamp(t[1]);
            c.start();
        }
        Set<String> newer = send(p, t[0], "new", 8);
        Set<String> all = new TreeSet<>(old);
        all.addAll(mid);
        all.addAll(newer);
        for (int i = 0; i < wheres.length; i++) {
            Set<String> g = got[i];
            final ConsumeFromWhere w = wheres[i];
            Env.awaitTrue(() -> w + ": all 24 messages (got " + sizeOf(g) + ")", 15_000, () -> sizeOf(g) >= 24);
        }
        Env.quiet(300);
        for (int i = 0; i < wheres.length; i++) {
            assertEquals(all, snapshot(got[i]), "what a new clustering group with " + wheres[i] + " reads");
        }
    }

    /**
     * A topic deleted as mqadmin deleteTopic does (DELETE_TOPIC_IN_BROKER, then DELETE_TOPIC_IN_NAMESRV) and
     * created again under its name starts empty: a new group reads only what was sent after. The Java broker
     * deletes the topic's consume queues (offsets start at 0 again); Bolide empties them (offsets go on).
     */
    @Test
    void aTopicDeletedAndCreatedAgainHoldsOnlyWhatCameAfter() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JDel");
        Env.createTopic(p, topic, 4);
        send(p, topic, "old", 8);
        RemotingCommand r = Raw.shared().request(Env.BROKER, DELETE_TOPIC_IN_BROKER, Map.of("topic", topic), null);
        assertEquals(Raw.SUCCESS, r.getCode(), "delete in broker: " + Raw.describe(r));
        r = Raw.shared().request(Env.namesrv(), DELETE_TOPIC_IN_NAMESRV, Map.of("topic", topic), null);
        assertEquals(Raw.SUCCESS, r.getCode(), "delete in namesrv: " + Raw.describe(r));
        Env.createTopic(p, topic, 4);
        Set<String> newer = send(p, topic, "new", 8);
        Set<String> got = new TreeSet<>();
        DefaultMQPushConsumer c = Env.pushConsumer(Env.unique("CGDel"), topic, "*", false,
            ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, into(got));
        c.start();
        Env.awaitTrue(() -> "the 8 messages sent after the deletion (got " + snapshot(got) + ")", 30_000,
            () -> sizeOf(got) >= 8);
        Env.quiet(2000);
        assertEquals(newer, snapshot(got), "what a new group reads from the topic created again");
    }

    @Test
    void broadcastingFirstLastTimestamp() throws Exception {
        DefaultMQProducer p = Env.producer();
        Set<String> old = new TreeSet<>();
        Set<String> mid = new TreeSet<>();
        String[] t = topicWithHistory(p, old, mid);
        ConsumeFromWhere[] wheres = {ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET,
            ConsumeFromWhere.CONSUME_FROM_TIMESTAMP};
        @SuppressWarnings("unchecked")
        Set<String>[] got = new Set[wheres.length];
        DefaultMQPushConsumer[] cs = new DefaultMQPushConsumer[wheres.length];
        for (int i = 0; i < wheres.length; i++) {
            got[i] = new TreeSet<>();
            cs[i] = Env.pushConsumer(Env.unique("CGBWhere" + i), t[0], "*", true, wheres[i], into(got[i]));
            cs[i].setConsumeTimestamp(t[1]);
            cs[i].start();
        }
        for (DefaultMQPushConsumer c : cs) {
            // Owning a queue means its start offset has been computed: later sends are "new".
            Env.awaitTrue(() -> "broadcasting consumer owns all queues (owns " + Env.owned(c, t[0]) + ")", 10_000, () -> Env.owned(c, t[0]).size() == 4);
        }
        Set<String> newer = send(p, t[0], "new", 8);
        Set<String> first = new TreeSet<>(old);
        first.addAll(mid);
        first.addAll(newer);
        Set<String> fromTs = new TreeSet<>(mid);
        fromTs.addAll(newer);
        Set<String>[] expect = new Set[] {first, newer, fromTs};
        for (int i = 0; i < wheres.length; i++) {
            Set<String> g = got[i];
            int n = expect[i].size();
            final ConsumeFromWhere w = wheres[i];
            Env.awaitTrue(() -> w + ": " + n + " messages (got " + sizeOf(g) + ")", 15_000, () -> sizeOf(g) >= n);
        }
        Env.quiet(500);
        for (int i = 0; i < wheres.length; i++) {
            assertEquals(expect[i], snapshot(got[i]), "what a broadcasting consumer with " + wheres[i] + " reads");
        }
    }

    @Test
    void searchOffsetByTimestamp() throws Exception {
        DefaultMQProducer p = Env.producer();
        Set<String> old = new TreeSet<>();
        Set<String> mid = new TreeSet<>();
        String[] t = topicWithHistory(p, old, mid);
        long boundary = Long.parseLong(t[2]);
        DefaultLitePullConsumer c = Env.litePull(Env.unique("CGSearch"));
        c.start();
        // 16 sends round robin over 4 queues: per queue offsets 0,1 are "old", 2,3 are "mid".
        for (MessageQueue mq : c.fetchMessageQueues(t[0])) {
            assertEquals(2L, (long) c.offsetForTimestamp(mq, boundary), "first offset at/after the boundary in " + mq);
            assertEquals(0L, (long) c.offsetForTimestamp(mq, 0L), "offset for timestamp 0 in " + mq);
            assertEquals(4L, (long) c.offsetForTimestamp(mq, System.currentTimeMillis() + 60_000), "offset for a future time in " + mq);
        }
    }
}
