package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
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
	Clients    int `json:"clients"`
	Connected  int `json:"connected"` // sessions the directories counted once all had logged in
	Nodes      int `json:"nodes"`
	Generators int `json:"generators"`
	Contacts   int `json:"contacts_per_client"`

	LoginsPerS       float64 `json:"logins_per_s"`
	PresenceChanges  int     `json:"presence_changes"`
	ChangesPerS      float64 `json:"presence_changes_per_s"`
	FanoutDeliveries int     `json:"fanout_deliveries"`
	FanoutP50MS      float64 `json:"fanout_p50_ms"`
	FanoutP99MS      float64 `json:"fanout_p99_ms"`
	// ServerFanoutP99MS is the directories' own share: from a change's
	// publication on NATS to its frames being queued for the contacts
	// (the upper bound of the histogram bucket holding the 99th percentile;
	// -1 if beyond the largest bound, 1 s).
	ServerFanoutP99MS float64 `json:"server_fanout_p99_ms"`

	// Memory of the directory processes, summed, once the presence changes
	// are over (their garbage collected, as in a steady state): RSSBytes in
	// all; per client, what the clients added to the idle directories.
	RSSBytes          int64   `json:"rss_bytes"`
	RSSBytesPerClient float64 `json:"rss_bytes_per_client"`
	// Where the directories' memory per client goes (from their /metrics).
	HeapBytesPerClient  float64 `json:"heap_bytes_per_client"`
	StackBytesPerClient float64 `json:"stack_bytes_per_client"`
	GoroutinesPerClient float64 `json:"goroutines_per_client"`
}

// clientsPerGenerator is how many clients one load generator process
// drives by default: each holds a file descriptor, and a process may be
// allowed no more than 20,000.
const clientsPerGenerator = 16000

func runBenchDirectory(ctx context.Context, args []string) error {
	if os.Getenv(benchGeneratorEnv) != "" {
		return runBenchGenerator(ctx, os.Stdin, os.Stdout)
	}
	var (
		clients, contacts, workers, nodes, generators int
		rate                                          float64
		duration                                      time.Duration
		asJSON                                        bool
	)
	fs := newFlagSet("bench directory", "bench directory [--clients N] [--nodes M] [--generators G] [--contacts K] [--rate R] [--duration D] [--json]", os.Stderr)
	fs.IntVar(&clients, "clients", 1000, "connected clients")
	fs.IntVar(&nodes, "nodes", 1, "directory processes on one NATS, the clients spread over them")
	fs.IntVar(&generators, "generators", 0, fmt.Sprintf("load generator processes (0: one per %d clients)", clientsPerGenerator))
	fs.IntVar(&contacts, "contacts", 20, "accepted contacts of each client (even, less than --clients)")
	fs.Float64Var(&rate, "rate", 1000, "presence changes per second")
	fs.DurationVar(&duration, "duration", 10*time.Second, "how long presence changes go on")
	fs.IntVar(&workers, "workers", 64, "concurrent logins, over all generators")
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON line")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if clients < 2 || contacts < 2 || contacts%2 != 0 || contacts >= clients || rate <= 0 || duration <= 0 || workers < 1 || nodes < 1 || generators < 0 {
		return badUsage("want --clients ≥ 2, an even --contacts ≥ 2 below --clients, and positive --rate, --duration, --workers, --nodes")
	}
	if generators == 0 {
		generators = (clients + clientsPerGenerator - 1) / clientsPerGenerator
	}
	generators = min(generators, clients)
	// Every process holds one end of its clients' connections: a directory
	// its share of sessions, a generator its share of clients. They
	// inherit this process's limit.
	perProcess := max((clients+nodes-1)/nodes, (clients+generators-1)/generators)
	if err := raiseFileLimit(uint64(perProcess + 1024)); err != nil {
		return fmt.Errorf("%w; or spread the clients over more --nodes and --generators", err)
	}
	began := time.Now()
	progress := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "bench directory: %5.1fs: "+format+"\n", append([]any{time.Since(began).Seconds()}, args...)...)
	}

	// State lives in a NATS server in this process, so that the contact
	// lists can be written straight into it; directories and generators
	// are child processes, so that each one's memory and scheduler are its
	// own.
	natsURL, stopNATS, err := startBenchNATS()
	if err != nil {
		return err
	}
	defer stopNATS()
	progress("writing %d contact lists of %d", clients, contacts)
	if err := seedContacts(ctx, natsURL, clients, contacts); err != nil {
		return err
	}
	dirs := make([]*benchDirectory, nodes)
	gens := make([]*benchGenerator, generators)
	// The directories are killed first: shutting 100,000 sessions down
	// gracefully (each announced offline, its last-seen time written) is
	// minutes of work that is not what this measures.
	defer func() {
		for _, d := range dirs {
			if d != nil {
				d.kill()
			}
		}
		for _, g := range gens {
			if g != nil {
				g.stop()
			}
		}
	}()
	var addrs []string
	for i := range dirs {
		if dirs[i], err = startBenchDirectory(ctx, natsURL); err != nil {
			return err
		}
		addrs = append(addrs, dirs[i].addr)
	}
	time.Sleep(500 * time.Millisecond)
	base, err := sampleDirectories(dirs)
	if err != nil {
		return err
	}

	for i := range gens {
		first, next := i*clients/generators, (i+1)*clients/generators
		cfg := generatorConfig{First: first, Count: next - first, Clients: clients, Targets: addrs, Workers: max(8, workers/generators)}
		if gens[i], err = startBenchGenerator(ctx, cfg); err != nil {
			return err
		}
	}
	if err := allGenerators(gens, generatorCommand{Cmd: "prepare"}, nil); err != nil {
		return err
	}

	progress("logging %d clients in to %d directories from %d generators", clients, nodes, generators)
	start := time.Now()
	if err := allGenerators(gens, generatorCommand{Cmd: "login"}, nil); err != nil {
		return err
	}
	loginRate := float64(clients) / time.Since(start).Seconds()
	progress("%d clients logged in at %.0f/s", clients, loginRate)
	time.Sleep(2 * time.Second) // let the logins' presence settle
	loaded, err := sampleDirectories(dirs)
	if err != nil {
		return err
	}

	progress("changing presence %.0f times a second for %v", rate, duration)
	var (
		latencies []float64
		changes   int
	)
	change := generatorCommand{Cmd: "change", Rate: rate / float64(generators), Duration: duration.String()}
	err = allGenerators(gens, change, func(r generatorReport) {
		latencies = append(latencies, r.LatenciesMS...)
		changes += r.Changes
	})
	if err != nil {
		return err
	}
	after, err := sampleDirectories(dirs)
	if err != nil {
		return err
	}
	p50, p99 := percentiles(latencies)
	perClient := func(name string) float64 { return math.Round((after[name] - base[name]) / float64(clients)) }
	res := benchDirectoryResult{
		Clients:           clients,
		Connected:         int(loaded["parley_directory_sessions"]),
		Nodes:             nodes,
		Generators:        generators,
		Contacts:          contacts,
		LoginsPerS:        math.Round(loginRate),
		PresenceChanges:   changes,
		ChangesPerS:       math.Round(float64(changes) / duration.Seconds()),
		FanoutDeliveries:  len(latencies),
		FanoutP50MS:       math.Round(p50*100) / 100,
		FanoutP99MS:       math.Round(p99*100) / 100,
		ServerFanoutP99MS: serverFanoutP99(loaded, after),
		RSSBytes:          int64(after["rss"]),

		RSSBytesPerClient:   perClient("rss"),
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

// benchUser is the name of the bench's client i.
func benchUser(i int) string { return fmt.Sprintf("u%06d", i) }

// seedContacts makes users i and i±1 … i±k/2 (mod n) accepted contacts.
func seedContacts(ctx context.Context, natsURL string, n, k int) error {
	nc, err := directory.ConnectNATS(directory.NATSConfig{URL: natsURL})
	if err != nil {
		return err
	}
	defer nc.Close()
	store, err := directory.OpenStore(ctx, nc)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	var (
		next   atomic.Int64
		failed atomic.Pointer[error]
		wg     sync.WaitGroup
	)
	for range 16 { // JetStream answers each write in ~0.1 ms: overlap them
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n && failed.Load() == nil; i = int(next.Add(1) - 1) {
				err := store.UpdateContacts(ctx, benchUser(i), func(list map[string]directory.ContactRecord) {
					for d := 1; d <= k/2; d++ {
						for _, j := range []int{(i + d) % n, (i - d + n) % n} {
							list[benchUser(j)] = directory.ContactRecord{State: directory.ContactAccepted, Updated: now}
						}
					}
				})
				if err != nil {
					err = fmt.Errorf("seed contacts: %w", err)
					failed.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		return *p
	}
	return nil
}

// benchDirectory is a 'parley directory' child process.
type benchDirectory struct {
	cmd  *exec.Cmd
	addr string
}

func startBenchDirectory(ctx context.Context, natsURL string) (*benchDirectory, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "directory", "--listen", "127.0.0.1:0", "--nats", natsURL, "--log-level", "error")
	cmd.SysProcAttr = diesWithParent()
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start directory: %w", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "directory listening on ")
	if err != nil || !ok {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("start directory: it said %q (%v)", line, err)
	}
	go io.Copy(io.Discard, out)
	return &benchDirectory{cmd: cmd, addr: addr}, nil
}

// diesWithParent makes a child process get SIGKILL if the benchmark dies,
// so that no directory or generator outlives it.
func diesWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

func (d *benchDirectory) kill() {
	_ = d.cmd.Process.Kill()
	_ = d.cmd.Wait()
}

// sampleDirectories returns the directories' metrics (see
// directoryMetrics) and resident memory ("rss"), each summed over them.
func sampleDirectories(dirs []*benchDirectory) (map[string]float64, error) {
	total := make(map[string]float64)
	for _, d := range dirs {
		m, err := directoryMetrics(d.addr)
		if err != nil {
			return nil, err
		}
		rss, err := processRSS(d.cmd.Process.Pid)
		if err != nil {
			return nil, err
		}
		m["rss"] = float64(rss)
		for name, v := range m {
			total[name] += v
		}
	}
	return total, nil
}

// The load generators are child processes of the benchmark ('parley bench
// directory' with benchGeneratorEnv set), each driving a share of the
// clients, so that no process needs more file descriptors than it may
// have and the clients do not share the directories' or NATS's scheduler.
// The benchmark talks to each over its stdin and stdout, one JSON object a
// line: a generatorConfig, then generatorCommands ("prepare", "login",
// "change"), each answered by a generatorReport; end of input ends it.
const benchGeneratorEnv = "PARLEY_BENCH_DIRECTORY_GENERATOR"

type generatorConfig struct {
	First, Count int      // the generator's clients: benchUser(First) …
	Clients      int      // in all
	Targets      []string // directories; client i uses Targets[i % len]
	Workers      int      // concurrent logins
}

type generatorCommand struct {
	Cmd      string  `json:"cmd"`
	Rate     float64 `json:"rate,omitempty"`     // change: presence changes per second
	Duration string  `json:"duration,omitempty"` // change: for how long
}

type generatorReport struct {
	Error       string    `json:"error,omitempty"`
	Changes     int       `json:"changes,omitempty"`
	LatenciesMS []float64 `json:"latencies_ms,omitempty"` // fan-out latency of each change to each contact
}

type benchGenerator struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *json.Decoder
}

func startBenchGenerator(ctx context.Context, cfg generatorConfig) (*benchGenerator, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "bench", "directory")
	cmd.SysProcAttr = diesWithParent()
	cmd.Env = append(os.Environ(), benchGeneratorEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start load generator: %w", err)
	}
	g := &benchGenerator{cmd: cmd, in: in, out: json.NewDecoder(out)}
	if err := json.NewEncoder(in).Encode(cfg); err != nil {
		g.stop()
		return nil, fmt.Errorf("load generator: %w", err)
	}
	return g, nil
}

// stop ends the generator's input, which closes its clients, and waits.
func (g *benchGenerator) stop() {
	_ = g.in.Close()
	done := make(chan struct{})
	go func() {
		_ = g.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = g.cmd.Process.Kill()
		<-done
	}
}

// allGenerators sends every generator cmd, then waits for each one's
// report and hands it to onReport (if not nil).
func allGenerators(gens []*benchGenerator, cmd generatorCommand, onReport func(generatorReport)) error {
	for _, g := range gens {
		if err := json.NewEncoder(g.in).Encode(cmd); err != nil {
			return fmt.Errorf("load generator: %s: %w", cmd.Cmd, err)
		}
	}
	for _, g := range gens {
		var r generatorReport
		if err := g.out.Decode(&r); err != nil {
			return fmt.Errorf("load generator: %s: no report: %w", cmd.Cmd, err)
		}
		if r.Error != "" {
			return fmt.Errorf("load generator: %s: %s", cmd.Cmd, r.Error)
		}
		if onReport != nil {
			onReport(r)
		}
	}
	return nil
}

// runBenchGenerator is a load generator's side of the conversation.
func runBenchGenerator(ctx context.Context, in io.Reader, out io.Writer) error {
	dec, enc := json.NewDecoder(in), json.NewEncoder(out)
	var cfg generatorConfig
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("load generator: config: %w", err)
	}
	g := &generator{cfg: cfg, fan: &latencyLog{}}
	defer g.close()
	for {
		var cmd generatorCommand
		err := dec.Decode(&cmd)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("load generator: command: %w", err)
		}
		var r generatorReport
		switch cmd.Cmd {
		case "prepare":
			g.prepare()
		case "login":
			err = g.login(ctx)
		case "change":
			var d time.Duration
			if d, err = time.ParseDuration(cmd.Duration); err == nil {
				r.Changes = g.change(ctx, cmd.Rate, d)
				r.LatenciesMS = g.fan.take()
			}
		default:
			err = fmt.Errorf("unknown command %q", cmd.Cmd)
		}
		if err != nil {
			r.Error = err.Error()
		}
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("load generator: report: %w", err)
		}
	}
}

// generator drives a share of the benchmark's clients.
type generator struct {
	cfg        generatorConfig
	ids        []*identity.Identity
	cs         []*directory.Client
	fan        *latencyLog
	collectors sync.WaitGroup
}

func (g *generator) prepare() {
	g.ids = make([]*identity.Identity, g.cfg.Count)
	for i := range g.ids {
		_, key, _ := ed25519.GenerateKey(rand.Reader) // never fails (crypto/rand)
		g.ids[i] = &identity.Identity{Private: key}
	}
}

// login logs every client in, from cfg.Workers goroutines.
func (g *generator) login(ctx context.Context) error {
	g.cs = make([]*directory.Client, g.cfg.Count)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var (
		next   atomic.Int64
		failed atomic.Pointer[error]
		wg     sync.WaitGroup
	)
	for range g.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := int(next.Add(1) - 1); k < g.cfg.Count && failed.Load() == nil; k = int(next.Add(1) - 1) {
				i := g.cfg.First + k
				c, err := dialBenchClient(ctx, g.cfg.Targets[i%len(g.cfg.Targets)], benchUser(i), g.ids[k], i, quiet)
				if err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				g.cs[k] = c
				g.collectors.Add(1)
				go func() {
					defer g.collectors.Done()
					g.fan.collect(c)
				}()
			}
		}()
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		return *p
	}
	return nil
}

// change sets random clients' status at rate per second for d, each
// change's note its send time, and returns how many it made; the fan-out
// latencies of changes before it are dropped.
func (g *generator) change(ctx context.Context, rate float64, d time.Duration) int {
	g.fan.take()
	changes := 0
	// Changes go out in batches every 10 ms (or less often at low rates),
	// as many as the elapsed time calls for, so the rate holds on average.
	tick := time.NewTicker(max(time.Duration(float64(time.Second)/rate), 10*time.Millisecond))
	defer tick.Stop()
	begin := time.Now()
	var sends sync.WaitGroup
	for time.Since(begin) < d && ctx.Err() == nil {
		<-tick.C
		for due := int(rate * time.Since(begin).Seconds()); changes < due; changes++ {
			c := g.cs[mrand.IntN(len(g.cs))]
			status := directory.StatusAway
			if changes%2 == 0 {
				status = directory.StatusBusy
			}
			sends.Add(1)
			go func() {
				defer sends.Done()
				note := strconv.FormatInt(time.Now().UnixNano(), 10)
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if err := c.SetStatus(sctx, status, note); err != nil && !errors.Is(err, directory.ErrRateLimited) {
					fmt.Fprintf(os.Stderr, "bench directory: set status: %v\n", err)
				}
			}()
		}
	}
	sends.Wait()
	time.Sleep(time.Second) // the last fan-outs arrive
	return changes
}

func (g *generator) close() {
	for _, c := range g.cs {
		if c != nil {
			c.Close()
		}
	}
	g.collectors.Wait()
}

// dialBenchClient logs user in from source address 127.0.x.y, 200
// clients to an address (one address has some 28,000 ports).
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

// latencyLog collects presence fan-out latencies: each change's note is
// its send time in Unix nanoseconds.
type latencyLog struct {
	mu sync.Mutex
	ms []float64
}

func (l *latencyLog) collect(c *directory.Client) {
	for p := range c.PresenceUpdates() {
		sent, err := strconv.ParseInt(p.Note, 10, 64)
		if err != nil {
			continue
		}
		d := float64(time.Now().UnixNano()-sent) / 1e6
		l.mu.Lock()
		l.ms = append(l.ms, math.Round(d*100)/100)
		l.mu.Unlock()
	}
}

// take returns the latencies collected so far and forgets them.
func (l *latencyLog) take() []float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	ms := l.ms
	l.ms = nil
	return ms
}

// percentiles returns the median and 99th percentile of ms.
func percentiles(ms []float64) (p50, p99 float64) {
	if len(ms) == 0 {
		return 0, 0
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.5), at(0.99)
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
	for _, b := range bs[:len(bs)-1] {
		if b.n >= 0.99*bs[len(bs)-1].n {
			return b.le * 1000
		}
	}
	return -1 // beyond the histogram's largest bound
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
