package call

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v4/vnet"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/directory/identity"
)

// These tests drive each transition of the call state machine with real
// phones: a real directory, real PeerConnections on loopback, real Opus.

func active(t *testing.T, c *Call) {
	t.Helper()
	select {
	case <-c.Active():
	case <-c.Done():
		_, err := c.Result()
		t.Fatalf("call with %s ended before connecting: %v", c.Peer(), err)
	case <-time.After(10 * time.Second):
		t.Fatalf("call with %s did not connect within 10 s", c.Peer())
	}
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", what)
		}
	}
}

// eventLog records a phone's events.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev.Event)
}

func (l *eventLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// packetsReceived is how many audio packets c has received so far.
func packetsReceived(c *Call) uint64 { return c.LiveStats().PacketsReceived }

func TestHoldAndMute(t *testing.T) {
	url := startDirectory(t)
	var aliceEvents, bobEvents eventLog
	aliceHome := t.TempDir()
	alice := newPhone(t, url, "alice", PhoneConfig{OnEvent: aliceEvents.add, Home: aliceHome})
	bob := newPhone(t, url, "bob", PhoneConfig{OnEvent: bobEvents.add})
	out := dial(t, alice, "bob", DialOptions{})
	in := nextIncoming(t, bob)
	in.Answer()
	active(t, out)
	active(t, in)

	// flowing reports how many packets each side receives in 600 ms.
	flowing := func() (toAlice, toBob uint64) {
		a0, b0 := packetsReceived(out), packetsReceived(in)
		time.Sleep(600 * time.Millisecond)
		return packetsReceived(out) - a0, packetsReceived(in) - b0
	}
	time.Sleep(300 * time.Millisecond)
	if a, b := flowing(); a < 10 || b < 10 {
		t.Fatalf("before hold: alice got %d packets, bob %d in 600 ms; want ~30 each", a, b)
	}

	out.Hold()
	eventually(t, "bob sees alice's hold", func() bool { return in.Status().PeerHold })
	time.Sleep(200 * time.Millisecond) // what was in flight arrives
	if a, b := flowing(); a > 1 || b > 1 {
		t.Errorf("on hold: alice got %d packets, bob %d; want none either way", a, b)
	}
	out.Resume()
	eventually(t, "bob sees alice resume", func() bool { return !in.Status().PeerHold })
	time.Sleep(200 * time.Millisecond)
	if a, b := flowing(); a < 10 || b < 10 {
		t.Errorf("resumed: alice got %d packets, bob %d; want ~30 each", a, b)
	}

	if err := out.Do("mute"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob sees alice muted", func() bool { return in.Status().PeerMute })
	time.Sleep(200 * time.Millisecond)
	if a, b := flowing(); a < 10 || b > 1 {
		t.Errorf("alice muted: alice got %d packets (want ~30), bob %d (want none)", a, b)
	}
	if err := out.Do("unmute"); err != nil {
		t.Fatal(err)
	}
	if err := out.Do("dance"); err == nil {
		t.Error(`Do("dance") = nil, want an error`)
	}
	eventually(t, "bob sees alice unmuted", func() bool { return !in.Status().PeerMute })

	out.Hangup()
	as, _ := result(t, out)
	bs, _ := result(t, in)
	if as.PacketsSent == 0 || bs.PacketsReceived > as.PacketsSent {
		t.Errorf("alice sent %d packets, bob received %d: the held ones must not count as sent", as.PacketsSent, bs.PacketsReceived)
	}
	want := map[string][]string{
		"alice": {"dialing", "ringing", "connecting", "active", "hold", "resume", "mute", "unmute", "ended"},
		"bob":   {"ringing", "connecting", "active", "peer-hold", "peer-resume", "peer-mute", "peer-unmute", "ended"},
	}
	for who, log := range map[string]*eventLog{"alice": &aliceEvents, "bob": &bobEvents} {
		if got := log.list(); !slices.Equal(got, want[who]) {
			t.Errorf("%s's events %v, want %v", who, got, want[who])
		}
	}

	recs, err := ReadHistory(aliceHome)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("alice's history holds %d calls, want 1", len(recs))
	}
	if r := recs[0]; r.Peer != "bob" || r.Direction != Outgoing || r.EndReason != EndLocalHangup || r.DurationS < 2 || r.Path != "direct" || r.SAS != as.SAS {
		t.Errorf("history record %+v; want bob, outgoing, local-hangup, ≥ 2 s, direct, SAS %s", r, as.SAS)
	}
}

// lyingDirectory is a directory that tampers with the signals it relays
// to its user: the man in the middle that signatures must catch.
type lyingDirectory struct {
	*directory.Client
	signals chan directory.Signal
}

func (d *lyingDirectory) Signals() <-chan directory.Signal { return d.signals }

// lie returns a wrap for newPhoneVia that passes every signal to the user
// through tamper.
func lie(tamper func(*directory.Signal)) func(*directory.Client) Signaller {
	return func(c *directory.Client) Signaller {
		d := &lyingDirectory{Client: c, signals: make(chan directory.Signal, 64)}
		go func() {
			for {
				select {
				case sig := <-c.Signals():
					tamper(&sig)
					d.signals <- sig
				case <-c.Done():
					return
				}
			}
		}()
		return d
	}
}

// swapFingerprint changes the DTLS fingerprint of an offer or answer, as a
// directory putting itself in the middle of the media would, and re-signs
// it with mallory's key if she is given.
func swapFingerprint(t *testing.T, sig *directory.Signal, mallory ed25519.PrivateKey) {
	var p sdpPayload
	if err := json.Unmarshal(sig.Payload, &p); err != nil {
		t.Errorf("tamper: %v", err)
		return
	}
	at := strings.Index(p.SDP, "a=fingerprint:")
	end := at + strings.IndexAny(p.SDP[at:], "\r\n")
	if at < 0 || end <= at {
		t.Errorf("tamper: no fingerprint in %q", p.SDP)
		return
	}
	swapped := "00"
	if p.SDP[end-2:end] == swapped {
		swapped = "11"
	}
	p.SDP = p.SDP[:end-2] + swapped + p.SDP[end:]
	if mallory != nil {
		p.Key = mallory.Public().(ed25519.PublicKey)
		p.Sig = ed25519.Sign(mallory, signedSDP(sig.Kind, sig.CallID, sig.From, sig.To, p.Leg, p.SDP))
	}
	sig.Payload, _ = json.Marshal(p)
}

func TestDirectoryInTheMiddleIsRefused(t *testing.T) {
	_, mallory, _ := ed25519.GenerateKey(nil)
	tests := []struct {
		name string
		// tampered: the kind of signal the directory alters, on its way to
		// whom; resign: with mallory's key, after an honest first call
		// pinned the keys.
		tampered               directory.SignalKind
		toCaller, resign       bool
		wantCaller, wantCallee EndReason
	}{
		{name: "offer-altered", tampered: directory.SignalOffer, wantCaller: EndIdentityRefused, wantCallee: EndBadSignature},
		{name: "answer-altered", tampered: directory.SignalAnswer, toCaller: true, wantCaller: EndBadSignature, wantCallee: EndIdentityRefused},
		{name: "offer-resigned-by-directory", tampered: directory.SignalOffer, resign: true, wantCaller: EndIdentityRefused, wantCallee: EndKeyChanged},
		{name: "answer-resigned-by-directory", tampered: directory.SignalAnswer, toCaller: true, resign: true, wantCaller: EndKeyChanged, wantCallee: EndIdentityRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := startDirectory(t)
			var lying atomic.Bool
			wrap := lie(func(sig *directory.Signal) {
				if lying.Load() && sig.Kind == tt.tampered {
					key := mallory
					if !tt.resign {
						key = nil
					}
					swapFingerprint(t, sig, key)
				}
			})
			aliceWrap, bobWrap := wrap, (func(*directory.Client) Signaller)(nil)
			if !tt.toCaller {
				aliceWrap, bobWrap = nil, wrap
			}
			bobHome := t.TempDir()
			alice := newPhoneVia(t, url, "alice", PhoneConfig{}, aliceWrap)
			bob := newPhoneVia(t, url, "bob", PhoneConfig{Home: bobHome}, bobWrap)
			if tt.resign {
				// An honest first call pins both keys.
				out := dial(t, alice, "bob", DialOptions{Duration: 300 * time.Millisecond})
				nextIncoming(t, bob).Answer()
				if _, got := result(t, out); got != EndLocalHangup {
					t.Fatalf("honest call ended %s", got)
				}
			}
			lying.Store(true)
			out := dial(t, alice, "bob", DialOptions{})
			var in *Call
			if tt.toCaller {
				in = nextIncoming(t, bob)
				in.Answer()
			} else {
				eventually(t, "bob's phone refuses the call", func() bool { return len(bob.callsNow()) == 0 && out.Status().State == StateEnded })
			}
			if _, got := result(t, out); got != tt.wantCaller {
				t.Errorf("caller ended %s, want %s", got, tt.wantCaller)
			}
			if in != nil {
				if _, got := result(t, in); got != tt.wantCallee {
					t.Errorf("callee ended %s, want %s", got, tt.wantCallee)
				}
				return
			}
			select {
			case c := <-bob.Incoming():
				t.Fatalf("a refused call from %s rang", c.Peer())
			default:
			}
			recs, err := ReadHistory(bobHome)
			if err != nil || len(recs) == 0 || recs[len(recs)-1].EndReason != tt.wantCallee {
				t.Errorf("bob's history %+v (%v); want its last call %s", recs, err, tt.wantCallee)
			}
		})
	}
}

// callsNow lists the phone's calls in progress.
func (p *Phone) callsNow() []*Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	var calls []*Call
	for _, c := range p.calls {
		calls = append(calls, c)
	}
	return calls
}

func TestPins(t *testing.T) {
	home := t.TempDir()
	pins := OpenPins(home)
	_, k1, _ := ed25519.GenerateKey(nil)
	_, k2, _ := ed25519.GenerateKey(nil)
	pub1, pub2 := k1.Public().(ed25519.PublicKey), k2.Public().(ed25519.PublicKey)
	if err := pins.check("bob", pub1); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := OpenPins(home).check("bob", pub1); err != nil {
		t.Fatalf("same key, another process: %v", err)
	}
	err := pins.check("bob", pub2)
	if err == nil || !strings.Contains(err.Error(), "parley verify bob") {
		t.Fatalf("changed key: %v; want a refusal that says how to re-verify", err)
	}
	if _, err := pins.Verify("bob", identity.Fingerprint(pub1)); err == nil {
		t.Error("verifying the new key with the old key's fingerprint succeeded")
	}
	if _, err := pins.Verify("carol", ""); err == nil {
		t.Error("verifying a user with no changed key succeeded")
	}
	if _, err := OpenPins(home).Verify("bob", identity.Fingerprint(pub2)); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := pins.check("bob", pub2); err != nil {
		t.Errorf("re-verified key: %v", err)
	}
	if err := pins.check("bob", pub1); err == nil {
		t.Error("the old key is still accepted after re-verifying")
	}

	if err := os.WriteFile(filepath.Join(home, PinsFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = pins.check("bob", pub2)
	if err == nil || refusedReason(err) != EndFailed || !strings.Contains(err.Error(), PinsFile) {
		t.Errorf("with the pins file garbled: %v (%s); want a refusal naming the file, as a local failure", err, refusedReason(err))
	}
}

func TestSeveralDevices(t *testing.T) {
	tests := []struct {
		name string
		// act: bob's second device does this when the call rings there;
		// then his first device answers.
		act       func(t *testing.T, in2 *Call)
		busyPhone bool // bob's second device answers every call busy
		want2     EndReason
	}{
		{name: "first-answer-wins", act: func(t *testing.T, in2 *Call) {}, want2: EndAnsweredElsewhere},
		{name: "reject-on-one-device-others-ring-on", act: func(t *testing.T, in2 *Call) {
			in2.Reject()
			time.Sleep(2 * refusalGrace)
		}, want2: EndRejected},
		{name: "busy-device-others-ring-on", busyPhone: true},
	}
	t.Run("caller-cancels-every-device-stops", func(t *testing.T) {
		url := startDirectory(t)
		alice := newPhone(t, url, "alice", PhoneConfig{})
		bobHome := t.TempDir()
		bob1 := newPhone(t, url, "bob", PhoneConfig{Home: bobHome})
		bob2 := newPhone(t, url, "bob", PhoneConfig{Home: bobHome})
		out := dial(t, alice, "bob", DialOptions{})
		in1, in2 := nextIncoming(t, bob1), nextIncoming(t, bob2)
		out.Hangup()
		for _, in := range []*Call{in1, in2} {
			if _, got := result(t, in); got != EndMissed {
				t.Errorf("a device ended %s, want missed", got)
			}
		}
		if _, got := result(t, out); got != EndCancelled {
			t.Errorf("caller ended %s, want cancelled", got)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := startDirectory(t)
			alice := newPhone(t, url, "alice", PhoneConfig{})
			bobHome := t.TempDir()
			bob1 := newPhone(t, url, "bob", PhoneConfig{Home: bobHome})
			bob2 := newPhone(t, url, "bob", PhoneConfig{Home: bobHome, RefuseIncoming: tt.busyPhone})
			out := dial(t, alice, "bob", DialOptions{})
			in1 := nextIncoming(t, bob1)
			var in2 *Call
			if !tt.busyPhone {
				in2 = nextIncoming(t, bob2)
				tt.act(t, in2)
			} else {
				time.Sleep(2 * refusalGrace)
			}
			eventually(t, "alice's call rings", func() bool { return out.Status().State == StateRinging })
			if st := out.Status().State; st != StateRinging {
				t.Fatalf("alice's call is %s, want still ringing at bob's first device", st)
			}
			in1.Answer()
			answered := time.Now()
			if in2 != nil {
				if _, got := result(t, in2); got != tt.want2 {
					t.Errorf("second device ended %s, want %s", got, tt.want2)
				}
				if d := time.Since(answered); d > 3*time.Second && tt.want2 == EndAnsweredElsewhere {
					t.Errorf("second device rang %v after the first answered, want < 1 s (3 s allowed)", d)
				}
			}
			active(t, out)
			active(t, in1)
			out.Hangup()
			if _, got := result(t, in1); got != EndRemoteHangup {
				t.Errorf("answering device ended %s, want remote-hangup", got)
			}
		})
	}
}

// BenchmarkAnsweredElsewhere measures the time from answering on one
// device to the call having stopped ringing on the user's other device
// (goal: 1 s), and reports the median.
func BenchmarkAnsweredElsewhere(b *testing.B) {
	url := startDirectory(b)
	alice := newPhone(b, url, "alice", PhoneConfig{})
	bobHome := b.TempDir()
	bob1, bob2 := newPhone(b, url, "bob", PhoneConfig{Home: bobHome}), newPhone(b, url, "bob", PhoneConfig{Home: bobHome})
	var took []time.Duration
	for b.Loop() {
		out, err := alice.Dial(b.Context(), "bob", DialOptions{})
		if err != nil {
			b.Fatal(err)
		}
		in1, in2 := <-bob1.Incoming(), <-bob2.Incoming()
		in1.Answer()
		start := time.Now()
		<-in2.Done()
		took = append(took, time.Since(start))
		<-out.Active()
		out.Hangup()
		<-in1.Done()
		<-out.Done()
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2])/float64(time.Millisecond), "ms-median")
}

func TestGlareMakesOneCall(t *testing.T) {
	url := startDirectory(t)
	alice := newPhone(t, url, "alice", PhoneConfig{})
	bob := newPhone(t, url, "bob", PhoneConfig{})
	var wg sync.WaitGroup
	var a, b *Call
	wg.Go(func() { a = dial(t, alice, "bob", DialOptions{}) })
	wg.Go(func() { b = dial(t, bob, "alice", DialOptions{}) })
	wg.Wait()
	active(t, a)
	active(t, b)
	if a.ID() != b.ID() {
		t.Errorf("alice is in call %s, bob in %s; want one call", a.ID(), b.ID())
	}
	for _, p := range []*Phone{alice, bob} {
		if n := len(p.callsNow()); n != 1 {
			t.Errorf("a phone has %d calls, want 1", n)
		}
	}
	a.Hangup()
	if _, got := result(t, b); got != EndRemoteHangup {
		t.Errorf("bob's call ended %s, want remote-hangup", got)
	}
}

func TestCallWaiting(t *testing.T) {
	url := startDirectory(t)
	alice := newPhone(t, url, "alice", PhoneConfig{})
	carol := newPhone(t, url, "carol", PhoneConfig{})
	bob := newPhone(t, url, "bob", PhoneConfig{CallWaiting: true})

	first := dial(t, alice, "bob", DialOptions{})
	in1 := nextIncoming(t, bob)
	in1.Answer()
	active(t, first)
	second := dial(t, carol, "bob", DialOptions{})
	in2 := nextIncoming(t, bob)
	eventually(t, "carol's call rings at bob", func() bool { return second.Status().State == StateRinging })
	in2.Answer()
	active(t, second)
	eventually(t, "alice sees her call held", func() bool { return first.Status().PeerHold && in1.Status().Hold })

	dave := newPhone(t, url, "dave", PhoneConfig{})
	if _, got := result(t, dial(t, dave, "bob", DialOptions{})); got != EndBusy {
		t.Errorf("a third caller ended %s, want busy: call waiting takes one call more", got)
	}
	in2.Hangup()
	in1.Resume()
	eventually(t, "alice sees her call resumed", func() bool { return !first.Status().PeerHold })
	first.Hangup()
	if _, got := result(t, in1); got != EndRemoteHangup {
		t.Errorf("bob's first call ended %s, want remote-hangup", got)
	}
}

func TestCallOutlivesDirectory(t *testing.T) {
	srv, err := directory.NewServer(directory.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	alice := newPhone(t, hs.URL, "alice", PhoneConfig{})
	bob := newPhone(t, hs.URL, "bob", PhoneConfig{})
	out := dial(t, alice, "bob", DialOptions{})
	in := nextIncoming(t, bob)
	in.Answer()
	active(t, out)

	srv.Close()
	hs.CloseClientConnections()
	time.Sleep(2 * time.Second)
	if st := out.Status().State; st != StateActive {
		t.Fatalf("with the directory gone the call is %s, want active", st)
	}
	before := packetsReceived(in)
	time.Sleep(500 * time.Millisecond)
	if packetsReceived(in) == before {
		t.Error("with the directory gone, no audio flows")
	}
	out.Hangup()
	select {
	case <-in.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("bob did not hear the hang-up within 3 s without a directory")
	}
	if _, got := result(t, in); got != EndRemoteHangup {
		t.Errorf("bob's call ended %s, want remote-hangup", got)
	}
}

// vnetPair puts two hosts on a pion virtual network whose traffic the test
// can cut.
func vnetPair(t *testing.T) (nets [2]*vnet.Net, cut *atomic.Bool) {
	t.Helper()
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	for i, ip := range []string{"10.0.0.2", "10.0.0.3"} {
		if nets[i], err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}}); err != nil {
			t.Fatal(err)
		}
		if err := router.AddNet(nets[i]); err != nil {
			t.Fatal(err)
		}
	}
	cut = new(atomic.Bool)
	router.AddChunkFilter(func(vnet.Chunk) bool { return !cut.Load() })
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { router.Stop() })
	return nets, cut
}

// TestVanishedPeerWithoutDirectory cuts the network between two peers in
// the middle of a call whose directory has gone: no hang-up of any kind
// can pass, no ICE restart can be signalled, and both sides must end the
// call "peer-lost" within 10 s.
func TestVanishedPeerWithoutDirectory(t *testing.T) {
	nets, cut := vnetPair(t)
	srv, err := directory.NewServer(directory.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	alice := newPhone(t, hs.URL, "alice", PhoneConfig{Net: nets[0]})
	bob := newPhone(t, hs.URL, "bob", PhoneConfig{Net: nets[1]})
	out := dial(t, alice, "bob", DialOptions{})
	in := nextIncoming(t, bob)
	in.Answer()
	active(t, out)
	active(t, in)
	time.Sleep(500 * time.Millisecond)

	srv.Close()
	hs.CloseClientConnections()
	cut.Store(true)
	start := time.Now()
	for _, c := range []*Call{out, in} {
		select {
		case <-c.Done():
		case <-time.After(20 * time.Second):
			t.Fatalf("%s's call still up 20 s after the network was cut", c.Direction())
		}
		took := time.Since(start)
		t.Logf("%s call ended %v after the cut", c.Direction(), took.Round(10*time.Millisecond))
		if _, got := result(t, c); got != EndPeerLost {
			t.Errorf("%s call ended %s, want peer-lost", c.Direction(), got)
		}
		if took > 20*time.Second {
			t.Errorf("%s call ended %v after the cut, want within 10 s (20 s allowed)", c.Direction(), took)
		}
	}
}

// TestNoPathIsICEFailed answers a call between peers that no packet can
// pass between: signalling works, ICE finds nothing, both sides end
// "ice-failed".
func TestNoPathIsICEFailed(t *testing.T) {
	nets, cut := vnetPair(t)
	cut.Store(true)
	url := startDirectory(t)
	alice := newPhone(t, url, "alice", PhoneConfig{Net: nets[0]})
	bob := newPhone(t, url, "bob", PhoneConfig{Net: nets[1]})
	out := dial(t, alice, "bob", DialOptions{})
	in := nextIncoming(t, bob)
	in.Answer()
	for _, c := range []*Call{out, in} {
		if _, got := result(t, c); got != EndICEFailed {
			t.Errorf("%s call ended %s, want ice-failed", c.Direction(), got)
		}
	}
}

// TestLosingDeviceCannotEndTheCall has a device of bob's that did not win
// the answer hang up late (it never heard the caller's accept): alice's
// call with the device that answered goes on.
func TestLosingDeviceCannotEndTheCall(t *testing.T) {
	url := startDirectory(t)
	alice := newPhone(t, url, "alice", PhoneConfig{})
	bobHome := t.TempDir()
	bob := newPhone(t, url, "bob", PhoneConfig{Home: bobHome})
	id, err := identity.LoadOrCreate(bobHome)
	if err != nil {
		t.Fatal(err)
	}
	other, err := directory.Dial(t.Context(), directory.ClientConfig{URL: url, User: "bob", Identity: id, CallsFrom: directory.CallsFromAnyone})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	out := dial(t, alice, "bob", DialOptions{})
	in := nextIncoming(t, bob)
	in.Answer()
	active(t, out)
	late, _ := json.Marshal(legPayload{Leg: "another-device"})
	if err := other.Send(t.Context(), directory.Signal{To: "alice", CallID: out.ID(), Kind: directory.SignalHangup, Payload: late}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if st := out.Status().State; st != StateActive {
		t.Fatalf("after another device's hang-up alice's call is %s, want active", st)
	}
	in.Hangup()
	if _, got := result(t, out); got != EndRemoteHangup {
		t.Errorf("alice's call ended %s, want remote-hangup", got)
	}
}

// TestGlareWithSeveralDevices: alice and one of bob's two devices call each
// other at once. They get one call, and bob's other device, where alice's
// call rang, stops ringing at once whichever call is kept.
func TestGlareWithSeveralDevices(t *testing.T) {
	url := startDirectory(t)
	alice := newPhone(t, url, "alice", PhoneConfig{})
	bobHome := t.TempDir()
	bob1 := newPhone(t, url, "bob", PhoneConfig{Home: bobHome})
	bob2 := newPhone(t, url, "bob", PhoneConfig{Home: bobHome})
	var wg sync.WaitGroup
	var a, b *Call
	wg.Go(func() { a = dial(t, alice, "bob", DialOptions{}) })
	wg.Go(func() { b = dial(t, bob1, "alice", DialOptions{}) })
	wg.Wait()
	active(t, a)
	active(t, b)
	if a.ID() != b.ID() {
		t.Errorf("alice is in call %s, bob in %s; want one call", a.ID(), b.ID())
	}
	// Alice's call rang there unless bob's reached alice before she
	// dialled, and she answered it instead.
	select {
	case in2 := <-bob2.Incoming():
		select {
		case <-in2.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("alice's call still rings on bob's other device 5 s after the glare")
		}
		if _, got := result(t, in2); got != EndAnsweredElsewhere && got != EndMissed {
			t.Errorf("bob's other device ended %s, want answered-elsewhere or missed", got)
		}
	case <-time.After(time.Second):
	}
	a.Hangup()
	if _, got := result(t, b); got != EndRemoteHangup {
		t.Errorf("bob's call ended %s, want remote-hangup", got)
	}
}
