package dev.bolide.grpc;

import static dev.bolide.grpc.Env.*;
import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.*;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.apis.consumer.SimpleConsumer;
import org.apache.rocketmq.client.apis.message.MessageView;
import org.apache.rocketmq.client.apis.producer.Producer;
import org.apache.rocketmq.client.apis.producer.Transaction;
import org.apache.rocketmq.client.apis.producer.TransactionChecker;
import org.apache.rocketmq.client.apis.producer.TransactionResolution;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Transactions (topic message.type=TRANSACTION): a committed message is delivered, a rolled-back one is not;
 * of two left undecided, the broker checks both back through the proxy (TransactionChecker): the one the
 * checker commits is delivered, the one it rolls back is not. The check-back timing is the broker's
 * (scripts/test-grpc-proxy.sh starts both brokers with transactionTimeOut=3000, transactionCheckInterval=2000).
 */
class TransactionTest {
    static final String W = "TransactionTest";

    @Test
    @Timeout(150)
    void commitRollbackAndCheckBack() throws Exception {
        String topic = topic("tx"), n = nonce();
        String commit = n + ":commit", rollback = n + ":rollback", checkCommit = n + ":check-commit",
            checkRollback = n + ":check-rollback";
        Map<String, Integer> checks = new ConcurrentHashMap<>();
        TransactionChecker checker = m -> {
            String b = body(m);
            checks.merge(b, 1, Integer::sum);
            log(W, "checker asked about %s", b);
            return b.equals(checkCommit) ? TransactionResolution.COMMIT : TransactionResolution.ROLLBACK;
        };
        try (SimpleConsumer c = simple(group("tx"), topic, "*", Duration.ofSeconds(3));
             Producer p = P.newProducerBuilder().setClientConfiguration(config()).setTopics(topic)
                 .setTransactionChecker(checker).build()) {
            settle(W, c);
            long t0 = System.currentTimeMillis();
            for (String b : List.of(commit, rollback, checkCommit, checkRollback)) {
                Transaction t = p.beginTransaction();
                p.send(P.newMessageBuilder().setTopic(topic).setTag("T").setKeys("t-" + b).setBody(bytes(b)).build(), t);
                if (b.equals(commit)) t.commit();
                if (b.equals(rollback)) t.rollback();
            }
            log(W, "4 half messages sent: 1 committed, 1 rolled back, 2 left for the check");
            Map<String, Long> got = new TreeMap<>();
            long deadline = t0 + 90_000;
            while (!(got.containsKey(commit) && got.containsKey(checkCommit) && checks.containsKey(checkRollback))
                && System.currentTimeMillis() < deadline) {
                for (MessageView m : receive(W, c, 8, Duration.ofSeconds(20))) {
                    String b = body(m);
                    c.ack(m);
                    if (b.startsWith(n + ":")) {
                        got.put(b, System.currentTimeMillis() - t0);
                        log(W, "consumer got %s %d ms after the sends", b, got.get(b));
                    }
                }
            }
            // A few seconds more: a rolled-back message that is delivered anyway shows up now.
            long quiet = System.currentTimeMillis() + 4_000;
            while (System.currentTimeMillis() < quiet) {
                for (MessageView m : receive(W, c, 8, Duration.ofSeconds(20))) {
                    String b = body(m);
                    c.ack(m);
                    if (b.startsWith(n + ":")) got.put(b, System.currentTimeMillis() - t0);
                }
            }
            String state = "received (ms after the sends) " + got + ", checker calls " + checks;
            assertTrue(got.containsKey(commit), "the committed message was not delivered: " + state);
            assertTrue(checks.containsKey(checkCommit), "the undecided message was not checked back: " + state);
            assertTrue(checks.containsKey(checkRollback), "the second undecided message was not checked back: " + state);
            assertTrue(got.containsKey(checkCommit), "the message the checker committed was not delivered: " + state);
            assertFalse(got.containsKey(rollback), "the rolled-back message was delivered: " + state);
            assertFalse(got.containsKey(checkRollback), "the message the checker rolled back was delivered: " + state);
        }
    }
}
