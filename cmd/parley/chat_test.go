package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-voip/parley/directory"
)

// TestChatThroughTheCLI: a message to a contact who is offline waits in
// the directory for 'parley inbox'; one to a contact running 'parley
// answer --events' is printed there at once and so leaves the inbox; a
// stranger, and a name nobody has, are refused.
func TestChatThroughTheCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end chat skipped in -short mode")
	}
	dir := t.TempDir()
	addr := startDirectory(t)
	as := func(user string, args ...string) []string {
		return append(args, "--user", user, "--home", filepath.Join(dir, user), "--directory", addr)
	}
	for _, user := range []string{"bob", "eve"} { // eve exists, as nobody's contact
		runParley(t, as(user, "status", "online")...)
	}
	befriend(t, onThisHost, onThisHost, dir, addr)

	if out := runParley(t, as("alice", "chat", "bob", "lunch", "at", "noon?")...); !strings.Contains(out, "sent to bob") {
		t.Errorf("parley chat: %q", out)
	}
	// --keep shows the message and leaves it; the plain listing takes it.
	for _, args := range [][]string{{"inbox", "--keep"}, {"inbox"}} {
		if out := runParley(t, as("bob", args...)...); !strings.Contains(out, "alice: lunch at noon?") {
			t.Errorf("parley %s: %q, want alice's message", strings.Join(args, " "), out)
		}
	}
	if out := runParley(t, as("bob", "inbox")...); !strings.Contains(out, "no messages") {
		t.Errorf("parley inbox after the messages were taken: %q, want no messages", out)
	}
	runParley(t, as("alice", "chat", "bob", "lunch", "at", "noon?")...)
	inbox := func() []directory.Chat {
		t.Helper()
		var chats []directory.Chat
		if err := json.Unmarshal([]byte(runParley(t, as("bob", "inbox", "--json")...)), &chats); err != nil {
			t.Fatalf("parley inbox --json: %v", err)
		}
		return chats
	}
	if got := inbox(); len(got) != 1 || got[0].From != "alice" || got[0].Text != "lunch at noon?" {
		t.Errorf("bob's inbox: %+v, want alice's message", got)
	}
	if got := inbox(); len(got) != 0 {
		t.Errorf("bob's inbox read twice: %+v, want it emptied by the first read", got)
	}

	for _, tt := range []struct{ from, to, want string }{
		{"eve", "alice", "not a contact"},
		{"alice", "nobody", "no such user"},
	} {
		_, stderr, code := runParleyCode(t, as(tt.from, "chat", tt.to, "hi")...)
		if code != 1 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s chats to %s: exit %d, %q; want 1 and %q", tt.from, tt.to, code, stderr, tt.want)
		}
	}

	// A phone shows what waited for it, then what comes while it runs.
	runParley(t, as("alice", "chat", "bob", "kept for you")...)
	bob := startParley(t, as("bob", "answer", "--events")...)
	chatFromAlice := func(want string) {
		t.Helper()
		line := bob.await(t, `"event":"chat"`, 10*time.Second)
		var ev chatEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Peer != "alice" || ev.Message != want || ev.Via != "directory" {
			t.Errorf("bob's event %q (%v), want alice's %q", line, err, want)
		}
	}
	chatFromAlice("kept for you")
	runParley(t, as("alice", "chat", "bob", "are you there?")...)
	chatFromAlice("are you there?")
	// Shown is delivered: the inbox forgets it.
	deadline := time.Now().Add(5 * time.Second)
	for len(inbox()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a message shown by 'parley answer' is still in the inbox after 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
