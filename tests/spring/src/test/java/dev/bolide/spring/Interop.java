package dev.bolide.spring;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.spring.support.DefaultRocketMQListenerContainer;
import org.springframework.context.ApplicationContext;
import org.springframework.test.context.DynamicPropertyRegistry;

/**
 * What every scenario needs: the broker under test (the Spring property {@code rocketmq.name-server}, a system
 * property set by scripts/test-spring.sh), names no earlier run used, topics created before the application
 * context starts, and waiting with deadlines instead of sleeping.
 *
 * <p>Names: the listener containers are created when the context starts, from their annotations; the
 * annotations name topics and groups by placeholders ({@code ${test.topic}}), which each test class fills in
 * from a {@code @DynamicPropertySource} method with {@link #names}. That method runs once per context, so a
 * rerun of a failed scenario (a new context) gets new names too.
 */
@SuppressWarnings("deprecation") // DefaultMQProducer.createTopic: what the 5.x client offers short of mqadmin
final class Interop {
    /** NameServer of the broker under test. */
    static final String NAME_SERVER = System.getProperty("rocketmq.name-server", "");
    /** "bolide" or "reference": only for messages, the expectations are the same for both. */
    static final String KIND = System.getProperty("broker.kind", "unknown");

    private static final AtomicLong SEQ = new AtomicLong();
    private static final String RUN = Long.toString(System.currentTimeMillis() % 100000000L, 36);

    private Interop() {}

    static String nameServer() {
        if (NAME_SERVER.isEmpty()) {
            fail("property 'rocketmq.name-server' not set (run through scripts/test-spring.sh or pass "
                + "-Drocketmq.name-server=host:port to mvn)");
        }
        return NAME_SERVER;
    }

    /** A name no earlier run used: topics and groups persist on the broker between runs. */
    static String unique(String prefix) {
        return prefix + "_" + RUN + "_" + SEQ.incrementAndGet();
    }

    /**
     * Fills in the placeholders of one application context: {@code test.topic} (created with `queues` queues
     * before the context starts, so that the listener containers find its route at once), {@code test.group}
     * (the listeners' consumer group) and {@code rocketmq.producer.group} (RocketMQTemplate's producer).
     * Returns the values, for messages.
     */
    static Map<String, String> names(DynamicPropertyRegistry registry, String prefix, int queues) {
        String topic = createTopic(unique("Sp" + prefix), queues);
        Map<String, String> names = new TreeMap<>();
        names.put("test.topic", topic);
        names.put("test.group", unique("Sp" + prefix + "CG"));
        names.put("rocketmq.producer.group", unique("Sp" + prefix + "PG"));
        // Suppliers may be called more than once: constants only.
        names.forEach((k, v) -> registry.add(k, () -> v));
        return names;
    }

    /**
     * Creates `topic` with `queues` read and write queues on every master that serves TBW102 (the client's
     * createTopic: UPDATE_AND_CREATE_TOPIC to each master) and waits until the NameServer routes it: what an
     * operator does with mqadmin updateTopic before the application starts.
     */
    static String createTopic(String topic, int queues) {
        DefaultMQProducer p = new DefaultMQProducer(unique("SpAdmin"));
        p.setNamesrvAddr(nameServer());
        p.setInstanceName(unique("admin"));
        try {
            p.start();
            p.createTopic("TBW102", topic, queues, new HashMap<>());
            await("route of " + topic + " with " + queues + " queues", 15_000, () -> {
                try {
                    List<MessageQueue> mqs = p.fetchPublishMessageQueues(topic);
                    return mqs.size() == queues ? mqs : null;
                } catch (MQClientException e) {
                    return null;
                }
            });
            return topic;
        } catch (MQClientException e) {
            throw new IllegalStateException("[" + KIND + "] could not create topic " + topic + ": " + e, e);
        } finally {
            p.shutdown();
        }
    }

    /**
     * Waits until every listener container of `topic` in `ctx` pulls from `queues` queues of it (its
     * rebalance ran, its start offsets are known and, for ORDERLY, the queues are locked at the broker).
     * Messages sent before that could be missed by a consumer that starts at the last offset (BROADCASTING
     * does) or be consumed before the test looks.
     */
    static void awaitSubscribed(ApplicationContext ctx, String topic, int queues) {
        List<DefaultRocketMQListenerContainer> containers = ctx.getBeansOfType(DefaultRocketMQListenerContainer.class)
            .values().stream().filter(c -> topic.equals(c.getTopic())).toList();
        if (containers.isEmpty()) {
            fail("no listener container for " + topic);
        }
        for (DefaultRocketMQListenerContainer c : containers) {
            awaitTrue(() -> "listener container " + c.getConsumerGroup() + " to own " + queues + " queues of "
                + topic + " (owns " + owned(c, topic) + ")", 30_000, () -> owned(c, topic) == queues);
        }
    }

    static long owned(DefaultRocketMQListenerContainer c, String topic) {
        return c.getConsumer().getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable().keySet()
            .stream().filter(mq -> mq.getTopic().equals(topic)).count();
    }

    static void awaitTrue(String what, long timeoutMs, BooleanSupplier cond) {
        await(() -> what, timeoutMs, () -> cond.getAsBoolean() ? Boolean.TRUE : null);
    }

    /** As awaitTrue, with the failure message computed when the deadline passes (it shows the state then). */
    static void awaitTrue(Supplier<String> what, long timeoutMs, BooleanSupplier cond) {
        await(what, timeoutMs, () -> cond.getAsBoolean() ? Boolean.TRUE : null);
    }

    static <T> T await(String what, long timeoutMs, Supplier<T> probe) {
        return await(() -> what, timeoutMs, probe);
    }

    /** Polls `probe` every 20 ms until it returns non-null; fails with `what` after `timeoutMs`. */
    static <T> T await(Supplier<String> what, long timeoutMs, Supplier<T> probe) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        while (true) {
            T v = probe.get();
            if (v != null) {
                return v;
            }
            if (System.nanoTime() > deadline) {
                fail("[" + KIND + "] timed out after " + timeoutMs + " ms waiting for: " + what.get());
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail("interrupted waiting for " + what.get());
            }
        }
    }

    /**
     * After everything expected arrived: a bounded quiet period in which a duplicate or a message that should
     * have been filtered out would show (a negative cannot be awaited).
     */
    static void quiet() throws InterruptedException {
        Thread.sleep(1000);
    }
}
