package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.apache.rocketmq.acl.common.AclClientRPCHook;
import org.apache.rocketmq.acl.common.SessionCredentials;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.remoting.RPCHook;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * ACL 1.0 with the Java client's AclClientRPCHook against a Bolide started with aclEnable=true and
 * tests/java/acl/plain_acl.yml (scripts/test-java.sh passes -Dnamesrv.acl). The reference broker runs
 * without ACL in this suite, so these tests skip there (see docs/compat-java.md).
 */
class AclTest {
    @AfterEach
    void close() {
        Env.closeAll();
    }

    static RPCHook hook(String ak, String sk) {
        return new AclClientRPCHook(new SessionCredentials(ak, sk));
    }

    static DefaultMQProducer producer(RPCHook hook) throws Exception {
        DefaultMQProducer p = hook == null ? new DefaultMQProducer(Env.unique("PGAcl")) : new DefaultMQProducer(Env.unique("PGAcl"), hook);
        p.setNamesrvAddr(Env.NAMESRV_ACL);
        p.setInstanceName(Env.unique("pacl"));
        // Generous: this test checks what is refused, not how fast, on a possibly loaded machine.
        p.setSendMsgTimeout(15000);
        p.setRetryTimesWhenSendFailed(0);
        p.start();
        Env.OPEN.add(p::shutdown);
        return p;
    }

    /** The broker's refusal in an exception chain (4.x wraps it in MQClientException after its tries). */
    static MQBrokerException refusal(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof MQBrokerException) {
                return (MQBrokerException) c;
            }
        }
        throw new AssertionError("no broker refusal in " + t, t);
    }

    static Message msg(String topic, String body) {
        return new Message(topic, "TagA", body.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void signedProducerAndConsumerWorkOthersAreRefused() throws Exception {
        assumeFalse(Env.NAMESRV_ACL.isEmpty(), "no ACL-enabled broker given (-Dnamesrv.acl): the reference runs without ACL");
        String topic = Env.unique("JAcl");
        DefaultMQProducer good = producer(hook("javaAK01", "javaSecret01"));
        Set<String> sent = new TreeSet<>();
        for (int i = 0; i < 10; i++) {
            SendResult r = good.send(msg(topic, "acl-" + i));
            assertEquals(SendStatus.SEND_OK, r.getSendStatus(), r.toString());
            sent.add("acl-" + i);
        }

        DefaultMQProducer anon = producer(null);
        MQBrokerException unsigned = refusal(assertThrows(Exception.class, () -> anon.send(msg(topic, "unsigned"))));
        assertEquals(16, unsigned.getResponseCode(), unsigned.toString());
        assertTrue(unsigned.getErrorMessage().contains("No accessKey"), unsigned.getErrorMessage());

        DefaultMQProducer bad = producer(hook("javaAK01", "notTheSecret"));
        MQBrokerException forged = refusal(assertThrows(Exception.class, () -> bad.send(msg(topic, "forged"))));
        assertEquals(16, forged.getResponseCode(), forged.toString());
        assertTrue(forged.getErrorMessage().contains("Check signature failed for accessKey=javaAK01"), forged.getErrorMessage());
        assertTrue(!forged.getErrorMessage().contains("javaSecret01") && !forged.getErrorMessage().contains("notTheSecret"));

        MQBrokerException denied = refusal(assertThrows(Exception.class, () -> good.send(msg("JAclDenied", "no"))));
        assertEquals(16, denied.getResponseCode(), denied.toString());

        // A signed consumer reads exactly what the signed producer stored: the refused sends stored nothing.
        DefaultLitePullConsumer c = new DefaultLitePullConsumer(Env.unique("CGAcl"), hook("javaAK01", "javaSecret01"));
        c.setNamesrvAddr(Env.NAMESRV_ACL);
        c.setInstanceName(Env.unique("lacl"));
        c.setPollTimeoutMillis(500);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        Env.OPEN.add(c::shutdown);
        c.subscribe(topic, "*");
        c.start();
        List<String> got = new ArrayList<>();
        Env.awaitTrue(() -> "10 polled (got " + got + ")", 30_000, () -> {
            for (MessageExt m : c.poll(300)) {
                got.add(new String(m.getBody(), StandardCharsets.UTF_8));
            }
            return got.size() >= 10;
        });
        assertEquals(sent, new TreeSet<>(got), "exactly the signed sends");
        assertEquals(10, got.size());
    }
}
