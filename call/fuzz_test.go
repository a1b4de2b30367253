package call

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
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

// mallory signs what the fuzzer's offers and answers carry, so that they get
// past the signature check into the call.
var mallory = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

// signed re-signs payload as mallory's kind signal to alice if it parses as
// an SDP payload.
func signed(kind, callID string, payload []byte) []byte {
	var p sdpPayload
	if json.Unmarshal(payload, &p) != nil {
		return payload
	}
	p.Key = mallory.Public().(ed25519.PublicKey)
	p.Sig = ed25519.Sign(mallory, signedSDP(directory.SignalKind(kind), callID, "mallory", "alice", p.Leg, p.SDP))
	b, _ := json.Marshal(p)
	return b
}

// FuzzPhoneSignals feeds a phone two signals from a peer (offers and
// answers signed by the peer), answers whatever rings, and checks that the
// phone neither panics nor fails to close.
func FuzzPhoneSignals(f *testing.F) {
	f.Add("x", "offer", []byte(`{"sdp":"v=0"}`), "candidate", []byte(`{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}`))
	f.Add("0123456789abcdef0123456789abcdef", "offer", []byte(`{"sdp":""}`), "hangup", []byte(nil))
	f.Add("c", "answer", []byte(`{"sdp":"v=0"}`), "offer", []byte(`[1,2]`))
	f.Add("c", "offer", []byte(`not json`), "reject", []byte(`{}`))
	f.Add("", "offer", []byte(`{"sdp":null}`), "candidate", []byte(`{"candidate":"garbage","sdpMLineIndex":99}`))
	f.Add("c", "offer", []byte(`{"sdp":"v=0","leg":"x"}`), "accept", []byte(`{"leg":"y"}`))
	f.Add("c", "offer", []byte(`{"sdp":"v=0"}`), "hangup", []byte(`{"reason":"identity-refused"}`))
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
		dir.signals <- directory.Signal{From: "mallory", To: "alice", CallID: callID, Kind: directory.SignalKind(kind1), Payload: signed(kind1, callID, payload1)}
		dir.signals <- directory.Signal{From: "mallory", To: "alice", CallID: callID, Kind: directory.SignalKind(kind2), Payload: signed(kind2, callID, payload2)}
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

// FuzzDecodeSDP checks that an offer or answer's decoder never panics and
// never accepts what the carried key did not sign.
func FuzzDecodeSDP(f *testing.F) {
	good, _ := json.Marshal(sdpPayload{SDP: "v=0", Leg: "l", Key: mallory.Public().(ed25519.PublicKey),
		Sig: ed25519.Sign(mallory, signedSDP(directory.SignalOffer, "c", "mallory", "alice", "l", "v=0"))})
	f.Add(good)
	f.Add([]byte(`{"sdp":"v=0","key":"AAAA","sig":"AAAA"}`))
	f.Add([]byte(`{"sdp":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		sig := directory.Signal{From: "mallory", To: "alice", CallID: "c", Kind: directory.SignalOffer, Payload: payload}
		p, err := decodeSDP(sig, "alice")
		if err == nil && !ed25519.Verify(p.Key, signedSDP(sig.Kind, "c", "mallory", "alice", p.Leg, p.SDP), p.Sig) {
			t.Fatalf("accepted %q, which its key did not sign", payload)
		}
	})
}

// FuzzDecodeControl checks the control channel's decoder.
func FuzzDecodeControl(f *testing.F) {
	f.Add([]byte(`{"type":"state","hold":true}`))
	f.Add([]byte(`{"type":"bye"}`))
	f.Add([]byte(`{"type":"dance"}`))
	f.Add([]byte(`{"type":"state","mute":"yes"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeControl(data)
		if err == nil && m.Type != controlState && m.Type != controlBye {
			t.Fatalf("accepted type %q", m.Type)
		}
		if err == nil && len(data) > maxControlMessage {
			t.Fatalf("accepted %d bytes", len(data))
		}
	})
}

// FuzzDecodeLeg checks the decoder of ringing, accept, reject, busy and
// hang-up payloads: whatever comes, it names a leg or none.
func FuzzDecodeLeg(f *testing.F) {
	f.Add([]byte(`{"leg":"abc"}`))
	f.Add([]byte(`{"leg":"abc","reason":"identity-refused"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := decodeLeg(data)
		if again := decodeLeg(data); again != p {
			t.Fatalf("decoded %q two ways: %+v, %+v", data, p, again)
		}
	})
}
