package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Push consumers: clustering (a group shares the queues; the broker tells members when the group changes,
 * NOTIFY_CONSUMER_IDS_CHANGED, so they rebalance at once) and broadcasting (every member gets everything).
 */
class PushConsumerTest {
    @AfterEach
    void close() {
        Env.closeAll();
    }

    /** Records, per consumer, how many times each body arrived. */
    static MessageListenerConcurrently counting(Map<String, Integer> counts) {
        return (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                counts.merge(new String(m.getBody(), StandardCharsets.UTF_8), 1, Integer::sum);
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        };
    }

    static Set<String> send(DefaultMQProducer p, String topic, String prefix, int n) throws Exception {
        Set<String> sent = new HashSet<>();
        for (int i = 0; i < n; i++) {
            p.send(new Message(topic, "TagA", (prefix + i).getBytes(StandardCharsets.UTF_8)));
            sent.add(prefix + i);
        }
        return sent;
    }

    @Test
    void clusteringTwoConsumersShareQueuesNoLossNoDup() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JCluster");
        Env.createTopic(p, topic, 4);
        String group = Env.unique("CGCluster");
        Map<String, Integer> a = new ConcurrentHashMap<>();
        Map<String, Integer> b = new ConcurrentHashMap<>();
        DefaultMQPushConsumer ca = Env.pushConsumer(group, topic, "*", false, ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, counting(a));
        ca.start();
        Env.awaitTrue("first consumer owns all 4 queues", 10_000, () -> Env.owned(ca, topic).size() == 4);
        DefaultMQPushConsumer cb = Env.pushConsumer(group, topic, "*", false, ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, counting(b));
        cb.start();
        // Well before the client's own 20 s rebalance period: only the broker's notification makes this fast.
        Env.awaitTrue(() -> "queues split 2/2 between the members (owned: a=" + Env.owned(ca, topic) + " b=" + Env.owned(cb, topic) + ")", 10_000, () -> {
            Set<MessageQueue> qa = Env.owned(ca, topic);
            Set<MessageQueue> qb = Env.owned(cb, topic);
            Set<MessageQueue> all = new HashSet<>(qa);
            all.addAll(qb);
            return qa.size() == 2 && qb.size() == 2 && all.size() == 4;
        });
        Set<String> sent = send(p, topic, "c-", 40);
        Env.awaitTrue(() -> "40 messages consumed by the group (a=" + a.size() + " b=" + b.size() + ")", 15_000, () -> a.size() + b.size() >= 40);
        Env.quiet(300);
        Set<String> got = new HashSet<>(a.keySet());
        got.addAll(b.keySet());
        assertEquals(sent, got, "no loss");
        Set<String> both = new HashSet<>(a.keySet());
        both.retainAll(b.keySet());
        assertTrue(both.isEmpty(), "delivered to both members: " + both);
        assertTrue(a.values().stream().allMatch(x -> x == 1) && b.values().stream().allMatch(x -> x == 1),
            "duplicates: a=" + a + " b=" + b);
        assertTrue(!a.isEmpty() && !b.isEmpty(), "both members consumed: a=" + a.size() + " b=" + b.size());
    }

    @Test
    void broadcastingEveryConsumerGetsAll() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JBroadcast");
        Env.createTopic(p, topic, 4);
        String group = Env.unique("CGBroadcast");
        Map<String, Integer> a = new ConcurrentHashMap<>();
        Map<String, Integer> b = new ConcurrentHashMap<>();
        DefaultMQPushConsumer ca = Env.pushConsumer(group, topic, "*", true, ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET, counting(a));
        DefaultMQPushConsumer cb = Env.pushConsumer(group, topic, "*", true, ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET, counting(b));
        ca.start();
        cb.start();
        Env.awaitTrue("both broadcasting consumers own all queues", 10_000,
            () -> Env.owned(ca, topic).size() == 4 && Env.owned(cb, topic).size() == 4);
        Set<String> sent = send(p, topic, "b-", 20);
        Env.awaitTrue(() -> "each consumer got 20 (a=" + a.size() + " b=" + b.size() + ")", 15_000, () -> a.size() >= 20 && b.size() >= 20);
        Env.quiet(300);
        assertEquals(sent, a.keySet());
        assertEquals(sent, b.keySet());
        assertTrue(a.values().stream().allMatch(x -> x == 1) && b.values().stream().allMatch(x -> x == 1),
            "duplicates: a=" + a + " b=" + b);
        List<MessageQueue> mqs = p.fetchPublishMessageQueues(topic);
        assertEquals(4, mqs.size());
    }

    /** GET_CONSUMER_CONNECTION_LIST (203) and GET_CONSUME_STATS (208, all topics) of a group, raw. */
    static org.apache.rocketmq.remoting.protocol.RemotingCommand groupAsk(int code, String group) {
        try {
            return Raw.shared().request(Env.BROKER, code, Map.of("consumerGroup", group), null);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static String body(org.apache.rocketmq.remoting.protocol.RemotingCommand r) {
        return r.getBody() == null ? "" : new String(r.getBody(), StandardCharsets.UTF_8);
    }

    /**
     * A group's topics are those its latest heartbeat names (RocketMQ's ConsumerGroupInfo.updateSubscription):
     * a topic the consumer unsubscribes leaves the group's subscriptions and its consume stats. And the group
     * goes with its last member: the connection list answers CONSUMER_NOT_ONLINE.
     */
    @Test
    void aGroupsTopicsFollowItsHeartbeatsAndTheGroupGoesWithItsLastMember() throws Exception {
        DefaultMQProducer p = Env.producer();
        String kept = Env.unique("JSubKept");
        String dropped = Env.unique("JSubDropped");
        Env.createTopic(p, kept, 2);
        Env.createTopic(p, dropped, 2);
        String group = Env.unique("CGSubs");
        // Generous: one CI run took 20 s over these steps where they usually take 0.1-1 s (not reproduced).
        long waitMs = 30_000;
        Map<String, Integer> got = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = Env.pushConsumer(group, kept, "*", false,
            ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, counting(got));
        c.subscribe(dropped, "*");
        c.start();
        String k = "\"" + kept + "\"";
        String d = "\"" + dropped + "\"";
        Env.awaitTrue(() -> "the broker lists both topics: " + body(groupAsk(203, group)), waitMs, () -> {
            String b = body(groupAsk(203, group));
            return b.contains(k) && b.contains(d);
        });
        c.unsubscribe(dropped);
        // The consumer heartbeats every second (Env.pushConsumer).
        Env.awaitTrue(() -> "the broker drops the unsubscribed topic: " + body(groupAsk(203, group)), waitMs, () -> {
            String b = body(groupAsk(203, group));
            return b.contains(k) && !b.contains(d);
        });
        // The Java broker reports the topics the group committed offsets on, as long as the group subscribes
        // to them: consume a message, which the client commits (every 5 s).
        Set<String> sent = send(p, kept, "s-", 4);
        Env.awaitTrue(() -> "4 messages consumed (" + got.keySet() + ")", waitMs, () -> got.keySet().containsAll(sent));
        Env.awaitTrue(() -> "consume stats cover the live subscription only: " + Raw.describe(groupAsk(208, group)),
            waitMs, () -> {
                var stats = groupAsk(208, group);
                return stats.getCode() == Raw.SUCCESS && body(stats).contains(k) && !body(stats).contains(d);
            });
        c.shutdown();
        Env.awaitTrue(() -> "the group is gone with its last member: " + Raw.describe(groupAsk(203, group)), waitMs,
            () -> groupAsk(203, group).getCode() == 206);
    }

    /**
     * A group whose subscription group config turns notices off (notifyConsumerIdsChangedEnable = false,
     * `mqadmin updateSubGroup -a false`) is not sent NOTIFY_CONSUMER_IDS_CHANGED when a member joins: the first
     * member keeps all the queues until its own rebalance (every 20 s), where a notice would make it give
     * two up at once.
     */
    @Test
    void aGroupWithNoticesOffIsNotToldOfANewMember() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JQuiet");
        Env.createTopic(p, topic, 4);
        String group = Env.unique("CGQuiet");
        String cfg = "{\"groupName\":\"" + group + "\",\"notifyConsumerIdsChangedEnable\":false}";
        var r = Raw.shared().request(Env.BROKER, 200, Map.of(), cfg.getBytes(StandardCharsets.UTF_8));
        assertEquals(Raw.SUCCESS, r.getCode(), Raw.describe(r));
        DefaultMQPushConsumer ca = Env.pushConsumer(group, topic, "*", false, ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, counting(new ConcurrentHashMap<>()));
        long started = System.nanoTime();
        ca.start();
        Env.awaitTrue("first consumer owns all 4 queues", 10_000, () -> Env.owned(ca, topic).size() == 4);
        DefaultMQPushConsumer cb = Env.pushConsumer(group, topic, "*", false, ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, counting(new ConcurrentHashMap<>()));
        cb.start();
        // The newcomer rebalances at its start, with both members in the list.
        Env.awaitTrue(() -> "second consumer owns 2 queues (" + Env.owned(cb, topic) + ")", 10_000, () -> Env.owned(cb, topic).size() == 2);
        Env.quiet(2000);
        int held = Env.owned(ca, topic).size();
        long elapsedMs = (System.nanoTime() - started) / 1_000_000L;
        org.junit.jupiter.api.Assumptions.assumeTrue(elapsedMs < 18_000,
            "the first consumer's own 20 s rebalance may have run (" + elapsedMs + " ms since its start): nothing shown");
        assertEquals(4, held, "[" + Env.KIND + "] the first consumer was told of the second and gave queues up");
    }

    /** The `consumeTps` of a GET_CONSUME_STATS body, or -1 without one. */
    static double consumeTps(String body) {
        var m = java.util.regex.Pattern.compile("\"consumeTps\":([-0-9.Ee]+)").matcher(body);
        return m.find() ? Double.parseDouble(m.group(1)) : -1;
    }

    /**
     * GET_CONSUME_STATS reports the group's consume rate (`consumeTps`, the `Consume TPS` column of `mqadmin
     * consumerProgress`): messages a second pulled over the last minute, sampled every 10 s on both brokers.
     */
    @Test
    void consumeStatsReportTheGroupsConsumeRate() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JTps");
        Env.createTopic(p, topic, 2);
        String group = Env.unique("CGTps");
        Map<String, Integer> got = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = Env.pushConsumer(group, topic, "*", false, ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, counting(got));
        c.start();
        Set<String> sent = send(p, topic, "t-", 50);
        Env.awaitTrue(() -> "50 messages consumed (" + got.size() + ")", 15_000, () -> got.keySet().containsAll(sent));
        Env.awaitTrue(() -> "a consume rate above 0: " + Raw.describe(groupAsk(208, group)), 40_000,
            () -> consumeTps(body(groupAsk(208, group))) > 0);
    }
}
