package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.IntPredicate;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.MessageSelector;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * SQL92 subscriptions (MessageSelector.bySql): the broker evaluates the expression on the message's
 * properties (remoting-protocol.md §19). The reference runs with enablePropertyFilter=true.
 */
class SqlFilterTest {
    private final List<DefaultMQPushConsumer> consumers = new ArrayList<>();

    @AfterEach
    void close() {
        for (DefaultMQPushConsumer c : consumers) {
            Thread t = new Thread(c::shutdown, "close-sql-consumer");
            t.setDaemon(true);
            t.start();
        }
        consumers.clear();
        Env.closeAll();
    }

    static final String[] TAGS = {"TagA", "TagB", "TagC"};

    /** Sends 24 messages: property n = i, TAGS cycling, color = red/blue on even i only. */
    static void sendAll(DefaultMQProducer p, String topic) throws Exception {
        for (int i = 0; i < 24; i++) {
            Message m = new Message(topic, TAGS[i % 3], ("m" + i).getBytes(StandardCharsets.UTF_8));
            m.putUserProperty("n", Integer.toString(i));
            if (i % 2 == 0) {
                m.putUserProperty("color", i % 4 == 0 ? "red" : "blue");
            }
            p.send(m);
        }
    }

    static Set<String> expected(IntPredicate matches) {
        Set<String> out = new TreeSet<>();
        for (int i = 0; i < 24; i++) {
            if (matches.test(i)) {
                out.add("m" + i);
            }
        }
        return out;
    }

    DefaultMQPushConsumer sqlConsumer(String topic, String expr, Set<String> got) throws MQClientException {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(Env.unique("CGSql"));
        c.setNamesrvAddr(Env.namesrv());
        c.setInstanceName(Env.unique("c"));
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.setHeartbeatBrokerInterval(1000); // see Env.pushConsumer
        c.subscribe(topic, MessageSelector.bySql(expr));
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                synchronized (got) {
                    got.add(new String(m.getBody(), StandardCharsets.UTF_8));
                }
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        consumers.add(c);
        return c;
    }

    @Test
    void pushConsumersGetOnlyMatchingMessages() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JSql");
        Env.createTopic(p, topic, 4);
        sendAll(p, topic);
        String[] exprs = {
            "n BETWEEN 3 AND 12 AND TAGS IN ('TagA', 'TagB')",
            "color = 'red' OR n > 20",
            "color <> 'red'", // messages without color do not match
            "color IS NULL AND NOT (n < 5)",
            "n NOT BETWEEN 2 AND 21",
        };
        List<IntPredicate> want = List.of(
            i -> i >= 3 && i <= 12 && i % 3 != 2,
            i -> (i % 4 == 0) || i > 20,
            i -> i % 2 == 0 && i % 4 != 0,
            i -> i % 2 == 1 && i >= 5,
            i -> i < 2 || i > 21);
        List<Set<String>> got = new ArrayList<>();
        for (String e : exprs) {
            Set<String> g = new TreeSet<>();
            got.add(g);
            DefaultMQPushConsumer c = sqlConsumer(topic, e, g);
            c.start();
        }
        for (int k = 0; k < exprs.length; k++) {
            Set<String> g = got.get(k);
            Set<String> w = expected(want.get(k));
            String e = exprs[k];
            Env.awaitTrue(() -> "'" + e + "' got " + TagTest.snapshot(g) + ", want " + w, 30_000,
                () -> TagTest.sizeOf(g) >= w.size());
        }
        Env.quiet(500);
        for (int k = 0; k < exprs.length; k++) {
            assertEquals(expected(want.get(k)), TagTest.snapshot(got.get(k)), exprs[k]);
        }
    }

    @Test
    void messagesArrivingWhileParkedAreFiltered() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JSqlLive");
        Env.createTopic(p, topic, 2);
        Set<String> got = new TreeSet<>();
        DefaultMQPushConsumer c = sqlConsumer(topic, "n >= 20", got);
        c.start();
        Thread.sleep(2000); // let the consumer's pulls park (long polling)
        sendAll(p, topic);
        Set<String> w = expected(i -> i >= 20);
        Env.awaitTrue(() -> "got " + TagTest.snapshot(got), 30_000, () -> TagTest.sizeOf(got) >= w.size());
        Env.quiet(500);
        assertEquals(w, TagTest.snapshot(got));
    }

    @Test
    void litePullWithSql() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JSqlLite");
        Env.createTopic(p, topic, 4);
        sendAll(p, topic);
        DefaultLitePullConsumer c = Env.litePull(Env.unique("CGSqlLite"));
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, MessageSelector.bySql("n < 6 OR color = 'blue'"));
        c.start();
        Set<String> w = expected(i -> i < 6 || (i % 2 == 0 && i % 4 != 0));
        Set<String> got = new TreeSet<>();
        Env.awaitTrue(() -> "lite pull got " + got + ", want " + w, 30_000, () -> {
            for (MessageExt m : c.poll(200)) {
                got.add(new String(m.getBody(), StandardCharsets.UTF_8));
            }
            return got.size() >= w.size();
        });
        assertEquals(w, got);
        assertTrue(c.poll(300).isEmpty(), "nothing more");
    }

    @Test
    void invalidExpressionFailsStart() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JSqlBad");
        Env.createTopic(p, topic, 1);
        for (String bad : new String[] {"n > 'x'", "n = = 1", "color IN (1, 2)"}) {
            DefaultMQPushConsumer c = sqlConsumer(topic, bad, new TreeSet<>());
            MQClientException e = assertThrows(MQClientException.class, c::start, bad);
            // CHECK_CLIENT_CONFIG answered SUBSCRIPTION_PARSE_FAILED (23), the client throws its code.
            assertEquals(23, e.getResponseCode(), "start() with '" + bad + "': " + e);
        }
    }
}
