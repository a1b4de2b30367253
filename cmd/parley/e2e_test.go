package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/media"
	"github.com/parley-voip/parley/media/quality"
)

// The end-to-end tests build the parley binary and run it as separate
// processes: a directory, one client answering and one calling, with real
// WebSockets, real PeerConnections over loopback, real DTLS-SRTP and Opus.
// What each side recorded is checked against what the other side said.

const (
	speechA = "The quick brown fox jumps over the lazy dog, then runs far away into the quiet green forest."
	speechB = "Peer to peer voice calls need low latency, good codecs, and a relay when the network gets in the way."
	// minCorrelation is what quality.Compare must reach for "the same speech".
	minCorrelation = 0.8
	// maxCorrelationOther is what it must stay under for different audio.
	maxCorrelationOther = 0.5
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// parleyBinary builds cmd/parley once per test run.
func parleyBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "parley-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "parley")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a parley process under test whose stdout lines can be awaited.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

func startParley(t *testing.T, args ...string) *proc {
	t.Helper()
	return startParleyWithStdin(t, nil, args...)
}

// startParleyWithStdin is startParley with stdin read from r (nil: none).
func startParleyWithStdin(t *testing.T, stdin io.Reader, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(parleyBinary(t), args...), lines: make(chan string, 100), done: make(chan struct{})}
	p.cmd.Stderr = &p.stderr
	p.cmd.Stdin = stdin
	// A process that exits does not end the copying from a stdin that is
	// not a file; Wait gives up on it after this.
	p.cmd.WaitDelay = time.Second
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("parley %s stderr:\n%s", strings.Join(args, " "), p.stderr.String())
		}
	})
	return p
}

// await returns the first stdout line containing substr.
func (p *proc) await(t *testing.T, substr string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line := <-p.lines:
			if strings.Contains(line, substr) {
				return line
			}
		case <-p.done:
			t.Fatalf("process exited (%v) before printing %q; stderr:\n%s", p.err, substr, p.stderr.String())
		case <-deadline:
			t.Fatalf("no %q within %v", substr, timeout)
		}
	}
}

// wait waits for the process to exit and returns its error.
func (p *proc) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("process did not exit within %v", timeout)
		return nil
	}
}

// cpuPerSecond is the process's CPU time per second of its wall-clock life.
func (p *proc) cpuPerSecond(wall time.Duration) float64 {
	st := p.cmd.ProcessState
	return (st.UserTime() + st.SystemTime()).Seconds() / wall.Seconds()
}

// startDirectory runs 'parley directory' on a free loopback port, with
// extra flags if any, and returns its address.
func startDirectory(t *testing.T, extra ...string) string {
	t.Helper()
	p := startParley(t, append([]string{"directory", "--listen", "127.0.0.1:0", "--data", t.TempDir()}, extra...)...)
	line := p.await(t, "directory listening on", 10*time.Second)
	return strings.TrimSpace(strings.TrimPrefix(line, "directory listening on"))
}

// speechFile synthesises text into a WAV in dir (at espeak-ng's own rate,
// so the client's resampling is exercised) and returns its path and the
// samples at 48 kHz as the client reads them.
func speechFile(t *testing.T, dir, name, text, voice string) (string, []int16) {
	t.Helper()
	pcm, rate, err := quality.Synthesize(context.Background(), text, voice)
	if errors.Is(err, exec.ErrNotFound) {
		t.Skip("espeak-ng is not installed (make test installs it): no speech to send")
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := media.WriteWAV(path, pcm, rate); err != nil {
		t.Fatal(err)
	}
	at48k, err := media.ReadWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, at48k
}

func readStats(t *testing.T, path string) []call.Stats {
	t.Helper()
	return readJSONLines[call.Stats](t, path)
}

// readJSONLines reads a file of JSON objects, one a line (--stats).
func readJSONLines[T any](t *testing.T, path string) []T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var all []T
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var v T
		if err := dec.Decode(&v); errors.Is(err, io.EOF) {
			return all
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		all = append(all, v)
	}
}

// checkHeard asserts that a recording carries the speech that was sent,
// and does not pass for the speech that was not.
func checkHeard(t *testing.T, who string, recording string, sent, notSent []int16) quality.Result {
	t.Helper()
	heard, err := media.ReadWAV(recording)
	if err != nil {
		t.Fatalf("%s's recording: %v", who, err)
	}
	res, err := quality.Compare(sent, heard, media.SampleRate, time.Second)
	if err != nil {
		t.Fatalf("%s: compare: %v", who, err)
	}
	t.Logf("%s heard the sent speech: correlation %.3f at lag %v", who, res.Correlation, res.Lag)
	if res.Correlation < minCorrelation {
		t.Errorf("%s's recording matches the sent speech with correlation %.3f, want ≥ %.2f", who, res.Correlation, minCorrelation)
	}
	if res.Lag < 0 || res.Lag > 500*time.Millisecond {
		t.Errorf("%s heard the speech %v late, want 0..500ms", who, res.Lag)
	}
	other, err := quality.Compare(notSent, heard, media.SampleRate, time.Second)
	if err == nil && other.Correlation >= maxCorrelationOther {
		t.Errorf("%s's recording also matches speech nobody sent (correlation %.3f): the check cannot tell", who, other.Correlation)
	}
	return res
}

func checkRecordingLength(t *testing.T, who, recording string, callSeconds float64) {
	t.Helper()
	heard, err := media.ReadWAV(recording)
	if err != nil {
		t.Fatal(err)
	}
	got := float64(len(heard)) / media.SampleRate
	// Real time: 48,000 samples a second of call; allow for the call's
	// ending being seen a little earlier or later on each side.
	if got < callSeconds-0.5 || got > callSeconds+0.5 {
		t.Errorf("%s recorded %.2f s for a %.2f s call", who, got, callSeconds)
	}
}

// runner runs parley somewhere: on this host, or in a NAT lab namespace.
type runner struct {
	start func(t *testing.T, args ...string) *proc // a process the test waits for
	run   func(t *testing.T, args ...string)       // a command that must succeed
}

var onThisHost = runner{start: startParley, run: func(t *testing.T, args ...string) { runParley(t, args...) }}

// befriend makes alice and bob contacts, as only contacts may call: alice
// asks, bob (a control session beside a running 'parley answer') accepts.
// Their homes are under dir.
func befriend(t *testing.T, alice, bob runner, dir, dirAddr string) {
	t.Helper()
	alice.run(t, "contacts", "add", "bob", "--user", "alice", "--home", filepath.Join(dir, "alice"), "--directory", dirAddr)
	bob.run(t, "contacts", "accept", "alice", "--user", "bob", "--home", filepath.Join(dir, "bob"), "--directory", dirAddr)
}

// talk is the call most end-to-end tests make: bob answers one call, alice
// asks him to be her contact and he accepts, then alice calls him; each
// sends its own speech sample and records what it hears.
type talk struct {
	dirAddr  string
	duration time.Duration // alice hangs up after it; 0 → 7 s
	// alice and bob say where each runs; the zero runner is this host.
	alice, bob runner
	// aliceFlags and bobFlags come last on their command lines, so they
	// win over the defaults (ICE servers, frame sizes, another --directory).
	aliceFlags, bobFlags []string
}

// talked is what a talk left behind.
type talked struct {
	dir                  string // recordings and stats files
	alice, bob           call.Stats
	aliceProc, bobProc   *proc
	aliceWall, bobWall   time.Duration // each process's life from alice's start
	speechA48, speechB48 []int16       // what alice and bob sent, at 48 kHz
}

func (tk talk) run(t *testing.T) talked {
	t.Helper()
	if tk.duration == 0 {
		tk.duration = 7 * time.Second
	}
	if tk.alice.start == nil {
		tk.alice = onThisHost
	}
	if tk.bob.start == nil {
		tk.bob = onThisHost
	}
	r := talked{dir: t.TempDir()}
	in := func(name string) string { return filepath.Join(r.dir, name) }
	var aPath, bPath string
	aPath, r.speechA48 = speechFile(t, r.dir, "a.wav", speechA, "en")
	bPath, r.speechB48 = speechFile(t, r.dir, "b.wav", speechB, "en+f3")

	r.bobProc = tk.bob.start(t, append([]string{"answer", "--calls", "1", "--user", "bob", "--home", in("bob"),
		"--directory", tk.dirAddr, "--mic", "file:" + bPath, "--speaker", "file:" + in("bob-heard.wav"),
		"--stats", in("bob.json")}, tk.bobFlags...)...)
	r.bobProc.await(t, "waiting for calls", 10*time.Second)
	befriend(t, tk.alice, tk.bob, r.dir, tk.dirAddr)

	start := time.Now()
	// Flags after the positional argument, as DESIGN §6 allows.
	r.aliceProc = tk.alice.start(t, append([]string{"call", "bob", "--user", "alice", "--home", in("alice"),
		"--directory", tk.dirAddr, "--duration", tk.duration.String(), "--mic", "file:" + aPath,
		"--speaker", "file:" + in("alice-heard.wav"), "--stats", in("alice.json")}, tk.aliceFlags...)...)
	if err := r.aliceProc.wait(t, tk.duration+30*time.Second); err != nil {
		t.Fatalf("parley call: %v\n%s", err, r.aliceProc.stderr.String())
	}
	r.aliceWall = time.Since(start)
	if err := r.bobProc.wait(t, 10*time.Second); err != nil {
		t.Fatalf("parley answer: %v\n%s", err, r.bobProc.stderr.String())
	}
	r.bobWall = time.Since(start)
	as, bs := readStats(t, in("alice.json")), readStats(t, in("bob.json"))
	if len(as) != 1 || len(bs) != 1 {
		t.Fatalf("got %d and %d stats lines, want 1 each", len(as), len(bs))
	}
	r.alice, r.bob = as[0], bs[0]
	return r
}

// checkHeard checks that each side heard the other's speech and not its own.
func (r talked) checkHeard(t *testing.T) {
	t.Helper()
	checkHeard(t, "bob", filepath.Join(r.dir, "bob-heard.wav"), r.speechA48, r.speechB48)
	checkHeard(t, "alice", filepath.Join(r.dir, "alice-heard.wav"), r.speechB48, r.speechA48)
}

// checkRecordingLengths checks that each recording holds its call in real time.
func (r talked) checkRecordingLengths(t *testing.T) {
	t.Helper()
	checkRecordingLength(t, "alice", filepath.Join(r.dir, "alice-heard.wav"), r.alice.DurationS)
	checkRecordingLength(t, "bob", filepath.Join(r.dir, "bob-heard.wav"), r.bob.DurationS)
}

func TestCallBetweenTwoClients(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end call skipped in -short mode")
	}
	addr := startDirectory(t)
	r := talk{dirAddr: addr, aliceFlags: []string{"--directory", "http://" + addr}}.run(t)
	t.Logf("CPU per second of process life: alice %.3f, bob %.3f", r.aliceProc.cpuPerSecond(r.aliceWall), r.bobProc.cpuPerSecond(r.bobWall))
	t.Logf("alice: %+v", r.alice)
	t.Logf("bob:   %+v", r.bob)
	checkStats(t, "alice", r.alice, "bob", call.Outgoing, call.EndLocalHangup, 7)
	checkStats(t, "bob", r.bob, "alice", call.Incoming, call.EndRemoteHangup, 7)
	r.checkHeard(t)
	r.checkRecordingLengths(t)
}

func checkStats(t *testing.T, who string, s call.Stats, peer string, dir call.Direction, reason call.EndReason, seconds float64) {
	t.Helper()
	if s.Peer != peer || s.Direction != dir || s.EndReason != reason {
		t.Errorf("%s: peer/direction/end = %s/%s/%s, want %s/%s/%s", who, s.Peer, s.Direction, s.EndReason, peer, dir, reason)
	}
	if s.Path != "direct" || s.LocalCandidateType == "" || s.RemoteCandidateType == "" {
		t.Errorf("%s: path %q (%s/%s), want direct", who, s.Path, s.LocalCandidateType, s.RemoteCandidateType)
	}
	if s.SetupMS <= 0 || s.SetupMS > 5000 {
		t.Errorf("%s: setup_ms %.1f, want 0 < setup ≤ 5000", who, s.SetupMS)
	}
	if s.DurationS < seconds-1 || s.DurationS > seconds+1 {
		t.Errorf("%s: duration_s %.2f, want %.0f±1", who, s.DurationS, seconds)
	}
	// DTX sends nothing in silence, so count only the speech: several
	// seconds of it at 50 packets/s.
	if s.PacketsSent < 100 || s.PacketsReceived < 100 {
		t.Errorf("%s: sent %d, received %d packets, want ≥ 100 each", who, s.PacketsSent, s.PacketsReceived)
	}
	if s.PacketsLost > s.PacketsReceived/20 {
		t.Errorf("%s: lost %d of %d packets on loopback", who, s.PacketsLost, s.PacketsReceived)
	}
	if s.Codec != "opus/48000" || s.BitrateBPS <= 0 || s.TotalSamples == 0 {
		t.Errorf("%s: codec %q bitrate %.0f total_samples %d", who, s.Codec, s.BitrateBPS, s.TotalSamples)
	}
}

func TestEchoService(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end call skipped in -short mode")
	}
	dir := t.TempDir()
	aPath, speechA48 := speechFile(t, dir, "a.wav", speechA, "en")
	_, speechB48 := speechFile(t, dir, "b.wav", speechB, "en+f3")
	addr := startDirectory(t)

	echo := startParley(t, "echo", "--home", filepath.Join(dir, "echo"), "--directory", addr)
	echo.await(t, "echo service is up", 10*time.Second)

	alice := startParley(t, "call", "echo", "--user", "alice", "--home", filepath.Join(dir, "alice"),
		"--directory", addr, "--duration", "7s", "--mic", "file:"+aPath,
		"--speaker", "file:"+filepath.Join(dir, "alice-heard.wav"), "--stats", filepath.Join(dir, "alice.json"))
	if err := alice.wait(t, 30*time.Second); err != nil {
		t.Fatalf("parley call echo: %v\n%s", err, alice.stderr.String())
	}
	stats := readStats(t, filepath.Join(dir, "alice.json"))
	if len(stats) != 1 {
		t.Fatalf("got %d stats lines, want 1", len(stats))
	}
	checkStats(t, "alice", stats[0], "echo", call.Outgoing, call.EndLocalHangup, 7)
	res := checkHeard(t, "alice", filepath.Join(dir, "alice-heard.wav"), speechA48, speechB48)
	t.Logf("round trip through the echo service: %v", res.Lag)
}

func TestCallFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end call skipped in -short mode")
	}
	dir := t.TempDir()
	addr := startDirectory(t)
	// carol exists (she logged in once) but is offline now.
	carol := startParley(t, "answer", "--calls", "1", "--user", "carol", "--home", filepath.Join(dir, "carol"),
		"--directory", addr, "--mic", "silence", "--speaker", "null")
	carol.await(t, "waiting for calls", 10*time.Second)
	carol.cmd.Process.Signal(os.Interrupt)
	if err := carol.wait(t, 10*time.Second); err != nil {
		t.Fatalf("carol did not exit cleanly on interrupt: %v", err)
	}

	echo := startParley(t, "echo", "--home", filepath.Join(dir, "echo"), "--directory", addr)
	echo.await(t, "echo service is up", 10*time.Second)

	type failure struct {
		name     string
		args     []string
		wantErr  string // in the output
		wantCode int    // 1: the call failed; 2: the command line was wrong
		// wantStats is the end_reason of the stats line written, if any.
		wantStats call.EndReason
	}
	tests := []failure{
		{"directory-unreachable", []string{"call", "bob", "--directory", "127.0.0.1:1"}, "unreachable", 1, ""},
		{"no-such-user", []string{"call", "nobody-here", "--directory", addr}, "no such user", 1, call.EndNoSuchUser},
		{"offline", []string{"call", "carol", "--directory", addr}, "offline", 1, call.EndOffline},
		{"yourself", []string{"call", "alice", "--directory", addr}, "yourself", 1, call.EndFailed},
		// Devices are checked before the directory is asked anything.
		{"bad-mic", []string{"call", "nobody-here", "--directory", addr, "--mic", "file:/nonexistent.wav"}, "microphone", 1, call.EndFailed},
		{"bad-speaker", []string{"call", "echo", "--directory", addr, "--mic", "silence", "--speaker", "nowhere"}, "speaker", 1, call.EndFailed},
		{"unknown-flag", []string{"call", "bob", "--no-such-flag"}, "flag provided but not defined", 2, ""},
		{"missing-name", []string{"call", "--directory", addr}, "want 1 argument", 2, ""},
		{"bad-name", []string{"call", "Bob!", "--directory", addr}, "not a username", 2, ""},
		{"bad-log-level", []string{"call", "bob", "--log-level", "loud"}, "--log-level", 2, ""},
		{"bad-ice-server", []string{"call", "bob", "--ice-server", "http://x"}, "ice server", 2, ""},
		{"negative-duration", []string{"call", "bob", "--duration", "-5s"}, "--duration", 2, ""},
		{"negative-calls", []string{"answer", "--calls", "-1"}, "--calls", 2, ""},
		{"mic-gain-too-high", []string{"call", "bob", "--mic-gain", "21"}, "at most +20", 2, ""},
		{"speaker-volume-too-high", []string{"answer", "--speaker-volume", "30"}, "at most +20", 2, ""},
	}
	if _, err := os.Stat("/dev/snd"); errors.Is(err, os.ErrNotExist) {
		tests = append(tests, failure{"no-sound-card", []string{"call", "echo", "--directory", addr, "--mic", "default"}, "sound card", 1, call.EndFailed})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stats := filepath.Join(t.TempDir(), "stats.json")
			// Silent devices unless the case says otherwise (a later flag wins).
			args := append([]string{tt.args[0], "--mic", "silence", "--speaker", "null", "--stats", stats}, tt.args[1:]...)
			args = append(args, "--user", "alice", "--home", filepath.Join(dir, "alice"))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, parleyBinary(t), args...).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tt.wantCode {
				t.Fatalf("parley %v: %v, want exit code %d; output:\n%s", args, err, tt.wantCode, out)
			}
			if !strings.Contains(string(out), tt.wantErr) {
				t.Errorf("output %q does not say %q", out, tt.wantErr)
			}
			if tt.wantStats == "" {
				return
			}
			lines := readStats(t, stats)
			if len(lines) != 1 || lines[0].EndReason != tt.wantStats || lines[0].Peer != tt.args[1] {
				t.Errorf("stats %+v, want one line for %s ending %s", lines, tt.args[1], tt.wantStats)
			}
		})
	}
}
