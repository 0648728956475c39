package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageDecoder;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.remoting.protocol.RemotingCommand;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Delayed messages (delay levels, the DELAY property) and RocketMQ 5 timer messages (TIMER_DELAY_MS, set by
 * the 5.x client's Message.setDelayTimeMs or as a property by 4.9): consumers never see them before their
 * time; afterwards they are on their real topic and queue with their keys, properties and message id, and
 * VIEW_MESSAGE_BY_ID finds the delivered copy. The broker started with autoCreateTopicEnable=false also
 * runs with messageDelayLevel="1s 2s 3s" (scripts/test-java.sh): a level above the last is the last.
 *
 * <p>Times are compared on one machine's clock: a message may not arrive before the send started plus its
 * delay. The Java broker rounds timer delivery times down to its precision (timerPrecisionMs, 1 s), so
 * against the reference a timer may come up to 1 s early (docs/compat-java.md); Bolide is never early.
 */
class DelayTest {
    /** How early a timer message may arrive: the reference's rounding; none for Bolide. */
    static final long TIMER_EARLY_MS = "reference".equals(Env.KIND) ? 1000 : 0;

    @AfterEach
    void close() {
        Env.closeAll();
    }

    /** Receive times (ms) and messages by key. */
    static final class Seen {
        final Map<String, Long> at = new ConcurrentHashMap<>();
        final Map<String, MessageExt> msgs = new ConcurrentHashMap<>();

        MessageListenerConcurrently listener() {
            return (batch, ctx) -> {
                long now = System.currentTimeMillis();
                for (MessageExt m : batch) {
                    at.putIfAbsent(m.getKeys(), now);
                    msgs.putIfAbsent(m.getKeys(), m);
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            };
        }
    }

    static Message msg(String topic, String key, String body) {
        Message m = new Message(topic, "TagD", key, body.getBytes(StandardCharsets.UTF_8));
        m.putUserProperty("color", "red");
        return m;
    }

    /** Timer delay in ms: Message.setDelayTimeMs on 5.x; the TIMER_DELAY_MS property on 4.9 (no setter). */
    static void setDelayTimeMs(Message m, long ms) {
        try {
            Message.class.getMethod("setDelayTimeMs", long.class).invoke(m, ms);
        } catch (NoSuchMethodException e) {
            m.putUserProperty("TIMER_DELAY_MS", Long.toString(ms));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    static DefaultMQPushConsumer consumer(String namesrv, String topic, Seen seen) throws Exception {
        DefaultMQPushConsumer c = Env.pushConsumer(Env.unique("CGDelay"), topic, "*", false,
            ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, seen.listener());
        c.setNamesrvAddr(namesrv);
        c.start();
        return c;
    }

    /**
     * The delivered copy, read back by VIEW_MESSAGE_BY_ID at its store host and commit-log offset (what its
     * offset message id encodes; MessageExt has no getOffsetMsgId in 4.9).
     */
    static MessageExt view(MessageExt delivered) throws Exception {
        InetSocketAddress a = (InetSocketAddress) delivered.getStoreHost();
        RemotingCommand r = Raw.shared().request(a.getAddress().getHostAddress() + ":" + a.getPort(), 33,
            Map.of("offset", Long.toString(delivered.getCommitLogOffset())), null);
        assertEquals(Raw.SUCCESS, r.getCode(), "VIEW_MESSAGE_BY_ID: " + Raw.describe(r));
        return MessageDecoder.decode(ByteBuffer.wrap(r.getBody()), true, false);
    }

    static void checkDelivered(MessageExt m, String topic, MessageQueue sentTo, SendResult sent) {
        assertEquals(topic, m.getTopic(), "delivered on its real topic");
        assertEquals(sentTo.getQueueId(), m.getQueueId(), "delivered on the queue it was sent to");
        assertEquals(sent.getMsgId(), m.getMsgId(), "message id (UNIQ_KEY) kept");
        assertEquals("TagD", m.getTags());
        assertEquals("red", m.getUserProperty("color"));
    }

    @Test
    void delayLevelIsDeliveredAfterItsDelayOnItsRealQueue() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JDelay");
        List<MessageQueue> mqs = Env.createTopic(p, topic, 2);
        Seen seen = new Seen();
        consumer(Env.namesrv(), topic, seen);

        MessageQueue q = mqs.get(1);
        Message delayed = msg(topic, "delayed", "later");
        delayed.setDelayTimeLevel(2); // 5 s in the default table
        long t0 = System.currentTimeMillis();
        SendResult sent = p.send(delayed, q);
        assertEquals("SEND_OK", sent.getSendStatus().name(), sent.toString());
        p.send(msg(topic, "immediate", "now"), q);

        Env.awaitTrue(() -> "both messages (seen " + seen.at.keySet() + ")", 60_000,
            () -> seen.at.containsKey("delayed") && seen.at.containsKey("immediate"));
        long after = seen.at.get("delayed") - t0;
        assertTrue(after >= 5000, "[" + Env.KIND + "] a level-2 (5 s) message arrived " + after + " ms after the send");
        assertTrue(seen.at.get("immediate") < seen.at.get("delayed"), "the plain message came first");
        MessageExt m = seen.msgs.get("delayed");
        checkDelivered(m, topic, q, sent);
        assertEquals("later", new String(m.getBody(), StandardCharsets.UTF_8));
        MessageExt viewed = view(m);
        assertEquals(topic, viewed.getTopic());
        assertEquals(sent.getMsgId(), viewed.getProperty("UNIQ_KEY"), "the viewed copy keeps its UNIQ_KEY");
    }

    @Test
    void timerMessageIsDeliveredAtItsTime() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JTimer");
        List<MessageQueue> mqs = Env.createTopic(p, topic, 2);
        Seen seen = new Seen();
        consumer(Env.namesrv(), topic, seen);

        MessageQueue q = mqs.get(0);
        Message timer = msg(topic, "timer", "at its time");
        setDelayTimeMs(timer, 3000);
        long t0 = System.currentTimeMillis();
        SendResult sent = p.send(timer, q);
        assertEquals("SEND_OK", sent.getSendStatus().name(), sent.toString());
        p.send(msg(topic, "immediate", "now"), q);

        Env.awaitTrue(() -> "both messages (seen " + seen.at.keySet() + ")", 60_000,
            () -> seen.at.containsKey("timer") && seen.at.containsKey("immediate"));
        long after = seen.at.get("timer") - t0;
        assertTrue(after >= 3000 - TIMER_EARLY_MS,
            "[" + Env.KIND + "] a 3 s timer message arrived " + after + " ms after the send");
        MessageExt m = seen.msgs.get("timer");
        checkDelivered(m, topic, q, sent);
        MessageExt viewed = view(m);
        assertEquals(sent.getMsgId(), viewed.getProperty("UNIQ_KEY"), "the viewed copy keeps its UNIQ_KEY");
    }

    @Test
    void timerBeyondTheMaximumDelayIsRefused() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JTimerFar");
        Env.createTopic(p, topic, 1);
        Message far = msg(topic, "far", "never");
        setDelayTimeMs(far, 400L * 24 * 3600 * 1000); // past Bolide's largest allowed maximum (a year)
        MQBrokerException e = assertThrows(MQBrokerException.class, () -> p.send(far));
        assertEquals(Raw.MESSAGE_ILLEGAL, e.getResponseCode(), "response code of " + e);
        assertNotNull(e.getErrorMessage());
        assertTrue(e.getErrorMessage().contains("timer message illegal"), e.getErrorMessage());
    }

    @Test
    void delayLevelAboveTheLastIsTheLast() throws Exception {
        assumeFalse(Env.NAMESRV_NOAUTO.isEmpty() || Env.BROKER_NOAUTO.isEmpty(),
            "no broker with a short messageDelayLevel given (-Dnamesrv.noauto, -Dbroker.noauto)");
        String topic = Env.unique("JDelayMax");
        Raw.shared().createTopic(Env.BROKER_NOAUTO, topic, 1, Raw.PERM_READ | Raw.PERM_WRITE);
        DefaultMQProducer p = Env.producer(Env.NAMESRV_NOAUTO);
        Env.await("route of " + topic, 15_000, () -> {
            try {
                return p.fetchPublishMessageQueues(topic).isEmpty() ? null : Boolean.TRUE;
            } catch (Exception ex) {
                return null;
            }
        });
        Seen seen = new Seen();
        consumer(Env.NAMESRV_NOAUTO, topic, seen);

        Message two = msg(topic, "level2", "2 s");
        two.setDelayTimeLevel(2);
        Message high = msg(topic, "level10", "3 s");
        high.setDelayTimeLevel(10); // the table is "1s 2s 3s": level 3
        long t0 = System.currentTimeMillis();
        assertEquals("SEND_OK", p.send(two).getSendStatus().name());
        assertEquals("SEND_OK", p.send(high).getSendStatus().name());
        Env.awaitTrue(() -> "both messages (seen " + seen.at.keySet() + ")", 60_000,
            () -> seen.at.containsKey("level2") && seen.at.containsKey("level10"));
        long a2 = seen.at.get("level2") - t0;
        long a10 = seen.at.get("level10") - t0;
        assertTrue(a2 >= 2000, "[" + Env.KIND + "] level 2 (2 s) arrived after " + a2 + " ms");
        assertTrue(a10 >= 3000, "[" + Env.KIND + "] level 10, clamped to 3 (3 s), arrived after " + a10 + " ms");
        assertEquals(topic, seen.msgs.get("level10").getTopic());
    }
}
