package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageClientExt;
import org.apache.rocketmq.common.message.MessageDecoder;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageId;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Send modes and what a SendResult says; what arrives at a consumer (keys, tags, properties, batches). */
class SendTest {
    @AfterEach
    void close() {
        Env.closeAll();
    }

    static Message msg(String topic, String body) {
        return new Message(topic, "TagA", body.getBytes(StandardCharsets.UTF_8));
    }

    /** SEND_OK, a 32-hex msgId, an offsetMsgId that decodes to the broker's address, the right queue. */
    static void checkResult(SendResult r, String topic) throws Exception {
        assertEquals(SendStatus.SEND_OK, r.getSendStatus(), "status of " + r);
        assertNotNull(r.getMsgId(), "msgId");
        // The client's unique id: 16 bytes with an IPv4 client address, 28 with an IPv6 one (5.x), in hex.
        assertTrue(r.getMsgId().matches("([0-9A-F]{32}|[0-9A-F]{56})"), "msgId " + r.getMsgId());
        assertNotNull(r.getOffsetMsgId(), "offsetMsgId");
        assertTrue(r.getOffsetMsgId().matches("[0-9A-F]{32}"), "offsetMsgId " + r.getOffsetMsgId());
        MessageId id = MessageDecoder.decodeMessageId(r.getOffsetMsgId());
        InetSocketAddress a = (InetSocketAddress) id.getAddress();
        assertEquals("127.0.0.1", a.getAddress().getHostAddress(), "store host in offsetMsgId");
        if (!Env.BROKER.isEmpty()) {
            assertEquals(Env.BROKER, "127.0.0.1:" + a.getPort(), "store host:port in offsetMsgId");
        }
        assertTrue(id.getOffset() >= 0, "commit log offset in offsetMsgId");
        assertEquals(topic, r.getMessageQueue().getTopic());
        assertTrue(r.getMessageQueue().getQueueId() >= 0 && r.getMessageQueue().getQueueId() < 4, "queue " + r);
        assertTrue(r.getQueueOffset() >= 0, "queue offset " + r);
    }

    /** Per queue, offsets of successive sends are 0, 1, 2, ... (a fresh topic). */
    static void checkDenseOffsets(List<SendResult> results) {
        Map<Integer, List<Long>> perQueue = new HashMap<>();
        for (SendResult r : results) {
            perQueue.computeIfAbsent(r.getMessageQueue().getQueueId(), k -> new ArrayList<>()).add(r.getQueueOffset());
        }
        for (Map.Entry<Integer, List<Long>> e : perQueue.entrySet()) {
            List<Long> offs = new ArrayList<>(e.getValue());
            offs.sort(null);
            for (int i = 0; i < offs.size(); i++) {
                assertEquals((long) i, (long) offs.get(i), "queue " + e.getKey() + " offsets " + e.getValue());
            }
        }
    }

    @Test
    void syncSendResultFields() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JSync");
        Env.createTopic(p, topic, 4);
        List<SendResult> results = new ArrayList<>();
        Set<Long> physical = new HashSet<>();
        Map<Integer, Long> lastOffset = new HashMap<>();
        for (int i = 0; i < 12; i++) {
            SendResult r = p.send(msg(topic, "sync-" + i));
            checkResult(r, topic);
            Long prev = lastOffset.put(r.getMessageQueue().getQueueId(), r.getQueueOffset());
            if (prev != null) {
                assertEquals(prev + 1, r.getQueueOffset(), "queue offset after " + prev + ": " + r);
            }
            assertTrue(physical.add(MessageDecoder.decodeMessageId(r.getOffsetMsgId()).getOffset()),
                "distinct commit log offsets: " + r);
            results.add(r);
        }
        // Round robin over the 4 queues: 12 sends touch every queue 3 times.
        assertEquals(4, lastOffset.size(), "queues used: " + lastOffset);
        checkDenseOffsets(results);
        // The offsetMsgId addresses the stored message (VIEW_MESSAGE_BY_ID).
        SendResult first = results.get(0);
        MessageExt viewed = p.viewMessage(topic, first.getOffsetMsgId());
        assertEquals("sync-0", new String(viewed.getBody(), StandardCharsets.UTF_8));
        assertEquals(first.getMsgId(), viewed.getMsgId(), "msgId (UNIQ_KEY) of the viewed message");
        assertEquals(first.getQueueOffset(), viewed.getQueueOffset());
    }

    @Test
    void sendResultTransactionId() throws Exception {
        // The Java broker answers every send with transactionId = the message's UNIQ_KEY (its msgId); a
        // separate test so that its absence does not hide the other SendResult checks.
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JTxId");
        Env.createTopic(p, topic, 4);
        SendResult r = p.send(msg(topic, "tx-id"));
        checkResult(r, topic);
        assertEquals(r.getMsgId(), r.getTransactionId(), "transactionId of " + r);
    }

    @Test
    void asyncSend() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JAsync");
        Env.createTopic(p, topic, 4);
        int n = 20;
        CountDownLatch done = new CountDownLatch(n);
        ConcurrentLinkedQueue<SendResult> ok = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        for (int i = 0; i < n; i++) {
            p.send(msg(topic, "async-" + i), new SendCallback() {
                @Override
                public void onSuccess(SendResult r) {
                    ok.add(r);
                    done.countDown();
                }

                @Override
                public void onException(Throwable e) {
                    errors.add(e);
                    done.countDown();
                }
            });
        }
        assertTrue(done.await(15, TimeUnit.SECONDS), "async callbacks: " + (n - done.getCount()) + " of " + n);
        assertTrue(errors.isEmpty(), "async send errors: " + errors);
        for (SendResult r : ok) {
            checkResult(r, topic);
        }
        checkDenseOffsets(new ArrayList<>(ok));
        List<MessageExt> got = Reader.readFromStart(topic, null, n);
        assertEquals(n, got.size());
    }

    @Test
    void onewaySendArrives() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JOneway");
        Env.createTopic(p, topic, 4);
        Set<String> sent = new HashSet<>();
        for (int i = 0; i < 8; i++) {
            p.sendOneway(msg(topic, "oneway-" + i));
            sent.add("oneway-" + i);
        }
        Set<String> got = new HashSet<>();
        for (MessageExt m : Reader.readFromStart(topic, null, 8)) {
            got.add(new String(m.getBody(), StandardCharsets.UTF_8));
        }
        assertEquals(sent, got);
    }

    @Test
    void batchSend() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JBatch");
        Env.createTopic(p, topic, 4);
        p.send(msg(topic, "before")); // the batch then does not start at offset 0 of every queue
        List<Message> batch = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            Message m = msg(topic, "batch-" + i);
            m.setKeys("bk" + i);
            batch.add(m);
        }
        SendResult r = p.send(batch);
        assertEquals(SendStatus.SEND_OK, r.getSendStatus());
        String[] ids = r.getMsgId().split(",");
        assertEquals(8, ids.length, "one msgId per message: " + r.getMsgId());
        String[] offIds = r.getOffsetMsgId().split(",");
        assertEquals(8, offIds.length, "one offsetMsgId per message: " + r.getOffsetMsgId());
        long prevPhys = -1;
        for (String id : offIds) {
            long phys = MessageDecoder.decodeMessageId(id).getOffset();
            assertTrue(phys > prevPhys, "commit log offsets of a batch increase: " + r.getOffsetMsgId());
            prevPhys = phys;
        }
        // The whole batch goes to one queue, at consecutive offsets starting at the result's queue offset.
        List<MessageExt> got = Reader.readFromStart(topic, List.of(r.getMessageQueue()), 8 + (r.getQueueOffset() > 0 ? 1 : 0));
        List<MessageExt> batchGot = new ArrayList<>();
        for (MessageExt m : got) {
            if (new String(m.getBody(), StandardCharsets.UTF_8).startsWith("batch-")) {
                batchGot.add(m);
            }
        }
        assertEquals(8, batchGot.size(), "batch messages in queue " + r.getMessageQueue());
        for (int i = 0; i < 8; i++) {
            MessageExt m = batchGot.get(i);
            assertEquals("batch-" + i, new String(m.getBody(), StandardCharsets.UTF_8));
            assertEquals(r.getQueueOffset() + i, m.getQueueOffset(), "queue offset of batch message " + i);
            assertEquals(ids[i], m.getMsgId(), "msgId of batch message " + i);
            assertEquals("bk" + i, m.getKeys());
        }
    }

    @Test
    void keysTagsPropertiesArriveIntact() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JProps");
        Env.createTopic(p, topic, 4);
        Message m = new Message(topic, "TagProps", "key1 key2", "body é中".getBytes(StandardCharsets.UTF_8));
        m.putUserProperty("color", "blue");
        m.putUserProperty("unicode", "välue-中文");
        SendResult r = p.send(m);
        checkResult(r, topic);
        MessageExt got = Reader.readFromStart(topic, List.of(r.getMessageQueue()), 1).get(0);
        assertEquals("body é中", new String(got.getBody(), StandardCharsets.UTF_8));
        assertEquals("TagProps", got.getTags());
        assertEquals("key1 key2", got.getKeys());
        assertEquals("blue", got.getUserProperty("color"));
        assertEquals("välue-中文", got.getUserProperty("unicode"));
        assertEquals(r.getMsgId(), got.getMsgId(), "msgId seen by the consumer");
        assertEquals(r.getOffsetMsgId(), ((MessageClientExt) got).getOffsetMsgId(), "offsetMsgId seen by the consumer");
        assertEquals(r.getQueueOffset(), got.getQueueOffset());
        assertEquals(r.getMessageQueue().getQueueId(), got.getQueueId());
        assertEquals(0, got.getReconsumeTimes());
        assertTrue(got.getBornTimestamp() > 0 && got.getStoreTimestamp() >= got.getBornTimestamp() - 1000,
            "born " + got.getBornTimestamp() + " store " + got.getStoreTimestamp());
    }
}
