package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/media"
)

// requestTimeout bounds each request the UI makes of its backend.
const requestTimeout = 10 * time.Second

// Config configures the UI; the zero value of every field but Start means
// its default.
type Config struct {
	// User is the username; "" asks for one first (the first run).
	User string
	// Start logs user in, creating their key on first use, and returns
	// their session. It runs off the UI goroutine.
	Start func(ctx context.Context, user string) (Backend, error)
	// Directory names the directory, for the header.
	Directory string
	// Banner is a notice kept above everything, such as that this machine
	// has no sound card.
	Banner string
	// Mic and Speaker are the devices calls start with (media specs).
	Mic, Speaker string
	// Devices lists the sound devices for the settings; nil shows none.
	Devices func() ([]media.DeviceInfo, error)
	// TestTone and MicLevel are the settings' checks; nil → PlayTestTone
	// and MicLevel.
	TestTone func(ctx context.Context, speaker string) error
	MicLevel func(ctx context.Context, mic string) (dbfs float64, err error)
	// Ring plays the ringtone on a sound device speaker until ctx ends;
	// nil → media.Ring. Other speakers get the terminal's bell.
	Ring func(ctx context.Context, speaker string) error
	// Relay starts (on) or stops volunteering as a relay for others' calls;
	// nil hides the setting. RelayOn says whether it starts on.
	Relay   func(on bool) error
	RelayOn bool
	// Now is the clock; nil → time.Now.
	Now func() time.Time
}

// phase is where the UI is in its life.
type phase int

const (
	phaseName       phase = iota // first run: asking for a name
	phaseConnecting              // logging in
	phaseMain                    // logged in
)

// inputMode says what the input line is for.
type inputMode int

const (
	inputNone    inputMode = iota
	inputCommand           // ':' command line
	inputFilter            // '/' filter-as-you-type
	inputChat              // a chat message
)

// page is what the body shows.
type page int

const (
	pageContacts page = iota
	pageHistory
	pageSettings
	pageHelp
	pageChat // the conversation with chatPeer
)

// callState is where the current call is.
type callState int

const (
	callDialing callState = iota // outgoing, not answered yet
	callActive                   // media flowing
)

// Model is the UI's state. Update changes it only in answer to messages;
// everything that waits on the network or a device runs in commands.
type Model struct {
	cfg     Config
	now     func() time.Time
	backend Backend
	phase   phase
	width   int
	height  int

	input  textinput.Model
	mode   inputMode
	filter string
	page   page

	contacts []directory.Contact // sorted: requests first, then online, then by name
	selected string              // the selected contact's name
	status   string
	note     string

	// The status line: the last outcome or error.
	message    string
	messageBad bool

	cur       Call // the call in progress, if any
	curState  callState
	curSince  time.Time // when cur became active
	curStatus call.Status
	live      call.Stats
	hasLive   bool
	// The levels of the last second, in dBFS, for the meters.
	micLevel, speakerLevel float64
	ringing                Call   // an incoming call waiting for an answer
	ringingFP              string // its caller's pinned key fingerprint, if known
	stopRing               context.CancelFunc
	ended                  *endedCall
	history                []call.HistoryRecord
	devices                []media.DeviceInfo
	deviceErr              error
	deviceSel              int    // the selected device on the settings page
	mic                    string // the devices of the calls to come
	speaker                string
	checking               bool                  // a test tone or mic check runs
	chats                  map[string][]chatLine // conversations by contact
	unread                 map[string]int
	chatPeer               string
	relayOn                bool
}

// endedCall is what the call panel shows after a call.
type endedCall struct {
	peer     string
	reason   call.EndReason
	duration time.Duration
	err      error
}

// New returns the UI's model.
func New(cfg Config) *Model {
	m := &Model{cfg: cfg, now: cfg.Now, width: 80, height: 24, status: directory.StatusOnline, mic: cfg.Mic, speaker: cfg.Speaker, relayOn: cfg.RelayOn,
		chats: make(map[string][]chatLine), unread: make(map[string]int)}
	if m.now == nil {
		m.now = time.Now
	}
	if m.cfg.TestTone == nil {
		m.cfg.TestTone = PlayTestTone
	}
	if m.cfg.MicLevel == nil {
		m.cfg.MicLevel = MicLevel
	}
	if m.cfg.Ring == nil {
		m.cfg.Ring = func(ctx context.Context, speaker string) error { return media.Ring(ctx, speaker, io.Discard) }
	}
	m.input = textinput.New()
	m.input.CharLimit = 200
	if cfg.User == "" {
		m.phase = phaseName
		m.input.Prompt = "name: "
		m.input.Placeholder = "3-32 of a-z 0-9 . _ -"
		m.input.CharLimit = 32
		m.input.Focus()
	} else {
		m.phase = phaseConnecting
	}
	return m
}

// Init logs in when the user is known already.
func (m *Model) Init() tea.Cmd {
	if m.phase == phaseConnecting {
		return m.start(m.cfg.User)
	}
	return nil
}

// Messages from commands.
type (
	msgStarted struct {
		b   Backend
		err error
	}
	msgContacts struct {
		list []directory.Contact
		err  error
	}
	msgContactUpdate directory.Contact
	msgPresence      directory.Presence
	msgIncoming      struct{ c Call }
	msgSessionEnded  struct{ err error }
	// msgDone reports a finished request: ok on success, err otherwise;
	// refresh asks for the contact list anew.
	msgDone struct {
		ok      string
		err     error
		refresh bool
	}
	msgDialed struct {
		peer string
		c    Call
		err  error
	}
	msgCallActive struct{ c Call }
	msgCallEnded  struct {
		c   Call
		st  call.Stats
		err error
	}
	msgTick struct {
		c       Call
		live    call.Stats
		status  call.Status
		meter   media.Meter
		metered bool // meter holds the levels now
	}
	msgBell        struct{ c Call }
	msgFingerprint struct {
		c  Call
		fp string
	}
	msgHistory struct {
		list []call.HistoryRecord
		err  error
	}
	msgDevices struct {
		list []media.DeviceInfo
		err  error
	}
	msgChecked struct {
		ok  string
		err error
	}
)

func (m *Model) start(user string) tea.Cmd {
	startFn := m.cfg.Start
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		b, err := startFn(ctx, user)
		return msgStarted{b, err}
	}
}

// request runs fn against the backend off the UI goroutine and reports
// its outcome as a msgDone.
func (m *Model) request(ok string, refresh bool, fn func(ctx context.Context, b Backend) error) tea.Cmd {
	b := m.backend
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		return msgDone{ok: ok, err: fn(ctx, b), refresh: refresh}
	}
}

func (m *Model) loadContacts() tea.Cmd {
	b := m.backend
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		list, err := b.Contacts(ctx)
		return msgContacts{list, err}
	}
}

// listen returns a command that waits for the next value on ch; the UI
// issues it again after each.
func listen[T any](ch <-chan T, wrap func(T) tea.Msg) tea.Cmd {
	return func() tea.Msg {
		v, ok := <-ch
		if !ok {
			return nil // the session is ending; msgSessionEnded says so
		}
		return wrap(v)
	}
}

func (m *Model) listenContacts() tea.Cmd {
	return listen(m.backend.ContactUpdates(), func(c directory.Contact) tea.Msg { return msgContactUpdate(c) })
}

func (m *Model) listenPresence() tea.Cmd {
	return listen(m.backend.PresenceUpdates(), func(p directory.Presence) tea.Msg { return msgPresence(p) })
}

func (m *Model) listenIncoming() tea.Cmd {
	return listen(m.backend.Incoming(), func(c Call) tea.Msg { return msgIncoming{c} })
}

func (m *Model) listenDone() tea.Cmd {
	b := m.backend
	return func() tea.Msg {
		<-b.Done()
		return msgSessionEnded{b.Err()}
	}
}

// watchCall reports when c becomes active and when it ends.
func watchCall(c Call) tea.Cmd {
	return tea.Batch(
		func() tea.Msg {
			select {
			case <-c.Active():
				return msgCallActive{c}
			case <-c.Done():
				return nil // msgCallEnded comes from the other half
			}
		},
		func() tea.Msg {
			st, err := c.Result()
			return msgCallEnded{c, st, err}
		},
	)
}

// tickPeriod is how often the call panel samples the call: often enough
// for the level meters to follow speech.
const tickPeriod = 250 * time.Millisecond

// tick samples c's state, figures and levels while it lasts.
func tick(c Call) tea.Cmd {
	return tea.Tick(tickPeriod, func(time.Time) tea.Msg {
		meter, ok := c.Meter()
		return msgTick{c: c, live: c.LiveStats(), status: c.Status(), meter: meter, metered: ok}
	})
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.input.SetWidth(max(10, m.width-len(m.input.Prompt)-2))
		return m, nil
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case tea.PasteMsg:
		if m.phase == phaseName || m.mode != inputNone {
			return m, m.typeInto(msg)
		}
		return m, nil

	case msgStarted:
		if msg.err != nil {
			m.setError(fmt.Errorf("log in: %w", msg.err))
			if m.cfg.User == "" {
				m.phase = phaseName
				return m, m.input.Focus()
			}
			return m, nil
		}
		m.backend, m.phase = msg.b, phaseMain
		m.input.Reset()
		m.input.Blur()
		m.setInfo(fmt.Sprintf("logged in as %s (key %s)", msg.b.User(), msg.b.Fingerprint()))
		return m, tea.Batch(m.loadContacts(), m.listenContacts(), m.listenPresence(), m.listenIncoming(), m.listenDone(),
			m.loadInbox(), m.listenChats())
	case msgContacts:
		if msg.err != nil {
			m.setError(msg.err)
			return m, nil
		}
		m.contacts = m.contacts[:0]
		for _, c := range msg.list {
			m.contacts = append(m.contacts, printableContact(c))
		}
		m.sortContacts()
		return m, nil
	case msgContactUpdate:
		m.updateContact(printableContact(directory.Contact(msg)))
		return m, m.listenContacts()
	case msgPresence:
		m.updatePresence(directory.Presence(msg))
		return m, m.listenPresence()
	case msgIncoming:
		if m.ringing != nil || m.cur != nil {
			msg.c.Reject() // one call at a time: the phone says busy before this
			return m, m.listenIncoming()
		}
		m.ringing, m.ringingFP = msg.c, ""
		m.page = pageContacts
		b := m.backend
		fingerprint := func() tea.Msg { return msgFingerprint{msg.c, b.PeerFingerprint(msg.c.Peer())} }
		return m, tea.Batch(m.listenIncoming(), watchCall(msg.c), fingerprint, m.ring(msg.c))
	case msgBell:
		if msg.c != m.ringing {
			return m, nil
		}
		return m, tea.Batch(tea.Raw("\a"), bellAfter(msg.c))
	case msgFingerprint:
		if msg.c == m.ringing {
			m.ringingFP = msg.fp
		}
		return m, nil
	case msgSessionEnded:
		if msg.err != nil && !errors.Is(msg.err, directory.ErrClosed) {
			m.setError(fmt.Errorf("directory session ended: %w", msg.err))
		}
		return m, nil
	case msgDone:
		if msg.err != nil {
			m.setError(msg.err)
		} else if msg.ok != "" {
			m.setInfo(msg.ok)
		}
		if msg.refresh {
			return m, m.loadContacts()
		}
		return m, nil

	case msgDialed:
		if msg.err != nil {
			m.setError(fmt.Errorf("call %s: %w", msg.peer, msg.err))
			return m, nil
		}
		m.follow(msg.c)
		m.setInfo("calling " + msg.peer + "…")
		return m, tea.Batch(watchCall(msg.c), tick(msg.c))
	case msgCallActive:
		if msg.c != m.cur {
			return m, nil
		}
		m.curState, m.curSince = callActive, m.now()
		m.setInfo("call with " + msg.c.Peer() + " is active")
		return m, nil
	case msgTick:
		if msg.c != m.cur {
			return m, nil
		}
		m.curStatus = msg.status
		if m.curState == callActive {
			if msg.metered {
				m.micLevel, m.speakerLevel = msg.meter.MicDBFS, msg.meter.SpeakerDBFS
			} else {
				m.updateLevels(msg.live)
			}
			m.live, m.hasLive = msg.live, true
		}
		return m, tick(msg.c)
	case msgCallEnded:
		return m, m.callEnded(msg)
	case msgDevices:
		m.devices, m.deviceErr = msg.list, msg.err
		m.deviceSel = min(m.deviceSel, max(len(m.devices)-1, 0))
		return m, nil
	case msgChecked:
		m.checking = false
		if msg.err != nil {
			m.setError(msg.err)
		} else {
			m.setInfo(msg.ok)
		}
		return m, nil
	case msgChat, msgInbox, msgChatSent:
		return m, m.chatUpdate(msg)
	case msgHistory:
		if msg.err != nil {
			m.setError(msg.err)
		}
		m.history = msg.list
		return m, nil
	}
	return m, nil
}

func (m *Model) callEnded(msg msgCallEnded) tea.Cmd {
	switch msg.c {
	case m.ringing:
		m.ringing = nil
		m.stopRinging()
		if msg.st.EndReason == call.EndMissed {
			m.setInfo("missed call from " + msg.c.Peer())
		}
		return m.reloadHistory()
	case m.cur:
		m.cur, m.hasLive = nil, false
	default:
		return nil
	}
	m.ended = &endedCall{
		peer:     msg.c.Peer(),
		reason:   msg.st.EndReason,
		duration: time.Duration(msg.st.DurationS * float64(time.Second)),
		err:      msg.err,
	}
	m.setInfo(fmt.Sprintf("call ended: %s, %s", msg.st.EndReason, formatDuration(m.ended.duration)))
	return m.reloadHistory()
}

// updateLevels derives the levels since the last tick from the running
// means in the call's stats, for calls without a front end's meter: the
// sent level's sample count is the time since media started (the source
// runs in real time), the received one's the samples played.
func (m *Model) updateLevels(st call.Stats) {
	sentN, recvN := st.DurationS*media.SampleRate, float64(st.TotalSamples)
	if !m.hasLive {
		m.micLevel, m.speakerLevel = st.AudioLevelSentDBFS, st.AudioLevelReceivedDBFS
		return
	}
	prev := m.live
	m.micLevel = recentLevel(prev.AudioLevelSentDBFS, prev.DurationS*media.SampleRate, st.AudioLevelSentDBFS, sentN)
	m.speakerLevel = recentLevel(prev.AudioLevelReceivedDBFS, float64(prev.TotalSamples), st.AudioLevelReceivedDBFS, recvN)
}

// recentLevel is the level of what was measured between two readings of a
// running mean level: mean0 over n0 samples, then mean1 over n1.
func recentLevel(mean0, n0, mean1, n1 float64) float64 {
	if n1 <= n0 {
		return mean1
	}
	energy := func(mean, n float64) float64 {
		if mean <= media.SilenceDBFS {
			return 0
		}
		return math.Pow(10, mean/10) * n
	}
	e := energy(mean1, n1) - energy(mean0, n0)
	if e <= 0 {
		return media.SilenceDBFS
	}
	return max(media.SilenceDBFS, 10*math.Log10(e/(n1-n0)))
}

// reloadHistory refreshes the history page when it shows.
func (m *Model) reloadHistory() tea.Cmd {
	if m.page != pageHistory {
		return nil
	}
	b := m.backend
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		list, err := b.History(ctx)
		return msgHistory{list, err}
	}
}

func (m *Model) setInfo(s string)   { m.message, m.messageBad = s, false }
func (m *Model) setError(err error) { m.message, m.messageBad = err.Error(), true }

// key handles a key press in whatever the UI is doing.
func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	if k.String() == "ctrl+c" {
		return m.quit()
	}
	switch {
	case m.phase == phaseName:
		return m.nameKey(k)
	case m.phase == phaseConnecting:
		return m.connectingKey(k)
	case m.ringing != nil && m.mode == inputNone:
		return m.ringingKey(k)
	case m.mode != inputNone:
		return m.inputKey(k)
	}
	return m.normalKey(k)
}

func (m *Model) nameKey(k tea.KeyPressMsg) tea.Cmd {
	if k.String() != "enter" {
		return m.typeInto(k)
	}
	name := strings.TrimSpace(m.input.Value())
	if !directory.ValidUsername(name) {
		m.setError(fmt.Errorf("%q is not a name: use 3-32 of a-z 0-9 . _ -, starting with a letter or digit", name))
		return nil
	}
	m.phase = phaseConnecting
	m.setInfo("creating your key and registering " + name + "…")
	return m.start(name)
}

// connectingKey lets a login that failed be tried again, or given up.
func (m *Model) connectingKey(k tea.KeyPressMsg) tea.Cmd {
	if !m.messageBad {
		return nil // still trying
	}
	switch k.String() {
	case "r":
		m.setInfo("trying again…")
		return m.start(m.cfg.User)
	case "q":
		return tea.Quit
	}
	return nil
}

func (m *Model) ringingKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "a", "enter":
		return m.answer()
	case "d", "esc":
		m.reject()
	case ":":
		return m.openInput(inputCommand, "")
	}
	return nil
}

// ringPeriod is the ringtone's cadence (ITU-T E.180: 1 s on, 4 s off),
// which the terminal bell keeps too.
const ringPeriod = 5 * time.Second

// ring announces c: the ringtone on a sound device, or else the terminal
// bell at each ring, until stopRinging.
func (m *Model) ring(c Call) tea.Cmd {
	if !isDevice(m.speaker) {
		return tea.Batch(tea.Raw("\a"), bellAfter(c))
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.stopRing = cancel
	ring, speaker := m.cfg.Ring, orDefault(m.speaker)
	return func() tea.Msg {
		if err := ring(ctx, speaker); err != nil {
			return msgDone{err: fmt.Errorf("ringtone: %w", err)}
		}
		return nil
	}
}

func bellAfter(c Call) tea.Cmd {
	return tea.Tick(ringPeriod, func(time.Time) tea.Msg { return msgBell{c} })
}

func (m *Model) stopRinging() {
	if m.stopRing != nil {
		m.stopRing()
		m.stopRing = nil
	}
}

// isDevice reports whether a speaker spec is a sound device.
func isDevice(spec string) bool {
	return spec == "" || spec == "default" || strings.HasPrefix(spec, "device:")
}

// answer takes the ringing call; watchCall has followed it since it rang.
func (m *Model) answer() tea.Cmd {
	if m.ringing == nil {
		m.setError(errors.New("no call is ringing"))
		return nil
	}
	c := m.ringing
	m.ringing = nil
	m.stopRinging()
	c.Answer()
	m.follow(c)
	m.setInfo("answering " + c.Peer() + "…")
	return tick(c)
}

// follow makes c the call in progress; watchCall and tick report on it.
func (m *Model) follow(c Call) {
	m.cur, m.curState, m.curStatus, m.hasLive, m.ended = c, callDialing, c.Status(), false, nil
}

// reject declines the ringing call; it leaves when its end is reported.
func (m *Model) reject() {
	if m.ringing == nil {
		m.setError(errors.New("no call is ringing"))
		return
	}
	m.ringing.Reject()
	m.stopRinging()
	m.setInfo("declined the call from " + m.ringing.Peer())
}

func (m *Model) inputKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "esc":
		if m.mode == inputFilter {
			m.filter = ""
		}
		if m.mode == inputChat {
			m.page = pageContacts
		}
		m.closeInput()
		return nil
	case "enter":
		line := m.input.Value()
		if m.mode == inputChat {
			m.input.Reset()
			return m.sendChat(m.chatPeer, line)
		}
		mode := m.mode
		m.closeInput()
		if mode == inputCommand {
			return m.execute(line)
		}
		return nil
	case "up", "down":
		if m.mode == inputFilter {
			m.move(map[string]int{"up": -1, "down": 1}[k.String()])
			return nil
		}
	}
	cmd := m.typeInto(k)
	if m.mode == inputFilter {
		m.filter = m.input.Value()
		m.keepSelection()
	}
	return cmd
}

func (m *Model) typeInto(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return cmd
}

func (m *Model) openInput(mode inputMode, value string) tea.Cmd {
	m.mode = mode
	m.input.Prompt = map[inputMode]string{inputCommand: ":", inputFilter: "/", inputChat: "> "}[mode]
	m.input.Placeholder = ""
	m.input.SetValue(value)
	m.input.CursorEnd()
	return m.input.Focus()
}

func (m *Model) closeInput() {
	m.mode = inputNone
	m.input.Blur()
	if m.filter == "" {
		m.input.Reset()
	}
}

func (m *Model) normalKey(k tea.KeyPressMsg) tea.Cmd {
	if m.page == pageSettings {
		if cmd, ok := m.settingsKey(k); ok {
			return cmd
		}
	}
	switch k.String() {
	case "q":
		return m.quit()
	case ":":
		return m.openInput(inputCommand, "")
	case "/":
		m.page = pageContacts
		return m.openInput(inputFilter, m.filter)
	case "esc":
		m.page, m.ended = pageContacts, nil
		if m.filter != "" {
			m.filter = ""
			m.input.Reset()
		}
	case "up", "k":
		m.move(-1)
	case "down", "j":
		m.move(1)
	case "enter", "c":
		if c, ok := m.selectedContact(); ok && m.page == pageContacts {
			if c.State == directory.ContactIncoming {
				return m.contactAction(directory.ContactAccept, c.User, "")
			}
			return m.dial(c.User)
		}
	case "h":
		return m.hangup()
	case "m":
		if m.curStatus.Mute {
			return m.set(&m.curStatus.Mute, false, Call.Unmute)
		}
		return m.set(&m.curStatus.Mute, true, Call.Mute)
	case "o":
		if m.curStatus.Hold {
			return m.set(&m.curStatus.Hold, false, Call.Resume)
		}
		return m.set(&m.curStatus.Hold, true, Call.Hold)
	case "a":
		if c, ok := m.selectedContact(); ok && c.State == directory.ContactIncoming {
			return m.contactAction(directory.ContactAccept, c.User, "")
		}
	case "d":
		if c, ok := m.selectedContact(); ok && c.State == directory.ContactIncoming {
			return m.contactAction(directory.ContactDecline, c.User, "")
		}
	case "s":
		next := map[string]string{
			directory.StatusOnline: directory.StatusAway, directory.StatusAway: directory.StatusBusy,
			directory.StatusBusy: directory.StatusInvisible, directory.StatusInvisible: directory.StatusOnline,
		}[m.status]
		return m.setStatus(next, m.note)
	case "t":
		if c, ok := m.selectedContact(); ok && m.page == pageContacts {
			return m.openChat(c.User)
		}
	case "n":
		return m.openInput(inputCommand, "note "+m.note)
	case "+":
		return m.openInput(inputCommand, "add ")
	case "H":
		return m.showPage(pageHistory)
	case "S":
		return m.showPage(pageSettings)
	case "?":
		return m.showPage(pageHelp)
	}
	return nil
}

// showPage toggles p against the contact list.
func (m *Model) showPage(p page) tea.Cmd {
	if m.page == p {
		m.page = pageContacts
		return nil
	}
	m.page = p
	if p == pageHistory {
		return m.reloadHistory()
	}
	if p == pageSettings && m.cfg.Devices != nil {
		devices := m.cfg.Devices
		return func() tea.Msg {
			list, err := devices()
			return msgDevices{list, err}
		}
	}
	return nil
}

func (m *Model) quit() tea.Cmd {
	if m.cur != nil {
		m.cur.Hangup()
	}
	if m.ringing != nil {
		m.ringing.Reject()
		m.stopRinging()
	}
	return tea.Quit
}

func (m *Model) dial(peer string) tea.Cmd {
	if m.cur != nil {
		m.setError(fmt.Errorf("already in a call with %s: hang up first (h or :hangup)", m.cur.Peer()))
		return nil
	}
	m.setInfo("calling " + peer + "…")
	b := m.backend
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		c, err := b.Dial(ctx, peer)
		return msgDialed{peer, c, err}
	}
}

func (m *Model) hangup() tea.Cmd {
	if m.cur == nil {
		m.setError(errors.New("no call to hang up"))
		return nil
	}
	m.cur.Hangup()
	m.setInfo("hanging up…")
	return nil
}

// set asks the active call to do something and shows its flag as on at
// once, before the next tick confirms it.
func (m *Model) set(flag *bool, on bool, do func(Call)) tea.Cmd {
	if m.cur == nil || m.curState != callActive {
		m.setError(errors.New("no active call"))
		return nil
	}
	do(m.cur)
	*flag = on
	return nil
}

func (m *Model) contactAction(action directory.ContactAction, peer, message string) tea.Cmd {
	done := map[directory.ContactAction]string{
		directory.ContactAdd:     "asked " + peer + " to become a contact",
		directory.ContactAccept:  peer + " is now a contact",
		directory.ContactDecline: "declined " + peer + "'s request",
		directory.ContactRemove:  "removed " + peer,
		directory.ContactBlock:   "blocked " + peer,
	}[action]
	return m.request(done, true, func(ctx context.Context, b Backend) error {
		return b.Contact(ctx, action, peer, message)
	})
}

func (m *Model) setStatus(status, note string) tea.Cmd {
	m.status, m.note = status, note
	return m.request("you are "+status, false, func(ctx context.Context, b Backend) error {
		return b.SetStatus(ctx, status, note)
	})
}

// The contact list.

// visible returns the contacts the filter lets through, in display order.
func (m *Model) visible() []directory.Contact {
	if m.filter == "" {
		return m.contacts
	}
	f := strings.ToLower(m.filter)
	var out []directory.Contact
	for _, c := range m.contacts {
		if strings.Contains(c.User, f) || strings.Contains(strings.ToLower(c.Note), f) {
			out = append(out, c)
		}
	}
	return out
}

func (m *Model) selectedContact() (directory.Contact, bool) {
	for _, c := range m.visible() {
		if c.User == m.selected {
			return c, true
		}
	}
	return directory.Contact{}, false
}

func (m *Model) move(delta int) {
	list := m.visible()
	if len(list) == 0 {
		return
	}
	i := slices.IndexFunc(list, func(c directory.Contact) bool { return c.User == m.selected })
	i = min(max(i+delta, 0), len(list)-1)
	m.selected = list[i].User
}

// keepSelection selects the first visible contact when the selected one
// is filtered out or gone.
func (m *Model) keepSelection() {
	if _, ok := m.selectedContact(); ok {
		return
	}
	if list := m.visible(); len(list) > 0 {
		m.selected = list[0].User
	} else {
		m.selected = ""
	}
}

// contactRank orders the list: requests waiting for an answer, then
// contacts by presence, then the rest.
func contactRank(c directory.Contact) int {
	if c.State == directory.ContactIncoming {
		return 0
	}
	if c.State != directory.ContactAccepted {
		return 5
	}
	switch c.Status {
	case directory.StatusOnline:
		return 1
	case directory.StatusAway:
		return 2
	case directory.StatusBusy:
		return 3
	}
	return 4
}

func (m *Model) sortContacts() {
	slices.SortStableFunc(m.contacts, func(a, b directory.Contact) int {
		if ra, rb := contactRank(a), contactRank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.User, b.User)
	})
	m.keepSelection()
}

func (m *Model) updateContact(u directory.Contact) {
	i := slices.IndexFunc(m.contacts, func(c directory.Contact) bool { return c.User == u.User })
	switch {
	case u.State == directory.ContactNone && i >= 0:
		m.contacts = slices.Delete(m.contacts, i, i+1)
	case u.State == directory.ContactNone:
	case i >= 0:
		m.contacts[i] = u
	default:
		m.contacts = append(m.contacts, u)
	}
	if u.State == directory.ContactIncoming {
		m.setInfo(u.User + " wants to be your contact: a accepts, d declines")
	}
	m.sortContacts()
}

func (m *Model) updatePresence(p directory.Presence) {
	i := slices.IndexFunc(m.contacts, func(c directory.Contact) bool { return c.User == p.User })
	if i < 0 {
		return
	}
	m.contacts[i].Status, m.contacts[i].Note = p.Status, printable(p.Note, false)
	if p.Status == directory.StatusOffline {
		m.contacts[i].LastSeen = m.now()
	}
	m.sortContacts()
}

// The settings page.

// settingsKey handles the settings page's own keys; ok is false for the
// others.
func (m *Model) settingsKey(k tea.KeyPressMsg) (cmd tea.Cmd, ok bool) {
	selected := func() (media.DeviceInfo, bool) {
		if m.deviceSel < len(m.devices) {
			return m.devices[m.deviceSel], true
		}
		return media.DeviceInfo{}, false
	}
	switch k.String() {
	case "up", "k":
		m.deviceSel = max(m.deviceSel-1, 0)
	case "down", "j":
		m.deviceSel = min(m.deviceSel+1, max(len(m.devices)-1, 0))
	case "i":
		d, ok := selected()
		if !ok || d.InputChannels == 0 {
			m.setError(errors.New("select a device with a microphone first"))
			return nil, true
		}
		return m.setDevices("device:"+d.Name, m.speaker), true
	case "o":
		d, ok := selected()
		if !ok || d.OutputChannels == 0 {
			m.setError(errors.New("select a device with a speaker first"))
			return nil, true
		}
		return m.setDevices(m.mic, "device:"+d.Name), true
	case "t":
		return m.testTone(), true
	case "l":
		return m.micCheck(), true
	case "r":
		return m.setRelay(!m.relayOn), true
	default:
		return nil, false
	}
	return nil, true
}

// setRelay starts or stops volunteering as a relay.
func (m *Model) setRelay(on bool) tea.Cmd {
	if m.cfg.Relay == nil {
		m.setError(errors.New("this client cannot relay"))
		return nil
	}
	m.relayOn = on
	relay := m.cfg.Relay
	done := "stopped relaying"
	if on {
		done = "relaying if the directory can reach this machine (see the log)"
	}
	return func() tea.Msg {
		if err := relay(on); err != nil {
			return msgDone{err: fmt.Errorf("volunteer relay: %w", err)}
		}
		return msgDone{ok: done}
	}
}

// setDevices makes mic and speaker the devices of the calls to come, and
// of the call in progress.
func (m *Model) setDevices(mic, speaker string) tea.Cmd {
	changedMic, changedSpeaker := "", ""
	if mic != m.mic {
		changedMic = orDefault(mic)
	}
	if speaker != m.speaker {
		changedSpeaker = orDefault(speaker)
	}
	m.mic, m.speaker = mic, speaker
	if m.backend != nil {
		m.backend.SetDevices(mic, speaker)
	}
	m.setInfo("calls will use mic " + orDefault(mic) + " and speaker " + orDefault(speaker))
	if m.cur == nil || m.curState != callActive {
		return nil
	}
	c := m.cur
	return func() tea.Msg {
		if err := c.SwitchDevices(changedMic, changedSpeaker); err != nil {
			return msgDone{err: fmt.Errorf("switch the call's devices: %w", err)}
		}
		return msgDone{ok: "the call now uses mic " + orDefault(mic) + " and speaker " + orDefault(speaker)}
	}
}

func orDefault(spec string) string {
	if spec == "" {
		return "default"
	}
	return spec
}

// check runs a test tone or mic check off the UI goroutine; one at a time,
// and not during a call, which has the devices.
func (m *Model) check(what string, run func(ctx context.Context) (string, error)) tea.Cmd {
	switch {
	case m.checking:
		m.setError(errors.New("a check is running already"))
		return nil
	case m.cur != nil:
		m.setError(errors.New("not during a call: the call has the sound devices"))
		return nil
	}
	m.checking = true
	m.setInfo(what + "…")
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		ok, err := run(ctx)
		return msgChecked{ok, err}
	}
}

func (m *Model) testTone() tea.Cmd {
	speaker, play := orDefault(m.speaker), m.cfg.TestTone
	return m.check("playing a test tone on "+speaker, func(ctx context.Context) (string, error) {
		if err := play(ctx, speaker); err != nil {
			return "", fmt.Errorf("test tone on %s: %w", speaker, err)
		}
		return "played a test tone on " + speaker, nil
	})
}

func (m *Model) micCheck() tea.Cmd {
	mic, level := orDefault(m.mic), m.cfg.MicLevel
	return m.check("listening to "+mic+": say something", func(ctx context.Context) (string, error) {
		dbfs, err := level(ctx, mic)
		if err != nil {
			return "", fmt.Errorf("mic check of %s: %w", mic, err)
		}
		verdict := "good"
		switch {
		case dbfs < -50:
			verdict = "too quiet, or muted"
		case dbfs > -3:
			verdict = "clipping: too loud"
		}
		return fmt.Sprintf("mic %s: loudest %s, %s", mic, meter(dbfs), verdict), nil
	})
}
