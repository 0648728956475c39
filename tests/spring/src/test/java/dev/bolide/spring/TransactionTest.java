package dev.bolide.spring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.producer.LocalTransactionState;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.producer.TransactionSendResult;
import org.apache.rocketmq.spring.annotation.RocketMQMessageListener;
import org.apache.rocketmq.spring.annotation.RocketMQTransactionListener;
import org.apache.rocketmq.spring.core.RocketMQListener;
import org.apache.rocketmq.spring.core.RocketMQLocalTransactionListener;
import org.apache.rocketmq.spring.core.RocketMQLocalTransactionState;
import org.apache.rocketmq.spring.core.RocketMQTemplate;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.context.ApplicationContext;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.messaging.Message;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.test.annotation.DirtiesContext;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Scenario 5: RocketMQTemplate.sendMessageInTransaction with a @RocketMQTransactionListener whose local
 * transaction answers COMMIT for one message, ROLLBACK for another and UNKNOWN for a third, which the broker
 * then checks back (CHECK_TRANSACTION_STATE to a producer of the group) and the listener commits. Only the
 * committed two are consumed; only the UNKNOWN one is checked back.
 *
 * <p>When the check comes depends on the broker's transactionTimeOut (first check of a half message) and
 * transactionCheckInterval (the Java broker's check round): scripts/test-spring.sh sets both to a few
 * seconds; with the Java broker's defaults (6 s, 30 s) the check comes within ~40 s, inside CHECK_DEADLINE_MS.
 */
@SpringBootTest(classes = TransactionTest.App.class)
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class TransactionTest {
    static final Logger LOG = LoggerFactory.getLogger(TransactionTest.class);
    static final int QUEUES = 2;
    static final long CHECK_DEADLINE_MS = 60_000;

    @Configuration
    @EnableAutoConfiguration
    @Import({ClientTuning.class, TxListener.class, TxConsumer.class})
    static class App {}

    /** The local transaction: decided by the message's "tx" header (a user property on the broker). */
    @RocketMQTransactionListener
    static class TxListener implements RocketMQLocalTransactionListener {
        final Map<String, AtomicInteger> executed = new ConcurrentHashMap<>();
        final Map<String, AtomicInteger> checked = new ConcurrentHashMap<>();
        final Map<String, Long> firstCheckAt = new ConcurrentHashMap<>();

        static String tx(Message msg) {
            return String.valueOf(msg.getHeaders().get("tx"));
        }

        @Override
        public RocketMQLocalTransactionState executeLocalTransaction(Message msg, Object arg) {
            String tx = tx(msg);
            executed.computeIfAbsent(tx, k -> new AtomicInteger()).incrementAndGet();
            switch (tx) {
                case "commit":
                    return RocketMQLocalTransactionState.COMMIT;
                case "rollback":
                    return RocketMQLocalTransactionState.ROLLBACK;
                default:
                    return RocketMQLocalTransactionState.UNKNOWN;
            }
        }

        @Override
        public RocketMQLocalTransactionState checkLocalTransaction(Message msg) {
            String tx = tx(msg);
            checked.computeIfAbsent(tx, k -> new AtomicInteger()).incrementAndGet();
            firstCheckAt.putIfAbsent(tx, System.nanoTime());
            // The local transaction of "unknown" has completed by now: commit it. The others were decided.
            return tx.equals("rollback") ? RocketMQLocalTransactionState.ROLLBACK : RocketMQLocalTransactionState.COMMIT;
        }
    }

    @RocketMQMessageListener(topic = "${test.topic}", consumerGroup = "${test.group}")
    static class TxConsumer implements RocketMQListener<String> {
        final Map<String, AtomicInteger> got = new ConcurrentHashMap<>();

        @Override
        public void onMessage(String body) {
            got.computeIfAbsent(body, k -> new AtomicInteger()).incrementAndGet();
        }
    }

    @DynamicPropertySource
    static void names(DynamicPropertyRegistry registry) {
        Interop.names(registry, "Txn", QUEUES);
    }

    @Autowired RocketMQTemplate template;
    @Autowired TxListener tx;
    @Autowired TxConsumer consumer;
    @Autowired ApplicationContext ctx;
    @Value("${test.topic}") String topic;

    @Test
    void commitRollbackAndUnknownCommittedOnCheckBack() throws Exception {
        Interop.awaitSubscribed(ctx, topic, QUEUES);
        Map<String, LocalTransactionState> expected = Map.of(
            "commit", LocalTransactionState.COMMIT_MESSAGE,
            "rollback", LocalTransactionState.ROLLBACK_MESSAGE,
            "unknown", LocalTransactionState.UNKNOW);
        long t0 = System.nanoTime();
        for (String kind : new String[] {"commit", "rollback", "unknown"}) {
            TransactionSendResult r = template.sendMessageInTransaction(topic,
                MessageBuilder.withPayload("tx-" + kind).setHeader("tx", kind).build(), null);
            assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "half message of " + kind + ": " + r);
            assertEquals(expected.get(kind), r.getLocalTransactionState(), "local state of " + kind + ": " + r);
        }
        Interop.awaitTrue(() -> "the committed message (got " + new TreeMap<>(consumer.got) + ")", 20_000,
            () -> consumer.got.containsKey("tx-commit"));
        Interop.awaitTrue(() -> "the UNKNOWN message, committed by the check-back (got " + new TreeMap<>(consumer.got)
            + ", checks " + new TreeMap<>(tx.checked) + ")", CHECK_DEADLINE_MS, () -> consumer.got.containsKey("tx-unknown"));
        LOG.info("[{}] first check-back of the UNKNOWN transaction {} ms after its send; consumed after {} ms",
            Interop.KIND, (tx.firstCheckAt.get("unknown") - t0) / 1_000_000,
            (System.nanoTime() - t0) / 1_000_000);
        Interop.quiet();
        assertEquals("{tx-commit=1, tx-unknown=1}", new TreeMap<>(consumer.got).toString(),
            "only the committed messages, once each");
        assertEquals("{commit=1, rollback=1, unknown=1}", new TreeMap<>(tx.executed).toString(), "local transactions run");
        assertTrue(tx.checked.containsKey("unknown"), "the UNKNOWN transaction was checked back: " + tx.checked);
        assertEquals(java.util.Set.of("unknown"), tx.checked.keySet(), "only the UNKNOWN transaction is checked back");
    }
}
