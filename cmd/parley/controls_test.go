package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-voip/parley/call"
)

// commandPipe is a process's stdin that the test writes commands to.
type commandPipe struct {
	r *io.PipeReader
	w *io.PipeWriter
}

// startWithCommands starts parley with a commandPipe as its stdin.
func startWithCommands(t *testing.T, args ...string) (*proc, *commandPipe) {
	r, w := io.Pipe()
	p := startParleyWithStdin(t, r, args...)
	t.Cleanup(func() { w.Close() }) // before the process's cleanup, which waits for exec's copy of stdin
	return p, &commandPipe{r, w}
}

func (p *commandPipe) send(t *testing.T, cmd string) {
	t.Helper()
	if _, err := io.WriteString(p.w, cmd+"\n"); err != nil {
		t.Fatalf("command %q: %v", cmd, err)
	}
}

// awaitEvent waits for the --events line of the given event.
func (p *proc) awaitEvent(t *testing.T, event string, timeout time.Duration) call.Event {
	t.Helper()
	var ev call.Event
	line := p.await(t, `"event":"`+event+`"`, timeout)
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatalf("event line %q: %v", line, err)
	}
	return ev
}

func TestCallControlsThroughTheCLI(t *testing.T) {
	dirAddr := startDirectory(t)
	dir := t.TempDir()
	home := func(user string) string { return filepath.Join(dir, user) }
	as := func(user string, args ...string) []string {
		return append(args, "--user", user, "--home", home(user), "--directory", dirAddr,
			"--mic", "tone:440", "--speaker", "null", "--stats", filepath.Join(dir, user+".json"))
	}
	bob, bobIn := startWithCommands(t, as("bob", "answer", "--calls", "1", "--events")...)
	bob.await(t, "waiting for calls", 10*time.Second)
	befriend(t, onThisHost, onThisHost, dir, dirAddr)
	alice, aliceIn := startWithCommands(t, as("alice", "call", "bob", "--events")...)

	for _, p := range []*proc{alice, bob} {
		if ev := p.awaitEvent(t, "active", 15*time.Second); len(ev.SAS) != 6 || ev.State != call.StateActive {
			t.Fatalf("active event %+v: want state active and a six-digit SAS", ev)
		}
	}
	for _, step := range []struct{ command, seen string }{
		{"hold", "peer-hold"}, {"resume", "peer-resume"}, {"mute", "peer-mute"}, {"unmute", "peer-unmute"},
	} {
		aliceIn.send(t, step.command)
		alice.awaitEvent(t, step.command, 5*time.Second)
		bob.awaitEvent(t, step.seen, 5*time.Second)
	}
	aliceIn.w.Close() // end of input is no hang-up (DESIGN §6)
	time.Sleep(time.Second)
	select {
	case <-alice.done:
		t.Fatal("parley call ended when its stdin closed")
	default:
	}
	bobIn.send(t, "hangup")
	bobIn.w.Close() // exec waits for the end of a stdin it copies
	if ev := alice.awaitEvent(t, "ended", 10*time.Second); ev.EndReason != call.EndRemoteHangup {
		t.Errorf("alice's call ended %s, want remote-hangup", ev.EndReason)
	}
	for _, p := range []*proc{alice, bob} {
		if err := p.wait(t, 10*time.Second); err != nil {
			t.Fatalf("exit: %v\n%s", err, p.stderr.String())
		}
	}
	aliceStats, bobStats := readStats(t, filepath.Join(dir, "alice.json")), readStats(t, filepath.Join(dir, "bob.json"))
	if len(aliceStats) != 1 || len(bobStats) != 1 || aliceStats[0].SAS == "" || aliceStats[0].SAS != bobStats[0].SAS {
		t.Fatalf("stats SAS: alice %+v, bob %+v; want one call each with the same SAS", aliceStats, bobStats)
	}

	out := runParley(t, "history", "--json", "--home", home("alice"))
	var rec call.HistoryRecord
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &rec); err != nil {
		t.Fatalf("history --json printed %q: %v", out, err)
	}
	if rec.Peer != "bob" || rec.Direction != call.Outgoing || rec.EndReason != call.EndRemoteHangup || rec.SAS != aliceStats[0].SAS || rec.Path != "direct" {
		t.Errorf("alice's history: %+v", rec)
	}
	if out := runParley(t, "history", "--home", home("bob")); !strings.Contains(out, "alice") || !strings.Contains(out, "SAS "+rec.SAS) {
		t.Errorf("bob's history:\n%s", out)
	}
}

// TestVanishedPeerIsLost kills the callee mid-call, leaving no hang-up of
// any kind: the caller must end the call "peer-lost" within 10 s.
func TestVanishedPeerIsLost(t *testing.T) {
	dirAddr := startDirectory(t)
	dir := t.TempDir()
	as := func(user string, args ...string) []string {
		return append(args, "--user", user, "--home", filepath.Join(dir, user), "--directory", dirAddr,
			"--mic", "tone:440", "--speaker", "null", "--stats", filepath.Join(dir, user+".json"))
	}
	bob := startParley(t, as("bob", "answer", "--calls", "1")...)
	bob.await(t, "waiting for calls", 10*time.Second)
	befriend(t, onThisHost, onThisHost, dir, dirAddr)
	alice := startParley(t, as("alice", "call", "bob", "--events")...)
	alice.awaitEvent(t, "active", 15*time.Second)
	time.Sleep(time.Second)

	if err := bob.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	ev := alice.awaitEvent(t, "ended", 30*time.Second)
	took := time.Since(killed)
	t.Logf("vanished peer detected in %v", took.Round(10*time.Millisecond))
	if ev.EndReason != call.EndPeerLost {
		t.Errorf("alice's call ended %s, want peer-lost", ev.EndReason)
	}
	if took > 10*time.Second {
		t.Errorf("peer lost after %v, want within 10 s", took)
	}
	if err := alice.wait(t, 10*time.Second); err == nil {
		t.Error("parley call exited 0 for a lost call")
	}
}

func TestCallWaitingThroughTheCLI(t *testing.T) {
	dirAddr := startDirectory(t)
	dir := t.TempDir()
	as := func(user string, args ...string) []string {
		return append(args, "--user", user, "--home", filepath.Join(dir, user), "--directory", dirAddr,
			"--mic", "tone:440", "--speaker", "null")
	}
	bob, bobIn := startWithCommands(t, as("bob", "answer", "--calls", "2", "--call-waiting", "--events", "--accept-calls-from", "anyone")...)
	bob.await(t, "waiting for calls", 10*time.Second)
	alice := startParley(t, as("alice", "call", "bob", "--events")...)
	alice.awaitEvent(t, "active", 15*time.Second)
	carol := startParley(t, as("carol", "call", "bob", "--events")...)
	bob.await(t, "call waiting: carol", 10*time.Second)
	carol.awaitEvent(t, "ringing", 5*time.Second)

	bobIn.send(t, "answer")
	carol.awaitEvent(t, "active", 15*time.Second)
	alice.awaitEvent(t, "peer-hold", 5*time.Second)
	bobIn.send(t, "resume") // back to alice: carol is held
	alice.awaitEvent(t, "peer-resume", 5*time.Second)
	carol.awaitEvent(t, "peer-hold", 5*time.Second)
	bobIn.send(t, "hangup") // alice's call, the one in progress
	alice.awaitEvent(t, "ended", 5*time.Second)
	bobIn.send(t, "hangup") // carol's, the one left
	if ev := carol.awaitEvent(t, "ended", 5*time.Second); ev.EndReason != call.EndRemoteHangup {
		t.Errorf("carol's call ended %s, want remote-hangup", ev.EndReason)
	}
	bobIn.w.Close()
	for _, p := range []*proc{alice, carol, bob} {
		if err := p.wait(t, 10*time.Second); err != nil {
			t.Fatalf("exit: %v\n%s", err, p.stderr.String())
		}
	}
}

// TestMissedWhileOffline calls a contact who is offline: the call fails at
// once, and the contact learns of it at their next login.
func TestMissedWhileOffline(t *testing.T) {
	dirAddr := startDirectory(t)
	dir := t.TempDir()
	runParley(t, "status", "online", "--user", "bob", "--home", filepath.Join(dir, "bob"), "--directory", dirAddr) // bob registers
	befriend(t, onThisHost, onThisHost, dir, dirAddr)
	out, errOut, code := runParleyCode(t, "call", "bob", "--user", "alice", "--home", filepath.Join(dir, "alice"),
		"--directory", dirAddr, "--mic", "silence", "--speaker", "null")
	if code != 1 || !strings.Contains(errOut, "offline") {
		t.Fatalf("calling an offline contact exited %d:\n%s%s", code, out, errOut)
	}
	inbox := runParley(t, "inbox", "--user", "bob", "--home", filepath.Join(dir, "bob"), "--directory", dirAddr)
	if !strings.Contains(inbox, "alice") || !strings.Contains(inbox, call.MissedCallNote) {
		t.Errorf("bob's inbox after alice called him offline:\n%s", inbox)
	}
}

// TestChangedKeyIsRefusedUntilVerified pins another key for bob at alice's
// (as if bob's key had changed, or a directory had once put itself in the
// middle): alice's call is refused, loudly, until she verifies bob's key
// with the fingerprint he reads her.
func TestChangedKeyIsRefusedUntilVerified(t *testing.T) {
	dirAddr := startDirectory(t)
	dir := t.TempDir()
	home := func(user string) string { return filepath.Join(dir, user) }
	as := func(user string, args ...string) []string {
		return append(args, "--user", user, "--home", home(user), "--directory", dirAddr, "--mic", "tone:440", "--speaker", "null")
	}
	bob := startParley(t, as("bob", "answer", "--calls", "2", "--accept-calls-from", "anyone")...)
	bob.await(t, "waiting for calls", 10*time.Second)
	var fingerprint string
	for line := range strings.Lines(runParley(t, "whoami", "--user", "bob", "--home", home("bob"))) {
		if fp, ok := strings.CutPrefix(line, "fingerprint"); ok {
			fingerprint = strings.TrimSpace(fp)
		}
	}
	if err := os.MkdirAll(home("alice"), 0o700); err != nil {
		t.Fatal(err)
	}
	stale, _ := json.Marshal(map[string]call.Pin{"bob": {Key: make([]byte, 32), Pinned: time.Now()}})
	if err := os.WriteFile(filepath.Join(home("alice"), call.PinsFile), stale, 0o600); err != nil {
		t.Fatal(err)
	}

	_, errOut, code := runParleyCode(t, as("alice", "call", "bob", "--duration", "1s")...)
	if code != 1 || !strings.Contains(errOut, "REFUSED") || !strings.Contains(errOut, "parley verify bob") || !strings.Contains(errOut, fingerprint) {
		t.Fatalf("call with a changed key exited %d:\n%s", code, errOut)
	}
	if _, errOut, code := runParleyCode(t, "verify", "bob", "--fingerprint", "AAAA-AAAA-AAAA-AAAA-AAAA", "--home", home("alice")); code != 1 {
		t.Errorf("verify with the wrong fingerprint exited %d: %s", code, errOut)
	}
	runParley(t, "verify", "bob", "--fingerprint", fingerprint, "--home", home("alice"))
	runParley(t, as("alice", "call", "bob", "--duration", "1s")...)
}
