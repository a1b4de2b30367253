package ui

import (
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/directory/identity"
)

// quiet keeps the parts' logs out of the test's output.
var quiet = slog.New(slog.DiscardHandler)

// newTestSession logs user in to the directory at url with a phone on
// tones and a null speaker, as the UI does, and returns their Session.
func newTestSession(t *testing.T, url, user string) (*Session, *identity.Identity) {
	t.Helper()
	home := t.TempDir()
	id, err := identity.LoadOrCreate(home)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := directory.Dial(ctx, directory.ClientConfig{URL: url, User: user, Identity: id, Logger: quiet, Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	media := call.MediaConfig{Mic: "tone:440", Speaker: "null"}
	var session atomic.Pointer[Session] // as parley's UI wires it
	phone, err := call.NewPhone(call.PhoneConfig{Directory: client, Media: media, Identity: id, Home: home, Logger: quiet,
		OnEvent: func(ev call.Event) {
			if s := session.Load(); s != nil {
				s.CallEvent(ev)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession(SessionConfig{Client: client, Phone: phone, Media: media, Home: home, Identity: id, Logger: quiet})
	session.Store(s)
	t.Cleanup(func() {
		s.Close()
		phone.Close()
		client.Close()
	})
	return s, id
}

// TestSessionOverARealDirectory runs the UI's Backend against a real
// directory and real calls: contacts, status, chat, a call with its live
// figures and device switch, the pinned key and the history.
func TestSessionOverARealDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("real directory and call skipped in -short mode")
	}
	checkGoroutinesEnd(t)
	srv, err := directory.NewServer(directory.ServerConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
	})
	alice, _ := newTestSession(t, ts.URL, "alice")
	bob, bobID := newTestSession(t, ts.URL, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Contacts: a request one way, accepted the other.
	if err := alice.Contact(ctx, directory.ContactAdd, "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	if u := receive(t, bob.ContactUpdates()); u.User != "alice" || u.State != directory.ContactIncoming || u.Message != "hi" {
		t.Fatalf("bob got %+v, want alice's request", u)
	}
	if err := bob.Contact(ctx, directory.ContactAccept, "alice", ""); err != nil {
		t.Fatal(err)
	}
	if list, err := alice.Contacts(ctx); err != nil || len(list) != 1 || list[0].State != directory.ContactAccepted {
		t.Fatalf("alice's contacts %+v (%v), want bob accepted", list, err)
	}

	// Own status, as the directory keeps it; invisible reads back as such.
	for _, want := range []struct{ status, note string }{{directory.StatusAway, "lunch"}, {directory.StatusInvisible, ""}} {
		if err := alice.SetStatus(ctx, want.status, want.note); err != nil {
			t.Fatal(err)
		}
		if status, note, err := alice.OwnStatus(ctx); err != nil || status != want.status || note != want.note {
			t.Errorf("OwnStatus = %q %q (%v), want %q %q", status, note, err, want.status, want.note)
		}
	}
	if err := alice.SetStatus(ctx, directory.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}

	// Chat: pushed to bob and acknowledged, so his inbox is empty after.
	if err := alice.SendChat(ctx, "bob", "call me"); err != nil {
		t.Fatal(err)
	}
	if c := receive(t, bob.Chats()); c.From != "alice" || c.Text != "call me" {
		t.Fatalf("bob got %+v", c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left, err := bob.Inbox(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's inbox still holds %+v after he took it", left)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A call: bob answers with the session's devices of the moment.
	bob.SetDevices("tone:300", "null")
	c, err := alice.Dial(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	in := receive(t, bob.Incoming())
	if in.Peer() != "alice" || in.Direction() != call.Incoming {
		t.Fatalf("bob's phone rang for %s %s", in.Direction(), in.Peer())
	}
	if got, want := bob.PeerFingerprint("alice"), ""; got == want {
		t.Error("the caller's key is not pinned while the call rings")
	}
	in.Answer()
	select {
	case <-c.Active():
	case <-time.After(20 * time.Second):
		t.Fatal("the call did not become active")
	}
	time.Sleep(1500 * time.Millisecond)
	st := c.LiveStats()
	if st.PacketsSent == 0 || st.Path == "" || st.DurationS <= 0 {
		t.Errorf("live stats %+v: want packets, a path and a duration", st)
	}
	if m, ok := c.Meter(); !ok || m.MicDBFS < -20 {
		t.Errorf("meter %+v (ok %v): want the tone's level", m, ok)
	}
	if err := c.SwitchDevices("silence", ""); err != nil {
		t.Errorf("switch to silence: %v", err)
	}
	// Chat over the call, both ways: it comes with the directory's.
	if err := c.Chat("over the call"); err != nil {
		t.Errorf("chat over the call: %v", err)
	}
	if got := receive(t, bob.Chats()); got.From != "alice" || got.Text != "over the call" || got.ID != "" {
		t.Errorf("bob got %+v, want alice's message over the call", got)
	}
	if err := in.Chat("back at you"); err != nil {
		t.Errorf("chat over the call: %v", err)
	}
	if got := receive(t, alice.Chats()); got.From != "bob" || got.Text != "back at you" {
		t.Errorf("alice got %+v, want bob's message over the call", got)
	}
	if left, err := bob.Inbox(ctx); err != nil || len(left) != 0 {
		t.Errorf("bob's inbox holds %+v (%v): the call's chat went through the directory", left, err)
	}
	c.Hangup()
	final, err := c.Result()
	if err != nil || final.EndReason != call.EndLocalHangup {
		t.Errorf("the call ended %s (%v), want local-hangup", final.EndReason, err)
	}

	if got, want := alice.PeerFingerprint("bob"), bobID.Fingerprint(); got != want {
		t.Errorf("alice pinned bob's key as %q, want %q", got, want)
	}
	if hist, err := alice.History(ctx); err != nil || len(hist) != 1 || hist[0].Peer != "bob" || hist[0].EndReason != call.EndLocalHangup {
		t.Errorf("alice's history %+v (%v), want the call to bob", hist, err)
	}
}

// serveDirectory runs a directory at addr ("127.0.0.1:0": any port) and
// returns its URL and a function that shuts it down.
func serveDirectory(t *testing.T, addr string) (string, func()) {
	t.Helper()
	srv, err := directory.NewServer(directory.ServerConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ts.Listener.Close()
	ts.Listener = ln // the same address again after a restart
	ts.Start()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			srv.Close()
			ts.Close()
		})
	}
	t.Cleanup(stop)
	return ts.URL, stop
}

// TestReconnectingOverARealDirectory stops the directory under a UI on a
// real Session and starts it again: the UI says it is reconnecting, and
// then that it is back, with a session that works again.
func TestReconnectingOverARealDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("real directory skipped in -short mode")
	}
	// No checkGoroutinesEnd: the harness leaves the UI's 30 s refresh tick.
	url, stop := serveDirectory(t, "127.0.0.1:0")
	alice, _ := newTestSession(t, url, "alice")
	h := newHarness(t, Config{User: "alice", Start: func(context.Context, string) (Backend, error) { return alice, nil }})
	h.wantScreen("Parley  alice", "No contacts yet")
	if alice.Reconnecting() {
		t.Fatal("reconnecting while connected")
	}

	stop()
	h.wantScreen("Reconnecting to the directory…")
	serveDirectory(t, strings.TrimPrefix(url, "http://"))
	h.wantScreen("back in touch with the directory")
	if s := h.screen(); strings.Contains(s, "Reconnecting") {
		t.Errorf("still reconnecting once back:\n%s", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := alice.SetStatus(ctx, directory.StatusAway, "back"); err != nil {
		t.Errorf("a request after reconnecting: %v", err)
	}
}

// checkGoroutinesEnd checks, once the test and its other cleanups are
// done, that the goroutines it started have ended (within 10 s: pion and
// the directory wind down asynchronously).
func checkGoroutinesEnd(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines left running, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// receive waits for the next value on ch.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing came within 10 s")
	}
	panic("unreachable")
}
