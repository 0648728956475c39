package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Random;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.remoting.exception.RemotingConnectException;
import org.apache.rocketmq.remoting.protocol.RemotingCommand;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Bad input gets what the Java broker gives: exception class and response code as the application sees them,
 * and, where the client checks first, the broker's own answer to the raw request.
 */
class BadInputTest {
    @AfterEach
    void close() {
        Env.closeAll();
    }

    static Message msg(String topic) {
        return new Message(topic, "TagA", "bad".getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void wrongNameServerAddress() throws Exception {
        // Nothing listens there (the suite's port range; the harness keeps it free).
        // The client alone decides (no broker is reached): 4.9.8 and 5.x both let the route lookup's connect
        // failure escape, wrapped, instead of their usual "No route info" MQClientException.
        DefaultMQProducer p = Env.producer("127.0.0.1:24999");
        Exception e = assertThrows(Exception.class, () -> p.send(msg(Env.unique("JNoNs"))));
        assertEquals(IllegalStateException.class, e.getClass(), "exception " + e);
        assertEquals(RemotingConnectException.class, e.getCause().getClass(), "cause of " + e);
    }

    @Test
    void unknownTopicWithAutoCreateOff() throws Exception {
        assumeFalse(Env.NAMESRV_NOAUTO.isEmpty(), "no broker with autoCreateTopicEnable=false given (-Dnamesrv.noauto)");
        String topic = Env.unique("JNoAuto");
        DefaultMQProducer p = Env.producer(Env.NAMESRV_NOAUTO);
        MQClientException e = assertThrows(MQClientException.class, () -> p.send(msg(topic)));
        assertEquals(ClientCodes.NOT_FOUND_TOPIC_EXCEPTION, e.getResponseCode(), "response code of " + e);
        assertTrue(e.getMessage().contains("No route info of this topic: " + topic), e.getMessage());
        Raw raw = Raw.shared();
        // The NameServer has no route for it, nor for TBW102 (the auto-create template).
        RemotingCommand r = raw.request(Env.NAMESRV_NOAUTO, Raw.GET_ROUTEINFO_BY_TOPIC, Map.of("topic", topic), null);
        assertEquals(Raw.TOPIC_NOT_EXIST, r.getCode(), "route of " + topic + ": " + Raw.describe(r));
        r = raw.request(Env.NAMESRV_NOAUTO, Raw.GET_ROUTEINFO_BY_TOPIC, Map.of("topic", "TBW102"), null);
        assertEquals(Raw.TOPIC_NOT_EXIST, r.getCode(), "route of TBW102: " + Raw.describe(r));
        if (!Env.BROKER_NOAUTO.isEmpty()) {
            // A send straight to the broker is refused and creates nothing.
            r = raw.send(Env.BROKER_NOAUTO, topic, "x".getBytes(StandardCharsets.UTF_8));
            assertEquals(Raw.TOPIC_NOT_EXIST, r.getCode(), "send to " + topic + ": " + Raw.describe(r));
            assertTrue(r.getRemark() != null && r.getRemark().contains(topic), Raw.describe(r));
            r = raw.request(Env.NAMESRV_NOAUTO, Raw.GET_ROUTEINFO_BY_TOPIC, Map.of("topic", topic), null);
            assertEquals(Raw.TOPIC_NOT_EXIST, r.getCode(), "route after the refused send: " + Raw.describe(r));
        }
    }

    static byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        new Random(42).nextBytes(b); // incompressible: the client compresses bodies over 4 KiB
        return b;
    }

    @Test
    void oversizedMessageRefusedByClient() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JBig");
        Env.createTopic(p, topic, 4);
        MQClientException e = assertThrows(MQClientException.class,
            () -> p.send(new Message(topic, randomBytes(4 * 1024 * 1024 + 1))));
        assertEquals(Raw.MESSAGE_ILLEGAL, e.getResponseCode(), "response code of " + e);
    }

    @Test
    void oversizedMessageRefusedByBroker() throws Exception {
        DefaultMQProducer p = Env.producer();
        p.setMaxMessageSize(16 * 1024 * 1024); // past the client's check: the broker's 4 MiB limit decides
        String topic = Env.unique("JBigB");
        Env.createTopic(p, topic, 4);
        MQBrokerException e = assertThrows(MQBrokerException.class,
            () -> p.send(new Message(topic, randomBytes(4 * 1024 * 1024 + 64 * 1024))));
        assertEquals(Raw.MESSAGE_ILLEGAL, e.getResponseCode(), "response code of " + e);
        // The broker keeps serving the producer.
        assertEquals("SEND_OK", p.send(msg(topic)).getSendStatus().name());
    }

    @Test
    void illegalTopicName() throws Exception {
        DefaultMQProducer p = Env.producer();
        MQClientException e = assertThrows(MQClientException.class, () -> p.send(msg("bad topic!")));
        assertEquals(-1, e.getResponseCode(), "response code of " + e);
        assertTrue(e.getMessage().contains("illegal characters"), e.getMessage());
        assertFalse(Env.BROKER.isEmpty(), "broker.addr not set");
        Raw raw = Raw.shared();
        RemotingCommand r = raw.send(Env.BROKER, "bad topic!", "x".getBytes(StandardCharsets.UTF_8));
        assertEquals(BrokerCodes.ILLEGAL_TOPIC, r.getCode(), "raw send to an illegal topic name: " + Raw.describe(r));
    }

    @Test
    void sendToReadOnlyTopic() throws Exception {
        // A topic's permission shapes its route (clients do not pick queues that are not writable). The Java
        // broker does not check it on send, so a producer with an older route still writes; Bolide refuses
        // the send with NO_PERMISSION, on purpose: an operator who makes a topic read-only (to drain it
        // before deleting it) means no more writes (docs/compat-java.md, "intended differences").
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JReadOnly");
        Env.createTopic(p, topic, 4);
        Raw raw = Raw.shared();
        raw.createTopic(Env.BROKER, topic, 4, Raw.PERM_READ);
        RemotingCommand r = raw.send(Env.BROKER, topic, "x".getBytes(StandardCharsets.UTF_8));
        int expected = "bolide".equals(Env.KIND) ? Raw.NO_PERMISSION : Raw.SUCCESS;
        assertEquals(expected, r.getCode(), "send to a read-only topic on " + Env.KIND + ": " + Raw.describe(r));
        Env.awaitTrue("route without writable queues", 10_000, () -> {
            try {
                return p.fetchPublishMessageQueues(topic).isEmpty();
            } catch (MQClientException e) {
                return true; // 4.9: "Can not find Message Queue for this topic"
            }
        });
    }

    /** Codes the client makes up itself (ClientErrorCode). */
    static final class ClientCodes {
        static final int NOT_FOUND_TOPIC_EXCEPTION = 10005;
    }

    /** What the Java broker (5.x) answers where it has its own code. */
    static final class BrokerCodes {
        /** 5.x ResponseCode.INVALID_PARAMETER; the 4.9 broker said SYSTEM_ERROR (1). */
        static final int ILLEGAL_TOPIC = 29;
    }
}
