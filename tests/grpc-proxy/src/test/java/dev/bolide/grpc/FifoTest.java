package dev.bolide.grpc;

import static dev.bolide.grpc.Env.*;
import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.*;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.apis.consumer.*;
import org.apache.rocketmq.client.apis.message.MessageView;
import org.apache.rocketmq.client.apis.producer.Producer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * FIFO: a topic with message.type=FIFO and a group with consumeMessageOrderly=true (what makes the proxy serve
 * the group in order). Messages of one message group are consumed in send order; a message that fails blocks
 * its group until it is consumed; a SimpleConsumer gets nothing more of a message group while one of its
 * messages is received and not acked, and the next one once it is acked.
 */
class FifoTest {
    static final String W = "FifoTest";

    @Test
    @Timeout(150)
    void pushConsumerKeepsOrderPerMessageGroupAndAFailureBlocksItsGroup() throws Exception {
        String topic = topic("fifo"), n = nonce();
        Map<String, List<String>> seq = new ConcurrentHashMap<>();
        Map<String, Integer> attempts = new ConcurrentHashMap<>();
        AtomicInteger done = new AtomicInteger();
        PushConsumer pc = P.newPushConsumerBuilder().setClientConfiguration(config()).setConsumerGroup(group("fifo"))
            .setSubscriptionExpressions(Map.of(topic, new FilterExpression("*", FilterExpressionType.TAG)))
            .setConsumptionThreadCount(4)
            .setMessageListener(m -> {
                String b = body(m); // nonce:group:i
                if (!b.startsWith(n + ":")) return ConsumeResult.SUCCESS;
                String[] f = b.split(":");
                List<String> l = seq.computeIfAbsent(f[1], k -> Collections.synchronizedList(new ArrayList<>()));
                if (b.equals(n + ":gA:3") && attempts.merge(b, 1, Integer::sum) == 1) {
                    log(W, "push: failing %s once", b);
                    l.add("3(failed)");
                    return ConsumeResult.FAILURE;
                }
                l.add(f[2]);
                done.incrementAndGet();
                return ConsumeResult.SUCCESS;
            }).build();
        try (Producer p = producer(topic)) {
            Thread.sleep(2000);
            for (int i = 0; i < 10; i++) {
                for (String g : List.of("gA", "gB")) {
                    p.send(P.newMessageBuilder().setTopic(topic).setTag("F").setKeys("f-" + n + "-" + g + i)
                        .setMessageGroup(g + "-" + n).setBody(bytes(n + ":" + g + ":" + i)).build());
                }
            }
            log(W, "push: 20 sent in 2 message groups");
            long deadline = System.currentTimeMillis() + 90_000;
            while (done.get() < 20 && System.currentTimeMillis() < deadline) Thread.sleep(200);
            Thread.sleep(2000);
            List<String> wantA = List.of("0", "1", "2", "3(failed)", "3", "4", "5", "6", "7", "8", "9");
            List<String> wantB = List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");
            log(W, "push: gA=%s gB=%s", seq.get("gA"), seq.get("gB"));
            assertEquals(wantA, seq.get("gA"), "consumption order of message group gA (its 3 fails once)");
            assertEquals(wantB, seq.get("gB"), "consumption order of message group gB");
        } finally {
            pc.close();
        }
    }

    @Test
    @Timeout(150)
    void simpleConsumerGetsTheNextOfAGroupOnlyAfterAck() throws Exception {
        String topic = topic("fifosimple"), n = nonce(), mg = "gC-" + n;
        try (SimpleConsumer c = simple(group("fifosimple"), topic, "*", Duration.ofSeconds(3));
             Producer p = producer(topic)) {
            settle(W, c);
            for (int i = 0; i < 3; i++) {
                p.send(P.newMessageBuilder().setTopic(topic).setTag("F").setKeys("fc-" + n + "-" + i).setMessageGroup(mg)
                    .setBody(bytes(n + ":" + i)).build());
            }
            List<String> order = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                MessageView got = null;
                long deadline = System.currentTimeMillis() + 30_000;
                while (got == null && System.currentTimeMillis() < deadline) {
                    for (MessageView m : receive(W, c, 1, Duration.ofSeconds(30))) {
                        if (got == null && body(m).startsWith(n + ":")) got = m;
                        else c.ack(m);
                    }
                }
                assertNotNull(got, "message " + i + " of the group not received within 30 s (so far " + order + ")");
                order.add(body(got).split(":")[1]);
                assertEquals(Optional.of(mg), got.getMessageGroup(), "message group of " + body(got));
                if (i == 0) {
                    // While 0 is received and not acked (30 s invisible), its group gives nothing.
                    List<String> meanwhile = new ArrayList<>();
                    for (int k = 0; k < 2; k++) {
                        for (MessageView m : receive(W, c, 1, Duration.ofSeconds(30))) meanwhile.add(body(m));
                    }
                    log(W, "simple: while %s was unacked: %s", body(got), meanwhile);
                    assertTrue(meanwhile.isEmpty(), "received while the group's first message was not acked: " + meanwhile);
                }
                c.ack(got);
            }
            log(W, "simple: order %s", order);
            assertEquals(List.of("0", "1", "2"), order, "order within the message group");
        }
    }
}
