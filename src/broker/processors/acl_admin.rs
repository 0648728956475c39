//! RocketMQ 4.x's ACL admin codes, on the accepting shard: the accounts ([`crate::acl::Acl`]) are one
//! table shared by every shard, so a change made here is in force on all of them when it is answered.
//! mqadmin 4.x sends these with `updateAclConfig`, `deleteAclConfig`, `clusterAclConfigVersion` and
//! `updateGlobalWhiteAddr`; the file edits themselves are [`crate::acl::edit`].
//!
//! | code | request | answer |
//! |---|---|---|
//! | any, with `aclEnable` off | - | SYSTEM_ERROR: ACL is off (RocketMQ 4.x fails the same way) |
//! | UPDATE_AND_CREATE_ACL_CONFIG 50 | the account's fields as extFields (`topicPerms`, `groupPerms` comma-joined) | SUCCESS once the file is replaced and in force; SYSTEM_ERROR with the reason otherwise (nothing written) |
//! | DELETE_ACL_CONFIG 51 | `accessKey` | SUCCESS; SYSTEM_ERROR when no account has that key |
//! | GET_BROKER_CLUSTER_ACL_INFO 52 | - | SUCCESS with `version` and `allAclFileVersion` (JSON), `brokerName`, `brokerAddr`, `clusterName` |
//! | UPDATE_GLOBAL_WHITE_ADDRS_CONFIG 53 | `globalWhiteAddrs` (comma-separated), `aclFileFullPath` (optional) | SUCCESS; SYSTEM_ERROR when the path names another file than the broker's |
//!
//! Who may send them is the ACL's own rule (`acl::decide`): 50, 51 and 53 need an admin account.

use std::collections::BTreeMap;
use std::path::Path;

use crate::acl::edit::{self, AccountChange};
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::remoting::body::DataVersion;
use crate::remoting::codes::{request as rq, response as rs};
use crate::remoting::RemotingCommand;

/// The account change a 50 request carries.
fn account_change(cmd: &RemotingCommand) -> AccountChange {
    let text = |k: &str| cmd.ext(k).map(str::to_string);
    AccountChange {
        access_key: text("accessKey").unwrap_or_default(),
        secret_key: text("secretKey"),
        white_remote_address: text("whiteRemoteAddress"),
        admin: cmd
            .ext("admin")
            .is_some_and(|a| a.eq_ignore_ascii_case("true")),
        default_topic_perm: text("defaultTopicPerm"),
        default_group_perm: text("defaultGroupPerm"),
        topic_perms: cmd.ext("topicPerms").map(edit::split_list),
        group_perms: cmd.ext("groupPerms").map(edit::split_list),
    }
}

/// Whether a 53 request's `aclFileFullPath` names the broker's file (absent or empty: it does).
fn names_our_file(asked: Option<&str>, ours: &Path) -> bool {
    let Some(asked) = asked.map(str::trim).filter(|a| !a.is_empty()) else {
        return true;
    };
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canon(Path::new(asked)) == canon(ours)
}

fn data_version((counter, timestamp): (i64, i64)) -> DataVersion {
    DataVersion { counter, timestamp }
}

impl Broker {
    pub(crate) async fn acl_admin(&self, cmd: &RemotingCommand) -> RemotingCommand {
        let Some(acl) = self.acl.clone() else {
            return cmd.error_response(
                rs::SYSTEM_ERROR,
                "ACL is off on this broker (aclEnable=false): there are no accounts to change",
            );
        };
        let now = now_ms();
        // The file is read and written off the shard's thread.
        let done = match cmd.code {
            rq::UPDATE_AND_CREATE_ACL_CONFIG => {
                let change = account_change(cmd);
                blocking(move || {
                    let created = acl.edit(now, |t| edit::upsert_account(t, &change))?;
                    tracing::info!(
                        access_key = %change.access_key,
                        created,
                        "ACL account changed by request"
                    );
                    Ok(())
                })
                .await
            }
            rq::DELETE_ACL_CONFIG => {
                let ak = cmd.ext("accessKey").unwrap_or_default().to_string();
                blocking(move || {
                    acl.edit(now, |t| match edit::delete_account(t, &ak)? {
                        true => Ok(()),
                        false => Err(format!("no account has the accessKey `{ak}`")),
                    })?;
                    tracing::info!(access_key = %ak, "ACL account deleted by request");
                    Ok(())
                })
                .await
            }
            rq::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG => {
                let asked = cmd.ext("aclFileFullPath").map(str::to_string);
                let addrs = edit::split_list(cmd.ext("globalWhiteAddrs").unwrap_or_default());
                blocking(move || {
                    if !names_our_file(asked.as_deref(), acl.path()) {
                        return Err(format!(
                            "this broker has one accounts file, {}; aclFileFullPath names another",
                            acl.path().display()
                        ));
                    }
                    acl.edit(now, |t| edit::set_global_white(t, &addrs))?;
                    tracing::info!(?addrs, "ACL global white list changed by request");
                    Ok(())
                })
                .await
            }
            _ => {
                let read = blocking(move || Ok((acl.version()?, acl.path().display().to_string())));
                return match read.await {
                    Ok((v, path)) => self.acl_version(cmd, data_version(v), path),
                    Err(e) => cmd.error_response(rs::SYSTEM_ERROR, e),
                };
            }
        };
        match done {
            Ok(()) => cmd.response(rs::SUCCESS),
            Err(e) => cmd.error_response(rs::SYSTEM_ERROR, e),
        }
    }

    /// GET_BROKER_CLUSTER_ACL_INFO's answer: the file's version, in RocketMQ 4.x's fields.
    fn acl_version(
        &self,
        cmd: &RemotingCommand,
        version: DataVersion,
        path: String,
    ) -> RemotingCommand {
        let one = serde_json::to_string(&version).unwrap_or_default();
        let all = BTreeMap::from([(path, version)]);
        let mut resp = cmd.response(rs::SUCCESS);
        resp.set_ext("version", one);
        resp.set_ext(
            "allAclFileVersion",
            serde_json::to_string(&all).unwrap_or_default(),
        );
        resp.set_ext("brokerName", &self.cfg.broker_name);
        resp.set_ext(
            "brokerAddr",
            format!("{}:{}", self.cfg.broker_ip, self.cfg.broker_port),
        );
        resp.set_ext("clusterName", &self.cfg.cluster_name);
        resp
    }
}

/// Runs `f` on glommio's blocking-thread pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    glommio::executor().spawn_blocking(f).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(code: i32, fields: &[(&str, &str)]) -> RemotingCommand {
        let mut cmd = RemotingCommand::request(code);
        for (k, v) in fields {
            cmd.set_ext(k, v);
        }
        cmd
    }

    #[test]
    fn the_change_is_read_as_rocketmqs_tool_sends_it() {
        let cmd = request(
            rq::UPDATE_AND_CREATE_ACL_CONFIG,
            &[
                ("accessKey", "newuser1"),
                ("secretKey", "newsecret1"),
                ("admin", "false"),
                ("defaultTopicPerm", "DENY"),
                ("topicPerms", "topicA=PUB,topicB=SUB|PUB"),
            ],
        );
        let c = account_change(&cmd);
        assert_eq!(c.access_key, "newuser1");
        assert_eq!(c.secret_key.as_deref(), Some("newsecret1"));
        assert!(!c.admin);
        assert_eq!(c.default_topic_perm.as_deref(), Some("DENY"));
        assert_eq!(c.default_group_perm, None);
        assert_eq!(
            c.topic_perms,
            Some(vec!["topicA=PUB".to_string(), "topicB=SUB|PUB".to_string()])
        );
        assert_eq!(c.group_perms, None);
        assert_eq!(c.white_remote_address, None);
        let admin = request(rq::UPDATE_AND_CREATE_ACL_CONFIG, &[("admin", "TRUE")]);
        assert!(account_change(&admin).admin);
    }

    #[test]
    fn the_white_list_path_must_be_ours_or_absent() {
        let dir = std::env::temp_dir().join(format!("bolide-acl-admin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ours = dir.join("plain_acl.yml");
        std::fs::write(&ours, "").unwrap();
        assert!(names_our_file(None, &ours));
        assert!(names_our_file(Some(" "), &ours));
        assert!(names_our_file(Some(ours.to_str().unwrap()), &ours));
        let dotted = format!("{}/./plain_acl.yml", dir.display());
        assert!(names_our_file(Some(&dotted), &ours));
        assert!(!names_our_file(Some("/etc/other.yml"), &ours));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
