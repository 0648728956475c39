"""A minimal RocketMQ remoting client written from the protocol reference (remoting-protocol.md §1, §9).

It speaks raw frames over a plain socket so tests can send what the C++ client never would (unknown
codes, oneway flags on any code, pipelined requests, garbage) and look at every byte that comes back.
Deliberately independent of the broker's code: it encodes exactly what the Java/C++ clients put on the
wire and decodes what the reference says the broker must answer.
"""
import json
import socket
import struct
import time

# Request codes (§2.1).
SEND_MESSAGE = 10
PULL_MESSAGE = 11
QUERY_MESSAGE = 12
QUERY_CONSUMER_OFFSET = 14
UPDATE_CONSUMER_OFFSET = 15
GET_MAX_OFFSET = 30
GET_MIN_OFFSET = 31
VIEW_MESSAGE_BY_ID = 33
HEART_BEAT = 34
GET_ROUTEINFO_BY_TOPIC = 105
SEND_MESSAGE_V2 = 310
SEND_BATCH_MESSAGE = 320

# Response codes (§2.2).
SUCCESS = 0
SYSTEM_ERROR = 1
REQUEST_CODE_NOT_SUPPORTED = 3
MESSAGE_ILLEGAL = 13
TOPIC_NOT_EXIST = 17
PULL_NOT_FOUND = 19
PULL_RETRY_IMMEDIATELY = 20
PULL_OFFSET_MOVED = 21
QUERY_NOT_FOUND = 22
INVALID_PARAMETER = 29

FLAG_RESPONSE = 0x1
FLAG_ONEWAY = 0x2

MAGIC_V1 = 0xDAA320A7
MAGIC_V2 = 0xDAA320AB

NAME_VALUE_SEP = "\x01"
PROPERTY_SEP = "\x02"

# PullSysFlag bits (§7.1).
PULL_COMMIT_OFFSET = 0x1
PULL_SUSPEND = 0x2
PULL_SUBSCRIPTION = 0x4


class Frame:
    """One decoded frame: header fields plus body; `raw_header` keeps the exact header bytes."""

    def __init__(self, serialize_type, header, body, raw_header):
        self.serialize_type = serialize_type
        self.header = header
        self.body = body
        self.raw_header = raw_header

    @property
    def code(self):
        return self.header.get("code")

    @property
    def opaque(self):
        return self.header.get("opaque")

    @property
    def flag(self):
        return self.header.get("flag", 0)

    @property
    def remark(self):
        return self.header.get("remark")

    @property
    def ext(self):
        return self.header.get("extFields") or {}

    @property
    def is_response(self):
        return bool(self.flag & FLAG_RESPONSE)

    def __repr__(self):
        return "<Frame code=%r opaque=%r flag=%r remark=%r ext=%r body=%d bytes>" % (
            self.code, self.opaque, self.flag, self.remark, self.ext, len(self.body))


def encode_frame(header_bytes, body=b"", serialize_type=0):
    """Wraps header bytes and body in the length-prefixed frame of §1.2."""
    total = 4 + len(header_bytes) + len(body)
    return struct.pack(">II", total, (serialize_type << 24) | len(header_bytes)) + header_bytes + body


def json_header(code, opaque, ext=None, flag=0, language="CPP", version=63, remark=""):
    """A request header shaped like the C++ client's (captures/cpp-client-flow.txt)."""
    h = {"code": code, "extFields": dict(ext or {}), "flag": flag, "language": language,
         "opaque": opaque, "remark": remark, "version": version}
    return json.dumps(h, separators=(",", ":")).encode()


def encode_request(code, opaque, ext=None, body=b"", flag=0, **kw):
    return encode_frame(json_header(code, opaque, ext, flag, **kw), body)


def rocketmq_binary_header(code, opaque, ext=None, flag=0, language=0, version=409, remark=None):
    """The ROCKETMQ (binary) header of §1.4."""
    out = struct.pack(">hBhii", code, language, version, opaque, flag)
    r = (remark or "").encode()
    out += struct.pack(">i", len(r)) + r
    m = b""
    for k, v in (ext or {}).items():
        kb, vb = str(k).encode(), str(v).encode()
        m += struct.pack(">h", len(kb)) + kb + struct.pack(">i", len(vb)) + vb
    return out + struct.pack(">i", len(m)) + m


def decode_rocketmq_binary_header(b):
    code, language, version, opaque, flag = struct.unpack_from(">hBhii", b, 0)
    pos = 13
    (rl,) = struct.unpack_from(">i", b, pos)
    pos += 4
    remark = b[pos:pos + rl].decode() if rl > 0 else None
    pos += max(rl, 0)
    (ml,) = struct.unpack_from(">i", b, pos)
    pos += 4
    end = pos + ml
    ext = {}
    while pos < end:
        (kl,) = struct.unpack_from(">h", b, pos)
        pos += 2
        k = b[pos:pos + kl].decode()
        pos += kl
        (vl,) = struct.unpack_from(">i", b, pos)
        pos += 4
        v = b[pos:pos + vl].decode()
        pos += vl
        ext[k] = v
    return {"code": code, "language": language, "version": version, "opaque": opaque, "flag": flag,
            "remark": remark, "extFields": ext}


def decode_frame_bytes(data):
    """Decodes one complete frame (the bytes after the 4-byte total length are all present)."""
    total, hword = struct.unpack_from(">II", data, 0)
    stype = (hword >> 24) & 0xFF
    hlen = hword & 0xFFFFFF
    raw_header = data[8:8 + hlen]
    body = data[8 + hlen:4 + total]
    if stype == 0:
        header = json.loads(raw_header.decode("utf-8"))
    elif stype == 1:
        header = decode_rocketmq_binary_header(raw_header)
    else:
        raise ValueError("unknown serialize type %d" % stype)
    return Frame(stype, header, body, raw_header)


class ConnectionClosed(Exception):
    pass


class Conn:
    """One TCP connection speaking remoting frames."""

    FRAME_MAX = 16 * 1024 * 1024

    def __init__(self, host, port, timeout=10.0):
        self.addr = (host, port)
        self.sock = socket.create_connection(self.addr, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self._buf = b""
        self._opaque = 1000
        self.stray = []

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def next_opaque(self):
        self._opaque += 1
        return self._opaque

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self, n, deadline):
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out waiting for %d bytes (have %d)" % (n, len(self._buf)))
            self.sock.settimeout(left)
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise ConnectionClosed("peer closed the connection (%d bytes buffered)" % len(self._buf))
            self._buf += chunk

    def read_frame(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self._fill(4, deadline)
        (total,) = struct.unpack_from(">I", self._buf, 0)
        if total > self.FRAME_MAX:
            raise ValueError("peer sent a frame of %d bytes (> 16 MiB)" % total)
        self._fill(4 + total, deadline)
        data, self._buf = self._buf[:4 + total], self._buf[4 + total:]
        return decode_frame_bytes(data)

    def request(self, code, ext=None, body=b"", timeout=None, **kw):
        """Sends a request and returns the response with the same opaque (skipping anything else)."""
        opaque = self.next_opaque()
        self.send_raw(encode_request(code, opaque, ext, body, **kw))
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.read_frame(timeout=max(0.01, deadline - time.monotonic()))
            if f.is_response and f.opaque == opaque:
                return f
            self.stray.append(f)  # kept for tests that must see nothing else (e.g. oneway answers)

    def oneway(self, code, ext=None, body=b"", **kw):
        self.send_raw(encode_request(code, self.next_opaque(), ext, body, flag=FLAG_ONEWAY, **kw))

    def expect_closed(self, timeout=5.0):
        """True if the peer closes (EOF or reset) within `timeout` seconds; unread frames are skipped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True
        return False


# ---- message helpers ----------------------------------------------------------------------------

def properties_string(props):
    """Properties as the C++ client writes them (§9.3): key\\x01value\\x02 ... with a trailing \\x02."""
    return "".join("%s%s%s%s" % (k, NAME_VALUE_SEP, v, PROPERTY_SEP) for k, v in props.items())


def parse_properties(s):
    out = {}
    for seg in s.split(PROPERTY_SEP):
        if len(seg) < 3 or NAME_VALUE_SEP not in seg:
            continue
        k, v = seg.split(NAME_VALUE_SEP, 1)
        if k and v:
            out[k] = v
    return out


def send_v2_ext(group, topic, props, queue_id=-1, born_ms=None, sys_flag=0, flag=0):
    """SEND_MESSAGE_V2 (310) header letters (§5.2) with the numeric types the C++ client uses."""
    return {
        "a": group, "b": topic, "c": "TBW102", "d": 4, "e": queue_id, "f": sys_flag,
        "g": str(born_ms if born_ms is not None else int(time.time() * 1000)), "h": flag,
        "i": properties_string(props), "j": "0", "k": "false", "l": 16, "m": "false",
    }


def send_v1_ext(group, topic, props, queue_id=-1, born_ms=None, sys_flag=0, flag=0):
    """SEND_MESSAGE (10) header as captured from the C++ client (cpp-client-flow.txt frame 4)."""
    return {
        "AccessKey": "", "OnsChannel": "ALIYUN", "Signature": "",
        "batch": "0", "bornTimestamp": str(born_ms if born_ms is not None else int(time.time() * 1000)),
        "defaultTopic": "TBW102", "defaultTopicQueueNums": 4, "flag": flag, "producerGroup": group,
        "properties": properties_string(props), "queueId": queue_id, "reconsumeTimes": "0",
        "sysFlag": sys_flag, "topic": topic, "unitMode": "0",
    }


def decode_offset_msg_id(msg_id):
    """Offset msgId (§9.5): 32 hex chars = IPv4 (4) + port (int32) + physical offset (int64)."""
    if len(msg_id) != 32:
        raise ValueError("offset msgId %r is not 32 hex chars" % msg_id)
    raw = bytes.fromhex(msg_id)
    ip = socket.inet_ntoa(raw[0:4])
    (port,) = struct.unpack(">i", raw[4:8])
    (offset,) = struct.unpack(">q", raw[8:16])
    return ip, port, offset


def decode_records(buf):
    """Decodes concatenated stored-message records (§9.1). Raises on any inconsistency."""
    out = []
    pos = 0
    while pos < len(buf):
        r, size = decode_record(buf, pos)
        out.append(r)
        pos += size
    return out


def decode_record(buf, pos=0):
    start = pos
    total, magic, body_crc, queue_id, flag, queue_offset, phys, sys_flag, born_ts = struct.unpack_from(
        ">iIiiiqqiq", buf, pos)
    pos += 48
    if total <= 0 or start + total > len(buf):
        raise ValueError("record at %d: TOTALSIZE %d overruns buffer of %d" % (start, total, len(buf)))
    born_v6 = bool(sys_flag & 0x10)
    store_v6 = bool(sys_flag & 0x20)
    hl = 16 if born_v6 else 4
    born_ip = buf[pos:pos + hl]
    pos += hl
    (born_port,) = struct.unpack_from(">i", buf, pos)
    pos += 4
    (store_ts,) = struct.unpack_from(">q", buf, pos)
    pos += 8
    sl = 16 if store_v6 else 4
    store_ip = buf[pos:pos + sl]
    pos += sl
    (store_port, reconsume, prepared) = struct.unpack_from(">iiq", buf, pos)
    pos += 16
    (body_len,) = struct.unpack_from(">i", buf, pos)
    pos += 4
    body = buf[pos:pos + body_len]
    pos += body_len
    if magic == MAGIC_V2:
        (tl,) = struct.unpack_from(">h", buf, pos)
        pos += 2
    else:
        tl = buf[pos]
        pos += 1
    topic = buf[pos:pos + tl].decode()
    pos += tl
    (pl,) = struct.unpack_from(">h", buf, pos)
    pos += 2
    props = parse_properties(buf[pos:pos + pl].decode())
    pos += pl
    if pos - start != total:
        raise ValueError("record at %d: TOTALSIZE %d but fields end at %d" % (start, total, pos - start))
    rec = {
        "total_size": total, "magic": magic, "body_crc": body_crc, "queue_id": queue_id, "flag": flag,
        "queue_offset": queue_offset, "physical_offset": phys, "sys_flag": sys_flag,
        "born_timestamp": born_ts,
        "born_host": (socket.inet_ntop(socket.AF_INET6 if born_v6 else socket.AF_INET, born_ip), born_port),
        "store_timestamp": store_ts,
        "store_host": (socket.inet_ntop(socket.AF_INET6 if store_v6 else socket.AF_INET, store_ip), store_port),
        "reconsume_times": reconsume, "prepared_transaction_offset": prepared,
        "body": body, "topic": topic, "properties": props,
    }
    return rec, total


def offset_msg_id_of(record):
    ip, port = record["store_host"]
    return (socket.inet_aton(ip) + struct.pack(">iq", port, record["physical_offset"])).hex().upper()


def non_string_ext_values(frame):
    """extFields values that are not JSON strings: the C++ client silently reads them as 0 (§1.3)."""
    return {k: v for k, v in frame.ext.items() if not isinstance(v, str)}
