import java.util.HashMap;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.remoting.netty.NettyClientConfig;
import org.apache.rocketmq.remoting.netty.NettyRemotingClient;
import org.apache.rocketmq.remoting.protocol.RemotingCommand;
import org.apache.rocketmq.remoting.protocol.body.BrokerMemberGroup;
import org.apache.rocketmq.remoting.protocol.body.GetBrokerMemberGroupResponseBody;
import org.apache.rocketmq.remoting.protocol.header.GetBrokerMemberGroupRequestHeader;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;

/**
 * A Java 5.x broker that does not re-register every 30 s, behind `bolide namesrv`. Started by
 * scripts/test-java.sh with `forceRegister=false enableSingleTopicRegister=true enableSlaveActingMaster=true
 * registerNameServerPeriod=60000`, such a broker
 * <ul>
 *   <li>announces a topic it creates with REGISTER_TOPIC_IN_NAMESRV (217) alone: its route must be there at
 *       once (otherwise only after the next periodic check, up to 60 s later);</li>
 *   <li>stays alive through QUERY_DATA_VERSION (322, each second: acting-master heartbeats, and before each
 *       periodic registration), registering again only when its data version changed: it registered with a
 *       10 s timeout (brokerNotActiveTimeoutMillis), so it must still be listed 25 s later;</li>
 *   <li>asks GET_BROKER_MEMBER_GROUP (901) for its group: Java's own classes must read the answer.</li>
 * </ul>
 *
 * <pre>java -cp 'tests/java/reference/target/lib/*' tests/java/mqadmin/NamesrvNoticeCheck.java NAMESRV BROKER</pre>
 *
 * Prints "PASS name" or "FAIL name: why" per check, then "namesrv notices: P passed, F failed"; exit 1 on failure.
 */
public class NamesrvNoticeCheck {
    static int passed, failed;

    static void result(String name, String why) {
        if (why == null) {
            passed++;
            System.out.println("PASS " + name);
        } else {
            failed++;
            System.out.println("FAIL " + name + ": " + why);
        }
    }

    public static void main(String[] argv) throws Exception {
        String ns = argv[0], broker = argv[1];
        System.setProperty("rocketmq.client.logUseSlf4j", "false");
        DefaultMQAdminExt admin = new DefaultMQAdminExt();
        admin.setNamesrvAddr(ns);
        admin.setInstanceName("notice-" + System.currentTimeMillis());
        admin.start();
        try {
            String brokerName = null;
            for (var b : admin.examineBrokerClusterInfo().getBrokerAddrTable().values()) {
                if (broker.equals(b.getBrokerAddrs().get(0L))) {
                    brokerName = b.getBrokerName();
                }
            }
            if (brokerName == null) {
                result("setup", "the broker " + broker + " is not registered: " + admin.examineBrokerClusterInfo());
                return;
            }

            String topic = "NoticeT_" + Long.toString(System.currentTimeMillis() % 100000000L, 36);
            admin.createAndUpdateTopicConfig(broker, new TopicConfig(topic, 2, 2, 6));
            long t0 = System.currentTimeMillis();
            String why = "no route in 8 s";
            while (System.currentTimeMillis() - t0 < 8000) {
                try {
                    if (!admin.examineTopicRouteInfo(topic).getQueueDatas().isEmpty()) {
                        why = null;
                        System.out.println("route of " + topic + " after " + (System.currentTimeMillis() - t0) + " ms");
                        break;
                    }
                } catch (Exception notYet) {
                    // TOPIC_NOT_EXIST until the NameServer knows it
                }
                Thread.sleep(200);
            }
            result("a topic registered alone is routed at once (REGISTER_TOPIC_IN_NAMESRV)", why);

            why = null;
            long end = System.currentTimeMillis() + 25_000;
            while (why == null && System.currentTimeMillis() < end) {
                var addrs = admin.examineBrokerClusterInfo().getBrokerAddrTable().get(brokerName);
                if (addrs == null || !broker.equals(addrs.getBrokerAddrs().get(0L))) {
                    why = "the broker left the NameServer after its 10 s timeout: " + addrs;
                }
                Thread.sleep(2000);
            }
            result("QUERY_DATA_VERSION keeps the broker alive for 25 s (10 s timeout)", why);

            NettyRemotingClient client = new NettyRemotingClient(new NettyClientConfig());
            client.start();
            try {
                GetBrokerMemberGroupRequestHeader h = new GetBrokerMemberGroupRequestHeader();
                h.setClusterName(admin.examineBrokerClusterInfo().getBrokerAddrTable().get(brokerName).getCluster());
                h.setBrokerName(brokerName);
                RemotingCommand r = client.invokeSync(ns, RemotingCommand.createRequestCommand(901, h), 10_000);
                BrokerMemberGroup g = r.getCode() == 0
                    ? GetBrokerMemberGroupResponseBody.decode(r.getBody(), GetBrokerMemberGroupResponseBody.class)
                        .getBrokerMemberGroup()
                    : null;
                var want = new HashMap<Long, String>();
                want.put(0L, broker);
                result("GET_BROKER_MEMBER_GROUP names the group's master", g != null && want.equals(g.getBrokerAddrs())
                    && brokerName.equals(g.getBrokerName()) ? null
                    : "code " + r.getCode() + " " + r.getRemark() + ", group " + (g == null ? null : g.getBrokerAddrs()));
            } finally {
                client.shutdown();
            }
        } catch (Exception e) {
            result("namesrv notices", e.toString());
        } finally {
            admin.shutdown();
            System.out.printf("namesrv notices: %d passed, %d failed%n", passed, failed);
            System.exit(failed == 0 ? 0 : 1);
        }
    }
}
