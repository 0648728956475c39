//! ACL against a real broker: the `bolide` binary with `aclEnable=true` and a `plain_acl.yml`
//! (ports 23600/23611, data under the target directory), driven by `bolide::client` signing with
//! `Conn::set_credentials`. Checks the refusals (code and remark), that a refused send stores
//! nothing, the permissions per topic, group and admin code, the reload without restart, and that
//! no secret reaches the broker's log.

use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bolide::acl::sign::Credentials;
use bolide::client::{ClientError, Conn, PullStatus, SendRequest};
use bolide::remoting::codes::response;
use bolide::remoting::headers::{CreateTopicHeader, PullMessageHeader};

#[path = "common/broker_process.rs"]
mod broker_process;
use broker_process::{fresh_dir, on_glommio, sets, test_dir, BrokerProcess};

const NAMESRV_PORT: u16 = 23600;
const BROKER_PORT: u16 = 23611;

const ACCOUNTS: &str = r#"
accounts:
  - accessKey: adminAK01
    secretKey: adminSK01
    admin: true
  - accessKey: orderAK01
    secretKey: orderSecret01
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - AclOrders=PUB|SUB
      - AclAudit=PUB
    groupPerms:
      - AclBanned=DENY
"#;

fn start_broker(dir: &Path, acl_file: &Path) -> BrokerProcess {
    let mut extra = vec!["--shards".to_string(), "2".to_string()];
    extra.extend(sets(&[
        "aclEnable=true",
        &format!("aclFile={}", acl_file.display()),
    ]));
    BrokerProcess::start(
        &dir.join("data"),
        &dir.join("broker.log"),
        NAMESRV_PORT,
        BROKER_PORT,
        &extra,
        &[],
    )
}

fn creds(ak: &str, sk: &str) -> Option<Credentials> {
    Some(Credentials {
        access_key: ak.into(),
        secret_key: sk.into(),
    })
}

async fn send(conn: &Rc<Conn>, topic: &str, body: &[u8]) -> Result<(), ClientError> {
    conn.send(&SendRequest {
        producer_group: "AclPG",
        topic,
        queue_id: 0,
        born_timestamp_ms: 0,
        properties: "",
        body,
        batch: false,
    })
    .await
    .map(drop)
}

/// The refusal's response code and remark.
fn refused(r: Result<impl std::fmt::Debug, ClientError>) -> (i32, String) {
    match r {
        Err(ClientError::Refused { code, remark, .. }) => (code, remark),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn topic_header(topic: &str) -> CreateTopicHeader {
    CreateTopicHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: 2,
        write_queue_nums: 2,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: 0,
        order: false,
    }
}

fn pull_header(topic: &str, group: &str) -> PullMessageHeader {
    PullMessageHeader::all_tags(group, topic, 0, 0, 32)
}

#[test]
fn signed_requests_pass_unsigned_and_unpermitted_ones_are_refused() {
    let dir = test_dir("acl-it");
    fresh_dir(&dir);
    let acl_file = dir.join("plain_acl.yml");
    std::fs::write(&acl_file, ACCOUNTS).unwrap();
    let broker = start_broker(&dir, &acl_file);
    let acl_file2 = acl_file.clone();

    on_glommio(move || async move {
        let timeout = Duration::from_secs(10);
        let addr = format!("127.0.0.1:{BROKER_PORT}");
        let admin = Conn::connect(&addr, timeout).await.unwrap();
        admin.set_credentials(creds("adminAK01", "adminSK01"));
        let orders = Conn::connect(&addr, timeout).await.unwrap();
        orders.set_credentials(creds("orderAK01", "orderSecret01"));
        let anon = Conn::connect(&addr, timeout).await.unwrap();

        // Topic creation is an admin code.
        for t in ["AclOrders", "AclAudit", "AclOther"] {
            admin.create_topic(&topic_header(t)).await.unwrap();
        }
        let (code, remark) = refused(orders.create_topic(&topic_header("AclMine")).await);
        assert_eq!(code, response::NO_PERMISSION);
        assert!(
            remark.contains("Need admin permission for request code=17"),
            "{remark}"
        );

        // Unsigned: refused with a clear remark, and nothing stored.
        let (code, remark) = refused(send(&anon, "AclOrders", b"unsigned").await);
        assert_eq!(
            (code, remark.contains("No accessKey")),
            (response::NO_PERMISSION, true),
            "{remark}"
        );
        assert_eq!(admin.max_offset("AclOrders", 0).await, Ok(0));

        // Wrong secret: refused, nothing stored, and the remark names the key but not the secret.
        let forged = Conn::connect(&addr, timeout).await.unwrap();
        forged.set_credentials(creds("orderAK01", "guessedSecret"));
        let (code, remark) = refused(send(&forged, "AclOrders", b"forged").await);
        assert_eq!(code, response::NO_PERMISSION);
        assert!(
            remark.contains("Check signature failed for accessKey=orderAK01"),
            "{remark}"
        );
        assert!(!remark.contains("guessedSecret") && !remark.contains("orderSecret01"));
        assert_eq!(admin.max_offset("AclOrders", 0).await, Ok(0));

        // Unknown account.
        let stranger = Conn::connect(&addr, timeout).await.unwrap();
        stranger.set_credentials(creds("nobody01", "whatever01"));
        let (_, remark) = refused(send(&stranger, "AclOrders", b"x").await);
        assert!(remark.contains("No acl config for nobody01"), "{remark}");

        // Signed, with PUB: stored. Oneway sends are signed too.
        send(&orders, "AclOrders", b"signed").await.unwrap();
        orders
            .send_oneway(&SendRequest {
                producer_group: "AclPG",
                topic: "AclOrders",
                queue_id: 0,
                born_timestamp_ms: 0,
                properties: "",
                body: b"oneway",
                batch: false,
            })
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while admin.max_offset("AclOrders", 0).await != Ok(2) {
            assert!(Instant::now() < deadline, "signed oneway send never stored");
            glommio::timer::sleep(Duration::from_millis(50)).await;
        }

        // Topic permissions: DENY by default, PUB only on AclAudit.
        let (_, remark) = refused(send(&orders, "AclOther", b"x").await);
        assert!(
            remark.contains("No permission for topic:AclOther"),
            "{remark}"
        );
        assert_eq!(admin.max_offset("AclOther", 0).await, Ok(0));
        send(&orders, "AclAudit", b"audit").await.unwrap();
        let (_, remark) = refused(orders.pull(&pull_header("AclAudit", "AclGroup")).await);
        assert!(
            remark.contains("No permission for topic:AclAudit"),
            "{remark}"
        );

        // Pull needs SUB on topic and group.
        let pulled = orders
            .pull(&pull_header("AclOrders", "AclGroup"))
            .await
            .unwrap();
        assert_eq!(pulled.status, PullStatus::Found);
        let (_, remark) = refused(orders.pull(&pull_header("AclOrders", "AclBanned")).await);
        assert!(
            remark.contains("No permission for group:AclBanned"),
            "{remark}"
        );

        // The NameServer port stays open, as RocketMQ's NameServer does.
        let ns = Conn::connect(&format!("127.0.0.1:{NAMESRV_PORT}"), timeout)
            .await
            .unwrap();
        ns.get_route("AclOrders").await.unwrap();

        // Accounts reload without a restart.
        let late = Conn::connect(&addr, timeout).await.unwrap();
        late.set_credentials(creds("lateAK01", "lateSecret01"));
        assert!(send(&late, "AclOrders", b"early").await.is_err());
        let more = format!(
            "{ACCOUNTS}  - accessKey: lateAK01\n    secretKey: lateSecret01\n    defaultTopicPerm: PUB\n"
        );
        std::fs::write(&acl_file2, more).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match send(&late, "AclOrders", b"late").await {
                Ok(()) => break,
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "the new account never worked: {e}"
                ),
            }
            glommio::timer::sleep(Duration::from_millis(100)).await;
        }
        // A broken file is refused and the accounts in force stay.
        std::fs::write(&acl_file2, "accounts: [ {accessKey: x").unwrap();
        glommio::timer::sleep(Duration::from_millis(2500)).await;
        send(&late, "AclOrders", b"still").await.unwrap();
    });

    // The admin tool signs with the account given in ROCKETMQ_ACCESS_KEY / ROCKETMQ_SECRET_KEY.
    let admin_cli = |env: &[(&str, &str)]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_bolide"));
        c.args([
            "admin",
            "-n",
            &format!("127.0.0.1:{NAMESRV_PORT}"),
            "updateTopic",
        ])
        .args([
            "-b",
            &format!("127.0.0.1:{BROKER_PORT}"),
            "-t",
            "AclByAdminTool",
        ])
        .env_remove("ROCKETMQ_ACCESS_KEY")
        .env_remove("ROCKETMQ_SECRET_KEY");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let unsigned = admin_cli(&[]);
    let text = String::from_utf8_lossy(&unsigned.stderr).to_string()
        + &String::from_utf8_lossy(&unsigned.stdout);
    assert!(
        !unsigned.status.success() && text.contains("No accessKey"),
        "{text}"
    );
    let signed = admin_cli(&[
        ("ROCKETMQ_ACCESS_KEY", "adminAK01"),
        ("ROCKETMQ_SECRET_KEY", "adminSK01"),
    ]);
    let text = String::from_utf8_lossy(&signed.stderr).to_string()
        + &String::from_utf8_lossy(&signed.stdout);
    assert!(signed.status.success(), "{text}");
    assert!(
        !text.contains("adminSK01"),
        "the secret was printed: {text}"
    );

    let log = broker.log_text();
    for secret in [
        "adminSK01",
        "orderSecret01",
        "lateSecret01",
        "guessedSecret",
    ] {
        assert!(!log.contains(secret), "secret {secret} in the broker log");
    }
    assert!(
        log.contains("ACL file refused"),
        "the broken file was not reported:\n{log}"
    );
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
