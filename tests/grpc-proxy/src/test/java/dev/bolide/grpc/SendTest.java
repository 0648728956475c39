package dev.bolide.grpc;

import static dev.bolide.grpc.Env.*;
import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.*;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.rocketmq.client.apis.consumer.SimpleConsumer;
import org.apache.rocketmq.client.apis.message.MessageView;
import org.apache.rocketmq.client.apis.producer.Producer;
import org.apache.rocketmq.client.apis.producer.SendReceipt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Normal messages: sync and async sends with tags and keys; every one arrives once with its tag, keys and body. */
class SendTest {
    static final String W = "SendTest";

    @Test
    @Timeout(120)
    void syncAndAsyncSendsArriveWithTagsAndKeys() throws Exception {
        String topic = topic("send"), n = nonce();
        Map<String, String[]> sent = new HashMap<>(); // body -> {tag, key1, key2}
        Set<String> ids = new HashSet<>();
        try (SimpleConsumer c = simple(group("send"), topic, "*", Duration.ofSeconds(5));
             Producer p = producer(topic)) {
            settle(W, c);
            for (int i = 0; i < 10; i++) {
                String b = n + ":sync:" + i, tag = i % 2 == 0 ? "TagA" : "TagB";
                SendReceipt r = p.send(P.newMessageBuilder().setTopic(topic).setTag(tag).setKeys("ks-" + n + "-" + i, "kx-" + n)
                    .setBody(bytes(b)).build());
                assertNotNull(r.getMessageId(), "sync send " + i + ": no message id");
                ids.add(r.getMessageId().toString());
                sent.put(b, new String[] {tag, "ks-" + n + "-" + i, "kx-" + n});
            }
            List<CompletableFuture<SendReceipt>> fs = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                String b = n + ":async:" + i, tag = "TagC";
                fs.add(p.sendAsync(P.newMessageBuilder().setTopic(topic).setTag(tag).setKeys("ka-" + n + "-" + i)
                    .setBody(bytes(b)).build()));
                sent.put(b, new String[] {tag, "ka-" + n + "-" + i});
            }
            for (int i = 0; i < fs.size(); i++) {
                SendReceipt r = fs.get(i).get(30, TimeUnit.SECONDS);
                assertNotNull(r.getMessageId(), "async send " + i + ": no message id");
                ids.add(r.getMessageId().toString());
            }
            assertEquals(20, ids.size(), "20 sends should give 20 distinct message ids: " + ids);
            log(W, "20 sent (10 sync, 10 async)");

            Map<String, Integer> got = new HashMap<>();
            List<String> wrong = new ArrayList<>();
            long deadline = System.currentTimeMillis() + 60_000;
            while (got.size() < 20 && System.currentTimeMillis() < deadline) {
                for (MessageView m : receive(W, c, 32, Duration.ofSeconds(20))) {
                    String b = body(m);
                    c.ack(m);
                    if (!b.startsWith(n + ":")) continue;
                    got.merge(b, 1, Integer::sum);
                    String[] want = sent.get(b);
                    if (want == null) {
                        wrong.add(b + ": not sent by this run");
                        continue;
                    }
                    Set<String> keys = new HashSet<>(m.getKeys());
                    Set<String> wantKeys = new HashSet<>(Arrays.asList(want).subList(1, want.length));
                    if (!want[0].equals(m.getTag().orElse(null)) || !keys.equals(wantKeys)
                        || !ids.contains(m.getMessageId().toString())) {
                        wrong.add(b + ": tag=" + m.getTag().orElse(null) + " keys=" + keys + " id=" + m.getMessageId()
                            + " (want tag " + want[0] + " keys " + wantKeys + ")");
                    }
                }
            }
            assertEquals(sent.keySet(), got.keySet(), "every message sent should arrive");
            assertTrue(wrong.isEmpty(), "messages with a wrong tag, keys or id: " + wrong);
            assertTrue(got.values().stream().allMatch(v -> v == 1), "each message should arrive once: " + got);
        }
    }
}
