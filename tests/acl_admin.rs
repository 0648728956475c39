//! RocketMQ 4.x's ACL admin codes against a real broker (ports 24540/24551, 2 shards): accounts
//! created, changed and deleted over the wire (50, 51), the global white list (53) and the file's
//! version (52), through raw requests and through `bolide admin`. Each change is in force on every shard when it is answered, only an admin account
//! may make it, a change the accounts parser refuses writes nothing, the file survives a restart,
//! no secret reaches the log, and a broker without ACL says so.

use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use bolide::acl::sign::Credentials;
use bolide::client::{ClientError, Conn, SendRequest};
use bolide::remoting::codes::response;
use bolide::remoting::headers::CreateTopicHeader;
use bolide::remoting::RemotingCommand;

#[path = "common/broker_process.rs"]
mod broker_process;
use broker_process::{fresh_dir, on_glommio, sets, test_dir, BrokerProcess};

const NAMESRV_PORT: u16 = 24540;
const BROKER_PORT: u16 = 24551;

const ACCOUNTS: &str = r#"
accounts:
  - accessKey: adminAK01
    secretKey: adminSK01
    admin: true
  - accessKey: plainAK01
    secretKey: plainSK01
    defaultTopicPerm: PUB
    defaultGroupPerm: SUB
"#;

fn start_broker(dir: &Path, acl_file: Option<&Path>) -> BrokerProcess {
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
        NAMESRV_PORT,
        BROKER_PORT,
        &extra,
        &[],
    )
}

fn addr() -> String {
    format!("127.0.0.1:{BROKER_PORT}")
}

/// Connections signed as `ak`/`sk` (none: unsigned); several, so that both shards serve some.
async fn conns(ak: Option<(&str, &str)>) -> Vec<Rc<Conn>> {
    let mut out = Vec::new();
    for _ in 0..4 {
        let c = Conn::connect(&addr(), Duration::from_secs(10))
            .await
            .unwrap();
        c.set_credentials(ak.map(|(a, s)| Credentials {
            access_key: a.into(),
            secret_key: s.into(),
        }));
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

async fn send(conn: &Rc<Conn>, topic: &str) -> Result<(), ClientError> {
    conn.send(&SendRequest {
        producer_group: "AclAdminPG",
        topic,
        queue_id: 0,
        born_timestamp_ms: 0,
        properties: "",
        body: b"x",
        batch: false,
    })
    .await
    .map(drop)
}

/// Every connection's send succeeds (`true`) or every one is refused (`false`).
async fn all_send(conns: &[Rc<Conn>], topic: &str) -> bool {
    let mut ok = Vec::new();
    for c in conns {
        ok.push(send(c, topic).await.is_ok());
    }
    assert!(ok.iter().all(|o| *o == ok[0]), "shards disagree: {ok:?}");
    ok[0]
}

fn topic_header(topic: &str) -> CreateTopicHeader {
    CreateTopicHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: 4,
        write_queue_nums: 4,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: 0,
        order: false,
    }
}

/// `bolide admin ARGS` against the test's NameServer, signed as the admin account when `signed`:
/// (succeeded, stdout and stderr).
fn admin_cli(args: &[&str], signed: bool) -> (bool, String) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_bolide"));
    c.args(["admin", "-n", &format!("127.0.0.1:{NAMESRV_PORT}")])
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
    std::fs::write(&acl_file, ACCOUNTS).unwrap();
    let mut broker = start_broker(&dir, Some(&acl_file));
    let file = acl_file.clone();

    on_glommio(move || async move {
        let admin = &conns(Some(("adminAK01", "adminSK01"))).await[0];
        for t in ["AclAdminT", "AclAdminDenied"] {
            admin.create_topic(&topic_header(t)).await.unwrap();
        }
        let r = call(admin, INFO, &[]).await;
        assert_eq!(version(&r).0, 0);
        assert_eq!(r.ext("clusterName"), Some("DefaultCluster"));
        assert_eq!(r.ext("brokerAddr"), Some(addr().as_str()));
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
            let Err(ClientError::Refused { code, remark, .. }) = send(c, "AclAdminT").await else {
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
            &addr(),
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
    assert_eq!(rows[0]["brokerAddr"], addr(), "{text}");
    let (ok, text) = admin_cli(
        &["updateGlobalWhiteAddr", "-b", &addr(), "-g", "10.1.1.1"],
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
    let (ok, text) = admin_cli(&["deleteAclConfig", "-b", &addr(), "-a", "cliUser01"], true);
    assert!(
        !ok && text.contains("no account has the accessKey"),
        "{text}"
    );
    let (ok, text) = admin_cli(
        &["deleteAclConfig", "-b", &addr(), "-a", "plainAK01"],
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
    let mut open = start_broker(&dir, None);
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
