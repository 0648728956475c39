package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.apache.rocketmq.client.QueryResult;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Finding messages (remoting-protocol.md §12, §18): queryMessage by key, viewMessage by every id a send
 * returns (the offset msgId of each queue, on whichever shard owns it, and the unique id), and a message's
 * trace looked up by its id in RMQ_SYS_TRACE_TOPIC.
 */
class QueryTest {
    static final String TRACE_TOPIC = "RMQ_SYS_TRACE_TOPIC";

    @AfterEach
    void close() {
        Env.closeAll();
    }

    static String body(MessageExt m) {
        return new String(m.getBody(), StandardCharsets.UTF_8);
    }

    /** queryMessage until it returns at least `n` messages (the Java broker indexes asynchronously). */
    static List<MessageExt> queryAtLeast(DefaultMQProducer p, String topic, String key, int max, int n) {
        return Env.await("queryMessage(" + topic + ", " + key + ") finds " + n, 20_000, () -> {
            try {
                QueryResult r = p.queryMessage(topic, key, max, 0, System.currentTimeMillis() + 60_000);
                return r.getMessageList().size() >= n ? r.getMessageList() : null;
            } catch (Exception e) {
                return null; // QUERY_NOT_FOUND is an exception in the client
            }
        });
    }

    @Test
    void queryByKeyAndViewById() throws Exception {
        DefaultMQProducer p = Env.producer();
        String topic = Env.unique("JQuery");
        List<MessageQueue> mqs = Env.createTopic(p, topic, 4);
        String key = Env.unique("order");
        Set<String> bodies = new TreeSet<>();
        SendResult[] sent = new SendResult[mqs.size()];
        for (int i = 0; i < mqs.size(); i++) {
            Message m = new Message(topic, "TagQ", key + " k" + i, ("q" + i).getBytes(StandardCharsets.UTF_8));
            sent[i] = p.send(m, mqs.get(i));
            bodies.add("q" + i);
        }
        List<MessageExt> found = queryAtLeast(p, topic, key, 32, mqs.size());
        Set<String> got = new TreeSet<>();
        for (MessageExt m : found) {
            got.add(body(m));
            assertEquals(topic, m.getTopic());
            assertTrue(m.getKeys().contains(key), m.getKeys());
        }
        assertEquals(bodies, got, "queryMessage by key over every queue");
        assertEquals(1, queryAtLeast(p, topic, "k2", 32, 1).size(), "second key of one message");
        assertEquals(2, queryAtLeast(p, topic, key, 2, 2).size(), "maxNum 2");
        for (int i = 0; i < sent.length; i++) {
            // Both client versions try the id as an offset msgId first (VIEW_MESSAGE_BY_ID at the address
            // it embeds), then as a unique key (QUERY_MESSAGE): an offset id is found only the first way.
            MessageExt byOffsetId = p.viewMessage(topic, sent[i].getOffsetMsgId());
            assertEquals("q" + i, body(byOffsetId), "viewMessage(offsetMsgId) of queue " + i);
            assertEquals(sent[i].getMsgId(), byOffsetId.getMsgId());
            MessageExt byUniqId = p.viewMessage(topic, sent[i].getMsgId());
            assertEquals("q" + i, body(byUniqId), "viewMessage(topic, msgId) of queue " + i);
        }
    }

    /**
     * Message trace in the default topic and in a custom one (auto-created by the first trace record). Both
     * pairs run at once and are shut down together at the end: the client shares one internal trace producer
     * per NameServer address across all traced clients of a JVM, and one pair's shutdown followed by another
     * pair's start lost the second pair's traces inside the 5.5.0 client (each variant passes alone).
     */
    @Test
    void traceOfAMessageIsFoundByItsId() throws Exception {
        String custom = Env.unique("JTraceTopic");
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        List<Runnable> closers = new java.util.concurrent.CopyOnWriteArrayList<>();
        try {
            java.util.concurrent.Future<?> byDefault = pool.submit(() -> {
                traceFoundById(null, TRACE_TOPIC, closers);
                return null;
            });
            java.util.concurrent.Future<?> byCustom = pool.submit(() -> {
                traceFoundById(custom, custom, closers);
                return null;
            });
            byDefault.get();
            byCustom.get();
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof Error) {
                throw (Error) e.getCause();
            }
            throw (Exception) e.getCause();
        } finally {
            pool.shutdownNow();
            for (Runnable close : closers) {
                close.run(); // after both pairs are done: they share the client's trace producer
            }
        }
    }

    /** Producer and consumer with message trace on (`customTopic` null: the default trace topic). */
    static void traceFoundById(String customTopic, String traceTopic, List<Runnable> closers) throws Exception {
        String group = Env.unique("PGTrace");
        DefaultMQProducer p = new DefaultMQProducer(group, true, customTopic);
        p.setNamesrvAddr(Env.namesrv());
        p.setInstanceName(Env.unique("pt"));
        p.setSendMsgTimeout(5000);
        p.start();
        closers.add(p::shutdown);
        {
            String topic = Env.unique("JTraced");
            Env.createTopic(p, topic, 2);
            String cg = Env.unique("CGTrace");
            DefaultMQPushConsumer c = new DefaultMQPushConsumer(cg, true, customTopic);
            c.setNamesrvAddr(Env.namesrv());
            c.setInstanceName(Env.unique("ct"));
            c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
            c.setHeartbeatBrokerInterval(1000);
            c.subscribe(topic, "*");
            Set<String> consumed = new TreeSet<>();
            c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                synchronized (consumed) {
                    for (MessageExt m : msgs) {
                        consumed.add(m.getMsgId());
                    }
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
            c.start();
            closers.add(c::shutdown);
            {
                String key = Env.unique("traced");
                SendResult r = p.send(new Message(topic, "TagT", key, "traced".getBytes(StandardCharsets.UTF_8)));
                String id = r.getMsgId();
                Env.awaitTrue("consumed", 20_000, () -> {
                    synchronized (consumed) {
                        return consumed.contains(id);
                    }
                });
                // Trace records are batched by the clients (up to 500 ms) and indexed under the traced id.
                String[] want = {"Pub", "SubBefore", "SubAfter"};
                String text = Env.await("trace records (Pub, SubBefore, SubAfter) of " + id, 60_000, () -> {
                    StringBuilder all = new StringBuilder();
                    try {
                        QueryResult q = p.queryMessage(traceTopic, id, 64, 0, System.currentTimeMillis() + 60_000);
                        for (MessageExt m : q.getMessageList()) {
                            all.append(body(m));
                        }
                    } catch (Exception e) {
                        return null;
                    }
                    for (String w : want) {
                        if (!all.toString().contains(w + "\u0001")) {
                            return null;
                        }
                    }
                    return all.toString();
                });
                assertTrue(text.contains(id), "trace records name the message id");
                assertTrue(text.contains(group), "the Pub record names the producer group: " + text);
                assertTrue(text.contains(cg), "the consumer records name the consumer group: " + text);
            }
        }
    }
}
