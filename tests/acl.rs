//! ACL against a real broker: the `bolide` binary with `aclEnable=true` and a `plain_acl.yml`
//! (data under the target directory), driven by `bolide::client` signing with
//! `Conn::set_credentials`. Two tests, each on its own ports:
//!
//! - requests (23600/23611): the refusals (code and remark), that a refused send stores nothing, the
//!   permissions per topic, group and admin code, the reload without restart, and that no secret
//!   reaches the broker's log;
//! - RocketMQ 4.x's ACL admin codes (24540/24551, 2 shards): accounts created, changed and deleted
//!   over the wire (50, 51), the global white list (53) and the file's version (52), through raw
//!   requests and through `bolide admin`. Each change is in force on every shard when it is
//!   answered, only an admin account may make it, a change the accounts parser refuses writes
//!   nothing, the file survives a restart, no secret reaches the log, and a broker without ACL says so.

use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bolide::acl::sign::Credentials;
use bolide::client::{ClientError, Conn, PullStatus, SendRequest};
use bolide::remoting::codes::response;
use bolide::remoting::headers::{CreateTopicHeader, PullMessageHeader};
use bolide::remoting::RemotingCommand;

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

/// A broker on fresh data in `dir` at `(namesrv, broker)` ports, 2 shards, with `aclEnable` and
/// `acl_file` when one is given.
fn start_broker(dir: &Path, acl_file: Option<&Path>, (ns, broker): (u16, u16)) -> BrokerProcess {
    let mut extra = vec!["--shards".to_string(), "2".to_string()];
    if let Some(f) = acl_file {
        extra.extend(sets(&[
            "aclEnable=true",
            &format!("aclFile={}", f.display()),
        ]));
    }
    BrokerProcess::start(
        &dir.join("data"),
        &dir.join("broker.log"),
        ns,
        broker,
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
        attributes: None,
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
    let broker = start_broker(&dir, Some(&acl_file), (NAMESRV_PORT, BROKER_PORT));
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

/// The accounts of the ACL admin test.
const ADMIN_ACCOUNTS: &str = r#"
accounts:
  - accessKey: adminAK01
    secretKey: adminSK01
    admin: true
  - accessKey: plainAK01
    secretKey: plainSK01
    defaultTopicPerm: PUB
    defaultGroupPerm: SUB
"#;

/// (NameServer, broker) ports of the ACL admin test.
const ADMIN_PORTS: (u16, u16) = (24540, 24551);

fn admin_addr() -> String {
    format!("127.0.0.1:{}", ADMIN_PORTS.1)
}

/// Connections signed as `ak`/`sk` (none: unsigned); several, so that both shards serve some.
async fn conns(ak: Option<(&str, &str)>) -> Vec<Rc<Conn>> {
    let mut out = Vec::new();
    for _ in 0..4 {
        let c = Conn::connect(&admin_addr(), Duration::from_secs(10))
            .await
            .unwrap();
        c.set_credentials(ak.and_then(|(a, s)| creds(a, s)));
        out.push(c);
    }
    out
}

async fn call(conn: &Rc<Conn>, code: i32, fields: &[(&str, &str)]) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(code);
    for (k, v) in fields {
        cmd.set_ext(k, v);
    }
    conn.call(cmd).await.unwrap()
}

/// Every connection's send succeeds (`true`) or every one is refused (`false`).
async fn all_send(conns: &[Rc<Conn>], topic: &str) -> bool {
    let mut ok = Vec::new();
    for c in conns {
        ok.push(send(c, topic, b"x").await.is_ok());
    }
    assert!(ok.iter().all(|o| *o == ok[0]), "shards disagree: {ok:?}");
    ok[0]
}

/// `bolide admin ARGS` against the test's NameServer, signed as the admin account when `signed`:
/// (succeeded, stdout and stderr).
fn admin_cli(args: &[&str], signed: bool) -> (bool, String) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_bolide"));
    c.args(["admin", "-n", &format!("127.0.0.1:{}", ADMIN_PORTS.0)])
        .args(args)
        .env_remove("ROCKETMQ_ACCESS_KEY")
        .env_remove("ROCKETMQ_SECRET_KEY");
    if signed {
        c.env("ROCKETMQ_ACCESS_KEY", "adminAK01")
            .env("ROCKETMQ_SECRET_KEY", "adminSK01");
    }
    let out = c.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The (counter, timestamp) in a 52 answer's `version`.
fn version(resp: &RemotingCommand) -> (i64, i64) {
    assert_eq!(resp.code, response::SUCCESS, "{:?}", resp.remark);
    let v: serde_json::Value = serde_json::from_str(resp.ext("version").unwrap()).unwrap();
    (
        v["counter"].as_i64().unwrap(),
        v["timestamp"].as_i64().unwrap(),
    )
}

#[test]
fn accounts_change_over_the_wire_and_stay_changed() {
    const UPDATE: i32 = 50;
    const DELETE: i32 = 51;
    const INFO: i32 = 52;
    const WHITE: i32 = 53;
    let dir = test_dir("acl-admin-it");
    fresh_dir(&dir);
    let acl_file = dir.join("plain_acl.yml");
    std::fs::write(&acl_file, ADMIN_ACCOUNTS).unwrap();
    let mut broker = start_broker(&dir, Some(&acl_file), ADMIN_PORTS);
    let file = acl_file.clone();

    on_glommio(move || async move {
        let admin = &conns(Some(("adminAK01", "adminSK01"))).await[0];
        for t in ["AclAdminT", "AclAdminDenied"] {
            admin.create_topic(&topic_header(t)).await.unwrap();
        }
        let r = call(admin, INFO, &[]).await;
        assert_eq!(version(&r).0, 0);
        assert_eq!(r.ext("clusterName"), Some("DefaultCluster"));
        assert_eq!(r.ext("brokerAddr"), Some(admin_addr().as_str()));
        let all: serde_json::Value =
            serde_json::from_str(r.ext("allAclFileVersion").unwrap()).unwrap();
        assert!(all.get(file.to_str().unwrap()).is_some(), "{all}");

        // A new account is in force on every shard once the answer arrives.
        let newbie = conns(Some(("newUser01", "newSecret01"))).await;
        assert!(!all_send(&newbie, "AclAdminT").await);
        let r = call(
            admin,
            UPDATE,
            &[
                ("accessKey", "newUser01"),
                ("secretKey", "newSecret01"),
                ("admin", "false"),
                ("defaultTopicPerm", "PUB"),
                ("topicPerms", "AclAdminDenied=DENY"),
            ],
        )
        .await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        assert!(all_send(&newbie, "AclAdminT").await);
        assert!(!all_send(&newbie, "AclAdminDenied").await);
        let (counter, stamp) = version(&call(admin, INFO, &[]).await);
        assert_eq!(counter, 1);
        assert!(stamp > 0);

        // A non-admin account may not change accounts, not even to make itself admin.
        let plain = &conns(Some(("plainAK01", "plainSK01"))).await[0];
        let before = std::fs::read_to_string(&file).unwrap();
        for (code, fields) in [
            (UPDATE, vec![("accessKey", "plainAK01"), ("admin", "true")]),
            (DELETE, vec![("accessKey", "adminAK01")]),
            (WHITE, vec![("globalWhiteAddrs", "*")]),
        ] {
            let r = call(plain, code, &fields).await;
            assert_eq!(
                r.code,
                response::NO_PERMISSION,
                "code {code}: {:?}",
                r.remark
            );
        }
        assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
        // Reading the version needs a signature only.
        assert_eq!(version(&call(plain, INFO, &[]).await).0, 1);

        // A change the accounts parser refuses: SYSTEM_ERROR with the reason, nothing written.
        let r = call(
            admin,
            UPDATE,
            &[("accessKey", "newUser01"), ("defaultTopicPerm", "ALL")],
        )
        .await;
        assert_eq!(r.code, response::SYSTEM_ERROR);
        assert!(r
            .remark
            .as_deref()
            .unwrap_or("")
            .contains("unknown permission"));
        let r = call(admin, UPDATE, &[("accessKey", "noSecret01")]).await;
        assert_eq!(r.code, response::SYSTEM_ERROR);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), before);

        // A new secret replaces the old one at once.
        let r = call(
            admin,
            UPDATE,
            &[("accessKey", "newUser01"), ("secretKey", "newSecret02")],
        )
        .await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        assert!(!all_send(&newbie, "AclAdminT").await);
        let renewed = conns(Some(("newUser01", "newSecret02"))).await;
        // The update kept the default permission and the list it did not name.
        assert!(all_send(&renewed, "AclAdminT").await);
        assert!(!all_send(&renewed, "AclAdminDenied").await);

        // The global white list lets unsigned requests from its addresses in, and clears.
        let anon = conns(None).await;
        assert!(!all_send(&anon, "AclAdminT").await);
        let r = call(admin, WHITE, &[("globalWhiteAddrs", "127.0.0.1")]).await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        assert!(all_send(&anon, "AclAdminT").await);
        let r = call(
            admin,
            WHITE,
            &[
                ("globalWhiteAddrs", ""),
                ("aclFileFullPath", file.to_str().unwrap()),
            ],
        )
        .await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        assert!(!all_send(&anon, "AclAdminT").await);
        let r = call(
            admin,
            WHITE,
            &[
                ("globalWhiteAddrs", "*"),
                ("aclFileFullPath", "/etc/other_acl.yml"),
            ],
        )
        .await;
        assert_eq!(r.code, response::SYSTEM_ERROR);
        assert!(!all_send(&anon, "AclAdminT").await);

        // Delete: the account is gone at once; deleting it again says so.
        let r = call(admin, DELETE, &[("accessKey", "newUser01")]).await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        for c in &renewed {
            let Err(ClientError::Refused { code, remark, .. }) = send(c, "AclAdminT", b"x").await
            else {
                panic!("a deleted account still sends");
            };
            assert_eq!(code, response::NO_PERMISSION);
            assert!(remark.contains("No acl config for newUser01"), "{remark}");
        }
        let r = call(admin, DELETE, &[("accessKey", "newUser01")]).await;
        assert_eq!(r.code, response::SYSTEM_ERROR);
        assert!(r.remark.as_deref().unwrap_or("").contains("newUser01"));

        // A second account, to see after the restart.
        let r = call(
            admin,
            UPDATE,
            &[
                ("accessKey", "laterUser01"),
                ("secretKey", "laterSecret01"),
                ("defaultTopicPerm", "PUB"),
            ],
        )
        .await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        assert_eq!(version(&call(admin, INFO, &[]).await).0, 6);
    });

    // The file holds every change: after a restart the same accounts are in force.
    broker.signal(libc::SIGTERM);
    broker.wait_exit();
    broker.restart();
    on_glommio(|| async {
        let admin = &conns(Some(("adminAK01", "adminSK01"))).await[0];
        assert_eq!(version(&call(admin, INFO, &[]).await).0, 6);
        assert!(
            all_send(
                &conns(Some(("laterUser01", "laterSecret01"))).await,
                "AclAdminT"
            )
            .await
        );
        assert!(
            !all_send(
                &conns(Some(("newUser01", "newSecret02"))).await,
                "AclAdminT"
            )
            .await
        );
        assert!(all_send(&conns(Some(("plainAK01", "plainSK01"))).await, "AclAdminT").await);
    });

    // `bolide admin` has the same commands, with mqadmin's names and short flags.
    let (ok, text) = admin_cli(
        &[
            "updateAclConfig",
            "-b",
            &admin_addr(),
            "-a",
            "cliUser01",
            "-s",
            "cliSecret01",
            "-i",
            "PUB",
        ],
        true,
    );
    assert!(
        ok && text.contains("update ACL account cliUser01: success at"),
        "{text}"
    );
    on_glommio(|| async {
        assert!(
            all_send(
                &conns(Some(("cliUser01", "cliSecret01"))).await,
                "AclAdminT"
            )
            .await
        );
    });
    let (ok, text) = admin_cli(
        &["clusterAclConfigVersion", "-c", "DefaultCluster", "--json"],
        true,
    );
    assert!(ok, "{text}");
    let rows: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rows[0]["counter"], 7, "{text}");
    assert_eq!(rows[0]["brokerAddr"], admin_addr(), "{text}");
    let (ok, text) = admin_cli(
        &[
            "updateGlobalWhiteAddr",
            "-b",
            &admin_addr(),
            "-g",
            "10.1.1.1",
        ],
        true,
    );
    assert!(ok, "{text}");
    assert!(std::fs::read_to_string(&acl_file)
        .unwrap()
        .contains("10.1.1.1"));
    let (ok, text) = admin_cli(
        &["deleteAclConfig", "-c", "DefaultCluster", "-a", "cliUser01"],
        true,
    );
    assert!(ok, "{text}");
    let (ok, text) = admin_cli(
        &["deleteAclConfig", "-b", &admin_addr(), "-a", "cliUser01"],
        true,
    );
    assert!(
        !ok && text.contains("no account has the accessKey"),
        "{text}"
    );
    let (ok, text) = admin_cli(
        &["deleteAclConfig", "-b", &admin_addr(), "-a", "plainAK01"],
        false,
    );
    assert!(!ok && text.contains("No accessKey"), "{text}");
    assert!(!std::fs::read_to_string(&acl_file)
        .unwrap()
        .contains("cliUser01"));

    let log = broker.log_text();
    for secret in [
        "adminSK01",
        "newSecret01",
        "newSecret02",
        "laterSecret01",
        "cliSecret01",
    ] {
        assert!(!log.contains(secret), "secret {secret} in the broker log");
    }
    assert!(log.contains("ACL account changed by request"), "{log}");
    drop(broker);

    // Without ACL the codes say so.
    let mut open = start_broker(&dir, None, ADMIN_PORTS);
    open.wait_answering();
    on_glommio(|| async {
        let c = &conns(None).await[0];
        for code in [UPDATE, DELETE, INFO, WHITE] {
            let r = call(c, code, &[("accessKey", "someone1")]).await;
            assert_eq!(r.code, response::SYSTEM_ERROR, "code {code}");
            assert!(r.remark.as_deref().unwrap_or("").contains("ACL is off"));
        }
    });
    drop(open);
    let _ = std::fs::remove_dir_all(&dir);
}
