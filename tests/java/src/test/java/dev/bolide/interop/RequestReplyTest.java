package dev.bolide.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.client.exception.RequestTimeoutException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.RequestCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.utils.MessageUtil;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageAccessor;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.remoting.protocol.RemotingCommand;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Request-reply (RPC) messaging, RocketMQ 4.6+: DefaultMQProducer.request (sync, with a RequestCallback, to a
 * chosen queue) answered by a push consumer that sends MessageUtil.createReplyMessage with an ordinary
 * producer. The requester's message carries CORRELATION_ID, REPLY_TO_CLIENT and TTL; the broker adds CLUSTER.
 * The reply goes to `<cluster>_REPLY_TOPIC` by SEND_REPLY_MESSAGE(_V2) (324/325) and the broker pushes it to
 * the requesting client over that client's own connection (PUSH_REPLY_MESSAGE_TO_CLIENT, 326). Also: no
 * replier (RequestTimeoutException), and a reply to a client the broker does not know (SYSTEM_ERROR, 1).
 */
class RequestReplyTest {
    static final String CORRELATION_ID = MessageConst.PROPERTY_CORRELATION_ID; // "CORRELATION_ID"
    static final String REPLY_TO_CLIENT = MessageConst.PROPERTY_MESSAGE_REPLY_TO_CLIENT; // "REPLY_TO_CLIENT"
    static final String TTL = MessageConst.PROPERTY_MESSAGE_TTL; // "TTL"
    static final String CLUSTER = MessageConst.PROPERTY_CLUSTER; // "CLUSTER"
    static final String REPLY_TOPIC_SUFFIX = "_REPLY_TOPIC";
    static final int GET_PRODUCER_CONNECTION_LIST = 204;
    /** A round trip takes milliseconds; generous for a loaded machine. */
    static final long REQUEST_TIMEOUT_MS = 15_000;

    @AfterEach
    void close() {
        Env.closeAll();
    }

    static String body(Message m) {
        return m.getBody() == null ? "<no body>" : new String(m.getBody(), StandardCharsets.UTF_8);
    }

    static Message msg(String topic, String body) {
        return new Message(topic, "TagR", body.getBytes(StandardCharsets.UTF_8));
    }

    /** What a replying consumer saw and did: the requests by body, and every failure to reply. */
    static final class Replier {
        final Map<String, MessageExt> requests = new ConcurrentHashMap<>();
        /** The replier's SendResult of each reply, by request body. */
        final Map<String, SendResult> replies = new ConcurrentHashMap<>();
        final ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
        DefaultMQPushConsumer consumer;

        @Override
        public String toString() {
            return "requests seen " + requests.keySet() + ", reply errors " + errors;
        }
    }

    /**
     * A push consumer of `topic` (all `queues` owned before this returns) that answers each request with
     * "reply:" + its body, built by MessageUtil.createReplyMessage and sent with an ordinary producer.
     * `reply` false: it only records the requests.
     */
    static Replier replier(String topic, int queues, boolean reply) throws Exception {
        Replier r = new Replier();
        DefaultMQProducer sender = reply ? Env.producer() : null;
        r.consumer = Env.pushConsumer(Env.unique("CGReply"), topic, "*", false, ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
            (MessageListenerConcurrently) (msgs, ctx) -> {
                for (MessageExt m : msgs) {
                    r.requests.put(body(m), m);
                    if (sender == null) {
                        continue;
                    }
                    try {
                        Message answer = MessageUtil.createReplyMessage(m, ("reply:" + body(m)).getBytes(StandardCharsets.UTF_8));
                        r.replies.put(body(m), sender.send(answer));
                    } catch (Exception e) {
                        r.errors.add(body(m) + ": " + e);
                    }
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
        r.consumer.start();
        Env.awaitTrue(() -> "the replying consumer owns all " + queues + " queues of " + topic + " (owned "
            + Env.owned(r.consumer, topic) + ")", 15_000, () -> Env.owned(r.consumer, topic).size() == queues);
        return r;
    }

    /** The request as the consumer received it: the requester's three properties and the broker's CLUSTER. */
    static void checkRequestAsConsumed(MessageExt got, Message sent) {
        assertEquals(sent.getProperty(CORRELATION_ID), got.getProperty(CORRELATION_ID), "CORRELATION_ID of the consumed request");
        assertEquals(sent.getProperty(REPLY_TO_CLIENT), got.getProperty(REPLY_TO_CLIENT), "REPLY_TO_CLIENT of the consumed request");
        assertEquals(sent.getProperty(TTL), got.getProperty(TTL), "TTL of the consumed request");
        String cluster = got.getProperty(CLUSTER);
        assertNotNull(cluster, "the broker adds CLUSTER to a stored message: " + got.getProperties());
        assertTrue(!cluster.isEmpty(), "CLUSTER of the consumed request is empty");
    }

    /**
     * The broker's refusal in an exception chain. SYSTEM_ERROR is one of the codes the client retries, so
     * send() throws MQClientException ("Send [1] times, still failed") with the MQBrokerException as its cause.
     */
    static MQBrokerException refusal(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof MQBrokerException) {
                return (MQBrokerException) c;
            }
        }
        throw new AssertionError("no broker refusal in " + t, t);
    }

    @Test
    void syncRequestGetsTheReplyThroughTheClustersReplyTopic() throws Exception {
        DefaultMQProducer requester = Env.producer();
        String topic = Env.unique("JRequest");
        Env.createTopic(requester, topic, 4);
        Replier r = replier(topic, 4, true);

        Message request = msg(topic, "ping");
        Message reply = requester.request(request, REQUEST_TIMEOUT_MS);

        assertNotNull(reply, "request() returned null; replier: " + r);
        assertEquals("reply:ping", body(reply), "body of the reply; replier: " + r);
        String correlationId = request.getProperty(CORRELATION_ID);
        assertNotNull(correlationId, "request() sets CORRELATION_ID on the message it sends");
        assertEquals(correlationId, reply.getProperty(CORRELATION_ID), "CORRELATION_ID of the reply");
        MessageExt consumed = r.requests.get("ping");
        assertNotNull(consumed, "the consumer saw the request: " + r);
        checkRequestAsConsumed(consumed, request);
        assertEquals(consumed.getProperty(CLUSTER) + REPLY_TOPIC_SUFFIX, reply.getTopic(), "topic of the reply");
        assertEquals(consumed.getProperty(REPLY_TO_CLIENT), reply.getProperty(REPLY_TO_CLIENT), "REPLY_TO_CLIENT of the reply");
        assertTrue(r.errors.isEmpty(), "reply errors: " + r.errors);

        // The reply topic: a route with one queue, and the reply stored there (the replier's SendResult
        // addresses it). The Java broker pushes the reply before it stores it: the SendResult may come a
        // moment after the requester has its answer.
        String replyTopic = reply.getTopic();
        List<MessageQueue> replyQueues = requester.fetchPublishMessageQueues(replyTopic);
        assertEquals(1, replyQueues.size(), "queues of " + replyTopic + ": " + replyQueues);
        SendResult stored = Env.await(() -> "the replier's SendResult: " + r, 10_000, () -> r.replies.get("ping"));
        assertEquals(SendStatus.SEND_OK, stored.getSendStatus(), "reply " + stored);
        assertEquals(replyTopic, stored.getMessageQueue().getTopic(), "reply " + stored);
        assertEquals(0, stored.getMessageQueue().getQueueId(), "reply " + stored);
        MessageExt viewed = requester.viewMessage(replyTopic, stored.getOffsetMsgId());
        assertEquals("reply:ping", body(viewed), "the stored reply");
        assertEquals(correlationId, viewed.getProperty(CORRELATION_ID), "CORRELATION_ID of the stored reply");
        assertEquals(stored.getQueueOffset(), viewed.getQueueOffset(), "queue offset of the stored reply");
    }

    @Test
    void asyncRequestsInFlightEachGetTheirOwnReply() throws Exception {
        DefaultMQProducer requester = Env.producer();
        String topic = Env.unique("JRequestAsync");
        Env.createTopic(requester, topic, 4);
        Replier r = replier(topic, 4, true);

        int n = 20;
        CountDownLatch done = new CountDownLatch(n);
        Map<String, String> answers = new ConcurrentHashMap<>();
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        Map<String, Message> requests = new HashMap<>();
        for (int i = 0; i < n; i++) {
            String b = "async-" + i;
            Message request = msg(topic, b);
            requests.put(b, request);
            requester.request(request, new RequestCallback() {
                @Override
                public void onSuccess(Message reply) {
                    answers.put(b, body(reply));
                    if (!request.getProperty(CORRELATION_ID).equals(reply.getProperty(CORRELATION_ID))) {
                        failures.add(b + ": reply CORRELATION_ID " + reply.getProperty(CORRELATION_ID)
                            + ", request's " + request.getProperty(CORRELATION_ID));
                    }
                    done.countDown();
                }

                @Override
                public void onException(Throwable e) {
                    failures.add(b + ": " + e);
                    done.countDown();
                }
            }, REQUEST_TIMEOUT_MS);
        }
        assertTrue(done.await(REQUEST_TIMEOUT_MS + 10_000, TimeUnit.MILLISECONDS),
            "callbacks: " + (n - done.getCount()) + " of " + n + "; replier: " + r);
        assertTrue(failures.isEmpty(), "failed requests: " + failures + "; replier: " + r);
        assertEquals(n, answers.size(), "answered: " + answers.keySet());
        for (Map.Entry<String, String> e : answers.entrySet()) {
            assertEquals("reply:" + e.getKey(), e.getValue(), "the reply to " + e.getKey());
        }
        for (Map.Entry<String, Message> e : requests.entrySet()) {
            MessageExt consumed = r.requests.get(e.getKey());
            assertNotNull(consumed, "the consumer saw " + e.getKey() + ": " + r);
            checkRequestAsConsumed(consumed, e.getValue());
        }
        assertTrue(r.errors.isEmpty(), "reply errors: " + r.errors);
    }

    @Test
    void requestToAChosenQueueIsStoredThereAndAnswered() throws Exception {
        DefaultMQProducer requester = Env.producer();
        String topic = Env.unique("JRequestMq");
        List<MessageQueue> mqs = Env.createTopic(requester, topic, 4);
        Replier r = replier(topic, 4, true);

        // Every queue, in an order a round robin would not pick.
        for (int q : new int[] {2, 0, 3, 1}) {
            MessageQueue mq = null;
            for (MessageQueue m : mqs) {
                if (m.getQueueId() == q) {
                    mq = m;
                }
            }
            assertNotNull(mq, "queue " + q + " in the route " + mqs);
            String b = "to-queue-" + q;
            Message request = msg(topic, b);
            Message reply = requester.request(request, mq, REQUEST_TIMEOUT_MS);
            assertNotNull(reply, "request() to " + mq + " returned null; replier: " + r);
            assertEquals("reply:" + b, body(reply), "reply to the request on queue " + q);
            assertEquals(request.getProperty(CORRELATION_ID), reply.getProperty(CORRELATION_ID), "CORRELATION_ID of the reply");
            MessageExt consumed = r.requests.get(b);
            assertNotNull(consumed, "the consumer saw " + b + ": " + r);
            assertEquals(q, consumed.getQueueId(), "queue the request was stored on");
            checkRequestAsConsumed(consumed, request);
        }
        assertTrue(r.errors.isEmpty(), "reply errors: " + r.errors);
    }

    @Test
    void requestWithoutReplierTimesOut() throws Exception {
        DefaultMQProducer requester = Env.producer();
        String topic = Env.unique("JRequestNoReply");
        Env.createTopic(requester, topic, 2);
        Message request = msg(topic, "nobody-answers");
        long t0 = System.nanoTime();
        RequestTimeoutException e = assertThrows(RequestTimeoutException.class, () -> requester.request(request, 1500));
        long tookMs = (System.nanoTime() - t0) / 1_000_000;
        // The request itself was stored (the client says "send ... OK, but wait reply message timeout"):
        // only the reply is missing.
        assertTrue(tookMs >= 1000 && tookMs < 10_000, "request(1500 ms) gave up after " + tookMs + " ms: " + e);
        List<MessageExt> stored = Reader.readFromStart(topic, null, 1);
        assertEquals("nobody-answers", body(stored.get(0)));
        checkRequestAsConsumed(stored.get(0), request);
    }

    /**
     * A reply whose REPLY_TO_CLIENT names a client that never connected: the broker cannot push it and answers
     * the replier SYSTEM_ERROR ("push reply message fail, channel of <id> not found."). The request is a real
     * one, captured as consumed (not answered), with REPLY_TO_CLIENT changed.
     */
    @Test
    void replyToAClientThatNeverConnectedIsRefused() throws Exception {
        DefaultMQProducer requester = Env.producer();
        String topic = Env.unique("JRequestForged");
        Env.createTopic(requester, topic, 2);
        Replier r = replier(topic, 2, false);
        ConcurrentLinkedQueue<Throwable> outcome = new ConcurrentLinkedQueue<>();
        requester.request(msg(topic, "captured"), new RequestCallback() {
            @Override
            public void onSuccess(Message reply) {
                outcome.add(new AssertionError("unexpected reply " + body(reply)));
            }

            @Override
            public void onException(Throwable e) {
                outcome.add(e); // the timeout, after the test
            }
        }, REQUEST_TIMEOUT_MS);
        MessageExt captured = Env.await(() -> "the consumer captures the request: " + r, 15_000, () -> r.requests.get("captured"));

        String ghost = "127.0.0.1@" + Env.unique("ghost");
        MessageExt forged = new MessageExt();
        forged.setTopic(captured.getTopic());
        forged.setBody(captured.getBody());
        MessageAccessor.setProperties(forged, new HashMap<>(captured.getProperties()));
        MessageAccessor.putProperty(forged, REPLY_TO_CLIENT, ghost);
        Message reply = MessageUtil.createReplyMessage(forged, "reply:captured".getBytes(StandardCharsets.UTF_8));
        assertEquals(ghost, reply.getProperty(REPLY_TO_CLIENT));

        DefaultMQProducer replier = Env.producer();
        replier.setRetryTimesWhenSendFailed(0);
        MQBrokerException e = refusal(assertThrows(Exception.class, () -> replier.send(reply)));
        assertEquals(Raw.SYSTEM_ERROR, e.getResponseCode(), "response code of " + e);
        assertNotNull(e.getErrorMessage(), "remark of " + e);
        assertTrue(e.getErrorMessage().contains(ghost), "remark names the unknown client: " + e.getErrorMessage());
        assertTrue(outcome.isEmpty(), "the real requester got an answer: " + outcome);
    }

    /** GET_PRODUCER_CONNECTION_LIST (204) of a producer group, raw. */
    static RemotingCommand producerConnections(String group) {
        try {
            return Raw.shared().request(Env.BROKER, GET_PRODUCER_CONNECTION_LIST, Map.of("producerGroup", group), null);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static boolean listsClient(RemotingCommand r, String clientId) {
        return r.getCode() == Raw.SUCCESS && r.getBody() != null
            && new String(r.getBody(), StandardCharsets.UTF_8).contains("\"" + clientId + "\"");
    }

    /**
     * A reply to a requester that has shut down: once the broker no longer lists the requesting client among
     * its group's producers, it answers the reply SYSTEM_ERROR naming that client.
     */
    @Test
    void replyToARequesterThatShutDownIsRefused() throws Exception {
        DefaultMQProducer requester = Env.producer();
        String group = requester.getProducerGroup();
        String topic = Env.unique("JRequestGone");
        Env.createTopic(requester, topic, 2);
        Replier r = replier(topic, 2, false);
        requester.request(msg(topic, "orphan"), new RequestCallback() {
            @Override
            public void onSuccess(Message reply) {}

            @Override
            public void onException(Throwable e) {}
        }, REQUEST_TIMEOUT_MS);
        MessageExt captured = Env.await(() -> "the consumer captures the request: " + r, 15_000, () -> r.requests.get("orphan"));
        String clientId = captured.getProperty(REPLY_TO_CLIENT);
        assertNotNull(clientId, "REPLY_TO_CLIENT of the consumed request: " + captured.getProperties());
        // request() heartbeats before sending: the broker knows the requester as a producer of its group.
        Env.awaitTrue(() -> "the broker lists " + clientId + " in " + group + ": " + Raw.describe(producerConnections(group)),
            15_000, () -> listsClient(producerConnections(group), clientId));

        requester.shutdown(); // UNREGISTER_CLIENT, then the connection closes
        Env.awaitTrue(() -> "the broker stops listing " + clientId + ": " + Raw.describe(producerConnections(group)),
            30_000, () -> !listsClient(producerConnections(group), clientId));

        DefaultMQProducer replier = Env.producer();
        replier.setRetryTimesWhenSendFailed(0);
        Message reply = MessageUtil.createReplyMessage(captured, "reply:orphan".getBytes(StandardCharsets.UTF_8));
        MQBrokerException e = refusal(assertThrows(Exception.class, () -> replier.send(reply)));
        assertEquals(Raw.SYSTEM_ERROR, e.getResponseCode(), "response code of " + e);
        assertNotNull(e.getErrorMessage(), "remark of " + e);
        assertTrue(e.getErrorMessage().contains(clientId), "remark names the gone client: " + e.getErrorMessage());
    }
}
