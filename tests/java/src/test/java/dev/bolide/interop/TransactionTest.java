package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.LocalTransactionState;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.producer.TransactionListener;
import org.apache.rocketmq.client.producer.TransactionMQProducer;
import org.apache.rocketmq.client.producer.TransactionSendResult;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Transactional messages (issue #11) with TransactionMQProducer and a TransactionListener: a committed
 * message is consumed exactly once, a rolled-back one never, and one whose local transaction answered
 * UNKNOW is committed when the broker checks back (CHECK_TRANSACTION_STATE after transactionTimeOut, 6 s;
 * the reference broker checks every transactionCheckInterval, 30 s, hence the long deadline).
 */
class TransactionTest {
    /** First check: 6 s after birth, at the next check round (the reference runs one every 30 s). */
    static final long CHECK_DEADLINE_MS = 120_000;

    @AfterEach
    void close() {
        Env.closeAll();
    }

    static TransactionMQProducer txProducer(String group, TransactionListener listener) throws Exception {
        TransactionMQProducer p = new TransactionMQProducer(group);
        p.setNamesrvAddr(Env.namesrv());
        p.setInstanceName(Env.unique("tp"));
        p.setSendMsgTimeout(5000);
        p.setTransactionListener(listener);
        p.start();
        return p;
    }

    @Test
    void commitRollbackAndUnknownThenCheckBack() throws Exception {
        String topic = Env.unique("JTxn");
        DefaultMQProducer admin = Env.producer();
        Env.createTopic(admin, topic, 4);

        Map<String, AtomicInteger> checks = new ConcurrentHashMap<>();
        TransactionListener listener = new TransactionListener() {
            @Override
            public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
                switch (msg.getTags()) {
                    case "commit":
                        return LocalTransactionState.COMMIT_MESSAGE;
                    case "rollback":
                        return LocalTransactionState.ROLLBACK_MESSAGE;
                    default:
                        return LocalTransactionState.UNKNOW;
                }
            }

            @Override
            public LocalTransactionState checkLocalTransaction(MessageExt msg) {
                String body = new String(msg.getBody(), StandardCharsets.UTF_8);
                checks.computeIfAbsent(body, k -> new AtomicInteger()).incrementAndGet();
                // Only the UNKNOW ones should be asked about; they commit now, anything else rolls back.
                return "unknown".equals(msg.getTags())
                    ? LocalTransactionState.COMMIT_MESSAGE
                    : LocalTransactionState.ROLLBACK_MESSAGE;
            }
        };
        TransactionMQProducer p = txProducer(Env.unique("TxPG"), listener);
        try {
            Map<String, String> msgIds = new TreeMap<>();
            for (String kind : new String[] {"commit", "rollback", "unknown"}) {
                for (int i = 0; i < 3; i++) {
                    String body = kind + "-" + i;
                    Message m = new Message(topic, kind, body.getBytes(StandardCharsets.UTF_8));
                    m.setKeys("key-" + body);
                    TransactionSendResult r = p.sendMessageInTransaction(m, null);
                    assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "[" + Env.KIND + "] " + r);
                    assertEquals(
                        "commit".equals(kind) ? LocalTransactionState.COMMIT_MESSAGE
                            : "rollback".equals(kind) ? LocalTransactionState.ROLLBACK_MESSAGE
                            : LocalTransactionState.UNKNOW,
                        r.getLocalTransactionState());
                    msgIds.put(body, r.getMsgId());
                }
            }

            Map<String, AtomicInteger> got = new ConcurrentHashMap<>();
            Map<String, String> gotIds = new ConcurrentHashMap<>();
            MessageListenerConcurrently into = (msgs, ctx) -> {
                for (MessageExt m : msgs) {
                    String body = new String(m.getBody(), StandardCharsets.UTF_8);
                    got.computeIfAbsent(body, k -> new AtomicInteger()).incrementAndGet();
                    gotIds.put(body, m.getMsgId());
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            };
            DefaultMQPushConsumer c = Env.pushConsumer(Env.unique("CGTxn"), topic, "*", false,
                ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET, into);
            c.start();
            Env.awaitTrue(() -> "the 3 committed messages (" + new TreeMap<>(got) + ")", 30_000,
                () -> got.keySet().stream().filter(b -> b.startsWith("commit-")).count() == 3);
            Env.awaitTrue(() -> "the 3 UNKNOW messages committed by the check-back (" + new TreeMap<>(got)
                    + ", checks " + new TreeMap<>(checks) + ")", CHECK_DEADLINE_MS,
                () -> got.keySet().stream().filter(b -> b.startsWith("unknown-")).count() == 3);
            Env.quiet(3000);

            Map<String, Integer> counts = new TreeMap<>();
            got.forEach((k, v) -> counts.put(k, v.get()));
            Map<String, Integer> expected = new TreeMap<>();
            for (int i = 0; i < 3; i++) {
                expected.put("commit-" + i, 1);
                expected.put("unknown-" + i, 1);
            }
            assertEquals(expected, counts, "[" + Env.KIND + "] committed exactly once, rolled back never");
            for (String body : expected.keySet()) {
                assertEquals(msgIds.get(body), gotIds.get(body), "the consumer sees the producer's msgId of " + body);
            }
            for (int i = 0; i < 3; i++) {
                assertTrue(checks.containsKey("unknown-" + i), "unknown-" + i + " was checked back: " + checks);
            }
            for (String body : checks.keySet()) {
                assertTrue(body.startsWith("unknown-"), "only UNKNOW transactions are checked back: " + checks);
            }
        } finally {
            p.shutdown();
        }
    }
}
