package directory_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voip/parley/directory"
)

// TestTwoDirectoriesServeOneUserBase runs two directories on one NATS, as
// two nodes of a cluster would: users on different nodes see and signal
// each other, and a login on one node takes the session over from another.
func TestTwoDirectoriesServeOneUserBase(t *testing.T) {
	n := openNATS(t, "")
	d1 := startDirectory(t, directory.ServerConfig{NATS: n})
	d2 := startDirectory(t, directory.ServerConfig{NATS: n})
	aliceID := newIdentity(t)
	alice := d1.dialDevice(t, "alice", "laptop", aliceID)

	if p, err := alice.Lookup(ctxTimeout(t), "bob"); err != nil || p.Exists {
		t.Fatalf("Lookup(bob) before bob registered = %+v, %v", p, err)
	}
	bob := d2.dial(t, "bob", newIdentity(t))
	befriend(t, alice, bob) // across nodes: both see each other online
	if p, err := bob.Lookup(ctxTimeout(t), "alice"); err != nil || !p.Exists || p.Status != directory.StatusOnline {
		t.Errorf("bob on node 2: Lookup(alice) = %+v, %v; want online", p, err)
	}
	if _, err := dialURL(t, d2.http.URL, "alice", newIdentity(t)); !errors.Is(err, directory.ErrNameTaken) {
		t.Errorf("another key claimed alice on node 2: %v", err)
	}

	for _, tt := range []struct {
		from *directory.Client
		to   *directory.Client
	}{{alice, bob}, {bob, alice}} {
		s := directory.Signal{To: tt.to.User(), CallID: "c1", Kind: directory.SignalOffer, Payload: []byte(`{"sdp":"x"}`)}
		if err := tt.from.Send(ctxTimeout(t), s); err != nil {
			t.Fatalf("%s → %s: %v", tt.from.User(), tt.to.User(), err)
		}
		if got := nextSignal(t, tt.to); got.From != tt.from.User() || string(got.Payload) != `{"sdp":"x"}` {
			t.Errorf("%s got %+v", tt.to.User(), got)
		}
	}
	if err := alice.Send(ctxTimeout(t), directory.Signal{To: "nobody", CallID: "c", Kind: directory.SignalOffer}); !errors.Is(err, directory.ErrNoSuchUser) {
		t.Errorf("signal to nobody: %v, want ErrNoSuchUser", err)
	}

	// alice moves to node 2: node 1's session is replaced, bob sees no flap.
	moved := d2.dialDevice(t, "alice", "laptop", aliceID)
	if err := waitDone(t, alice); !errors.Is(err, directory.ErrReplaced) {
		t.Errorf("alice's node-1 session ended with %v, want ErrReplaced", err)
	}
	if err := bob.Send(ctxTimeout(t), directory.Signal{To: "alice", CallID: "c2", Kind: directory.SignalOffer}); err != nil {
		t.Fatal(err)
	}
	if got := nextSignal(t, moved); got.CallID != "c2" {
		t.Errorf("alice on node 2 got %+v", got)
	}
	time.Sleep(100 * time.Millisecond)
	for len(bob.PresenceUpdates()) > 0 {
		if p := <-bob.PresenceUpdates(); p.Status == directory.StatusOffline {
			t.Errorf("bob was told alice went offline while she moved: %+v", p)
		}
	}

	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "signal to bob fails with ErrOffline after he left", func() bool {
		err := moved.Send(ctxTimeout(t), directory.Signal{To: "bob", CallID: "c3", Kind: directory.SignalOffer})
		return errors.Is(err, directory.ErrOffline)
	})
}

func TestSignalRateLimit(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	alice := d.dial(t, "alice", newIdentity(t))
	bob := d.dial(t, "bob", newIdentity(t))
	go func() { // bob keeps up, so only alice's own rate matters
		for range bob.Signals() {
		}
	}()
	var refused int
	for i := range 400 {
		err := alice.Send(ctxTimeout(t), directory.Signal{To: "bob", CallID: fmt.Sprint("c", i), Kind: directory.SignalCandidate})
		switch {
		case errors.Is(err, directory.ErrRateLimited):
			refused++
		case err != nil:
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if refused == 0 {
		t.Error("400 signals at once were all accepted; want the excess refused")
	}
	if alice.Err() != nil {
		t.Fatalf("alice was disconnected for sending too fast: %v", alice.Err())
	}
	time.Sleep(200 * time.Millisecond) // the bucket refills
	if err := alice.Send(ctxTimeout(t), directory.Signal{To: "bob", CallID: "later", Kind: directory.SignalHangup}); err != nil {
		t.Errorf("Send after a pause: %v", err)
	}
	if body := get(t, d.http.URL+"/metrics"); !strings.Contains(body, "parley_directory_rate_limited_total "+fmt.Sprint(refused)) {
		t.Errorf("metrics do not count %d refusals:\n%s", refused, body)
	}
}

// TestFloodingSenderIsRefusedNotItsVictim: a recipient that stops reading
// makes its sender's signals fail; the recipient keeps its session.
func TestFloodingSenderIsRefusedNotItsVictim(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	alice := d.dial(t, "alice", newIdentity(t))
	bob := d.rawDial(t)
	bob.login("bob", newIdentity(t))
	payload := []byte(`"` + strings.Repeat("x", 60<<10) + `"`)
	var err error
	for i := 0; err == nil && i < 2000; i++ {
		err = alice.Send(ctxTimeout(t), directory.Signal{To: "bob", CallID: fmt.Sprint("c", i), Kind: directory.SignalCandidate, Payload: payload})
		if errors.Is(err, directory.ErrRateLimited) && strings.Contains(err.Error(), "too many requests") {
			err = nil // alice's own limit: wait for the bucket, keep pushing
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !errors.Is(err, directory.ErrRateLimited) || !strings.Contains(err.Error(), "not keeping up") {
		t.Fatalf("flooding a recipient that does not read: %v, want ErrRateLimited (not keeping up)", err)
	}
	// bob is still connected: he reads his backlog, then his pong.
	bob.send(`{"v":1,"type":"ping","id":"alive"}`)
	for signals := 0; ; signals++ {
		f := bob.read()
		if f["type"] == "pong" {
			if signals == 0 {
				t.Error("bob got none of the signals")
			}
			break
		}
		if f["type"] != "signal" {
			t.Fatalf("bob got %v", f)
		}
	}
}

func TestMetrics(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	alice := d.dial(t, "alice", newIdentity(t))
	if _, err := alice.Lookup(ctxTimeout(t), "bob"); err != nil {
		t.Fatal(err)
	}
	befriend(t, alice, d.dial(t, "bob", newIdentity(t)))
	body := get(t, d.http.URL+"/metrics")
	for _, want := range []string{
		"parley_directory_sessions 2\n",
		"parley_directory_logins_total 2\n",
		`parley_directory_messages_total{type="login"} 2` + "\n",
		`parley_directory_messages_total{type="lookup"} 1` + "\n",
		"parley_directory_presence_fanout_seconds_count ",
		`parley_directory_presence_fanout_seconds_bucket{le="+Inf"} `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(body)
}

func TestHostileClientIsDisconnected(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	alice := d.dial(t, "alice", newIdentity(t))
	for _, tt := range []struct {
		name  string
		frame string
		login bool
	}{
		{"garbage-before-login", `{"v":1,`, false},
		{"unauthenticated-requests", `{"v":1,"type":"lookup","id":"1","user":"bob"}`, false},
		{"garbage-after-login", `[1,2,3]`, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := d.rawDial(t)
			if tt.login {
				r.login("mallory", newIdentity(t))
			}
			for range 200 {
				if err := r.conn.Write(ctxTimeout(t), websocket.MessageText, []byte(tt.frame)); err != nil {
					break // closed already
				}
			}
			for {
				_, err := r.readErr()
				if err != nil {
					if status := websocket.CloseStatus(err); status != websocket.StatusPolicyViolation {
						t.Errorf("hostile client ended with %v, want close status 1008", err)
					}
					break
				}
			}
			if _, err := alice.Lookup(ctxTimeout(t), "alice"); err != nil {
				t.Errorf("another client was affected: %v", err)
			}
		})
	}
	if body := get(t, d.http.URL+"/metrics"); !strings.Contains(body, "parley_directory_bad_clients_total 3") {
		t.Errorf("metrics do not count 3 bad clients:\n%s", body)
	}
}

func TestUserRateLimitsAreSharedBySessions(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	id := newIdentity(t)
	var refused int
	// Control sessions of one user share its limit: 20 at once, then 5/s.
	for i := range 4 {
		c, err := dialWith(t, directory.ClientConfig{URL: d.http.URL, User: "alice", Identity: id, Control: true})
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if _, err := c.Contacts(ctxTimeout(t)); errors.Is(err, directory.ErrRateLimited) {
				refused++
			} else if err != nil {
				t.Fatalf("session %d: %v", i, err)
			}
		}
	}
	if refused < 10 {
		t.Errorf("40 contact lists from 4 sessions of one user: %d refused, want about 20", refused)
	}
}
