package directory_test

import (
	"errors"
	"testing"
	"time"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/directory/identity"
)

// contactsDirectory runs a directory whose users take calls from contacts
// only (the default).
type contactsDirectory struct {
	*testDirectory
	ids map[string]*identity.Identity
}

func startContactsDirectory(t *testing.T) *contactsDirectory {
	return &contactsDirectory{testDirectory: startDirectory(t, directory.ServerConfig{}), ids: make(map[string]*identity.Identity)}
}

// login logs user in with its key (made on first use) and cfg's other settings.
func (d *contactsDirectory) login(t *testing.T, user string, cfg directory.ClientConfig) *directory.Client {
	t.Helper()
	if d.ids[user] == nil {
		d.ids[user] = newIdentity(t)
	}
	cfg.URL, cfg.User, cfg.Identity = d.http.URL, user, d.ids[user]
	c, err := dialWith(t, cfg)
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// states returns c's contact list as user → state.
func states(t *testing.T, c *directory.Client) map[string]directory.Contact {
	t.Helper()
	list, err := c.Contacts(ctxTimeout(t))
	if err != nil {
		t.Fatalf("%s: Contacts: %v", c.User(), err)
	}
	m := make(map[string]directory.Contact, len(list))
	for _, ct := range list {
		m[ct.User] = ct
	}
	return m
}

func expectState(t *testing.T, c *directory.Client, peer, want string) directory.Contact {
	t.Helper()
	got, ok := states(t, c)[peer]
	if want == "" {
		if ok {
			t.Errorf("%s still lists %s as %q", c.User(), peer, got.State)
		}
		return got
	}
	if got.State != want {
		t.Errorf("%s lists %s as %q, want %q", c.User(), peer, got.State, want)
	}
	return got
}

func nextContact(t *testing.T, c *directory.Client) directory.Contact {
	t.Helper()
	select {
	case ct := <-c.ContactUpdates():
		return ct
	case <-time.After(testTimeout):
		t.Fatalf("%s: no contact update within %v", c.User(), testTimeout)
	}
	return directory.Contact{}
}

func TestContactRequestLifecycle(t *testing.T) {
	d := startContactsDirectory(t)
	bob := d.login(t, "bob", directory.ClientConfig{})
	if err := bob.Close(); err != nil { // bob is registered but offline
		t.Fatal(err)
	}
	alice := d.login(t, "alice", directory.ClientConfig{})

	if err := alice.Contact(ctxTimeout(t), directory.ContactAdd, "nobody", ""); !errors.Is(err, directory.ErrNoSuchUser) {
		t.Errorf("add nobody: %v, want ErrNoSuchUser", err)
	}
	if err := alice.Contact(ctxTimeout(t), directory.ContactAccept, "bob", ""); !errors.Is(err, directory.ErrProtocol) {
		t.Errorf("accept without a request: %v, want ErrProtocol", err)
	}
	if err := alice.Contact(ctxTimeout(t), directory.ContactAdd, "bob", "it's alice"); err != nil {
		t.Fatalf("add bob while he is offline: %v", err)
	}
	if got := nextContact(t, alice); got.User != "bob" || got.State != directory.ContactOutgoing {
		t.Errorf("alice's own update: %+v", got)
	}
	expectState(t, alice, "bob", directory.ContactOutgoing)

	// Delivered at bob's next login.
	bob = d.login(t, "bob", directory.ClientConfig{})
	if got := expectState(t, bob, "alice", directory.ContactIncoming); got.Message != "it's alice" {
		t.Errorf("bob sees the request's message %q", got.Message)
	}
	if err := bob.Contact(ctxTimeout(t), directory.ContactDecline, "alice", ""); err != nil {
		t.Fatal(err)
	}
	if got := nextContact(t, alice); got.User != "bob" || got.State != directory.ContactDeclined {
		t.Errorf("alice was told %+v, want bob declined", got)
	}
	expectState(t, alice, "bob", directory.ContactDeclined)
	expectState(t, bob, "alice", "")
	if got := nextContact(t, bob); got.User != "alice" || got.State != directory.ContactNone {
		t.Errorf("bob's own update after declining: %+v, want none", got)
	}

	// Asked again, accepted this time.
	if err := alice.Contact(ctxTimeout(t), directory.ContactAdd, "bob", "please?"); err != nil {
		t.Fatal(err)
	}
	if got := nextContact(t, bob); got.User != "alice" || got.State != directory.ContactIncoming || got.Message != "please?" {
		t.Errorf("bob, online, was told %+v", got)
	}
	if err := bob.Contact(ctxTimeout(t), directory.ContactAccept, "alice", ""); err != nil {
		t.Fatal(err)
	}
	if got := expectState(t, alice, "bob", directory.ContactAccepted); got.Status != directory.StatusOnline {
		t.Errorf("alice sees her contact bob as %+v, want online", got)
	}
	expectState(t, bob, "alice", directory.ContactAccepted)
	if got := nextPresence(t, alice); got.User != "bob" || got.Status != directory.StatusOnline {
		t.Errorf("alice's presence update %+v, want bob online", got)
	}

	// Offline contacts show when they were last seen.
	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	nextPresence(t, alice)
	if got := expectState(t, alice, "bob", directory.ContactAccepted); got.Status != directory.StatusOffline || got.LastSeen.IsZero() {
		t.Errorf("bob offline: alice sees %+v, want offline with a last-seen time", got)
	}

	if err := alice.Contact(ctxTimeout(t), directory.ContactRemove, "bob", ""); err != nil {
		t.Fatal(err)
	}
	bob = d.login(t, "bob", directory.ClientConfig{})
	expectState(t, alice, "bob", "")
	expectState(t, bob, "alice", "")
}

func TestBlockedUserLearnsNothing(t *testing.T) {
	d := startContactsDirectory(t)
	alice := d.login(t, "alice", directory.ClientConfig{})
	mallory := d.login(t, "mallory", directory.ClientConfig{})
	befriend(t, alice, mallory)

	if err := alice.Contact(ctxTimeout(t), directory.ContactBlock, "mallory", ""); err != nil {
		t.Fatal(err)
	}
	expectState(t, alice, "mallory", directory.ContactBlocked)
	if got := nextPresence(t, mallory); got.User != "alice" || got.Status != directory.StatusOffline {
		t.Errorf("mallory's view of alice after the block: %+v, want offline", got)
	}
	if got := expectState(t, mallory, "alice", directory.ContactAccepted); got.Status != directory.StatusOffline {
		t.Errorf("mallory sees alice as %+v, want offline", got)
	}
	if err := mallory.Send(ctxTimeout(t), directory.Signal{To: "alice", CallID: "c", Kind: directory.SignalOffer}); !errors.Is(err, directory.ErrOffline) {
		t.Errorf("blocked mallory calls alice: %v, want ErrOffline", err)
	}
	if p, err := mallory.Lookup(ctxTimeout(t), "alice"); err != nil || p.Status != directory.StatusOffline {
		t.Errorf("blocked mallory looks alice up: %+v, %v; want offline", p, err)
	}

	// Removed and asking again: the request stays outgoing for ever.
	if err := mallory.Contact(ctxTimeout(t), directory.ContactRemove, "alice", ""); err != nil {
		t.Fatal(err)
	}
	if err := mallory.Contact(ctxTimeout(t), directory.ContactAdd, "alice", "let me in"); err != nil {
		t.Errorf("blocked mallory's request: %v, want it to look accepted", err)
	}
	expectState(t, mallory, "alice", directory.ContactOutgoing)
	expectState(t, alice, "mallory", directory.ContactBlocked)
	for len(alice.ContactUpdates()) > 0 {
		if ct := <-alice.ContactUpdates(); ct.User == "mallory" && ct.State == directory.ContactIncoming {
			t.Errorf("alice was told of the blocked request: %+v", ct)
		}
	}
}

func TestAutoAcceptAndControlSessions(t *testing.T) {
	d := startContactsDirectory(t)
	echo := d.login(t, "echo", directory.ClientConfig{AutoAccept: true, CallsFrom: directory.CallsFromAnyone})
	alice := d.login(t, "alice", directory.ClientConfig{})

	// A stranger sees the echo service and may call it.
	if p, err := alice.Lookup(ctxTimeout(t), "echo"); err != nil || p.Status != directory.StatusOnline {
		t.Errorf("Lookup(echo) = %+v, %v; want online", p, err)
	}
	if err := alice.Send(ctxTimeout(t), directory.Signal{To: "echo", CallID: "c", Kind: directory.SignalOffer}); err != nil {
		t.Fatalf("alice calls echo: %v", err)
	}
	// echo answers though alice takes calls from contacts only: she called.
	if err := echo.Send(ctxTimeout(t), directory.Signal{To: "alice", CallID: "c", Kind: directory.SignalAnswer}); err != nil {
		t.Errorf("echo answers alice: %v", err)
	}
	if got := nextSignal(t, alice); got.From != "echo" {
		t.Errorf("alice got %+v", got)
	}

	// A control session of alice's adds echo, accepted at once, and sets
	// her status; her main session stays and sees it all.
	ctl := d.login(t, "alice", directory.ClientConfig{Control: true})
	if err := ctl.Contact(ctxTimeout(t), directory.ContactAdd, "echo", ""); err != nil {
		t.Fatal(err)
	}
	expectState(t, ctl, "echo", directory.ContactAccepted)
	if got := nextContact(t, alice); got.User != "echo" || got.State != directory.ContactAccepted {
		t.Errorf("alice's session was told %+v", got)
	}
	if err := ctl.SetStatus(ctxTimeout(t), directory.StatusBusy, "in a meeting"); err != nil {
		t.Fatal(err)
	}
	for p := nextPresence(t, echo); p.Status != directory.StatusBusy; p = nextPresence(t, echo) {
	}
	if err := ctl.Send(ctxTimeout(t), directory.Signal{To: "echo", CallID: "c", Kind: directory.SignalOffer}); !errors.Is(err, directory.ErrProtocol) {
		t.Errorf("a control session signals: %v, want ErrProtocol", err)
	}
	if err := ctl.Close(); err != nil {
		t.Fatal(err)
	}
	if alice.Err() != nil {
		t.Errorf("the control session ended alice's session: %v", alice.Err())
	}
	if p, err := echo.Lookup(ctxTimeout(t), "alice"); err != nil || p.Status != directory.StatusBusy || p.Note != "in a meeting" {
		t.Errorf("echo looks alice up: %+v, %v; want busy, in a meeting", p, err)
	}
}

func TestSeveralDevicesOfOneUser(t *testing.T) {
	d := startContactsDirectory(t)
	alice := d.login(t, "alice", directory.ClientConfig{})
	phone := d.login(t, "bob", directory.ClientConfig{Device: "phone"})
	befriend(t, alice, phone)
	laptop := d.login(t, "bob", directory.ClientConfig{Device: "laptop"})
	if phone.Err() != nil {
		t.Fatalf("bob's laptop took his phone's session: %v", phone.Err())
	}

	// A call rings every device.
	if err := alice.Send(ctxTimeout(t), directory.Signal{To: "bob", CallID: "c", Kind: directory.SignalOffer}); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []*directory.Client{phone, laptop} {
		if got := nextSignal(t, dev); got.From != "alice" || got.CallID != "c" {
			t.Errorf("a device of bob's got %+v", got)
		}
	}
	// Both devices see bob's contacts' presence and his status changes.
	if err := laptop.SetStatus(ctxTimeout(t), directory.StatusAway, ""); err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, alice, "bob", directory.StatusAway)

	// bob is online while one device is.
	if err := phone.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	for len(alice.PresenceUpdates()) > 0 {
		if p := <-alice.PresenceUpdates(); p.Status == directory.StatusOffline {
			t.Errorf("bob went offline for alice while his laptop is on: %+v", p)
		}
	}
	if err := alice.Send(ctxTimeout(t), directory.Signal{To: "bob", CallID: "c2", Kind: directory.SignalOffer}); err != nil {
		t.Errorf("signal to bob's remaining device: %v", err)
	}
	if err := laptop.Close(); err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, alice, "bob", directory.StatusOffline)
}

func awaitStatus(t *testing.T, c *directory.Client, user, status string) {
	t.Helper()
	for p := nextPresence(t, c); p.User != user || p.Status != status; p = nextPresence(t, c) {
	}
}
