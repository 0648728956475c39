//! The key index across clean reopens: an entry of a record appended after a reopen is found
//! exactly once at the next open, not twice (the checkpoint's index count and the log scan past
//! the checkpoint must not both bring it back).

#[path = "common/storage_helpers.rs"]
mod helpers;

use bolide::storage::{FlushMode, MessageStore};
use helpers::{config, data_dir, msg, run};

#[test]
fn a_key_appended_after_a_reopen_is_found_once_at_the_next_open() {
    let d = data_dir("index-reopen");
    let d2 = d.clone();
    run(move || async move {
        let mut want: Vec<(String, bolide::storage::PhysicalOffset)> = Vec::new();
        for round in 0..3u32 {
            let (store, _) = MessageStore::open(config(d2.clone(), FlushMode::Async))
                .await
                .unwrap();
            for (key, offset) in &want {
                let v = store.lookup_key("T", key.as_str(), 0, i64::MAX, 10);
                assert_eq!(v, vec![*offset], "round {round}: key {key}");
            }
            for i in 0..200u32 {
                let k = format!("filler-{round}-{i}");
                store
                    .append(msg(
                        "T",
                        i % 3,
                        b"filler",
                        &k,
                        None,
                        &format!("F{round}-{i}"),
                    ))
                    .await
                    .unwrap();
            }
            let key = format!("k{round}");
            let r = store
                .append(msg("T", 0, b"body", &key, None, &format!("U{round}")))
                .await
                .unwrap();
            want.push((key, r.physical_offset));
            store.flush().await.unwrap();
            store.close().await.unwrap();
        }
    });
    let _ = std::fs::remove_dir_all(&d);
}
