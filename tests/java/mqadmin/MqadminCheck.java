import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.tools.command.MQAdminStartup;

/**
 * The Java mqadmin (rocketmq-tools 5.x, `MQAdminStartup`) against one broker: Bolide or the Apache
 * RocketMQ reference. Run by scripts/test-mqadmin.sh with the single-file source launcher:
 *
 * <pre>java -cp 'tests/java/reference/target/lib/*' tests/java/mqadmin/MqadminCheck.java NAMESRV BROKER CLUSTER LABEL [BOLIDE_BIN]</pre>
 *
 * <p>With BOLIDE_BIN, `bolide admin consumerStatus` is run too while the Java consumer is online (it relays
 * GET_CONSUMER_RUNNING_INFO to that consumer).
 *
 * All commands run in this one JVM (a JVM start per command costs ~20 s on a loaded box); each
 * command's stdout and stderr are captured and checked for what mqadmin prints when it worked, and for
 * the absence of an exception. A producer stores 10 messages and a push consumer reads them first, so
 * progress, connections and message queries have something to show.
 *
 * <p>Checks whose broker side is another module's are marked with it ("needs: retry", "needs: sql"):
 * when the broker answers REQUEST_CODE_NOT_SUPPORTED for them they are SKIPPED with that reason, and they
 * run for real once the broker serves the code. Prints one line per check ("PASS name", "FAIL name:
 * why", "SKIP name: why") and finally "mqadmin LABEL: P passed, F failed, S skipped"; exit 1 on failure.
 */
public class MqadminCheck {
    static int passed, failed, skipped;
    /** Branches whose codes the broker does not serve yet (probed at start, see {@link #probe}). */
    static final java.util.Set<String> NEEDS_UNSERVED = new java.util.HashSet<>();

    /**
     * Whether the broker answers `code` with anything but REQUEST_CODE_NOT_SUPPORTED (3). mqadmin hides
     * some refusals (QUERY_MESSAGE's become "no message"), so the tool's output cannot tell.
     */
    static boolean serves(String broker, int code) throws Exception {
        org.apache.rocketmq.remoting.netty.NettyRemotingClient client =
            new org.apache.rocketmq.remoting.netty.NettyRemotingClient(
                new org.apache.rocketmq.remoting.netty.NettyClientConfig());
        client.start();
        try {
            org.apache.rocketmq.remoting.protocol.RemotingCommand req =
                org.apache.rocketmq.remoting.protocol.RemotingCommand.createRequestCommand(code, null);
            return client.invokeSync(broker, req, 10_000).getCode() != 3;
        } finally {
            client.shutdown();
        }
    }
    static final List<String> failures = new ArrayList<>();

    /** ServerUtil.parseCmdLine exits the JVM on a bad command line; here that fails one check. */
    static final class NoExit extends SecurityException {
        NoExit(int status) {
            super("mqadmin called System.exit(" + status + ") (bad command line?)");
        }
    }

    @SuppressWarnings("removal")
    static void forbidExit() {
        System.setSecurityManager(new SecurityManager() {
            @Override
            public void checkExit(int status) {
                throw new NoExit(status);
            }

            @Override
            public void checkPermission(java.security.Permission perm) {}
        });
    }

    @SuppressWarnings("removal")
    static void allowExit() {
        System.setSecurityManager(null);
    }

    /** Runs one mqadmin command in this JVM; returns its stdout and stderr together. */
    static String mqadmin(String... args) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream cap = new PrintStream(buf, true, StandardCharsets.UTF_8);
        System.setOut(cap);
        System.setErr(cap);
        forbidExit();
        try {
            MQAdminStartup.main0(args, null);
        } catch (Throwable t) {
            t.printStackTrace(cap);
        } finally {
            allowExit();
            System.setOut(out);
            System.setErr(err);
        }
        try {
            Thread.sleep(20); // mqadmin names its client instance after the current millisecond
        } catch (InterruptedException ignored) {
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    /**
     * One check: the command must print every `want` and no exception (or, with `expectFailure`, must
     * print an exception or "failed"). `needs` names the branch serving the code, or null.
     */
    static String check(String name, String needs, boolean expectFailure, String[] args, String... want) {
        String out = mqadmin(args);
        boolean unsupported = out.contains("not supported") || out.contains("REQUEST_CODE_NOT_SUPPORTED")
            || out.contains("CODE: 3 ") || (needs != null && NEEDS_UNSERVED.contains(needs));
        boolean threw = out.contains("Exception") || out.contains("command failed");
        String why = null;
        if (expectFailure) {
            if (!threw && !out.toLowerCase().contains("not exist") && !out.toLowerCase().contains("failed")) {
                why = "expected a failure, got: " + firstLines(out);
            }
        } else if (threw) {
            why = "threw: " + firstLines(out);
        }
        if (why == null) {
            for (String w : want) {
                if (!out.contains(w)) {
                    why = "missing '" + w + "' in: " + firstLines(out);
                    break;
                }
            }
        }
        if (why != null && needs != null && unsupported) {
            skipped++;
            System.out.println("SKIP " + name + ": needs branch " + needs + " (broker answers REQUEST_CODE_NOT_SUPPORTED)");
        } else if (why != null) {
            failed++;
            failures.add(name);
            System.out.println("FAIL " + name + ": " + why);
        } else {
            passed++;
            System.out.println("PASS " + name);
        }
        if (System.getenv("MQADMIN_VERBOSE") != null) {
            System.out.println(out);
        }
        return out;
    }

    /**
     * A check whose figures appear only with the broker's next statistics sample (every 10 s, on
     * both brokers): the command is repeated for up to 40 s until its output matches `want`.
     */
    static void checkEventually(String name, java.util.regex.Pattern want, String... args) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 40_000;
        String out;
        while (true) {
            out = mqadmin(args);
            if (want.matcher(out).find()) {
                passed++;
                System.out.println("PASS " + name);
                return;
            }
            if (System.currentTimeMillis() > deadline) {
                break;
            }
            Thread.sleep(2000);
        }
        failed++;
        failures.add(name);
        System.out.println("FAIL " + name + ": no match for /" + want + "/ in 40 s, last: " + firstLines(out));
    }

    static String firstLines(String s) {
        StringBuilder b = new StringBuilder();
        int n = 0;
        for (String l : s.split("\n")) {
            if (l.isBlank() || l.contains("|-INFO") || l.contains("logback")
                || (l.trim().startsWith("at ") && n > 0)) {
                continue;
            }
            b.append(l.trim()).append(" | ");
            if (++n >= 6) {
                break;
            }
        }
        return b.toString();
    }

    /** The topic's message.type as the admin API reads it (GET_TOPIC_CONFIG), as RocketMQ's proxy does. */
    static void checkMessageType(String ns, String broker, String topic, String want, String run) {
        String name = "GET_TOPIC_CONFIG message.type " + want;
        org.apache.rocketmq.tools.admin.DefaultMQAdminExt admin = new org.apache.rocketmq.tools.admin.DefaultMQAdminExt();
        admin.setNamesrvAddr(ns);
        admin.setInstanceName("mqa-type-" + run + "-" + want);
        try {
            admin.start();
            String got = admin.examineTopicConfig(broker, topic).getTopicMessageType().getValue();
            if (got.equals(want)) {
                passed++;
                System.out.println("PASS " + name);
            } else {
                failed++;
                failures.add(name);
                System.out.println("FAIL " + name + ": got " + got);
            }
        } catch (Exception e) {
            failed++;
            failures.add(name);
            System.out.println("FAIL " + name + ": " + e);
        } finally {
            admin.shutdown();
        }
    }

    static String[] a(String... s) {
        return s;
    }

    public static void main(String[] argv) throws Exception {
        String ns = argv[0], broker = argv[1], cluster = argv[2], label = argv[3];
        System.setProperty("rocketmq.client.logUseSlf4j", "false");
        String run = Long.toString(System.currentTimeMillis() % 100000000L, 36);
        if (!serves(broker, 12)) {
            NEEDS_UNSERVED.add("sql");
        }
        if (!serves(broker, 200) || !serves(broker, 222)) {
            NEEDS_UNSERVED.add("retry");
        }
        String topic = "MqaT_" + run, topic2 = "MqaDel_" + run, group = "MqaG_" + run, group2 = "MqaSub_" + run;
        System.out.println("scene topic=" + topic + " group=" + group);

        check("clusterList", null, false, a("clusterList", "-n", ns), cluster, broker);
        check("updateTopic", null, false,
            a("updateTopic", "-n", ns, "-c", cluster, "-t", topic, "-r", "4", "-w", "4"), "success");
        check("updateTopic -b", null, false,
            a("updateTopic", "-n", ns, "-b", broker, "-t", topic2, "-r", "2", "-w", "2"), "success");
        check("topicList", null, false, a("topicList", "-n", ns), topic, topic2);
        // RocketMQ 5 topic attributes: RocketMQ's proxy reads message.type with GET_TOPIC_CONFIG (351) and refuses
        // a FIFO, delayed or transactional message sent to a topic of another type.
        String typed = "MqaFifo_" + run;
        check("updateTopic -a +message.type=FIFO", null, false,
            a("updateTopic", "-n", ns, "-b", broker, "-t", typed, "-r", "2", "-w", "2", "-a", "+message.type=FIFO"), "success");
        checkMessageType(ns, broker, typed, "FIFO", run);
        check("updateTopic -a +message.type=DELAY", null, false,
            a("updateTopic", "-n", ns, "-b", broker, "-t", typed, "-r", "2", "-w", "2", "-a", "+message.type=DELAY"), "success");
        checkMessageType(ns, broker, typed, "DELAY", run);
        check("updateTopic -a of an unchangeable attribute", null, true,
            a("updateTopic", "-n", ns, "-b", broker, "-t", typed, "-r", "2", "-w", "2", "-a", "+queue.type=SimpleCQ"));
        checkMessageType(ns, broker, typed, "DELAY", run);
        String routeOut = check("topicRoute", null, false, a("topicRoute", "-n", ns, "-t", topic), "brokerDatas", broker);
        java.util.regex.Matcher nameIn = java.util.regex.Pattern.compile("\"brokerName\":\"([^\"]+)\"").matcher(routeOut);
        String brokerName = nameIn.find() ? nameIn.group(1) : "broker-a";

        // The NameServer's KV config, and the order configuration a route carries once orderMessageEnable is on.
        String kvNs = "MqaNs_" + run;
        check("updateKvConfig", null, false,
            a("updateKvConfig", "-n", ns, "-s", kvNs, "-k", "k1", "-v", "v1"), "success");
        check("deleteKvConfig", null, false, a("deleteKvConfig", "-n", ns, "-s", kvNs, "-k", "k1"), "success");
        check("updateOrderConf put", null, false,
            a("updateOrderConf", "-n", ns, "-t", topic, "-m", "put", "-v", brokerName + ":2"), "update orderConf success");
        check("updateOrderConf get", null, false,
            a("updateOrderConf", "-n", ns, "-t", topic, "-m", "get"), "orderConf=[" + brokerName + ":2]");
        check("updateNamesrvConfig", null, false,
            a("updateNamesrvConfig", "-n", ns, "-k", "orderMessageEnable", "-v", "true"), "success");
        check("getNamesrvConfig", null, false, a("getNamesrvConfig", "-n", ns), "orderMessageEnable");
        check("topicRoute with orderConf", null, false, a("topicRoute", "-n", ns, "-t", topic),
            "orderTopicConf", brokerName + ":2");
        check("updateNamesrvConfig back", null, false,
            a("updateNamesrvConfig", "-n", ns, "-k", "orderMessageEnable", "-v", "false"), "success");
        check("updateOrderConf delete", null, false,
            a("updateOrderConf", "-n", ns, "-t", topic, "-m", "delete"), "delete orderConf success");
        check("updateOrderConf get of a deleted entry", null, true,
            a("updateOrderConf", "-n", ns, "-t", topic, "-m", "get"));
        // Draining a broker: its queues routed read-only, then writable again.
        check("wipeWritePerm", null, false, a("wipeWritePerm", "-n", ns, "-b", brokerName),
            "wipe write perm of broker[" + brokerName + "]", "OK, ");
        check("topicRoute after wipeWritePerm", null, false, a("topicRoute", "-n", ns, "-t", topic), "\"perm\":4");
        check("addWritePerm", null, false, a("addWritePerm", "-n", ns, "-b", brokerName),
            "add write perm of broker[" + brokerName + "]", "OK");
        check("topicRoute after addWritePerm", null, false, a("topicRoute", "-n", ns, "-t", topic), "\"perm\":6");

        // Something to show: 10 messages with keys, read by a live push consumer.
        // With message trace on: its records go to RMQ_SYS_TRACE_TOPIC, keyed by the message id.
        DefaultMQProducer p = new DefaultMQProducer("MqaP_" + run, true, null);
        p.setNamesrvAddr(ns);
        p.setInstanceName("mqa-p-" + run);
        p.start();
        String offsetId = null, uniq = null;
        for (int i = 0; i < 10; i++) {
            Message m = new Message(topic, "TagA", "key-" + i, ("body-" + i).getBytes(StandardCharsets.UTF_8));
            SendResult r = p.send(m);
            if (i == 3) {
                offsetId = r.getOffsetMsgId();
                uniq = r.getMsgId();
            }
        }
        Thread.sleep(2000); // trace records are sent in the background
        check("producerConnection", null, false,
            a("producerConnection", "-n", ns, "-g", "MqaP_" + run, "-t", topic), "mqa-p-" + run, "JAVA");
        check("producerConnection of an unknown group", null, true,
            a("producerConnection", "-n", ns, "-g", "NoSuchProducer_" + run, "-t", topic));
        check("producer", null, false, a("producer", "-n", ns, "-b", broker),
            "producer group (MqaP_" + run + ") instance", "mqa-p-" + run, "language=JAVA");
        p.shutdown();
        AtomicInteger consumed = new AtomicInteger();
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(group);
        c.setNamesrvAddr(ns);
        c.setInstanceName("mqa-c-" + run);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            consumed.addAndGet(msgs.size());
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        long deadline = System.currentTimeMillis() + 60_000;
        while (consumed.get() < 10 && System.currentTimeMillis() < deadline) {
            Thread.sleep(100);
        }
        if (consumed.get() < 10) {
            failed++;
            failures.add("setup");
            System.out.println("FAIL setup: the consumer read " + consumed.get() + " of 10 messages in 60 s");
        }
        // The consumer commits its offsets every 5 s.
        c.getDefaultMQPushConsumerImpl().getOffsetStore().persistAll(
            c.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable().keySet());
        Thread.sleep(1000);

        // statsAll within a minute of the traffic: the Java broker falls back to its last minute's figures
        // until its hourly statistics have a sample. Columns: accumulation, in/out TPS, in/out messages.
        checkEventually("statsAll", java.util.regex.Pattern.compile(
                java.util.regex.Pattern.quote(topic) + "\\s+" + java.util.regex.Pattern.quote(group)
                    + "\\s+0\\s+[0-9.]+\\s+[0-9.]+\\s+10\\s+10\\s"),
            "statsAll", "-n", ns, "-t", topic);
        check("brokerConsumeStats", null, false, a("brokerConsumeStats", "-n", ns, "-b", broker), topic, group,
            "Diff Total");
        check("queryCq", null, false, a("queryCq", "-n", ns, "-t", topic, "-q", "0", "-i", "0", "-c", "2", "-g", group),
            "Subscription data", "max: ", "idx: 0", "physicOffset=", "idx: 1");
        // A broker without slaves: a master with none (tests/replication.rs shows the links of a pair).
        check("haStatus", null, false, a("haStatus", "-n", ns, "-b", broker), "#MasterAddr", "#SlaveNum\t0");
        check("exportMetrics", null, false, a("exportMetrics", "-n", ns, "-c", cluster, "-f", "export-" + run),
            "metrics.json success");
        check("topicStatus", null, false, a("topicStatus", "-n", ns, "-t", topic), "#Max Offset", broker.isEmpty() ? "" : "");
        check("topicList -c", null, false, a("topicList", "-n", ns, "-c"), topic, group);
        check("brokerStatus", null, false, a("brokerStatus", "-n", ns, "-b", broker), "msgPutTotalTodayNow", "putTps");
        check("getBrokerConfig -b", null, false, a("getBrokerConfig", "-n", ns, "-b", broker),
            "brokerClusterName", "autoCreateTopicEnable");
        check("getBrokerConfig -c", null, false, a("getBrokerConfig", "-n", ns, "-c", cluster), "brokerClusterName");
        check("updateBrokerConfig", null, false,
            a("updateBrokerConfig", "-n", ns, "-b", broker, "-k", "maxMessageSize", "-v", "4194304"), "success");
        // Retention now (Bolide: every shard runs it before answering; Java: marks its next rounds).
        check("deleteExpiredCommitLog -b", null, false,
            a("deleteExpiredCommitLog", "-n", ns, "-b", broker), "success");
        check("deleteExpiredCommitLog -c", null, false,
            a("deleteExpiredCommitLog", "-n", ns, "-c", cluster), "success");
        check("cleanExpiredCQ -b", null, false, a("cleanExpiredCQ", "-n", ns, "-b", broker), "success");
        // Every topic here has a config: nothing to drop, and the topic is still there afterwards.
        check("cleanUnusedTopic -b", null, false, a("cleanUnusedTopic", "-n", ns, "-b", broker), "success");
        check("topicRoute after cleanUnusedTopic", null, false, a("topicRoute", "-n", ns, "-t", topic), "brokerName");
        check("consumerProgress -g", null, false, a("consumerProgress", "-n", ns, "-g", group), topic, "Diff Total");
        check("consumerProgress", null, false, a("consumerProgress", "-n", ns), group);
        check("consumerConnection", null, false, a("consumerConnection", "-n", ns, "-g", group),
            "CONSUME_PASSIVELY", "CLUSTERING", topic);
        check("consumerStatus", null, false, a("consumerStatus", "-n", ns, "-g", group), "mqa-c-" + run);
        if (argv.length > 4) {
            // `bolide admin consumerStatus` needs a live Java consumer to answer: this is the one.
            Process pr = new ProcessBuilder(argv[4], "admin", "-n", ns, "consumerStatus", "-g", group)
                .redirectErrorStream(true).start();
            String out = new String(pr.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int rc = pr.waitFor();
            if (rc == 0 && out.contains(topic) && out.contains("mqa-c-" + run)) {
                passed++;
                System.out.println("PASS bolide admin consumerStatus (live Java consumer)");
            } else {
                failed++;
                failures.add("bolide admin consumerStatus");
                System.out.println("FAIL bolide admin consumerStatus (live Java consumer): exit " + rc + ": " + firstLines(out));
            }
        }
        check("queryMsgById", null, false, a("queryMsgById", "-n", ns, "-t", topic, "-i", offsetId),
            "key-3", "MqaG_" + run, "CONSUMED");
        // Pushed to the live consumer to consume at once (CONSUME_MESSAGE_DIRECTLY, relayed by the broker).
        int before = consumed.get();
        check("queryMsgById -g -d (consume directly)", null, false,
            a("queryMsgById", "-n", ns, "-t", topic, "-i", uniq, "-g", group, "-d", c.buildMQClientId()),
            "consumeResult=CR_SUCCESS");
        // Each live consumer's own offsets of the topic (INVOKE_BROKER_TO_GET_CONSUMER_STATUS: the broker asks it).
        // mqadmin 5.x does not list its getConsumerStatus command; the admin API it wraps is what tools call.
        org.apache.rocketmq.tools.admin.DefaultMQAdminExt statusAdmin = new org.apache.rocketmq.tools.admin.DefaultMQAdminExt();
        statusAdmin.setNamesrvAddr(ns);
        statusAdmin.setInstanceName("mqa-status-" + run);
        try {
            statusAdmin.start();
            java.util.Map<String, java.util.Map<org.apache.rocketmq.common.message.MessageQueue, Long>> status =
                statusAdmin.getConsumeStatus(topic, group, "");
            java.util.Map<org.apache.rocketmq.common.message.MessageQueue, Long> mine = status.get(c.buildMQClientId());
            if (mine != null && !mine.isEmpty() && mine.keySet().stream().allMatch(mq -> mq.getTopic().equals(topic))) {
                passed++;
                System.out.println("PASS getConsumerStatus API (INVOKE_BROKER_TO_GET_CONSUMER_STATUS)");
            } else {
                failed++;
                failures.add("getConsumerStatus API");
                System.out.println("FAIL getConsumerStatus API (INVOKE_BROKER_TO_GET_CONSUMER_STATUS): " + status);
            }
        } catch (Exception e) {
            failed++;
            failures.add("getConsumerStatus API");
            System.out.println("FAIL getConsumerStatus API (INVOKE_BROKER_TO_GET_CONSUMER_STATUS): " + e);
        } finally {
            statusAdmin.shutdown();
        }
        if (consumed.get() != before + 1) {
            failed++;
            failures.add("consume directly");
            System.out.println("FAIL consume directly: the listener saw " + (consumed.get() - before) + " messages, not 1");
        }
        check("queryMsgByKey", "sql", false, a("queryMsgByKey", "-n", ns, "-t", topic, "-k", "key-3"), uniq);
        check("queryMsgByUniqueKey", "sql", false,
            a("queryMsgByUniqueKey", "-n", ns, "-t", topic, "-i", uniq), "key-3");
        check("queryMsgTraceById", "sql", false, a("queryMsgTraceById", "-n", ns, "-i", uniq), "Pub", "MqaP_" + run);
        check("resetOffsetByTime", "retry", false,
            a("resetOffsetByTime", "-n", ns, "-g", group, "-t", topic, "-s", "0"), topic);
        check("updateSubGroup", "retry", false,
            a("updateSubGroup", "-n", ns, "-c", cluster, "-g", group2), "success");
        check("deleteSubGroup", "retry", false,
            a("deleteSubGroup", "-n", ns, "-c", cluster, "-g", group2), "success");
        // POP consumption (RocketMQ 5): (topic, group) in POP mode, every consumer popping every queue
        // (SET_MESSAGE_REQUEST_MODE, 401); a group of its own, so the live consumer's group stays as it is.
        String popGroup = "MqaPop_" + run;
        check("updateSubGroup for setConsumeMode", null, false,
            a("updateSubGroup", "-n", ns, "-c", cluster, "-g", popGroup), "success");
        check("setConsumeMode", null, false,
            a("setConsumeMode", "-n", ns, "-b", broker, "-t", topic, "-g", popGroup, "-m", "POP", "-q", "0"),
            "set consume mode to " + broker + " success",
            "topic[" + topic + "] group[" + popGroup + "] consume mode[POP] popShareQueueNum[0]");
        // Cloning the group's offsets to a new group: mqadmin 5.x reads the source's consume stats and writes each
        // offset with UPDATE_CONSUMER_OFFSET (the Java 5 broker wants the group's config first; consumerProgress
        // wants its retry topic).
        String cloned = "MqaClone_" + run;
        check("updateSubGroup for the clone", null, false, a("updateSubGroup", "-n", ns, "-c", cluster, "-g", cloned),
            "success");
        check("updateTopic for the clone's retry topic", null, false,
            a("updateTopic", "-n", ns, "-c", cluster, "-t", "%RETRY%" + cloned, "-r", "1", "-w", "1"), "success");
        check("cloneGroupOffset", null, false,
            a("cloneGroupOffset", "-n", ns, "-s", group, "-d", cloned, "-t", topic, "-o", "true"),
            "clone group offset success");
        check("consumerProgress of the cloned group", null, false, a("consumerProgress", "-n", ns, "-g", cloned),
            topic, "#Consumer Offset");
        // mqadmin 4.x and the admin API (dashboards) clone with CLONE_GROUP_OFFSET (314) instead: the broker
        // copies the source's committed offsets to the destination group itself. The source is an offline
        // group with known offsets (the live group's move while it re-reads after resetOffsetByTime).
        String src2 = "MqaCloneSrc_" + run, cloned2 = "MqaClone2_" + run;
        org.apache.rocketmq.tools.admin.DefaultMQAdminExt admin = new org.apache.rocketmq.tools.admin.DefaultMQAdminExt();
        admin.setNamesrvAddr(ns);
        admin.setInstanceName("mqa-admin-" + run);
        admin.start();
        try {
            for (String g : new String[] {src2, cloned2}) {
                org.apache.rocketmq.remoting.protocol.subscription.SubscriptionGroupConfig sg =
                    new org.apache.rocketmq.remoting.protocol.subscription.SubscriptionGroupConfig();
                sg.setGroupName(g);
                admin.createAndUpdateSubscriptionGroupConfig(broker, sg);
            }
            // The API finds the brokers by the route of the source's retry topic.
            admin.createAndUpdateTopicConfig(broker, new org.apache.rocketmq.common.TopicConfig("%RETRY%" + src2, 1, 1, 6));
            String qBroker = admin.examineTopicRouteInfo(topic).getQueueDatas().get(0).getBrokerName();
            java.util.Map<Integer, Long> want = new java.util.TreeMap<>();
            for (int q = 0; q < 4; q++) {
                want.put(q, (long) (q % 2 + 1));
                admin.updateConsumeOffset(broker, src2,
                    new org.apache.rocketmq.common.message.MessageQueue(topic, qBroker, q), q % 2 + 1);
            }
            admin.cloneGroupOffset(src2, cloned2, topic, true);
            org.apache.rocketmq.remoting.protocol.admin.ConsumeStats cs =
                admin.examineConsumeStats(broker, cloned2, topic, 10_000);
            java.util.Map<Integer, Long> got = new java.util.TreeMap<>();
            cs.getOffsetTable().forEach((mq, o) -> got.put(mq.getQueueId(), o.getConsumerOffset()));
            if (got.equals(want)) {
                passed++;
                System.out.println("PASS cloneGroupOffset API (CLONE_GROUP_OFFSET)");
            } else {
                failed++;
                failures.add("cloneGroupOffset API");
                System.out.println("FAIL cloneGroupOffset API (CLONE_GROUP_OFFSET): the clone has " + got
                    + ", the source " + want);
            }
        } catch (Exception e) {
            failed++;
            failures.add("cloneGroupOffset API");
            System.out.println("FAIL cloneGroupOffset API (CLONE_GROUP_OFFSET): " + e);
        } finally {
            admin.shutdown();
        }
        check("deleteTopic", null, false, a("deleteTopic", "-n", ns, "-c", cluster, "-t", topic2), "success");
        check("topicRoute of a deleted topic", null, true, a("topicRoute", "-n", ns, "-t", topic2));
        check("topicStatus of an unknown topic", null, true, a("topicStatus", "-n", ns, "-t", "NoSuch_" + run));
        check("consumerConnection of an unknown group", null, true,
            a("consumerConnection", "-n", ns, "-g", "NoSuchGroup_" + run));
        c.shutdown();
        System.out.printf("mqadmin %s: %d passed, %d failed, %d skipped%n", label, passed, failed, skipped);
        if (!failures.isEmpty()) {
            System.out.println("mqadmin " + label + " failures: " + failures);
        }
        System.exit(failed == 0 ? 0 : 1);
    }
}
