package directory_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/directory/identity"
)

// testTimeout bounds every wait in these tests; things normally take milliseconds.
const testTimeout = 5 * time.Second

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &identity.Identity{Private: key}
}

// testDirectory is a real directory server on a loopback port.
type testDirectory struct {
	srv  *directory.Server
	http *httptest.Server
}

func startDirectory(t testing.TB, cfg directory.ServerConfig) *testDirectory {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	srv, err := directory.NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	d := &testDirectory{srv: srv, http: httptest.NewServer(srv.Handler())}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Server.Close: %v", err)
		}
		d.http.Close()
	})
	return d
}

func (d *testDirectory) wsURL() string {
	return "ws" + strings.TrimPrefix(d.http.URL, "http") + "/v1/ws"
}

// dial logs user in with id; the client is closed when the test ends.
func (d *testDirectory) dial(t testing.TB, user string, id *identity.Identity) *directory.Client {
	t.Helper()
	c, err := dialURL(t, d.http.URL, user, id)
	if err != nil {
		t.Fatalf("Dial %s: %v", user, err)
	}
	return c
}

// dialURL logs user in, taking calls from anyone so that tests of the
// relay need not make users contacts first; contact tests use dialWith.
func dialURL(t testing.TB, url, user string, id *identity.Identity) (*directory.Client, error) {
	t.Helper()
	return dialWith(t, directory.ClientConfig{URL: url, User: user, Identity: id, CallsFrom: directory.CallsFromAnyone})
}

// dialDevice logs user in from device, taking calls from anyone: a newer
// login of the same device takes the session over.
func (d *testDirectory) dialDevice(t testing.TB, user, device string, id *identity.Identity) *directory.Client {
	t.Helper()
	c, err := dialWith(t, directory.ClientConfig{URL: d.http.URL, User: user, Identity: id, Device: device, CallsFrom: directory.CallsFromAnyone})
	if err != nil {
		t.Fatalf("Dial %s on %s: %v", user, device, err)
	}
	return c
}

// dialWith dials with cfg (its Logger set); the client is closed when the
// test ends.
func dialWith(t testing.TB, cfg directory.ClientConfig) (*directory.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	// Cancelling the dial context once Dial returns must not affect the client.
	defer cancel()
	cfg.Logger = testLogger(t)
	c, err := directory.Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, nil
}

func ctxTimeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func nextSignal(t testing.TB, c *directory.Client) directory.Signal {
	t.Helper()
	select {
	case s, ok := <-c.Signals():
		if !ok {
			t.Fatalf("%s: Signals closed: %v", c.User(), c.Err())
		}
		return s
	case <-time.After(testTimeout):
		t.Fatalf("%s: no signal within %v", c.User(), testTimeout)
	}
	return directory.Signal{}
}

func nextPresence(t testing.TB, c *directory.Client) directory.Presence {
	t.Helper()
	select {
	case p, ok := <-c.PresenceUpdates():
		if !ok {
			t.Fatalf("%s: PresenceUpdates closed: %v", c.User(), c.Err())
		}
		return p
	case <-time.After(testTimeout):
		t.Fatalf("%s: no presence update within %v", c.User(), testTimeout)
	}
	return directory.Presence{}
}

func waitDone(t testing.TB, c *directory.Client) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(testTimeout):
		t.Fatalf("%s: connection still up after %v", c.User(), testTimeout)
	}
	return nil
}

// eventually polls cond until it holds or testTimeout passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, testTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// befriend makes a and b accepted contacts (a asks, b accepts) and waits
// until each has seen the other's presence.
func befriend(t testing.TB, a, b *directory.Client) {
	t.Helper()
	if err := a.Contact(ctxTimeout(t), directory.ContactAdd, b.User(), "hi"); err != nil {
		t.Fatalf("%s adds %s: %v", a.User(), b.User(), err)
	}
	if err := b.Contact(ctxTimeout(t), directory.ContactAccept, a.User(), ""); err != nil {
		t.Fatalf("%s accepts %s: %v", b.User(), a.User(), err)
	}
	for _, c := range []*directory.Client{a, b} {
		for p := nextPresence(t, c); p.Status == directory.StatusOffline; p = nextPresence(t, c) {
		}
	}
}

// rawConn speaks the protocol by hand, from its documented form, to send
// what the Client never would.
type rawConn struct {
	t     *testing.T
	conn  *websocket.Conn
	nonce []byte
}

func (d *testDirectory) rawDial(t *testing.T) *rawConn {
	t.Helper()
	conn, _, err := websocket.Dial(ctxTimeout(t), d.wsURL(), nil)
	if err != nil {
		t.Fatalf("raw dial: %v", err)
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = conn.CloseNow() })
	r := &rawConn{t: t, conn: conn}
	hello := r.read()
	if hello["type"] != "hello" || hello["v"] != 1.0 {
		t.Fatalf("first frame %v, want a version 1 hello", hello)
	}
	r.nonce, err = base64.StdEncoding.DecodeString(hello["nonce"].(string))
	if err != nil || len(r.nonce) != 32 {
		t.Fatalf("hello nonce %v: %v", hello["nonce"], err)
	}
	return r
}

func (r *rawConn) send(frame string) {
	r.t.Helper()
	if err := r.conn.Write(ctxTimeout(r.t), websocket.MessageText, []byte(frame)); err != nil {
		r.t.Fatalf("raw write: %v", err)
	}
}

// read returns the next frame, decoded generically.
func (r *rawConn) read() map[string]any {
	r.t.Helper()
	frame, err := r.readErr()
	if err != nil {
		r.t.Fatalf("raw read: %v", err)
	}
	return frame
}

func (r *rawConn) readErr() (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	typ, data, err := r.conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, errors.New("server sent a binary frame")
	}
	var frame map[string]any
	if err := json.Unmarshal(data, &frame); err != nil {
		return nil, err
	}
	return frame, nil
}

// loginFrame builds a login as docs/protocol.md specifies, signing with
// signer over nonce.
func loginFrame(id, user string, key ed25519.PublicKey, signer ed25519.PrivateKey, nonce []byte) string {
	msg := append([]byte("parley directory login v1\x00"), nonce...)
	msg = append(msg, user...)
	frame, _ := json.Marshal(map[string]any{
		"v": 1, "type": "login", "id": id, "user": user,
		"key": base64.StdEncoding.EncodeToString(key),
		"sig": base64.StdEncoding.EncodeToString(ed25519.Sign(signer, msg)),
	})
	return string(frame)
}

// login logs in taking calls from anyone, like dialURL.
func (r *rawConn) login(user string, id *identity.Identity) {
	r.t.Helper()
	r.send(strings.Replace(loginFrame("login-1", user, id.Public(), id.Private, r.nonce), "{", `{"calls_from":"anyone",`, 1))
	if got := r.read(); got["type"] != "ok" || got["id"] != "login-1" {
		r.t.Fatalf("login answer %v, want ok", got)
	}
}

// expectError reads the next frame and checks it is an error with code and id.
func (r *rawConn) expectError(code, id string) {
	r.t.Helper()
	got := r.read()
	if got["type"] != "error" || got["code"] != code || got["v"] != 1.0 {
		r.t.Fatalf("got %v, want a version 1 error %q", got, code)
	}
	gotID, _ := got["id"].(string)
	if gotID != id {
		r.t.Fatalf("error %v echoes id %q, want %q", got, gotID, id)
	}
	if msg, _ := got["message"].(string); msg == "" {
		r.t.Fatalf("error %v has no message", got)
	}
}

// expectAlive checks the connection still answers a ping.
func (r *rawConn) expectAlive() {
	r.t.Helper()
	r.send(`{"v":1,"type":"ping","id":"alive"}`)
	if got := r.read(); got["type"] != "pong" || got["id"] != "alive" {
		r.t.Fatalf("ping answered with %v, want pong", got)
	}
}

// blackhole is a loopback TCP proxy that, once frozen, silently swallows
// everything in both directions: to either end the other looks dead, with
// no FIN or RST to give it away.
type blackhole struct {
	ln     net.Listener
	target string
	frozen chan struct{}
	freeze sync.Once
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func startBlackhole(t testing.TB, target string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln, target: target, frozen: make(chan struct{})}
	b.wg.Add(1)
	go b.acceptLoop()
	t.Cleanup(b.close)
	return b
}

func (b *blackhole) addr() string { return b.ln.Addr().String() }

func (b *blackhole) freezeNow() { b.freeze.Do(func() { close(b.frozen) }) }

func (b *blackhole) acceptLoop() {
	defer b.wg.Done()
	for {
		down, err := b.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", b.target)
		if err != nil {
			_ = down.Close()
			continue
		}
		b.mu.Lock()
		b.conns = append(b.conns, down, up)
		b.mu.Unlock()
		b.wg.Add(2)
		go b.pump(up, down)
		go b.pump(down, up)
	}
}

func (b *blackhole) pump(dst, src net.Conn) {
	defer b.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		select {
		case <-b.frozen:
			continue // swallowed
		default:
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// reset closes the connections made so far, as a network failure would;
// new ones are accepted.
func (b *blackhole) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		_ = c.Close()
	}
	b.conns = nil
}

func (b *blackhole) close() {
	_ = b.ln.Close()
	b.mu.Lock()
	for _, c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// drain discards what is left in a channel without waiting.
func drain[T any](ch <-chan T) (n int) {
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return n
			}
			n++
		default:
			return n
		}
	}
}
