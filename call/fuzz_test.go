package call

import (
	"context"
	"testing"
	"time"

	"github.com/parley-voip/parley/directory"
)

// scriptedDirectory is a Signaller whose incoming signals the test writes:
// a real directory would refuse most of what a fuzzer makes up, and the
// phone must survive whatever any directory, honest or not, hands it.
type scriptedDirectory struct {
	signals chan directory.Signal
	done    chan struct{}
}

func (d *scriptedDirectory) User() string { return "alice" }
func (d *scriptedDirectory) Lookup(_ context.Context, user string) (directory.Presence, error) {
	return directory.Presence{User: user, Exists: true, Status: directory.StatusOnline}, nil
}
func (d *scriptedDirectory) Send(context.Context, directory.Signal) error { return nil }
func (d *scriptedDirectory) Signals() <-chan directory.Signal             { return d.signals }
func (d *scriptedDirectory) Done() <-chan struct{}                        { return d.done }

// FuzzPhoneSignals feeds a phone two signals from a peer, answers whatever
// rings, and checks that the phone neither panics nor fails to close.
func FuzzPhoneSignals(f *testing.F) {
	f.Add("x", "offer", []byte(`{"sdp":"v=0"}`), "candidate", []byte(`{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}`))
	f.Add("0123456789abcdef0123456789abcdef", "offer", []byte(`{"sdp":""}`), "hangup", []byte(nil))
	f.Add("c", "answer", []byte(`{"sdp":"v=0"}`), "offer", []byte(`[1,2]`))
	f.Add("c", "offer", []byte(`not json`), "reject", []byte(`{}`))
	f.Add("", "offer", []byte(`{"sdp":null}`), "candidate", []byte(`{"candidate":"garbage","sdpMLineIndex":99}`))
	f.Fuzz(func(t *testing.T, callID, kind1 string, payload1 []byte, kind2 string, payload2 []byte) {
		dir := &scriptedDirectory{signals: make(chan directory.Signal, 2), done: make(chan struct{})}
		p, err := NewPhone(PhoneConfig{
			Directory:   dir,
			Media:       MediaConfig{Mic: "silence", Speaker: "null"},
			RingTimeout: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		dir.signals <- directory.Signal{From: "mallory", To: "alice", CallID: callID, Kind: directory.SignalKind(kind1), Payload: payload1}
		dir.signals <- directory.Signal{From: "mallory", To: "alice", CallID: callID, Kind: directory.SignalKind(kind2), Payload: payload2}
		select {
		case c := <-p.Incoming():
			c.Answer()
		case <-time.After(20 * time.Millisecond):
		}
		closed := make(chan struct{})
		go func() {
			p.Close()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatal("phone did not close within 10 s")
		}
	})
}
