import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.constant.PermName;
import org.apache.rocketmq.remoting.protocol.body.ClusterInfo;
import org.apache.rocketmq.remoting.protocol.route.BrokerData;
import org.apache.rocketmq.remoting.protocol.route.TopicRouteData;
import org.apache.rocketmq.remoting.protocol.subscription.SubscriptionGroupConfig;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;

/**
 * Prepares a broker for the gRPC suite, through the NameServer, with RocketMQ's own admin library
 * (rocketmq-tools, the library behind mqadmin), in one JVM:
 *
 *   java -cp 'tests/grpc-proxy/proxy/target/lib/*' tests/grpc-proxy/proxy/Setup.java NAMESRV CLUSTER SPEC...
 *
 * SPEC: t:TOPIC:TYPE (a topic on every master of CLUSTER, 4 queues, attribute message.type=TYPE: NORMAL, FIFO,
 * DELAY, TRANSACTION), g:GROUP (a subscription group), g:GROUP:orderly (consumeMessageOrderly=true: what
 * makes the proxy serve the group FIFO).
 *
 * First checks what rocketmq-proxy (cluster mode) needs from the broker before it can serve anything: the
 * cluster is registered, and the NameServer has a route for the topic named after the cluster and for the
 * one named after each broker (the proxy finds a cluster's brokers through them; the Java broker creates
 * both at start). Then creates the topics and groups, waits until every topic has a route, and reads the
 * topics and groups back (printed; the scenarios judge). Exit 0 when ready, 3 when the broker lacks what the
 * proxy needs, 1 on any other error; the reason is on stdout.
 */
public class Setup {
    static final long T0 = System.currentTimeMillis();

    static void say(String fmt, Object... a) {
        System.out.println("setup: " + String.format(fmt, a) + " [" + (System.currentTimeMillis() - T0) + " ms]");
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            say("usage: Setup NAMESRV CLUSTER [t:TOPIC:TYPE | g:GROUP[:orderly]]...");
            System.exit(2);
        }
        String ns = args[0], cluster = args[1];
        DefaultMQAdminExt admin = new DefaultMQAdminExt(15_000);
        admin.setNamesrvAddr(ns);
        admin.setInstanceName("grpc-setup-" + ProcessHandle.current().pid());
        admin.start();
        int rc = 1;
        try {
            rc = run(admin, cluster, List.of(args).subList(2, args.length));
        } catch (Exception e) {
            say("FAILED: %s", e);
            e.printStackTrace(System.out);
        } finally {
            admin.shutdown();
        }
        System.exit(rc);
    }

    static int run(DefaultMQAdminExt admin, String cluster, List<String> specs) throws Exception {
        ClusterInfo ci = admin.examineBrokerClusterInfo();
        Set<String> names = ci.getClusterAddrTable() == null ? null : ci.getClusterAddrTable().get(cluster);
        if (names == null || names.isEmpty()) {
            say("FAILED: no broker of cluster %s registered with the NameServer (clusters: %s)", cluster,
                ci.getClusterAddrTable() == null ? "none" : ci.getClusterAddrTable().keySet());
            return 1;
        }
        List<String> masters = new ArrayList<>();
        for (String b : new TreeSet<>(names)) {
            BrokerData bd = ci.getBrokerAddrTable().get(b);
            if (bd != null && bd.getBrokerAddrs().get(0L) != null) masters.add(bd.getBrokerAddrs().get(0L));
        }
        say("cluster %s: brokers %s, masters %s", cluster, names, masters);

        // What the proxy needs before anything else (its cluster mode looks brokers up by these topics).
        List<String> missing = new ArrayList<>();
        List<String> needed = new ArrayList<>();
        needed.add(cluster);
        needed.addAll(new TreeSet<>(names));
        for (String t : needed) {
            if (route(admin, t) == null) missing.add(t);
        }
        if (!missing.isEmpty()) {
            say("FAILED: the NameServer has no route for topic(s) %s. rocketmq-proxy in cluster mode finds the brokers"
                + " of cluster %s through the route of a topic named after the cluster and of one named after each"
                + " broker; the Java broker creates both when it starts (clusterTopicEnable, brokerTopicEnable),"
                + " the broker under test must too. The proxy cannot serve this broker without them.", missing, cluster);
            return 3;
        }

        List<String> topics = new ArrayList<>();
        Map<String, String> types = new HashMap<>();
        for (String spec : specs) {
            String[] p = spec.split(":");
            if (p[0].equals("t") && p.length == 3) {
                for (String addr : masters) {
                    TopicConfig tc = new TopicConfig(p[1], 4, 4, PermName.PERM_READ | PermName.PERM_WRITE);
                    Map<String, String> attrs = new HashMap<>();
                    attrs.put("+message.type", p[2]);
                    tc.setAttributes(attrs);
                    admin.createAndUpdateTopicConfig(addr, tc);
                }
                topics.add(p[1]);
                types.put(p[1], p[2]);
            } else if (p[0].equals("g") && (p.length == 2 || (p.length == 3 && p[2].equals("orderly")))) {
                for (String addr : masters) {
                    SubscriptionGroupConfig g = new SubscriptionGroupConfig();
                    g.setGroupName(p[1]);
                    g.setConsumeMessageOrderly(p.length == 3);
                    admin.createAndUpdateSubscriptionGroupConfig(addr, g);
                }
            } else {
                say("FAILED: bad spec %s", spec);
                return 1;
            }
        }
        say("created %d topics and %d groups on %s", topics.size(), specs.size() - topics.size(), masters);

        long deadline = System.currentTimeMillis() + 30_000;
        for (String t : topics) {
            while (route(admin, t) == null) {
                if (System.currentTimeMillis() > deadline) {
                    say("FAILED: topic %s has no route 30 s after it was created", t);
                    return 1;
                }
                Thread.sleep(200);
            }
        }
        say("every topic has a route");

        // Read back (what the proxy will read: GET_TOPIC_CONFIG 351 and GET_SUBSCRIPTIONGROUP_CONFIG 352).
        for (String addr : masters) {
            for (String t : topics) {
                try {
                    TopicConfig tc = admin.examineTopicConfig(addr, t);
                    String got = tc == null || tc.getAttributes() == null ? null : tc.getAttributes().get("message.type");
                    say("%s topic %s: message.type=%s%s", addr, t, got,
                        types.get(t).equals(got) ? "" : " (WARNING: created with " + types.get(t) + ")");
                } catch (Exception e) {
                    say("%s topic %s: WARNING: could not read its config back: %s", addr, t, e.getMessage());
                }
            }
            for (String spec : specs) {
                String[] p = spec.split(":");
                if (!p[0].equals("g")) continue;
                try {
                    SubscriptionGroupConfig g = admin.examineSubscriptionGroupConfig(addr, p[1]);
                    say("%s group %s: consumeMessageOrderly=%s", addr, p[1], g == null ? null : g.isConsumeMessageOrderly());
                } catch (Exception e) {
                    say("%s group %s: WARNING: could not read it back (GET_SUBSCRIPTIONGROUP_CONFIG): %s", addr, p[1],
                        e.getMessage());
                }
            }
        }
        return 0;
    }

    static TopicRouteData route(DefaultMQAdminExt admin, String topic) {
        try {
            TopicRouteData r = admin.examineTopicRouteInfo(topic);
            return r != null && r.getBrokerDatas() != null && !r.getBrokerDatas().isEmpty() ? r : null;
        } catch (Exception e) {
            return null;
        }
    }
}
