package directory_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/parley-voip/parley/directory"
)

// BenchmarkLogin measures a whole login: connect, hello, signed login, close.
func BenchmarkLogin(b *testing.B) {
	d := startDirectory(b, directory.ServerConfig{})
	id := newIdentity(b)
	for b.Loop() {
		c, err := dialURL(b, d.http.URL, "alice", id)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignalRelay measures one candidate signal from alice to bob: Send
// until the directory's ack, then bob receiving it.
func BenchmarkSignalRelay(b *testing.B) {
	d := startDirectory(b, directory.ServerConfig{})
	alice := d.dial(b, "alice", newIdentity(b))
	bob := d.dial(b, "bob", newIdentity(b))
	s := directory.Signal{
		To: "bob", CallID: "bench", Kind: directory.SignalCandidate,
		Payload: json.RawMessage(`{"candidate":"candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host","sdpMid":"0"}`),
	}
	ctx := ctxTimeout(b)
	for b.Loop() {
		if err := alice.Send(ctx, s); err != nil {
			b.Fatal(err)
		}
		nextSignal(b, bob)
	}
}

// BenchmarkReconnect measures how long a client takes to be back online
// (a signal goes through) after its directory returns from a graceful
// restart, as a median; the directory stays away for 300 ms each time.
func BenchmarkReconnect(b *testing.B) {
	n := openNATS(b, "")
	addr, stop := serveOn(b, n, "127.0.0.1:0")
	alice, err := dialWith(b, directory.ClientConfig{URL: addr, User: "alice", Identity: newIdentity(b), Reconnect: true})
	if err != nil {
		b.Fatal(err)
	}
	bob, err := dialWith(b, directory.ClientConfig{URL: addr, User: "bob", Identity: newIdentity(b), CallsFrom: directory.CallsFromAnyone, Reconnect: true})
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for range bob.Signals() {
		}
	}()
	var took []time.Duration
	for b.Loop() {
		stop()
		time.Sleep(300 * time.Millisecond)
		back := time.Now()
		_, stop = serveOn(b, n, addr)
		for alice.Send(ctxTimeout(b), directory.Signal{To: "bob", CallID: "c", Kind: directory.SignalOffer}) != nil {
			time.Sleep(5 * time.Millisecond)
		}
		took = append(took, time.Since(back))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "median-ms/reconnect")
}
