package directory_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parley-voip/parley/directory"
)

// serveOn runs a directory on NATS n at addr ("127.0.0.1:0" for any port)
// and returns its address and a function that shuts it down gracefully.
func serveOn(t testing.TB, n *directory.NATS, addr string) (string, func()) {
	t.Helper()
	srv, err := directory.NewServer(directory.ServerConfig{NATS: n, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		srv.Close()
		hs.Close()
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

func TestClientReconnectsWhenTheDirectoryReturns(t *testing.T) {
	n := openNATS(t, "")
	addr, stop := serveOn(t, n, "127.0.0.1:0")
	dial := func(user string) *directory.Client {
		c, err := dialWith(t, directory.ClientConfig{URL: addr, User: user, Identity: newIdentity(t), Reconnect: true})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	alice, bob := dial("alice"), dial("bob")
	befriend(t, alice, bob)
	if alice.Reconnecting() {
		t.Error("Reconnecting while connected")
	}

	stop() // graceful: the clients are told to go away, and come back
	eventually(t, "alice says she is reconnecting", alice.Reconnecting)
	if err := alice.Send(ctxTimeout(t), directory.Signal{To: "bob", CallID: "c", Kind: directory.SignalOffer}); !errors.Is(err, directory.ErrConnectionLost) {
		t.Errorf("Send while the directory is down: %v, want ErrConnectionLost", err)
	}
	time.Sleep(300 * time.Millisecond)
	back := time.Now()
	serveOn(t, n, addr)
	eventually(t, "alice reaches bob again", func() bool {
		return alice.Send(ctxTimeout(t), directory.Signal{To: "bob", CallID: "c", Kind: directory.SignalOffer}) == nil
	})
	took := time.Since(back)
	t.Logf("back online %v after the directory returned", took)
	if took > 5*time.Second {
		t.Errorf("back online after %v, want within 5 s", took)
	}
	if alice.Reconnecting() {
		t.Error("Reconnecting after the client is back")
	}
	if got := nextSignal(t, bob); got.From != "alice" {
		t.Errorf("bob got %+v after reconnecting", got)
	}
	select {
	case <-alice.Done():
		t.Errorf("alice's client ended: %v", alice.Err())
	default:
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, alice); !errors.Is(err, directory.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
	if alice.Reconnecting() {
		t.Error("Reconnecting after Close")
	}
}

func TestClientMovesToAnotherDirectory(t *testing.T) {
	n := openNATS(t, "")
	addr1, stop1 := serveOn(t, n, "127.0.0.1:0")
	addr2, _ := serveOn(t, n, "127.0.0.1:0")
	alice, err := dialWith(t, directory.ClientConfig{URL: addr1 + "," + addr2, User: "alice", Identity: newIdentity(t), Reconnect: true, CallsFrom: directory.CallsFromAnyone})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := dialWith(t, directory.ClientConfig{URL: addr2, User: "bob", Identity: newIdentity(t)})
	if err != nil {
		t.Fatal(err)
	}
	stop1()
	eventually(t, "bob reaches alice through the other directory", func() bool {
		return bob.Send(ctxTimeout(t), directory.Signal{To: "alice", CallID: "c", Kind: directory.SignalOffer}) == nil
	})
	if got := nextSignal(t, alice); got.From != "bob" {
		t.Errorf("alice got %+v", got)
	}
}

func TestReplacedClientDoesNotReconnect(t *testing.T) {
	d := startDirectory(t, directory.ServerConfig{})
	id := newIdentity(t)
	old, err := dialWith(t, directory.ClientConfig{URL: d.http.URL, User: "alice", Identity: id, Device: "laptop", Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	d.dialDevice(t, "alice", "laptop", id)
	if err := waitDone(t, old); !errors.Is(err, directory.ErrReplaced) {
		t.Errorf("replaced client ended with %v, want ErrReplaced", err)
	}
}

func TestClientOverTLS(t *testing.T) {
	srv, err := directory.NewServer(directory.ServerConfig{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below is expected
	ts.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
	})
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())
	id := newIdentity(t)
	for _, url := range []string{ts.URL, "wss" + strings.TrimPrefix(ts.URL, "https")} {
		c, err := dialWith(t, directory.ClientConfig{URL: url, User: "alice", Identity: id, TLS: &tls.Config{RootCAs: roots}})
		if err != nil {
			t.Fatalf("Dial %s: %v", url, err)
		}
		if _, err := c.Lookup(ctxTimeout(t), "alice"); err != nil {
			t.Errorf("Lookup over %s: %v", url, err)
		}
		c.Close()
	}
	// Without the directory's certificate among its roots, a client refuses it.
	if _, err := dialWith(t, directory.ClientConfig{URL: ts.URL, User: "bob", Identity: newIdentity(t)}); !errors.Is(err, directory.ErrUnreachable) {
		t.Errorf("Dial with an untrusted certificate: %v, want ErrUnreachable", err)
	}
}
