package directory_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/nat"
)

const (
	testToken  = "operator-token"
	testSecret = "0123456789abcdef-secret"
)

// register registers a supernode called id whose relay URLs are on
// host:port, and returns its registrar.
func register(t *testing.T, d *testDirectory, id, hostPort string, capacity, load int) *directory.SupernodeRegistrar {
	t.Helper()
	r, err := directory.NewSupernodeRegistrar(directory.SupernodeRegistrarConfig{
		Directory: d.http.URL,
		Token:     testToken,
		Registration: directory.SupernodeRegistration{
			ID:       id,
			URLs:     []string{"stun:" + hostPort, "turn:" + hostPort + "?transport=udp"},
			Secret:   testSecret + id,
			Capacity: capacity,
		},
		Load:   func() int { return load },
		Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Register(ctxTimeout(t)); err != nil {
		t.Fatalf("register %s: %v", id, err)
	}
	return r
}

// relayHosts returns the host:port of each TURN server, in order.
func relayHosts(servers []nat.ICEServer) []string {
	var out []string
	for _, s := range servers {
		if strings.HasPrefix(s.URL, "turn:") {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(s.URL, "turn:"), "?transport=udp"))
		}
	}
	return out
}

func iceServers(t *testing.T, c *directory.Client) ([]nat.ICEServer, time.Duration) {
	t.Helper()
	servers, ttl, err := c.ICEServers(ctxTimeout(t))
	if err != nil {
		t.Fatalf("ICEServers: %v", err)
	}
	return servers, ttl
}

func TestSupernodeRegistrationIsChecked(t *testing.T) {
	open := startDirectory(t, directory.ServerConfig{})
	guarded := startDirectory(t, directory.ServerConfig{Relays: directory.RelayConfig{SupernodeToken: testToken}})
	const good = `{"id":"sn1","urls":["stun:203.0.113.7:3478"],"secret":"` + testSecret + `","capacity":10,"load":1}`
	tests := []struct {
		name   string
		dir    *testDirectory
		token  string
		body   string
		status int
	}{
		{"registered", guarded, testToken, good, http.StatusOK},
		{"open-directory-needs-no-token", open, "", good, http.StatusOK},
		{"wrong-token", guarded, "guess", good, http.StatusUnauthorized},
		{"no-token", guarded, "", good, http.StatusUnauthorized},
		{"unknown-field", guarded, testToken, `{"id":"sn1","urls":["stun:203.0.113.7:3478"],"secret":"` + testSecret + `","owner":"eve"}`, http.StatusBadRequest},
		{"bad-id", guarded, testToken, `{"id":"sn 1","urls":["stun:203.0.113.7:3478"],"secret":"` + testSecret + `"}`, http.StatusBadRequest},
		{"bad-url", guarded, testToken, `{"id":"sn1","urls":["turn:"],"secret":"` + testSecret + `"}`, http.StatusBadRequest},
		{"no-secret-on-either-side", guarded, testToken, `{"id":"sn1","urls":["stun:203.0.113.7:3478"]}`, http.StatusBadRequest},
		{"not-json", guarded, testToken, `register me`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, tt.dir.http.URL+"/v1/supernodes", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

// TestICEServersRankedByLoad registers supernodes of different loads on
// one directory and asks for ICE servers on another of the same NATS: the
// three least loaded come, best first, a full one never, each with TURN
// REST credentials made with its own secret.
func TestICEServersRankedByLoad(t *testing.T) {
	n := openNATS(t, "")
	cfg := directory.ServerConfig{NATS: n, Relays: directory.RelayConfig{SupernodeToken: testToken, CredentialTTL: time.Hour}}
	d1, d2 := startDirectory(t, cfg), startDirectory(t, cfg)
	register(t, d1, "busy", "203.0.113.1:3478", 100, 80)
	register(t, d1, "idle", "203.0.113.2:3478", 100, 0)
	register(t, d1, "full", "203.0.113.3:3478", 100, 100)
	register(t, d1, "half", "203.0.113.4:3478", 100, 50)
	register(t, d1, "unbounded", "203.0.113.5:3478", 0, 200) // ranked as 200 of 1000
	alice := d2.dial(t, "alice", newIdentity(t))

	var servers []nat.ICEServer
	eventually(t, "the registrations reach the other directory", func() bool {
		servers, _ = iceServers(t, alice)
		return len(relayHosts(servers)) == 3
	})
	want := []string{"203.0.113.2:3478", "203.0.113.5:3478", "203.0.113.4:3478"}
	if got := relayHosts(servers); !slices.Equal(got, want) {
		t.Fatalf("relays %v, want %v", got, want)
	}
	_, ttl := iceServers(t, alice)
	if ttl != time.Hour {
		t.Errorf("credentials last %v, want 1h", ttl)
	}
	resp, err := http.Get(d2.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`parley_directory_relays{kind="supernode"} 5`, `parley_directory_relays{kind="volunteer"} 0`} {
		if !strings.Contains(string(metrics), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
	for _, s := range servers {
		if strings.HasPrefix(s.URL, "stun:") {
			if s.Username != "" {
				t.Errorf("%s carries credentials", s.URL)
			}
			continue
		}
		expiry, user, _ := strings.Cut(s.Username, ":")
		exp, err := strconv.ParseInt(expiry, 10, 64)
		if err != nil || user != "alice" || time.Until(time.Unix(exp, 0)) < 59*time.Minute {
			t.Errorf("%s: username %q, want expiry:alice an hour ahead", s.URL, s.Username)
		}
		id := map[string]string{"203.0.113.2:3478": "idle", "203.0.113.5:3478": "unbounded", "203.0.113.4:3478": "half"}[relayHosts([]nat.ICEServer{s})[0]]
		mac := hmac.New(sha1.New, []byte(testSecret+id))
		mac.Write([]byte(s.Username))
		if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); s.Credential != want {
			t.Errorf("%s: credential %q is not HMAC-SHA1(its secret, username)", s.URL, s.Credential)
		}
	}
}

// TestRelayRegistrationEnds checks that a supernode is offered only while
// it heartbeats, and no longer once it withdraws.
func TestRelayRegistrationEnds(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{Relays: directory.RelayConfig{SupernodeToken: testToken, Expiry: 600 * time.Millisecond}})
	alice := d.dial(t, "alice", newIdentity(t))

	register(t, d, "silent", "203.0.113.1:3478", 0, 0)
	if got := relayHosts(first(iceServers(t, alice))); len(got) != 1 {
		t.Fatalf("relays %v right after registering, want 1", got)
	}
	eventually(t, "a silent supernode expires", func() bool { return len(first(iceServers(t, alice))) == 0 })

	r := register(t, d, "beating", "203.0.113.2:3478", 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	time.Sleep(1200 * time.Millisecond) // two expiries
	if got := relayHosts(first(iceServers(t, alice))); len(got) != 1 {
		t.Errorf("relays %v of a supernode that heartbeats, want 1", got)
	}
	cancel()
	<-done
	if got := first(iceServers(t, alice)); len(got) != 0 {
		t.Errorf("servers %v after the supernode withdrew, want none", got)
	}
}

func first[A, B any](a A, _ B) A { return a }

// TestVolunteerRelays runs a real relay for carol and checks who is
// offered it: her contacts by default, anyone when she says so, never
// herself or a user she blocked, and nobody once she logs out; and that a
// relay the directory cannot reach is refused.
func TestVolunteerRelays(t *testing.T) {
	sn, err := nat.NewSupernode(nat.SupernodeConfig{Listen: "127.0.0.1:0", PublicIP: netip.MustParseAddr("127.0.0.1"),
		AuthSecret: testSecret, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	d := startDirectory(t, directory.ServerConfig{})
	carol := d.dial(t, "carol", newIdentity(t))
	alice := d.dial(t, "alice", newIdentity(t))
	bob := d.dial(t, "bob", newIdentity(t))
	befriend(t, carol, alice)
	relay := directory.VolunteerRelay{URLs: []string{"stun:" + sn.UDPAddr().String(), "turn:" + sn.UDPAddr().String() + "?transport=udp"},
		Secret: testSecret, Capacity: 8, Load: func() int { return sn.Allocations() }}

	tests := []struct {
		relayFor            string
		alice, bob, herself int
	}{
		{directory.CallsFromContacts, 1, 0, 0},
		{directory.CallsFromAnyone, 1, 1, 0},
	}
	for _, tt := range tests {
		t.Run("relay-for-"+tt.relayFor, func(t *testing.T) {
			relay.RelayFor = tt.relayFor
			if err := carol.RegisterRelay(ctxTimeout(t), relay); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				who  *directory.Client
				want int
			}{{alice, tt.alice}, {bob, tt.bob}, {carol, tt.herself}} {
				if got := relayHosts(first(iceServers(t, c.who))); len(got) != c.want {
					t.Errorf("%s is offered relays %v, want %d", c.who.User(), got, c.want)
				}
			}
		})
	}

	t.Run("never-to-a-user-the-owner-blocked", func(t *testing.T) {
		if err := carol.Contact(ctxTimeout(t), directory.ContactBlock, "alice", ""); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			who  *directory.Client
			want int
		}{{alice, 0}, {bob, 1}} {
			if got := relayHosts(first(iceServers(t, c.who))); len(got) != c.want {
				t.Errorf("%s is offered relays %v, want %d", c.who.User(), got, c.want)
			}
		}
	})

	t.Run("unreachable-relay-is-refused", func(t *testing.T) {
		dave := d.dial(t, "dave", newIdentity(t))
		closed := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
		err := dave.RegisterRelay(ctxTimeout(t), directory.VolunteerRelay{URLs: []string{"stun:" + closed}, Secret: testSecret})
		var pe *directory.ProtocolError
		if !errors.As(err, &pe) || pe.Code != "unreachable" {
			t.Fatalf("RegisterRelay = %v, want an unreachable error", err)
		}
	})

	t.Run("withdrawn-when-its-session-ends", func(t *testing.T) {
		carol.Close()
		eventually(t, "carol's relay is withdrawn", func() bool { return len(relayHosts(first(iceServers(t, bob)))) == 0 })
	})
}

// freeUDPPort returns a loopback UDP port nobody listens on.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// FuzzSupernodeRegistration posts arbitrary bodies to the registration
// endpoint: each is taken (200) or refused as malformed (400), never
// anything else, and a taken one is offered to clients.
func FuzzSupernodeRegistration(f *testing.F) {
	for _, seed := range []string{
		`{"id":"sn1","urls":["stun:203.0.113.7:3478","turn:203.0.113.7:3478?transport=udp"],"secret":"` + testSecret + `","capacity":10,"load":1}`,
		`{"id":"sn1","urls":["turns:203.0.113.7:443?transport=tcp"],"secret":"` + testSecret + `"}`,
		`{"id":"sn1","urls":["turn:[2001:db8::1]:3478"],"secret":"` + testSecret + `","load":99999999999999999999}`,
		`{"id":"","urls":[],"secret":""}`,
		`{"id":"sn1","urls":["stun:x"],"secret":"` + testSecret + `","capacity":-1}`,
		`{"id":"sn1","urls":null,"secret":"` + testSecret + `"} {}`,
		`[]`,
		``,
	} {
		f.Add([]byte(seed))
	}
	d := startDirectory(f, directory.ServerConfig{Relays: directory.RelayConfig{SupernodeToken: testToken}})
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := http.NewRequest(http.MethodPost, d.http.URL+"/v1/supernodes", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d for %q", resp.StatusCode, body)
		}
	})
}
