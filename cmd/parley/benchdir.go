package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/directory/identity"
)

// benchDirectoryResult is what 'parley bench directory' prints (DESIGN §6).
type benchDirectoryResult struct {
	Clients          int     `json:"clients"`
	Contacts         int     `json:"contacts_per_client"`
	LoginsPerS       float64 `json:"logins_per_s"`
	PresenceChanges  int     `json:"presence_changes"`
	ChangesPerS      float64 `json:"presence_changes_per_s"`
	FanoutDeliveries int     `json:"fanout_deliveries"`
	FanoutP50MS      float64 `json:"fanout_p50_ms"`
	FanoutP99MS      float64 `json:"fanout_p99_ms"`
	// ServerFanoutP99MS is the directory's own share: from a change's
	// publication on NATS to its frames being queued for the contacts
	// (the upper bound of the histogram bucket holding the 99th percentile).
	ServerFanoutP99MS float64 `json:"server_fanout_p99_ms"`
	RSSBytes          int64   `json:"rss_bytes"`
	RSSBytesPerClient float64 `json:"rss_bytes_per_client"`
	// Where the directory's memory per client goes (from its /metrics).
	HeapBytesPerClient  float64 `json:"heap_bytes_per_client"`
	StackBytesPerClient float64 `json:"stack_bytes_per_client"`
	GoroutinesPerClient float64 `json:"goroutines_per_client"`
}

func runBenchDirectory(ctx context.Context, args []string) error {
	var (
		clients, contacts, workers int
		rate                       float64
		duration                   time.Duration
		asJSON                     bool
	)
	fs := newFlagSet("bench directory", "bench directory [--clients N] [--contacts K] [--rate R] [--duration D] [--json]", os.Stderr)
	fs.IntVar(&clients, "clients", 1000, "connected clients")
	fs.IntVar(&contacts, "contacts", 20, "accepted contacts of each client (even, less than --clients)")
	fs.Float64Var(&rate, "rate", 1000, "presence changes per second")
	fs.DurationVar(&duration, "duration", 10*time.Second, "how long presence changes go on")
	fs.IntVar(&workers, "workers", 64, "concurrent logins")
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON line")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if clients < 2 || contacts < 2 || contacts%2 != 0 || contacts >= clients || rate <= 0 || duration <= 0 || workers < 1 {
		return badUsage("want --clients ≥ 2, an even --contacts ≥ 2 below --clients, and positive --rate, --duration, --workers")
	}
	// Each side of a connection is in its own process: the clients here,
	// the sessions in the directory, which inherits the limit.
	if err := raiseFileLimit(uint64(clients + 1024)); err != nil {
		return err
	}
	progress := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench directory: "+format+"\n", args...) }

	// State lives in a NATS server in this process, so that the contact
	// lists can be written straight into it; the directory is a child
	// process, so that its memory is its own.
	natsURL, stopNATS, err := startBenchNATS()
	if err != nil {
		return err
	}
	defer stopNATS()
	names := make([]string, clients)
	ids := make([]*identity.Identity, clients)
	for i := range clients {
		names[i] = fmt.Sprintf("u%06d", i)
		_, key, _ := ed25519.GenerateKey(rand.Reader) // never fails (crypto/rand)
		ids[i] = &identity.Identity{Private: key}
	}
	progress("writing %d contact lists of %d", clients, contacts)
	if err := seedContacts(ctx, natsURL, names, contacts); err != nil {
		return err
	}
	dir, addr, err := startBenchDirectory(ctx, natsURL)
	if err != nil {
		return err
	}
	defer func() {
		_ = dir.Process.Signal(syscall.SIGTERM)
		_ = dir.Wait()
	}()
	time.Sleep(500 * time.Millisecond)
	baseRSS, err := processRSS(dir.Process.Pid)
	if err != nil {
		return err
	}
	base, err := directoryMetrics(addr)
	if err != nil {
		return err
	}

	// Log in, from 127.0.0.2, .3, …: one source address has ~28k ports.
	fan := newLatencies()
	cs := make([]*directory.Client, clients)
	var logins, collectors sync.WaitGroup
	defer func() {
		for _, c := range cs {
			if c != nil {
				c.Close()
			}
		}
		collectors.Wait()
	}()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var (
		next   atomic.Int64
		failed atomic.Pointer[error]
	)
	start := time.Now()
	for range workers {
		logins.Add(1)
		go func() {
			defer logins.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= clients || failed.Load() != nil {
					return
				}
				c, err := dialBenchClient(ctx, addr, names[i], ids[i], i, quiet)
				if err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				cs[i] = c
				collectors.Add(1)
				go func() {
					defer collectors.Done()
					fan.collect(c)
				}()
			}
		}()
	}
	logins.Wait()
	if p := failed.Load(); p != nil {
		return fmt.Errorf("bench directory: login: %w", *p)
	}
	loginRate := float64(clients) / time.Since(start).Seconds()
	progress("%d clients logged in at %.0f/s", clients, loginRate)

	time.Sleep(2 * time.Second) // let the logins' presence settle
	rss, err := processRSS(dir.Process.Pid)
	if err != nil {
		return err
	}
	loaded, err := directoryMetrics(addr)
	if err != nil {
		return err
	}
	perClient := func(name string) float64 { return math.Round((loaded[name] - base[name]) / float64(clients)) }
	fan.reset()

	beforeChanges, err := directoryMetrics(addr)
	if err != nil {
		return err
	}
	progress("changing presence %.0f times a second for %v", rate, duration)
	changes := 0
	// Changes go out in batches every 10 ms (or less often at low rates),
	// as many as the elapsed time calls for, so the rate holds on average.
	tick := time.NewTicker(max(time.Duration(float64(time.Second)/rate), 10*time.Millisecond))
	defer tick.Stop()
	begin := time.Now()
	end := begin.Add(duration)
	var sends sync.WaitGroup
	for time.Now().Before(end) && ctx.Err() == nil {
		<-tick.C
		due := int(rate * time.Since(begin).Seconds())
		for changes < due {
			c := cs[mrand.IntN(clients)]
			status := directory.StatusAway
			if changes%2 == 0 {
				status = directory.StatusBusy
			}
			changes++
			sends.Add(1)
			go func() {
				defer sends.Done()
				note := strconv.FormatInt(time.Now().UnixNano(), 10)
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if err := c.SetStatus(sctx, status, note); err != nil && !errors.Is(err, directory.ErrRateLimited) {
					progress("set status: %v", err)
				}
			}()
		}
	}
	elapsed := time.Since(begin)
	sends.Wait()
	time.Sleep(time.Second) // the last fan-outs arrive
	p50, p99, n := fan.percentiles()
	afterChanges, err := directoryMetrics(addr)
	if err != nil {
		return err
	}
	res := benchDirectoryResult{
		Clients:           clients,
		Contacts:          contacts,
		LoginsPerS:        math.Round(loginRate),
		PresenceChanges:   changes,
		ChangesPerS:       math.Round(float64(changes) / elapsed.Seconds()),
		FanoutDeliveries:  n,
		FanoutP50MS:       math.Round(p50*100) / 100,
		FanoutP99MS:       math.Round(p99*100) / 100,
		ServerFanoutP99MS: serverFanoutP99(beforeChanges, afterChanges),
		RSSBytes:          rss,
		RSSBytesPerClient: math.Round(float64(rss-baseRSS) / float64(clients)),

		HeapBytesPerClient:  perClient("go_memstats_heap_inuse_bytes"),
		StackBytesPerClient: perClient("go_memstats_stack_inuse_bytes"),
		GoroutinesPerClient: perClient("go_goroutines"),
	}
	return printResult(os.Stdout, res, asJSON)
}

// raiseFileLimit raises this process's open-file limit (inherited by the
// directory it starts) to at least want, raising the hard limit too when
// allowed (root).
func raiseFileLimit(want uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("file limit: %w", err)
	}
	if lim.Cur >= want {
		return nil
	}
	raised := lim
	raised.Cur, raised.Max = want, max(lim.Max, want)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
		return nil
	}
	// Without the privilege to raise the hard limit, go as far as it allows.
	if lim.Max < want {
		return fmt.Errorf("open-file limit: need %d, the hard limit is %d (raise it as root: ulimit -Hn)", want, lim.Max)
	}
	lim.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise the open-file limit to %d: %w", want, err)
	}
	return nil
}

func startBenchNATS() (url string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "parley-bench-nats-")
	if err != nil {
		return "", nil, err
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true, MaxPayload: 1 << 20})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("bench NATS: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		os.RemoveAll(dir)
		return "", nil, errors.New("bench NATS: not ready")
	}
	return ns.ClientURL(), func() {
		ns.Shutdown()
		ns.WaitForShutdown()
		os.RemoveAll(dir)
	}, nil
}

// seedContacts makes user i and users i±1 … i±k/2 (mod n) accepted contacts.
func seedContacts(ctx context.Context, natsURL string, names []string, k int) error {
	n, err := directory.ConnectNATS(directory.NATSConfig{URL: natsURL})
	if err != nil {
		return err
	}
	defer n.Close()
	store, err := directory.OpenStore(ctx, n)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for i, name := range names {
		err := store.UpdateContacts(ctx, name, func(list map[string]directory.ContactRecord) {
			for d := 1; d <= k/2; d++ {
				for _, j := range []int{(i + d) % len(names), (i - d + len(names)) % len(names)} {
					list[names[j]] = directory.ContactRecord{State: directory.ContactAccepted, Updated: now}
				}
			}
		})
		if err != nil {
			return fmt.Errorf("seed contacts: %w", err)
		}
	}
	return nil
}

func startBenchDirectory(ctx context.Context, natsURL string) (*exec.Cmd, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.CommandContext(ctx, exe, "directory", "--listen", "127.0.0.1:0", "--nats", natsURL, "--log-level", "error")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start directory: %w", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "directory listening on ")
	if err != nil || !ok {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, "", fmt.Errorf("start directory: it said %q (%v)", line, err)
	}
	go io.Copy(io.Discard, out)
	return cmd, addr, nil
}

// dialBenchClient logs user in from source address 127.0.0.(2 + i/20000).
func dialBenchClient(ctx context.Context, addr, user string, id *identity.Identity, i int, log *slog.Logger) (*directory.Client, error) {
	src := &net.TCPAddr{IP: net.IPv4(127, 0, byte(i/(200*250)), byte(2+i/200%250))}
	dialer := &net.Dialer{LocalAddr: src}
	hc := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return directory.Dial(dctx, directory.ClientConfig{
		URL: addr, User: user, Identity: id, Logger: log, HTTPClient: hc,
		PingInterval: 10 * time.Minute, // the directory pings; the bench need not
	})
}

// latencies collects presence fan-out latencies: each change's note is its
// send time in Unix nanoseconds.
type latencies struct {
	mu sync.Mutex
	ms []float64
}

func newLatencies() *latencies { return &latencies{} }

func (l *latencies) collect(c *directory.Client) {
	for p := range c.PresenceUpdates() {
		sent, err := strconv.ParseInt(p.Note, 10, 64)
		if err != nil {
			continue
		}
		d := float64(time.Now().UnixNano()-sent) / 1e6
		l.mu.Lock()
		l.ms = append(l.ms, d)
		l.mu.Unlock()
	}
}

func (l *latencies) reset() {
	l.mu.Lock()
	l.ms = l.ms[:0]
	l.mu.Unlock()
}

func (l *latencies) percentiles() (p50, p99 float64, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ms) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(l.ms)
	slices.Sort(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.5), at(0.99), len(s)
}

// directoryMetrics returns the gauges and counters without labels that the
// directory at addr serves on /metrics.
func directoryMetrics(addr string) (map[string]float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("directory metrics: %w", err)
	}
	defer resp.Body.Close()
	m := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if le, isBucket := strings.CutPrefix(name, fanoutBucketPrefix); isBucket {
			name = "fanout_le_" + strings.TrimSuffix(strings.TrimPrefix(le, `{le="`), `"}`)
		} else if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			m[name] = v
		}
	}
	return m, sc.Err()
}

const fanoutBucketPrefix = "parley_directory_presence_fanout_seconds_bucket"

// serverFanoutP99 returns the upper bound, in ms, of the fan-out histogram
// bucket that holds the 99th percentile of the changes between two
// snapshots of the directory's metrics.
func serverFanoutP99(before, after map[string]float64) float64 {
	type bucket struct{ le, n float64 }
	var bs []bucket
	for name, v := range after {
		le, ok := strings.CutPrefix(name, "fanout_le_")
		if !ok {
			continue
		}
		bound, err := strconv.ParseFloat(le, 64)
		if err != nil { // +Inf
			bound = math.Inf(1)
		}
		bs = append(bs, bucket{bound, v - before[name]})
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		return 0
	}
	for _, b := range bs {
		if b.n >= 0.99*bs[len(bs)-1].n {
			return b.le * 1000
		}
	}
	return math.Inf(1)
}

// processRSS returns the resident memory of process pid, from /proc.
func processRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("RSS: %w", err)
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("RSS: %q: %w", line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("RSS: no VmRSS in /proc status")
}
