package ui

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/media"
)

// fakeBackend records what the UI asks of it; its channels stand in for
// the directory's pushes.
type fakeBackend struct {
	user     string
	contacts []directory.Contact
	dialErr  error
	history  []call.HistoryRecord
	inbox    []directory.Chat
	// ownStatus and ownNote are what the directory kept from last time.
	ownStatus, ownNote string
	reconnecting       atomic.Bool

	contactUpdates chan directory.Contact
	presence       chan directory.Presence
	incoming       chan Call
	chats          chan directory.Chat
	done           chan struct{}

	mu      sync.Mutex
	actions []string // "add carol hi", "status away note", "dial echo"
	calls   []*fakeCall
}

func newFakeBackend(user string, contacts ...directory.Contact) *fakeBackend {
	return &fakeBackend{
		user:           user,
		ownStatus:      directory.StatusOnline,
		contacts:       contacts,
		contactUpdates: make(chan directory.Contact, 8),
		presence:       make(chan directory.Presence, 8),
		incoming:       make(chan Call, 8),
		chats:          make(chan directory.Chat, 8),
		done:           make(chan struct{}),
	}
}

func (b *fakeBackend) record(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.actions = append(b.actions, s)
}

func (b *fakeBackend) recorded() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.actions)
}

func (b *fakeBackend) User() string        { return b.user }
func (b *fakeBackend) Fingerprint() string { return "abcd efgh" }
func (b *fakeBackend) Contacts(context.Context) ([]directory.Contact, error) {
	return append([]directory.Contact(nil), b.contacts...), nil
}

func (b *fakeBackend) Contact(_ context.Context, action directory.ContactAction, peer, message string) error {
	b.record(strings.TrimSpace(string(action) + " " + peer + " " + message))
	return nil
}

func (b *fakeBackend) SetDevices(mic, speaker string) { b.record("devices " + mic + " " + speaker) }
func (b *fakeBackend) SetAudio(a media.AudioSettings) { b.record("audio " + audioString(a)) }

// audioString writes a as the fakes record it.
func audioString(a media.AudioSettings) string {
	return fmt.Sprintf("aec %s ns %s agc %s volume %g gain %g", a.AEC, a.NS, a.AGC, a.SpeakerVolumeDB, a.MicGainDB)
}

func (b *fakeBackend) OwnStatus(context.Context) (string, string, error) {
	return b.ownStatus, b.ownNote, nil
}

func (b *fakeBackend) SetStatus(_ context.Context, status, note string) error {
	b.record(strings.TrimSpace("status " + status + " " + note))
	return nil
}

func (b *fakeBackend) Dial(_ context.Context, peer string) (Call, error) {
	b.record("dial " + peer)
	if b.dialErr != nil {
		return nil, b.dialErr
	}
	c := newFakeCall(peer, call.Outgoing)
	b.mu.Lock()
	b.calls = append(b.calls, c)
	b.mu.Unlock()
	return c, nil
}

func (b *fakeBackend) PeerFingerprint(peer string) string {
	if peer == "bob" {
		return "b0b0 b0b0 b0b0 b0b0 b0b0"
	}
	return ""
}

func (b *fakeBackend) SendChat(_ context.Context, to, text string) error {
	b.record("chat " + to + " " + text)
	if to == "dave" {
		return directory.ErrNotContact
	}
	return nil
}

func (b *fakeBackend) Inbox(context.Context) ([]directory.Chat, error) { return b.inbox, nil }
func (b *fakeBackend) Chats() <-chan directory.Chat                    { return b.chats }

func (b *fakeBackend) History(context.Context) ([]call.HistoryRecord, error) { return b.history, nil }

func (b *fakeBackend) ContactUpdates() <-chan directory.Contact   { return b.contactUpdates }
func (b *fakeBackend) PresenceUpdates() <-chan directory.Presence { return b.presence }
func (b *fakeBackend) Incoming() <-chan Call                      { return b.incoming }
func (b *fakeBackend) Done() <-chan struct{}                      { return b.done }
func (b *fakeBackend) Reconnecting() bool                         { return b.reconnecting.Load() }
func (b *fakeBackend) Err() error                                 { return nil }

// fakeCall is a call whose life the test drives.
type fakeCall struct {
	noChat bool
	peer   string
	dir    call.Direction
	active chan struct{}
	done   chan struct{}

	mu       sync.Mutex
	commands []string
	live     call.Stats
	status   call.Status
	meter    media.Meter
	metered  bool
	result   call.Stats
}

func newFakeCall(peer string, dir call.Direction) *fakeCall {
	return &fakeCall{peer: peer, dir: dir, active: make(chan struct{}), done: make(chan struct{})}
}

func (c *fakeCall) Peer() string              { return c.peer }
func (c *fakeCall) Direction() call.Direction { return c.dir }
func (c *fakeCall) command(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.commands = append(c.commands, s)
}
func (c *fakeCall) Answer()                 { c.command("answer") }
func (c *fakeCall) Reject()                 { c.command("reject") }
func (c *fakeCall) Hangup()                 { c.command("hangup") }
func (c *fakeCall) Hold()                   { c.command("hold") }
func (c *fakeCall) Resume()                 { c.command("resume") }
func (c *fakeCall) Mute()                   { c.command("mute") }
func (c *fakeCall) Unmute()                 { c.command("unmute") }
func (c *fakeCall) Active() <-chan struct{} { return c.active }
func (c *fakeCall) Done() <-chan struct{}   { return c.done }
func (c *fakeCall) Result() (call.Stats, error) {
	<-c.done
	return c.result, nil
}

func (c *fakeCall) LiveStats() call.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

func (c *fakeCall) Status() call.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

func (c *fakeCall) Meter() (media.Meter, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.meter, c.metered
}

func (c *fakeCall) SwitchDevices(mic, speaker string) error {
	c.command("switch " + mic + " " + speaker)
	return nil
}

// Chat sends over the call, whose chat is open unless noChat.
func (c *fakeCall) Chat(text string) error {
	if c.noChat {
		return call.ErrNoChat
	}
	c.command("chat " + text)
	return nil
}

func (c *fakeCall) SetAudio(a media.AudioSettings) error {
	c.command("audio " + audioString(a))
	return nil
}

// awaitCommands waits until the call has had n commands, which come from
// goroutines of their own, and returns them sorted.
func (c *fakeCall) awaitCommands(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := c.recordedCommands()
		if len(got) >= n || time.Now().After(deadline) {
			slices.Sort(got)
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *fakeCall) recordedCommands() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.commands)
}

func (c *fakeCall) end(st call.Stats) {
	c.result = st
	close(c.done)
}

// harness runs a Model the way bubbletea does, but synchronously: each
// message's commands run, and the messages they return are fed back in,
// until none comes within a short wait (commands that wait on channels
// are left waiting, as they would be in a program).
type harness struct {
	t     *testing.T
	m     *Model
	msgs  chan tea.Msg
	bells int // terminal bells rung
}

func newHarness(t *testing.T, cfg Config) *harness {
	h := &harness{t: t, m: New(cfg), msgs: make(chan tea.Msg, 64)}
	h.m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.run(h.m.Init())
	h.settle()
	return h
}

// run starts cmd and its batch's parts; their messages arrive on h.msgs.
func (h *harness) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		if msg != nil {
			h.msgs <- msg
		}
	}()
}

// settle feeds back messages until none arrives for a while.
func (h *harness) settle() {
	for {
		select {
		case msg := <-h.msgs:
			switch msg := msg.(type) {
			case tea.BatchMsg:
				for _, c := range msg {
					h.run(c)
				}
			case tea.RawMsg:
				if msg.Msg == "\a" {
					h.bells++
				}
			case tea.QuitMsg:
			default:
				_, cmd := h.m.Update(msg)
				h.run(cmd)
			}
		case <-time.After(20 * time.Millisecond):
			return
		}
	}
}

// send delivers msg and settles.
func (h *harness) send(msg tea.Msg) {
	_, cmd := h.m.Update(msg)
	h.run(cmd)
	h.settle()
}

// keys types each key of s; "<enter>", "<esc>", "<up>", "<down>" are keys.
func (h *harness) keys(s string) {
	for s != "" {
		var k tea.KeyPressMsg
		switch {
		case strings.HasPrefix(s, "<enter>"):
			k, s = tea.KeyPressMsg{Code: tea.KeyEnter}, s[len("<enter>"):]
		case strings.HasPrefix(s, "<esc>"):
			k, s = tea.KeyPressMsg{Code: tea.KeyEscape}, s[len("<esc>"):]
		case strings.HasPrefix(s, "<up>"):
			k, s = tea.KeyPressMsg{Code: tea.KeyUp}, s[len("<up>"):]
		case strings.HasPrefix(s, "<down>"):
			k, s = tea.KeyPressMsg{Code: tea.KeyDown}, s[len("<down>"):]
		default:
			r := []rune(s)[0]
			k, s = tea.KeyPressMsg{Code: r, Text: string(r)}, s[len(string(r)):]
		}
		h.send(k)
	}
}

// screen is the view as plain text.
func (h *harness) screen() string { return ansi.Strip(h.m.View().Content) }

// wantScreen checks that the screen shows every one of subs, giving
// commands that a loaded machine runs late a few seconds to report.
func (h *harness) wantScreen(subs ...string) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, missing := h.screen(), ""
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				missing = sub
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("screen lacks %q:\n%s", missing, s)
		}
		h.settle()
	}
}

// fits checks that the screen is exactly 80×24.
func (h *harness) fits() {
	h.t.Helper()
	lines := strings.Split(h.screen(), "\n")
	if len(lines) != 24 {
		h.t.Fatalf("%d lines, want 24", len(lines))
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > 80 || strings.HasSuffix(l, "…") {
			h.t.Fatalf("line %d is %d wide or cut: %q", i, w, l)
		}
	}
}

// activeCall calls peer and has the call answered.
func activeCall(h *harness, b *fakeBackend, peer string) *fakeCall {
	h.keys(":call " + peer + "<enter>")
	c := b.calls[len(b.calls)-1]
	close(c.active)
	h.settle()
	return c
}

func loggedIn(t *testing.T, b *fakeBackend) *harness {
	return newHarness(t, Config{User: b.user, Directory: "127.0.0.1:8478", Speaker: "null",
		Start: func(context.Context, string) (Backend, error) { return b, nil }})
}

var (
	echo  = directory.Contact{User: "echo", State: directory.ContactAccepted, Status: directory.StatusOnline, Note: "hear yourself"}
	bob   = directory.Contact{User: "bob", State: directory.ContactAccepted, Status: directory.StatusAway}
	dave  = directory.Contact{User: "dave", State: directory.ContactAccepted, Status: directory.StatusOffline}
	carol = directory.Contact{User: "carol", State: directory.ContactIncoming, Message: "hi, it's carol"}
)

func TestFirstRunAsksForAName(t *testing.T) {
	b := newFakeBackend("alice", echo)
	var asked []string
	h := newHarness(t, Config{Start: func(_ context.Context, user string) (Backend, error) {
		asked = append(asked, user)
		if user == "taken" {
			return nil, directory.ErrNameTaken
		}
		return b, nil
	}})
	h.wantScreen("name:")

	h.keys("A!<enter>")
	h.wantScreen(`"A!" is not a name`)
	if len(asked) != 0 {
		t.Fatalf("a bad name reached Start: %v", asked)
	}
	h.m.input.Reset()
	h.keys("taken<enter>")
	h.wantScreen("name:", "log in:")
	h.m.input.Reset()
	h.keys("alice<enter>")
	if !reflect.DeepEqual(asked, []string{"taken", "alice"}) {
		t.Fatalf("Start got %v", asked)
	}
	h.wantScreen("Parley  alice", "echo", "online", "hear yourself")

	// The name's limit of 32 characters is gone with the name prompt.
	long := ":add bob " + strings.Repeat("a long message ", 5) + "<enter>"
	h.keys(long)
	if got := b.recorded(); len(got) != 1 || got[0] != strings.TrimSpace("add bob "+strings.Repeat("a long message ", 5)) {
		t.Errorf("backend got %q", got)
	}
}

func TestWelcome(t *testing.T) {
	b := newFakeBackend("alice", echo)
	h := newHarness(t, Config{User: "alice", Welcome: "Press Enter to call echo",
		Start: func(context.Context, string) (Backend, error) { return b, nil }})
	h.wantScreen("Press Enter to call echo")
	h = loggedIn(t, b)
	h.wantScreen("logged in as alice (key abcd efgh)")
}

func TestLoginFailureCanBeRetried(t *testing.T) {
	b := newFakeBackend("alice", echo)
	fail := true
	h := newHarness(t, Config{User: "alice", Directory: "127.0.0.1:1", Start: func(context.Context, string) (Backend, error) {
		if fail {
			return nil, directory.ErrUnreachable
		}
		return b, nil
	}})
	h.wantScreen("Connecting to the directory 127.0.0.1:1", "✗ log in:", "r try again")
	fail = false
	h.keys("r")
	h.wantScreen("Parley  alice", "● echo")
}

func TestContactListShowsPresenceWithoutColour(t *testing.T) {
	h := loggedIn(t, newFakeBackend("alice", dave, bob, echo, carol))
	s := h.screen()
	// Requests first, then by presence; each presence has its own symbol.
	order := []string{"? carol", "● echo", "◐ bob", "○ dave"}
	last := -1
	for _, o := range order {
		i := strings.Index(s, o)
		if i < 0 || i < last {
			t.Fatalf("want %q after the one before in:\n%s", order, s)
		}
		last = i
	}
	h.wantScreen("request", "hi, it's carol", "away", "offline")

	h.m.messageAt = time.Time{} // the login's message is old news
	h.send(msgPresence{User: "dave", Status: directory.StatusOnline, Note: "back"})
	h.wantScreen("● dave", "dave is online")
	if strings.Index(h.screen(), "● dave") > strings.Index(h.screen(), "◐ bob") {
		t.Errorf("dave, now online, is not above bob, away:\n%s", h.screen())
	}

	// A fresher message keeps the status line.
	h.m.setInfo("something fresher")
	h.send(msgPresence{User: "bob", Status: directory.StatusOffline})
	h.send(msgPresence{User: "bob", Status: directory.StatusOnline})
	h.wantScreen("something fresher")
}

// TestPresenceIsMadePrintable: a status the UI does not know is shown as
// a word, so what a directory sends there reaches the terminal without its
// control characters, as notes do.
func TestPresenceIsMadePrintable(t *testing.T) {
	h := loggedIn(t, newFakeBackend("alice", bob))
	h.send(msgPresence{User: "bob", Status: "away\x1b]0;owned\x07", Note: "back\x1b[2J"})
	i := slices.IndexFunc(h.m.contacts, func(c directory.Contact) bool { return c.User == "bob" })
	if i < 0 {
		t.Fatal("bob is not in the contact list")
	}
	if c := h.m.contacts[i]; strings.ContainsFunc(c.Status+c.Note, unicode.IsControl) {
		t.Errorf("bob's status %q and note %q keep control characters", c.Status, c.Note)
	}
}

func TestOwnStatusFromLastTime(t *testing.T) {
	b := newFakeBackend("alice", echo)
	b.ownStatus, b.ownNote = directory.StatusAway, "at lunch"
	h := loggedIn(t, b)
	h.wantScreen("Parley  alice  ◐ away  “at lunch”")
	h.keys("s") // away → busy
	h.wantScreen("⊘ busy  “at lunch”")
}

func TestFilterAsYouType(t *testing.T) {
	h := loggedIn(t, newFakeBackend("alice", dave, bob, echo))
	h.keys("/e")
	h.wantScreen("echo", "dave")
	if strings.Contains(h.screen(), "bob") {
		t.Fatalf("filter e still shows bob:\n%s", h.screen())
	}
	h.keys("c")
	if s := h.screen(); strings.Contains(s, "dave") || !strings.Contains(s, "> ● echo") {
		t.Fatalf("filter ec: want echo alone and selected:\n%s", s)
	}
	h.keys("<esc>")
	h.wantScreen("bob", "dave", "echo")
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []string // what the backend was asked
		msg  string   // on the status line
	}{
		{"add-with-message", ":add carol hi there<enter>", []string{"add carol hi there"}, "asked carol"},
		{"add-without-message", ":add carol<enter>", []string{"add carol"}, "asked carol"},
		{"accept", ":accept carol<enter>", []string{"accept carol"}, "carol is now a contact"},
		{"decline", ":decline carol<enter>", []string{"decline carol"}, "declined carol"},
		{"status-with-note", ":status away lunch<enter>", []string{"status away lunch"}, "you are away"},
		{"note", ":note in the lab<enter>", []string{"status online in the lab"}, "you are online"},
		{"status-key-cycles", "s", []string{"status away"}, "you are away"},
		{"call", ":call echo<enter>", []string{"dial echo"}, "calling echo"},
		{"call-selected-with-enter", "<enter>", []string{"dial echo"}, "calling echo"},
		{"bad-name", ":add X<enter>", nil, "give a username"},
		{"bad-status", ":status asleep<enter>", nil, "want online, away"},
		{"unknown", ":frobnicate<enter>", nil, "unknown command :frobnicate"},
		{"hangup-without-call", ":hangup<enter>", nil, "no call to hang up"},
		{"escape-cancels", ":add carol<esc>", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newFakeBackend("alice", echo)
			h := loggedIn(t, b)
			h.m.message = ""
			h.keys(tt.line)
			if got := b.recorded(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("backend got %q, want %q", got, tt.want)
			}
			if !strings.Contains(h.m.message, tt.msg) {
				t.Errorf("status line %q, want %q in it", h.m.message, tt.msg)
			}
		})
	}
}

func TestAcceptRequestWithKey(t *testing.T) {
	b := newFakeBackend("alice", echo)
	h := loggedIn(t, b)
	b.contactUpdates <- carol
	h.settle()
	h.wantScreen("carol wants to be your contact", "? carol")
	h.keys("<up>a") // carol sorts first
	if got := b.recorded(); !reflect.DeepEqual(got, []string{"accept carol"}) {
		t.Fatalf("backend got %q", got)
	}
}

func TestCallEchoShowsStatsAndEnd(t *testing.T) {
	b := newFakeBackend("alice", echo)
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	h := newHarness(t, Config{User: "alice", Now: func() time.Time { return now },
		Start: func(context.Context, string) (Backend, error) { return b, nil }})
	h.keys(":call echo<enter>")
	h.wantScreen("calling echo…")
	c := b.calls[0]

	close(c.active)
	h.settle()
	h.wantScreen("call with echo  active 00:00", "measuring")

	c.mu.Lock()
	c.live = call.Stats{
		Path: "direct", LocalCandidateType: "host", RemoteCandidateType: "host", RTTMS: 0.4,
		PacketsReceived: 98, PacketsLost: 2, JitterMS: 1.5, JitterBufferDelayMS: 3,
		EncoderBitrateBPS: 32000, EncoderFrameMS: 20, AudioLevelSentDBFS: -12, AudioLevelReceivedDBFS: -18,
	}
	c.status = call.Status{State: call.StateActive, SAS: "123456", PeerMute: true}
	c.mu.Unlock()
	now = now.Add(12 * time.Second)
	h.send(msgTick{c: c, live: c.LiveStats(), status: c.Status()})
	h.wantScreen("active 00:12", "direct (host/host)", "0.4 ms", "2.0 % (2/100)", "1.5 ms",
		"32.0 kbit/s", "3.0 ms", "MOS", "-12 dBFS", "-18 dBFS")
	// 0.2 + 3 + 20 + 6.5 ms one way (no delay impairment), 2 % loss:
	// Ie,eff = 95·2/27.1 = 7.0 → R 86.2.
	h.wantScreen("4.23 (E-model, 30 ms)", "SAS      123456", "[echo muted]")
	h.fits()

	// The path moved to a relay (an ICE restart, say).
	c.mu.Lock()
	c.live.Path, c.live.RelayAddr, c.live.LocalCandidateType = "relay", "198.51.100.7:62035", "relay"
	c.mu.Unlock()
	c.mu.Lock()
	c.meter, c.metered = media.Meter{MicDBFS: -30, SpeakerDBFS: media.SilenceDBFS}, true
	c.mu.Unlock()
	h.send(msgTick{c: c, live: c.LiveStats(), status: c.Status(), meter: c.meter, metered: true})
	h.wantScreen("-30 dBFS", "░░░░░░░░░░░░ silence") // the front end's levels now
	h.wantScreen("path     relay 198.51.100.7:62035 (relay/host)")
	h.fits()

	h.keys("mmo:resume<enter>h")
	got, want := c.awaitCommands(t, 5), []string{"hangup", "hold", "mute", "resume", "unmute"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("call got %q, want %q", got, want)
	}
	c.end(call.Stats{Peer: "echo", EndReason: call.EndLocalHangup, DurationS: 12.4})
	h.settle()
	h.wantScreen("call ended", "call with echo ended: local-hangup after 00:12")
	b.history = []call.HistoryRecord{{Time: now, Peer: "echo", Direction: call.Outgoing, DurationS: 12.4, EndReason: call.EndLocalHangup, Path: "direct", SAS: "123456"}}
	h.keys("H")
	h.wantScreen("History", "> "+now.Local().Format("Jan 02 15:04")+"  → echo", "local-hangup", "00:12", "direct", "123456")
	h.keys("<enter>") // calls back
	if got := b.recorded(); got[len(got)-1] != "dial echo" || len(b.calls) != 2 {
		t.Errorf("backend got %q, want a second dial of echo", got)
	}
}

func TestCallEndCause(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		want       string // the line under the end, "" for none
		wantAbsent string
	}{
		{"rejected-says-it-all", &call.EndError{Reason: call.EndRejected}, "", "call rejected"},
		{"ice-failure-has-a-cause", &call.EndError{Reason: call.EndICEFailed, Err: errors.New("not connected within 20s")},
			"ICE failed: no network path to the peer: not connected within 20s", ""},
		{"device-failure", &call.EndError{Reason: call.EndFailed, Err: errors.New("media send: device gone")}, "media send: device gone", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newFakeBackend("alice", echo)
			h := loggedIn(t, b)
			h.keys(":call echo<enter>")
			c := b.calls[0]
			reason := tt.err.(*call.EndError).Reason
			h.send(msgCallEnded{c, call.Stats{Peer: "echo", EndReason: reason}, tt.err})
			h.wantScreen("call with echo ended: " + string(reason))
			if tt.want != "" {
				h.wantScreen(tt.want)
			}
			if tt.wantAbsent != "" && strings.Contains(h.screen(), tt.wantAbsent) {
				t.Errorf("the screen repeats the reason as %q:\n%s", tt.wantAbsent, h.screen())
			}
		})
	}
}

func TestDialFailureIsAMessage(t *testing.T) {
	b := newFakeBackend("alice", dave)
	b.dialErr = call.ErrOffline
	h := loggedIn(t, b)
	h.keys("c")
	h.wantScreen("✗ call dave: user is offline")
	if h.m.cur != nil {
		t.Fatal("a failed dial left a call")
	}
}

func TestIncomingCall(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		command string
		screen  string
	}{
		{"answer-key", "a", "answer", "answering bob"},
		{"decline-key", "d", "reject", "declined the call from bob"},
		{"answer-command", ":answer<enter>", "answer", "answering bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newFakeBackend("alice", bob)
			h := loggedIn(t, b)
			c := newFakeCall("bob", call.Incoming)
			h.keys("t") // typing a chat message to bob when he calls
			b.incoming <- c
			h.settle()
			h.wantScreen("Incoming call from bob", "key b0b0 b0b0 b0b0 b0b0 b0b0", "a answer")
			h.keys(tt.key)
			if got := c.awaitCommands(t, 1); !reflect.DeepEqual(got, []string{tt.command}) {
				t.Fatalf("call got %q, want %s", got, tt.command)
			}
			h.wantScreen(tt.screen)
		})
	}
}

func TestRinging(t *testing.T) {
	t.Run("bell-without-a-device", func(t *testing.T) {
		b := newFakeBackend("alice", bob)
		h := loggedIn(t, b) // speaker null
		b.incoming <- newFakeCall("bob", call.Incoming)
		h.settle()
		if h.bells != 1 {
			t.Errorf("%d bells at the first ring, want 1", h.bells)
		}
		h.send(msgBell{h.m.ringing})
		if h.bells != 2 {
			t.Errorf("%d bells after the second ring, want 2", h.bells)
		}
	})
	t.Run("ringtone-on-a-device", func(t *testing.T) {
		b := newFakeBackend("alice", bob)
		rang := make(chan string, 1)
		stopped := make(chan struct{})
		h := newHarness(t, Config{User: "alice", Speaker: "device:USB headset",
			Start: func(context.Context, string) (Backend, error) { return b, nil },
			Ring: func(ctx context.Context, speaker string) error {
				rang <- speaker
				<-ctx.Done()
				close(stopped)
				return nil
			}})
		b.incoming <- newFakeCall("bob", call.Incoming)
		h.settle()
		if got := <-rang; got != "device:USB headset" || h.bells != 0 {
			t.Errorf("rang on %q with %d bells, want the device and no bell", got, h.bells)
		}
		h.keys("a")
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			t.Fatal("the ringtone went on after the call was answered")
		}
	})
}

func TestMissedCall(t *testing.T) {
	b := newFakeBackend("alice", bob)
	h := loggedIn(t, b)
	c := newFakeCall("bob", call.Incoming)
	b.incoming <- c
	h.settle()
	c.end(call.Stats{Peer: "bob", Direction: call.Incoming, EndReason: call.EndMissed})
	h.settle()
	h.wantScreen("missed call from bob")
	if strings.Contains(h.screen(), "Incoming call") {
		t.Fatalf("the overlay outlived the call:\n%s", h.screen())
	}
}

func TestScreenFitsAt80x24(t *testing.T) {
	var many []directory.Contact
	for _, n := range []string{"anna", "ben", "cleo", "dan", "eve", "fay", "gus", "hal", "ida", "jon", "kim", "lou",
		"max", "ned", "oli", "pam", "quinn", "rob", "sam", "tom", "uma", "vic", "wes", "xia", "yan", "zed"} {
		many = append(many, directory.Contact{User: n, State: directory.ContactAccepted, Status: directory.StatusOnline,
			Note: strings.Repeat("a long status note ", 6)})
	}
	b := newFakeBackend("alice", many...)
	h := newHarness(t, Config{User: "alice", Directory: "127.0.0.1:8478", Banner: "No sound card found: calls send a tone",
		Start: func(context.Context, string) (Backend, error) { return b, nil }})
	h.keys("?")
	h.fits()
	h.wantScreen("history, settings, help, quit", "your key abcd efgh")
	for _, keys := range []string{"", "<esc>H", "<esc>S", "<esc>" + strings.Repeat("<down>", 25)} {
		h.keys(keys)
		lines := strings.Split(h.screen(), "\n")
		if len(lines) != 24 {
			t.Fatalf("after %q: %d lines, want 24", keys, len(lines))
		}
		for i, l := range lines {
			if w := ansi.StringWidth(l); w > 80 {
				t.Fatalf("after %q: line %d is %d wide: %q", keys, i, w, l)
			}
		}
	}
	h.wantScreen("> ● zed") // scrolled to the selection
}

func TestSessionEndIsShown(t *testing.T) {
	b := newFakeBackend("alice", echo)
	h := loggedIn(t, b)
	h.send(msgSessionEnded{errors.New("replaced by a newer login")})
	h.wantScreen("✗ directory session ended: replaced by a newer login")
}

func TestSettings(t *testing.T) {
	b := newFakeBackend("alice", echo)
	var played, listened []string
	var relayed []bool
	h := newHarness(t, Config{User: "alice", Mic: "tone:440", Speaker: "null",
		Relay: func(on bool) error { relayed = append(relayed, on); return nil },
		Start: func(context.Context, string) (Backend, error) { return b, nil },
		Devices: func() ([]media.DeviceInfo, error) {
			return []media.DeviceInfo{
				{Name: "USB headset", HostAPI: "ALSA", InputChannels: 1, OutputChannels: 2},
				{Name: "HDMI", HostAPI: "ALSA", OutputChannels: 2, DefaultOutput: true},
			}, nil
		},
		TestTone: func(_ context.Context, speaker string) error { played = append(played, speaker); return nil },
		MicLevel: func(_ context.Context, mic string) (float64, error) {
			listened = append(listened, mic)
			return -20, nil
		},
	})
	h.keys("S")
	h.wantScreen("Settings", "mic      tone:440", "speaker  null", "> USB headset", "mic+speaker", "HDMI", "speaker     default ALSA")
	h.keys("i<down>o")
	h.wantScreen("mic      device:USB headset", "speaker  device:HDMI")
	h.keys("<down>i") // HDMI has no microphone
	h.wantScreen("✗ select a device with a microphone first")
	h.keys("t")
	h.wantScreen("played a test tone on device:HDMI")
	h.keys("l")
	h.wantScreen("mic device:USB headset: loudest ████████░░░░ -20 dBFS, good")
	h.wantScreen("relay    off")
	h.keys("r")
	h.wantScreen("relay    on", "relaying if the directory can reach")
	h.keys(":relay off<enter>")
	h.wantScreen("relay    off", "stopped relaying")
	if want := []bool{true, false}; !reflect.DeepEqual(relayed, want) {
		t.Errorf("relay set %v, want %v", relayed, want)
	}
	h.keys(":speaker null<enter>t")
	if want := []string{"device:HDMI", "null"}; !reflect.DeepEqual(played, want) {
		t.Errorf("test tones played on %q, want %q", played, want)
	}
	if want := []string{"device:USB headset"}; !reflect.DeepEqual(listened, want) {
		t.Errorf("mic checks of %q, want %q", listened, want)
	}
	want := []string{"devices device:USB headset null", "devices device:USB headset device:HDMI", "devices device:USB headset null"}
	if got := b.recorded(); !reflect.DeepEqual(got, want) {
		t.Errorf("backend got %q, want %q", got, want)
	}
}

func TestChat(t *testing.T) {
	b := newFakeBackend("alice", echo, bob)
	sent := time.Date(2026, 11, 30, 9, 15, 0, 0, time.Local)
	b.inbox = []directory.Chat{
		{ID: "1", From: "bob", To: "alice", Text: "are you there?", Sent: sent},
		{ID: "2", From: "echo", To: "alice", Text: call.MissedCallNote, Sent: sent},
	}
	h := loggedIn(t, b)
	h.wantScreen("bob ✉1", "while you were away: 1 message(s), and missed calls from echo")
	if strings.Contains(h.screen(), "echo ✉") {
		t.Errorf("a missed call counts as an unread message:\n%s", h.screen())
	}

	h.keys("<down>t") // bob, below echo
	h.wantScreen("Chat with bob", "09:15 bob: are you there?", "> ")
	if strings.Contains(h.screen(), "✉") {
		t.Errorf("an open conversation still counts as unread:\n%s", h.screen())
	}
	h.keys("yes, call me<enter>")
	h.wantScreen("you: yes, call me")
	b.chats <- directory.Chat{ID: "2", From: "bob", To: "alice", Text: "calling\nnow", Sent: sent}
	h.settle()
	h.wantScreen("09:15 bob: calling", "now")
	h.keys("<esc>")
	h.wantScreen("Contacts (2)")

	b.chats <- directory.Chat{ID: "3", From: "echo", To: "alice", Text: "hello", Sent: sent}
	h.settle()
	h.wantScreen("echo ✉1", "echo: hello  (t to reply)")
	h.keys(":chat echo hi back<enter>:chat dave hi<enter>")
	h.wantScreen("✗ dave is not your contact (yet)")
	if got, want := b.recorded(), []string{"chat bob yes, call me", "chat echo hi back", "chat dave hi"}; !reflect.DeepEqual(got, want) {
		t.Errorf("backend got %q, want %q", got, want)
	}
}

// BenchmarkViewActiveCall measures a redraw of the busiest screen, which
// happens at least once a second during a call.
func BenchmarkViewActiveCall(b *testing.B) {
	var contacts []directory.Contact
	for i := range 20 {
		contacts = append(contacts, directory.Contact{User: fmt.Sprintf("user%02d", i), State: directory.ContactAccepted,
			Status: directory.StatusOnline, Note: "a note"})
	}
	m := New(Config{User: "alice"})
	m.backend, m.phase, m.contacts = newFakeBackend("alice"), phaseMain, contacts
	c := newFakeCall("user00", call.Outgoing)
	m.follow(c)
	m.curState, m.hasLive = callActive, true
	m.live = call.Stats{Path: "direct", LocalCandidateType: "host", RemoteCandidateType: "host", RTTMS: 0.4,
		PacketsReceived: 5000, EncoderBitrateBPS: 32000, EncoderFrameMS: 20}
	for b.Loop() {
		m.View()
	}
}

func TestSwitchDevicesDuringACall(t *testing.T) {
	b := newFakeBackend("alice", echo)
	h := newHarness(t, Config{User: "alice", Mic: "default", Speaker: "default",
		Start: func(context.Context, string) (Backend, error) { return b, nil },
		Devices: func() ([]media.DeviceInfo, error) {
			return []media.DeviceInfo{{Name: "USB headset", InputChannels: 1, OutputChannels: 2}}, nil
		},
	})
	c := activeCall(h, b, "echo")
	h.keys("Si:speaker null<enter>")
	h.wantScreen("the call now uses mic device:USB headset and speaker null")
	if got, want := c.awaitCommands(t, 2), []string{"switch  null", "switch device:USB headset "}; !reflect.DeepEqual(got, want) {
		t.Errorf("call got %q, want %q", got, want)
	}
}

// TestViewAtAnySize draws every page at sizes down to one cell: a terminal
// can be resized to anything, and the UI must not fall over.
func TestViewAtAnySize(t *testing.T) {
	b := newFakeBackend("alice", echo, bob, carol, dave)
	h := loggedIn(t, b)
	h.keys(":call echo<enter>")
	close(b.calls[0].active)
	h.settle()
	h.send(msgTick{c: b.calls[0], live: call.Stats{Path: "relay", RelayAddr: "[2001:db8::1]:3478"}})
	for _, keys := range []string{"", "?", "?H", "HS", "S<down>t", "<esc>"} {
		h.keys(keys)
		for w := 1; w <= 100; w += 3 {
			for ht := 1; ht <= 40; ht += 3 {
				h.m.Update(tea.WindowSizeMsg{Width: w, Height: ht})
				lines := strings.Split(h.screen(), "\n")
				if len(lines) > max(ht, 1) {
					t.Fatalf("after %q at %d×%d: %d lines", keys, w, ht, len(lines))
				}
			}
		}
	}
}

func TestContactListIsRefreshed(t *testing.T) {
	b := newFakeBackend("alice", echo)
	h := loggedIn(t, b)
	h.wantScreen("Contacts (1)")
	b.contacts = append(b.contacts, bob) // a change whose push was lost
	h.send(msgRefresh{})
	h.wantScreen("Contacts (2)", "◐ bob")
}

func TestCallWaiting(t *testing.T) {
	b := newFakeBackend("alice", echo, bob)
	h := newHarness(t, Config{User: "alice", CallWaiting: true, Ring: func(context.Context, string) error {
		t.Error("the ringtone played on the device the call has")
		return nil
	}, Start: func(context.Context, string) (Backend, error) { return b, nil }})
	h.keys(":call echo<enter>")
	first := b.calls[0]
	close(first.active)
	h.settle()

	second := newFakeCall("bob", call.Incoming)
	b.incoming <- second
	h.settle()
	h.wantScreen("Incoming call from bob", "a answer, holding echo")
	if h.bells != 1 {
		t.Errorf("%d bells, want 1: the bell rings during a call", h.bells)
	}
	h.keys("a")
	close(second.active)
	h.settle()
	h.wantScreen("call with bob  active", "on hold: echo")

	second.end(call.Stats{Peer: "bob", Direction: call.Incoming, EndReason: call.EndRemoteHangup, DurationS: 3})
	h.settle()
	h.wantScreen("back to echo, on hold: o resumes", "call with echo  active")
	if h.m.cur != Call(first) || h.m.held != nil {
		t.Fatalf("the call in progress is %v (held %v), want echo's", h.m.cur, h.m.held)
	}

	// Without call waiting, a call during another is declined.
	b2 := newFakeBackend("alice", echo, bob)
	h2 := loggedIn(t, b2)
	h2.keys(":call echo<enter>")
	third := newFakeCall("bob", call.Incoming)
	b2.incoming <- third
	h2.settle()
	if got := third.awaitCommands(t, 1); !reflect.DeepEqual(got, []string{"reject"}) {
		t.Errorf("a call during another got %q, want a reject", got)
	}
}

// TestAudioSettings switches the processing from the settings and the
// command line and moves the levels with their keys: the call in progress
// takes each change, the calls to come get it, and it is kept.
func TestAudioSettings(t *testing.T) {
	b := newFakeBackend("alice", echo)
	var (
		mu    sync.Mutex
		saved []media.AudioSettings
	)
	h := newHarness(t, Config{User: "alice", Audio: media.AudioSettings{NS: media.Off},
		Start: func(context.Context, string) (Backend, error) { return b, nil },
		SaveAudio: func(a media.AudioSettings) error {
			mu.Lock()
			defer mu.Unlock()
			saved = append(saved, a)
			return nil
		}})
	c := activeCall(h, b, "echo")
	h.keys("VVVgg")
	h.wantScreen("mic gain -6 dB (g/G)", "volume   +9 dB (v/V)")
	h.keys("See")
	h.wantScreen("aec      off", "ns       off", "agc      auto")
	h.keys(":agc on<enter>:volume -40<enter>")
	h.wantScreen(`"-40": want dB from -30 to +20`)
	h.keys(":mic-gain 20<enter>G")
	h.wantScreen("mic gain +20 dB")

	last := "audio aec off ns off agc on volume 9 gain 20"
	if got := c.awaitCommands(t, 10); len(got) != 10 || !slices.Contains(got, "audio "+audioString(media.AudioSettings{NS: media.Off, SpeakerVolumeDB: 3})) {
		t.Errorf("the call got %q, want 10 changes, from the first volume step on", got)
	}
	if got := b.recorded(); got[len(got)-1] != last {
		t.Errorf("the calls to come get %q, want %q", got[len(got)-1], last)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(saved)
		var got string
		if n > 0 {
			got = "audio " + audioString(saved[n-1])
		}
		mu.Unlock()
		if got == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kept %d settings, the last %q; want the last %q", n, got, last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestChatDuringACall sends to the peer of the active call over the call,
// to others (and when the call's chat is not open) through the directory;
// what the peer sends over the call shows in the conversation.
func TestChatDuringACall(t *testing.T) {
	b := newFakeBackend("alice", echo, bob)
	h := loggedIn(t, b)
	c := activeCall(h, b, "echo")
	h.keys(":chat echo<enter>")
	h.wantScreen("Chat with echo", "over the call while it lasts")
	h.keys("hello<enter>")
	h.wantScreen("you: hello")
	if got := c.awaitCommands(t, 1); !reflect.DeepEqual(got, []string{"chat hello"}) {
		t.Errorf("the call got %q, want the message", got)
	}
	b.chats <- directory.Chat{From: "echo", Text: "hello yourself"}
	h.wantScreen("echo: hello yourself")

	h.keys("<esc>:chat bob hi bob<enter>")
	c.noChat = true
	h.keys(":chat echo not yet open<enter>")
	h.settle()
	if got, want := b.recorded(), []string{"chat bob hi bob", "chat echo not yet open"}; !reflect.DeepEqual(got[len(got)-2:], want) {
		t.Errorf("the directory sent %q, want %q", got, want)
	}
	if got := c.recordedCommands(); len(got) != 1 {
		t.Errorf("the call got %q, want only the first message", got)
	}
}

func TestReconnectingIsShown(t *testing.T) {
	b := newFakeBackend("alice", echo)
	h := loggedIn(t, b)
	b.reconnecting.Store(true)
	h.wantScreen("Reconnecting to the directory…")
	h.fits()
	b.contacts = append(b.contacts, bob) // accepted while the connection was down
	b.reconnecting.Store(false)
	h.wantScreen("back in touch with the directory", "Contacts (2)")
	if s := h.screen(); strings.Contains(s, "Reconnecting") {
		t.Errorf("still reconnecting once back:\n%s", s)
	}
}
