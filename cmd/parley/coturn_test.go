package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/nat/relayload"
)

// TestCallThroughCoturn makes a relay-only call through Debian's coturn
// with TURN REST credentials (use-auth-secret): the DESIGN §4 contract for
// running Parley against other TURN servers.
func TestCallThroughCoturn(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end call skipped in -short mode")
	}
	if _, err := exec.LookPath("turnserver"); errors.Is(err, exec.ErrNotFound) {
		t.Skip("coturn is not installed (make test installs it)")
	}
	coturn, err := relayload.StartCoturn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer coturn.Close()

	dir := t.TempDir()
	aPath, speechA48 := speechFile(t, dir, "a.wav", speechA, "en")
	bPath, speechB48 := speechFile(t, dir, "b.wav", speechB, "en+f3")
	addr := startDirectory(t)
	ice := func(user string) []string {
		username, password := coturn.Credentials(user)
		return []string{"--relay-only", "--ice-server", "turn:" + coturn.Addr + "?transport=udp",
			"--ice-username", username, "--ice-credential", password}
	}
	bob := startParley(t, append([]string{"answer", "--calls", "1", "--user", "bob", "--home", filepath.Join(dir, "bob"),
		"--directory", addr, "--mic", "file:" + bPath, "--speaker", "file:" + filepath.Join(dir, "bob-heard.wav"),
		"--stats", filepath.Join(dir, "bob.json")}, ice("bob")...)...)
	bob.await(t, "waiting for calls", 10*time.Second)
	// Only contacts may call bob.
	runParley(t, "contacts", "add", "bob", "--user", "alice", "--home", filepath.Join(dir, "alice"), "--directory", addr)
	runParley(t, "contacts", "accept", "alice", "--user", "bob", "--home", filepath.Join(dir, "bob"), "--directory", addr)
	alice := startParley(t, append([]string{"call", "bob", "--user", "alice", "--home", filepath.Join(dir, "alice"),
		"--directory", addr, "--duration", "7s", "--mic", "file:" + aPath,
		"--speaker", "file:" + filepath.Join(dir, "alice-heard.wav"), "--stats", filepath.Join(dir, "alice.json")}, ice("alice")...)...)
	if err := alice.wait(t, 30*time.Second); err != nil {
		t.Fatalf("parley call: %v\n%s", err, alice.stderr.String())
	}
	if err := bob.wait(t, 10*time.Second); err != nil {
		t.Fatalf("parley answer: %v\n%s", err, bob.stderr.String())
	}
	for _, who := range []string{"alice", "bob"} {
		st := readStats(t, filepath.Join(dir, who+".json"))
		if len(st) != 1 {
			t.Fatalf("%s: %d stats lines, want 1", who, len(st))
		}
		if s := st[0]; s.Path != "relay" || s.EndReason == call.EndFailed || s.SetupMS > 1600 {
			t.Errorf("%s: path %q (%s/%s), end %s, setup %.0f ms; want a relayed call set up within 1.6 s",
				who, s.Path, s.LocalCandidateType, s.RemoteCandidateType, s.EndReason, s.SetupMS)
		}
	}
	checkHeard(t, "bob", filepath.Join(dir, "bob-heard.wav"), speechA48, speechB48)
	checkHeard(t, "alice", filepath.Join(dir, "alice-heard.wav"), speechB48, speechA48)
}
