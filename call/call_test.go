package call

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/directory/identity"
	"github.com/parley-voip/parley/media"
)

// These tests run real Phones: a real directory over WebSocket, real pion
// PeerConnections on loopback, real Opus. Only the sound devices are
// replaced by a tone and a WAV file.

func startDirectory(t testing.TB) string {
	t.Helper()
	srv, err := directory.NewServer(directory.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return hs.URL
}

// newPhone logs user in to the directory at url and starts a phone with a
// 440 Hz microphone and a recording speaker. Phones of one user share a
// home (cfg.Home) to be that user's devices.
func newPhone(t testing.TB, url, user string, cfg PhoneConfig) *Phone {
	t.Helper()
	return newPhoneVia(t, url, user, cfg, nil)
}

// newPhoneVia is newPhone whose directory the test may wrap, to be a
// directory that lies.
func newPhoneVia(t testing.TB, url, user string, cfg PhoneConfig, wrap func(*directory.Client) Signaller) *Phone {
	t.Helper()
	home := cfg.Home
	if home == "" {
		home = t.TempDir()
	}
	id, err := identity.LoadOrCreate(home)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The users are not contacts: each takes calls from anyone.
	client, err := directory.Dial(ctx, directory.ClientConfig{URL: url, User: user, Identity: id, CallsFrom: directory.CallsFromAnyone})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Directory, cfg.Identity, cfg.Home = client, id, home
	if wrap != nil {
		cfg.Directory = wrap(client)
	}
	if cfg.Media.Mic == "" {
		cfg.Media.Mic = "tone:440"
	}
	if cfg.Media.Speaker == "" {
		cfg.Media.Speaker = "file:" + filepath.Join(t.TempDir(), user+".wav")
	}
	p, err := NewPhone(cfg)
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		client.Close()
	})
	return p
}

// nextIncoming waits for a call to ring at p.
func nextIncoming(t *testing.T, p *Phone) *Call {
	t.Helper()
	select {
	case c := <-p.Incoming():
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no incoming call within 10 s")
		return nil
	}
}

// result waits for c to end and returns its stats and end reason.
func result(t *testing.T, c *Call) (Stats, EndReason) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("call with %s did not end within 30 s", c.Peer())
	}
	st, err := c.Result()
	var endErr *EndError
	if err != nil && !errors.As(err, &endErr) {
		t.Fatalf("call with %s: error %v is not an *EndError", c.Peer(), err)
	}
	if (err == nil) != st.EndReason.completed() {
		t.Errorf("call with %s: error %v for end reason %s", c.Peer(), err, st.EndReason)
	}
	if endErr != nil && endErr.Reason != st.EndReason {
		t.Errorf("error says %s, stats say %s", endErr.Reason, st.EndReason)
	}
	return st, st.EndReason
}

func dial(t *testing.T, p *Phone, peer string, opt DialOptions) *Call {
	t.Helper()
	c, err := p.Dial(context.Background(), peer, opt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCallCompletes(t *testing.T) {
	url := startDirectory(t)
	alice := newPhone(t, url, "alice", PhoneConfig{})
	bobSpeaker := filepath.Join(t.TempDir(), "bob.wav")
	bob := newPhone(t, url, "bob", PhoneConfig{Media: MediaConfig{Speaker: "file:" + bobSpeaker}})

	out := dial(t, alice, "bob", DialOptions{Duration: 2 * time.Second})
	in := nextIncoming(t, bob)
	if in.Peer() != "alice" || in.Direction() != Incoming {
		t.Fatalf("incoming call from %s (%s)", in.Peer(), in.Direction())
	}
	in.Answer()

	as, areason := result(t, out)
	bs, breason := result(t, in)
	if areason != EndLocalHangup || breason != EndRemoteHangup {
		t.Fatalf("end reasons alice %s, bob %s; want local-hangup, remote-hangup", areason, breason)
	}
	for _, s := range []Stats{as, bs} {
		if s.Path != "direct" || s.SetupMS <= 0 || s.PacketsSent == 0 || s.PacketsReceived == 0 {
			t.Errorf("%s's stats: path %q setup %.1f ms sent %d received %d", s.Direction, s.Path, s.SetupMS, s.PacketsSent, s.PacketsReceived)
		}
	}
	if len(as.SAS) != 6 || as.SAS != bs.SAS {
		t.Errorf("SAS: alice reads %q, bob %q; want the same six digits", as.SAS, bs.SAS)
	}
	// Bob heard alice's tone: a 440 Hz sine crosses zero 880 times a second.
	heard, err := media.ReadWAV(bobSpeaker)
	if err != nil {
		t.Fatal(err)
	}
	if len(heard) < media.SampleRate {
		t.Fatalf("bob recorded %d samples, want over a second", len(heard))
	}
	tail := heard[len(heard)/2:] // past the start-up, where audio flows
	crossings := 0
	for i := 1; i < len(tail); i++ {
		if (tail[i-1] < 0) != (tail[i] < 0) {
			crossings++
		}
	}
	perSecond := float64(crossings) / (float64(len(tail)) / media.SampleRate)
	if perSecond < 860 || perSecond > 900 {
		t.Errorf("bob's recording crosses zero %.0f times/s, want ~880 (a 440 Hz tone)", perSecond)
	}
}

func TestCallEnds(t *testing.T) {
	tests := []struct {
		name string
		// act drives the call from both ends once it rings at the callee.
		act                    func(t *testing.T, out, in *Call)
		ringTimeout            time.Duration
		wantCaller, wantCallee EndReason
	}{
		{
			name:       "callee-rejects",
			act:        func(t *testing.T, out, in *Call) { in.Reject() },
			wantCaller: EndRejected, wantCallee: EndRejected,
		},
		{
			name:       "caller-cancels-while-ringing",
			act:        func(t *testing.T, out, in *Call) { out.Hangup() },
			wantCaller: EndCancelled, wantCallee: EndMissed,
		},
		{
			name:        "nobody-answers",
			act:         func(t *testing.T, out, in *Call) {},
			ringTimeout: 500 * time.Millisecond,
			wantCaller:  EndNoAnswer, wantCallee: EndMissed,
		},
		{
			name: "callee-hangs-up-during-call",
			act: func(t *testing.T, out, in *Call) {
				in.Answer()
				<-in.Active()
				time.Sleep(500 * time.Millisecond)
				in.Hangup()
			},
			wantCaller: EndRemoteHangup, wantCallee: EndLocalHangup,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := startDirectory(t)
			alice := newPhone(t, url, "alice", PhoneConfig{RingTimeout: tt.ringTimeout})
			bob := newPhone(t, url, "bob", PhoneConfig{RingTimeout: tt.ringTimeout})
			out := dial(t, alice, "bob", DialOptions{})
			in := nextIncoming(t, bob)
			tt.act(t, out, in)
			if _, got := result(t, out); got != tt.wantCaller {
				t.Errorf("caller ended %s, want %s", got, tt.wantCaller)
			}
			if _, got := result(t, in); got != tt.wantCallee {
				t.Errorf("callee ended %s, want %s", got, tt.wantCallee)
			}
		})
	}
}

func TestBusy(t *testing.T) {
	url := startDirectory(t)
	alice := newPhone(t, url, "alice", PhoneConfig{})
	carol := newPhone(t, url, "carol", PhoneConfig{})
	bob := newPhone(t, url, "bob", PhoneConfig{})

	first := dial(t, alice, "bob", DialOptions{})
	nextIncoming(t, bob).Answer()
	select {
	case <-first.Active():
	case <-time.After(10 * time.Second):
		t.Fatal("first call did not connect")
	}
	second := dial(t, carol, "bob", DialOptions{})
	if _, got := result(t, second); got != EndBusy {
		t.Errorf("second caller ended %s, want busy", got)
	}
	first.Hangup()
	if _, got := result(t, first); got != EndLocalHangup {
		t.Errorf("first call ended %s, want local-hangup", got)
	}
}

func TestDialFailsAtOnce(t *testing.T) {
	url := startDirectory(t)
	alice := newPhone(t, url, "alice", PhoneConfig{})

	// dave registers his name, then goes offline.
	id, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dave, err := directory.Dial(context.Background(), directory.ClientConfig{URL: url, User: "dave", Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	dave.Close()
	time.Sleep(200 * time.Millisecond) // let the directory see the socket close

	tests := []struct {
		peer string
		want error
	}{
		{"nobody", ErrNoSuchUser},
		{"dave", ErrOffline},
		{"alice", ErrSelf},
	}
	for _, tt := range tests {
		t.Run(tt.peer, func(t *testing.T) {
			_, err := alice.Dial(context.Background(), tt.peer, DialOptions{})
			if !errors.Is(err, tt.want) {
				t.Errorf("Dial(%s) = %v, want %v", tt.peer, err, tt.want)
			}
		})
	}
}

func TestPhoneCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("call", func(t *testing.T) {
		url := startDirectory(t)
		alice := newPhone(t, url, "alice", PhoneConfig{})
		bob := newPhone(t, url, "bob", PhoneConfig{})
		out := dial(t, alice, "bob", DialOptions{Duration: 500 * time.Millisecond})
		nextIncoming(t, bob).Answer()
		result(t, out)
	})
	// pion closes some of its goroutines shortly after Close returns.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
