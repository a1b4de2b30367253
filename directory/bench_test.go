package directory_test

import (
	"encoding/json"
	"testing"

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
