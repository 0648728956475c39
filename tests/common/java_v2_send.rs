//! The extFields of a SEND_MESSAGE_V2 request as a Java 4.9.8 producer sends it: 13 single-letter
//! fields, the properties with their \u0001 and \u0002 separators (escaped in a JSON header). Shared
//! by the allocation test and the header-decoding micro-benchmark, so that both measure one request.

pub const FIELDS: [(&str, &str); 13] = [
    ("a", "please_rename_unique_group_name"),
    ("b", "TopicTest"),
    ("c", "TBW102"),
    ("d", "4"),
    ("e", "3"),
    ("f", "0"),
    ("g", "1700000000000"),
    ("h", "0"),
    (
        "i",
        "UNIQ_KEY\u{1}7F0000010001B4AAC00000000000000A\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA",
    ),
    ("j", "0"),
    ("k", "false"),
    ("l", "16"),
    ("m", "false"),
];
