package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.MessageListener;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * What every scenario needs: the broker under test (system properties set by scripts/test-java.sh),
 * unique names, clients configured the same way, and waiting with a deadline instead of sleeping.
 *
 * <p>Every client gets its own instanceName: two consumers of one group in one JVM would otherwise share
 * one MQClientInstance (one clientId), which the Java client refuses, and one test's client state (routes,
 * offsets) would leak into the next.
 */
final class Env {
    /** NameServer of the broker under test (auto-create on). */
    static final String NAMESRV = System.getProperty("namesrv", "");
    /** NameServer of a second broker started with autoCreateTopicEnable=false. */
    static final String NAMESRV_NOAUTO = System.getProperty("namesrv.noauto", "");
    /** host:port of that second broker (raw remoting requests). */
    static final String BROKER_NOAUTO = System.getProperty("broker.noauto", "");
    /** host:port of the main broker (raw remoting requests). */
    static final String BROKER = System.getProperty("broker.addr", "");
    /** Version of rocketmq-client on the class path (as the pom's property). */
    static final String CLIENT_VERSION = System.getProperty("rocketmq.client.version", "");
    /** host:port of a second broker registered with NAMESRV_NOAUTO (empty where clusters do not exist). */
    static final String BROKER_SECOND = System.getProperty("broker.second", "");
    /** Pid of that second broker: the fail-over test stops it. */
    static final String BROKER_SECOND_PID = System.getProperty("broker.second.pid", "");
    /** "bolide" or "reference": only for messages, the expectations are the same for both. */
    static final String KIND = System.getProperty("broker.kind", "unknown");
    /** NameServer of a Bolide with aclEnable=true and tests/java/acl/plain_acl.yml; empty: AclTest skips. */
    static final String NAMESRV_ACL = System.getProperty("namesrv.acl", "");

    private static final AtomicLong SEQ = new AtomicLong();
    private static final String RUN = Long.toString(System.currentTimeMillis() % 100000000L, 36);
    static final Set<AutoCloseable> OPEN = ConcurrentHashMap.newKeySet();

    private Env() {}

    static String namesrv() {
        if (NAMESRV.isEmpty()) {
            fail("system property 'namesrv' not set (run through scripts/test-java.sh or pass -Dnamesrv=host:port)");
        }
        return NAMESRV;
    }

    /** A name no earlier run used: topics and groups persist on the broker between runs. */
    static String unique(String prefix) {
        return prefix + "_" + RUN + "_" + SEQ.incrementAndGet();
    }

    static DefaultMQProducer producer() throws MQClientException {
        return producer(namesrv());
    }

    static DefaultMQProducer producer(String namesrv) throws MQClientException {
        DefaultMQProducer p = new DefaultMQProducer(unique("PG"));
        p.setNamesrvAddr(namesrv);
        p.setInstanceName(unique("p"));
        p.setSendMsgTimeout(5000);
        p.start();
        OPEN.add(p::shutdown);
        return p;
    }

    /**
     * Creates `topic` with `queues` read and write queues on every broker that serves TBW102 (the client's
     * createTopic: UPDATE_AND_CREATE_TOPIC to each master), and waits until the NameServer routes it.
     */
    static List<MessageQueue> createTopic(DefaultMQProducer p, String topic, int queues) throws Exception {
        createTopicCall(p, topic, queues);
        return await("route of " + topic + " with " + queues + " queues", 15_000, () -> {
            try {
                List<MessageQueue> mqs = p.fetchPublishMessageQueues(topic);
                return mqs.size() == queues ? mqs : null;
            } catch (MQClientException e) {
                return null;
            }
        });
    }

    /**
     * createTopic(key, topic, queues) in 4.9; 5.x only has the overload with a topic attribute map. Both send
     * UPDATE_AND_CREATE_TOPIC with readQueueNums = writeQueueNums = queues to each master of the key's route.
     */
    static void createTopicCall(DefaultMQProducer p, String topic, int queues) throws Exception {
        try {
            DefaultMQProducer.class.getMethod("createTopic", String.class, String.class, int.class, java.util.Map.class)
                .invoke(p, "TBW102", topic, queues, new java.util.HashMap<String, String>());
            return;
        } catch (NoSuchMethodException e) {
            // 4.9.x
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw (Exception) e.getCause();
        }
        try {
            DefaultMQProducer.class.getMethod("createTopic", String.class, String.class, int.class)
                .invoke(p, "TBW102", topic, queues);
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw (Exception) e.getCause();
        }
    }

    static DefaultMQPushConsumer pushConsumer(String group, String topic, String expr, boolean broadcasting,
                                              ConsumeFromWhere where, MessageListener listener) throws MQClientException {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(group);
        c.setNamesrvAddr(namesrv());
        c.setInstanceName(unique("c"));
        setMessageModel(c, broadcasting ? "BROADCASTING" : "CLUSTERING");
        c.setConsumeFromWhere(where);
        // The 5.x client bumps a subscription's version on each rebalance and tells the broker by a
        // heartbeat, which it skips when another heartbeat holds the lock (the periodic one fires 1 s after
        // start, just when the first rebalance runs). The Java broker then answers every pull with
        // SUBSCRIPTION_NOT_LATEST until the next periodic heartbeat (30 s by default): heartbeats every
        // second bound that stall (see docs/compat-java.md).
        c.setHeartbeatBrokerInterval(1000);
        c.setConsumeThreadMin(2);
        c.setConsumeThreadMax(4);
        c.subscribe(topic, expr);
        c.registerMessageListener(listener);
        OPEN.add(c::shutdown);
        return c;
    }

    static DefaultLitePullConsumer litePull(String group) {
        DefaultLitePullConsumer c = new DefaultLitePullConsumer(group);
        c.setNamesrvAddr(namesrv());
        c.setInstanceName(unique("l"));
        c.setPollTimeoutMillis(500);
        c.setHeartbeatBrokerInterval(1000); // as pushConsumer

        OPEN.add(c::shutdown);
        return c;
    }

    /**
     * MessageModel moved packages between 4.9 (common.protocol.heartbeat) and 5.x (remoting.protocol.heartbeat):
     * set it by name so that one source tree compiles against both clients.
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static void setMessageModel(Object consumer, String model) {
        try {
            for (java.lang.reflect.Method m : consumer.getClass().getMethods()) {
                if (m.getName().equals("setMessageModel") && m.getParameterCount() == 1) {
                    Class<? extends Enum> type = (Class<? extends Enum>) m.getParameterTypes()[0];
                    m.invoke(consumer, Enum.valueOf(type, model));
                    return;
                }
            }
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("setMessageModel(" + model + ")", e);
        }
        throw new IllegalStateException("no setMessageModel on " + consumer.getClass());
    }

    /**
     * Queues of `topic` the push consumer currently owns (pulls from). The 4.9 client also pulls its group's
     * retry topic (%RETRY%group) in clustering mode: those queues are not counted.
     */
    static Set<MessageQueue> owned(DefaultMQPushConsumer c, String topic) {
        Set<MessageQueue> out = new java.util.HashSet<>();
        for (MessageQueue mq : c.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable().keySet()) {
            if (mq.getTopic().equals(topic)) {
                out.add(mq);
            }
        }
        return out;
    }

    /**
     * Shuts down everything the test opened, in the background: a 5.x client's shutdown waits seconds for
     * its internal threads, and the next test does not depend on it (its names are all new).
     */
    static void closeAll() {
        List<AutoCloseable> toClose = new java.util.ArrayList<>(OPEN);
        OPEN.clear();
        for (AutoCloseable c : toClose) {
            Thread t = new Thread(() -> {
                try {
                    c.close();
                } catch (Exception ignored) {
                    // a client that never started: nothing to stop
                }
            }, "close-client");
            t.setDaemon(true);
            t.start();
        }
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
                fail("interrupted waiting for " + what);
            }
        }
    }

    /** Lets a consumer that should receive nothing more have the chance to (a bounded quiet period). */
    static void quiet(long ms) throws InterruptedException {
        Thread.sleep(ms);
    }
}
