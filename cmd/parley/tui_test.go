package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-voip/parley/call"
)

// The terminal UI's end-to-end tests run the built binary in a tmux pane of
// 80×24, type into it with send-keys and read it with capture-pane, as a
// person (or a script relying on DESIGN §7) would.

// pane is a tmux pane running parley, on a tmux server of the test's own.
type pane struct {
	t      *testing.T
	socket string
}

// startPane runs shell command cmdline in a new 80×24 tmux pane.
func startPane(t *testing.T, cmdline string) *pane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (.ci/install-deps installs it)")
	}
	p := &pane{t: t, socket: filepath.Join(t.TempDir(), "tmux.sock")}
	p.tmux("-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "24", cmdline)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("screen at the end:\n%s", p.screen())
		}
		exec.Command("tmux", "-S", p.socket, "kill-server").Run()
	})
	return p
}

func (p *pane) tmux(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", p.socket}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// typeLine types text and presses Enter.
func (p *pane) typeLine(text string) {
	p.t.Helper()
	p.tmux("send-keys", "-l", text)
	p.tmux("send-keys", "Enter")
}

func (p *pane) screen() string {
	out, _ := exec.Command("tmux", "-S", p.socket, "capture-pane", "-p").Output()
	return string(out)
}

// await waits until the screen shows every one of subs and returns it.
func (p *pane) await(timeout time.Duration, subs ...string) string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := p.screen()
		missing := ""
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				missing = sub
				break
			}
		}
		if missing == "" {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("screen did not show %q within %v:\n%s", missing, timeout, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// uiCommand is the shell command line that runs the UI with a clean
// environment (no directory or user from the test's own) and says how it
// exited, so the test can read that off the screen.
func uiCommand(t *testing.T, home string, args ...string) string {
	return uiCommandEnv(t, home, nil, args...)
}

// uiCommandEnv is uiCommand with more environment variables (NAME=VALUE).
func uiCommandEnv(t *testing.T, home string, env []string, args ...string) string {
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	line := fmt.Sprintf("env -u PARLEY_DIRECTORY -u PARLEY_USER HOME=%s PARLEY_HOME=%s", q(home), q(home))
	for _, e := range env {
		line += " " + q(e)
	}
	line += " " + q(parleyBinary(t))
	for _, a := range args {
		line += " " + q(a)
	}
	return line + `; echo "parley exited: $?"; sleep 60`
}

var lossRow = regexp.MustCompile(`loss\s+[0-9.]+ % \(\d+/(\d+)\)`)

// packetsShown reads the received packet count off the call panel.
func packetsShown(t *testing.T, screen string) int {
	t.Helper()
	m := lossRow.FindStringSubmatch(screen)
	if m == nil {
		t.Fatalf("no loss row on the screen:\n%s", screen)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestTUIFirstRunCallsEcho(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end UI test skipped in -short mode")
	}
	home := t.TempDir()
	// A relay, when volunteered, on a free loopback port.
	p := startPane(t, uiCommand(t, home, "--relay-listen", "127.0.0.1:0"))

	// First run: no name yet, no directory configured: the embedded one.
	p.await(20*time.Second, "name:", "No sound card found")
	p.typeLine("alice")
	contacts := p.await(20*time.Second, "Parley  alice", "● echo", "online", "directory 127.0.0.1:", "Enter on echo (or :call echo)")
	t.Logf("the contact list:\n%s", contacts)

	p.typeLine(":call echo")
	first := p.await(20*time.Second, "call with echo  active", "path     direct", "MOS")
	time.Sleep(2500 * time.Millisecond)
	active := p.await(5*time.Second, "call with echo  active 00:0")
	t.Logf("an active call:\n%s", active)
	if a, b := packetsShown(t, first), packetsShown(t, active); b <= a {
		t.Errorf("the stats did not move in 2.5 s: %d packets, then %d", a, b)
	}
	if strings.Contains(active, "active 00:00") {
		t.Errorf("the call timer did not run:\n%s", active)
	}

	// The speaker volume and mic gain keys act on the call, and the
	// settings switch its processing; both are kept for the next run.
	p.tmux("send-keys", "V", "V", "g")
	p.await(5*time.Second, "mic gain -3 dB (g/G)", "volume   +6 dB (v/V)")
	p.tmux("send-keys", "S", "e", "e", "x")
	p.await(5*time.Second, "aec      off", "ns       on", "agc      auto", "ns on")
	p.tmux("send-keys", "S")
	p.await(5*time.Second, "call with echo  active")
	if s := p.screen(); strings.Contains(s, "ns on:") {
		t.Errorf("the call did not take the setting:\n%s", s)
	}

	p.typeLine(":hangup")
	p.await(10*time.Second, "call ended", "call with echo ended: local-hangup after 00:0")

	// Volunteering as a relay from the settings: the embedded directory
	// checks that it can reach the relay and takes it.
	p.tmux("send-keys", "S")
	p.await(5*time.Second, "relay    off")
	p.tmux("send-keys", "r")
	p.await(10*time.Second, "relay    on", "relaying if the directory can reach this machine")
	logPath := filepath.Join(home, logFile)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if data, _ := os.ReadFile(logPath); strings.Contains(string(data), "relaying for contacts on turn:127.0.0.1:") {
			break
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(logPath)
			t.Fatalf("the relay did not start; %s:\n%s", logFile, data)
		}
	}
	p.tmux("send-keys", "q")
	p.await(10*time.Second, "parley exited: 0")

	// The second run remembers the name and logs in at once; a flag wins
	// over the kept sound settings.
	p2 := startPane(t, uiCommand(t, home, "--agc", "on"))
	p2.await(20*time.Second, "Parley  alice", "● echo")
	p2.tmux("send-keys", "H")
	p2.await(5*time.Second, "History", "→ echo", "local-hangup")
	p2.tmux("send-keys", "S")
	p2.await(5*time.Second, "aec      off", "ns       on", "agc      on", "vol +6 dB, mic -3 dB")
	p2.tmux("send-keys", "C-c")
	p2.await(10*time.Second, "parley exited: 0")
}

func TestTUIAnswersAgainstATestDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end UI test skipped in -short mode")
	}
	dir := t.TempDir()
	addr := startDirectory(t)
	bobHome := filepath.Join(dir, "bob")
	p := startPane(t, uiCommand(t, bobHome, "--directory", addr, "--user", "bob"))
	p.await(20*time.Second, "Parley  bob", "No contacts yet")

	aliceHome := filepath.Join(dir, "alice")
	runParley(t, "contacts", "add", "bob", "--message", "it's alice", "--user", "alice", "--home", aliceHome, "--directory", addr)
	p.await(10*time.Second, "? alice", "request", "it's alice")
	p.tmux("send-keys", "a")
	p.await(10*time.Second, "alice is now a contact", "○ alice", "offline")

	// carol asks too; bob accepts from the command line.
	carolHome := filepath.Join(dir, "carol")
	runParley(t, "contacts", "add", "bob", "--user", "carol", "--home", carolHome, "--directory", addr)
	p.await(10*time.Second, "? carol")
	p.typeLine(":accept carol")
	p.await(10*time.Second, "carol is now a contact")

	alice, aliceIn := startWithCommands(t, "call", "bob", "--user", "alice", "--home", aliceHome, "--directory", addr,
		"--duration", "9s", "--mic", "tone:300", "--speaker", "null", "--events")
	ringing := p.await(20*time.Second, "Incoming call from alice", "key ")
	t.Logf("an incoming call:\n%s", ringing)
	fingerprint := regexp.MustCompile(`key ([A-Z0-9]{4}(-[A-Z0-9]{4}){4})`).FindStringSubmatch(ringing)
	if fingerprint == nil {
		t.Fatalf("no key fingerprint in the overlay:\n%s", ringing)
	}
	out, err := exec.Command(parleyBinary(t), "whoami", "--user", "alice", "--home", aliceHome).Output()
	if err != nil || !strings.Contains(string(out), fingerprint[1]) {
		t.Errorf("overlay shows key %s; alice's whoami says %q (%v)", fingerprint[1], out, err)
	}
	p.tmux("send-keys", "a")
	p.await(20*time.Second, "call with alice  active")

	// Chat during the call goes over it, both ways.
	aliceIn.send(t, "chat over the call?")
	p.await(10*time.Second, "alice: over the call?")
	p.typeLine(":chat alice yes, over the call")
	if ev := alice.awaitEvent(t, call.EventChat, 10*time.Second); ev.Message != "yes, over the call" {
		t.Errorf("alice got %q over the call, want bob's answer", ev.Message)
	}
	aliceIn.w.Close() // no hang-up (DESIGN §6); exec waits for the end of a stdin it copies

	// Call waiting: carol calls during alice's call; answering holds alice,
	// and when carol hangs up, alice's call is back.
	carol := startParley(t, "call", "bob", "--user", "carol", "--home", carolHome, "--directory", addr,
		"--duration", "1s", "--mic", "tone:500", "--speaker", "null")
	p.await(20*time.Second, "Incoming call from carol", "a answer, holding alice")
	p.tmux("send-keys", "a")
	p.await(20*time.Second, "call with carol  active", "on hold: alice")
	if err := carol.wait(t, 30*time.Second); err != nil {
		t.Fatalf("parley call bob (carol): %v\n%s", err, carol.stderr.String())
	}
	p.await(10*time.Second, "back to alice, on hold: o resumes", "call with alice  active")
	p.tmux("send-keys", "o")
	if err := alice.wait(t, 30*time.Second); err != nil {
		t.Fatalf("parley call bob: %v\n%s", err, alice.stderr.String())
	}
	p.await(10*time.Second, "call with alice ended: remote-hangup after 00:0")

	// Chat both ways through the directory: alice (offline but for the
	// command) writes, bob reads and answers, alice's inbox has it.
	runParley(t, "chat", "bob", "talk later?", "--user", "alice", "--home", aliceHome, "--directory", addr)
	p.await(10*time.Second, "alice ✉2", "alice: talk later?") // and the message over the call
	p.tmux("send-keys", "t")
	p.await(5*time.Second, "Chat with alice", "alice: over the call?", "you: yes, over the call", "alice: talk later?")
	p.typeLine("sure, bye")
	p.await(5*time.Second, "you: sure, bye")
	if out := runParley(t, "inbox", "--user", "alice", "--home", aliceHome, "--directory", addr); !strings.Contains(out, "bob: sure, bye") {
		t.Errorf("alice's inbox lacks bob's answer:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(bobHome, logFile)); err != nil {
		t.Errorf("no log file in the home: %v", err)
	}
}

// startJACKServer runs a private JACK server on its dummy driver, which
// stands in for a sound card (PortAudio lists its ports as a device and
// paces its streams in real time), and returns its name for
// JACK_DEFAULT_SERVER. It stops when the test ends.
func startJACKServer(t *testing.T) string {
	t.Helper()
	jackd, err := exec.LookPath("jackd")
	if err != nil {
		t.Skip("jackd is not installed (Debian package jackd2)")
	}
	name := fmt.Sprintf("parley-tui-test-%d", os.Getpid())
	cmd := exec.Command(jackd, "--no-realtime", "-d", "dummy", "-r", "48000", "-p", "960")
	cmd.Env = append(os.Environ(), "JACK_DEFAULT_SERVER="+name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // should the test die first
	if err := cmd.Start(); err != nil {
		t.Fatalf("start jackd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	wait := exec.Command("jack_wait", "--wait", "--timeout", "10")
	wait.Env = cmd.Env
	if out, err := wait.CombinedOutput(); err != nil {
		t.Fatalf("jackd did not come up: %v\n%s", err, out)
	}
	return name
}

func TestTUIWithASoundServer(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end UI test skipped in -short mode")
	}
	server := startJACKServer(t)
	p := startPane(t, uiCommandEnv(t, t.TempDir(), []string{"JACK_DEFAULT_SERVER=" + server}))
	p.await(20*time.Second, "name:")
	if strings.Contains(p.screen(), "No sound card") {
		// media's own JACK tests tell a PortAudio built without JACK from
		// a fault of PortAudio's; here it only means there is nothing to test.
		t.Skip("PortAudio sees no device with jackd running: built without JACK?")
	}
	p.typeLine("alice")
	p.await(20*time.Second, "● echo")

	// Settings list PortAudio's devices; the checks run on the real device.
	p.tmux("send-keys", "S")
	settings := p.await(10*time.Second, "mic      default", "> system", "mic+speaker", "JACK")
	t.Logf("settings:\n%s", settings)
	p.tmux("send-keys", "t")
	p.await(10*time.Second, "played a test tone on default")
	p.tmux("send-keys", "l")
	p.await(10*time.Second, "mic default: loudest") // the dummy driver captures silence

	// A call through the sound server: the devices open, the call runs.
	p.tmux("send-keys", "S") // back to the contacts (an Escape would make the next key an Alt-key)
	p.await(5*time.Second, "Contacts (1)")
	p.typeLine(":call echo")
	p.await(20*time.Second, "call with echo  active", "path     direct")
	// Mid-call, the microphone moves to a tone, whose level the meter shows.
	p.typeLine(":mic tone:440")
	p.await(10*time.Second, "the call now uses mic tone:440")
	metered := p.await(10*time.Second, "mic      ██")
	t.Logf("a call on the sound server, its mic switched to a tone:\n%s", metered)
	p.typeLine(":hangup")
	p.await(10*time.Second, "call with echo ended: local-hangup")
}
