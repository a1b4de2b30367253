package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	// Welcome is the status line after logging in: what to do first.
	// "" → the user's key fingerprint.
	Welcome string
	// Mic and Speaker are the devices calls start with (media specs).
	Mic, Speaker string
	// Audio is the processing and levels calls start with; the settings
	// and keys change it.
	Audio media.AudioSettings
	// SaveAudio keeps Audio, as changed, for the next runs; nil keeps it
	// for this run only. It runs off the UI goroutine.
	SaveAudio func(media.AudioSettings) error
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
	// CallWaiting lets a call ring during another (the phone's
	// CallWaiting); answering it puts the other on hold.
	CallWaiting bool
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
	status   string              // the user's own presence and note
	note     string
	// statusSet: the user set them in this session, which the directory's
	// answer to loadOwnStatus must not undo.
	statusSet bool

	// The status line: the last outcome or error.
	message    string
	messageBad bool
	messageAt  time.Time

	cur       Call // the call in progress, if any
	curState  callState
	curSince  time.Time // when cur became active
	curStatus call.Status
	live      call.Stats
	hasLive   bool
	// The meters' levels, in dBFS.
	micLevel, speakerLevel float64

	held       Call      // the call put on hold for a waiting one, if any
	heldSince  time.Time // when it became active
	ringing    Call      // an incoming call waiting for an answer
	ringingFP  string    // its caller's pinned key fingerprint, if known
	stopRing   context.CancelFunc
	ended      *endedCall // how the last call ended, until the next
	history    []call.HistoryRecord
	historySel int // the selected call on the history page, newest 0

	devices   []media.DeviceInfo
	deviceErr error
	deviceSel int    // the selected device on the settings page
	mic       string // the devices of the calls to come
	speaker   string
	checking  bool                // a test tone or mic check runs
	audio     media.AudioSettings // the processing and levels of calls
	audioGen  int                 // changes to audio, which audioKept saves in order
	audioKept *keeper
	relayOn   bool

	// reconnecting: the directory connection is lost and being made again.
	reconnecting bool

	chats    map[string][]chatLine // conversations by contact
	unread   map[string]int
	chatPeer string // whose conversation pageChat shows
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
	m := &Model{
		cfg: cfg, now: cfg.Now, width: 80, height: 24,
		status: directory.StatusOnline, mic: cfg.Mic, speaker: cfg.Speaker, audio: cfg.Audio, audioKept: new(keeper), relayOn: cfg.RelayOn,
		chats: make(map[string][]chatLine), unread: make(map[string]int),
	}
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
	msgBell      struct{ c Call }
	msgRefresh   struct{}
	msgConnected struct{ reconnecting bool }
	msgOwnStatus struct {
		status, note string
		err          error
	}
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

// inBackground runs fn off the UI goroutine, within requestTimeout, and
// delivers the message it returns.
func inBackground(fn func(ctx context.Context) tea.Msg) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		return fn(ctx)
	}
}

// ask runs fn against the backend in the background.
func (m *Model) ask(fn func(ctx context.Context, b Backend) tea.Msg) tea.Cmd {
	b := m.backend
	return inBackground(func(ctx context.Context) tea.Msg { return fn(ctx, b) })
}

func (m *Model) start(user string) tea.Cmd {
	startFn := m.cfg.Start
	return inBackground(func(ctx context.Context) tea.Msg {
		b, err := startFn(ctx, user)
		return msgStarted{b, err}
	})
}

// request runs fn against the backend in the background and reports its
// outcome as a msgDone.
func (m *Model) request(ok string, refresh bool, fn func(ctx context.Context, b Backend) error) tea.Cmd {
	return m.ask(func(ctx context.Context, b Backend) tea.Msg {
		return msgDone{ok: ok, err: fn(ctx, b), refresh: refresh}
	})
}

func (m *Model) loadOwnStatus() tea.Cmd {
	return m.ask(func(ctx context.Context, b Backend) tea.Msg {
		status, note, err := b.OwnStatus(ctx)
		return msgOwnStatus{status, note, err}
	})
}

// refreshPeriod is how often the contact list is fetched whole, besides
// the directory's pushes: a client that reconnected after a directory
// restart may have missed some.
const refreshPeriod = 30 * time.Second

func refreshLater() tea.Cmd {
	return tea.Tick(refreshPeriod, func(time.Time) tea.Msg { return msgRefresh{} })
}

// connectionPeriod is how often the UI looks whether its directory
// connection is being made again.
const connectionPeriod = time.Second

func (m *Model) checkConnection() tea.Cmd {
	b := m.backend
	return tea.Tick(connectionPeriod, func(time.Time) tea.Msg { return msgConnected{b.Reconnecting()} })
}

// connected shows whether the directory connection is being made again;
// once it is back, the contact list is fetched whole, since pushes were
// lost meanwhile.
func (m *Model) connected(reconnecting bool) tea.Cmd {
	was := m.reconnecting
	m.reconnecting = reconnecting
	if !was || reconnecting {
		return m.checkConnection()
	}
	m.setInfo("back in touch with the directory")
	return tea.Batch(m.loadContacts(), m.checkConnection())
}

func (m *Model) loadContacts() tea.Cmd {
	return m.ask(func(ctx context.Context, b Backend) tea.Msg {
		list, err := b.Contacts(ctx)
		return msgContacts{list, err}
	})
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
		if m.cfg.Welcome != "" {
			m.setInfo(m.cfg.Welcome)
		}
		return m, tea.Batch(m.loadContacts(), m.listenContacts(), m.listenPresence(), m.listenIncoming(), m.listenDone(),
			m.loadInbox(), m.listenChats(), m.loadOwnStatus(), refreshLater(), m.checkConnection())
	case msgRefresh:
		return m, tea.Batch(m.loadContacts(), refreshLater())
	case msgConnected:
		return m, m.connected(msg.reconnecting)
	case msgOwnStatus:
		if msg.err != nil {
			m.setError(fmt.Errorf("your status: %w", msg.err))
		} else if !m.statusSet {
			m.status, m.note = msg.status, printable(msg.note, false)
		}
		return m, nil
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
		if m.ringing != nil || m.held != nil || (m.cur != nil && !m.cfg.CallWaiting) {
			// One call rings at a time, and one waits on hold at most;
			// the phone says busy before this.
			return m, tea.Batch(callDo(msg.c, Call.Reject), m.listenIncoming())
		}
		m.ringing, m.ringingFP = msg.c, ""
		m.page = pageContacts
		m.closeInput() // the keys are the overlay's now
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
		m.historySel = min(m.historySel, max(len(m.history)-1, 0))
		return m, nil
	}
	return m, nil
}

// reloadHistory refreshes the history page when it shows.
func (m *Model) reloadHistory() tea.Cmd {
	if m.page != pageHistory {
		return nil
	}
	return m.ask(func(ctx context.Context, b Backend) tea.Msg {
		list, err := b.History(ctx)
		return msgHistory{list, err}
	})
}

func (m *Model) setInfo(s string) { m.message, m.messageBad, m.messageAt = s, false, m.now() }
func (m *Model) setError(err error) {
	m.message, m.messageBad, m.messageAt = err.Error(), true, m.now()
}

// noticeAfter is how long a message stays before a mere notice may take
// the status line.
const noticeAfter = 5 * time.Second

// notify says something of little weight, unless the status line says
// something fresher.
func (m *Model) notify(s string) {
	if m.now().Sub(m.messageAt) >= noticeAfter {
		m.setInfo(s)
	}
}
