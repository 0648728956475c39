// Interop suite with the official Go client, github.com/apache/rocketmq-client-go/v2 (pinned in go.mod).
//
// TestMain starts ONE `bolide serve` for the whole suite (from $BOLIDE_BIN, default
// ${CARGO_TARGET_DIR:-<repo>/target}/release/bolide) on free loopback ports and a fresh data dir, and
// stops it at the end. Every test uses its own topics and groups, so tests do not see each other's
// messages and one broker start (about a second) serves them all. The broker is started here and not by
// the calling script so that a plain `go test` is the whole story: the process that runs the tests owns
// the broker, hands its address to the tests without a second channel, prints its log tail when a test
// failed, and takes it down even when it dies (Pdeathsig).
//
// Instead of starting Bolide, the suite can run against a broker that is already running (e.g. the
// Apache RocketMQ reference broker): INTEROP_NAMESRV=host:port and INTEROP_BROKER=host:port.
//
// Env: BOLIDE_BIN, INTEROP_NAMESRV + INTEROP_BROKER, INTEROP_WORK_DIR (data dir parent, must not be
// tmpfs; default <repo>/target/interop-go), INTEROP_PORTS=lo-hi (range to pick ports from, default
// 20002-32000), INTEROP_KEEP=1 (keep the data dir and log), ROCKETMQ_GO_LOG_LEVEL (client log level,
// default "error"), RUST_LOG (passed to the broker).
package interop

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

// Broker settings the suite needs, given to the Bolide it starts (`--set K=V`) and, with the same keys, to
// the reference broker scripts/test-go.sh starts (keep the two in step): short delay levels, so that
// delayed messages (level 1 = 1 s, level 2 = 3 s) and retries (levels 3 and up, 1 s each) take seconds,
// and a transaction check-back one second after the half message, then every second.
var brokerSettings = []string{
	"messageDelayLevel=" + delayLevelsConf,
	"transactionTimeOut=1000",
	"transactionCheckInterval=1000",
}

const delayLevelsConf = "1s 3s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s"

const (
	readyLine    = "bolide ready"
	startTimeout = 30 * time.Second
	stopTimeout  = 20 * time.Second
	// Bolide pre-allocates a segment (and prepares the next) per shard: 16 MiB keeps the suite small
	// and still holds the largest message the tests send.
	segmentSize = 16 << 20
)

// Where the tests find the broker; set by TestMain before any test runs.
var (
	namesrvAddr string
	brokerAddr  string
	adminClient admin.Admin
)

func TestMain(m *testing.M) {
	level := os.Getenv("ROCKETMQ_GO_LOG_LEVEL")
	if level == "" {
		level = "error"
	}
	rlog.SetLogLevel(level)
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var b *bolide
	if ns := os.Getenv("INTEROP_NAMESRV"); ns != "" {
		namesrvAddr, brokerAddr = ns, os.Getenv("INTEROP_BROKER")
		if brokerAddr == "" {
			fmt.Fprintln(os.Stderr, "INTEROP_NAMESRV is set but INTEROP_BROKER is not (host:port of the broker)")
			return 2
		}
		fmt.Printf("interop: external broker, namesrv %s, broker %s\n", namesrvAddr, brokerAddr)
	} else {
		var err error
		b, err = startBolide()
		if err != nil {
			fmt.Fprintf(os.Stderr, "interop: cannot start bolide: %v\n", err)
			if b != nil {
				fmt.Fprint(os.Stderr, b.logTail(60))
				b.stop()
			}
			return 2
		}
		namesrvAddr, brokerAddr = b.namesrv, b.broker
		fmt.Printf("interop: %s (namesrv %s, broker %s, data %s)\n", b.bin, b.namesrv, b.broker, b.dataDir)
	}

	a, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver([]string{namesrvAddr})))
	if err != nil {
		fmt.Fprintf(os.Stderr, "interop: admin client: %v\n", err)
		if b != nil {
			b.stop()
		}
		return 2
	}
	adminClient = a

	code := m.Run()

	_ = adminClient.Close()
	if b != nil {
		rc := b.stop()
		if code != 0 || rc != nil {
			if rc != nil {
				fmt.Fprintf(os.Stderr, "interop: bolide did not stop cleanly: %v\n", rc)
				code = 1
			}
			fmt.Fprint(os.Stderr, b.logTail(80))
			fmt.Fprintf(os.Stderr, "interop: broker log and data kept in %s\n", b.workDir)
		} else if os.Getenv("INTEROP_KEEP") == "" {
			_ = os.RemoveAll(b.workDir)
		}
	}
	return code
}

// bolide is one `bolide serve` process.
type bolide struct {
	bin, workDir, dataDir, logPath string
	namesrv, broker                string
	cmd                            *exec.Cmd
	exited                         chan error
}

func repoRoot() string {
	wd, _ := os.Getwd() // the package dir, tests/go
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

func bolideBinary() string {
	if b := os.Getenv("BOLIDE_BIN"); b != "" {
		return b
	}
	target := os.Getenv("CARGO_TARGET_DIR")
	if target == "" {
		target = filepath.Join(repoRoot(), "target")
	} else if !filepath.IsAbs(target) {
		target = filepath.Join(repoRoot(), target)
	}
	return filepath.Join(target, "release", "bolide")
}

// checkRealFS refuses tmpfs/overlay: bolide opens its segments with O_DIRECT.
func checkRealFS(dir string) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return err
	}
	const tmpfsMagic, ramfsMagic, overlayMagic = 0x01021994, 0x858458f6, 0x794c7630
	switch int64(st.Type) {
	case tmpfsMagic, ramfsMagic, overlayMagic:
		return fmt.Errorf("%s is on tmpfs/ramfs/overlay, which refuses O_DIRECT; set INTEROP_WORK_DIR to a dir on ext4/xfs", dir)
	}
	return nil
}

func bindable(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// freePorts returns (namesrv, broker) ports, both free and broker-2 (bolide's VIP port) free too.
func freePorts() (int, int, error) {
	lo, hi := 20002, 32000
	if r := os.Getenv("INTEROP_PORTS"); r != "" {
		parts := strings.SplitN(r, "-", 2)
		l, err1 := strconv.Atoi(parts[0])
		h, err2 := strconv.Atoi(parts[len(parts)-1])
		if len(parts) != 2 || err1 != nil || err2 != nil || h-l < 4 {
			return 0, 0, fmt.Errorf("INTEROP_PORTS=%q: want lo-hi", r)
		}
		lo, hi = l+2, h
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := 0; i < 500; i++ {
		n, b := lo+rng.Intn(hi-lo), lo+rng.Intn(hi-lo)
		if n == b || n == b-2 {
			continue
		}
		if bindable(n) && bindable(b) && bindable(b-2) {
			return n, b, nil
		}
	}
	return 0, 0, fmt.Errorf("no free ports in %d-%d", lo, hi)
}

// startBolide starts `bolide serve` on free ports and a fresh data dir with brokerSettings, and extra
// flags appended (e.g. `--set aclEnable=true`).
func startBolide(extra ...string) (*bolide, error) {
	bin := bolideBinary()
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("broker binary %s: %v (build it with `cargo build --release` or set BOLIDE_BIN)", bin, err)
	}
	root := os.Getenv("INTEROP_WORK_DIR")
	if root == "" {
		root = filepath.Join(repoRoot(), "target", "interop-go")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	if err := checkRealFS(root); err != nil {
		return nil, err
	}
	workDir, err := os.MkdirTemp(root, "run-")
	if err != nil {
		return nil, err
	}
	nsPort, brPort, err := freePorts()
	if err != nil {
		return nil, err
	}
	b := &bolide{
		bin:     bin,
		workDir: workDir,
		dataDir: filepath.Join(workDir, "data"),
		logPath: filepath.Join(workDir, "bolide.log"),
		namesrv: fmt.Sprintf("127.0.0.1:%d", nsPort),
		broker:  fmt.Sprintf("127.0.0.1:%d", brPort),
		exited:  make(chan error, 1),
	}
	args := []string{"serve",
		"--data-dir", b.dataDir,
		"--namesrv-port", strconv.Itoa(nsPort),
		"--broker-port", strconv.Itoa(brPort),
		"--listen-ip", "127.0.0.1", "--broker-ip", "127.0.0.1",
		"--flush", "sync", "--shards", "2",
		"--segment-size", strconv.Itoa(segmentSize),
	}
	for _, kv := range brokerSettings {
		args = append(args, "--set", kv)
	}
	args = append(args, extra...)
	logFile, err := os.Create(b.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "$ %s %s\n", bin, strings.Join(args, " "))
	b.cmd = exec.Command(bin, args...)
	b.cmd.Stdout, b.cmd.Stderr = logFile, logFile
	b.cmd.Env = append(os.Environ(), "NO_COLOR=1")
	// If the test binary dies (panic, -timeout, kill), the broker goes with it.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { b.exited <- b.cmd.Wait() }()

	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-b.exited:
			b.exited <- err
			return b, fmt.Errorf("bolide exited during start-up: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		log, _ := os.ReadFile(b.logPath)
		if bytes.Contains(log, []byte(readyLine)) && accepts(b.namesrv) && accepts(b.broker) {
			return b, nil
		}
	}
	return b, fmt.Errorf("bolide not ready within %v (no %q in its log or ports closed)", startTimeout, readyLine)
}

func accepts(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// stop sends SIGTERM, escalates to SIGKILL after stopTimeout; returns an error unless the exit was clean.
func (b *bolide) stop() error {
	if b.cmd == nil || b.cmd.Process == nil {
		return nil
	}
	select {
	case err := <-b.exited: // already gone: that is a failure (it should run until we stop it)
		return fmt.Errorf("bolide had already exited: %v", err)
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-b.exited:
		return err
	case <-time.After(stopTimeout):
		_ = b.cmd.Process.Kill()
		<-b.exited
		return fmt.Errorf("no exit %v after SIGTERM: killed", stopTimeout)
	}
}

func (b *bolide) logTail(n int) string {
	f, err := os.Open(b.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return fmt.Sprintf("---- %s (last %d lines) ----\n%s\n", b.logPath, len(lines), strings.Join(lines, "\n"))
}

// ctx returns a context bounded by d, cancelled at the end of the test.
func ctx(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}
