package directory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/directory/identity"
)

func TestLogin(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})

	t.Run("new-name-is-claimed", func(t *testing.T) {
		c := d.dial(t, "alice", newIdentity(t))
		if c.User() != "alice" {
			t.Errorf("User() = %q, want alice", c.User())
		}
	})

	t.Run("same-key-logs-in-again", func(t *testing.T) {
		id := newIdentity(t)
		first := d.dial(t, "bob", id)
		if err := first.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		d.dial(t, "bob", id)
	})

	t.Run("other-key-gets-name-taken", func(t *testing.T) {
		d.dial(t, "carol", newIdentity(t))
		_, err := dialURL(t, d.http.URL, "carol", newIdentity(t))
		if !errors.Is(err, directory.ErrNameTaken) {
			t.Fatalf("Dial with another key: %v, want ErrNameTaken", err)
		}
		var perr *directory.ProtocolError
		if !errors.As(err, &perr) || perr.Code != "name-taken" {
			t.Errorf("error %v does not carry the name-taken frame", err)
		}
	})

	t.Run("bad-signature-is-rejected-and-claims-nothing", func(t *testing.T) {
		r := d.rawDial(t)
		owner, forger := newIdentity(t), newIdentity(t)
		r.send(loginFrame("l1", "dave", owner.Public(), forger.Private, r.nonce))
		r.expectError("bad-signature", "l1")
		otherNonce := bytes.Repeat([]byte{7}, 32)
		r.send(loginFrame("l2", "dave", owner.Public(), owner.Private, otherNonce))
		r.expectError("bad-signature", "l2")
		// The failed attempts did not bind dave to owner's key.
		d.dial(t, "dave", newIdentity(t))
	})

	t.Run("bad-username-is-refused-by-client", func(t *testing.T) {
		for _, name := range []string{"Eve", "ev", "eve!", ""} {
			if _, err := dialURL(t, d.http.URL, name, newIdentity(t)); !errors.Is(err, directory.ErrBadUsername) {
				t.Errorf("Dial as %q: %v, want ErrBadUsername", name, err)
			}
		}
	})

	t.Run("bad-username-is-refused-by-server", func(t *testing.T) {
		r := d.rawDial(t)
		id := newIdentity(t)
		r.send(loginFrame("l1", "Eve", id.Public(), id.Private, r.nonce))
		r.expectError("bad-username", "l1")
		r.login("eve", id) // the connection still accepts a good login
	})
}

func TestLookup(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	alice := d.dial(t, "alice", newIdentity(t))
	d.dial(t, "bob", newIdentity(t))
	carol := d.dial(t, "carol", newIdentity(t))
	if err := carol.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "carol offline", func() bool {
		p, err := alice.Lookup(ctxTimeout(t), "carol")
		return err == nil && p.Status == directory.StatusOffline
	})

	tests := []struct {
		name string
		user string
		want directory.Presence
	}{
		{"unknown", "zed", directory.Presence{User: "zed", Exists: false, Status: directory.StatusOffline}},
		{"offline", "carol", directory.Presence{User: "carol", Exists: true, Status: directory.StatusOffline}},
		{"online", "bob", directory.Presence{User: "bob", Exists: true, Status: directory.StatusOnline}},
		{"self", "alice", directory.Presence{User: "alice", Exists: true, Status: directory.StatusOnline}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := alice.Lookup(ctxTimeout(t), tt.user)
			if err != nil {
				t.Fatalf("Lookup(%s): %v", tt.user, err)
			}
			if got != tt.want {
				t.Errorf("Lookup(%s) = %+v, want %+v", tt.user, got, tt.want)
			}
		})
	}

	t.Run("bad-username", func(t *testing.T) {
		if _, err := alice.Lookup(ctxTimeout(t), "Bob"); !errors.Is(err, directory.ErrBadUsername) {
			t.Errorf("Lookup(Bob): %v, want ErrBadUsername", err)
		}
	})
}

func TestSignalRelayBothWays(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	alice := d.dial(t, "alice", newIdentity(t))
	bob := d.dial(t, "bob", newIdentity(t))

	kinds := []directory.SignalKind{
		directory.SignalOffer, directory.SignalAnswer, directory.SignalCandidate, directory.SignalRinging,
		directory.SignalAccept, directory.SignalReject, directory.SignalBusy, directory.SignalHangup,
	}
	for _, kind := range kinds {
		for _, pair := range [][2]*directory.Client{{alice, bob}, {bob, alice}} {
			from, to := pair[0], pair[1]
			t.Run(fmt.Sprintf("%s-%s-to-%s", kind, from.User(), to.User()), func(t *testing.T) {
				payload := json.RawMessage(fmt.Sprintf(`{"kind":%q, "text":"<a & b>"}`, kind))
				sent := directory.Signal{From: "mallory", To: to.User(), CallID: "call-1", Kind: kind, Payload: payload}
				if err := from.Send(ctxTimeout(t), sent); err != nil {
					t.Fatalf("Send: %v", err)
				}
				got := nextSignal(t, to)
				want := directory.Signal{
					From: from.User(), To: to.User(), CallID: "call-1", Kind: kind,
					Payload: json.RawMessage(fmt.Sprintf(`{"kind":%q,"text":"<a & b>"}`, kind)),
				}
				if got.From != want.From || got.To != want.To || got.CallID != want.CallID || got.Kind != want.Kind ||
					string(got.Payload) != string(want.Payload) {
					t.Errorf("received %+v (payload %s), want %+v (payload %s)", got, got.Payload, want, want.Payload)
				}
			})
		}
	}

	t.Run("without-payload", func(t *testing.T) {
		if err := alice.Send(ctxTimeout(t), directory.Signal{To: "bob", CallID: "c2", Kind: directory.SignalHangup}); err != nil {
			t.Fatal(err)
		}
		if got := nextSignal(t, bob); got.Payload != nil || got.Kind != directory.SignalHangup {
			t.Errorf("received %+v, want a hangup without payload", got)
		}
	})
}

func TestClientCannotSpoofSender(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	bob := d.dial(t, "bob", newIdentity(t))
	d.dial(t, "alice", newIdentity(t))
	eve := d.rawDial(t)
	eve.login("eve", newIdentity(t))

	eve.send(`{"v":1,"type":"signal","id":"s1","from":"alice","to":"bob","call_id":"c","kind":"offer","payload":{}}`)
	eve.expectError("bad-request", "s1")
	eve.send(`{"v":1,"type":"signal","id":"s2","to":"bob","call_id":"c","kind":"offer","payload":{}}`)
	if got := eve.read(); got["type"] != "ok" || got["id"] != "s2" {
		t.Fatalf("signal answered with %v, want ok", got)
	}
	if got := nextSignal(t, bob); got.From != "eve" {
		t.Errorf("bob received a signal from %q, want eve (the only one relayed)", got.From)
	}
}

func TestSignalToUnavailableUser(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	alice := d.dial(t, "alice", newIdentity(t))
	bob := d.dial(t, "bob", newIdentity(t))
	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob offline", func() bool {
		p, err := alice.Lookup(ctxTimeout(t), "bob")
		return err == nil && p.Status == directory.StatusOffline
	})

	tests := []struct {
		name    string
		to      string
		payload string
		want    error
	}{
		{"unknown-user", "nobody", "", directory.ErrNoSuchUser},
		{"offline-user", "bob", "", directory.ErrOffline},
		{"self", "alice", "", directory.ErrProtocol},
		{"invalid-username", "Bob", "", directory.ErrBadUsername},
		{"too-large", "bob", `"` + strings.Repeat("x", 70<<10) + `"`, directory.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := directory.Signal{To: tt.to, CallID: "c1", Kind: directory.SignalOffer, Payload: json.RawMessage(tt.payload)}
			if err := alice.Send(ctxTimeout(t), s); !errors.Is(err, tt.want) {
				t.Errorf("Send to %s: %v, want %v", tt.to, err, tt.want)
			}
		})
	}
	if _, err := alice.Lookup(ctxTimeout(t), "bob"); err != nil {
		t.Errorf("client unusable after refused signals: %v", err)
	}
}

func TestPresencePushedToContactsOnly(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	closed := func(user string, id *identity.Identity) *directory.Client {
		c, err := dialWith(t, directory.ClientConfig{URL: d.http.URL, User: user, Identity: id})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	bobID := newIdentity(t)
	alice := closed("alice", newIdentity(t))
	bob := closed("bob", bobID)
	carol := closed("carol", newIdentity(t))
	befriend(t, alice, bob)

	if err := bob.SetStatus(ctxTimeout(t), directory.StatusAway, "lunch"); err != nil {
		t.Fatal(err)
	}
	if got, want := nextPresence(t, alice), (directory.Presence{User: "bob", Exists: true, Status: directory.StatusAway, Note: "lunch"}); got != want {
		t.Errorf("on status change alice got %+v, want %+v", got, want)
	}
	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := nextPresence(t, alice), (directory.Presence{User: "bob", Exists: true, Status: directory.StatusOffline}); got != want {
		t.Errorf("on disconnect alice got %+v, want %+v", got, want)
	}
	bob = closed("bob", bobID)
	if got, want := nextPresence(t, alice), (directory.Presence{User: "bob", Exists: true, Status: directory.StatusAway, Note: "lunch"}); got != want {
		t.Errorf("on reconnect alice got %+v (the kept status), want %+v", got, want)
	}
	if err := bob.SetStatus(ctxTimeout(t), directory.StatusInvisible, "secret"); err != nil {
		t.Fatal(err)
	}
	if got, want := nextPresence(t, alice), (directory.Presence{User: "bob", Exists: true, Status: directory.StatusOffline}); got != want {
		t.Errorf("bob invisible: alice got %+v, want %+v", got, want)
	}
	if p, err := bob.Lookup(ctxTimeout(t), "bob"); err != nil || p.Status != directory.StatusOffline {
		t.Errorf("invisible bob looking himself up: %+v, %v", p, err)
	}

	// Carol is no contact of bob's: she sees him offline and gets no pushes.
	if p, err := carol.Lookup(ctxTimeout(t), "alice"); err != nil || p.Status != directory.StatusOffline || !p.Exists {
		t.Errorf("stranger carol: Lookup(alice) = %+v, %v; want exists, offline", p, err)
	}
	if err := carol.Send(ctxTimeout(t), directory.Signal{To: "alice", CallID: "c", Kind: directory.SignalOffer}); !errors.Is(err, directory.ErrOffline) {
		t.Errorf("stranger carol signals alice: %v, want ErrOffline", err)
	}
	if n := drain(carol.PresenceUpdates()); n != 0 {
		t.Errorf("carol, who is nobody's contact, got %d presence updates", n)
	}
	// alice and bob, contacts, may signal each other.
	if err := alice.Send(ctxTimeout(t), directory.Signal{To: "bob", CallID: "c", Kind: directory.SignalOffer}); err != nil {
		t.Errorf("alice signals her contact bob: %v", err)
	}
}

func TestNewerLoginTakesOver(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	id := newIdentity(t)
	old := d.dialDevice(t, "alice", "laptop", id)
	bob := d.dial(t, "bob", newIdentity(t))
	if _, err := bob.Lookup(ctxTimeout(t), "alice"); err != nil {
		t.Fatal(err)
	}

	newer := d.dialDevice(t, "alice", "laptop", id)
	if err := waitDone(t, old); !errors.Is(err, directory.ErrReplaced) {
		t.Errorf("old session ended with %v, want ErrReplaced", err)
	}
	if err := bob.Send(ctxTimeout(t), directory.Signal{To: "alice", CallID: "c", Kind: directory.SignalOffer}); err != nil {
		t.Fatalf("Send to alice: %v", err)
	}
	if got := nextSignal(t, newer); got.From != "bob" {
		t.Errorf("newer session got %+v", got)
	}
	// The handover is not an offline/online flap for followers.
	time.Sleep(100 * time.Millisecond)
	if p, err := bob.Lookup(ctxTimeout(t), "alice"); err != nil || p.Status != directory.StatusOnline {
		t.Errorf("alice after handover: %+v, %v; want online", p, err)
	}
	for len(bob.PresenceUpdates()) > 0 {
		if p := <-bob.PresenceUpdates(); p.Status == directory.StatusOffline {
			t.Errorf("bob was told alice went offline during the handover: %+v", p)
		}
	}
}

func TestMalformedInputGetsErrorAndServerStaysUp(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	witness := d.dial(t, "witness", newIdentity(t))
	d.dial(t, "bob", newIdentity(t))

	tests := []struct {
		name     string
		loggedIn bool
		frame    string // sent as text unless binary
		binary   bool
		wantCode string
		wantID   string
	}{
		{"not-json", true, `lookup bob`, false, "bad-request", ""},
		{"json-array", true, `[{"v":1}]`, false, "bad-request", ""},
		{"wrong-version", true, `{"v":2,"type":"lookup","id":"1","user":"bob"}`, false, "bad-version", "1"},
		{"missing-version", true, `{"type":"lookup","id":"1","user":"bob"}`, false, "bad-request", "1"},
		{"unknown-type", true, `{"v":1,"type":"subscribe","id":"1"}`, false, "unknown-type", "1"},
		{"unknown-field", true, `{"v":1,"type":"lookup","id":"1","user":"bob","watch":true}`, false, "bad-request", "1"},
		{"wrong-case-field", true, `{"v":1,"type":"lookup","id":"1","USER":"bob"}`, false, "bad-request", "1"},
		{"duplicate-field", true, `{"v":1,"type":"lookup","id":"1","user":"bob","user":"eve"}`, false, "bad-request", ""},
		{"missing-id", true, `{"v":1,"type":"lookup","user":"bob"}`, false, "bad-request", ""},
		{"missing-required-field", true, `{"v":1,"type":"signal","id":"1","to":"bob","kind":"offer"}`, false, "bad-request", "1"},
		{"wrong-field-type", true, `{"v":1,"type":"lookup","id":"1","user":["bob"]}`, false, "bad-request", "1"},
		{"binary-frame", true, `{"v":1,"type":"ping","id":"1"}`, true, "bad-request", ""},
		{"second-login", true, `{"v":1,"type":"login","id":"1","user":"eve","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","sig":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="}`, false, "bad-request", "1"},
		{"lookup-before-login", false, `{"v":1,"type":"lookup","id":"1","user":"bob"}`, false, "unauthenticated", "1"},
		{"signal-before-login", false, `{"v":1,"type":"signal","id":"2","to":"bob","call_id":"c","kind":"offer"}`, false, "unauthenticated", "2"},
		{"ping-before-login", false, `{"v":1,"type":"ping","id":"3"}`, false, "unauthenticated", "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := d.rawDial(t)
			id := newIdentity(t)
			if tt.loggedIn {
				r.login("user-"+tt.name, id)
			}
			if tt.binary {
				if err := r.conn.Write(ctxTimeout(t), websocket.MessageBinary, []byte(tt.frame)); err != nil {
					t.Fatal(err)
				}
			} else {
				r.send(tt.frame)
			}
			r.expectError(tt.wantCode, tt.wantID)
			if !tt.loggedIn {
				r.login("user-"+tt.name, id)
			}
			r.expectAlive()
			if _, err := witness.Lookup(ctxTimeout(t), "bob"); err != nil {
				t.Fatalf("another client cannot look up: %v", err)
			}
		})
	}
}

func TestOversizeFrameIsRefusedThenClosed(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	witness := d.dial(t, "witness", newIdentity(t))
	bob := d.dial(t, "bob", newIdentity(t))

	r := d.rawDial(t)
	r.login("alice", newIdentity(t))
	// A frame of exactly the limit passes, and its relayed form (with
	// "from" added) still fits what the client accepts.
	head := `{"v":1,"type":"signal","id":"big","to":"bob","call_id":"c","kind":"offer","payload":"`
	tail := `"}`
	exact := head + strings.Repeat("x", 64<<10-len(head)-len(tail)) + tail
	r.send(exact)
	if got := r.read(); got["type"] != "ok" {
		t.Fatalf("frame of exactly 64 KiB answered with %v, want ok", got)
	}
	if got := nextSignal(t, bob); len(got.Payload) != 64<<10-len(head)-len(tail)+2 {
		t.Errorf("bob got a %d-byte payload", len(got.Payload))
	}

	r.send(head + strings.Repeat("x", 100<<10) + tail)
	r.expectError("too-large", "")
	_, err := r.readErr()
	if status := websocket.CloseStatus(err); status != websocket.StatusMessageTooBig {
		t.Errorf("after too-large: %v (status %v), want close status 1009", err, status)
	}
	if _, err := witness.Lookup(ctxTimeout(t), "bob"); err != nil {
		t.Fatalf("server unusable for others after an oversize frame: %v", err)
	}
}

func TestLoginTimeoutClosesIdleConnection(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{LoginTimeout: 200 * time.Millisecond})
	r := d.rawDial(t)
	start := time.Now()
	r.expectError("unauthenticated", "")
	_, err := r.readErr()
	if status := websocket.CloseStatus(err); status != websocket.StatusPolicyViolation {
		t.Errorf("idle connection ended with %v, want close status 1008", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("closed after %v, want about 200ms", elapsed)
	}
}

func TestDeadConnectionIsNoticed(t *testing.T) {
	const interval = 100 * time.Millisecond
	d := startDirectory(t, directory.ServerConfig{PingInterval: interval})
	bob := d.dial(t, "bob", newIdentity(t))
	hole := startBlackhole(t, d.http.Listener.Addr().String())
	ctx := ctxTimeout(t)
	alice, err := directory.Dial(ctx, directory.ClientConfig{
		URL: "ws://" + hole.addr(), User: "alice", Identity: newIdentity(t), Logger: testLogger(t), PingInterval: interval,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	befriend(t, bob, alice)

	hole.freezeNow()
	start := time.Now()
	if got := nextPresence(t, bob); got.User != "alice" || got.Status != directory.StatusOffline {
		t.Errorf("bob got %+v, want alice offline", got)
	}
	serverNoticed := time.Since(start)
	if err := waitDone(t, alice); !errors.Is(err, directory.ErrConnectionLost) {
		t.Errorf("alice's client ended with %v, want ErrConnectionLost", err)
	}
	clientNoticed := time.Since(start)
	t.Logf("with a %v ping interval the server noticed in %v, the client in %v", interval, serverNoticed, clientNoticed)
	// Two intervals is the design bound; allow for a loaded machine.
	if serverNoticed > 10*interval || clientNoticed > 10*interval {
		t.Errorf("dead connection noticed after %v (server) / %v (client), want within a few ping intervals", serverNoticed, clientNoticed)
	}
}

func TestSignalsChannelFullDropsButStaysAlive(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	alice := d.dial(t, "alice", newIdentity(t))
	bob := d.dial(t, "bob", newIdentity(t))
	const buffer = 128 // documented size of the Signals channel
	for i := range buffer + 1 {
		s := directory.Signal{To: "bob", CallID: fmt.Sprintf("c%d", i), Kind: directory.SignalCandidate}
		if err := alice.Send(ctxTimeout(t), s); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	// Bob's lookup answer is read after the last signal, so once it is back
	// the client has dealt with every signal.
	start := time.Now()
	if _, err := bob.Lookup(ctxTimeout(t), "alice"); err != nil {
		t.Fatalf("Lookup with a full Signals channel: %v", err)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Errorf("a full channel stalled the connection for %v", waited)
	}
	if n := drain(bob.Signals()); n != buffer {
		t.Errorf("drained %d signals, want %d (the rest dropped)", n, buffer)
	}
	if err := alice.Send(ctxTimeout(t), directory.Signal{To: "bob", CallID: "after", Kind: directory.SignalHangup}); err != nil {
		t.Fatal(err)
	}
	if got := nextSignal(t, bob); got.CallID != "after" {
		t.Errorf("after draining got %+v", got)
	}
}

func TestDialURLForms(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	hostPort := d.http.Listener.Addr().String()
	id := newIdentity(t)
	for _, url := range []string{
		d.http.URL,
		d.http.URL + "/",
		"ws://" + hostPort,
		"ws://" + hostPort + "/v1/ws",
		hostPort,
	} {
		c, err := dialURL(t, url, "alice", id)
		if err != nil {
			t.Errorf("Dial %q: %v", url, err)
			continue
		}
		_ = c.Close()
	}
}

func TestDialErrors(t *testing.T) {
	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return addr
	}()
	notADirectory := httptest.NewServer(http.NotFoundHandler())
	defer notADirectory.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close() // accepts (in the kernel backlog) and never answers

	tests := []struct {
		name string
		cfg  directory.ClientConfig
		want error
	}{
		{"nothing-listening", directory.ClientConfig{URL: closedPort}, directory.ErrUnreachable},
		{"not-a-directory", directory.ClientConfig{URL: notADirectory.URL}, directory.ErrUnreachable},
		{"no-answer", directory.ClientConfig{URL: silent.Addr().String()}, directory.ErrUnreachable},
		{"bad-username", directory.ClientConfig{URL: closedPort, User: "A"}, directory.ErrBadUsername},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg.User == "" {
				cfg.User = "alice"
			}
			cfg.Identity = newIdentity(t)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if _, err := directory.Dial(ctx, cfg); !errors.Is(err, tt.want) {
				t.Errorf("Dial: %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("missing-identity", func(t *testing.T) {
		_, err := directory.Dial(context.Background(), directory.ClientConfig{URL: closedPort, User: "alice"})
		if err == nil || errors.Is(err, directory.ErrUnreachable) {
			t.Errorf("Dial without identity: %v, want a configuration error", err)
		}
	})
	t.Run("unsupported-scheme", func(t *testing.T) {
		_, err := directory.Dial(context.Background(), directory.ClientConfig{URL: "ftp://" + closedPort, User: "alice", Identity: newIdentity(t)})
		if err == nil || errors.Is(err, directory.ErrUnreachable) {
			t.Errorf("Dial ftp://: %v, want a configuration error", err)
		}
	})
}

func TestHealthz(t *testing.T) {
	srv, err := directory.NewServer(directory.ServerConfig{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		return rec
	}
	if rec := get(); rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "ok" {
		t.Errorf("healthz = %d %q, want 200 ok", rec.Code, rec.Body.String())
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if rec := get(); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("healthz after Close = %d, want 503", rec.Code)
	}
}

func TestNewServerRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  directory.ServerConfig
	}{
		{"tiny-message-limit", directory.ServerConfig{MaxMessageBytes: 100}},
		{"negative-ping-interval", directory.ServerConfig{PingInterval: -time.Second}},
		{"negative-login-timeout", directory.ServerConfig{LoginTimeout: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := directory.NewServer(tt.cfg); err == nil {
				t.Error("NewServer accepted the config")
			}
		})
	}
}

func TestDirectoryKeepsAccountsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	alice := newIdentity(t)
	for run := range 2 {
		n := openNATS(t, dir)
		d := startDirectory(t, directory.ServerConfig{NATS: n})
		if run == 0 {
			d.dial(t, "alice", alice)
		} else {
			if _, err := dialURL(t, d.http.URL, "alice", newIdentity(t)); !errors.Is(err, directory.ErrNameTaken) {
				t.Errorf("after restart another key claimed alice: %v", err)
			}
			d.dial(t, "alice", alice)
		}
		if err := d.srv.Close(); err != nil {
			t.Fatal(err)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCloseEndsEveryGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()

	srv, err := directory.NewServer(directory.ServerConfig{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	var clients []*directory.Client
	for _, name := range []string{"alice", "bob", "carol"} {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		c, err := directory.Dial(ctx, directory.ClientConfig{URL: hs.URL, User: name, Identity: newIdentity(t), Logger: testLogger(t), CallsFrom: directory.CallsFromAnyone})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	if _, err := clients[0].Lookup(ctxTimeout(t), "bob"); err != nil {
		t.Fatal(err)
	}
	if err := clients[0].Send(ctxTimeout(t), directory.Signal{To: "bob", CallID: "c", Kind: directory.SignalOffer}); err != nil {
		t.Fatal(err)
	}
	idle, _, err := websocket.Dial(ctxTimeout(t), "ws"+strings.TrimPrefix(hs.URL, "http")+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	// An unauthenticated connection is closed too; reading answers the close handshake.
	idleDone := make(chan struct{})
	go func() {
		defer close(idleDone)
		for {
			if _, _, err := idle.Read(context.Background()); err != nil {
				return
			}
		}
	}()

	if err := srv.Close(); err != nil {
		t.Fatalf("Server.Close: %v", err)
	}
	for _, c := range clients {
		if err := waitDone(t, c); !errors.Is(err, directory.ErrConnectionLost) {
			t.Errorf("%s ended with %v, want ErrConnectionLost", c.User(), err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("Client.Close after the server went: %v", err)
		}
	}
	<-idleDone
	hs.Close()

	var after int
	deadline := time.Now().Add(testTimeout)
	for {
		after = runtime.NumGoroutine()
		if after <= before || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after Close:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}
