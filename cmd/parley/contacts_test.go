package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-voip/parley/directory"
)

// runParleyCode runs parley to completion and returns its stdout, stderr
// and exit code.
func runParleyCode(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(parleyBinary(t), args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			code = exit.ExitCode()
		case err != nil:
			t.Fatalf("parley %s: %v", strings.Join(args, " "), err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("parley %s did not finish within 30 s", strings.Join(args, " "))
	}
	return out.String(), errOut.String(), code
}

// runParley runs parley to completion, fails the test unless it exits 0,
// and returns its stdout.
func runParley(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := runParleyCode(t, args...)
	if code != 0 {
		t.Fatalf("parley %s exited %d:\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func TestContactsThroughTheCLI(t *testing.T) {
	dir := t.TempDir()
	_, addr := startDirectoryOn(t, "--data", filepath.Join(dir, "data"))
	as := func(user string, args ...string) []string {
		return append(args, "--user", user, "--home", filepath.Join(dir, user), "--directory", addr)
	}
	list := func(user string) map[string]directory.Contact {
		t.Helper()
		var contacts []directory.Contact
		out := runParley(t, as(user, "contacts", "list", "--json")...)
		if err := json.Unmarshal([]byte(out), &contacts); err != nil {
			t.Fatalf("contacts list --json: %v\n%s", err, out)
		}
		m := make(map[string]directory.Contact)
		for _, c := range contacts {
			m[c.User] = c
		}
		return m
	}
	echo := startParley(t, "echo", "--home", filepath.Join(dir, "echo"), "--directory", addr)
	echo.await(t, "echo service is up", 10*time.Second)
	if got := list("bob"); len(got) != 0 { // registers bob
		t.Errorf("bob's new list: %+v", got)
	}

	_, stderr, code := runParleyCode(t, as("alice", "contacts", "add", "nobody-here")...)
	if code != 1 || !strings.Contains(stderr, "no such user") {
		t.Errorf("contacts add nobody-here: exit %d, %q; want 1, no such user", code, stderr)
	}
	if _, _, code := runParleyCode(t, as("alice", "contacts", "frobnicate", "bob")...); code != 2 {
		t.Errorf("contacts frobnicate: exit %d, want 2", code)
	}

	runParley(t, as("alice", "contacts", "add", "bob", "--message", "hi bob")...)
	if got := list("alice")["bob"]; got.State != directory.ContactOutgoing || got.Message != "hi bob" {
		t.Errorf("alice lists bob as %+v, want outgoing with the message", got)
	}
	if got := list("bob")["alice"]; got.State != directory.ContactIncoming || got.Message != "hi bob" {
		t.Errorf("bob lists alice as %+v, want incoming with the message", got)
	}
	runParley(t, as("bob", "contacts", "accept", "alice")...)
	runParley(t, as("alice", "contacts", "add", "echo")...)
	got := list("alice")
	if got["bob"].State != directory.ContactAccepted || got["echo"].State != directory.ContactAccepted || got["echo"].Status != directory.StatusOnline {
		t.Errorf("alice's list %+v, want bob accepted and echo accepted, online", got)
	}

	// bob's status, kept by the directory, shows once he is online.
	runParley(t, as("bob", "status", "away", "--note", "back at 3")...)
	bob := startParley(t, as("bob", "answer")...)
	bob.await(t, "waiting for calls", 10*time.Second)
	if got := list("alice")["bob"]; got.Status != directory.StatusAway || got.Note != "back at 3" {
		t.Errorf("alice sees bob as %+v, want away, back at 3", got)
	}
	if out := runParley(t, as("alice", "contacts", "list")...); !strings.Contains(out, "back at 3") {
		t.Errorf("contacts list does not show bob's note:\n%s", out)
	}

	// The key moves to another machine, and the buddy list with it.
	who := runParley(t, as("alice", "whoami")...)
	fingerprint := regexp.MustCompile(`[A-Z2-7]{4}(-[A-Z2-7]{4}){4}`).FindString(who)
	if !strings.Contains(who, "alice") || fingerprint == "" {
		t.Fatalf("whoami printed %q, want the name and a grouped fingerprint", who)
	}
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("open sesame\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exported := filepath.Join(dir, "alice.key")
	runParley(t, as("alice", "identity", "export", exported, "--passphrase-file", pass)...)
	laptop := filepath.Join(dir, "laptop")
	onLaptop := func(args ...string) []string {
		return append(args, "--user", "alice", "--home", laptop, "--directory", addr)
	}
	if err := os.WriteFile(pass+"-wrong", []byte("close sesame\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runParleyCode(t, onLaptop("identity", "import", exported, "--passphrase-file", pass+"-wrong")...); code != 1 || !strings.Contains(stderr, "passphrase") {
		t.Errorf("import with a wrong passphrase: exit %d, %q", code, stderr)
	}
	runParley(t, onLaptop("identity", "import", exported, "--passphrase-file", pass)...)
	if who := runParley(t, onLaptop("whoami")...); !strings.Contains(who, fingerprint) {
		t.Errorf("whoami on the laptop: %q, want fingerprint %s", who, fingerprint)
	}
	out := runParley(t, onLaptop("contacts", "list", "--json")...)
	if !strings.Contains(out, `"user":"bob"`) || !strings.Contains(out, `"user":"echo"`) {
		t.Errorf("alice's list on the laptop lacks her contacts:\n%s", out)
	}
}
