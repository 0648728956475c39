package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueAveragely;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageDecoder;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.remoting.RPCHook;
import org.apache.rocketmq.remoting.protocol.RemotingCommand;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * RocketMQ 5's POP consumption and broker-side queue assignment (remoting, client 5.x):
 * <ul>
 * <li>SET_MESSAGE_REQUEST_MODE (401) puts a (topic, group) in POP mode; a push consumer with
 * clientRebalance=false asks the broker for its queues (QUERY_ASSIGNMENT, 400), which with popShareQueueNum 0
 * answers every consumer one queue with id -1 (all queues) in mode POP; the consumer then POP_MESSAGEs
 * (200050) and ACK_MESSAGEs (200051) instead of pulling;</li>
 * <li>a message the listener returns RECONSUME_LATER for gets CHANGE_MESSAGE_INVISIBLETIME (200053) and comes
 * back with reconsumeTimes 1 (the Java broker revives it through the group's pop retry topic, Bolide from its
 * own queue);</li>
 * <li>popped messages never acked come back to the group after their invisible time, with reconsumeTimes 1;</li>
 * <li>without a mode (PULL), QUERY_ASSIGNMENT splits the queues between the group's members;</li>
 * <li>a retry topic's mode cannot be set.</li>
 * </ul>
 * The 4.9 client has none of this (no setClientRebalance, no MessageRequestMode): reached by reflection so that
 * the tree compiles against both, and every scenario is skipped with 4.9. Each consumer records its own POP-related
 * requests and the broker's answers (an RPCHook), so a consumer that silently fell back to pulling fails.
 */
class PopConsumeTest {
    static final int PULL_MESSAGE = 11;
    static final int UPDATE_AND_CREATE_SUBSCRIPTIONGROUP = 200;
    static final int QUERY_ASSIGNMENT = 400;
    static final int SET_MESSAGE_REQUEST_MODE = 401;
    static final int POP_MESSAGE = 200050;
    static final int ACK_MESSAGE = 200051;
    static final int CHANGE_MESSAGE_INVISIBLETIME = 200053;
    static final int BATCH_ACK_MESSAGE = 200151;
    static final Set<Integer> RECORDED = Set.of(PULL_MESSAGE, QUERY_ASSIGNMENT, SET_MESSAGE_REQUEST_MODE,
        POP_MESSAGE, ACK_MESSAGE, CHANGE_MESSAGE_INVISIBLETIME, BATCH_ACK_MESSAGE);
    /** ConsumeInitMode.MIN: a group without an offset starts at the queue's first message. */
    static final int INIT_MODE_MIN = 0;
    static final String MODE_CLASS = "org.apache.rocketmq.common.message.MessageRequestMode";

    static final boolean POP_CLIENT = popClient();

    static boolean popClient() {
        try {
            Class.forName(MODE_CLASS);
            DefaultMQPushConsumer.class.getMethod("setClientRebalance", boolean.class);
            return true;
        } catch (ReflectiveOperationException e) {
            return false;
        }
    }

    /** Per scenario (not @BeforeAll, which Surefire reports as nothing run): each shows as skipped, with why. */
    @BeforeEach
    void popNeedsA5Client() {
        Assumptions.assumeTrue(POP_CLIENT, "rocketmq-client " + Env.CLIENT_VERSION + " has no POP consumer (MessageRequestMode, "
            + "DefaultMQPushConsumer#setClientRebalance and the pop services came with 5.0): POP needs a 5.x client");
    }

    @AfterEach
    void close() {
        Env.closeAll();
    }

    static String body(MessageExt m) {
        return new String(m.getBody(), StandardCharsets.UTF_8);
    }

    // --- what a consumer sent and what the broker answered ------------------------------------------------------

    /** One request of a code in RECORDED and its answer: header fields (by name), bodies. */
    static final class Call {
        final int code;
        final Map<String, String> req;
        final String reqBody;
        final int respCode;
        final String remark;
        final Map<String, String> resp;
        final String respBody;
        final long at = System.currentTimeMillis();

        Call(RemotingCommand request, RemotingCommand response) {
            code = request.getCode();
            req = fields(request);
            reqBody = request.getBody() == null ? "" : new String(request.getBody(), StandardCharsets.UTF_8);
            respCode = response.getCode();
            remark = response.getRemark();
            resp = response.getExtFields() == null ? Map.of() : new TreeMap<>(response.getExtFields());
            // POP_MESSAGE bodies are binary messages: only their size.
            respBody = response.getBody() == null ? ""
                : code == POP_MESSAGE ? "<" + response.getBody().length + " bytes>"
                : new String(response.getBody(), StandardCharsets.UTF_8);
        }

        String topic() {
            String t = req.get("topic");
            if (t == null) {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"topic\":\"([^\"]+)\"").matcher(reqBody);
                t = m.find() ? m.group(1) : "";
            }
            return t;
        }

        @Override
        public String toString() {
            return code + " " + req + (reqBody.isEmpty() ? "" : " " + reqBody) + " -> " + respCode
                + (remark == null ? "" : " '" + remark + "'") + " " + resp + (respBody.isEmpty() ? "" : " " + respBody);
        }
    }

    /**
     * Header fields of a request by name: its ext fields, or (5.x encodes some headers straight into the frame
     * and never fills them) the custom header object's fields.
     */
    static Map<String, String> fields(RemotingCommand cmd) {
        Map<String, String> out = new TreeMap<>();
        Object h = cmd.readCustomHeader();
        for (Class<?> c = h == null ? null : h.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (java.lang.reflect.Modifier.isStatic(f.getModifiers())) {
                    continue;
                }
                try {
                    f.setAccessible(true);
                    Object v = f.get(h);
                    if (v != null) {
                        out.putIfAbsent(f.getName(), v.toString());
                    }
                } catch (ReflectiveOperationException | RuntimeException ignored) {
                    // a field we cannot read: not one the test looks at
                }
            }
        }
        if (cmd.getExtFields() != null) {
            out.putAll(cmd.getExtFields());
        }
        return out;
    }

    /** An RPCHook keeping the consumer's POP, ack, assignment and pull requests with their answers. */
    static final class Traffic implements RPCHook {
        final ConcurrentLinkedQueue<Call> calls = new ConcurrentLinkedQueue<>();

        @Override
        public void doBeforeRequest(String remoteAddr, RemotingCommand request) {
        }

        @Override
        public void doAfterResponse(String remoteAddr, RemotingCommand request, RemotingCommand response) {
            if (response != null && RECORDED.contains(request.getCode())) {
                calls.add(new Call(request, response));
            }
        }

        List<Call> of(int code, String topic) {
            return calls.stream().filter(c -> c.code == code && c.topic().equals(topic)).collect(Collectors.toList());
        }

        /** Request code -> answer codes, e.g. {200050=[0, 0, 210]}: for failure messages. */
        String summary() {
            Map<Integer, List<Integer>> m = new TreeMap<>();
            for (Call c : calls) {
                m.computeIfAbsent(c.code, k -> new ArrayList<>()).add(c.respCode);
            }
            return m.toString();
        }
    }

    // --- clients ----------------------------------------------------------------------------------------------

    /**
     * A clustering push consumer configured as Env.pushConsumer, with `traffic` as its RPCHook and
     * clientRebalance=false (5.x: its queues come from the broker, QUERY_ASSIGNMENT). Not started.
     */
    static DefaultMQPushConsumer brokerBalanced(String group, String topic, Traffic traffic, MessageListenerConcurrently listener)
        throws Exception {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(group, traffic, new AllocateMessageQueueAveragely());
        c.setNamesrvAddr(Env.namesrv());
        c.setInstanceName(Env.unique("c"));
        Env.setMessageModel(c, "CLUSTERING");
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.setHeartbeatBrokerInterval(1000); // as Env.pushConsumer
        c.setConsumeThreadMin(2);
        c.setConsumeThreadMax(4);
        c.subscribe(topic, "*");
        c.registerMessageListener(listener);
        invoke(c, "setClientRebalance", false);
        Env.OPEN.add(c::shutdown);
        return c;
    }

    /** Queues of `topic` the consumer pops (its PopProcessQueue table, 5.x). */
    static Set<MessageQueue> popping(DefaultMQPushConsumer c, String topic) {
        try {
            Object rebalance = c.getDefaultMQPushConsumerImpl().getRebalanceImpl();
            Map<?, ?> table = (Map<?, ?>) rebalance.getClass().getMethod("getPopProcessQueueTable").invoke(rebalance);
            Set<MessageQueue> out = new HashSet<>();
            for (Object k : table.keySet()) {
                MessageQueue mq = (MessageQueue) k;
                if (mq.getTopic().equals(topic)) {
                    out.add(mq);
                }
            }
            return out;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("getPopProcessQueueTable", e);
        }
    }

    static Object invoke(Object target, String name, Object... args) throws Exception {
        for (Method m : target.getClass().getMethods()) {
            if (m.getName().equals(name) && m.getParameterCount() == args.length) {
                try {
                    return m.invoke(target, args);
                } catch (InvocationTargetException e) {
                    throw e.getCause() instanceof Exception ? (Exception) e.getCause() : e;
                }
            }
        }
        throw new NoSuchMethodException(target.getClass().getName() + "#" + name + "/" + args.length);
    }

    /** The client's own remoting API (MQClientAPIImpl), as the admin tools use it. */
    static Object clientApi(DefaultMQProducer p) {
        return p.getDefaultMQProducerImpl().getmQClientFactory().getMQClientAPIImpl();
    }

    /**
     * SET_MESSAGE_REQUEST_MODE through MQClientAPIImpl#setMessageRequestMode (what mqadmin setConsumeMode and
     * DefaultMQAdminExt#setMessageRequestMode call): MQClientException with the broker's code when refused.
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static void setMessageRequestMode(DefaultMQProducer p, String topic, String group, String mode, int popShareQueueNum)
        throws Exception {
        Class<? extends Enum> type = (Class<? extends Enum>) Class.forName(MODE_CLASS);
        Object api = clientApi(p);
        Method m = api.getClass().getMethod("setMessageRequestMode", String.class, String.class, String.class, type,
            int.class, long.class);
        try {
            m.invoke(api, Env.BROKER, topic, group, Enum.valueOf(type, mode), popShareQueueNum, 5000L);
        } catch (InvocationTargetException e) {
            throw (Exception) e.getCause();
        }
    }

    /** UPDATE_AND_CREATE_SUBSCRIPTIONGROUP of `group` with the defaults. */
    static void createGroup(String group) throws Exception {
        String cfg = "{\"groupName\":\"" + group + "\"}";
        RemotingCommand r = Raw.shared().request(Env.BROKER, UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, Map.of(),
            cfg.getBytes(StandardCharsets.UTF_8));
        assertEquals(Raw.SUCCESS, r.getCode(), "create group " + group + ": " + Raw.describe(r));
    }

    /** A topic with `queues` queues and a group in POP mode for it (every consumer pops every queue). */
    static void popTopicAndGroup(DefaultMQProducer p, String topic, int queues, String group) throws Exception {
        Env.createTopic(p, topic, queues);
        createGroup(group);
        setMessageRequestMode(p, topic, group, "POP", 0);
    }

    /**
     * The group's consume stats for `topic` (GET_CONSUME_STATS through MQClientAPIImpl#getConsumeStats, as
     * DefaultMQAdminExt#examineConsumeStats): queueId -> {brokerOffset, consumerOffset}.
     */
    static Map<Integer, List<Long>> consumeStats(DefaultMQProducer p, String group, String topic) throws Exception {
        Object api = clientApi(p);
        Object stats;
        try {
            stats = api.getClass().getMethod("getConsumeStats", String.class, String.class, String.class, long.class)
                .invoke(api, Env.BROKER, group, topic, 5000L);
        } catch (InvocationTargetException e) {
            throw (Exception) e.getCause();
        }
        Map<?, ?> table = (Map<?, ?>) invoke(stats, "getOffsetTable");
        Map<Integer, List<Long>> out = new TreeMap<>();
        for (Map.Entry<?, ?> e : table.entrySet()) {
            MessageQueue mq = (MessageQueue) e.getKey();
            if (mq.getTopic().equals(topic)) {
                out.put(mq.getQueueId(), List.of((Long) invoke(e.getValue(), "getBrokerOffset"),
                    (Long) invoke(e.getValue(), "getConsumerOffset")));
            }
        }
        return out;
    }

    /** A POP_MESSAGE answer without its (binary) body. */
    static String describePop(RemotingCommand r) {
        return "code=" + r.getCode() + " remark=" + r.getRemark() + " ext=" + r.getExtFields()
            + " body=<" + (r.getBody() == null ? 0 : r.getBody().length) + " bytes>";
    }

    /** The pop retry topic of (group, topic) the 5.x client acks revived messages on (KeyBuilder, V1 naming). */
    static String popRetryTopic(String group, String topic) {
        return "%RETRY%" + group + "_" + topic;
    }

    /** Sends `n` messages with keys and bodies prefix + i; returns the keys. */
    static Set<String> send(DefaultMQProducer p, String topic, String prefix, int n) throws Exception {
        Set<String> keys = new TreeSet<>();
        for (int i = 0; i < n; i++) {
            String k = prefix + i;
            Message m = new Message(topic, "TagP", k, ("body-" + k).getBytes(StandardCharsets.UTF_8));
            SendResult r = p.send(m);
            assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "send " + k);
            keys.add(k);
        }
        return keys;
    }

    /** One delivery to a listener. */
    static final class Delivery {
        final MessageExt msg;
        final long at = System.currentTimeMillis();

        Delivery(MessageExt msg) {
            this.msg = msg;
        }

        @Override
        public String toString() {
            return msg.getKeys() + "#" + msg.getReconsumeTimes() + "@q" + msg.getQueueId();
        }
    }

    /** A listener recording every delivery by key, answering CONSUME_SUCCESS. */
    static MessageListenerConcurrently recording(Map<String, List<Delivery>> got) {
        return (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                got.computeIfAbsent(m.getKeys(), k -> Collections.synchronizedList(new ArrayList<>())).add(new Delivery(m));
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        };
    }

    // --- scenarios --------------------------------------------------------------------------------------------

    /**
     * POP end to end: the broker assigns the consumer the topic as one queue -1 in mode POP, the consumer pops
     * (POP_MESSAGE of queue -1: the broker reads every queue) and acks each message (never pulls the topic), every
     * message is consumed once with its own body, and the group's consume stats then show no lag.
     */
    @Test
    void popModeConsumesEverythingAndLeavesNoLag() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JPop");
        String group = Env.unique("CGPop");
        popTopicAndGroup(p, topic, 4, group);
        Traffic traffic = new Traffic();
        Map<String, List<Delivery>> got = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = brokerBalanced(group, topic, traffic, recording(got));
        c.start();
        Env.awaitTrue(() -> "the consumer pops " + topic + " (pop queues " + popping(c, topic) + ", pull queues "
            + Env.owned(c, topic) + "; traffic " + traffic.calls + ")", 20_000, () -> !popping(c, topic).isEmpty());

        // The broker's assignment: every queue of the topic as one queue with id -1, mode POP.
        assertEquals(Set.of(-1), popping(c, topic).stream().map(MessageQueue::getQueueId).collect(Collectors.toSet()),
            "[" + Env.KIND + "] queue ids the consumer pops (popShareQueueNum 0: -1, all queues)");
        assertTrue(Env.owned(c, topic).isEmpty(), "a POP consumer pulls no queue: " + Env.owned(c, topic));
        List<Call> asks = traffic.of(QUERY_ASSIGNMENT, topic);
        assertTrue(asks.stream().allMatch(q -> q.respCode == Raw.SUCCESS), "QUERY_ASSIGNMENTs: " + asks);
        assertTrue(asks.stream().anyMatch(q -> q.respBody.contains("\"mode\":\"POP\"") && q.respBody.contains("\"queueId\":-1"))
            && asks.stream().noneMatch(q -> q.respBody.contains("\"mode\":\"PULL\"")),
            "[" + Env.KIND + "] QUERY_ASSIGNMENT answers for a (topic, group) in POP mode: " + asks);

        Set<String> keys = send(p, topic, "pop-", 40);
        Env.awaitTrue(() -> "40 messages consumed (got " + got.size() + ": " + new TreeSet<>(got.keySet()) + "; traffic "
            + traffic.summary() + ")", 30_000, () -> got.keySet().containsAll(keys));
        Env.awaitTrue(() -> "40 acks answered (traffic " + traffic.summary() + ")", 15_000,
            () -> traffic.of(ACK_MESSAGE, topic).size() >= 40);

        assertEquals(keys, got.keySet(), "keys consumed");
        for (Map.Entry<String, List<Delivery>> e : got.entrySet()) {
            assertEquals(1, e.getValue().size(), "deliveries of " + e.getKey() + ": " + e.getValue());
            MessageExt m = e.getValue().get(0).msg;
            assertEquals("body-" + e.getKey(), body(m), "body of " + e.getKey());
            assertEquals(topic, m.getTopic());
            assertEquals(0, m.getReconsumeTimes(), "reconsumeTimes of " + e.getKey());
            assertTrue(m.getQueueId() >= 0 && m.getQueueId() < 4, "queueId of " + e.getKey() + ": " + m.getQueueId());
            assertNotNull(m.getProperty("POP_CK"), "a popped message carries its POP_CK: " + m.getProperties());
        }
        // All four queues were popped through the one queue -1.
        assertEquals(4, got.values().stream().map(d -> d.get(0).msg.getQueueId()).distinct().count(),
            "queues the messages came from: " + got.values());

        List<Call> pops = traffic.of(POP_MESSAGE, topic);
        assertTrue(pops.stream().anyMatch(c1 -> c1.respCode == Raw.SUCCESS), "a POP_MESSAGE found messages: " + pops);
        for (Call pop : pops) {
            assertEquals("-1", pop.req.get("queueId"), "a POP_MESSAGE of the queue -1: " + pop);
            if (pop.respCode == Raw.SUCCESS) {
                for (String h : List.of("popTime", "invisibleTime", "reviveQid", "restNum")) {
                    assertNotNull(pop.resp.get(h), "[" + Env.KIND + "] header " + h + " of a POP_MESSAGE answer: " + pop);
                }
                assertEquals(pop.req.get("invisibleTime"), pop.resp.get("invisibleTime"), "invisibleTime answered: " + pop);
            }
        }
        for (Call ack : traffic.of(ACK_MESSAGE, topic)) {
            assertEquals(Raw.SUCCESS, ack.respCode, "[" + Env.KIND + "] ACK_MESSAGE: " + ack);
        }
        assertTrue(traffic.of(PULL_MESSAGE, topic).isEmpty(), "a POP consumer never pulls the topic: "
            + traffic.of(PULL_MESSAGE, topic));

        // Everything consumed and acked: the committed offset of every queue is its max offset. (The Java broker
        // commits a queue's offset when it pops, and keeps what is not acked yet in checkpoints that revive it.)
        AtomicReference<String> stats = new AtomicReference<>("none yet");
        Env.awaitTrue(() -> "no lag in the consume stats of " + group + ", {queueId=[brokerOffset, consumerOffset]}: "
            + stats.get(), 30_000, () -> {
                try {
                    Map<Integer, List<Long>> s = consumeStats(p, group, topic);
                    stats.set(s.toString());
                    return s.size() == 4 && s.values().stream().allMatch(o -> o.get(0).equals(o.get(1)))
                        && s.values().stream().mapToLong(o -> o.get(0)).sum() == 40;
                } catch (Exception e) {
                    stats.set(e.toString());
                    return false;
                }
            });
    }

    /**
     * RECONSUME_LATER in POP mode: the client changes the message's invisible time (CHANGE_MESSAGE_INVISIBLETIME
     * with popDelayLevel[reconsumeTimes] seconds) instead of sending it back; it comes back under its own topic
     * and id with reconsumeTimes 1, long before the pop's own invisible time (60 s) would have revived it.
     */
    @Test
    void reconsumeLaterComesBackWithReconsumeTimesOne() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JPopLater");
        String group = Env.unique("CGPopLater");
        popTopicAndGroup(p, topic, 2, group);
        Traffic traffic = new Traffic();
        Map<String, List<Delivery>> got = new ConcurrentHashMap<>();
        MessageListenerConcurrently record = recording(got);
        DefaultMQPushConsumer c = brokerBalanced(group, topic, traffic, (msgs, ctx) -> {
            record.consumeMessage(msgs, ctx);
            for (MessageExt m : msgs) {
                if ("again".equals(m.getKeys()) && got.get("again").size() == 1) {
                    return ConsumeConcurrentlyStatus.RECONSUME_LATER;
                }
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        invoke(c, "setPopInvisibleTime", 60_000L);
        // The client takes the new invisible time from its own table popDelayLevel {10, 30, 60, ...} seconds,
        // indexed by the context's delayLevelWhenNextConsume, or by reconsumeTimes when that is 0 (the default):
        // 10 s at least. This consumer's first entry becomes 1 s.
        int retrySeconds = 1;
        Field table = c.getDefaultMQPushConsumerImpl().getClass().getDeclaredField("popDelayLevel");
        table.setAccessible(true);
        ((int[]) table.get(c.getDefaultMQPushConsumerImpl()))[0] = retrySeconds;
        c.start();
        Env.awaitTrue(() -> "the consumer pops " + topic + " (traffic " + traffic.calls + ")", 20_000,
            () -> !popping(c, topic).isEmpty());

        Message m = new Message(topic, "TagP", "again", "body-again".getBytes(StandardCharsets.UTF_8));
        SendResult sent = p.send(m);
        assertEquals(SendStatus.SEND_OK, sent.getSendStatus());
        Set<String> others = send(p, topic, "fine-", 3);
        Env.awaitTrue(() -> "the refused message back (deliveries " + got + "; traffic " + traffic.summary() + ")", 30_000,
            () -> got.containsKey("again") && got.get("again").size() >= 2);
        Env.awaitTrue(() -> "the others consumed (" + got + ")", 10_000, () -> got.keySet().containsAll(others));
        Env.quiet(1500);

        List<Delivery> again = new ArrayList<>(got.get("again"));
        assertEquals(List.of(0, 1), again.stream().map(d -> d.msg.getReconsumeTimes()).collect(Collectors.toList()),
            "[" + Env.KIND + "] reconsumeTimes of each delivery of the refused message: " + again);
        MessageExt back = again.get(1).msg;
        assertEquals(topic, back.getTopic(), "the redelivery is shown under the real topic");
        assertEquals("body-again", body(back));
        assertEquals("again", back.getKeys());
        assertEquals(sent.getMsgId(), back.getMsgId(), "the redelivery keeps the client message id (UNIQ_KEY)");
        long tookMs = again.get(1).at - again.get(0).at;
        assertTrue(tookMs >= retrySeconds * 1000L - 200 && tookMs < 30_000,
            "[" + Env.KIND + "] the redelivery came " + tookMs + " ms after the refusal (new invisible time "
                + retrySeconds + " s, the pop's 60 s)");
        for (String k : others) {
            assertEquals(1, got.get(k).size(), "deliveries of " + k + ": " + got.get(k));
        }

        List<Call> changes = traffic.of(CHANGE_MESSAGE_INVISIBLETIME, topic);
        assertEquals(1, changes.size(), "CHANGE_MESSAGE_INVISIBLETIME sent: " + changes);
        Call change = changes.get(0);
        assertEquals(Raw.SUCCESS, change.respCode, "[" + Env.KIND + "] CHANGE_MESSAGE_INVISIBLETIME: " + change);
        assertEquals(Long.toString(retrySeconds * 1000L), change.req.get("invisibleTime"), "invisibleTime asked: " + change);
        for (String h : List.of("popTime", "invisibleTime", "reviveQid")) {
            assertNotNull(change.resp.get(h), "[" + Env.KIND + "] header " + h + " of the CHANGE_MESSAGE_INVISIBLETIME answer: " + change);
        }
        assertEquals(change.req.get("invisibleTime"), change.resp.get("invisibleTime"), "invisibleTime answered: " + change);
        // The refused delivery is not acked; the successful ones (3 others and the redelivery) are. Where the
        // redelivery is acked depends on where the broker keeps it: the Java broker revives it into the group's
        // pop retry topic (the client names that topic from the POP_CK's retry mark), Bolide delivers it again
        // from its own queue (docs/compat-java.md). Either way: 4 acks, each answered SUCCESS.
        List<Call> acks = traffic.of(ACK_MESSAGE, topic);
        List<Call> retryAcks = traffic.of(ACK_MESSAGE, popRetryTopic(group, topic));
        acks.addAll(retryAcks);
        assertEquals(4, acks.size(), "[" + Env.KIND + "] ACK_MESSAGEs on " + topic + " and its pop retry topic: " + acks);
        assertTrue(retryAcks.size() <= 1, "ACK_MESSAGEs on " + popRetryTopic(group, topic) + ": " + retryAcks);
        assertTrue(acks.stream().allMatch(a -> a.respCode == Raw.SUCCESS), "[" + Env.KIND + "] ACK_MESSAGEs: " + acks);
    }

    /**
     * Popped and never acked (raw POP_MESSAGE with a 2 s invisible time, nothing else): the group gets the
     * messages again once that time is over, with reconsumeTimes 1; a push consumer of the group pops them.
     */
    @Test
    void whatIsNeverAckedComesBackAfterTheInvisibleTime() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JPopLost");
        String group = Env.unique("CGPopLost");
        popTopicAndGroup(p, topic, 4, group);
        Set<String> keys = send(p, topic, "lost-", 4);

        long invisibleMs = 2000;
        Map<String, MessageExt> popped = new ConcurrentHashMap<>();
        List<RemotingCommand> answers = Collections.synchronizedList(new ArrayList<>());
        Env.awaitTrue(() -> "4 messages popped (" + popped.keySet() + "; answers "
            + answers.stream().map(PopConsumeTest::describePop).collect(Collectors.toList()) + ")", 20_000, () -> {
                try {
                    RemotingCommand r = Raw.shared().request(Env.BROKER, POP_MESSAGE, Map.ofEntries(
                        Map.entry("consumerGroup", group),
                        Map.entry("topic", topic),
                        Map.entry("queueId", "-1"),
                        Map.entry("maxMsgNums", "32"),
                        Map.entry("invisibleTime", Long.toString(invisibleMs)),
                        Map.entry("pollTime", "1000"),
                        Map.entry("bornTime", Long.toString(System.currentTimeMillis())),
                        Map.entry("initMode", Integer.toString(INIT_MODE_MIN)),
                        Map.entry("expType", "TAG"),
                        Map.entry("exp", "*"),
                        Map.entry("order", "false")), null);
                    answers.add(r);
                    if (r.getCode() == Raw.SUCCESS && r.getBody() != null) {
                        for (MessageExt m : MessageDecoder.decodes(ByteBuffer.wrap(r.getBody()))) {
                            popped.put(m.getKeys(), m);
                        }
                    }
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                return popped.keySet().containsAll(keys);
            });
        RemotingCommand first = answers.stream().filter(r -> r.getCode() == Raw.SUCCESS).findFirst().orElseThrow();
        Map<String, String> h = first.getExtFields();
        assertEquals(Long.toString(invisibleMs), h.get("invisibleTime"), "[" + Env.KIND + "] POP_MESSAGE answer: " + describePop(first));
        assertNotNull(h.get("reviveQid"), "POP_MESSAGE answer: " + describePop(first));
        assertNotNull(h.get("restNum"), "POP_MESSAGE answer: " + describePop(first));
        long popTime = Long.parseLong(h.get("popTime"));
        for (MessageExt m : popped.values()) {
            assertEquals(0, m.getReconsumeTimes(), "first pop of " + m.getKeys());
            assertEquals("body-" + m.getKeys(), body(m));
        }

        Traffic traffic = new Traffic();
        Map<String, List<Delivery>> got = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = brokerBalanced(group, topic, traffic, recording(got));
        c.start();
        Env.awaitTrue(() -> "the 4 unacked messages again (got " + got + "; traffic " + traffic.summary() + ")", 45_000,
            () -> got.keySet().containsAll(keys));
        for (String k : keys) {
            Delivery d = got.get(k).get(0);
            assertEquals(1, d.msg.getReconsumeTimes(), "[" + Env.KIND + "] reconsumeTimes of " + k + " coming back: " + got.get(k));
            assertEquals("body-" + k, body(d.msg));
            assertEquals(topic, d.msg.getTopic(), "the redelivery is shown under the real topic");
            assertEquals(popped.get(k).getMsgId(), d.msg.getMsgId(), "client message id (UNIQ_KEY) of " + k);
            assertTrue(d.at >= popTime + invisibleMs, "[" + Env.KIND + "] " + k + " came back " + (d.at - popTime)
                + " ms after the pop, before its invisible time (" + invisibleMs + " ms)");
        }
    }

    /**
     * Broker-side assignment in PULL mode (no mode set): two consumers with clientRebalance=false get disjoint
     * halves of the queues from QUERY_ASSIGNMENT, pull them, and together consume every message once.
     */
    @Test
    void brokerAssignsDisjointQueuesInPullMode() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JAssign");
        String group = Env.unique("CGAssign");
        Env.createTopic(p, topic, 4);
        Traffic ta = new Traffic();
        Traffic tb = new Traffic();
        Map<String, List<Delivery>> a = new ConcurrentHashMap<>();
        Map<String, List<Delivery>> b = new ConcurrentHashMap<>();
        DefaultMQPushConsumer ca = brokerBalanced(group, topic, ta, recording(a));
        DefaultMQPushConsumer cb = brokerBalanced(group, topic, tb, recording(b));
        ca.start();
        cb.start();
        Env.awaitTrue(() -> "the broker splits the 4 queues (a " + Env.owned(ca, topic) + ", b " + Env.owned(cb, topic) + ")",
            30_000, () -> {
                Set<MessageQueue> qa = Env.owned(ca, topic);
                Set<MessageQueue> qb = Env.owned(cb, topic);
                Set<MessageQueue> all = new HashSet<>(qa);
                all.addAll(qb);
                return qa.size() == 2 && qb.size() == 2 && all.size() == 4;
            });
        Set<String> keys = send(p, topic, "as-", 40);
        Env.awaitTrue(() -> "40 messages consumed (a " + a.size() + ", b " + b.size() + ")", 30_000, () -> {
            Set<String> all = new HashSet<>(a.keySet());
            all.addAll(b.keySet());
            return all.containsAll(keys);
        });
        Env.quiet(500);

        Set<Integer> fromA = a.values().stream().flatMap(List::stream).map(d -> d.msg.getQueueId()).collect(Collectors.toSet());
        Set<Integer> fromB = b.values().stream().flatMap(List::stream).map(d -> d.msg.getQueueId()).collect(Collectors.toSet());
        Set<Integer> both = new HashSet<>(fromA);
        both.retainAll(fromB);
        assertTrue(both.isEmpty(), "[" + Env.KIND + "] queues both consumers got messages from: " + both + " (a " + fromA
            + ", b " + fromB + ")");
        assertTrue(!a.isEmpty() && !b.isEmpty(), "each consumer got messages: a " + a.keySet() + ", b " + b.keySet());
        Set<String> twice = new HashSet<>(a.keySet());
        twice.retainAll(b.keySet());
        assertTrue(twice.isEmpty(), "consumed by both: " + twice);
        for (Map<String, List<Delivery>> got : List.of(a, b)) {
            got.forEach((k, d) -> assertEquals(1, d.size(), "deliveries of " + k + ": " + d));
        }

        for (Traffic t : List.of(ta, tb)) {
            List<Call> asks = t.of(QUERY_ASSIGNMENT, topic);
            assertTrue(!asks.isEmpty(), "QUERY_ASSIGNMENT sent for " + topic + ": " + t.calls);
            assertTrue(asks.stream().allMatch(q -> q.respCode == Raw.SUCCESS), "QUERY_ASSIGNMENTs: " + asks);
            assertTrue(asks.stream().anyMatch(q -> q.respBody.contains("\"mode\":\"PULL\""))
                && asks.stream().noneMatch(q -> q.respBody.contains("\"mode\":\"POP\"")),
                "[" + Env.KIND + "] QUERY_ASSIGNMENT answers without a mode set: " + asks);
            assertTrue(t.of(POP_MESSAGE, topic).isEmpty(), "no POP in PULL mode: " + t.of(POP_MESSAGE, topic));
            assertTrue(!t.of(PULL_MESSAGE, topic).isEmpty(), "the consumers pull: " + t.summary());
        }
    }

    /**
     * SET_MESSAGE_REQUEST_MODE on a retry topic is refused with NO_PERMISSION ("retry topic is not allowed to set
     * mode"), and on a topic the broker does not have with TOPIC_NOT_EXIST.
     */
    @Test
    void requestModeOfARetryTopicIsRefused() throws Exception {
        DefaultMQProducer p = Env.producer();
        String group = Env.unique("CGPopRetry");
        createGroup(group);
        MQClientException e = org.junit.jupiter.api.Assertions.assertThrows(MQClientException.class,
            () -> setMessageRequestMode(p, "%RETRY%" + group, group, "POP", 0));
        assertEquals(Raw.NO_PERMISSION, e.getResponseCode(), "[" + Env.KIND + "] mode of %RETRY%" + group + ": " + e);

        String missing = Env.unique("JPopMissing");
        MQClientException e2 = org.junit.jupiter.api.Assertions.assertThrows(MQClientException.class,
            () -> setMessageRequestMode(p, missing, group, "POP", 0));
        assertEquals(Raw.TOPIC_NOT_EXIST, e2.getResponseCode(), "[" + Env.KIND + "] mode of an unknown topic: " + e2);
    }
}
